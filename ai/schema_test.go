package ai

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aijobs/aijobs/jobs"
)

// allIntents are the intents with a schema of their own.
func allIntents() []jobs.Intent {
	return []jobs.Intent{jobs.IntentSmartGoal, jobs.IntentPrioritization, jobs.IntentGeneral}
}

// TestSchemaIsStrict checks what OpenAI's strict mode demands of every
// object: all properties required, additionalProperties false.
func TestSchemaIsStrict(t *testing.T) {
	t.Parallel()
	var walk func(path string, s map[string]any)
	walk = func(path string, s map[string]any) {
		switch s["type"] {
		case "object":
			props, _ := s["properties"].(map[string]any)
			required, _ := s["required"].([]string)
			if len(required) != len(props) {
				t.Errorf("%s: required %v, want all of its %d properties", path, required, len(props))
			}
			if s["additionalProperties"] != false {
				t.Errorf("%s: additionalProperties = %v, want false", path, s["additionalProperties"])
			}
			for name, sub := range props {
				walk(path+"."+name, sub.(map[string]any))
			}
		case "array":
			walk(path+"[]", s["items"].(map[string]any))
		case "string", "integer":
		default:
			t.Errorf("%s: type %v is not one the validator knows", path, s["type"])
		}
	}
	for _, intent := range allIntents() {
		walk(string(intent)+":$", Schema(intent))
	}
}

func TestSchemaFields(t *testing.T) {
	t.Parallel()
	want := map[jobs.Intent]string{
		jobs.IntentSmartGoal:      "goal specific measurable achievable relevant time_bound milestones",
		jobs.IntentPrioritization: "tasks summary",
		jobs.IntentGeneral:        "answer key_points",
		"unknown":                 "answer key_points",
	}
	for intent, fields := range want {
		got, _ := Schema(intent)["required"].([]string)
		if strings.Join(got, " ") != fields {
			t.Errorf("Schema(%s) requires %v, want %s", intent, got, fields)
		}
	}
	s := Schema(jobs.IntentGeneral)
	s["type"] = "changed"
	if Schema(jobs.IntentGeneral)["type"] != "object" {
		t.Error("changing a returned schema changed the next one: Schema must return a fresh map")
	}
}

func TestSystemPromptCarriesSchema(t *testing.T) {
	t.Parallel()
	for _, intent := range allIntents() {
		schema, _ := json.Marshal(Schema(intent))
		if p := SystemPrompt(intent); !strings.Contains(p, string(schema)) || !strings.Contains(p, "JSON") {
			t.Errorf("SystemPrompt(%s) lacks its schema or the JSON-only rule:\n%s", intent, p)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	const (
		goal    = jobs.IntentSmartGoal
		prio    = jobs.IntentPrioritization
		general = jobs.IntentGeneral
	)
	smart := `{"goal":"Run 5k","specific":"s","measurable":"m","achievable":"a","relevant":"r","time_bound":"t",` +
		`"milestones":[{"title":"first run","due":"week 1"}]}`
	tests := []struct {
		name   string
		intent jobs.Intent
		text   string
		errHas []string // empty: valid
	}{
		{"general valid", general, validGeneral, nil},
		{"smart_goal valid", goal, smart, nil},
		{"prioritization valid", prio, `{"tasks":[{"title":"a","priority":2,"reason":"r"},{"title":"b","priority":1,"reason":"r"}],"summary":"b then a"}`, nil},
		{"json fence", general, "```json\n" + validGeneral + "\n```", nil},
		{"bare fence", general, "```\n" + validGeneral + "\n```\n", nil},
		{"fence inside a string is content", general, `{"answer":"use ` + "```go" + ` fences","key_points":["x"]}`, nil},
		{"not JSON", general, "Sure! Here is your answer.", []string{"not valid JSON"}},
		{"prose after JSON", general, validGeneral + " Hope this helps!", []string{"text after the JSON object"}},
		{"array at top", general, `["a"]`, []string{"$: must be an object, got array"}},
		{"missing field", general, `{"answer":"x"}`, []string{"$.key_points: required field is missing"}},
		{"extra field", general, `{"answer":"x","key_points":["y"],"note":"z"}`, []string{`$.note: field is not allowed`}},
		{"wrong type", general, `{"answer":42,"key_points":["y"]}`, []string{"$.answer: must be a string, got number 42"}},
		{"empty string", general, `{"answer":"  ","key_points":["y"]}`, []string{"$.answer: must not be empty"}},
		{"empty array", general, `{"answer":"x","key_points":[]}`, []string{"$.key_points: must not be empty"}},
		{"null item", general, `{"answer":"x","key_points":[null]}`, []string{"$.key_points[0]: must be a string, got null"}},
		{"nested missing", goal, strings.Replace(smart, `,"due":"week 1"`, "", 1), []string{"$.milestones[0].due: required field is missing"}},
		{"several problems", goal, `{"goal":"","extra":1}`, []string{"$.goal: must not be empty", "$.specific: required field is missing", "$.extra: field is not allowed"}},
		{"priority not integer", prio, `{"tasks":[{"title":"a","priority":1.5,"reason":"r"}],"summary":"s"}`, []string{"$.tasks[0].priority: must be an integer, got 1.5"}},
		{"priority as string", prio, `{"tasks":[{"title":"a","priority":"1","reason":"r"}],"summary":"s"}`, []string{"must be an integer, got string"}},
		{"priority out of range", prio, `{"tasks":[{"title":"a","priority":1,"reason":"r"},{"title":"b","priority":3,"reason":"r"}],"summary":"s"}`, []string{"$.tasks[1].priority: must be between 1 and 2 (the number of tasks), got 3"}},
		{"priority repeated", prio, `{"tasks":[{"title":"a","priority":1,"reason":"r"},{"title":"b","priority":1,"reason":"r"}],"summary":"s"}`, []string{"$.tasks[1].priority: 1 is already the priority of $.tasks[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := Validate(tt.intent, tt.text)
			if len(tt.errHas) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v, want valid", err)
				}
				if !json.Valid(out) || strings.Contains(string(out), "\n") {
					t.Errorf("output %q is not compact JSON", out)
				}
				return
			}
			e := wantError(t, err, "invalid_output", false)
			for _, want := range tt.errHas {
				if !strings.Contains(e.Message, want) {
					t.Errorf("message %q does not say %q", e.Message, want)
				}
			}
		})
	}
}

func TestValidateKeepsKeyOrder(t *testing.T) {
	t.Parallel()
	in := "{\n  \"key_points\": [\"b\"],\n  \"answer\": \"a <b> & c\"\n}"
	out, err := Validate(jobs.IntentGeneral, in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"key_points":["b"],"answer":"a <b> & c"}`; string(out) != want {
		t.Errorf("Validate returned %s, want the model's object as is, compacted: %s", out, want)
	}
}

func TestValidateCapsProblems(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(`{"answer":"x","key_points":["y"]`)
	for i := range 15 {
		b.WriteString(`,"extra` + string(rune('a'+i)) + `":1`)
	}
	b.WriteString("}")
	_, err := Validate(jobs.IntentGeneral, b.String())
	if e := wantError(t, err, "invalid_output", false); !strings.Contains(e.Message, "and 5 more problems") {
		t.Errorf("message %q does not cap the list at %d problems", e.Message, maxProblems)
	}
}
