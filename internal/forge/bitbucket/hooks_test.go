package bitbucket

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/google/go-cmp/cmp"
)

const (
	hookURL    = "https://gitaccess.example.com/hooks/hk_5f1d2c"
	hookSecret = "whsec-Z8t1u0c4QpL2x9-hook-s3cr3t"
)

// ourEvents is what EnsureHook must subscribe, written out rather than
// taken from hookEvents so a change there fails here.
var ourEvents = []string{"repo:push", "pullrequest:created", "pullrequest:updated", "pullrequest:fulfilled", "pullrequest:rejected"}

// hookToken adds a repository token for acme/app holding scopes.
func (h *harness) hookToken(t *testing.T, name string, scopes ...string) (string, forge.Credential) {
	t.Helper()
	tok := token(name)
	h.bb.AddToken(tok, forgetest.BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "app", Scopes: scopes})
	return tok, h.cred(t, "acme", tok)
}

// requestsTo lists "METHOD path" of every request to acme/app's hooks.
func (h *harness) requestsTo() []string {
	var out []string
	for _, r := range h.srv.Requests() {
		if strings.HasPrefix(r.URL.Path, "/2.0/repositories/acme/app/hooks") {
			out = append(out, r.Method+" "+strings.TrimPrefix(r.URL.EscapedPath(), "/2.0/repositories/acme/app"))
		}
	}
	return out
}

// noSecretLeak fails if the hook secret or the token shows up in the error
// or the logs.
func (h *harness) noSecretLeak(t *testing.T, tok string, err error) {
	t.Helper()
	h.noLeak(t, tok, err)
	if err != nil && strings.Contains(err.Error(), hookSecret) {
		t.Errorf("error carries the hook secret: %v", err)
	}
	if strings.Contains(h.logs.String(), hookSecret) {
		t.Errorf("logs carry the hook secret:\n%s", h.logs.String())
	}
}

func spec(s string) forge.HookSpec { return forge.HookSpec{URL: hookURL, Secret: secret.New(s)} }

func TestEnsureHookCreatesThenUpdatesInPlace(t *testing.T) {
	h := newHarness(t)
	tok, cred := h.hookToken(t, "ensure", "repository", "webhook", "pullrequest")
	ctx := context.Background()

	got, err := h.f.EnsureHook(ctx, cred, "acme/app", spec(hookSecret))
	h.noSecretLeak(t, tok, err)
	if err != nil {
		t.Fatal(err)
	}
	hooks := h.bb.Hooks("acme", "app")
	if len(hooks) != 1 {
		t.Fatalf("%d hooks after EnsureHook, want 1", len(hooks))
	}
	want := forgetest.BitbucketHook{UUID: hooks[0].UUID, Description: "gitaccess", URL: hookURL, Active: true, Events: ourEvents, Secret: hookSecret}
	if d := cmp.Diff(want, hooks[0]); d != "" {
		t.Errorf("installed hook (-want +got):\n%s", d)
	}
	if d := cmp.Diff(forge.Hook{ID: hooks[0].UUID, URL: hookURL, Active: true, Events: ourEvents}, got); d != "" {
		t.Errorf("returned hook (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"GET /hooks", "POST /hooks"}, h.requestsTo()); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}

	// Again, with a rotated secret: the same hook is PUT, no duplicate.
	h.srv.ResetRequests()
	again, err := h.f.EnsureHook(ctx, cred, "acme/app", spec(hookSecret+"-rotated"))
	h.noSecretLeak(t, tok, err)
	if err != nil {
		t.Fatal(err)
	}
	hooks = h.bb.Hooks("acme", "app")
	if len(hooks) != 1 || hooks[0].UUID != got.ID || hooks[0].Secret != hookSecret+"-rotated" {
		t.Errorf("after a second EnsureHook: %+v; want the same hook with the new secret", hooks)
	}
	if again.ID != got.ID || len(again.Drift) != 0 {
		t.Errorf("second EnsureHook returned %+v", again)
	}
	uid := strings.NewReplacer("{", "%7B", "}", "%7D").Replace(got.ID)
	if d := cmp.Diff([]string{"GET /hooks", "PUT /hooks/" + uid}, h.requestsTo()); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
}

func TestFindHookReportsDriftAndEnsureHookRepairsIt(t *testing.T) {
	h := newHarness(t)
	tok, cred := h.hookToken(t, "drift", "webhook", "pullrequest")
	ctx := context.Background()
	if _, ok, err := h.f.FindHook(ctx, cred, "acme/app", hookURL); ok || err != nil {
		t.Fatalf("FindHook before any hook: ok %v, %v", ok, err)
	}
	installed, err := h.f.EnsureHook(ctx, cred, "acme/app", spec(hookSecret))
	if err != nil {
		t.Fatal(err)
	}
	found, ok, err := h.f.FindHook(ctx, cred, "acme/app", hookURL)
	if err != nil || !ok {
		t.Fatalf("FindHook: ok %v, %v", ok, err)
	}
	if d := cmp.Diff(installed, found); d != "" {
		t.Errorf("FindHook of a fresh hook (-want +got):\n%s", d)
	}

	// Someone edits the hook in Bitbucket's settings.
	h.bb.EditHook("acme", "app", hookURL, func(bh *forgetest.BitbucketHook) {
		bh.Active = false
		bh.Events = []string{"repo:push", "pullrequest:created", "issue:created"}
		bh.Secret = ""
	})
	found, ok, err = h.f.FindHook(ctx, cred, "acme/app", hookURL)
	h.noSecretLeak(t, tok, err)
	if err != nil || !ok {
		t.Fatalf("FindHook: ok %v, %v", ok, err)
	}
	wantDrift := []string{"inactive", "no pullrequest:updated events", "no pullrequest:fulfilled events",
		"no pullrequest:rejected events", "extra issue:created events", "no secret set"}
	if d := cmp.Diff(wantDrift, found.Drift); d != "" {
		t.Errorf("drift (-want +got):\n%s", d)
	}
	if found.Active || found.ID != installed.ID {
		t.Errorf("found %+v", found)
	}

	if _, err := h.f.EnsureHook(ctx, cred, "acme/app", spec(hookSecret)); err != nil {
		t.Fatal(err)
	}
	found, _, err = h.f.FindHook(ctx, cred, "acme/app", hookURL)
	if err != nil || len(found.Drift) != 0 || found.ID != installed.ID {
		t.Errorf("after repair: %+v, %v; want the same hook without drift", found, err)
	}
	if hs := h.bb.Hooks("acme", "app"); len(hs) != 1 || hs[0].Secret != hookSecret {
		t.Errorf("after repair the fake holds %+v", hs)
	}
}

// TestHooksFollowEveryPage: ours is found past the first page, so
// EnsureHook updates it instead of adding a second.
func TestHooksFollowEveryPage(t *testing.T) {
	h := newHarness(t)
	_, cred := h.hookToken(t, "pages", "webhook", "pullrequest")
	for i := range 120 {
		h.bb.AddHook("acme", "app", forgetest.BitbucketHook{URL: fmt.Sprintf("https://ci.example/%d", i), Active: true, Events: []string{"repo:push"}})
	}
	uid := h.bb.AddHook("acme", "app", forgetest.BitbucketHook{URL: hookURL, Events: []string{"repo:push"}})
	ctx := context.Background()

	found, ok, err := h.f.FindHook(ctx, cred, "acme/app", hookURL)
	if err != nil || !ok || found.ID != uid {
		t.Fatalf("FindHook past the first page: %+v, %v, %v", found, ok, err)
	}
	got, err := h.f.EnsureHook(ctx, cred, "acme/app", spec(hookSecret))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != uid || len(h.bb.Hooks("acme", "app")) != 121 {
		t.Errorf("EnsureHook returned %s with %d hooks; want %s updated and 121 hooks", got.ID, len(h.bb.Hooks("acme", "app")), uid)
	}
	var gets int
	for _, r := range h.requestsTo() {
		if r == "GET /hooks" {
			gets++
		}
	}
	if gets != 4 {
		t.Errorf("%d list requests for two calls over 121 hooks, want 2 pages each", gets)
	}
}

// TestEnsureHookRemovesDuplicates: hooks sharing gitaccess's URL would
// each send every event; one is kept and the others deleted.
func TestEnsureHookRemovesDuplicates(t *testing.T) {
	h := newHarness(t)
	_, cred := h.hookToken(t, "dups", "webhook", "pullrequest")
	first := h.bb.AddHook("acme", "app", forgetest.BitbucketHook{URL: hookURL, Active: true, Events: ourEvents, Secret: "old"})
	h.bb.AddHook("acme", "app", forgetest.BitbucketHook{URL: hookURL, Active: true, Events: ourEvents, Secret: "old"})
	other := h.bb.AddHook("acme", "app", forgetest.BitbucketHook{URL: "https://ci.example/", Active: true, Events: []string{"repo:push"}})
	ctx := context.Background()

	found, ok, err := h.f.FindHook(ctx, cred, "acme/app", hookURL)
	if err != nil || !ok || found.ID != first {
		t.Fatalf("FindHook: %+v %v %v", found, ok, err)
	}
	if d := cmp.Diff([]string{"2 hooks share this URL"}, found.Drift); d != "" {
		t.Errorf("drift (-want +got):\n%s", d)
	}
	if _, err := h.f.EnsureHook(ctx, cred, "acme/app", spec(hookSecret)); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, bh := range h.bb.Hooks("acme", "app") {
		ids = append(ids, bh.UUID)
	}
	if d := cmp.Diff([]string{first, other}, ids); d != "" {
		t.Errorf("hooks left (-want +got):\n%s", d)
	}
}

func TestDeleteHook(t *testing.T) {
	h := newHarness(t)
	_, cred := h.hookToken(t, "del", "webhook", "pullrequest")
	ctx := context.Background()
	if err := h.f.DeleteHook(ctx, cred, "acme/app", hookURL); err != nil {
		t.Errorf("deleting an absent hook: %v, want nil", err)
	}
	other := h.bb.AddHook("acme", "app", forgetest.BitbucketHook{URL: "https://ci.example/", Active: true, Events: []string{"repo:push"}})
	if _, err := h.f.EnsureHook(ctx, cred, "acme/app", spec(hookSecret)); err != nil {
		t.Fatal(err)
	}
	if err := h.f.DeleteHook(ctx, cred, "acme/app", hookURL); err != nil {
		t.Fatal(err)
	}
	if hs := h.bb.Hooks("acme", "app"); len(hs) != 1 || hs[0].UUID != other {
		t.Errorf("after DeleteHook: %+v; want only the other integration's hook", hs)
	}
	if err := h.f.DeleteHook(ctx, cred, "acme/app", hookURL); err != nil {
		t.Errorf("deleting it again: %v, want nil", err)
	}

	// Deleted behind gitaccess's back: FindHook says so, EnsureHook
	// puts it back.
	if _, err := h.f.EnsureHook(ctx, cred, "acme/app", spec(hookSecret)); err != nil {
		t.Fatal(err)
	}
	h.bb.RemoveHook("acme", "app", hookURL)
	if _, ok, err := h.f.FindHook(ctx, cred, "acme/app", hookURL); ok || err != nil {
		t.Errorf("FindHook after removal: ok %v, %v", ok, err)
	}
	if _, err := h.f.EnsureHook(ctx, cred, "acme/app", spec(hookSecret)); err != nil {
		t.Fatal(err)
	}
	if urls := h.bb.HookURLs("acme", "app"); len(urls) != 2 || urls[1] != hookURL {
		t.Errorf("after re-install: %v", urls)
	}

	// A hook deleted between listing and deleting is no error.
	c := h.client(t, token("del"))
	if err := c.deleteHook(ctx, "acme", "app", "{00000000-0000-4000-8000-000000000000}"); err != nil {
		t.Errorf("deleting a vanished hook: %v, want nil", err)
	}
}

// TestHookScopes: a missing scope is refused in Bitbucket's words, with
// the access-token permission to grant.
func TestHookScopes(t *testing.T) {
	cases := []struct {
		name   string
		scopes []string
		needs  string
		want   []string
	}{
		{"no webhook scope", []string{"repository", "pullrequest"}, "Webhooks: Read and write (webhook)", []string{
			"HTTP 403", "Your credentials lack one or more required privilege scopes. (required: webhook)", "Repository settings > Access tokens"}},
		{"no pullrequest scope", []string{"repository", "webhook"}, "Pull requests: Read (pullrequest)", []string{
			"HTTP 403", "(required: pullrequest)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			tok, cred := h.hookToken(t, "scope", tc.scopes...)
			_, err := h.f.EnsureHook(context.Background(), cred, "acme/app", spec(hookSecret))
			h.noSecretLeak(t, tok, err)
			var pe *forge.PermissionError
			if !errors.As(err, &pe) || pe.Status != http.StatusForbidden {
				t.Fatalf("EnsureHook: %v (%T), want a 403 *forge.PermissionError", err, err)
			}
			if pe.Provider != forge.Bitbucket || pe.Repo != "acme/app" || pe.Action != "manage the webhooks of" || pe.Needs != tc.needs {
				t.Errorf("PermissionError = %+v, want Bitbucket refusing to manage the webhooks of acme/app for %q", pe, tc.needs)
			}
			if d := cmp.Diff([]string{tc.needs}, pe.MissingPermissions()); d != "" {
				t.Errorf("missing permissions (-want +got):\n%s", d)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if hs := h.bb.Hooks("acme", "app"); len(hs) != 0 {
				t.Errorf("hooks installed despite the refusal: %+v", hs)
			}
		})
	}
	h := newHarness(t)
	tok, cred := h.hookToken(t, "ro", "repository")
	for name, call := range map[string]func() error{
		"FindHook":   func() error { _, _, err := h.f.FindHook(context.Background(), cred, "acme/app", hookURL); return err },
		"DeleteHook": func() error { return h.f.DeleteHook(context.Background(), cred, "acme/app", hookURL) },
	} {
		err := call()
		h.noLeak(t, tok, err)
		var pe *forge.PermissionError
		if !errors.As(err, &pe) || pe.Needs != "Webhooks: Read and write (webhook)" || !strings.Contains(err.Error(), "(required: webhook)") {
			t.Errorf("%s without webhook scope: %v, want a *forge.PermissionError naming the webhook scope", name, err)
		}
	}
}

func TestHookErrors(t *testing.T) {
	h := newHarness(t)
	tok, cred := h.hookToken(t, "err", "webhook", "pullrequest")
	ctx := context.Background()

	// A repository the token cannot see.
	_, err := h.f.EnsureHook(ctx, cred, "acme/lib", spec(hookSecret))
	var nf *forge.NotFoundError
	if !errors.As(err, &nf) || nf.Resource != "acme/lib" {
		t.Errorf("EnsureHook on an unseen repository: %v (%T), want *forge.NotFoundError for acme/lib", err, err)
	}

	// Refused before any request.
	h.srv.ResetRequests()
	for _, tc := range []struct {
		name, field, repo string
		spec              forge.HookSpec
	}{
		{"no secret", "secret", "acme/app", forge.HookSpec{URL: hookURL}},
		{"relative URL", "url", "acme/app", forge.HookSpec{URL: "/hooks/1", Secret: secret.New(hookSecret)}},
		{"URL with credentials", "url", "acme/app", forge.HookSpec{URL: "https://u:p@gitaccess.example.com/hooks/1", Secret: secret.New(hookSecret)}},
		{"bad repository", "repository", "acme", spec(hookSecret)},
	} {
		_, err := h.f.EnsureHook(ctx, cred, tc.repo, tc.spec)
		var in *forge.InvalidInputError
		if !errors.As(err, &in) || in.Field != tc.field {
			t.Errorf("%s: %v (%T), want *forge.InvalidInputError on %s", tc.name, err, err, tc.field)
		}
	}
	if n := len(h.srv.Requests()); n != 0 {
		t.Errorf("%d requests for refused input, want 0", n)
	}

	// Bitbucket failing is a *forge.ProviderError naming the status.
	h.bb.FailNext(http.StatusBadGateway, nil)
	_, err = h.f.EnsureHook(ctx, cred, "acme/app", spec(hookSecret))
	h.noSecretLeak(t, tok, err)
	var pe *forge.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusBadGateway {
		t.Errorf("EnsureHook on a 502: %v (%T)", err, err)
	}
}
