package gitlab

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/secret"
)

const (
	hookURL    = "https://deploy.example/hooks/h_01"
	hookSecret = "whsec-GitaccessHookSecret0001"
)

// hookEnv is a fake GitLab where acme/web has:
//   - tokPersonal: alice, api, Maintainer;
//   - tokProject: a project token, api, Developer;
//   - tokGuest: a group token, read_api, Owner (reads hooks, cannot write);
//   - tokRepoOnly: bob, read_repository, Maintainer.
//
// Its forge logs into logs, which tests check for the hook secret.
func hookEnv(t *testing.T) (*env, *forgetest.LogBuffer) {
	t.Helper()
	gl := forgetest.NewGitLab()
	gl.AddToken(tokPersonal, forgetest.GitLabToken{Username: "alice", Scopes: []string{"api"}, AccessLevel: 40, Projects: []string{"acme/web"}})
	gl.AddToken(tokProject, forgetest.GitLabToken{Kind: "project", Scopes: []string{"api"}, AccessLevel: 30, Projects: []string{"acme/web"}})
	gl.AddToken(tokGuest, forgetest.GitLabToken{Kind: "group", Scopes: []string{"read_api"}, AccessLevel: 50, Projects: []string{"acme/web"}})
	gl.AddToken(tokRepoOnly, forgetest.GitLabToken{Username: "bob", Scopes: []string{"read_repository"}, AccessLevel: 40, Projects: []string{"acme/web"}})
	srv := forgetest.NewServer(t, nil, forgetest.ByHost{"gitlab.com": gl})
	logs := &forgetest.LogBuffer{}
	f := New(srv.Policy(), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		for _, s := range append([]string{hookSecret, "stale-secret"}, allTokens...) {
			if strings.Contains(logs.String(), s) {
				t.Errorf("a log line holds secret %s:\n%s", s, logs)
			}
		}
	})
	return &env{gl: gl, srv: srv, f: f}, logs
}

func spec() forge.HookSpec { return forge.HookSpec{URL: hookURL, Secret: secret.New(hookSecret)} }

// ourHook is the hook as EnsureHook must leave it in GitLab.
func ourHook(id int) forgetest.GitLabHook {
	return forgetest.GitLabHook{ID: id, URL: hookURL, Token: hookSecret, PushEvents: true, TagPushEvents: true,
		MergeRequestsEvents: true, EnableSSLVerification: true, AlertStatus: "executable"}
}

// calls lists the method and path of each request the fake received.
func calls(srv *forgetest.Server) []string {
	var out []string
	for _, r := range srv.Requests() {
		out = append(out, r.Method+" "+r.URL.EscapedPath())
	}
	return out
}

// noSecret fails when err shows the hook secret or any token.
func noSecret(t *testing.T, err error) {
	t.Helper()
	noToken(t, err)
	if err != nil && strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), hookSecret) {
		t.Errorf("the error holds the hook secret: %v", err)
	}
}

func TestEnsureHookCreatesOnceThenUpdates(t *testing.T) {
	e, _ := hookEnv(t)
	h, err := e.f.EnsureHook(t.Context(), cred(tokPersonal), "acme/web", spec())
	if err != nil {
		t.Fatal(err)
	}
	stored := e.gl.Hooks("acme/web")
	if len(stored) != 1 {
		t.Fatalf("%d hooks, want 1", len(stored))
	}
	if diff := cmp.Diff(ourHook(stored[0].ID), stored[0]); diff != "" {
		t.Errorf("hook in GitLab (-want +got):\n%s", diff)
	}
	want := forge.Hook{ID: strconv.Itoa(stored[0].ID), URL: hookURL, Active: true,
		Events: []string{"push_events", "tag_push_events", "merge_requests_events"}}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("returned hook (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"GET /api/v4/projects/acme%2Fweb/hooks", "POST /api/v4/projects/acme%2Fweb/hooks"}, calls(e.srv)); diff != "" {
		t.Errorf("first call's requests (-want +got):\n%s", diff)
	}

	// Again: the same hook, put back with a PUT (the token cannot be read
	// back to tell whether it changed), never a second one.
	e.srv.ResetRequests()
	h2, err := e.f.EnsureHook(t.Context(), cred(tokPersonal), "acme/web", spec())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, h2); diff != "" {
		t.Errorf("second call (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]forgetest.GitLabHook{ourHook(stored[0].ID)}, e.gl.Hooks("acme/web")); diff != "" {
		t.Errorf("hooks after the second call (-want +got):\n%s", diff)
	}
	put := fmt.Sprintf("PUT /api/v4/projects/acme%%2Fweb/hooks/%d", stored[0].ID)
	if diff := cmp.Diff([]string{"GET /api/v4/projects/acme%2Fweb/hooks", put}, calls(e.srv)); diff != "" {
		t.Errorf("second call's requests (-want +got):\n%s", diff)
	}
	for _, r := range e.srv.Requests() {
		if strings.Contains(r.URL.String(), hookSecret) || r.Header.Get("PRIVATE-TOKEN") != tokPersonal {
			t.Errorf("%s %s: the secret in the URL, or the token not in PRIVATE-TOKEN", r.Method, r.URL)
		}
	}
}

func TestFindHookReportsDriftAndEnsureHookRepairsIt(t *testing.T) {
	e, _ := hookEnv(t)
	id := e.gl.AddHook("acme/web", forgetest.GitLabHook{URL: hookURL, Token: "stale-secret", PushEvents: true,
		TagPushEvents: true, MergeRequestsEvents: true, EnableSSLVerification: true})
	other := e.gl.AddHook("acme/web", forgetest.GitLabHook{URL: "https://chat.example/notify", Token: "theirs", PushEvents: true})

	h, ok, err := e.f.FindHook(t.Context(), cred(tokPersonal), "acme/web", hookURL)
	if err != nil || !ok {
		t.Fatalf("ok %v err %v", ok, err)
	}
	// The stale token cannot be seen: no drift.
	if h.ID != strconv.Itoa(id) || !h.Active || h.Drift != nil {
		t.Errorf("hook %+v, want id %d, active, no drift", h, id)
	}

	// Someone edits it in GitLab's settings page.
	e.gl.AlterHook("acme/web", id, func(h *forgetest.GitLabHook) {
		h.MergeRequestsEvents, h.TagPushEvents, h.EnableSSLVerification = false, false, false
		h.PushEventsBranchFilter = "release/*"
		h.CustomWebhookTemplate = `{"event":"{{object_kind}}"}`
		h.OtherEvents = []string{"pipeline_events", "issues_events"}
	})
	h, _, err = e.f.FindHook(t.Context(), cred(tokPersonal), "acme/web", hookURL)
	if err != nil {
		t.Fatal(err)
	}
	want := forge.Hook{ID: strconv.Itoa(id), URL: hookURL, Active: true,
		Events: []string{"push_events", "issues_events", "pipeline_events"},
		Drift: []string{`push events only for branches matching "release/*"`, "tag push events off", "merge request events off",
			"SSL verification off", "custom webhook template (GitLab sends it instead of its own payload)"}}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("drifted hook (-want +got):\n%s", diff)
	}
	e.gl.AlterHook("acme/web", id, func(h *forgetest.GitLabHook) { h.PushEvents = false })
	if h, _, _ := e.f.FindHook(t.Context(), cred(tokPersonal), "acme/web", hookURL); h.Drift[0] != "push events off" {
		t.Errorf("push events off: drift %q", h.Drift)
	}

	// EnsureHook puts every setting back, the secret included, and leaves
	// the other hook alone.
	h, err = e.f.EnsureHook(t.Context(), cred(tokPersonal), "acme/web", spec())
	if err != nil {
		t.Fatal(err)
	}
	if h.Drift != nil || h.ID != strconv.Itoa(id) {
		t.Errorf("after repair: %+v", h)
	}
	wantStored := []forgetest.GitLabHook{ourHook(id),
		{ID: other, URL: "https://chat.example/notify", Token: "theirs", PushEvents: true, AlertStatus: "executable"}}
	if diff := cmp.Diff(wantStored, e.gl.Hooks("acme/web")); diff != "" {
		t.Errorf("hooks after repair (-want +got):\n%s", diff)
	}
}

func TestFindHookDisabledByGitLab(t *testing.T) {
	e, _ := hookEnv(t)
	id := e.gl.AddHook("acme/web", ourHook(0))
	for status, drift := range map[string]string{
		"temporarily_disabled": "temporarily disabled by GitLab after failed deliveries",
		"disabled":             "disabled by GitLab after failed deliveries (disabled)",
	} {
		e.gl.AlterHook("acme/web", id, func(h *forgetest.GitLabHook) { h.AlertStatus = status })
		h, ok, err := e.f.FindHook(t.Context(), cred(tokPersonal), "acme/web", hookURL)
		if err != nil || !ok || h.Active || !cmp.Equal(h.Drift, []string{drift}) {
			t.Errorf("%s: active %v drift %q ok %v err %v; want inactive, %q", status, h.Active, h.Drift, ok, err, drift)
		}
	}
}

func TestHooksFollowEveryPage(t *testing.T) {
	e, _ := hookEnv(t)
	for i := range 150 {
		e.gl.AddHook("acme/web", forgetest.GitLabHook{URL: fmt.Sprintf("https://other.example/%d", i), PushEvents: true})
	}
	id := e.gl.AddHook("acme/web", ourHook(0))
	h, ok, err := e.f.FindHook(t.Context(), cred(tokPersonal), "acme/web", hookURL)
	if err != nil || !ok || h.ID != strconv.Itoa(id) {
		t.Fatalf("hook %+v ok %v err %v; want id %d from page 2", h, ok, err, id)
	}
	var pages []string
	for _, r := range e.srv.Requests() {
		pages = append(pages, r.URL.Query().Get("page")+"/"+r.URL.Query().Get("per_page"))
	}
	if diff := cmp.Diff([]string{"/100", "2/100"}, pages); diff != "" {
		t.Errorf("pages asked (-want +got):\n%s", diff)
	}

	// EnsureHook finds it there too instead of adding a second one.
	if _, err := e.f.EnsureHook(t.Context(), cred(tokPersonal), "acme/web", spec()); err != nil {
		t.Fatal(err)
	}
	if n := len(e.gl.Hooks("acme/web")); n != 151 {
		t.Errorf("%d hooks, want 151", n)
	}
}

func TestEnsureHookRemovesDuplicates(t *testing.T) {
	e, _ := hookEnv(t)
	first := e.gl.AddHook("acme/web", ourHook(0))
	e.gl.AddHook("acme/web", ourHook(0))
	e.gl.AddHook("acme/web", ourHook(0))
	h, _, err := e.f.FindHook(t.Context(), cred(tokPersonal), "acme/web", hookURL)
	if err != nil || !cmp.Equal(h.Drift, []string{"3 hooks with this URL (each delivers every event)"}) {
		t.Errorf("drift %q err %v", h.Drift, err)
	}
	if _, err := e.f.EnsureHook(t.Context(), cred(tokPersonal), "acme/web", spec()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]forgetest.GitLabHook{ourHook(first)}, e.gl.Hooks("acme/web")); diff != "" {
		t.Errorf("hooks (-want +got):\n%s", diff)
	}
}

func TestDeleteHook(t *testing.T) {
	e, _ := hookEnv(t)
	if _, err := e.f.EnsureHook(t.Context(), cred(tokPersonal), "acme/web", spec()); err != nil {
		t.Fatal(err)
	}
	other := e.gl.AddHook("acme/web", forgetest.GitLabHook{URL: "https://chat.example/notify", PushEvents: true})
	if err := e.f.DeleteHook(t.Context(), cred(tokPersonal), "acme/web", hookURL); err != nil {
		t.Fatal(err)
	}
	if hooks := e.gl.Hooks("acme/web"); len(hooks) != 1 || hooks[0].ID != other {
		t.Errorf("hooks left %+v, want only %d", hooks, other)
	}
	if _, ok, err := e.f.FindHook(t.Context(), cred(tokPersonal), "acme/web", hookURL); ok || err != nil {
		t.Errorf("found after delete: ok %v err %v", ok, err)
	}
	// Absent is no error, nor is a hook someone deletes in between.
	if err := e.f.DeleteHook(t.Context(), cred(tokPersonal), "acme/web", hookURL); err != nil {
		t.Errorf("absent: %v", err)
	}
	ctx, b, err := e.f.hooksCall(t.Context(), cred(tokPersonal), "acme/web")
	if err != nil {
		t.Fatal(err)
	}
	gone := e.gl.AddHook("acme/web", ourHook(0))
	e.gl.RemoveHook("acme/web", gone)
	if err := b.deleteHook(ctx, int64(gone)); err != nil {
		t.Errorf("deleting a hook already gone: %v", err)
	}
}

func TestHooksPermissionErrors(t *testing.T) {
	e, _ := hookEnv(t)
	e.gl.AddHook("acme/web", ourHook(0))
	before := e.gl.Hooks("acme/web")

	ensure := func(tok string) error {
		_, err := e.f.EnsureHook(t.Context(), cred(tok), "acme/web", spec())
		return err
	}
	find := func(tok string) error {
		_, _, err := e.f.FindHook(t.Context(), cred(tok), "acme/web", hookURL)
		return err
	}
	del := func(tok string) error { return e.f.DeleteHook(t.Context(), cred(tok), "acme/web", hookURL) }

	tests := []struct {
		name  string
		call  func(string) error
		token string
		want  string // the missing permission; "" for none
	}{
		{"Developer ensures", ensure, tokProject, "Maintainer role"},
		{"Developer finds", find, tokProject, "Maintainer role"},
		{"Developer deletes", del, tokProject, "Maintainer role"},
		// read_api reads hooks but cannot write them.
		{"read_api finds", find, tokGuest, ""},
		{"read_api ensures", ensure, tokGuest, "api"},
		{"read_api deletes", del, tokGuest, "api"},
		{"read_repository finds", find, tokRepoOnly, "api"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(tc.token)
			noSecret(t, err)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var pe *forge.PermissionError
			if !errors.As(err, &pe) || pe.Status != http.StatusForbidden || pe.Repo != "acme/web" ||
				!cmp.Equal(pe.MissingPermissions(), []string{tc.want}) {
				t.Fatalf("err = %#v, want a 403 PermissionError needing %q", err, tc.want)
			}
			if words := map[string]string{"api": "lacks the api scope", "Maintainer role": "lacks the Maintainer role"}[tc.want]; !strings.Contains(err.Error(), words) {
				t.Errorf("message %q does not say %q", err, words)
			}
		})
	}
	if diff := cmp.Diff(before, e.gl.Hooks("acme/web")); diff != "" {
		t.Errorf("refused calls changed the hooks (-want +got):\n%s", diff)
	}

	// A project the token cannot see, and one that is no project path.
	var nf *forge.NotFoundError
	_, _, err := e.f.FindHook(t.Context(), cred(tokPersonal), "other/secret", hookURL)
	if !errors.As(err, &nf) || nf.Resource != "other/secret" {
		t.Errorf("invisible project: %v, want NotFoundError for other/secret", err)
	}
	var ie *forge.InvalidInputError
	if err := e.f.DeleteHook(t.Context(), cred(tokPersonal), "42", hookURL); !errors.As(err, &ie) {
		t.Errorf("bare id: %v, want InvalidInputError", err)
	}
	// A refused token is an AuthError, as elsewhere.
	var ae *forge.AuthError
	if _, err := e.f.EnsureHook(t.Context(), cred(tokUnknown), "acme/web", spec()); !errors.As(err, &ae) {
		t.Errorf("unknown token: %v, want AuthError", err)
	}
}

func TestEnsureHookRefusesBadSpecs(t *testing.T) {
	e, _ := hookEnv(t)
	for _, s := range []forge.HookSpec{
		{URL: "", Secret: secret.New(hookSecret)},
		{URL: "deploy.example/hooks/1", Secret: secret.New(hookSecret)},
		{URL: "ftp://deploy.example/hooks/1", Secret: secret.New(hookSecret)},
		{URL: "https://user:pass@deploy.example/hooks/1", Secret: secret.New(hookSecret)},
		{URL: hookURL},
	} {
		var ie *forge.InvalidInputError
		if _, err := e.f.EnsureHook(t.Context(), cred(tokPersonal), "acme/web", s); !errors.As(err, &ie) {
			t.Errorf("%q: err %v, want InvalidInputError", s.URL, err)
		}
	}
	if n := e.gl.Requests(tokPersonal); n != 0 {
		t.Errorf("%d requests reached GitLab", n)
	}
}

func TestHooksProviderFailure(t *testing.T) {
	e, _ := hookEnv(t)
	e.gl.FailNext(http.StatusBadGateway, nil)
	_, err := e.f.EnsureHook(t.Context(), cred(tokPersonal), "acme/web", spec())
	var pe *forge.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusBadGateway {
		t.Errorf("err = %v, want ProviderError 502", err)
	}
	noSecret(t, err)
	if n := len(e.gl.Hooks("acme/web")); n != 0 {
		t.Errorf("%d hooks after a failed list", n)
	}
}
