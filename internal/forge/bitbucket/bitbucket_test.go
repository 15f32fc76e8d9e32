package bitbucket

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/google/go-cmp/cmp"
)

const (
	labelClone  = "Repositories: Read (repository)"
	labelHooks  = "Webhooks: Read and write (webhook)"
	labelPRRead = "Pull requests: Read (pullrequest)"
	labelPRs    = "Pull requests: Write (pullrequest:write)"

	expiryNote = "Bitbucket does not reveal an access token's expiry date; if one was set, rotate the token before it, as gitaccess cannot warn."
)

type harness struct {
	bb   *forgetest.Bitbucket
	srv  *forgetest.Server
	f    *Forge
	logs *forgetest.LogBuffer
}

// newHarness serves a fake Bitbucket with workspace acme: app ("App") and
// lib in project PROJ ("Platform"), site in project WEB; and workspace
// other with one repository.
func newHarness(t *testing.T) *harness {
	t.Helper()
	bb := forgetest.NewBitbucket()
	bb.AddRepo(forgetest.BitbucketRepo{Workspace: "acme", Slug: "app", Name: "App", Project: "PROJ", ProjectName: "Platform"})
	bb.AddRepo(forgetest.BitbucketRepo{Workspace: "acme", Slug: "lib", Project: "PROJ", ProjectName: "Platform"})
	bb.AddRepo(forgetest.BitbucketRepo{Workspace: "acme", Slug: "site", Project: "WEB", Branches: []string{"main", "develop", "release/1.0"}})
	bb.AddRepo(forgetest.BitbucketRepo{Workspace: "other", Slug: "thing"})
	srv := forgetest.NewServer(t, nil, forgetest.ByHost{"api.bitbucket.org": bb})
	logs := &forgetest.LogBuffer{}
	f := New(srv.Policy(), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return &harness{bb: bb, srv: srv, f: f, logs: logs}
}

// token makes a token value that looks like Bitbucket's, so a leak is
// unmistakable.
func token(name string) string { return "ATCTT3xFfGN0" + name + "Zq9L0v3x-S3cr3t=A1B2C3D4" }

func (h *harness) cred(t *testing.T, workspace, value string) forge.Credential {
	t.Helper()
	ep, err := h.f.ResolveEndpoint("", workspace)
	if err != nil {
		t.Fatal(err)
	}
	return forge.Credential{Endpoint: ep, Token: secret.New(value)}
}

// noLeak fails if the token shows up in the error or in any log line.
func (h *harness) noLeak(t *testing.T, value string, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), value) {
		t.Errorf("error carries the token: %v", err)
	}
	if strings.Contains(h.logs.String(), value) {
		t.Errorf("logs carry the token:\n%s", h.logs.String())
	}
}

func TestInspectRepositoryTokenWithEveryScope(t *testing.T) {
	h := newHarness(t)
	tok := token("repo")
	h.bb.AddToken(tok, forgetest.BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "app",
		Scopes: []string{"repository", "webhook", "pullrequest:write"}})

	rep, err := h.f.Inspect(context.Background(), h.cred(t, "acme", tok), forge.AllUses)
	h.noLeak(t, tok, err)
	if err != nil {
		t.Fatal(err)
	}
	want := forge.Report{
		Provider:     forge.Bitbucket,
		Host:         "bitbucket.org",
		Kind:         forge.KindBitbucketRepository,
		Identity:     "acme/app",
		IdentityName: "App",
		Scopes:       []string{"repository", "webhook", "pullrequest:write"},
		Checks: []forge.UseCheck{
			{Use: forge.UseClone, Status: forge.CheckOK, Needs: []string{labelClone}, Proven: []string{labelClone}},
			{Use: forge.UseWebhooks, Status: forge.CheckOK, Needs: []string{labelHooks, labelPRRead}, Proven: []string{labelHooks, labelPRRead}},
			{Use: forge.UsePullRequests, Status: forge.CheckOK, Needs: []string{labelPRs}, Proven: []string{labelPRs}},
		},
		Requests: 1,
		Notes: []string{
			"A repository access token reaches one repository: acme/app.",
			expiryNote,
			"Bitbucket allows this token 1000 requests an hour to its repository API and does not report how many remain.",
		},
	}
	if d := cmp.Diff(want, rep); d != "" {
		t.Errorf("report (-want +got):\n%s", d)
	}
	if n := h.bb.Requests(tok); n != 1 {
		t.Errorf("the fake saw %d requests with the token, want 1", n)
	}
	reqs := h.srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if got := r.Header.Get("Authorization"); got != "Bearer "+tok {
		t.Errorf("Authorization = %q, want the token as Bearer", got)
	}
	if r.Host != "api.bitbucket.org" || r.URL.Path != "/2.0/repositories/acme" || r.URL.RawQuery != "pagelen=1" {
		t.Errorf("request went to %s%s?%s", r.Host, r.URL.Path, r.URL.RawQuery)
	}
}

func TestInspectWorkspaceTokenWithOnlyRepositoryScope(t *testing.T) {
	h := newHarness(t)
	tok := token("ws")
	h.bb.AddToken(tok, forgetest.BitbucketToken{Kind: "workspace", Workspace: "acme", Scopes: []string{"repository"}})

	rep, err := h.f.Inspect(context.Background(), h.cred(t, "acme", tok), forge.AllUses)
	h.noLeak(t, tok, err)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != forge.KindBitbucketWorkspace || rep.Identity != "acme" || rep.IdentityName != "acme" {
		t.Errorf("kind %s identity %q (%q), want the workspace acme", rep.Kind, rep.Identity, rep.IdentityName)
	}
	if d := cmp.Diff([]string{labelHooks, labelPRRead, labelPRs}, rep.Missing(forge.AllUses)); d != "" {
		t.Errorf("missing (-want +got):\n%s", d)
	}
	byUse := map[forge.Use]forge.UseCheck{}
	for _, c := range rep.Checks {
		byUse[c.Use] = c
	}
	if byUse[forge.UseClone].Status != forge.CheckOK {
		t.Errorf("clone: %+v, want ok", byUse[forge.UseClone])
	}
	for _, u := range []forge.Use{forge.UseWebhooks, forge.UsePullRequests} {
		c := byUse[u]
		if c.Status != forge.CheckMissing || !strings.Contains(c.Detail, "Workspace settings > Access tokens") {
			t.Errorf("%s: status %s, detail %q; want missing, saying where to make a new token", u, c.Status, c.Detail)
		}
	}
}

// TestInspectScopeImplications follows Bitbucket's documented implications,
// and shows that a token refused the listing still gets a useful report.
func TestInspectScopeImplications(t *testing.T) {
	cases := []struct {
		scopes []string
		want   map[forge.Use]forge.CheckStatus
	}{
		{[]string{"repository:write"}, map[forge.Use]forge.CheckStatus{forge.UseClone: forge.CheckOK, forge.UseWebhooks: forge.CheckMissing, forge.UsePullRequests: forge.CheckMissing}},
		{[]string{"pullrequest"}, map[forge.Use]forge.CheckStatus{forge.UseClone: forge.CheckOK, forge.UseWebhooks: forge.CheckMissing, forge.UsePullRequests: forge.CheckMissing}},
		{[]string{"pullrequest:write", "webhook"}, map[forge.Use]forge.CheckStatus{forge.UseClone: forge.CheckOK, forge.UseWebhooks: forge.CheckOK, forge.UsePullRequests: forge.CheckOK}},
		{[]string{"repository:admin"}, map[forge.Use]forge.CheckStatus{forge.UseClone: forge.CheckMissing, forge.UseWebhooks: forge.CheckMissing, forge.UsePullRequests: forge.CheckMissing}},
		// A hook subscribed to pull request events needs pullrequest too.
		{[]string{"webhook"}, map[forge.Use]forge.CheckStatus{forge.UseClone: forge.CheckMissing, forge.UseWebhooks: forge.CheckMissing, forge.UsePullRequests: forge.CheckMissing}},
		{[]string{"webhook", "pullrequest"}, map[forge.Use]forge.CheckStatus{forge.UseClone: forge.CheckOK, forge.UseWebhooks: forge.CheckOK, forge.UsePullRequests: forge.CheckMissing}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.scopes, "+"), func(t *testing.T) {
			h := newHarness(t)
			tok := token("imp")
			h.bb.AddToken(tok, forgetest.BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "app", Scopes: tc.scopes})
			rep, err := h.f.Inspect(context.Background(), h.cred(t, "acme", tok), forge.AllUses)
			h.noLeak(t, tok, err)
			if err != nil {
				t.Fatal(err)
			}
			got := map[forge.Use]forge.CheckStatus{}
			for _, c := range rep.Checks {
				got[c.Use] = c.Status
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("checks (-want +got):\n%s", d)
			}
			if rep.Kind != forge.KindBitbucketRepository {
				t.Errorf("kind %s, want the repository kind even when the listing is refused", rep.Kind)
			}
		})
	}
}

func TestInspectTokenRefusedTheListing(t *testing.T) {
	h := newHarness(t)
	tok := token("hooks")
	h.bb.AddToken(tok, forgetest.BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "app", Scopes: []string{"webhook"}})
	rep, err := h.f.Inspect(context.Background(), h.cred(t, "acme", tok), []forge.Use{forge.UseClone})
	if err != nil {
		t.Fatal(err)
	}
	want := "Bitbucket refused to list the repositories of acme (HTTP 403): Your credentials lack one or more required privilege scopes. (required: repository)"
	found := false
	for _, n := range rep.Notes {
		found = found || n == want
	}
	if !found {
		t.Errorf("notes %q lack %q", rep.Notes, want)
	}
	if len(rep.Checks) != 1 || rep.Checks[0].Use != forge.UseClone {
		t.Errorf("checks %+v, want only the clone check asked for", rep.Checks)
	}
}

func TestInspectProjectToken(t *testing.T) {
	h := newHarness(t)
	tok := token("proj")
	h.bb.AddToken(tok, forgetest.BitbucketToken{Kind: "project", Workspace: "acme", Project: "PROJ", Scopes: []string{"repository"}})
	rep, err := h.f.Inspect(context.Background(), h.cred(t, "acme", tok), []forge.Use{forge.UseClone})
	h.noLeak(t, tok, err)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != forge.KindBitbucketProject || rep.Identity != "acme/PROJ" || rep.IdentityName != "Platform" {
		t.Errorf("kind %s identity %q (%q), want project acme/PROJ (Platform)", rep.Kind, rep.Identity, rep.IdentityName)
	}
}

func TestInspectRepositoryTokenInAnotherWorkspace(t *testing.T) {
	h := newHarness(t)
	tok := token("lost")
	h.bb.AddToken(tok, forgetest.BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "app", Scopes: []string{"repository"}})
	_, err := h.f.Inspect(context.Background(), h.cred(t, "other", tok), forge.AllUses)
	h.noLeak(t, tok, err)
	var inv *forge.InvalidInputError
	if !errors.As(err, &inv) || inv.Field != "workspace" {
		t.Fatalf("err = %v, want an InvalidInputError on the workspace", err)
	}
}

func TestInspectRevokedToken(t *testing.T) {
	h := newHarness(t)
	tok := token("revoked")
	h.bb.AddToken(tok, forgetest.BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "app", Scopes: []string{"repository"}})
	h.bb.Revoke(tok)
	_, err := h.f.Inspect(context.Background(), h.cred(t, "acme", tok), forge.AllUses)
	h.noLeak(t, tok, err)
	var ae *forge.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want *forge.AuthError", err)
	}
	want := &forge.AuthError{Provider: forge.Bitbucket, Host: "api.bitbucket.org", Status: 401,
		Message: "Token is invalid, expired, or not supported for this endpoint."}
	if d := cmp.Diff(want, ae); d != "" {
		t.Errorf("AuthError (-want +got):\n%s", d)
	}
}

func TestInspectProviderFailure(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable} {
		h := newHarness(t)
		tok := token("5xx")
		h.bb.AddToken(tok, forgetest.BitbucketToken{Kind: "workspace", Workspace: "acme", Scopes: []string{"repository"}})
		h.bb.FailNext(status, nil)
		_, err := h.f.Inspect(context.Background(), h.cred(t, "acme", tok), forge.AllUses)
		h.noLeak(t, tok, err)
		var pe *forge.ProviderError
		if !errors.As(err, &pe) || pe.Status != status {
			t.Errorf("HTTP %d: err = %v, want *forge.ProviderError with that status", status, err)
		}
	}
}

func TestInspectRateLimited(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	cases := []struct {
		name   string
		header http.Header
		reset  time.Time
	}{
		{"retry-after seconds", http.Header{"Retry-After": {"120"}}, now.Add(2 * time.Minute)},
		{"retry-after date", http.Header{"Retry-After": {"Wed, 04 Mar 2026 06:00:00 GMT"}}, time.Date(2026, 3, 4, 6, 0, 0, 0, time.UTC)},
		// Bitbucket's documented answer names no reset time.
		{"no header", nil, time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.f.now = func() time.Time { return now }
			tok := token("429")
			h.bb.AddToken(tok, forgetest.BitbucketToken{Kind: "workspace", Workspace: "acme", Scopes: []string{"repository"}})
			h.bb.FailNext(http.StatusTooManyRequests, tc.header)
			_, err := h.f.Inspect(context.Background(), h.cred(t, "acme", tok), forge.AllUses)
			h.noLeak(t, tok, err)
			var rl *forge.RateLimitedError
			if !errors.As(err, &rl) {
				t.Fatalf("err = %v, want *forge.RateLimitedError", err)
			}
			if !rl.Reset.Equal(tc.reset) || rl.Message != "Rate limit for this resource has been exceeded." {
				t.Errorf("reset %v message %q, want %v and Bitbucket's message", rl.Reset, rl.Message, tc.reset)
			}
		})
	}
}

// TestInspectNearAndOverTheRateLimit uses the fake's own hourly budget.
func TestInspectNearAndOverTheRateLimit(t *testing.T) {
	h := newHarness(t)
	tok := token("budget")
	h.bb.AddToken(tok, forgetest.BitbucketToken{Kind: "workspace", Workspace: "acme", Scopes: []string{"repository"}, RateLimit: 1})
	rep, err := h.f.Inspect(context.Background(), h.cred(t, "acme", tok), forge.AllUses)
	if err != nil {
		t.Fatal(err)
	}
	want := "Bitbucket reports this token has used more than four fifths of its hourly requests."
	if rep.Notes[len(rep.Notes)-1] != want {
		t.Errorf("notes %q, want the near-limit warning last", rep.Notes)
	}
	_, err = h.f.Inspect(context.Background(), h.cred(t, "acme", tok), forge.AllUses)
	h.noLeak(t, tok, err)
	var rl *forge.RateLimitedError
	if !errors.As(err, &rl) {
		t.Errorf("second inspection: err = %v, want *forge.RateLimitedError", err)
	}
}

func TestInspectUntrustedCertificate(t *testing.T) {
	h := newHarness(t)
	tok := token("tls")
	h.bb.AddToken(tok, forgetest.BitbucketToken{Kind: "workspace", Workspace: "acme", Scopes: []string{"repository"}})
	f := New(h.srv.PolicyWithoutCA(), slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))

	cred := h.cred(t, "acme", tok)
	_, err := f.Inspect(context.Background(), cred, forge.AllUses)
	h.noLeak(t, tok, err)
	var ue *forge.UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want *forge.UnreachableError about the certificate", err)
	}

	// The endpoint's own CA bundle makes the same server trusted.
	cred.Endpoint.CABundle = h.srv.CA.PEM
	if _, err := f.Inspect(context.Background(), cred, forge.AllUses); err != nil {
		t.Errorf("with the CA bundle: %v", err)
	}
}

func TestInspectRefusesBeforeAnyRequest(t *testing.T) {
	tok := token("early")
	cases := []struct {
		name  string
		cred  forge.Credential
		field string
	}{
		{"bad workspace", forge.Credential{Endpoint: forge.Endpoint{Workspace: "acme corp"}, Token: secret.New(tok)}, "workspace"},
		{"no workspace", forge.Credential{Token: secret.New(tok)}, "workspace"},
		{"foreign API URL", forge.Credential{Endpoint: forge.Endpoint{APIURL: "https://bitbucket.example.com/rest/api/1.0", Workspace: "acme"}, Token: secret.New(tok)}, "url"},
		{"empty token", forge.Credential{Endpoint: forge.Endpoint{Workspace: "acme"}}, "value"},
		{"other provider", forge.Credential{Endpoint: forge.Endpoint{Provider: forge.GitHub, Workspace: "acme"}, Token: secret.New(tok)}, "provider"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			_, err := h.f.Inspect(context.Background(), tc.cred, forge.AllUses)
			h.noLeak(t, tok, err)
			var inv *forge.InvalidInputError
			if !errors.As(err, &inv) || inv.Field != tc.field {
				t.Fatalf("err = %v, want an InvalidInputError on %s", err, tc.field)
			}
			if n := len(h.srv.Requests()); n != 0 {
				t.Errorf("%d requests reached the provider", n)
			}
		})
	}
}

func TestResolveEndpoint(t *testing.T) {
	f := New(egress.Policy{}, nil)
	cloud := forge.Endpoint{Provider: forge.Bitbucket, WebURL: "https://bitbucket.org", APIURL: "https://api.bitbucket.org/2.0", Workspace: "acme"}
	for _, raw := range []string{"", "  ", "https://bitbucket.org", "https://bitbucket.org/", "bitbucket.org", "https://www.bitbucket.org",
		"https://api.bitbucket.org", "https://api.bitbucket.org/2.0", "https://api.bitbucket.org/2.0/"} {
		ep, err := f.ResolveEndpoint(raw, "acme")
		if err != nil {
			t.Errorf("%q: %v", raw, err)
			continue
		}
		if d := cmp.Diff(cloud, ep); d != "" {
			t.Errorf("%q (-want +got):\n%s", raw, d)
		}
	}
	if ep, err := f.ResolveEndpoint("", " Kosli-Dev_2 "); err != nil || ep.Workspace != "kosli-dev_2" {
		t.Errorf("workspace normalised to %q (%v), want kosli-dev_2", ep.Workspace, err)
	}

	pasted := token("pasted")
	refused := []struct {
		raw, workspace, field, mentions string
	}{
		{"https://bitbucket.example.com", "acme", "url", "Bitbucket Data Center is not supported yet"},
		{"https://git.example.com/scm/acme/app.git", "acme", "url", "Bitbucket Data Center is not supported yet"},
		{"http://bitbucket.org", "acme", "url", "Bitbucket Cloud only"},
		{"https://bitbucket.org:8443", "acme", "url", "Bitbucket Cloud only"},
		{"https://bitbucket.org/acme", "acme", "url", "workspace separately"},
		{"https://x-token-auth:" + pasted + "@bitbucket.org", "acme", "url", "credentials"},
		{pasted, "acme", "url", "Bitbucket Cloud only"},
		{"", "", "workspace", "workspace is required"},
		{"", "-acme", "workspace", "letters, digits, - and _"},
		{"", "acme corp", "workspace", "letters, digits, - and _"},
		{"", "acme/app", "workspace", "letters, digits, - and _"},
		{"", pasted, "workspace", "letters, digits, - and _"},
		{"", strings.Repeat("a", 101), "workspace", "letters, digits, - and _"},
	}
	for _, tc := range refused {
		_, err := f.ResolveEndpoint(tc.raw, tc.workspace)
		var inv *forge.InvalidInputError
		if !errors.As(err, &inv) || inv.Field != tc.field || !strings.Contains(err.Error(), tc.mentions) {
			t.Errorf("(%q, %q): err = %v, want an InvalidInputError on %s mentioning %q", tc.raw, tc.workspace, err, tc.field, tc.mentions)
		}
		if err != nil && strings.Contains(err.Error(), pasted) {
			t.Errorf("(%q, %q): the error echoes what was typed: %v", tc.raw, tc.workspace, err)
		}
	}
}
