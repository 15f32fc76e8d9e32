package forgetest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
)

// glClient talks to a fake GitLab mounted for gitlab.com and gitlab.test.
type glClient struct {
	t   *testing.T
	srv *forgetest.Server
	hc  *http.Client
}

func newGLClient(t *testing.T, gl *forgetest.GitLab) *glClient {
	t.Helper()
	srv := forgetest.NewServer(t, nil, forgetest.ByHost{"gitlab.com": gl, "gitlab.test": gl})
	hc, err := srv.Policy().Client(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &glClient{t: t, srv: srv, hc: hc}
}

type glAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (a glAnswer) json(t *testing.T) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("answer is not JSON (%v): %s", err, a.body)
	}
	return v
}

// do sends method url with the token in header ("PRIVATE-TOKEN" or
// "Authorization" for a Bearer token); body, when given, is JSON.
func (c *glClient) do(method, url, header, token string, body any) glAnswer {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch header {
	case "PRIVATE-TOKEN":
		req.Header.Set("PRIVATE-TOKEN", token)
	case "Authorization":
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return glAnswer{status: resp.StatusCode, header: resp.Header, body: b}
}

func (c *glClient) get(path, token string) glAnswer {
	c.t.Helper()
	return c.do(http.MethodGet, "https://gitlab.com/api/v4/"+path, "PRIVATE-TOKEN", token, nil)
}

const glAPI = "https://gitlab.com/api/v4/"

func TestGitLabAuthenticatesLikeGitLab(t *testing.T) {
	gl := forgetest.NewGitLab()
	gl.AddToken("tok-api", forgetest.GitLabToken{Username: "alice", Scopes: []string{"api"}})
	gl.AddToken("tok-revoked", forgetest.GitLabToken{Username: "alice", Scopes: []string{"api"}})
	gl.Revoke("tok-revoked")
	today := time.Now().UTC().Format(time.DateOnly)
	later := time.Now().UTC().AddDate(0, 0, 2).Format(time.DateOnly)
	gl.AddToken("tok-expires-today", forgetest.GitLabToken{Username: "alice", Scopes: []string{"api"}, ExpiresAt: today})
	gl.AddToken("tok-expires-later", forgetest.GitLabToken{Username: "alice", Scopes: []string{"api"}, ExpiresAt: later})
	c := newGLClient(t, gl)

	tests := []struct {
		name, header, token string
		status              int
		body                map[string]any
	}{
		{"PRIVATE-TOKEN header", "PRIVATE-TOKEN", "tok-api", 200, nil},
		{"Bearer header", "Authorization", "tok-api", 200, nil},
		{"no token", "", "", 401, map[string]any{"message": "401 Unauthorized"}},
		{"unknown token", "PRIVATE-TOKEN", "nope", 401, map[string]any{"message": "401 Unauthorized"}},
		{"revoked", "PRIVATE-TOKEN", "tok-revoked", 401, map[string]any{
			"error": "invalid_token", "error_description": "Token was revoked. You have to re-authorize from the user."}},
		// GitLab refuses a token from 00:00 UTC on its expiry date.
		{"expires today", "PRIVATE-TOKEN", "tok-expires-today", 401, map[string]any{
			"error": "invalid_token", "error_description": "Token is expired. You can either do re-authorization or token refresh."}},
		{"expires later", "PRIVATE-TOKEN", "tok-expires-later", 200, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := c.do(http.MethodGet, glAPI+"user", tc.header, tc.token, nil)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			if tc.body == nil {
				if got := a.json(t).(map[string]any)["username"]; got != "alice" {
					t.Errorf("username %v, want alice", got)
				}
				return
			}
			if diff := cmp.Diff(any(tc.body), a.json(t)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGitLabScopesPerEndpoint(t *testing.T) {
	gl := forgetest.NewGitLab()
	gl.AddToken("tok-repo", forgetest.GitLabToken{Username: "bob", Scopes: []string{"read_repository"}, AccessLevel: 30, Projects: []string{"acme/web"}})
	gl.SetFile("acme/web", "main", "deploy.yaml", "replicas: 2\n")
	c := newGLClient(t, gl)

	// Any scope may inspect itself; /user needs read_user, read_api or api.
	if a := c.get("personal_access_tokens/self", "tok-repo"); a.status != 200 {
		t.Fatalf("self: %d %s", a.status, a.body)
	}
	a := c.get("user", "tok-repo")
	if a.status != http.StatusForbidden {
		t.Fatalf("user: status %d, want 403: %s", a.status, a.body)
	}
	body := a.json(t).(map[string]any)
	if body["error"] != "insufficient_scope" || !strings.Contains(body["scope"].(string), "read_user") {
		t.Errorf("user: body %v, want insufficient_scope naming read_user", body)
	}
	// The repository files API takes read_repository; branches do not.
	if a := c.get("projects/acme%2Fweb/repository/files/deploy.yaml/raw?ref=main", "tok-repo"); a.status != 200 || string(a.body) != "replicas: 2\n" {
		t.Errorf("raw file: %d %q", a.status, a.body)
	}
	if a := c.get("projects/acme%2Fweb/repository/branches", "tok-repo"); a.status != http.StatusForbidden {
		t.Errorf("branches with read_repository: status %d, want 403", a.status)
	}
}

func TestGitLabMembershipAndRoles(t *testing.T) {
	gl := forgetest.NewGitLab()
	gl.AddToken("tok-dev", forgetest.GitLabToken{Kind: "project", Scopes: []string{"api"}, AccessLevel: 30, Projects: []string{"acme/web"}})
	gl.AddToken("tok-group", forgetest.GitLabToken{Kind: "group", Scopes: []string{"api"}, AccessLevel: 40, Projects: []string{"acme/web", "acme/api"}})
	gl.AddToken("tok-other", forgetest.GitLabToken{Username: "eve", Scopes: []string{"api"}, AccessLevel: 50, Projects: []string{"other/site"}})
	c := newGLClient(t, gl)

	names := func(token string) []string {
		var out []string
		for _, p := range c.get("projects", token).json(t).([]any) {
			out = append(out, p.(map[string]any)["path_with_namespace"].(string))
		}
		sort.Strings(out)
		return out
	}
	if diff := cmp.Diff([]string{"acme/web"}, names("tok-dev")); diff != "" {
		t.Errorf("project token sees (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"acme/api", "acme/web"}, names("tok-group")); diff != "" {
		t.Errorf("group token sees (-want +got):\n%s", diff)
	}

	// A bot's username names its resource, as GitLab generates it.
	user := c.get("user", "tok-dev").json(t).(map[string]any)
	if !strings.HasPrefix(user["username"].(string), "project_") || user["bot"] != true {
		t.Errorf("project token user = %v, want a project_<id>_bot_ bot", user)
	}

	if a := c.get("projects/other%2Fsite", "tok-dev"); a.status != http.StatusNotFound {
		t.Errorf("someone else's project: status %d, want 404", a.status)
	}
	if a := c.get("projects/acme%2Fweb/hooks", "tok-dev"); a.status != http.StatusForbidden {
		t.Errorf("Developer lists hooks: status %d, want 403", a.status)
	}
	a := c.do(http.MethodPost, glAPI+"projects/acme%2Fweb/hooks", "PRIVATE-TOKEN", "tok-group",
		map[string]any{"url": "https://ci.example/hooks/1", "token": "hook-secret", "merge_requests_events": true})
	if a.status != http.StatusCreated {
		t.Fatalf("Maintainer creates hook: %d %s", a.status, a.body)
	}
	if bytes.Contains(a.body, []byte("hook-secret")) {
		t.Errorf("hook answer reveals the hook token: %s", a.body)
	}
	hooks := gl.Hooks("acme/web")
	want := []forgetest.GitLabHook{{ID: hooks[0].ID, URL: "https://ci.example/hooks/1", Token: "hook-secret",
		PushEvents: true, MergeRequestsEvents: true, EnableSSLVerification: true, AlertStatus: "executable"}}
	if diff := cmp.Diff(want, hooks); diff != "" {
		t.Errorf("stored hooks (-want +got):\n%s", diff)
	}
}

func TestGitLabFailNextAndRequestCounts(t *testing.T) {
	gl := forgetest.NewGitLab()
	gl.AddToken("tok", forgetest.GitLabToken{Username: "alice", Scopes: []string{"api"}})
	c := newGLClient(t, gl)

	gl.FailNext(http.StatusTooManyRequests, http.Header{"Retry-After": {"30"}})
	gl.FailNext(http.StatusBadGateway, nil)
	a := c.get("user", "tok")
	if a.status != 429 || a.header.Get("Retry-After") != "30" || string(a.body) != "Retry later\n" {
		t.Errorf("first: %d Retry-After=%q %q", a.status, a.header.Get("Retry-After"), a.body)
	}
	a = c.get("user", "tok")
	if a.status != 502 {
		t.Errorf("second: %d, want 502", a.status)
	}
	if diff := cmp.Diff(any(map[string]any{"message": "502 Bad Gateway"}), a.json(t)); diff != "" {
		t.Errorf("502 body (-want +got):\n%s", diff)
	}
	if a := c.get("user", "tok"); a.status != 200 {
		t.Errorf("third: %d, want 200 once the failures are spent", a.status)
	}
	if got := gl.Requests("tok"); got != 3 {
		t.Errorf("Requests = %d, want 3 (failed ones count)", got)
	}
}

func TestGitLabRateLimitHeaders(t *testing.T) {
	gl := forgetest.NewGitLab()
	gl.AddToken("tok", forgetest.GitLabToken{Username: "alice", Scopes: []string{"api"}})
	reset := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	gl.SetRateLimit(2000, 1990, reset)
	a := newGLClient(t, gl).get("user", "tok")
	got := map[string]string{}
	for _, k := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Observed", "RateLimit-Reset", "RateLimit-ResetTime"} {
		got[k] = a.header.Get(k)
	}
	want := map[string]string{"RateLimit-Limit": "2000", "RateLimit-Remaining": "1990", "RateLimit-Observed": "10",
		"RateLimit-Reset": fmt.Sprint(reset.Unix()), "RateLimit-ResetTime": "Tue, 01 Jan 2030 00:00:00 GMT"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

func TestGitLabRelativeRoot(t *testing.T) {
	gl := forgetest.NewGitLab()
	gl.SetRelativeRoot("/gitlab")
	gl.AddToken("tok", forgetest.GitLabToken{Username: "alice", Scopes: []string{"api"}})
	c := newGLClient(t, gl)
	if a := c.do(http.MethodGet, "https://gitlab.test/api/v4/user", "PRIVATE-TOKEN", "tok", nil); a.status != 404 {
		t.Errorf("outside the relative root: %d, want 404", a.status)
	}
	a := c.do(http.MethodGet, "https://gitlab.test/gitlab/api/v4/user", "PRIVATE-TOKEN", "tok", nil)
	if a.status != 200 {
		t.Fatalf("under the relative root: %d %s", a.status, a.body)
	}
	if got := a.json(t).(map[string]any)["web_url"]; got != "https://gitlab.test/gitlab/alice" {
		t.Errorf("web_url %v, want https://gitlab.test/gitlab/alice", got)
	}
}

// glContractDir holds copies of shared/contracts/gitlab (see its SOURCES.md).
const glContractDir = "testdata/gitlab"

func glExample(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(glContractDir, "api", name))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// glShapeDiff lists where got differs in shape from the example want: the
// same keys, recursively, with the same JSON types. A null in the example
// says only that the field may be null, so any value matches it. Each
// element of an array must match one of the example's elements; an empty
// array in got cannot show its shape, so it counts as a difference when
// the example has elements. With extraOK, got may have keys want lacks.
func glShapeDiff(path string, want, got any, extraOK bool) []string {
	if want == nil {
		return nil
	}
	kind := func(v any) string {
		switch v.(type) {
		case nil:
			return "null"
		case map[string]any:
			return "object"
		case []any:
			return "array"
		case string:
			return "string"
		case float64:
			return "number"
		case bool:
			return "boolean"
		}
		return fmt.Sprintf("%T", v)
	}
	if kind(want) != kind(got) {
		return []string{fmt.Sprintf("%s: %s, example has %s", path, kind(got), kind(want))}
	}
	var out []string
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			out = append(out, glShapeDiff(path+"."+k, wv, gv, extraOK)...)
		}
		if !extraOK {
			for k := range g {
				if _, ok := w[k]; !ok {
					out = append(out, fmt.Sprintf("%s.%s: not in the example", path, k))
				}
			}
		}
	case []any:
		g := got.([]any)
		if len(w) > 0 && len(g) == 0 {
			return []string{path + ": empty, so its elements cannot be checked; set the fake up to fill it"}
		}
		for i, gv := range g {
			var first []string
			matched := false
			for j, wv := range w {
				d := glShapeDiff(fmt.Sprintf("%s[%d]", path, i), wv, gv, extraOK)
				if len(d) == 0 {
					matched = true
					break
				}
				if j == 0 {
					first = d
				}
			}
			if !matched && len(w) > 0 {
				out = append(out, first...)
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestGLShapeDiffCatchesDrift(t *testing.T) {
	example := map[string]any{"id": 1.0, "name": "x", "expires_at": nil,
		"scopes": []any{"api"}, "ns": map[string]any{"id": 1.0}}
	tests := []struct {
		name string
		got  any
		want []string
	}{
		{"same", map[string]any{"id": 2.0, "name": "y", "expires_at": "2026-01-01", "scopes": []any{"read_api"}, "ns": map[string]any{"id": 3.0}}, nil},
		{"missing key", map[string]any{"id": 2.0, "name": "y", "expires_at": nil, "scopes": []any{"api"}}, []string{"$.ns: missing"}},
		{"extra key", map[string]any{"id": 2.0, "name": "y", "expires_at": nil, "scopes": []any{"api"}, "ns": map[string]any{"id": 3.0, "x": true}}, []string{"$.ns.x: not in the example"}},
		{"wrong type", map[string]any{"id": "2", "name": "y", "expires_at": nil, "scopes": []any{1.0}, "ns": map[string]any{"id": 3.0}}, []string{"$.id: string, example has number", "$.scopes[0]: number, example has string"}},
		{"empty array", map[string]any{"id": 2.0, "name": "y", "expires_at": nil, "scopes": []any{}, "ns": map[string]any{"id": 3.0}}, []string{"$.scopes: empty, so its elements cannot be checked; set the fake up to fill it"}},
		{"not an object", []any{}, []string{"$: array, example has object"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, glShapeDiff("$", any(example), tc.got, false)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestGitLabContract checks every fake endpoint that has a contract example
// answers with exactly the example's keys and JSON types.
func TestGitLabContract(t *testing.T) {
	gl := forgetest.NewGitLab()
	gl.AddToken("tok-group", forgetest.GitLabToken{Kind: "group", Scopes: []string{"api"}, AccessLevel: 40,
		ExpiresAt: "2099-01-31", Projects: []string{"acme/web"}})
	gl.SetBranch("acme/web", "feature", "0123456789abcdef0123456789abcdef01234567")
	gl.AddToken("tok-rotate", forgetest.GitLabToken{Scopes: []string{"api"}, AccessLevel: 40, Projects: []string{"acme/web"}})
	gl.AddToken("tok-group-rotate", forgetest.GitLabToken{Kind: "group", Scopes: []string{"self_rotate"}, AccessLevel: 40, Projects: []string{"acme/web"}})
	c := newGLClient(t, gl)
	groupID := fmt.Sprint(c.get("personal_access_tokens/self/associations", "tok-group").json(t).(map[string]any)["groups"].([]any)[0].(map[string]any)["id"])

	created := c.do(http.MethodPost, glAPI+"projects/acme%2Fweb/hooks", "PRIVATE-TOKEN", "tok-group", map[string]any{
		"url": "https://ci.example/hooks/1", "token": "s", "push_events": true,
		"custom_headers": []any{map[string]any{"key": "X-Source", "value": "gitaccess"}}})
	if created.status != http.StatusCreated {
		t.Fatalf("create hook: %d %s", created.status, created.body)
	}
	hookPath := fmt.Sprintf("projects/acme%%2Fweb/hooks/%v", created.json(t).(map[string]any)["id"])
	edited := c.do(http.MethodPut, glAPI+hookPath, "PRIVATE-TOKEN", "tok-group", map[string]any{
		"url": "https://ci.example/hooks/1", "push_events": false, "issues_events": true})
	if edited.status != http.StatusOK {
		t.Fatalf("edit hook: %d %s", edited.status, edited.body)
	}
	pats := glExample(t, "personal_access_tokens.list.docs-example.json").([]any)
	hook := glExample(t, "project_hook.get.docs-example.json")

	tests := []struct {
		endpoint string
		got      any
		example  any
		extraOK  bool
	}{
		// GET /personal_access_tokens/self has one element's fields of the
		// list (SOURCES.md), description included.
		{"GET /personal_access_tokens/self", c.get("personal_access_tokens/self", "tok-group").json(t), pats[0], false},
		// The client library's older fixture lacks description: a subset.
		{"GET /personal_access_tokens/self (client fixture)", c.get("personal_access_tokens/self", "tok-group").json(t),
			glExample(t, "personal_access_token.get.json"), true},
		{"GET /personal_access_tokens/self/associations", c.get("personal_access_tokens/self/associations", "tok-group").json(t),
			glExample(t, "personal_access_tokens.self_associations.docs-example.json"), false},
		// The single-user shape; real GET /user adds private fields.
		{"GET /user", c.get("user", "tok-group").json(t), glExample(t, "user.get-single-user.docs-example.json"), false},
		{"GET /projects/:id/repository/branches", c.get("projects/acme%2Fweb/repository/branches", "tok-group").json(t),
			glExample(t, "branches.list.json"), false},
		// One branch is the list's element; the client library's older
		// fixture lacks web_url: a subset.
		{"GET /projects/:id/repository/branches/:branch", c.get("projects/acme%2Fweb/repository/branches/feature", "tok-group").json(t),
			glExample(t, "branches.list.json").([]any)[0], false},
		{"GET /projects/:id/repository/branches/:branch (client fixture)", c.get("projects/acme%2Fweb/repository/branches/feature", "tok-group").json(t),
			glExample(t, "branch.get.json"), true},
		{"POST /projects/:id/hooks", created.json(t), hook, false},
		{"GET /projects/:id/hooks", c.get("projects/acme%2Fweb/hooks", "tok-group").json(t), []any{hook}, false},
		{"GET /projects/:id/hooks/:hook_id", c.get(hookPath, "tok-group").json(t), hook, false},
		{"PUT /projects/:id/hooks/:hook_id", edited.json(t), hook, false},
		{"POST /personal_access_tokens/self/rotate", c.do(http.MethodPost, glAPI+"personal_access_tokens/self/rotate", "PRIVATE-TOKEN", "tok-rotate", nil).json(t),
			glExample(t, "personal_access_tokens.rotate.docs-example.json"), false},
		// A group token's answer adds its access_level: a superset.
		{"POST /groups/:id/access_tokens/self/rotate", c.do(http.MethodPost, glAPI+"groups/"+groupID+"/access_tokens/self/rotate", "PRIVATE-TOKEN", "tok-group-rotate", nil).json(t),
			glExample(t, "personal_access_tokens.rotate.docs-example.json"), true},
	}
	for _, tc := range tests {
		t.Run(tc.endpoint, func(t *testing.T) {
			if d := glShapeDiff("$", tc.example, tc.got, tc.extraOK); len(d) > 0 {
				t.Errorf("the fake drifted from the contract:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}

// TestGitLabContractCopiesMatch keeps testdata/gitlab byte-identical to
// shared/contracts/gitlab where that tree is present (it lives outside the
// module; GITACCESS_CONTRACTS names it elsewhere).
func TestGitLabContractCopiesMatch(t *testing.T) {
	dir := os.Getenv("GITACCESS_CONTRACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "shared", "contracts")
	}
	if _, err := os.Stat(filepath.Join(dir, "gitlab", "SOURCES.md")); err != nil {
		t.Skipf("no shared contracts at %s (set GITACCESS_CONTRACTS)", dir)
	}
	copies, err := filepath.Glob(filepath.Join(glContractDir, "api", "*.json"))
	if err != nil || len(copies) == 0 {
		t.Fatalf("no copies in %s: %v", glContractDir, err)
	}
	for _, p := range append(copies, filepath.Join(glContractDir, "SOURCES.md")) {
		rel, _ := filepath.Rel(glContractDir, p)
		mine, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := os.ReadFile(filepath.Join(dir, "gitlab", rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if !bytes.Equal(mine, theirs) {
			t.Errorf("%s differs from shared/contracts/gitlab/%s; copy it again", p, rel)
		}
	}
}

// glNames lists path_with_namespace of a JSON array of projects.
func glNames(t *testing.T, a glAnswer) []string {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	out := []string{}
	for _, p := range a.json(t).([]any) {
		out = append(out, p.(map[string]any)["path_with_namespace"].(string))
	}
	return out
}

func glHeaders(a glAnswer, keys ...string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		if vs, ok := a.header[http.CanonicalHeaderKey(k)]; ok {
			out[k] = strings.Join(vs, ",")
		}
	}
	return out
}

func TestGitLabOffsetPagination(t *testing.T) {
	gl := forgetest.NewGitLab()
	var paths []string
	for i := range 150 {
		paths = append(paths, fmt.Sprintf("acme/p%03d", i))
	}
	gl.AddToken("tok", forgetest.GitLabToken{Username: "alice", Scopes: []string{"read_api"}, AccessLevel: 30, Projects: paths})
	c := newGLClient(t, gl)

	keys := []string{"X-Page", "X-Per-Page", "X-Next-Page", "X-Prev-Page", "X-Total", "X-Total-Pages", "Link"}
	first := c.get("projects?membership=true&per_page=100", "tok")
	base := "https://gitlab.com/api/v4/projects?membership=true"
	want := map[string]string{"X-Page": "1", "X-Per-Page": "100", "X-Next-Page": "2", "X-Prev-Page": "", "X-Total": "150", "X-Total-Pages": "2",
		"Link": `<` + base + `&page=2&per_page=100>; rel="next", <` + base + `&page=1&per_page=100>; rel="first", <` + base + `&page=2&per_page=100>; rel="last"`}
	if diff := cmp.Diff(want, glHeaders(first, keys...)); diff != "" {
		t.Errorf("page 1 headers (-want +got):\n%s", diff)
	}
	second := c.get("projects?membership=true&per_page=100&page=2", "tok")
	if got := glHeaders(second, "X-Page", "X-Next-Page", "X-Prev-Page"); !cmp.Equal(got, map[string]string{"X-Page": "2", "X-Next-Page": "", "X-Prev-Page": "1"}) {
		t.Errorf("page 2 headers %v", got)
	}
	all := append(glNames(t, first), glNames(t, second)...)
	if len(all) != 150 || all[0] != "acme/p149" {
		t.Errorf("got %d projects starting %q; want 150, newest first (created_at desc)", len(all), all[0])
	}
	// per_page above 100 is clamped; the default is 20.
	if a := c.get("projects?per_page=500", "tok"); a.header.Get("X-Per-Page") != "100" {
		t.Errorf("per_page=500 gave X-Per-Page %q", a.header.Get("X-Per-Page"))
	}
	if n := len(glNames(t, c.get("projects", "tok"))); n != 20 {
		t.Errorf("default page holds %d, want 20", n)
	}
	// Offset pages of projects stop at 50,000.
	if a := c.get("projects?per_page=100&page=501", "tok"); a.status != http.StatusMethodNotAllowed || !strings.Contains(string(a.body), "keyset") {
		t.Errorf("deep offset: %d %s", a.status, a.body)
	}
}

func TestGitLabKeysetPagination(t *testing.T) {
	gl := forgetest.NewGitLab()
	var paths []string
	for i := range 150 {
		paths = append(paths, fmt.Sprintf("acme/p%03d", i))
	}
	gl.AddToken("tok", forgetest.GitLabToken{Username: "alice", Scopes: []string{"read_api"}, AccessLevel: 30, Projects: paths})
	c := newGLClient(t, gl)

	if a := c.get("projects?pagination=keyset&per_page=100", "tok"); a.status != http.StatusMethodNotAllowed {
		t.Errorf("keyset without order_by=id: %d, want 405", a.status)
	}
	url := glAPI + "projects?membership=true&order_by=id&pagination=keyset&per_page=100&sort=asc"
	var got []string
	for n := 1; url != ""; n++ {
		if n > 5 {
			t.Fatal("keyset pages do not end")
		}
		a := c.do(http.MethodGet, url, "PRIVATE-TOKEN", "tok", nil)
		if a.header.Get("X-Next-Page") != "" || a.header.Get("X-Total") != "" {
			t.Errorf("keyset page %d carries offset headers", n)
		}
		got = append(got, glNames(t, a)...)
		url = ""
		if l := a.header.Get("Link"); l != "" {
			if !strings.HasSuffix(l, `>; rel="next"`) || !strings.Contains(l, "id_after=") {
				t.Fatalf("Link %q", l)
			}
			url = strings.TrimSuffix(strings.TrimPrefix(l, "<"), `>; rel="next"`)
		}
	}
	if len(got) != 150 || got[0] != "acme/p000" || got[149] != "acme/p149" {
		t.Errorf("keyset listed %d projects, %v...; want 150 in id order", len(got), got[:min(3, len(got))])
	}
}

func TestGitLabVisibilitySubgroupsAndSearch(t *testing.T) {
	gl := forgetest.NewGitLab()
	gl.AddToken("tok-group", forgetest.GitLabToken{Kind: "group", Scopes: []string{"read_api"}, AccessLevel: 20, Projects: []string{"acme/web"}})
	gl.AddToken("tok-guest", forgetest.GitLabToken{Username: "gus", Scopes: []string{"read_api"}, AccessLevel: 10, Projects: []string{"acme/web"}})
	gl.AddToken("tok-other", forgetest.GitLabToken{Username: "eve", Scopes: []string{"api"}, AccessLevel: 50, Projects: []string{"other/open", "other/corp", "other/secret"}})
	gl.SetBranch("acme/platform/tools/api", "main", strings.Repeat("a", 40)) // a sub-subgroup of the token's group
	gl.SetVisibility("other/open", "public")
	gl.SetVisibility("other/corp", "internal")
	c := newGLClient(t, gl)

	// A group member sees its subgroups' projects; membership=true hides
	// public and internal projects it is not a member of.
	if diff := cmp.Diff([]string{"acme/platform/tools/api", "acme/web"}, glNames(t, c.get("projects?membership=true&order_by=id&sort=desc", "tok-group"))); diff != "" {
		t.Errorf("membership (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"acme/platform/tools/api", "acme/web", "other/corp", "other/open"},
		sorted(glNames(t, c.get("projects", "tok-group")))); diff != "" {
		t.Errorf("visible (-want +got):\n%s", diff)
	}
	p := c.get("projects/acme%2Fplatform%2Ftools%2Fapi", "tok-group").json(t).(map[string]any)
	ns := p["namespace"].(map[string]any)
	if p["path_with_namespace"] != "acme/platform/tools/api" || ns["full_path"] != "acme/platform/tools" || ns["parent_id"] == nil ||
		p["name_with_namespace"] != "acme / platform / tools / api" || p["http_url_to_repo"] != "https://gitlab.com/acme/platform/tools/api.git" {
		t.Errorf("subgroup project %v", p)
	}
	if a := c.get("projects/other%2Fopen", "tok-group"); a.status != 200 || a.json(t).(map[string]any)["visibility"] != "public" {
		t.Errorf("public project: %d %s", a.status, a.body)
	}
	if a := c.get("projects/other%2Fsecret", "tok-group"); a.status != 404 || !strings.Contains(string(a.body), "404 Project Not Found") {
		t.Errorf("private project of others: %d %s", a.status, a.body)
	}
	// Code: anyone reads a public project's; a Guest not a private one's.
	if a := c.get("projects/other%2Fopen/repository/branches", "tok-group"); a.status != 200 {
		t.Errorf("branches of a public project: %d", a.status)
	}
	if a := c.get("projects/acme%2Fweb/repository/branches", "tok-guest"); a.status != http.StatusForbidden {
		t.Errorf("Guest lists branches of a private project: %d, want 403", a.status)
	}

	// search matches path; search_namespaces the full path; under three
	// characters only a whole value.
	tests := []struct {
		query string
		want  []string
	}{
		{"search=API", []string{"acme/platform/tools/api"}},
		{"search=platform", []string{}},
		{"search=platform&search_namespaces=true", []string{"acme/platform/tools/api"}},
		{"search=acme/web&search_namespaces=true", []string{"acme/web"}},
		{"search=we", []string{}},
		{"search=web", []string{"acme/web"}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, glNames(t, c.get("projects?membership=true&"+tc.query, "tok-group"))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.query, diff)
		}
	}
}

func sorted(s []string) []string {
	sort.Strings(s)
	return s
}

func TestGitLabBranchesAndFiles(t *testing.T) {
	gl := forgetest.NewGitLab()
	gl.AddToken("tok", forgetest.GitLabToken{Username: "alice", Scopes: []string{"read_api"}, AccessLevel: 20, Projects: []string{"acme/web"}})
	for i := range 229 { // with main: 230
		gl.SetBranch("acme/web", fmt.Sprintf("feature/b%03d", i), fmt.Sprintf("%040x", i+1))
	}
	gl.SetDefaultBranch("acme/web", "develop")
	gl.SetBranch("acme/web", "develop", strings.Repeat("d", 40))
	gl.SetFile("acme/web", "develop", "deploy/app.yaml", "replicas: 3\n")
	gl.SetFile("acme/web", "main", "deploy/app.yaml", "replicas: 1\n")
	c := newGLClient(t, gl)

	var names []string
	for page := 1; ; page++ {
		a := c.get(fmt.Sprintf("projects/acme%%2Fweb/repository/branches?per_page=100&page=%d", page), "tok")
		if a.status != 200 || a.header.Get("X-Total") != "231" || a.header.Get("X-Total-Pages") != "3" {
			t.Fatalf("page %d: %d total %q pages %q", page, a.status, a.header.Get("X-Total"), a.header.Get("X-Total-Pages"))
		}
		if !strings.Contains(a.header.Get("Link"), "id=acme%2Fweb") {
			t.Errorf("Link %q lacks the route's id, as GitLab's carries it", a.header.Get("Link"))
		}
		for _, b := range a.json(t).([]any) {
			names = append(names, b.(map[string]any)["name"].(string))
		}
		if a.header.Get("X-Next-Page") == "" {
			break
		}
	}
	if len(names) != 231 || names[0] != "develop" || !sort.StringsAreSorted(names) {
		t.Errorf("%d branches, first %q, sorted %v", len(names), names[0], sort.StringsAreSorted(names))
	}

	b := c.get("projects/acme%2Fweb/repository/branches/feature%2Fb007", "tok")
	if b.status != 200 || b.json(t).(map[string]any)["commit"].(map[string]any)["id"] != fmt.Sprintf("%040x", 8) {
		t.Errorf("branch with a slash: %d %s", b.status, b.body)
	}
	if a := c.get("projects/acme%2Fweb/repository/branches/nope", "tok"); a.status != 404 || !strings.Contains(string(a.body), "404 Branch Not Found") {
		t.Errorf("missing branch: %d %s", a.status, a.body)
	}

	files := []struct {
		query  string
		status int
		body   string
	}{
		{"", 200, "replicas: 3\n"}, // no ref: HEAD, the default branch
		{"?ref=main", 200, "replicas: 1\n"},
		{"?ref=" + strings.Repeat("d", 40), 200, "replicas: 3\n"},
		{"?ref=", 400, `{"error":"ref is empty"}` + "\n"},
		{"?ref=nope", 404, `{"message":"404 Commit Not Found"}` + "\n"},
		{"?ref=feature%2Fb001", 404, `{"message":"404 File Not Found"}` + "\n"},
	}
	for _, tc := range files {
		a := c.get("projects/acme%2Fweb/repository/files/deploy%2Fapp%2Eyaml/raw"+tc.query, "tok")
		if a.status != tc.status || string(a.body) != tc.body {
			t.Errorf("raw%s: %d %q, want %d %q", tc.query, a.status, a.body, tc.status, tc.body)
		}
	}
	a := c.get("projects/acme%2Fweb/repository/files/deploy%2Fapp%2Eyaml/raw?ref=main", "tok")
	want := map[string]string{"X-Gitlab-File-Name": "app.yaml", "X-Gitlab-File-Path": "deploy/app.yaml", "X-Gitlab-Size": "12", "X-Gitlab-Ref": "main"}
	if diff := cmp.Diff(want, glHeaders(a, "X-Gitlab-File-Name", "X-Gitlab-File-Path", "X-Gitlab-Size", "X-Gitlab-Ref")); diff != "" {
		t.Errorf("raw headers (-want +got):\n%s", diff)
	}

	gl.SetDefaultBranch("acme/web", "")
	if p := c.get("projects/acme%2Fweb", "tok").json(t).(map[string]any); p["default_branch"] != nil || p["empty_repo"] != true {
		t.Errorf("empty repository: default_branch %v empty_repo %v", p["default_branch"], p["empty_repo"])
	}
}

// hookIDs lists the ids of a JSON array of hooks.
func hookIDs(t *testing.T, a glAnswer) []int {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	var out []int
	for _, h := range a.json(t).([]any) {
		out = append(out, int(h.(map[string]any)["id"].(float64)))
	}
	return out
}

func TestGitLabHooksCRUD(t *testing.T) {
	gl := forgetest.NewGitLab()
	gl.AddToken("tok", forgetest.GitLabToken{Username: "alice", Scopes: []string{"api"}, AccessLevel: 40, Projects: []string{"acme/web"}})
	c := newGLClient(t, gl)

	created := c.do(http.MethodPost, glAPI+"projects/acme%2Fweb/hooks", "PRIVATE-TOKEN", "tok", map[string]any{
		"url": "https://ci.example/hooks/1", "token": "s1", "tag_push_events": true, "merge_requests_events": "true",
		"push_events_branch_filter": "main", "note_events": true})
	if created.status != http.StatusCreated {
		t.Fatalf("create: %d %s", created.status, created.body)
	}
	id := int(created.json(t).(map[string]any)["id"].(float64))
	path := fmt.Sprintf("projects/acme%%2Fweb/hooks/%d", id)
	want := forgetest.GitLabHook{ID: id, URL: "https://ci.example/hooks/1", Token: "s1", PushEvents: true, TagPushEvents: true,
		MergeRequestsEvents: true, EnableSSLVerification: true, PushEventsBranchFilter: "main", AlertStatus: "executable",
		OtherEvents: []string{"note_events"}}
	if diff := cmp.Diff([]forgetest.GitLabHook{want}, gl.Hooks("acme/web")); diff != "" {
		t.Errorf("after create (-want +got):\n%s", diff)
	}

	// PUT changes what it names and keeps the rest, url included.
	a := c.do(http.MethodPut, glAPI+path, "PRIVATE-TOKEN", "tok", map[string]any{
		"url": "https://ci.example/hooks/1", "push_events": false, "note_events": false, "enable_ssl_verification": false})
	if a.status != http.StatusOK {
		t.Fatalf("edit: %d %s", a.status, a.body)
	}
	want.PushEvents, want.EnableSSLVerification, want.OtherEvents = false, false, nil
	if diff := cmp.Diff([]forgetest.GitLabHook{want}, gl.Hooks("acme/web")); diff != "" {
		t.Errorf("after edit (-want +got):\n%s", diff)
	}
	if a := c.do(http.MethodPut, glAPI+path, "PRIVATE-TOKEN", "tok", map[string]any{"tag_push_events": false}); a.status != http.StatusOK {
		t.Errorf("edit without url: %d, want 200", a.status)
	}
	want.TagPushEvents = false
	if diff := cmp.Diff([]forgetest.GitLabHook{want}, gl.Hooks("acme/web")); diff != "" {
		t.Errorf("after an edit without url (-want +got):\n%s", diff)
	}
	if a := c.do(http.MethodPut, glAPI+path, "PRIVATE-TOKEN", "tok", map[string]any{"url": "https://ci.example/hooks/1", "push_events": "maybe"}); a.status != http.StatusBadRequest {
		t.Errorf("edit with a bad boolean: %d, want 400", a.status)
	}
	// A new URL without a token drops the old one, as GitLab does.
	c.do(http.MethodPut, glAPI+path, "PRIVATE-TOKEN", "tok", map[string]any{"url": "https://ci.example/hooks/2"})
	if h := gl.Hooks("acme/web")[0]; h.URL != "https://ci.example/hooks/2" || h.Token != "" {
		t.Errorf("after moving: url %q token %q, want the new url and no token", h.URL, h.Token)
	}

	if got := c.get(path, "tok").json(t).(map[string]any)["url"]; got != "https://ci.example/hooks/2" {
		t.Errorf("GET one: url %v", got)
	}
	for _, bad := range []struct {
		path   string
		status int
	}{{"projects/acme%2Fweb/hooks/999999", 404}, {"projects/acme%2Fweb/hooks/x", 400}} {
		if a := c.get(bad.path, "tok"); a.status != bad.status {
			t.Errorf("GET %s: %d, want %d", bad.path, a.status, bad.status)
		}
	}
	if a := c.do(http.MethodDelete, glAPI+path, "PRIVATE-TOKEN", "tok", nil); a.status != http.StatusNoContent || len(a.body) != 0 {
		t.Errorf("delete: %d %q, want 204 and no body", a.status, a.body)
	}
	if a := c.do(http.MethodDelete, glAPI+path, "PRIVATE-TOKEN", "tok", nil); a.status != http.StatusNotFound {
		t.Errorf("delete again: %d, want 404", a.status)
	}
	if hooks := gl.Hooks("acme/web"); len(hooks) != 0 {
		t.Errorf("hooks left: %+v", hooks)
	}
}

func TestGitLabHooksPaginate(t *testing.T) {
	gl := forgetest.NewGitLab()
	gl.AddToken("tok", forgetest.GitLabToken{Username: "alice", Scopes: []string{"read_api"}, AccessLevel: 40, Projects: []string{"acme/web"}})
	var ids []int
	for i := range 45 {
		ids = append(ids, gl.AddHook("acme/web", forgetest.GitLabHook{URL: fmt.Sprintf("https://ci.example/hooks/%d", i)}))
	}
	c := newGLClient(t, gl)
	first := c.get("projects/acme%2Fweb/hooks", "tok")
	if diff := cmp.Diff(ids[:20], hookIDs(t, first)); diff != "" {
		t.Errorf("default page of 20 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"X-Next-Page": "2", "X-Total": "45", "X-Total-Pages": "3"},
		glHeaders(first, "X-Next-Page", "X-Total", "X-Total-Pages")); diff != "" {
		t.Errorf("page headers (-want +got):\n%s", diff)
	}
	last := c.get("projects/acme%2Fweb/hooks?per_page=20&page=3", "tok")
	if diff := cmp.Diff(ids[40:], hookIDs(t, last)); diff != "" {
		t.Errorf("last page (-want +got):\n%s", diff)
	}
	if got := last.header.Get("X-Next-Page"); got != "" {
		t.Errorf("last page names a next page %q", got)
	}
}

func TestGitLabHooksNeedMaintainerAndAPI(t *testing.T) {
	gl := forgetest.NewGitLab()
	gl.AddToken("tok-readapi", forgetest.GitLabToken{Username: "alice", Scopes: []string{"read_api"}, AccessLevel: 50, Projects: []string{"acme/web"}})
	gl.AddToken("tok-dev", forgetest.GitLabToken{Username: "bob", Scopes: []string{"api"}, AccessLevel: 30, Projects: []string{"acme/web"}})
	gl.AddToken("tok-outsider", forgetest.GitLabToken{Username: "eve", Scopes: []string{"api"}, AccessLevel: 50, Projects: []string{"other/site"}})
	id := gl.AddHook("acme/web", forgetest.GitLabHook{URL: "https://ci.example/hooks/1", Token: "s"})
	c := newGLClient(t, gl)
	one := fmt.Sprintf("%sprojects/acme%%2Fweb/hooks/%d", glAPI, id)
	body := map[string]any{"url": "https://ci.example/hooks/1"}

	type call struct{ method, url string }
	calls := []call{{http.MethodGet, glAPI + "projects/acme%2Fweb/hooks"}, {http.MethodPost, glAPI + "projects/acme%2Fweb/hooks"},
		{http.MethodGet, one}, {http.MethodPut, one}, {http.MethodDelete, one}}
	for _, tc := range []struct {
		token string
		want  []int // per call
	}{
		// read_api opens GETs only (lib/api/api.rb); writes need api.
		{"tok-readapi", []int{200, 403, 200, 403, 403}},
		{"tok-dev", []int{403, 403, 403, 403, 403}},
		{"tok-outsider", []int{404, 404, 404, 404, 404}},
	} {
		for i, cl := range calls {
			var b any
			if cl.method == http.MethodPost || cl.method == http.MethodPut {
				b = body
			}
			a := c.do(cl.method, cl.url, "PRIVATE-TOKEN", tc.token, b)
			if a.status != tc.want[i] {
				t.Errorf("%s %s %s: %d, want %d (%s)", tc.token, cl.method, cl.url, a.status, tc.want[i], a.body)
			}
			if tc.token == "tok-readapi" && a.status == 403 && a.json(t).(map[string]any)["error"] != "insufficient_scope" {
				t.Errorf("%s %s: 403 is not insufficient_scope: %s", cl.method, cl.url, a.body)
			}
		}
	}
	if hooks := gl.Hooks("acme/web"); len(hooks) != 1 || hooks[0].URL != "https://ci.example/hooks/1" {
		t.Errorf("refused calls changed the hooks: %+v", hooks)
	}
}

func TestGitLabHookHelpers(t *testing.T) {
	gl := forgetest.NewGitLab()
	id := gl.AddHook("acme/web", forgetest.GitLabHook{URL: "https://ci.example/hooks/1", PushEvents: true,
		OtherEvents: []string{"pipeline_events", "issues_events"}})
	if !gl.AlterHook("acme/web", id, func(h *forgetest.GitLabHook) {
		h.ID = 0 // ignored: the id stays
		h.PushEvents = false
		h.AlertStatus = "disabled"
	}) {
		t.Fatal("AlterHook found no hook")
	}
	want := []forgetest.GitLabHook{{ID: id, URL: "https://ci.example/hooks/1", AlertStatus: "disabled",
		OtherEvents: []string{"issues_events", "pipeline_events"}}}
	if diff := cmp.Diff(want, gl.Hooks("acme/web")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if gl.AlterHook("acme/web", id+100, func(*forgetest.GitLabHook) {}) || gl.AlterHook("no/such", id, func(*forgetest.GitLabHook) {}) {
		t.Error("AlterHook reported a hook that does not exist")
	}
	if !gl.RemoveHook("acme/web", id) || gl.RemoveHook("acme/web", id) || len(gl.Hooks("acme/web")) != 0 {
		t.Error("RemoveHook did not remove exactly once")
	}
}
