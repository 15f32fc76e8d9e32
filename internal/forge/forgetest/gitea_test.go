package forgetest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
)

// gtClient talks to a fake Gitea mounted for gitea.test.
type gtClient struct {
	t  *testing.T
	hc *http.Client
}

func newGTClient(t *testing.T, g *forgetest.Gitea) *gtClient {
	t.Helper()
	srv := forgetest.NewServer(t, nil, forgetest.ByHost{"gitea.test": g})
	hc, err := srv.Policy().Client(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &gtClient{t: t, hc: hc}
}

type gtAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (a gtAnswer) json(t *testing.T) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("answer is not JSON (%v): %s", err, a.body)
	}
	return v
}

func (a gtAnswer) object(t *testing.T) map[string]any {
	t.Helper()
	m, ok := a.json(t).(map[string]any)
	if !ok {
		t.Fatalf("not an object: %s", a.body)
	}
	return m
}

// do sends method to https://gitea.test/api/v1/<path> with auth as the
// whole Authorization header; body, when given, is JSON.
func (c *gtClient) do(method, path, auth string, body any) gtAnswer {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, "https://gitea.test/api/v1/"+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
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
	return gtAnswer{status: resp.StatusCode, header: resp.Header, body: b}
}

func (c *gtClient) get(path, token string) gtAnswer {
	c.t.Helper()
	return c.do(http.MethodGet, path, "token "+token, nil)
}

const gtSwagger = "https://gitea.test/api/swagger"

func TestGiteaAuthenticatesLikeGitea(t *testing.T) {
	g := forgetest.NewGitea()
	g.AddToken("tok", forgetest.GiteaToken{Username: "alice", FullName: "Alice", Scopes: []string{"read:user"}})
	g.AddToken("tok-gone", forgetest.GiteaToken{Username: "alice", Scopes: []string{"all"}})
	g.Revoke("tok-gone")
	g.AddToken("tok-banned", forgetest.GiteaToken{Username: "mallory", Scopes: []string{"all"}, Prohibited: true})
	c := newGTClient(t, g)

	tests := []struct {
		name, auth string
		status     int
		body       map[string]any
	}{
		{"token header", "token tok", 200, nil},
		{"Bearer header", "Bearer tok", 200, nil},
		{"no token", "", 401, map[string]any{"message": "token is required", "url": gtSwagger}},
		{"unknown token", "token nope", 401, map[string]any{"message": "token is required", "url": gtSwagger}},
		{"revoked", "token tok-gone", 401, map[string]any{"message": "token is required", "url": gtSwagger}},
		{"basic auth is not a token", "Basic dG9rOg==", 401, map[string]any{"message": "token is required", "url": gtSwagger}},
		{"prohibited user", "token tok-banned", 403, map[string]any{
			"message": "This account is prohibited from signing in, please contact your site administrator.", "url": gtSwagger}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := c.do(http.MethodGet, "user", tc.auth, nil)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			if tc.body == nil {
				if got := a.object(t)["login"]; got != "alice" {
					t.Errorf("login %v", got)
				}
				return
			}
			if diff := cmp.Diff(any(tc.body), a.json(t)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
	// /version answers anyone.
	if a := c.do(http.MethodGet, "version", "", nil); a.status != 200 || a.object(t)["version"] != "1.22.3" {
		t.Errorf("version: %d %s", a.status, a.body)
	}
	if g.Requests("tok") != 2 {
		t.Errorf("requests with tok: %d", g.Requests("tok"))
	}
}

// Scopes as tokenRequiresScopes checks them: read for GET, write for the
// rest, write implies read, all is everything; the refusal names the scope
// in Gitea's words and comes before the route looks anything up.
func TestGiteaScopesLikeGitea(t *testing.T) {
	g := forgetest.NewGitea()
	g.AddToken("read", forgetest.GiteaToken{Username: "r", Scopes: []string{"read:repository"}, Repos: []string{"r/app"}})
	g.AddToken("write", forgetest.GiteaToken{Username: "w", Scopes: []string{"write:repository", "read:user"}, Repos: []string{"w/app"}})
	g.AddToken("all", forgetest.GiteaToken{Username: "a", Scopes: []string{"all"}})
	g.AddToken("issue", forgetest.GiteaToken{Username: "i", Scopes: []string{"write:issue"}})
	c := newGTClient(t, g)
	scopeMsg := func(s string) map[string]any {
		return map[string]any{"message": "token does not have at least one of required scope(s): [" + s + "]", "url": gtSwagger}
	}
	tests := []struct {
		name, method, path, token string
		status                    int
		body                      map[string]any
	}{
		{"user without read:user", "GET", "user", "read", 403, scopeMsg("read:user")},
		{"user with write:issue", "GET", "user", "issue", 403, scopeMsg("read:user")},
		{"user/repos needs read:user first", "GET", "user/repos", "read", 403, scopeMsg("read:user")},
		{"user/repos needs read:repository too", "GET", "user/repos", "issue", 403, scopeMsg("read:user")},
		{"search with read", "GET", "repos/search?limit=1", "read", 200, nil},
		{"search with write (implies read)", "GET", "repos/search?limit=1", "write", 200, nil},
		{"search with all", "GET", "repos/search?limit=1", "all", 200, nil},
		{"search with an issue scope", "GET", "repos/search", "issue", 403, scopeMsg("read:repository")},
		{"migrate with read", "POST", "repos/migrate", "read", 403, scopeMsg("write:repository")},
		{"migrate with write stops at binding", "POST", "repos/migrate", "write", 422, map[string]any{"message": "[CloneAddr]: Required", "url": gtSwagger}},
		{"migrate with all", "POST", "repos/migrate", "all", 422, map[string]any{"message": "[CloneAddr]: Required", "url": gtSwagger}},
		// The scope is checked before the repository is looked up.
		{"unknown repository, no scope", "GET", "repos/x/y", "issue", 403, scopeMsg("read:repository")},
		{"unknown repository", "GET", "repos/x/y", "read", 404, map[string]any{"message": "The target couldn't be found.", "url": gtSwagger, "errors": []any{}}},
		{"someone else's private repository", "GET", "repos/w/app", "read", 404, map[string]any{"message": "The target couldn't be found.", "url": gtSwagger, "errors": []any{}}},
		{"hooks with read scope", "POST", "repos/w/app/hooks", "read", 403, scopeMsg("write:repository")},
		{"unknown route", "GET", "nothing/here", "all", 404, map[string]any{"message": "The target couldn't be found.", "url": gtSwagger, "errors": []any{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.method == "POST" {
				body = map[string]any{}
			}
			a := c.do(tc.method, tc.path, "token "+tc.token, body)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			if tc.body != nil {
				if diff := cmp.Diff(any(tc.body), a.json(t)); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			}
		})
	}
	// Search lists what the user sees: its own, and public ones.
	g.SetPrivate("r/app", false)
	for token, want := range map[string]int{"all": 1, "write": 2} {
		a := c.get("repos/search?limit=50", token)
		if m := a.object(t); m["ok"] != true || len(m["data"].([]any)) != want {
			t.Errorf("search as %s: %s, want %d", token, a.body, want)
		}
	}
}

func TestGiteaPagesLikeGitea(t *testing.T) {
	g := forgetest.NewGitea()
	var repos []string
	for i := range 120 {
		repos = append(repos, fmt.Sprintf("alice/r%03d", i))
	}
	g.AddToken("tok", forgetest.GiteaToken{Username: "alice", Scopes: []string{"read:user", "read:repository"}, Repos: repos})
	c := newGTClient(t, g)

	names := func(a gtAnswer) []string {
		var out []string
		for _, r := range a.json(t).([]any) {
			out = append(out, r.(map[string]any)["full_name"].(string))
		}
		return out
	}
	a := c.get("user/repos", "tok") // DEFAULT_PAGING_NUM: 30
	if n := len(names(a)); n != 30 || a.header.Get("X-Total-Count") != "120" {
		t.Errorf("default page: %d items, X-Total-Count %q", n, a.header.Get("X-Total-Count"))
	}
	wantLink := `<https://gitea.test/api/v1/user/repos?page=2>; rel="next",<https://gitea.test/api/v1/user/repos?page=4>; rel="last"`
	if got := a.header.Get("Link"); got != wantLink {
		t.Errorf("Link\n got %s\nwant %s", got, wantLink)
	}

	a = c.get("user/repos?limit=500&page=3", "tok") // MAX_RESPONSE_ITEMS: 50
	if got := names(a); len(got) != 20 || got[0] != "alice/r100" {
		t.Errorf("last page of 50: %v", got)
	}
	wantLink = `<https://gitea.test/api/v1/user/repos?limit=500&page=1>; rel="first",<https://gitea.test/api/v1/user/repos?limit=500&page=2>; rel="prev"`
	if got := a.header.Get("Link"); got != wantLink {
		t.Errorf("Link\n got %s\nwant %s", got, wantLink)
	}
	if a = c.get("user/repos?limit=50&page=9", "tok"); len(a.json(t).([]any)) != 0 {
		t.Errorf("past the end: %s", a.body)
	}

	// A single page has no Link; the Link follows ROOT_URL, not the Host.
	g.SetAppURL("http://gitea.internal:3000")
	g.SetMaxResponseItems(10)
	a = c.get("user/repos?limit=50", "tok")
	if n := len(names(a)); n != 10 || !strings.HasPrefix(a.header.Get("Link"), "<http://gitea.internal:3000/api/v1/user/repos?limit=50&page=2>; rel=\"next\"") {
		t.Errorf("ROOT_URL links: %d items, Link %q", n, a.header.Get("Link"))
	}
	g2 := forgetest.NewGitea()
	g2.AddToken("tok", forgetest.GiteaToken{Username: "bob", Scopes: []string{"all"}, Repos: []string{"bob/one"}})
	a = newGTClient(t, g2).get("user/repos", "tok")
	if a.header.Get("Link") != "" || a.header.Get("X-Total-Count") != "1" {
		t.Errorf("one page: Link %q X-Total-Count %q", a.header.Get("Link"), a.header.Get("X-Total-Count"))
	}
}

func TestGiteaBranchesAndFiles(t *testing.T) {
	g := forgetest.NewGitea()
	g.AddToken("tok", forgetest.GiteaToken{Username: "alice", Scopes: []string{"read:repository"}, Repos: []string{"acme/web"}, Access: "read"})
	g.SetBranch("acme/web", "feature/x", strings.Repeat("f", 40))
	g.SetFile("acme/web", "main", "dir/a b.txt", "hello")
	c := newGTClient(t, g)

	a := c.get("repos/acme/web/branches/feature/x", "tok")
	if a.status != 200 || a.object(t)["commit"].(map[string]any)["id"] != strings.Repeat("f", 40) {
		t.Errorf("branch with a slash: %d %s", a.status, a.body)
	}
	a = c.get("repos/acme/web/branches/nope", "tok")
	want := map[string]any{"message": "The target couldn't be found.", "url": gtSwagger, "errors": []any{"branch does not exist [name: nope]"}}
	if diff := cmp.Diff(any(want), a.json(t)); a.status != 404 || diff != "" {
		t.Errorf("missing branch %d (-want +got):\n%s", a.status, diff)
	}
	for _, p := range []string{"repos/acme/web/raw/dir/a%20b.txt", "repos/acme/web/raw/dir/a%20b.txt?ref=main"} {
		if a = c.get(p, "tok"); a.status != 200 || string(a.body) != "hello" {
			t.Errorf("%s: %d %q", p, a.status, a.body)
		}
	}
	for _, p := range []string{"repos/acme/web/raw/missing", "repos/acme/web/raw/dir/a%20b.txt?ref=nope"} {
		if a = c.get(p, "tok"); a.status != 404 {
			t.Errorf("%s: %d", p, a.status)
		}
	}
	// A reader sees the repository but may not manage its hooks.
	a = c.get("repos/acme/web/hooks", "tok")
	if a.status != 403 || a.object(t)["message"] != "user should be an owner or a collaborator with admin write of a repository" {
		t.Errorf("hooks as a reader: %d %s", a.status, a.body)
	}
}

func TestGiteaHooksLikeGitea(t *testing.T) {
	g := forgetest.NewGitea()
	g.AddToken("tok", forgetest.GiteaToken{Username: "alice", Scopes: []string{"write:repository"}, Repos: []string{"alice/app"}})
	c := newGTClient(t, g)
	auth := "token tok"

	for _, tc := range []struct {
		body map[string]any
		msg  string
	}{
		{map[string]any{"type": "nope", "config": map[string]string{"url": "https://x", "content_type": "json"}}, "Invalid hook type: nope"},
		{map[string]any{"type": "forgejo", "config": map[string]string{"url": "https://x", "content_type": "json"}}, "Invalid hook type: forgejo"},
		{map[string]any{"type": "gitea", "config": map[string]string{"content_type": "json"}}, "Missing config option: url"},
		{map[string]any{"type": "gitea", "config": map[string]string{"url": "https://x"}}, "Missing config option: content_type"},
		{map[string]any{"type": "gitea", "config": map[string]string{"url": "https://x", "content_type": "xml"}}, "Invalid content type"},
	} {
		a := c.do(http.MethodPost, "repos/alice/app/hooks", auth, tc.body)
		if a.status != 422 || a.object(t)["message"] != tc.msg {
			t.Errorf("%v: %d %s, want 422 %q", tc.body, a.status, a.body, tc.msg)
		}
	}

	// active defaults to false; no events means push; pull_request means
	// every pull request event.
	a := c.do(http.MethodPost, "repos/alice/app/hooks", auth, map[string]any{
		"type": "gitea", "config": map[string]string{"url": "https://h.example/1", "content_type": "json", "secret": "s3cret"}})
	if a.status != 201 {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	h := a.object(t)
	id := int64(h["id"].(float64))
	wantKeys := []string{"active", "authorization_header", "branch_filter", "config", "created_at", "events", "id", "type", "updated_at"}
	if diff := cmp.Diff(wantKeys, keysOf(h)); diff != "" {
		t.Errorf("hook keys (-want +got):\n%s", diff)
	}
	if h["active"] != false || !cmp.Equal(h["events"], []any{"push"}) || strings.Contains(string(a.body), "s3cret") {
		t.Errorf("created hook: %s", a.body)
	}
	a = c.do(http.MethodPatch, fmt.Sprintf("repos/alice/app/hooks/%d", id), auth, map[string]any{
		"config": map[string]string{"content_type": "form"}, "events": []string{"push", "pull_request"}, "active": true, "branch_filter": "main"})
	if a.status != 200 {
		t.Fatalf("edit: %d %s", a.status, a.body)
	}
	wantEvents := []string{"push", "pull_request", "pull_request_assign", "pull_request_label", "pull_request_milestone",
		"pull_request_comment", "pull_request_review", "pull_request_review_request", "pull_request_sync"}
	got := g.Hooks("alice/app")
	want := []forgetest.GiteaHook{{ID: id, Type: "gitea", URL: "https://h.example/1", ContentType: "form", Secret: "s3cret",
		BranchFilter: "main", Events: wantEvents, Active: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after edit (-want +got):\n%s", diff)
	}
	if a = c.get("repos/alice/app/hooks", "tok"); a.header.Get("X-Total-Count") != "1" || a.header.Get("Link") != "" {
		t.Errorf("list headers: %v", a.header)
	}
	if a = c.do(http.MethodDelete, fmt.Sprintf("repos/alice/app/hooks/%d", id), auth, nil); a.status != 204 {
		t.Errorf("delete: %d", a.status)
	}
	if a = c.do(http.MethodDelete, fmt.Sprintf("repos/alice/app/hooks/%d", id), auth, nil); a.status != 404 {
		t.Errorf("delete again: %d", a.status)
	}
	// Forgejo knows its own type.
	g.SetForgejo("7.0.5", "1.21.11")
	a = c.do(http.MethodPost, "repos/alice/app/hooks", auth, map[string]any{"type": "forgejo", "config": map[string]string{"url": "https://x", "content_type": "json"}})
	if a.status != 201 {
		t.Errorf("forgejo hook: %d %s", a.status, a.body)
	}
	if a = c.do(http.MethodGet, "version", "", nil); a.object(t)["version"] != "7.0.5+gitea-1.21.11" {
		t.Errorf("forgejo version: %s", a.body)
	}
}

func TestGiteaSubPath(t *testing.T) {
	g := forgetest.NewGitea()
	g.SetSubPath("/gitea/")
	g.AddToken("tok", forgetest.GiteaToken{Username: "alice", Scopes: []string{"all"}, Repos: []string{"alice/app"}})
	srv := forgetest.NewServer(t, nil, forgetest.ByHost{"gitea.test": g})
	hc, err := srv.Policy().Client(nil)
	if err != nil {
		t.Fatal(err)
	}
	get := func(u string) (int, []byte) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
		req.Header.Set("Authorization", "token tok")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if st, _ := get("https://gitea.test/api/v1/version"); st != 404 {
		t.Errorf("at the root: %d", st)
	}
	st, b := get("https://gitea.test/gitea/api/v1/repos/alice/app")
	if st != 200 || !bytes.Contains(b, []byte(`"html_url":"https://gitea.test/gitea/alice/app"`)) {
		t.Errorf("under the sub-path: %d %s", st, b)
	}
}

// gtPayloads reads the contract webhook payloads, whose repository, user
// and commit objects are Gitea's API structs (modules/structs). They live
// with the adapter: ../gitea/testdata/gitea/webhooks.
func gtPayloads(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "gitea", "testdata", "gitea", "webhooks", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no contract payloads: %v", err)
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = m
	}
	return out
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// gtKindDiff lists where fake and real differ in JSON kind on the keys
// they share, recursively; null on either side matches anything, since it
// says only that the field may be null.
func gtKindDiff(path string, real, fake any) []string {
	if real == nil || fake == nil {
		return nil
	}
	if jsonKind(real) != jsonKind(fake) {
		return []string{fmt.Sprintf("%s: contract %s, fake %s", path, jsonKind(real), jsonKind(fake))}
	}
	var out []string
	if rm, ok := real.(map[string]any); ok {
		fm := fake.(map[string]any)
		for _, k := range keysOf(rm) {
			if fv, ok := fm[k]; ok {
				out = append(out, gtKindDiff(path+"."+k, rm[k], fv)...)
			}
		}
	}
	return out
}

// TestGiteaShapesMatchContractPayloads keeps the fake's repository, user
// and branch commit objects the shape of those in the real payloads: every
// key the fake sends exists in Codeberg's complete objects, every shared
// key has the same JSON kind in every payload, and the fields the adapter
// reads are there.
func TestGiteaShapesMatchContractPayloads(t *testing.T) {
	g := forgetest.NewGitea()
	g.AddToken("tok", forgetest.GiteaToken{Username: "alice", FullName: "Alice", Scopes: []string{"all"}, Repos: []string{"alice/app"}})
	c := newGTClient(t, g)
	repo := c.get("repos/alice/app", "tok").object(t)
	user := c.get("user", "tok").object(t)
	branch := c.get("repos/alice/app/branches/main", "tok").object(t)

	payloads := gtPayloads(t)
	full := payloads["gitea.pull_request.reopened.json"] // captured on Codeberg, untrimmed
	fullRepo := full["repository"].(map[string]any)
	fullUser := full["sender"].(map[string]any)
	for name, fake := range map[string]map[string]any{"repository": repo, "user": user, "repository.owner": repo["owner"].(map[string]any)} {
		real := fullRepo
		if name != "repository" {
			real = fullUser
		}
		for _, k := range keysOf(fake) {
			if _, ok := real[k]; !ok {
				t.Errorf("%s: the fake sends %q, which Gitea's object does not have", name, k)
			}
		}
	}
	for _, k := range []string{"id", "full_name", "html_url", "clone_url", "default_branch", "private", "internal", "empty", "owner", "permissions"} {
		if _, ok := repo[k]; !ok {
			t.Errorf("the fake repository lacks %q", k)
		}
	}
	for _, k := range []string{"id", "login", "full_name", "username"} {
		if _, ok := user[k]; !ok {
			t.Errorf("the fake user lacks %q", k)
		}
	}

	checked := 0
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range payloads {
			if !yield(k) {
				return
			}
		}
	}) {
		p := payloads[name]
		var diffs []string
		if r, ok := p["repository"]; ok {
			diffs = append(diffs, gtKindDiff("repository", r, repo)...)
			checked++
		}
		for _, k := range []string{"sender", "pusher"} {
			if u, ok := p[k]; ok {
				diffs = append(diffs, gtKindDiff(k, u, user)...)
			}
		}
		if pr, ok := p["pull_request"].(map[string]any); ok {
			for _, side := range []string{"head", "base"} {
				if b, ok := pr[side].(map[string]any); ok && b["repo"] != nil {
					diffs = append(diffs, gtKindDiff("pull_request."+side+".repo", b["repo"], repo)...)
				}
			}
			diffs = append(diffs, gtKindDiff("pull_request.user", pr["user"], user)...)
		}
		if commits, ok := p["commits"].([]any); ok {
			for i, cm := range commits {
				diffs = append(diffs, gtKindDiff(fmt.Sprintf("commits[%d]", i), cm, branch["commit"])...)
			}
		}
		if len(diffs) > 0 {
			t.Errorf("%s: the fake drifted from the contract:\n%s", name, strings.Join(diffs, "\n"))
		}
	}
	if checked != len(payloads) {
		t.Errorf("checked %d of %d payloads", checked, len(payloads))
	}
}
