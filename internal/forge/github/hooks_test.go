package github

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	gh "github.com/google/go-github/v92/github"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/secret"
)

const (
	hookURL      = "https://gitaccess.example/hooks/h_0123456789abcdef"
	hookSecret   = "whsec-test-0123456789abcdefghijklmnop"
	classicWrite = "ghp_writeRepoHookWWWWWWWWWWWWWWWWWWWWWWWW"
	fineHookRead = "github_pat_11AAAAAAA0hooksReadOnlyZZZZZZZZZZZZZZZZZZZZ"
)

var hookSpec = forge.HookSpec{URL: hookURL, Secret: secret.New(hookSecret)}

// hookEnv is env with a logger that records everything the adapter logs,
// and two more tokens: a classic one with write:repo_hook only and a
// fine-grained one with Webhooks: Read-only.
func hookEnv(t *testing.T) (*env, *Forge, *bytes.Buffer) {
	t.Helper()
	e := newEnv(t)
	e.fake.AddToken(classicWrite, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubClassic,
		Scopes: []string{"write:repo_hook"}, Repos: []string{"octo/app"}})
	e.fake.AddToken(fineHookRead, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubFineGrained,
		FineGrained: map[string]string{"metadata": "read", "repository_hooks": "read"}, Repos: []string{"octo/app"}})
	var logs bytes.Buffer
	f := New(e.srv.Policy(), slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		if strings.Contains(logs.String(), hookSecret) {
			t.Errorf("the logs reveal the hook secret:\n%s", logs.String())
		}
	})
	return e, f, &logs
}

// methods lists the requests the fake received as "METHOD /path".
func (e *env) methods() []string {
	var out []string
	for _, r := range e.srv.Requests() {
		out = append(out, r.Method+" "+r.URL.Path)
	}
	return out
}

// wantInstalled checks the fake holds exactly one hook, configured as
// gitaccess installs it, secret included.
func wantInstalled(t *testing.T, e *env) forgetest.GitHubHook {
	t.Helper()
	hooks := e.fake.Hooks("octo/app")
	if len(hooks) != 1 {
		t.Fatalf("octo/app has %d hooks, want 1: %+v", len(hooks), hooks)
	}
	h := hooks[0]
	want := forgetest.GitHubHook{ID: h.ID, URL: hookURL, ContentType: "json", Secret: hookSecret, InsecureSSL: "0",
		Events: []string{"push", "pull_request"}, Active: true, CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("installed hook (-want +got):\n%s", diff)
	}
	return h
}

func TestEnsureHookCreatesOnceThenPatches(t *testing.T) {
	for _, host := range []string{"", "https://ghe.test"} {
		t.Run("host="+host, func(t *testing.T) {
			e, f, _ := hookEnv(t)
			ctx := context.Background()
			cred := e.cred(t, host, classicFull)
			first, err := f.EnsureHook(ctx, cred, "octo/app", hookSpec)
			if err != nil {
				t.Fatal(err)
			}
			installed := wantInstalled(t, e)
			want := forge.Hook{ID: fmt.Sprint(installed.ID), URL: hookURL, Active: true, Events: []string{"push", "pull_request"}}
			if diff := cmp.Diff(want, first); diff != "" {
				t.Errorf("first EnsureHook (-want +got):\n%s", diff)
			}
			second, err := f.EnsureHook(ctx, cred, "octo/app", hookSpec)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, second); diff != "" {
				t.Errorf("second EnsureHook (-want +got):\n%s", diff)
			}
			wantInstalled(t, e)
			prefix := ""
			if host != "" {
				prefix = "/api/v3"
			}
			hooks, one := prefix+"/repos/octo/app/hooks", fmt.Sprintf("%s/repos/octo/app/hooks/%d", prefix, installed.ID)
			if diff := cmp.Diff([]string{"GET " + hooks, "POST " + hooks, "GET " + hooks, "PATCH " + one}, e.methods()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			e.checkAll(t)
		})
	}
}

// A fine-grained token with Webhooks: Read and write does all of it.
func TestHooksWithFineGrainedToken(t *testing.T) {
	e, f, _ := hookEnv(t)
	ctx := context.Background()
	cred := e.cred(t, "", fineHooks)
	if _, err := f.EnsureHook(ctx, cred, "octo/app", hookSpec); err != nil {
		t.Fatal(err)
	}
	wantInstalled(t, e)
	if _, ok, err := f.FindHook(ctx, cred, "octo/app", hookURL); err != nil || !ok {
		t.Fatalf("FindHook = %v, %v", ok, err)
	}
	if err := f.DeleteHook(ctx, cred, "octo/app", hookURL); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Hooks("octo/app")); n != 0 {
		t.Errorf("%d hooks left", n)
	}
	e.checkAll(t)
}

func TestFindHookReportsDriftAndEnsureHookRepairsIt(t *testing.T) {
	e, f, _ := hookEnv(t)
	ctx := context.Background()
	cred := e.cred(t, "", classicFull)
	if _, ok, err := f.FindHook(ctx, cred, "octo/app", hookURL); err != nil || ok {
		t.Fatalf("FindHook before install = %v, %v; want absent", ok, err)
	}
	if _, err := f.EnsureHook(ctx, cred, "octo/app", hookSpec); err != nil {
		t.Fatal(err)
	}
	installed := wantInstalled(t, e)
	h, ok, err := f.FindHook(ctx, cred, "octo/app", hookURL)
	if err != nil || !ok || len(h.Drift) != 0 {
		t.Fatalf("FindHook after install = %+v, %v, %v; want no drift", h, ok, err)
	}

	cases := []struct {
		name   string
		change func(*forgetest.GitHubHook)
		drift  []string
	}{
		{"deactivated", func(h *forgetest.GitHubHook) { h.Active = false }, []string{"inactive"}},
		{"pull requests dropped", func(h *forgetest.GitHubHook) { h.Events = []string{"push"} }, []string{"no pull_request events"}},
		{"push dropped", func(h *forgetest.GitHubHook) { h.Events = []string{"pull_request", "issues"} }, []string{"no push events"}},
		{"no events", func(h *forgetest.GitHubHook) { h.Events = nil }, []string{"no push events", "no pull_request events"}},
		{"every event is fine", func(h *forgetest.GitHubHook) { h.Events = []string{"*"} }, nil},
		{"form", func(h *forgetest.GitHubHook) { h.ContentType = "form" }, []string{"content type form"}},
		{"TLS off", func(h *forgetest.GitHubHook) { h.InsecureSSL = "1" }, []string{"TLS verification off (insecure_ssl 1)"}},
		{"secret removed", func(h *forgetest.GitHubHook) { h.Secret = "" }, []string{"no secret"}},
		{"all at once", func(h *forgetest.GitHubHook) {
			h.Active, h.Events, h.ContentType, h.Secret = false, []string{"issues"}, "form", ""
		}, []string{"inactive", "no push events", "no pull_request events", "content type form", "no secret"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !e.fake.AlterHook("octo/app", installed.ID, c.change) {
				t.Fatal("hook gone")
			}
			h, ok, err := f.FindHook(ctx, cred, "octo/app", hookURL)
			if err != nil || !ok {
				t.Fatalf("FindHook = %v, %v", ok, err)
			}
			if diff := cmp.Diff(c.drift, h.Drift); diff != "" {
				t.Errorf("drift (-want +got):\n%s", diff)
			}
			repaired, err := f.EnsureHook(ctx, cred, "octo/app", hookSpec)
			if err != nil {
				t.Fatal(err)
			}
			if len(repaired.Drift) != 0 || repaired.ID != fmt.Sprint(installed.ID) {
				t.Errorf("EnsureHook answered %+v, want hook %d without drift", repaired, installed.ID)
			}
			wantInstalled(t, e)
		})
	}
	e.checkAll(t)
}

// A hook deleted behind gitaccess's back is simply created again.
func TestEnsureHookRecreatesDeletedHook(t *testing.T) {
	e, f, _ := hookEnv(t)
	ctx := context.Background()
	cred := e.cred(t, "", classicFull)
	first, err := f.EnsureHook(ctx, cred, "octo/app", hookSpec)
	if err != nil {
		t.Fatal(err)
	}
	id := e.fake.Hooks("octo/app")[0].ID
	if !e.fake.RemoveHook("octo/app", id) {
		t.Fatal("RemoveHook")
	}
	if _, ok, err := f.FindHook(ctx, cred, "octo/app", hookURL); err != nil || ok {
		t.Fatalf("FindHook after removal = %v, %v; want absent", ok, err)
	}
	again, err := f.EnsureHook(ctx, cred, "octo/app", hookSpec)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID == first.ID {
		t.Errorf("recreated hook kept id %s", again.ID)
	}
	wantInstalled(t, e)
}

// Our hook is found past the first page of 100, and other hooks are left
// alone by every call.
func TestHooksFollowEveryPage(t *testing.T) {
	e, f, _ := hookEnv(t)
	ctx := context.Background()
	cred := e.cred(t, "", classicFull)
	for i := range 150 {
		e.fake.AddHook("octo/app", forgetest.GitHubHook{URL: fmt.Sprintf("https://other.example/%d", i), Active: true})
	}
	ours := e.fake.AddHook("octo/app", forgetest.GitHubHook{URL: hookURL, ContentType: "form", Events: []string{"push"}, Active: true})
	h, ok, err := f.FindHook(ctx, cred, "octo/app", hookURL)
	if err != nil || !ok || h.ID != fmt.Sprint(ours.ID) {
		t.Fatalf("FindHook = %+v, %v, %v; want hook %d", h, ok, err, ours.ID)
	}
	before := len(e.srv.Requests())
	if _, err := f.EnsureHook(ctx, cred, "octo/app", hookSpec); err != nil {
		t.Fatal(err)
	}
	for _, m := range e.methods()[before:] {
		if strings.HasPrefix(m, "POST") {
			t.Errorf("EnsureHook created a hook though one was on page 2: %v", e.methods())
		}
	}
	if n := len(e.fake.Hooks("octo/app")); n != 151 {
		t.Errorf("%d hooks after EnsureHook, want 151", n)
	}
	if err := f.DeleteHook(ctx, cred, "octo/app", hookURL); err != nil {
		t.Fatal(err)
	}
	for _, h := range e.fake.Hooks("octo/app") {
		if h.URL == hookURL {
			t.Error("our hook survived DeleteHook")
		}
	}
	if n := len(e.fake.Hooks("octo/app")); n != 150 {
		t.Errorf("%d hooks after DeleteHook, want the 150 others", n)
	}
	e.checkAll(t)
}

// GitHub allows two hooks with one URL when their events do not overlap;
// FindHook says so and EnsureHook leaves exactly one.
func TestEnsureHookRemovesDuplicates(t *testing.T) {
	e, f, _ := hookEnv(t)
	ctx := context.Background()
	cred := e.cred(t, "", classicFull)
	a := e.fake.AddHook("octo/app", forgetest.GitHubHook{URL: hookURL, ContentType: "json", Secret: "x", Events: []string{"push"}, Active: true})
	e.fake.AddHook("octo/app", forgetest.GitHubHook{URL: hookURL, ContentType: "json", Secret: "x", Events: []string{"pull_request"}, Active: true})
	h, ok, err := f.FindHook(ctx, cred, "octo/app", hookURL)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if diff := cmp.Diff([]string{"no pull_request events", "2 hooks with this URL"}, h.Drift); diff != "" {
		t.Errorf("drift (-want +got):\n%s", diff)
	}
	got, err := f.EnsureHook(ctx, cred, "octo/app", hookSpec)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != fmt.Sprint(a.ID) {
		t.Errorf("EnsureHook kept hook %s, want the oldest, %d", got.ID, a.ID)
	}
	wantInstalled(t, e)
}

// When another replica creates the hook between our listing and our POST,
// GitHub answers 422 and EnsureHook updates the hook that won.
func TestEnsureHookSurvivesCreateRace(t *testing.T) {
	fake := forgetest.NewGitHub()
	contract := forgetest.GitHubContractValidator(t)
	raced := false
	srv := forgetest.NewServer(t, nil, contract.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && !raced {
			raced = true
			fake.AddHook("octo/app", forgetest.GitHubHook{URL: hookURL, ContentType: "form", Events: []string{"push"}, Active: true})
		}
		fake.ServeHTTP(w, r)
	})))
	fake.AddRepo(forgetest.GitHubRepo{FullName: "octo/app"})
	fake.AddToken(classicFull, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubClassic, Scopes: []string{"repo"}, Repos: []string{"octo/app"}})
	e := &env{fake: fake, srv: srv, contract: contract}
	f := e.forge()
	if _, err := f.EnsureHook(context.Background(), e.cred(t, "", classicFull), "octo/app", hookSpec); err != nil {
		t.Fatal(err)
	}
	wantInstalled(t, e)
	if diff := cmp.Diff([]string{"GET", "POST", "GET", "PATCH"}, methodsOnly(e.methods())); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	e.checkAll(t)
}

func methodsOnly(reqs []string) []string {
	var out []string
	for _, r := range reqs {
		m, _, _ := strings.Cut(r, " ")
		out = append(out, m)
	}
	return out
}

func TestDeleteHook(t *testing.T) {
	e, f, _ := hookEnv(t)
	ctx := context.Background()
	cred := e.cred(t, "", classicFull)
	other := e.fake.AddHook("octo/app", forgetest.GitHubHook{URL: "https://other.example/hook", Active: true})
	if err := f.DeleteHook(ctx, cred, "octo/app", hookURL); err != nil {
		t.Errorf("DeleteHook of an absent hook = %v, want nil", err)
	}
	if _, err := f.EnsureHook(ctx, cred, "octo/app", hookSpec); err != nil {
		t.Fatal(err)
	}
	if err := f.DeleteHook(ctx, cred, "octo/app", hookURL); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]forgetest.GitHubHook{other}, e.fake.Hooks("octo/app")); diff != "" {
		t.Errorf("hooks left (-want +got):\n%s", diff)
	}
	if err := f.DeleteHook(ctx, cred, "octo/app", hookURL); err != nil {
		t.Errorf("second DeleteHook = %v, want nil", err)
	}
	e.checkAll(t)
}

func TestHookPermissionErrorsNameGitHubsPermission(t *testing.T) {
	e, f, _ := hookEnv(t)
	ctx := context.Background()
	// write:repo_hook installs but cannot delete.
	if _, err := f.EnsureHook(ctx, e.cred(t, "", classicWrite), "octo/app", hookSpec); err != nil {
		t.Fatalf("EnsureHook with write:repo_hook: %v", err)
	}
	cases := []struct {
		name, token string
		call        func(forge.Credential) error
		needs       string
		status      int
	}{
		{"classic without hook scope", classicPublic, func(c forge.Credential) error {
			_, err := f.EnsureHook(ctx, c, "octo/app", hookSpec)
			return err
		}, "admin:repo_hook", 404},
		{"classic write:repo_hook deleting", classicWrite, func(c forge.Credential) error {
			return f.DeleteHook(ctx, c, "octo/app", hookURL)
		}, "admin:repo_hook", 404},
		{"fine-grained without Webhooks", fineContents, func(c forge.Credential) error {
			_, _, err := f.FindHook(ctx, c, "octo/app", hookURL)
			return err
		}, "Webhooks: Read and write", 403},
		{"fine-grained Webhooks read-only installing", fineHookRead, func(c forge.Credential) error {
			_, err := f.EnsureHook(ctx, c, "octo/app", hookSpec)
			return err
		}, "Webhooks: Read and write", 403},
		{"app installation without Webhooks", installation, func(c forge.Credential) error {
			return f.DeleteHook(ctx, c, "octo/app", hookURL)
		}, "Webhooks: Read and write", 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call(e.cred(t, "", c.token))
			var pe *forge.PermissionError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v, want *PermissionError", err, err)
			}
			if pe.Needs != c.needs || pe.Status != c.status || pe.Repo != "octo/app" || pe.Host != "github.com" {
				t.Errorf("got %+v, want needs %q, status %d", pe, c.needs, c.status)
			}
			if !strings.Contains(err.Error(), c.needs) {
				t.Errorf("message %q does not name %s", err, c.needs)
			}
			if m, ok := err.(interface{ MissingPermissions() []string }); !ok || !cmp.Equal(m.MissingPermissions(), []string{c.needs}) {
				t.Errorf("MissingPermissions() does not give %q", c.needs)
			}
		})
	}
	if n := len(e.fake.Hooks("octo/app")); n != 1 {
		t.Errorf("%d hooks after refused calls, want the 1 installed", n)
	}
	e.checkAll(t)
}

func TestHookErrors(t *testing.T) {
	e, f, _ := hookEnv(t)
	ctx := context.Background()
	cred := e.cred(t, "", classicFull)

	_, err := f.EnsureHook(ctx, cred, "octo/missing", hookSpec)
	var nf *forge.NotFoundError
	if !errors.As(err, &nf) || nf.Status != 404 || !strings.Contains(nf.Resource, "octo/missing") {
		t.Errorf("missing repository: %T %v, want *forge.NotFoundError", err, err)
	}

	e.fake.FailNextOn("/repos/octo/app/hooks", http.StatusForbidden, http.Header{"X-Ratelimit-Remaining": {"0"}})
	_, _, err = f.FindHook(ctx, cred, "octo/app", hookURL)
	var rl *forge.RateLimitedError
	if !errors.As(err, &rl) {
		t.Errorf("rate limited: %T %v, want *forge.RateLimitedError", err, err)
	}

	e.fake.FailNextOn("/repos/octo/app/hooks", http.StatusBadGateway, nil)
	err = f.DeleteHook(ctx, cred, "octo/app", hookURL)
	var pe *forge.ProviderError
	if !errors.As(err, &pe) || pe.Status != 502 {
		t.Errorf("502: %T %v, want *forge.ProviderError", err, err)
	}

	e.fake.Revoke(classicFull)
	_, err = f.EnsureHook(ctx, cred, "octo/app", hookSpec)
	var ae *forge.AuthError
	if !errors.As(err, &ae) {
		t.Errorf("revoked token: %T %v, want *forge.AuthError", err, err)
	}
	e.checkAll(t)
}

// Bad input is refused before any request.
func TestHookInputRefused(t *testing.T) {
	e, f, _ := hookEnv(t)
	ctx := context.Background()
	cred := e.cred(t, "", classicFull)
	for _, c := range []struct {
		name, repo string
		spec       forge.HookSpec
		field      string
	}{
		{"no owner", "app", hookSpec, "repository"},
		{"path in name", "octo/app/../x", hookSpec, "repository"},
		{"no secret", "octo/app", forge.HookSpec{URL: hookURL}, "secret"},
		{"relative URL", "octo/app", forge.HookSpec{URL: "/hooks/x", Secret: hookSpec.Secret}, "hook_url"},
		{"credentials in URL", "octo/app", forge.HookSpec{URL: "https://u:p@gitaccess.example/hooks/x", Secret: hookSpec.Secret}, "hook_url"},
		{"ftp", "octo/app", forge.HookSpec{URL: "ftp://gitaccess.example/hooks/x", Secret: hookSpec.Secret}, "hook_url"},
	} {
		_, err := f.EnsureHook(ctx, cred, c.repo, c.spec)
		var ie *forge.InvalidInputError
		if !errors.As(err, &ie) || ie.Field != c.field {
			t.Errorf("%s: %v, want an invalid %s", c.name, err, c.field)
		}
	}
	if _, _, err := f.FindHook(ctx, cred, "octo/app", ""); err == nil {
		t.Error("FindHook with no URL: no error")
	}
	if err := f.DeleteHook(ctx, cred, "octo/app", "not a url"); err == nil {
		t.Error("DeleteHook with a bad URL: no error")
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("%d requests went out for refused input", n)
	}
}

// The secret travels to GitHub in the request body only: never in a URL,
// a log line or an error, even when GitHub's answer echoes it.
func TestHookSecretStaysSecret(t *testing.T) {
	e, f, logs := hookEnv(t)
	ctx := context.Background()
	cred := e.cred(t, "", classicFull)
	if _, err := f.EnsureHook(ctx, cred, "octo/app", hookSpec); err != nil {
		t.Fatal(err)
	}
	for _, r := range e.srv.Requests() {
		if strings.Contains(r.URL.String(), hookSecret) {
			t.Errorf("the secret is in the URL %s", r.URL)
		}
	}
	if !strings.Contains(logs.String(), "GitHub webhook created") {
		t.Errorf("no log of the creation:\n%s", logs)
	}
	// An error answer that quotes the secret is redacted.
	c, err := f.connect(cred)
	if err != nil {
		t.Fatal(err)
	}
	resp := &http.Response{StatusCode: 422, Header: http.Header{}, Request: &http.Request{Method: "PATCH"}}
	mapped := c.hookError("updating", "octo/app", needWrite, hookSpec.Secret, nil, &gh.ErrorResponse{Response: resp, Message: "secret " + hookSecret + " is weak"})
	if strings.Contains(mapped.Error(), hookSecret) {
		t.Errorf("error reveals the secret: %v", mapped)
	}
}

// A 422 keeps GitHub's reason, which it puts in errors[].
func TestHookValidationFailureKeepsGitHubsReason(t *testing.T) {
	e, f, _ := hookEnv(t)
	ctx := context.Background()
	cred := e.cred(t, "", classicFull)
	if _, err := f.EnsureHook(ctx, cred, "octo/app", hookSpec); err != nil {
		t.Fatal(err)
	}
	other := forge.HookSpec{URL: "https://gitaccess.example/hooks/other", Secret: hookSpec.Secret}
	if _, err := f.EnsureHook(ctx, cred, "octo/app", other); err != nil {
		t.Fatal(err)
	}
	// Someone points the other hook at our URL behind our back; GitHub
	// refuses the PATCH that would make two hooks share it.
	id := e.fake.Hooks("octo/app")[1].ID
	c, err := f.connect(cred)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.updateHook(ctx, c, "octo", "app", "octo/app", []hookJSON{{ID: id}}, hookRequest{Active: true, Events: hookEvents(), Config: hookConfigRequest{URL: hookURL, Secret: hookSpec.Secret}})
	var pe *forge.ProviderError
	if !errors.As(err, &pe) || pe.Status != 422 || !strings.Contains(pe.Message, "Hook already exists on this repository") {
		t.Errorf("%T %v, want a 422 naming GitHub's reason", err, err)
	}
	e.checkAll(t)
}
