package cli_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/access"
)

func TestTokenRotateSendsTheValueOnlyInTheBody(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("POST /api/v1/tokens/{name}/rotate", func(w http.ResponseWriter, r *http.Request) {
		v := tokenView("ci", access.StatusValid, nil)
		reply(w, 200, access.RotateResult{Token: v, Report: githubReport(), Switched: true, PreviousFingerprint: "sha256:0000000000000000", Checked: 2, Unreachable: []access.RotateFailure{}})
	})
	h := newHarness(t).loggedIn(api)
	r := h.run(tokenValue+"\n", "token", "rotate", "ci").ok(t)
	reqs := api.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	if diff := cmp.Diff(map[string]any{"value": tokenValue}, decodeBody(t, reqs[0].Body)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if strings.Contains(reqs[0].Path+reqs[0].Query, tokenValue) {
		t.Error("token value in the URL")
	}
	for _, s := range []string{"Rotated token ci", "sha256:0000000000000000 -> sha256:3f2a9c0d11e4b7a5", "proven on 2 application(s)"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
}

const coverageProblem = `{"type":"urn:gitaccess:problem:missing-permissions","title":"Token lacks permissions","status":422,
"detail":"rotating token ci was refused and nothing changed: the value cannot serve 2 application(s): ...",
"missing":["application web (https://github.com/acme/web): repository: GitHub answered 404","application docs (https://github.com/acme/docs): repository: GitHub answered 404"],
"report":{"provider":"github","host":"github.com","kind":"github-classic-pat","identity":"octocat","scopes":["repo"],"checks":[],"requests":1}}`

func TestTokenRotateRefusedListsEveryApplication(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("POST /api/v1/tokens/{name}/rotate", func(w http.ResponseWriter, r *http.Request) { problem(w, 422, coverageProblem) })
	h := newHarness(t).loggedIn(api)
	r := h.run(tokenValue+"\n", "token", "rotate", "ci").failed(t, "rotation refused")
	for _, s := range []string{"application web", "application docs", "Nothing was changed"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
}

func TestTokenRotateThroughTheProvider(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("POST /api/v1/tokens/{name}/rotate", func(w http.ResponseWriter, r *http.Request) {
		v := tokenView("gl", access.StatusValid, nil)
		reply(w, 200, access.RotateResult{Token: v, Report: githubReport(), Switched: true, Checked: 1,
			Unreachable: []access.RotateFailure{{App: "web", Repository: "https://gitlab.com/acme/web", What: "repository", Reason: "GitLab answered 404"}}})
	})
	h := newHarness(t).loggedIn(api)
	// No value is read: GitLab issues it.
	r := h.run("", "token", "rotate", "gl", "--provider-rotate", "--expires-at", "2027-01-31").failed(t, "revoked the old value", "cannot serve 1 application")
	if !strings.Contains(r.stdout, "application web (https://gitlab.com/acme/web): repository: GitLab answered 404") {
		t.Errorf("stdout does not list what the new value cannot serve:\n%s", r.stdout)
	}
	body := decodeBody(t, api.requests()[0].Body)
	if diff := cmp.Diff(map[string]any{"provider_rotate": true, "expires_at": "2027-01-31T00:00:00Z"}, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	h.run("", "token", "rotate", "gl", "--expires-at", "2027-01-31").failed(t, "--expires-at goes with --provider-rotate")
}
