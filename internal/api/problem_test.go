package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
)

// checkProblem asserts an RFC 9457 response: content type, a request id
// that matches the header, and exactly the members in want.
func checkProblem(t *testing.T, res response, want map[string]any) {
	t.Helper()
	if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	got := res.json(t)
	if id, _ := got["request_id"].(string); id == "" || id != res.header.Get("X-Request-Id") {
		t.Errorf("request_id = %q, X-Request-Id = %q; want equal and non-empty", id, res.header.Get("X-Request-Id"))
	}
	delete(got, "request_id")
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("problem (-want +got):\n%s", d)
	}
}

func TestProblemMapping(t *testing.T) {
	report := fakeReport()
	reset := fakeNow().Add(90*time.Second + 300*time.Millisecond)
	reportJSON := map[string]any{"provider": "github", "host": "github.com", "kind": "github-classic-pat", "identity": "octocat",
		"scopes": []any{"repo"}, "requests": float64(0),
		"checks": []any{map[string]any{"use": "clone", "status": "ok", "needs": []any{"repo"}}}}
	problem := func(status int, slug, detail string, extra map[string]any) map[string]any {
		m := map[string]any{"type": "urn:gitaccess:problem:" + slug, "title": problemTitle(slug), "status": float64(status), "detail": detail}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name   string
		err    error
		want   map[string]any
		header http.Header
	}{
		{"invalid", &access.Error{Kind: access.KindInvalid, Message: "token name is not valid"},
			problem(400, "invalid-input", "token name is not valid", nil), nil},
		{"not found", &access.Error{Kind: access.KindNotFound, Message: "no token named x"},
			problem(404, "not-found", "no token named x", nil), nil},
		{"conflict", &access.Error{Kind: access.KindConflict, Message: "name taken"},
			problem(409, "conflict", "name taken", nil), nil},
		{"forbidden", &access.Error{Kind: access.KindForbidden, Message: "members may not"},
			problem(403, "forbidden", "members may not", nil), nil},
		{"unauthenticated", &access.Error{Kind: access.KindUnauthenticated, Message: "key revoked"},
			problem(401, "unauthenticated", "key revoked", nil), http.Header{"Www-Authenticate": {`Bearer realm="gitaccess"`}}},
		{"missing permissions", &access.Error{Kind: access.KindMissingPermissions, Message: "lacks admin:repo_hook",
			Missing: []string{"admin:repo_hook", "Webhooks: Read and write"}, Report: &report},
			problem(422, "missing-permissions", "lacks admin:repo_hook", map[string]any{
				"missing": []any{"admin:repo_hook", "Webhooks: Read and write"}, "report": reportJSON}), nil},
		{"confirmation required", &access.Error{Kind: access.KindConfirmationRequired, Message: "type its name"},
			problem(400, "confirmation-required", "type its name", nil), nil},
		{"access error wrapped", fmt.Errorf("outer: %w", &access.Error{Kind: access.KindNotFound, Message: "gone"}),
			problem(404, "not-found", "gone", nil), nil},
		{"bad credentials", fmt.Errorf("testing token x: %w", &forge.AuthError{Provider: forge.GitHub, Host: "github.com", Status: 401, Message: "Bad credentials"}),
			problem(422, "bad-credentials", "GitHub at github.com refused the token (HTTP 401): Bad credentials; check that the token is correct, not revoked and not expired",
				map[string]any{"host": "github.com"}), nil},
		{"permission refused by the provider", fmt.Errorf("token x, the webhooks of octo/app: %w", &forge.PermissionError{Provider: forge.GitHub, Host: "github.com", Action: "manage the webhooks of", Repo: "octo/app", Status: 404, Needs: "admin:repo_hook", Fix: "the token lacks admin:repo_hook"}),
			problem(422, "missing-permissions", "GitHub at github.com refused to manage the webhooks of octo/app (HTTP 404): the token lacks admin:repo_hook",
				map[string]any{"host": "github.com", "missing": []any{"admin:repo_hook"}}), nil},
		{"rate limited", &forge.RateLimitedError{Provider: forge.GitLab, Host: "gitlab.com", Reset: reset},
			problem(503, "rate-limited", "GitLab at gitlab.com rate-limited this token until 2026-03-04T05:07:37Z",
				map[string]any{"host": "gitlab.com", "reset": "2026-03-04T05:07:37Z"}), http.Header{"Retry-After": {"91"}}},
		{"rate limited without reset", &forge.RateLimitedError{Provider: forge.GitLab, Host: "gitlab.com"},
			problem(503, "rate-limited", "GitLab at gitlab.com rate-limited this token", map[string]any{"host": "gitlab.com"}),
			http.Header{"Retry-After": {"60"}}},
		{"unreachable", &forge.UnreachableError{Host: "ghe.example.com", Reason: "TLS: certificate signed by unknown authority", Err: errors.New("x509")},
			problem(502, "provider-unreachable", "cannot reach ghe.example.com: TLS: certificate signed by unknown authority; check the URL, the network path and any custom CA bundle.",
				map[string]any{"host": "ghe.example.com", "reason": "TLS: certificate signed by unknown authority"}), nil},
		{"provider error", &forge.ProviderError{Provider: forge.Bitbucket, Host: "api.bitbucket.org", Status: 503, Message: "down"},
			problem(502, "provider-error", "Bitbucket at api.bitbucket.org failed (HTTP 503): down; try again later",
				map[string]any{"host": "api.bitbucket.org", "provider_status": float64(503)}), nil},
		{"provider input error", &forge.InvalidInputError{Field: "url", Reason: "not a GitHub URL"},
			problem(400, "invalid-input", "url: not a GitHub URL", map[string]any{
				"errors": []any{map[string]any{"location": "body.url", "message": "not a GitHub URL"}}}), nil},
		{"insecure URL, userinfo redacted", &egress.InsecureURLError{URL: "http://bob:s3cr3t@git.example.com/api"},
			problem(400, "invalid-input", "http://REDACTED@git.example.com/api is plain http; use https, or ask the operator to start the server with --allow-insecure-http.", nil), nil},
		{"blocked address", &egress.BlockedAddressError{Addr: "169.254.169.254"},
			problem(400, "invalid-input", "address 169.254.169.254 is link-local or a cloud metadata service; gitaccess never connects there", nil), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, f, _ := newFake(t)
			f.err = tc.err
			res := do(t, h, http.MethodGet, "/api/v1/tokens/x", fakeKey, nil)
			if res.status != int(tc.want["status"].(float64)) {
				t.Errorf("status = %d, want %v", res.status, tc.want["status"])
			}
			checkProblem(t, res, tc.want)
			for k, v := range tc.header {
				if d := cmp.Diff(v, res.header.Values(k)); d != "" {
					t.Errorf("header %s (-want +got):\n%s", k, d)
				}
			}
			if _, ok := tc.header["Www-Authenticate"]; !ok && res.header.Get("Www-Authenticate") != "" {
				t.Errorf("unexpected WWW-Authenticate on %d", res.status)
			}
		})
	}
}

func TestInternalErrorsAreLoggedNotShown(t *testing.T) {
	h, f, logs := newFake(t)
	f.err = fmt.Errorf("reading token: %w", errors.New("database is locked at /var/lib/gitaccess/db"))
	res := do(t, h, http.MethodGet, "/api/v1/tokens/x", fakeKey, nil)
	if res.status != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", res.status)
	}
	id := res.header.Get("X-Request-Id")
	checkProblem(t, res, map[string]any{"type": "urn:gitaccess:problem:internal", "title": "Internal error", "status": float64(500),
		"detail": "gitaccess failed to handle this request. Try again; if it persists, ask the operator to look at the server log for request id " + id + "."})
	if strings.Contains(string(res.body), "database is locked") {
		t.Error("response shows the internal error")
	}
	if !strings.Contains(logs.String(), `"request_id":"`+id+`","error":"reading token: database is locked at /var/lib/gitaccess/db"`) {
		t.Errorf("log lacks the error with the request id:\n%s", logs)
	}
}

// panicOnGet stands for a use case that panics (as unfinished ones do).
type panicOnGet struct{ *fakeService }

func (panicOnGet) GetToken(context.Context, access.Principal, string) (access.TokenView, error) {
	panic("not yet")
}

func TestPanicBecomesInternalProblem(t *testing.T) {
	_, f, _ := newFake(t)
	log, logs := newTestLogger()
	h := New(Config{Service: &panicOnGet{f}, Logger: log})
	res := do(t, h, http.MethodGet, "/api/v1/tokens/x", fakeKey, nil)
	if res.status != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", res.status)
	}
	if got := res.json(t)["type"]; got != "urn:gitaccess:problem:internal" {
		t.Errorf("type = %v", got)
	}
	if !strings.Contains(logs.String(), `"panic":"not yet"`) || !strings.Contains(logs.String(), res.header.Get("X-Request-Id")) {
		t.Errorf("log lacks the panic and request id:\n%s", logs)
	}
}

func TestHumaErrorsBecomeOurProblems(t *testing.T) {
	h, f, _ := newFake(t)
	invalid := func(errs ...map[string]any) map[string]any {
		list := make([]any, len(errs))
		for i, e := range errs {
			list[i] = e
		}
		return map[string]any{"type": "urn:gitaccess:problem:invalid-input", "title": "Invalid input", "status": float64(400),
			"detail": "The request is not valid: correct the fields listed in errors and send it again.", "errors": list}
	}
	tests := []struct {
		name         string
		method, path string
		body         any
		want         map[string]any
	}{
		{"unknown field refused", http.MethodPost, "/api/v1/tokens",
			`{"name":"a","provider":"github","value":"ghp_secretvalue1234","allow_mising":true}`,
			invalid(map[string]any{"location": "body.allow_mising", "message": "unexpected property"})},
		{"value must be a string", http.MethodPost, "/api/v1/tokens/test", `{"provider":"github","value":12345}`,
			invalid(map[string]any{"location": "body.value", "message": "expected string"})},
		{"required field", http.MethodPost, "/api/v1/apikeys", `{"name":"ci"}`,
			invalid(map[string]any{"location": "body", "message": "expected required property role to be present"})},
		{"enum", http.MethodPost, "/api/v1/apikeys", `{"name":"ci","role":"god"}`,
			invalid(map[string]any{"location": "body.role", "message": "expected value to be one of \"owner, admin, devops, member, builder\""})},
		{"limit too large", http.MethodGet, "/api/v1/tokens?limit=1001", nil,
			invalid(map[string]any{"location": "query.limit", "message": "expected number <= 1000"})},
		{"limit zero", http.MethodGet, "/api/v1/audit?limit=0", nil,
			invalid(map[string]any{"location": "query.limit", "message": "expected number >= 1"})},
		{"body too large", http.MethodPost, "/api/v1/tokens",
			`{"name":"a","provider":"github","value":"x","ca_bundle":"` + strings.Repeat("A", MaxBodyBytes) + `"}`,
			map[string]any{"type": "urn:gitaccess:problem:request-too-large", "title": "Request too large", "status": float64(413),
				"detail": "The request body is larger than 1048576 bytes; send a smaller one."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, h, tc.method, tc.path, fakeKey, tc.body)
			if res.status != int(tc.want["status"].(float64)) {
				t.Errorf("status = %d, want %v: %s", res.status, tc.want["status"], res.body)
			}
			checkProblem(t, res, tc.want)
		})
	}
	if len(f.added)+len(f.tested) != 0 {
		t.Errorf("the service was called with invalid input: %d adds, %d tests", len(f.added), len(f.tested))
	}
}

func TestBodyOfExactlyTheLimitIsAccepted(t *testing.T) {
	h, f, _ := newFake(t)
	prefix, suffix := `{"name":"a","provider":"github","value":"ghp_x","ca_bundle":"`, `"}`
	body := prefix + strings.Repeat("A", MaxBodyBytes-len(prefix)-len(suffix)) + suffix
	if len(body) != MaxBodyBytes {
		t.Fatalf("body is %d bytes", len(body))
	}
	if res := do(t, h, http.MethodPost, "/api/v1/tokens", fakeKey, body); res.status != http.StatusCreated {
		t.Fatalf("status = %d: %.300s", res.status, res.body)
	}
	if len(f.added) != 1 || len(f.added[0].CABundle) != MaxBodyBytes-len(prefix)-len(suffix) {
		t.Errorf("service got %d adds", len(f.added))
	}
}

func TestMuxErrorsAreProblems(t *testing.T) {
	h, _, _ := newFake(t)
	res := do(t, h, http.MethodGet, "/api/v1/nope", fakeKey, nil)
	checkProblem(t, res, map[string]any{"type": "urn:gitaccess:problem:not-found", "title": "Not found", "status": float64(404),
		"detail": "There is no endpoint at /api/v1/nope; the API is described at /api/v1/openapi.json."})

	res = do(t, h, http.MethodPut, "/api/v1/whoami", fakeKey, nil)
	if res.status != http.StatusMethodNotAllowed {
		t.Errorf("status = %d, want 405", res.status)
	}
	allow := res.header.Get("Allow")
	if !strings.Contains(allow, "GET") {
		t.Errorf("Allow = %q", allow)
	}
	checkProblem(t, res, map[string]any{"type": "urn:gitaccess:problem:method-not-allowed", "title": "Method not allowed", "status": float64(405),
		"detail": "/api/v1/whoami does not accept PUT; it accepts " + allow + "."})
}

func TestReadiness(t *testing.T) {
	h, f, logs := newFake(t)
	if res := do(t, h, http.MethodGet, "/readyz", "", nil); res.status != http.StatusOK || string(res.json(t)["status"].(string)) != "ready" {
		t.Errorf("ready: %d %s", res.status, res.body)
	}
	f.readyErr = errors.New("dial unix /run/pg.sock: connection refused")
	res := do(t, h, http.MethodGet, "/readyz", "", nil)
	if res.status != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", res.status)
	}
	checkProblem(t, res, map[string]any{"type": "urn:gitaccess:problem:not-ready", "title": "Not ready", "status": float64(503),
		"detail": "gitaccess cannot reach its database; try again shortly, or ask the operator to check the server log."})
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("log lacks the readiness error:\n%s", logs)
	}
	if res := do(t, h, http.MethodGet, "/healthz", "", nil); res.status != http.StatusOK || string(res.body) != `{"status":"ok"}`+"\n" {
		t.Errorf("healthz: %d %q", res.status, res.body)
	}
}
