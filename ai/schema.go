package ai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/aijobs/aijobs/jobs"
	"github.com/aijobs/aijobs/jobtype"
)

// Schema returns the JSON Schema of the structured output for intent, a
// fresh map the caller may keep or change. It is a draft 2020-12 subset
// that OpenAI's strict structured outputs accept: every object lists all
// its properties as required and sets additionalProperties to false.
// Rules a strict schema cannot express (non-empty strings and arrays,
// distinct priorities) are in the descriptions and enforced by Validate.
// An unknown intent gets the general schema.
//
//   - smart_goal: {goal, specific, measurable, achievable, relevant,
//     time_bound, milestones: [{title, due}]}
//   - prioritization: {tasks: [{title, priority, reason}], summary}, where
//     priority is an integer from 1 (do first) to the number of tasks
//   - general: {answer, key_points: [string]}
func Schema(intent jobs.Intent) map[string]any {
	switch intent {
	case jobs.IntentSmartGoal:
		return object(
			prop{"goal", str("the goal restated in one clear sentence")},
			prop{"specific", str("what exactly will be done, by whom, where")},
			prop{"measurable", str("how progress and success are measured, with numbers")},
			prop{"achievable", str("why the goal is realistic and what it needs")},
			prop{"relevant", str("why the goal matters to the user")},
			prop{"time_bound", str("the deadline and the time frame")},
			prop{"milestones", array("checkpoints in order, at least one", object(
				prop{"title", str("what is done at this checkpoint")},
				prop{"due", str("when, e.g. \"end of week 2\" or a date")},
			))},
		)
	case jobs.IntentPrioritization:
		return object(
			prop{"tasks", array("every task of the input, at least one", object(
				prop{"title", str("the task")},
				prop{"priority", map[string]any{
					"type":        "integer",
					"description": "1 = do first; distinct integers from 1 to the number of tasks",
				}},
				prop{"reason", str("why it has this priority")},
			))},
			prop{"summary", str("the suggested order and the reasoning, briefly")},
		)
	default:
		return object(
			prop{"answer", str("the answer, in plain prose")},
			prop{"key_points", array("the main points, at least one", str("one point"))},
		)
	}
}

// prop is one property of an object schema, in order.
type prop struct {
	name   string
	schema map[string]any
}

// object is the schema of an object with exactly props, all required.
func object(props ...prop) map[string]any {
	properties := make(map[string]any, len(props))
	required := make([]string, 0, len(props))
	for _, p := range props {
		properties[p.name] = p.schema
		required = append(required, p.name)
	}
	return map[string]any{
		"type":                 "object",
		"properties":           properties,
		"required":             required,
		"additionalProperties": false,
	}
}

// array is the schema of an array of items.
func array(description string, items map[string]any) map[string]any {
	return map[string]any{"type": "array", "description": description, "items": items}
}

// str is the schema of a string.
func str(description string) map[string]any {
	return map[string]any{"type": "string", "description": description}
}

// schemaName is the name of intent's schema in a provider request.
func schemaName(intent jobs.Intent) string {
	switch intent {
	case jobs.IntentSmartGoal, jobs.IntentPrioritization:
		return string(intent)
	}
	return string(jobs.IntentGeneral)
}

// SystemPrompt is the system message for intent: the task, the output
// rules and the JSON Schema the answer must match. Providers send it as is.
func SystemPrompt(intent jobs.Intent) string {
	var task string
	switch intent {
	case jobs.IntentSmartGoal:
		task = "Turn the user's wish into a SMART goal: specific, measurable, achievable, " +
			"relevant and time-bound, with a few concrete milestones in order."
	case jobs.IntentPrioritization:
		task = "Prioritize the user's tasks: list every task once, give each a distinct priority " +
			"from 1 (do first) to the number of tasks, with a short reason, and summarize the order."
	default:
		task = "Answer the user's request helpfully and concisely, then list its key points."
	}
	schema, _ := json.Marshal(Schema(intent)) // a map of strings and slices always marshals
	return "You are a practical planning assistant. " + task + "\n\n" +
		"Reply with one JSON object only: no prose, no Markdown, no code fence. " +
		"It must match this JSON Schema exactly: every field present, no other fields, " +
		"no empty strings, no empty arrays.\n\n" + string(schema)
}

// maxProblems bounds how many problems one validation error lists.
const maxProblems = 10

// Validate parses a model's output for intent and checks it against
// Schema(intent): the text must be one JSON object (a ```json fence around
// it is tolerated), with every required field, no other field, the right
// types, no empty string or array, and for prioritization distinct
// priorities from 1 to the number of tasks. It returns the object as
// compact JSON. Otherwise the error is an *Error with code invalid_output,
// not retryable, whose Message says exactly what is wrong, fit to be sent
// back to the model as Request.Feedback.
func Validate(intent jobs.Intent, text string) (json.RawMessage, error) {
	body := stripFence(text)
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalidOutput("the output is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalidOutput("the output has text after the JSON object; send the JSON object only")
	}
	var problems []string
	check(&problems, "$", Schema(intent), v)
	if intent == jobs.IntentPrioritization && len(problems) == 0 {
		checkPriorities(&problems, v)
	}
	if len(problems) > 0 {
		if len(problems) > maxProblems {
			problems = append(problems[:maxProblems], fmt.Sprintf("and %d more problems", len(problems)-maxProblems))
		}
		return nil, invalidOutput("the output does not match the %s schema: %s",
			schemaName(intent), strings.Join(problems, "; "))
	}
	var out bytes.Buffer
	if err := json.Compact(&out, []byte(body)); err != nil {
		return nil, invalidOutput("the output is not valid JSON: %v", err)
	}
	return out.Bytes(), nil
}

// invalidOutput is a validation failure.
func invalidOutput(format string, args ...any) *Error {
	return &Error{Code: jobtype.CodeInvalidOutput, Message: fmt.Sprintf(format, args...)}
}

// stripFence removes a Markdown code fence (``` or ```json) around text.
func stripFence(text string) string {
	t := strings.TrimSpace(text)
	if !strings.HasPrefix(t, "```") {
		return t
	}
	t = strings.TrimPrefix(t, "```")
	if nl := strings.IndexByte(t, '\n'); nl >= 0 {
		t = t[nl+1:] // drop the info string, e.g. "json"
	} else {
		t = strings.TrimPrefix(t, "json")
	}
	t = strings.TrimSpace(t)
	t = strings.TrimSuffix(t, "```")
	return strings.TrimSpace(t)
}
