package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestOpenAPICoversRoutes keeps the OpenAPI document true: every route the
// server handles is documented, and nothing documented is missing.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[method+" "+path] = true
		}
	}
	served := []string{"get /metrics"}
	for _, r := range New(nil, Config{}).routes() {
		served = append(served, strings.ToLower(r.method)+" "+r.path)
	}
	for _, r := range served {
		if !documented[r] {
			t.Errorf("route %q is served but not in openapi.json", r)
		}
		delete(documented, r)
	}
	for r := range documented {
		t.Errorf("openapi.json documents %q, which is not served", r)
	}
}
