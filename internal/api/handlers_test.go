package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/store"
)

func TestAuthentication(t *testing.T) {
	h, _, _ := newFake(t)
	unauth := func(detail string) map[string]any {
		return map[string]any{"type": "urn:gitaccess:problem:unauthenticated", "title": "Authentication required", "status": float64(401), "detail": detail}
	}
	missing := unauth("This endpoint needs an API key: send it as Authorization: Bearer <key>.")
	invalid := unauth("The API key is not valid: it is unknown, malformed or revoked. Send a current key as Authorization: Bearer <key>.")
	tests := []struct {
		name   string
		header string
		want   map[string]any
	}{
		{"no header", "", missing},
		{"other scheme", "Basic " + fakeKey, missing},
		{"empty bearer", "Bearer   ", missing},
		{"unknown key", "Bearer gak_nobody_knows", invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := doWithHeader(t, h, http.MethodGet, "/api/v1/whoami", tc.header)
			if res.status != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", res.status)
			}
			if got := res.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			checkProblem(t, res, tc.want)
		})
	}

	res := doWithHeader(t, h, http.MethodGet, "/api/v1/whoami", "bearer "+fakeKey)
	if res.status != http.StatusOK {
		t.Fatalf("whoami with a lower-case scheme: %d %s", res.status, res.body)
	}
	want := map[string]any{"org_id": "org_1", "org": "default", "key_id": "key_owner", "key_name": "ci", "role": "owner"}
	if d := cmp.Diff(want, res.json(t)); d != "" {
		t.Errorf("whoami (-want +got):\n%s", d)
	}
}

func doWithHeader(t *testing.T, h http.Handler, method, target, authorization string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func TestSecurityHeaders(t *testing.T) {
	h, _, _ := newFake(t)
	for _, tc := range []struct {
		method, path, key string
		noStore           bool
	}{
		{http.MethodGet, "/healthz", "", false},
		{http.MethodGet, "/api/v1/openapi.json", "", true},
		{http.MethodGet, "/api/v1/whoami", fakeKey, true},
		{http.MethodGet, "/api/v1/whoami", "", true},       // 401
		{http.MethodGet, "/api/v1/missing", fakeKey, true}, // mux 404
		{http.MethodPost, "/api/v1/tokens", fakeKey, true}, // 400: no body
		{http.MethodGet, "/elsewhere", "", false},          // mux 404 outside the API
	} {
		res := do(t, h, tc.method, tc.path, tc.key, nil)
		if got := res.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s (%d): X-Content-Type-Options = %q", tc.method, tc.path, res.status, got)
		}
		if got := res.header.Get("Cache-Control") == "no-store"; got != tc.noStore {
			t.Errorf("%s %s (%d): Cache-Control = %q, want no-store %v", tc.method, tc.path, res.status, res.header.Get("Cache-Control"), tc.noStore)
		}
	}
}

func TestAccessLogNamesTheCallerButNoSecrets(t *testing.T) {
	h, _, logs := newFake(t)
	const value = "ghp_AccessLogMustNotShowThis0123456789"
	res := do(t, h, http.MethodPost, "/api/v1/tokens?note=querysecret", fakeKey,
		map[string]any{"name": "ci", "provider": "github", "value": value})
	if res.status != http.StatusCreated {
		t.Fatalf("status = %d: %s", res.status, res.body)
	}
	var line map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, `"msg":"http request"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line == nil {
		t.Fatalf("no access log line:\n%s", logs)
	}
	for k, want := range map[string]any{"method": "POST", "path": "/api/v1/tokens", "status": float64(201), "key_id": "key_owner",
		"request_id": res.header.Get("X-Request-Id")} {
		if line[k] != want {
			t.Errorf("access log %s = %v, want %v", k, line[k], want)
		}
	}
	if _, ok := line["duration"]; !ok {
		t.Error("access log has no duration")
	}
	for _, s := range []string{fakeKey, value, "querysecret", "Authorization"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("log contains %q:\n%s", s, logs)
		}
	}
}

func TestTokenValueReachesServiceButNoResponse(t *testing.T) {
	h, f, _ := newFake(t)
	const value = "ghp_OnlyTheServiceMaySeeThis0123456789"
	res := do(t, h, http.MethodPost, "/api/v1/tokens", fakeKey, map[string]any{
		"name": "ci", "provider": "github", "url": "https://ghe.example.com", "uses": []string{"clone"}, "value": value, "allow_missing": true})
	if res.status != http.StatusCreated {
		t.Fatalf("add: %d %s", res.status, res.body)
	}
	res2 := do(t, h, http.MethodPost, "/api/v1/tokens/test", fakeKey, map[string]any{"provider": "github", "value": value})
	if res2.status != http.StatusOK {
		t.Fatalf("test value: %d %s", res2.status, res2.body)
	}
	res3 := do(t, h, http.MethodPatch, "/api/v1/tokens/ci", fakeKey, map[string]any{"value": value})
	res4 := do(t, h, http.MethodPatch, "/api/v1/tokens/ci", fakeKey, map[string]any{"description": "no new value"})
	for _, r := range []response{res, res2, res3, res4} {
		if strings.Contains(string(r.body), value) {
			t.Errorf("response shows the value: %s", r.body)
		}
	}
	if len(f.added) != 1 || f.added[0].Value.Reveal() != value || f.added[0].URL != "https://ghe.example.com" || !f.added[0].AllowMissing {
		t.Errorf("AddToken got %+v", f.added)
	}
	if len(f.tested) != 1 || f.tested[0].Value.Reveal() != value {
		t.Errorf("TestValue got %+v", f.tested)
	}
	if len(f.updated) != 2 || f.updated[0].Value == nil || f.updated[0].Value.Reveal() != value || f.updated[1].Value != nil {
		t.Errorf("UpdateToken got %+v", f.updated)
	}
}

func TestNewKeysAreRevealedOnlyAtCreation(t *testing.T) {
	h, f, _ := newFake(t)
	res := do(t, h, http.MethodPost, "/api/v1/apikeys", fakeKey, map[string]any{"name": "deploy", "role": "devops"})
	if res.status != http.StatusCreated {
		t.Fatalf("create key: %d %s", res.status, res.body)
	}
	want := map[string]any{"id": "key_new", "name": "deploy", "role": "devops", "created_at": "2026-03-04T05:06:07Z",
		"created_by": "key_owner (ci)", "org": "default", "key": f.newKey}
	if d := cmp.Diff(want, res.json(t)); d != "" {
		t.Errorf("create key (-want +got):\n%s", d)
	}

	res = do(t, h, http.MethodPost, "/api/v1/orgs", fakeKey, map[string]any{"name": "acme"})
	if res.status != http.StatusCreated {
		t.Fatalf("create org: %d %s", res.status, res.body)
	}
	wantOrg := map[string]any{
		"org":     map[string]any{"id": "org_acme", "name": "acme", "created_at": "2026-03-04T05:06:07Z"},
		"api_key": map[string]any{"id": "key_new", "name": "owner", "role": "owner", "created_at": "2026-03-04T05:06:07Z", "org": "acme", "key": f.newKey},
	}
	if d := cmp.Diff(wantOrg, res.json(t)); d != "" {
		t.Errorf("create org (-want +got):\n%s", d)
	}

	res = do(t, h, http.MethodGet, "/api/v1/apikeys", fakeKey, nil)
	if res.status != http.StatusOK || string(res.body) != `{"items":[]}`+"\n" {
		t.Errorf("list keys: %d %s", res.status, res.body)
	}
}

func TestListsPageAndDeleteConfirms(t *testing.T) {
	h, f, _ := newFake(t)
	res := do(t, h, http.MethodGet, "/api/v1/tokens", fakeKey, nil)
	if d := cmp.Diff(map[string]any{"items": []any{}, "next_cursor": ""}, res.json(t)); d != "" {
		t.Errorf("empty list (-want +got):\n%s", d)
	}
	do(t, h, http.MethodGet, "/api/v1/tokens?cursor=abc&limit=5", fakeKey, nil)
	res = do(t, h, http.MethodGet, "/api/v1/audit?limit=1000", fakeKey, nil)
	if got := res.json(t)["next_cursor"]; got != "next-1" {
		t.Errorf("audit next_cursor = %v", got)
	}
	want := []store.Page{{Limit: 100}, {After: "abc", Limit: 5}, {Limit: 1000}}
	if d := cmp.Diff(want, f.pages); d != "" {
		t.Errorf("pages (-want +got):\n%s", d)
	}

	res = do(t, h, http.MethodDelete, "/api/v1/tokens/ci?confirm=ci", fakeKey, nil)
	if res.status != http.StatusNoContent || len(res.body) != 0 {
		t.Errorf("delete: %d %q", res.status, res.body)
	}
	do(t, h, http.MethodDelete, "/api/v1/tokens/ci", fakeKey, nil)
	if d := cmp.Diff([]string{"ci", ""}, f.confirms); d != "" {
		t.Errorf("confirms (-want +got):\n%s", d)
	}
}
