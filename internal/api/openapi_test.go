package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// wantRoutes is written out by hand: a route added to the table without
// being added here (and so reviewed as part of the API) fails the test.
func wantRoutes() []string {
	return []string{
		"GET /healthz",
		"GET /readyz",
		"GET /api/v1/openapi.json",
		"GET /api/v1/whoami",
		"GET /api/v1/tokens",
		"POST /api/v1/tokens",
		"POST /api/v1/tokens/test",
		"GET /api/v1/tokens/{name}",
		"PATCH /api/v1/tokens/{name}",
		"DELETE /api/v1/tokens/{name}",
		"GET /api/v1/tokens/{name}/impact",
		"POST /api/v1/tokens/{name}/rotate",
		"POST /api/v1/tokens/{name}/test",
		"GET /api/v1/tokens/{name}/repos",
		"GET /api/v1/repos/branches",
		"GET /api/v1/repos/file",
		"GET /api/v1/apps",
		"POST /api/v1/apps",
		"GET /api/v1/apps/{name}",
		"PATCH /api/v1/apps/{name}",
		"DELETE /api/v1/apps/{name}",
		"GET /api/v1/apps/{name}/archive",
		"POST /api/v1/apps/{name}/hook/check",
		"POST /api/v1/apps/{name}/hook/repair",
		"GET /api/v1/apps/{name}/deliveries",
		"POST /hooks/{hook_id}",
		"GET /api/v1/subscriptions",
		"POST /api/v1/subscriptions",
		"DELETE /api/v1/subscriptions/{id}",
		"GET /api/v1/events",
		"POST /api/v1/events/{id}/replay",
		"POST /api/v1/credentials",
		"POST /api/v1/credentials/reject",
		"POST /api/v1/credentials/ca-bundle",
		"GET /api/v1/orgs",
		"POST /api/v1/orgs",
		"GET /api/v1/apikeys",
		"POST /api/v1/apikeys",
		"DELETE /api/v1/apikeys/{id}",
		"GET /api/v1/audit",
		"GET /api/v1/status",
	}
}

func publicRoutes() []string {
	return []string{"GET /healthz", "GET /readyz", "GET /api/v1/openapi.json", "POST /hooks/{hook_id}"}
}

func tableRoutes() []route { return (&handlers{}).routes(nil) }

func routeKey(r route) string { return r.op.Method + " " + r.op.Path }

type openAPIDoc struct {
	OpenAPI    string                                 `json:"openapi"`
	Paths      map[string]map[string]openAPIOperation `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

type openAPIOperation struct {
	Security  []map[string][]string `json:"security"`
	Responses map[string]struct {
		Content map[string]json.RawMessage `json:"content"`
	} `json:"responses"`
}

func fetchDoc(t *testing.T, h http.Handler) openAPIDoc {
	t.Helper()
	res := do(t, h, http.MethodGet, "/api/v1/openapi.json", "", nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET openapi.json: %d %s", res.status, res.body)
	}
	var doc openAPIDoc
	if err := json.Unmarshal(res.body, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestOpenAPIDocumentsExactlyTheRoutes(t *testing.T) {
	h, _, _ := newFake(t)
	doc := fetchDoc(t, h)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}

	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	var table []string
	for _, r := range tableRoutes() {
		table = append(table, routeKey(r))
	}
	slices.Sort(documented)
	slices.Sort(table)
	want := slices.Sorted(slices.Values(wantRoutes()))
	if d := cmp.Diff(want, table); d != "" {
		t.Errorf("route table differs from the expected routes (-want +table):\n%s", d)
	}
	if d := cmp.Diff(want, documented); d != "" {
		t.Errorf("OpenAPI document differs from the expected routes (-want +documented):\n%s", d)
	}

	// What the mux serves is the table: every entry resolves to its own
	// pattern in the handler New built.
	mux := New(Config{Service: &fakeService{}}).(*server).mux
	for _, r := range tableRoutes() {
		path := strings.NewReplacer("{name}", "some-token", "{id}", "key_1", "{hook_id}", "hk_1").Replace(r.op.Path)
		_, pattern := mux.Handler(httptest.NewRequest(r.op.Method, path, nil))
		if pattern != routeKey(r) {
			t.Errorf("%s %s is served by pattern %q, want %q", r.op.Method, path, pattern, routeKey(r))
		}
	}

	// Huma's own spec, docs and schema routes are switched off.
	for _, p := range []string{"/api/v1/openapi.yaml", "/api/v1/openapi-3.0.json", "/openapi.json", "/openapi.yaml", "/docs", "/schemas/Problem.json"} {
		if res := do(t, h, http.MethodGet, p, "", nil); res.status != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, res.status)
		}
	}
}

func TestOpenAPIDocumentsProblemsAndSecurity(t *testing.T) {
	h, _, _ := newFake(t)
	doc := fetchDoc(t, h)
	if _, ok := doc.Components.Schemas["Problem"]; !ok {
		t.Fatal("components.schemas has no Problem")
	}
	wantProblem := `{"application/problem+json":{"schema":{"$ref":"#/components/schemas/Problem"}}}`
	for path, ops := range doc.Paths {
		for method, op := range ops {
			key := strings.ToUpper(method) + " " + path
			public := slices.Contains(publicRoutes(), key)
			if public != (len(op.Security) == 0) {
				t.Errorf("%s: security %v, public %v", key, op.Security, public)
			}
			mustHave := []string{"500"}
			if !public {
				mustHave = append(mustHave, "401")
			}
			for _, code := range mustHave {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("%s documents no %s response", key, code)
				}
			}
			for code, resp := range op.Responses {
				status, err := strconv.Atoi(code)
				if err != nil {
					t.Errorf("%s: response %q is not a status code", key, code)
					continue
				}
				if status < 400 {
					continue
				}
				got, err := json.Marshal(resp.Content)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != wantProblem {
					t.Errorf("%s %s content = %s, want %s", key, code, got, wantProblem)
				}
			}
		}
	}
}

func TestOpenAPISecretValuesAreWriteOnlyPasswords(t *testing.T) {
	h, _, _ := newFake(t)
	doc := fetchDoc(t, h)
	want := map[string]any{"type": "string", "format": "password", "writeOnly": true}
	var found []string
	for name, raw := range doc.Components.Schemas {
		var s struct {
			Properties map[string]map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		if v, ok := s.Properties["value"]; ok {
			found = append(found, name)
			if d := cmp.Diff(want, v); d != "" {
				t.Errorf("%s.value (-want +got):\n%s", name, d)
			}
		}
	}
	slices.Sort(found)
	if d := cmp.Diff([]string{"AddTokenInput", "RotateTokenInput", "TestValueInput", "UpdateTokenInput"}, found); d != "" {
		t.Errorf("schemas with a value property (-want +got):\n%s", d)
	}
}
