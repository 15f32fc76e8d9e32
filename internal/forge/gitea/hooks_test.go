package gitea

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/secret"
)

const (
	hookURL     = "https://deploy.example/hooks/h_01"
	hookSecret  = "whsec-GitaccessHookSecret0001"
	staleSecret = "whsec-StaleSecret00000000002"
)

func spec() forge.HookSpec { return forge.HookSpec{URL: hookURL, Secret: secret.New(hookSecret)} }

// ourEvents are the events Gitea lists for a hook made with push, create,
// delete and pull_request: pull_request expands to its whole family.
func ourEvents() []string {
	return []string{"create", "delete", "push", "pull_request", "pull_request_assign", "pull_request_label",
		"pull_request_milestone", "pull_request_comment", "pull_request_review", "pull_request_review_request", "pull_request_sync"}
}

func ourHook(id int64) forgetest.GiteaHook {
	return forgetest.GiteaHook{ID: id, Type: "gitea", URL: hookURL, ContentType: "json", Secret: hookSecret,
		BranchFilter: "*", Events: ourEvents(), Active: true}
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
	e := newEnv(t, hookSecret, staleSecret)
	h, err := e.f.EnsureHook(t.Context(), cred(tokAll), "acme/web", spec())
	noSecret(t, err)
	if err != nil {
		t.Fatal(err)
	}
	hooks := e.g.Hooks("acme/web")
	if len(hooks) != 1 {
		t.Fatalf("%d hooks", len(hooks))
	}
	if diff := cmp.Diff(ourHook(hooks[0].ID), hooks[0]); diff != "" {
		t.Errorf("stored hook (-want +got):\n%s", diff)
	}
	want := forge.Hook{ID: strconv.FormatInt(hooks[0].ID, 10), URL: hookURL, Active: true, Events: ourEvents()}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("returned hook (-want +got):\n%s", diff)
	}

	// Again, with a rotated secret: the same hook, edited.
	e.srv.ResetRequests()
	s := spec()
	s.Secret = secret.New(staleSecret)
	h2, err := e.f.EnsureHook(t.Context(), cred(tokAll), "acme/web", s)
	if err != nil {
		t.Fatal(err)
	}
	if h2.ID != h.ID {
		t.Errorf("id %s, want %s", h2.ID, h.ID)
	}
	hooks = e.g.Hooks("acme/web")
	if len(hooks) != 1 || hooks[0].Secret != staleSecret {
		t.Errorf("hooks after the second EnsureHook: %+v", hooks)
	}
	wantCalls := []string{"GET /api/v1/repos/acme/web/hooks", "PATCH /api/v1/repos/acme/web/hooks/" + h.ID}
	if diff := cmp.Diff(wantCalls, calls(e.srv)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	// The secret went in the body only.
	for _, r := range e.srv.Requests() {
		if strings.Contains(r.URL.String(), staleSecret) {
			t.Errorf("the secret is in %s", r.URL)
		}
	}
}

func TestFindHookReportsDriftAndEnsureHookRepairsIt(t *testing.T) {
	e := newEnv(t, hookSecret)
	other := e.g.AddHook("acme/web", forgetest.GiteaHook{URL: "https://chat.example/x", ContentType: "json", Events: []string{"push"}, Active: true})
	id := e.g.AddHook("acme/web", forgetest.GiteaHook{URL: hookURL, ContentType: "form", Secret: "old", BranchFilter: "main",
		Events: []string{"push", "pull_request_only", "pull_request_review"}, Active: false})
	h, ok, err := e.f.FindHook(t.Context(), cred(tokAll), "acme/web", hookURL)
	if err != nil || !ok {
		t.Fatalf("FindHook: %v, %v", ok, err)
	}
	wantDrift := []string{"inactive", "content type form", "branch filter main", "no create (tag) events", "no delete events",
		"no pull request synchronize events"}
	if diff := cmp.Diff(wantDrift, h.Drift); diff != "" {
		t.Errorf("drift (-want +got):\n%s", diff)
	}
	if h.ID != strconv.FormatInt(id, 10) || h.Active {
		t.Errorf("hook %+v", h)
	}

	h, err = e.f.EnsureHook(t.Context(), cred(tokAll), "acme/web", spec())
	if err != nil {
		t.Fatal(err)
	}
	if h.ID != strconv.FormatInt(id, 10) || len(h.Drift) != 0 {
		t.Errorf("after repair: %+v", h)
	}
	hooks := e.g.Hooks("acme/web")
	if len(hooks) != 2 || hooks[0].ID != other {
		t.Fatalf("hooks %+v", hooks)
	}
	if diff := cmp.Diff(ourHook(id), hooks[1]); diff != "" {
		t.Errorf("repaired hook (-want +got):\n%s", diff)
	}
	if _, ok, _ := e.f.FindHook(t.Context(), cred(tokAll), "acme/web", "https://nowhere.example/"); ok {
		t.Error("found a hook that is not there")
	}
}

func TestDriftOfOtherShapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    hook
		want []string
	}{
		{"ours", hook{Type: "gitea", Active: true, Config: map[string]string{"content_type": "json"}, Events: ourEvents(), BranchFilter: "*"}, nil},
		{"forgejo type, no filter", hook{Type: "forgejo", Active: true, Config: map[string]string{"content_type": "json"}, Events: ourEvents()}, nil},
		// Older Gitea lists the top-level events only: sync cannot be judged.
		{"older listing", hook{Type: "gitea", Active: true, Config: map[string]string{"content_type": "json", "http_method": "post"},
			Events: []string{"create", "delete", "push", "pull_request"}}, nil},
		{"gogs, GET", hook{Type: "gogs", Active: true, Config: map[string]string{"content_type": "json", "http_method": "GET"}, Events: ourEvents()},
			[]string{"type gogs, not gitea", "HTTP method GET"}},
		{"nothing", hook{}, []string{"inactive", "type , not gitea", "content type ", "no push events", "no create (tag) events",
			"no delete events", "no pull request events"}},
	} {
		if diff := cmp.Diff(tc.want, drift(tc.h)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestEnsureHookRemovesDuplicates(t *testing.T) {
	e := newEnv(t, hookSecret)
	first := e.g.AddHook("acme/web", forgetest.GiteaHook{URL: hookURL, ContentType: "json", Events: []string{"push"}, Active: true})
	e.g.AddHook("acme/web", forgetest.GiteaHook{URL: hookURL, ContentType: "json", Events: []string{"push"}, Active: true})
	h, ok, err := e.f.FindHook(t.Context(), cred(tokAll), "acme/web", hookURL)
	if err != nil || !ok || !strings.Contains(strings.Join(h.Drift, ","), "2 hooks with this URL") {
		t.Fatalf("FindHook: %+v %v %v", h, ok, err)
	}
	if _, err := e.f.EnsureHook(t.Context(), cred(tokAll), "acme/web", spec()); err != nil {
		t.Fatal(err)
	}
	hooks := e.g.Hooks("acme/web")
	if len(hooks) != 1 {
		t.Fatalf("%d hooks after EnsureHook", len(hooks))
	}
	if diff := cmp.Diff(ourHook(first), hooks[0]); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Hook lists send X-Total-Count only, no Link; every page is still read.
func TestHooksFollowEveryPage(t *testing.T) {
	e := newEnv(t, hookSecret)
	for i := range 120 {
		e.g.AddHook("acme/web", forgetest.GiteaHook{URL: fmt.Sprintf("https://other.example/%d", i), ContentType: "json", Active: true})
	}
	id := e.g.AddHook("acme/web", forgetest.GiteaHook{URL: hookURL, ContentType: "json", Active: true, Events: []string{"push"}})
	h, ok, err := e.f.FindHook(t.Context(), cred(tokAll), "acme/web", hookURL)
	if err != nil || !ok || h.ID != strconv.FormatInt(id, 10) {
		t.Fatalf("FindHook past two pages: %+v %v %v", h, ok, err)
	}
	if n := len(e.srv.Requests()); n != 3 {
		t.Errorf("%d requests for 121 hooks, want 3", n)
	}
}

func TestDeleteHook(t *testing.T) {
	e := newEnv(t, hookSecret)
	keep := e.g.AddHook("acme/web", forgetest.GiteaHook{URL: "https://chat.example/x", ContentType: "json", Active: true})
	e.g.AddHook("acme/web", forgetest.GiteaHook{URL: hookURL, ContentType: "json", Active: true})
	e.g.AddHook("acme/web", forgetest.GiteaHook{URL: hookURL, ContentType: "form", Active: true})
	if err := e.f.DeleteHook(t.Context(), cred(tokAll), "acme/web", hookURL); err != nil {
		t.Fatal(err)
	}
	hooks := e.g.Hooks("acme/web")
	if len(hooks) != 1 || hooks[0].ID != keep {
		t.Errorf("hooks left: %+v", hooks)
	}
	// Absent is no error.
	if err := e.f.DeleteHook(t.Context(), cred(tokAll), "acme/web", hookURL); err != nil {
		t.Errorf("deleting an absent hook: %v", err)
	}
	// An absent repository is.
	err := e.f.DeleteHook(t.Context(), cred(tokAll), "other/none", hookURL)
	var nf *forge.NotFoundError
	if !errors.As(err, &nf) || nf.Resource != "other/none" {
		t.Errorf("absent repository: %#v", err)
	}
}

func TestHooksPermissionErrors(t *testing.T) {
	e := newEnv(t, hookSecret)
	tests := []struct {
		name, token string
		// needs is the scope a *forge.PermissionError names; empty: a
		// role refusal, a *forge.ProviderError saying words.
		needs string
		words string
	}{
		// bob may push to acme/web but is no admin of it.
		{"writer, not admin", tokRead, "", "needs admin access to the repository: Gitea lets only admins of acme/web"},
		{"no repository scope", tokIssues, "read:repository", "Settings > Applications"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, call := range []func() error{
				func() error { _, err := e.f.EnsureHook(t.Context(), cred(tc.token), "acme/web", spec()); return err },
				func() error { _, _, err := e.f.FindHook(t.Context(), cred(tc.token), "acme/web", hookURL); return err },
				func() error { return e.f.DeleteHook(t.Context(), cred(tc.token), "acme/web", hookURL) },
			} {
				err := call()
				noSecret(t, err)
				var pe *forge.ProviderError
				var perm *forge.PermissionError
				switch {
				case tc.needs == "" && (!errors.As(err, &pe) || pe.Status != 403 || !strings.Contains(pe.Message, tc.words)):
					t.Errorf("err = %v, want a ProviderError 403 saying %q", err, tc.words)
				case tc.needs != "" && (!errors.As(err, &perm) || perm.Status != 403 || perm.Needs != tc.needs ||
					perm.Repo != "acme/web" || perm.Action != "manage the webhooks of" || !strings.Contains(perm.Fix, tc.words)):
					t.Errorf("err = %#v, want a PermissionError 403 needing %q", err, tc.needs)
				}
			}
		})
	}
	if n := len(e.g.Hooks("acme/web")); n != 0 {
		t.Errorf("%d hooks made", n)
	}

	// A read-only scope lists hooks but cannot write them.
	g := forgetest.NewGitea()
	g.AddToken(tokRead, forgetest.GiteaToken{Username: "bob", Scopes: []string{"read:repository"}, Repos: []string{"bob/app"}})
	srv := forgetest.NewServer(t, nil, forgetest.ByHost{"gitea.test": g})
	f := newForge(t, srv.Policy(), hookSecret)
	_, err := f.EnsureHook(t.Context(), cred(tokRead), "bob/app", spec())
	var perm *forge.PermissionError
	if !errors.As(err, &perm) || perm.Status != 403 || perm.Needs != "write:repository" ||
		!slices.Equal(perm.MissingPermissions(), []string{"write:repository"}) {
		t.Errorf("read-only scope: %#v, want a PermissionError needing write:repository", err)
	}
}

func TestEnsureHookScrubsAnEchoedSecret(t *testing.T) {
	e := newEnv(t, hookSecret)
	e.g.FailNext(http.StatusUnprocessableEntity, nil, `{"message":"invalid config: secret=`+hookSecret+`","url":"https://gitea.test/api/swagger"}`)
	_, err := e.f.EnsureHook(t.Context(), cred(tokAll), "acme/web", spec())
	noSecret(t, err)
	if err == nil {
		t.Fatal("accepted")
	}
}

func TestEnsureHookRefusesBadSpecs(t *testing.T) {
	e := newEnv(t, hookSecret)
	for _, s := range []forge.HookSpec{
		{URL: hookURL},
		{URL: "", Secret: secret.New(hookSecret)},
		{URL: "ftp://deploy.example/h", Secret: secret.New(hookSecret)},
		{URL: "https://user:pw@deploy.example/h", Secret: secret.New(hookSecret)},
	} {
		_, err := e.f.EnsureHook(t.Context(), cred(tokAll), "acme/web", s)
		var ie *forge.InvalidInputError
		if !errors.As(err, &ie) {
			t.Errorf("%q: %v, want an InvalidInputError", s.URL, err)
		}
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("%d requests for bad specs", n)
	}
}

func TestHooksDisabledByTheAdministrator(t *testing.T) {
	e := newEnv(t, hookSecret)
	e.g.FailNext(http.StatusForbidden, nil, `{"message":"webhooks disabled by administrator","url":"https://gitea.test/api/swagger"}`)
	_, _, err := e.f.FindHook(t.Context(), cred(tokAll), "acme/web", hookURL)
	var pe *forge.ProviderError
	if !errors.As(err, &pe) || !strings.Contains(pe.Message, "DISABLE_WEBHOOKS") {
		t.Errorf("err = %v", err)
	}
}

func TestHooksProviderFailure(t *testing.T) {
	e := newEnv(t, hookSecret)
	e.g.FailNext(http.StatusInternalServerError, nil, "")
	_, err := e.f.EnsureHook(t.Context(), cred(tokAll), "acme/web", spec())
	var pe *forge.ProviderError
	if !errors.As(err, &pe) || pe.Status != 500 {
		t.Errorf("err = %v", err)
	}
}
