package cli_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/cli"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/server"
	"github.com/gitaccess/gitaccess/internal/store"
)

const (
	apiKey     = "gak_live_7f3c9d2e1b0a4958SECRETKEY"
	tokenValue = "ghp_R4nd0mT0k3nV4lu3ABCDEFGHIJKLMNOP"
)

// now is the fixed clock every command sees.
var now = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

type request struct {
	Method, Path, Query, Auth string
	Body                      []byte
}

// fakeAPI is a gitaccess server stand-in: it records every request and
// fails the test on one without the expected bearer key.
type fakeAPI struct {
	key string
	mux *http.ServeMux
	srv *httptest.Server

	mu   sync.Mutex
	reqs []request
	// wrongKeyExpected makes a wrong key an answer (401), not a failure.
	wrongKeyExpected bool
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{key: apiKey, mux: http.NewServeMux()}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"), Body: body})
		lenient := f.wrongKeyExpected
		f.mu.Unlock()
		if got := r.Header.Get("Authorization"); got != "Bearer "+f.key {
			if !lenient {
				t.Errorf("%s %s: Authorization = %q, want the bearer key", r.Method, r.URL.Path, got)
			}
			problem(w, 401, `{"type":"urn:gitaccess:problem:unauthenticated","title":"Unauthorized","status":401,"detail":"the API key is not valid"}`)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) handle(pattern string, h http.HandlerFunc) { f.mux.HandleFunc(pattern, h) }

func (f *fakeAPI) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func problem(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// harness runs the CLI in-process with a private config directory.
type harness struct {
	t        *testing.T
	env      map[string]string
	terminal bool
	prompter cli.Prompter
	opts     func(*cli.Options)
	// secrets must never appear in any output.
	secrets []string
}

func newHarness(t *testing.T) *harness {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	return &harness{t: t, env: map[string]string{}, secrets: []string{apiKey, tokenValue}}
}

// loggedIn points the CLI at api through the environment.
func (h *harness) loggedIn(api *fakeAPI) *harness {
	h.env["GITACCESS_SERVER"] = api.srv.URL
	h.env["GITACCESS_API_KEY"] = api.key
	return h
}

type result struct {
	stdout, stderr string
	code           int
}

func (h *harness) run(stdin string, args ...string) result {
	h.t.Helper()
	var out, errb bytes.Buffer
	o := cli.Options{
		Stdin:      strings.NewReader(stdin),
		Stdout:     &out,
		Stderr:     &errb,
		Env:        func(k string) string { return h.env[k] },
		IsTerminal: func() bool { return h.terminal },
		Prompter:   h.prompter,
		Now:        func() time.Time { return now },
	}
	if h.opts != nil {
		h.opts(&o)
	}
	code := cli.Run(context.Background(), args, o)
	r := result{stdout: out.String(), stderr: errb.String(), code: code}
	for _, s := range h.secrets {
		if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			h.t.Errorf("gitaccess %s: a secret appears in the output:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.stdout, r.stderr)
		}
	}
	return r
}

func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return r
}

func (r result) failed(t *testing.T, wantStderr ...string) result {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("exit 0, want failure\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "error: ") {
		t.Errorf("stderr does not start with \"error: \": %q", r.stderr)
	}
	for _, s := range wantStderr {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
	return r
}

// fakePrompter answers terminal prompts.
type fakePrompter struct {
	secret  string
	line    string
	prompts []string
}

func (p *fakePrompter) ReadSecret(_ context.Context, prompt string) (secret.Value, error) {
	p.prompts = append(p.prompts, prompt)
	return secret.New(p.secret), nil
}

func (p *fakePrompter) ReadLine(_ context.Context, prompt string) (string, error) {
	p.prompts = append(p.prompts, prompt)
	return p.line, nil
}

func githubReport() forge.Report {
	return forge.Report{
		Provider: forge.GitHub, Host: "github.com", Kind: forge.KindGitHubClassicPAT,
		Identity: "octocat", IdentityName: "The Octocat", Scopes: []string{"repo", "admin:repo_hook"},
		ExpiresAt: ptr(now.Add(45 * 24 * time.Hour)),
		Checks: []forge.UseCheck{
			{Use: forge.UseClone, Status: forge.CheckOK, Needs: []string{"repo"}, Proven: []string{"repo"}},
			{Use: forge.UseWebhooks, Status: forge.CheckOK, Needs: []string{"admin:repo_hook"}, Proven: []string{"admin:repo_hook"}},
		},
		Requests: 2,
		Notes:    []string{"SSO authorization is per organization"},
	}
}

func tokenView(name, status string, expires *time.Time) access.TokenView {
	return access.TokenView{
		ID: "tok_" + name, Name: name, Provider: "github", Host: "github.com", WebURL: "https://github.com", APIURL: "https://api.github.com",
		Uses: []string{"clone", "webhooks"}, Kind: "github-classic-pat", Identity: "octocat", Scopes: []string{"repo", "admin:repo_hook"},
		ExpiresAt: expires, Status: status, LastValidatedAt: ptr(now.Add(-2 * time.Hour)), Fingerprint: "sha256:3f2a9c0d11e4b7a5", Last4: "MNOP",
		CreatedAt: now.Add(-72 * time.Hour), UpdatedAt: now.Add(-2 * time.Hour),
	}
}

func decodeBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("request body %q: %v", b, err)
	}
	return m
}

func TestTokenAddReadsTheValueFromStdinAndSendsItOnlyInTheBody(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("POST /api/v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusCreated, access.TokenResult{Token: tokenView("ci", access.StatusValid, ptr(now.Add(45*24*time.Hour))), Report: githubReport()})
	})
	h := newHarness(t).loggedIn(api)
	r := h.run(tokenValue+"\n", "token", "add", "ci", "--provider", "github", "--use", "clone,webhooks", "--description", "CI clones").ok(t)

	reqs := api.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	want := map[string]any{"name": "ci", "provider": "github", "description": "CI clones", "uses": []any{"clone", "webhooks"}, "value": tokenValue}
	if diff := cmp.Diff(want, decodeBody(t, reqs[0].Body)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if strings.Contains(reqs[0].Path+reqs[0].Query, tokenValue) {
		t.Errorf("token value in the URL: %s?%s", reqs[0].Path, reqs[0].Query)
	}
	for _, s := range []string{"octocat (The Octocat)", "github-classic-pat", "repo, admin:repo_hook", "45 days left", "clone", "webhooks", "SSO authorization", "Saved token ci: status valid", "sha256:3f2a9c0d11e4b7a5"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
}

func TestTokenAddPromptsWithoutEchoOnATerminal(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("POST /api/v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusCreated, access.TokenResult{Token: tokenView("ci", access.StatusValid, nil), Report: githubReport()})
	})
	h := newHarness(t).loggedIn(api)
	p := &fakePrompter{secret: tokenValue}
	h.terminal, h.prompter = true, p
	h.run("this stdin must not be read", "token", "add", "ci", "--provider", "gitlab").ok(t)
	if diff := cmp.Diff([]string{"Paste the GitLab token (input is hidden): "}, p.prompts); diff != "" {
		t.Errorf("prompts (-want +got):\n%s", diff)
	}
	if got := decodeBody(t, api.requests()[0].Body)["value"]; got != tokenValue {
		t.Errorf("value sent = %q, want the prompted one", got)
	}
}

func TestTokenAddRefusesEmptyOrMultiLineStdin(t *testing.T) {
	api := newFakeAPI(t)
	h := newHarness(t).loggedIn(api)
	h.run("  \n", "token", "add", "ci", "--provider", "github").failed(t, "nothing was given for the GitHub token")
	h.run(tokenValue+"\nsecond line\n", "token", "add", "ci", "--provider", "github").failed(t, "more than one line")
	if n := len(api.requests()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

// secretFlagName matches flag names that could be meant for a secret.
func secretFlagName(name string) bool {
	for _, s := range []string{"value", "token", "key", "secret", "password", "passwd", "pat"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// namesNotSecrets are flags whose names match secretFlagName but which
// take something else, with the word their help must use to say so.
var namesNotSecrets = map[string]string{
	"token": "name of the token", // a saved token's name; values come from stdin
	"path":  "directory",         // a directory inside the repository
}

func TestNoFlagAcceptsASecret(t *testing.T) {
	var walk func(c *cobra.Command)
	checked := 0
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			checked++
			if help, ok := namesNotSecrets[f.Name]; ok {
				if !strings.Contains(f.Usage, help) {
					t.Errorf("%s --%s: help %q does not say it takes a %s", c.CommandPath(), f.Name, f.Usage, help)
				}
				return
			}
			if secretFlagName(f.Name) && f.Value.Type() != "bool" && !strings.HasSuffix(f.Name, "-file") {
				t.Errorf("%s --%s (%s) could carry a secret on the command line", c.CommandPath(), f.Name, f.Value.Type())
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cli.NewRoot(cli.Options{}))
	if checked < 30 {
		t.Fatalf("only %d flags seen; the walk is broken", checked)
	}

	api := newFakeAPI(t)
	h := newHarness(t).loggedIn(api)
	h.run("", "token", "add", "ci", "--provider", "github", "--value="+tokenValue).failed(t, "unknown flag: --value")
	h.run("", "token", "update", "ci", "--value="+tokenValue).failed(t, "--value takes no value")
	h.run("", "token", "update", "ci", "--value", tokenValue).failed(t, "needs the token NAME (got 2 arguments)")
	h.run("", "token", "add", "ci", tokenValue, "--provider", "github").failed(t, "got 2 arguments")
	h.run("", "login", "--server", api.srv.URL, "--api-key="+apiKey).failed(t, "unknown flag: --api-key")
	h.run("", "-k"+apiKey).failed(t, "unknown shorthand flag -k")
	h.run("", tokenValue).failed(t, "unknown command")
	if n := len(api.requests()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

// normalize decodes JSON into generic values for comparison.
func normalize(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return v
}

func TestJSONAndYAMLOutputParseBackToTheAPIData(t *testing.T) {
	tokens := []access.TokenView{
		tokenView("a-token", access.StatusValid, ptr(now.Add(100*24*time.Hour))),
		tokenView("b-token", access.StatusExpiring, ptr(now.Add(12*24*time.Hour))),
		tokenView("c-token", access.StatusLimited, nil),
	}
	tokens[1].Description = "multi\nline: {not yaml}"
	tokens[2].Report = ptr(githubReport())
	keys := []access.APIKeyView{{ID: "key_1", Name: "alice", Role: store.RoleOwner, CreatedAt: now, RevokedAt: ptr(now)}}
	orgs := []access.OrgView{{ID: "org_1", Name: "default", CreatedAt: now}}
	audit := []access.AuditView{{ID: "a1", At: now, Actor: "key_1 (alice)", Action: "token.add", Target: "ci", Outcome: "ok", Detail: "true"}}
	me := access.Principal{OrgID: "org_1", OrgName: "default", KeyID: "key_1", KeyName: "alice", Role: store.RoleOwner}

	api := newFakeAPI(t)
	api.handle("GET /api/v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		// Two pages, so the CLI must follow the cursor to show everything.
		if r.URL.Query().Get("cursor") == "" {
			reply(w, 200, map[string]any{"items": tokens[:2], "next_cursor": "p2"})
			return
		}
		reply(w, 200, map[string]any{"items": tokens[2:], "next_cursor": ""})
	})
	api.handle("GET /api/v1/tokens/{name}", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, tokens[2]) })
	api.handle("GET /api/v1/apikeys", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, map[string]any{"items": keys}) })
	api.handle("GET /api/v1/orgs", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, map[string]any{"items": orgs}) })
	api.handle("GET /api/v1/audit", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"items": audit, "next_cursor": ""})
	})
	api.handle("GET /api/v1/whoami", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, me) })
	apps := []access.AppView{appView("web"), appView("docs")}
	apps[1].LastUsedAt = ptr(now)
	repos := []forge.Repo{{FullName: "acme/api", CloneURL: "https://github.com/acme/api.git", WebURL: "https://github.com/acme/api", DefaultBranch: "main", Private: true}}
	branches := []forge.Branch{{Name: "main", SHA: commit}}
	api.handle("GET /api/v1/apps", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"items": apps, "next_cursor": ""})
	})
	api.handle("GET /api/v1/apps/{name}", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, apps[1]) })
	api.handle("GET /api/v1/tokens/{name}/repos", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, map[string]any{"items": repos}) })
	api.handle("GET /api/v1/repos/branches", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, map[string]any{"items": branches}) })
	h := newHarness(t).loggedIn(api)

	for _, tc := range []struct {
		args []string
		want any
	}{
		{[]string{"token", "list"}, tokens},
		{[]string{"token", "show", "c-token"}, tokens[2]},
		{[]string{"apikey", "list"}, keys},
		{[]string{"org", "list"}, orgs},
		{[]string{"audit", "list"}, audit},
		{[]string{"whoami"}, me},
		{[]string{"app", "list"}, apps},
		{[]string{"app", "show", "docs"}, apps[1]},
		{[]string{"repo", "list", "--token", "ci"}, repos},
		{[]string{"repo", "branches", "https://github.com/acme/api"}, branches},
	} {
		wantJSON, err := json.Marshal(tc.want)
		if err != nil {
			t.Fatal(err)
		}
		want := normalize(t, wantJSON)

		r := h.run("", append(tc.args, "-o", "json")...).ok(t)
		if diff := cmp.Diff(want, normalize(t, []byte(r.stdout))); diff != "" {
			t.Errorf("%v -o json (-want +got):\n%s", tc.args, diff)
		}

		r = h.run("", append(tc.args, "-o", "yaml")...).ok(t)
		var y any
		if err := yaml.Unmarshal([]byte(r.stdout), &y); err != nil {
			t.Fatalf("%v -o yaml: %v\n%s", tc.args, err, r.stdout)
		}
		yj, err := json.Marshal(y)
		if err != nil {
			t.Fatalf("%v -o yaml: re-encode: %v", tc.args, err)
		}
		if diff := cmp.Diff(want, normalize(t, yj)); diff != "" {
			t.Errorf("%v -o yaml (-want +got):\n%s\noutput:\n%s", tc.args, diff, r.stdout)
		}
	}
	h.run("", "token", "list", "-o", "xml").failed(t, `unknown output format "xml"`)
}

func TestTableShowsStatusExpiryAndDaysLeft(t *testing.T) {
	tokens := []access.TokenView{
		tokenView("deploy", access.StatusExpiring, ptr(now.Add(12*24*time.Hour+time.Hour))),
		tokenView("old", access.StatusExpired, ptr(now.Add(-3*24*time.Hour-time.Hour))),
		tokenView("forever", access.StatusValid, nil),
	}
	tokens[0].LastUsedAt = ptr(time.Date(2026, 1, 9, 8, 30, 0, 0, time.UTC))
	api := newFakeAPI(t)
	api.handle("GET /api/v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"items": tokens, "next_cursor": ""})
	})
	api.handle("GET /api/v1/tokens/deploy", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, tokens[0]) })
	h := newHarness(t).loggedIn(api)

	r := h.run("", "token", "list").ok(t)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header and 3 rows:\n%s", r.stdout)
	}
	header := lines[0]
	for _, col := range []string{"NAME", "PROVIDER", "HOST", "KIND", "SCOPES", "STATUS", "EXPIRES", "LAST VALIDATED", "LAST USED", "FINGERPRINT", "LAST4"} {
		if !strings.Contains(header, col) {
			t.Errorf("header lacks %s: %q", col, header)
		}
	}
	for i, want := range [][]string{
		{"deploy", "expiring", "2026-01-22 (12 days left)", "2026-01-09", "sha256:3f2a9c0d11e4b7a5", "MNOP"},
		{"old", "expired", "2026-01-07 (expired 3 days ago)", "never"},
		{"forever", "valid", "never"},
	} {
		for _, s := range want {
			if !strings.Contains(lines[i+1], s) {
				t.Errorf("row %d lacks %q: %q", i+1, s, lines[i+1])
			}
		}
	}
	// Aligned columns: STATUS starts at the same offset on every line.
	col := strings.Index(header, "STATUS")
	for i, st := range []string{"expiring", "expired", "valid"} {
		if got := strings.Index(lines[i+1], "  "+st+"  ") + 2; got != col {
			t.Errorf("row %d: status at column %d, header at %d", i+1, got, col)
		}
	}

	r = h.run("", "token", "show", "deploy").ok(t)
	for _, s := range []string{"Status:", "expiring", "Expires:", "2026-01-22 (12 days left)", "Last validated:", "2026-01-10 10:00 UTC", "Last used:", "2026-01-09 08:30 UTC", "Fingerprint:", "Last 4:", "MNOP", "Scopes:", "repo, admin:repo_hook"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("token show lacks %q:\n%s", s, r.stdout)
		}
	}
}

func TestTableOutputNeutralizesControlCharacters(t *testing.T) {
	tv := tokenView("ci", access.StatusValid, nil)
	tv.Identity = "evil\x1b]0;pwned\x07\nname"
	api := newFakeAPI(t)
	api.handle("GET /api/v1/tokens/ci", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, tv) })
	r := newHarness(t).loggedIn(api).run("", "token", "show", "ci").ok(t)
	if strings.ContainsAny(r.stdout, "\x1b\x07") || !strings.Contains(r.stdout, "evil?]0;pwned??name") {
		t.Errorf("control characters reached the terminal: %q", r.stdout)
	}
}

func TestTokenDeleteConfirms(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("DELETE /api/v1/tokens/{name}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	// The impact is shown before the name is asked for.
	api.handle("GET /api/v1/tokens/{name}/impact", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, access.TokenImpact{Token: r.PathValue("name"), Applications: []access.ImpactApp{}})
	})
	deletes := func() (n int) {
		for _, r := range api.requests() {
			if r.Method == http.MethodDelete {
				n++
			}
		}
		return n
	}
	h := newHarness(t).loggedIn(api)

	h.run("ci\n", "token", "delete", "ci").failed(t, "stdin is not a terminal", "--yes")
	if n := len(api.requests()); n != 0 {
		t.Fatalf("%d requests sent without confirmation", n)
	}

	h.terminal = true
	h.prompter = &fakePrompter{line: "cj"}
	h.run("", "token", "delete", "ci").failed(t, "does not match", "nothing was deleted")
	if n := deletes(); n != 0 {
		t.Fatalf("%d requests sent after a wrong confirmation", n)
	}

	p := &fakePrompter{line: "ci"}
	h.prompter = p
	r := h.run("", "token", "delete", "ci").ok(t)
	if len(p.prompts) != 1 || !strings.Contains(p.prompts[0], "Type its name") {
		t.Errorf("prompts = %q", p.prompts)
	}
	if !strings.Contains(r.stdout, "Deleted token ci.") {
		t.Errorf("stdout = %q", r.stdout)
	}

	h.terminal = false
	h.run("", "token", "delete", "team/ci", "--yes").ok(t)

	var got []string
	for _, r := range api.requests() {
		if r.Method == http.MethodDelete {
			got = append(got, r.Method+" "+r.Path+"?"+r.Query)
		}
	}
	want := []string{"DELETE /api/v1/tokens/ci?confirm=ci", "DELETE /api/v1/tokens/team%2Fci?confirm=team%2Fci"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

const missingProblem = `{"type":"urn:gitaccess:problem:missing-permissions","title":"Missing permissions","status":422,
"detail":"the token cannot do what it is for: webhooks need permissions it lacks",
"missing":["admin:repo_hook","Webhooks: Read and write"],
"report":{"provider":"github","host":"github.com","kind":"github-fine-grained-pat","identity":"octocat","scopes":["Contents: Read"],
 "checks":[{"use":"clone","status":"ok","needs":["Contents: Read"]},
           {"use":"webhooks","status":"missing","needs":["Webhooks: Read and write"],"missing":["Webhooks: Read and write"],"detail":"Grant Webhooks: Read and write on the token's repositories."}],
 "requests":3}}`

func TestMissingPermissionsPrintsEachAndFails(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("POST /api/v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			AllowMissing bool `json:"allow_missing"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		if !in.AllowMissing {
			problem(w, 422, missingProblem)
			return
		}
		reply(w, http.StatusCreated, access.TokenResult{Token: tokenView("ci", access.StatusLimited, nil), Report: githubReport()})
	})
	h := newHarness(t).loggedIn(api)
	r := h.run(tokenValue, "token", "add", "ci", "--provider", "github").failed(t,
		"error: the token cannot do what it is for",
		"\n  missing: admin:repo_hook\n",
		"\n  missing: Webhooks: Read and write\n",
		"--allow-missing")
	for _, s := range []string{"github-fine-grained-pat", "webhooks", "missing", "missing: Webhooks: Read and write", "Grant Webhooks"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("report on stdout lacks %q:\n%s", s, r.stdout)
		}
	}

	// With --allow-missing the flag reaches the server.
	r = h.run(tokenValue, "token", "add", "ci", "--provider", "github", "--allow-missing").ok(t)
	if b := decodeBody(t, api.requests()[1].Body); b["allow_missing"] != true {
		t.Errorf("allow_missing not sent: %v", b)
	}
	if !strings.Contains(r.stdout, "status limited") {
		t.Errorf("stdout = %s", r.stdout)
	}
}

func TestTokenTest(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("POST /api/v1/tokens/{name}/test", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, access.TokenResult{Token: tokenView(r.PathValue("name"), access.StatusValid, nil), Report: githubReport()})
	})
	limited := githubReport()
	limited.Checks[1] = forge.UseCheck{Use: forge.UseWebhooks, Status: forge.CheckMissing, Needs: []string{"admin:repo_hook"}, Missing: []string{"admin:repo_hook"}}
	api.handle("POST /api/v1/tokens/test", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, limited) })
	h := newHarness(t).loggedIn(api)

	r := h.run("", "token", "test", "ci").ok(t)
	if !strings.Contains(r.stdout, "Tested token ci: status valid") {
		t.Errorf("stdout = %s", r.stdout)
	}

	r = h.run(tokenValue, "token", "test", "--provider", "github", "--use", "webhooks").failed(t, "webhooks: missing admin:repo_hook")
	if !strings.Contains(r.stdout, "Nothing was saved.") {
		t.Errorf("stdout = %s", r.stdout)
	}
	h.run(tokenValue, "token", "test", "ci", "--provider", "github").failed(t, "not both")
	h.run(tokenValue, "token", "test").failed(t, "--provider")

	reqs := api.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if reqs[0].Method+" "+reqs[0].Path != "POST /api/v1/tokens/ci/test" || len(reqs[0].Body) != 0 {
		t.Errorf("saved test request = %+v", reqs[0])
	}
	want := map[string]any{"provider": "github", "uses": []any{"webhooks"}, "value": tokenValue}
	if diff := cmp.Diff(want, decodeBody(t, reqs[1].Body)); diff != "" {
		t.Errorf("value test body (-want +got):\n%s", diff)
	}
}

func TestTokenUpdateSendsOnlyWhatChanged(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("PATCH /api/v1/tokens/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, access.TokenResult{Token: tokenView("ci2", access.StatusValid, nil), Report: githubReport()})
	})
	h := newHarness(t).loggedIn(api)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, testCA, 0o600); err != nil {
		t.Fatal(err)
	}

	h.run("", "token", "update", "ci").failed(t, "nothing to change")
	h.run("", "token", "update", "ci", "--name", "ci2", "--description", "", "--use", "clone").ok(t)
	r := h.run(tokenValue+"\n", "token", "update", "ci", "--value", "--ca-file", caFile, "--allow-missing").ok(t)
	if !strings.Contains(r.stdout, "Updated token ci2") {
		t.Errorf("stdout = %s", r.stdout)
	}
	h.run("", "token", "update", "ci", "--ca-file", "").ok(t)
	h.run("", "token", "update", "ci", "--use", "deploy").failed(t, "unknown use deploy")

	reqs := api.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, want := range []map[string]any{
		{"name": "ci2", "description": "", "uses": []any{"clone"}},
		{"value": tokenValue, "ca_bundle": string(testCA), "allow_missing": true},
		{"ca_bundle": ""},
	} {
		if diff := cmp.Diff(want, decodeBody(t, reqs[i].Body)); diff != "" {
			t.Errorf("request %d body (-want +got):\n%s", i, diff)
		}
		if reqs[i].Method != http.MethodPatch || reqs[i].Path != "/api/v1/tokens/ci" {
			t.Errorf("request %d = %s %s", i, reqs[i].Method, reqs[i].Path)
		}
	}
}

func TestCAFileIsChecked(t *testing.T) {
	api := newFakeAPI(t)
	h := newHarness(t).loggedIn(api)
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.run(tokenValue, "token", "add", "ci", "--provider", "github", "--ca-file", bad).failed(t, "holds no PEM certificate")
	h.run(tokenValue, "token", "add", "ci", "--provider", "gogs").failed(t, `unknown provider "gogs"`, "github, gitlab, bitbucket or gitea")
	h.run(tokenValue, "token", "add", "ci").failed(t, "--provider is required")
	if n := len(api.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

func TestLoginWhoamiLogout(t *testing.T) {
	me := access.Principal{OrgID: "org_1", OrgName: "default", KeyID: "key_1", KeyName: "bootstrap", Role: store.RoleOwner}
	api := newFakeAPI(t)
	api.handle("GET /api/v1/whoami", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, me) })
	h := newHarness(t)

	h.run("", "whoami").failed(t, "not logged in", "run gitaccess login --server URL")

	r := h.run(apiKey+"\n", "login", "--server", api.srv.URL+"/").ok(t)
	if !strings.Contains(r.stdout, "Logged in to "+api.srv.URL+" as bootstrap in organization default (role owner)") {
		t.Errorf("stdout = %q", r.stdout)
	}
	dir := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "gitaccess")
	path := filepath.Join(dir, "config.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("config not written: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode = %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("config dir mode = %v, want 0700", di.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var saved map[string]any
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatalf("config %q: %v", b, err)
	}
	if diff := cmp.Diff(map[string]any{"server": api.srv.URL, "api_key": apiKey}, saved); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}

	r = h.run("", "whoami").ok(t)
	for _, s := range []string{"default (org_1)", "bootstrap (key_1)", "owner", api.srv.URL} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("whoami lacks %q:\n%s", s, r.stdout)
		}
	}

	r = h.run("", "logout").ok(t)
	if !strings.Contains(r.stdout, "Logged out") {
		t.Errorf("logout stdout = %q", r.stdout)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("config still there after logout: %v", err)
	}
	h.run("", "whoami").failed(t, "not logged in")
	if r := h.run("", "logout").ok(t); !strings.Contains(r.stdout, "Not logged in") {
		t.Errorf("second logout stdout = %q", r.stdout)
	}
}

func TestLoginWithARejectedKeySavesNothing(t *testing.T) {
	api := newFakeAPI(t)
	api.key = "gak_the_right_key_0000000000"
	api.wrongKeyExpected = true
	h := newHarness(t)
	h.secrets = append(h.secrets, api.key)
	h.run(apiKey, "login", "--server", api.srv.URL).failed(t, "the server did not accept the key", "not valid")
	if _, err := os.Stat(filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "gitaccess", "config.json")); !os.IsNotExist(err) {
		t.Errorf("config written for a rejected key: %v", err)
	}
	if n := len(api.requests()); n != 1 {
		t.Errorf("%d requests, want 1 (whoami)", n)
	}
}

func TestLoginRefusesPlainHTTPToAnotherHost(t *testing.T) {
	h := newHarness(t)
	h.run(apiKey, "login", "--server", "http://gitaccess.example.com").failed(t, "plain http", "--allow-insecure-http")
}

func TestEnvironmentOverridesTheSavedLogin(t *testing.T) {
	const otherKey = "gak_other_key_1111111111111111"
	me := access.Principal{OrgName: "default", KeyName: "from-file", Role: store.RoleOwner}
	saved := newFakeAPI(t)
	saved.handle("GET /api/v1/whoami", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, me) })
	h := newHarness(t)
	h.secrets = append(h.secrets, otherKey)
	h.run(apiKey, "login", "--server", saved.srv.URL).ok(t)

	other := newFakeAPI(t)
	other.key = otherKey
	other.handle("GET /api/v1/whoami", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, access.Principal{OrgName: "other", KeyName: "from-env", Role: store.RoleAdmin})
	})

	// Both set: the environment wins entirely.
	h.env = map[string]string{"GITACCESS_SERVER": other.srv.URL, "GITACCESS_API_KEY": otherKey}
	if r := h.run("", "whoami").ok(t); !strings.Contains(r.stdout, "from-env") {
		t.Errorf("whoami = %s", r.stdout)
	}

	// Only a server: the saved key is not sent to a server it was not saved for.
	h.env = map[string]string{"GITACCESS_SERVER": other.srv.URL}
	h.run("", "whoami").failed(t, "GITACCESS_SERVER is set", "GITACCESS_API_KEY")
	// ... but is used for the server it was saved for.
	h.env = map[string]string{"GITACCESS_SERVER": saved.srv.URL + "/"}
	if r := h.run("", "whoami").ok(t); !strings.Contains(r.stdout, "from-file") {
		t.Errorf("whoami = %s", r.stdout)
	}

	// Only a key: it goes to the saved server.
	saved.mu.Lock()
	saved.key = otherKey
	saved.mu.Unlock()
	h.env = map[string]string{"GITACCESS_API_KEY": otherKey}
	h.run("", "whoami").ok(t)

	if n := len(other.requests()); n != 1 {
		t.Errorf("other server got %d requests, want 1", n)
	}
	if n := len(saved.requests()); n != 3 {
		t.Errorf("saved server got %d requests, want 3", n)
	}
}

func TestEnvironmentAloneIsEnough(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("GET /api/v1/whoami", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, access.Principal{KeyName: "ci"}) })
	h := newHarness(t)
	h.env["GITACCESS_API_KEY"] = apiKey
	h.run("", "whoami").failed(t, "GITACCESS_API_KEY is set but no server is known")
	h.loggedIn(api).run("", "whoami").ok(t)
}

func TestErrorsAreScrubbedOfSecrets(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("POST /api/v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		// A badly behaved server quoting both secrets back.
		problem(w, 400, `{"type":"urn:gitaccess:problem:invalid-input","title":"Invalid input","status":400,
			"detail":"key `+apiKey+` rejected value `+tokenValue+`","errors":[{"location":"body.value","message":"bad `+tokenValue+`","value":"`+tokenValue+`"}]}`)
	})
	r := newHarness(t).loggedIn(api).run(tokenValue, "token", "add", "ci", "--provider", "github").failed(t, "[REDACTED]", "body.value: bad")
	if strings.Count(r.stderr, "[REDACTED]") != 3 {
		t.Errorf("stderr = %q", r.stderr)
	}
}

func TestOrgAndAPIKeyCreationShowTheNewKeyOnce(t *testing.T) {
	const newKey = "gak_new_owner_key_5555555555555555"
	api := newFakeAPI(t)
	api.handle("POST /api/v1/orgs", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusCreated, map[string]any{
			"org":     access.OrgView{ID: "org_2", Name: "acme", CreatedAt: now},
			"api_key": map[string]any{"id": "key_9", "name": "owner", "role": "owner", "created_at": now, "org": "acme", "key": newKey},
		})
	})
	api.handle("POST /api/v1/apikeys", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusCreated, map[string]any{"id": "key_10", "name": "deploy-bot", "role": "devops", "created_at": now, "org": "default", "key": newKey})
	})
	api.handle("DELETE /api/v1/apikeys/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := newHarness(t).loggedIn(api)

	r := h.run("", "org", "create", "acme").ok(t)
	if strings.Count(r.stdout, newKey) != 1 || !strings.Contains(r.stdout, "shown only once") || !strings.Contains(r.stdout, "Created organization acme (id org_2)") {
		t.Errorf("org create stdout:\n%s", r.stdout)
	}
	r = h.run("", "apikey", "create", "deploy-bot", "--role", "devops").ok(t)
	if strings.Count(r.stdout, newKey) != 1 || !strings.Contains(r.stdout, "role devops") {
		t.Errorf("apikey create stdout:\n%s", r.stdout)
	}
	r = h.run("", "apikey", "create", "deploy-bot", "--role", "devops", "-o", "json").ok(t)
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got["key"] != newKey || got["id"] != "key_10" || got["org"] != "default" {
		t.Errorf("apikey create -o json = %s (%v)", r.stdout, err)
	}
	h.run("", "apikey", "create", "x", "--role", "root").failed(t, "--role must be one of")
	h.run("", "apikey", "revoke", "key/10").ok(t)

	var lines []string
	for _, rq := range api.requests() {
		line := rq.Method + " " + rq.Path
		if len(rq.Body) > 0 {
			line += " " + string(bytes.TrimSpace(rq.Body))
		}
		lines = append(lines, line)
	}
	want := []string{
		`POST /api/v1/orgs {"name":"acme"}`,
		`POST /api/v1/apikeys {"name":"deploy-bot","role":"devops"}`,
		`POST /api/v1/apikeys {"name":"deploy-bot","role":"devops"}`,
		`DELETE /api/v1/apikeys/key%2F10`,
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestAuditListLimit(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("GET /api/v1/audit", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"items": []access.AuditView{{ID: "1", At: now, Action: "token.add"}}, "next_cursor": ""})
	})
	h := newHarness(t).loggedIn(api)
	h.run("", "audit", "list", "--limit", "7").ok(t)
	r := h.run("", "audit", "list").ok(t)
	if !strings.Contains(r.stdout, "token.add") || !strings.Contains(r.stdout, "2026-01-10 12:00 UTC") {
		t.Errorf("stdout = %s", r.stdout)
	}
	h.run("", "audit", "list", "--limit", "-1").failed(t, "must not be negative")
	var queries []string
	for _, rq := range api.requests() {
		queries = append(queries, rq.Query)
	}
	if diff := cmp.Diff([]string{"limit=7", "limit=50"}, queries); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
}

func TestServeBuildsTheServerConfig(t *testing.T) {
	var (
		got      server.Config
		ctxLive  bool
		unset    []string
		logLines bytes.Buffer
	)
	h := newHarness(t)
	h.env["GITACCESS_MASTER_KEY"] = "master-keyring-json"
	h.env["GITACCESS_DATABASE_URL"] = "postgres://gitaccess@db/gitaccess"
	h.secrets = append(h.secrets, "master-keyring-json")
	h.opts = func(o *cli.Options) {
		o.Stderr = &logLines
		o.Unsetenv = func(k string) error { unset = append(unset, k); return nil }
		o.Serve = func(ctx context.Context, cfg server.Config) error {
			got = cfg
			ctxLive = ctx.Err() == nil && ctx.Done() != nil
			cfg.Logger.Info("started", "listen", cfg.Listen)
			return nil
		}
	}
	h.run("", "serve", "--listen", "0.0.0.0:9000", "--public-url", "https://gitaccess.example.com", "--allow-insecure-http", "--master-key-file", "/etc/gitaccess/master.key", "--log-level", "debug").ok(t)
	want := server.Config{
		DataDir: "./gitaccess-data", Listen: "0.0.0.0:9000", PublicURL: "https://gitaccess.example.com",
		DatabaseURL: "postgres://gitaccess@db/gitaccess", MasterKeyFile: "/etc/gitaccess/master.key", MasterKey: "master-keyring-json",
		AllowInsecureHTTP: true,
	}
	if got.Logger == nil {
		t.Fatal("no logger")
	}
	got.Logger = nil
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if !ctxLive {
		t.Error("Serve got a dead or uncancellable context")
	}
	if diff := cmp.Diff([]string{"GITACCESS_MASTER_KEY", "GITACCESS_DATABASE_URL"}, unset); diff != "" {
		t.Errorf("unset (-want +got):\n%s", diff)
	}
	var line map[string]any
	if err := json.Unmarshal(logLines.Bytes(), &line); err != nil || line["msg"] != "started" || line["listen"] != "0.0.0.0:9000" {
		t.Errorf("log line %q is not the JSON record: %v", logLines.String(), err)
	}

	// Defaults, and the text format.
	delete(h.env, "GITACCESS_DATABASE_URL")
	logLines.Reset()
	h.run("", "serve", "--log-format", "text").ok(t)
	if got.Listen != "127.0.0.1:8080" || got.DataDir != "./gitaccess-data" || got.DatabaseURL != "" || got.AllowInsecureHTTP {
		t.Errorf("defaults = %+v", got)
	}
	if !strings.HasPrefix(logLines.String(), "time=") {
		t.Errorf("text log = %q", logLines.String())
	}
}

func TestServeRefusesADatabasePasswordOnTheCommandLine(t *testing.T) {
	called := false
	h := newHarness(t)
	h.secrets = append(h.secrets, "hunter2")
	h.opts = func(o *cli.Options) {
		o.Serve = func(context.Context, server.Config) error { called = true; return nil }
	}
	h.run("", "serve", "--database", "postgres://gitaccess:hunter2@db/gitaccess").failed(t, "--database must not contain a password", "GITACCESS_DATABASE_URL")
	h.run("", "serve", "--database", "host=db user=gitaccess password=hunter2").failed(t, "must not contain a password")
	h.run("", "serve", "--log-level", "loud").failed(t, "--log-level")
	if called {
		t.Error("Serve ran")
	}
}

func TestRotateMasterKeyPrintsTheCount(t *testing.T) {
	var got server.Config
	h := newHarness(t)
	h.opts = func(o *cli.Options) {
		o.RotateMasterKey = func(_ context.Context, cfg server.Config) (int, error) { got = cfg; return 42, nil }
	}
	r := h.run("", "admin", "rotate-master-key", "--data-dir", "/var/lib/gitaccess").ok(t)
	if !strings.Contains(r.stdout, "re-wrapped 42 sealed values") {
		t.Errorf("stdout = %q", r.stdout)
	}
	if got.DataDir != "/var/lib/gitaccess" || got.Logger == nil {
		t.Errorf("config = %+v", got)
	}
}

func TestCompletionAndHelp(t *testing.T) {
	h := newHarness(t)
	if r := h.run("", "completion", "bash").ok(t); !strings.Contains(r.stdout, "__start_gitaccess") {
		t.Errorf("completion bash output does not look like a bash script")
	}
	r := h.run("", "__complete", "token", "add", "x", "--provider", "").ok(t)
	for _, p := range []string{"github", "gitlab", "bitbucket", "gitea"} {
		if !strings.Contains(r.stdout, p+"\n") {
			t.Errorf("provider completion lacks %s:\n%s", p, r.stdout)
		}
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && !c.HasSubCommands() {
			if c.Short == "" || c.Example == "" {
				t.Errorf("%s has no short help or no example", c.CommandPath())
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cli.NewRoot(cli.Options{}))
	r = h.run("", "token", "add", "--help").ok(t)
	if !strings.Contains(r.stdout, "github, gitlab, bitbucket or gitea") || !strings.Contains(r.stdout, "--provider gitea") {
		t.Errorf("token add --help does not offer gitea:\n%s", r.stdout)
	}
	h.run("", "tokne").failed(t, `unknown command "tokne"`, "did you mean token")
	h.run("", "token", "bogus").failed(t, `unknown command "bogus" for "gitaccess token"`)
}

// testCA is a self-signed CA certificate in PEM.
var testCA = func() []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gitaccess test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}()
