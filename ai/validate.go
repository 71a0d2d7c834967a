package ai

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// check validates v, decoded with UseNumber, against schema, a subset of
// JSON Schema as built by Schema: type (object, array, string, integer),
// properties, required, additionalProperties false and items. Strings and
// arrays must also be non-empty. Each problem is appended to problems,
// prefixed with its JSON path.
func check(problems *[]string, path string, schema map[string]any, v any) {
	add := func(format string, args ...any) {
		*problems = append(*problems, path+": "+fmt.Sprintf(format, args...))
	}
	switch want, _ := schema["type"].(string); want {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			add("must be an object, got %s", jsonType(v))
			return
		}
		properties, _ := schema["properties"].(map[string]any)
		required, _ := schema["required"].([]string)
		for _, name := range required {
			sub, present := obj[name]
			if !present {
				*problems = append(*problems, fieldPath(path, name)+": required field is missing")
				continue
			}
			subSchema, _ := properties[name].(map[string]any)
			check(problems, fieldPath(path, name), subSchema, sub)
		}
		var extra []string
		for name := range obj {
			if _, known := properties[name]; !known {
				extra = append(extra, name)
			}
		}
		slices.Sort(extra)
		for _, name := range extra {
			*problems = append(*problems, fieldPath(path, name)+": field is not allowed by the schema")
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			add("must be an array, got %s", jsonType(v))
			return
		}
		if len(arr) == 0 {
			add("must not be empty")
		}
		items, _ := schema["items"].(map[string]any)
		for i, item := range arr {
			check(problems, fmt.Sprintf("%s[%d]", path, i), items, item)
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			add("must be a string, got %s", jsonType(v))
		} else if strings.TrimSpace(s) == "" {
			add("must not be empty")
		}
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			add("must be an integer, got %s", jsonType(v))
		} else if _, err := n.Int64(); err != nil {
			add("must be an integer, got %s", n)
		}
	}
}

// checkPriorities checks that a prioritization output, already valid
// against its schema, numbers its tasks 1..n with each number once.
func checkPriorities(problems *[]string, v any) {
	tasks, _ := v.(map[string]any)["tasks"].([]any)
	n := int64(len(tasks))
	seen := make(map[int64]int, n)
	for i, t := range tasks {
		num, _ := t.(map[string]any)["priority"].(json.Number)
		p, _ := num.Int64()
		path := fmt.Sprintf("$.tasks[%d].priority", i)
		switch first, dup := seen[p]; {
		case p < 1 || p > n:
			*problems = append(*problems, fmt.Sprintf("%s: must be between 1 and %d (the number of tasks), got %d", path, n, p))
		case dup:
			*problems = append(*problems, fmt.Sprintf("%s: %d is already the priority of $.tasks[%d]; priorities must be distinct", path, p, first))
		default:
			seen[p] = i
		}
	}
}

// fieldPath is the JSON path of field name inside path.
func fieldPath(path, name string) string {
	return path + "." + name
}

// jsonType names the JSON type of a decoded value.
func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number " + v.String()
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
