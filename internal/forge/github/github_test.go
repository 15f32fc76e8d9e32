package github

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	gh "github.com/google/go-github/v92/github"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/secret"
)

const (
	classicFull   = "ghp_fullAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	classicPublic = "ghp_publicBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
	fineContents  = "github_pat_11AAAAAAA0contentsOnlyCCCCCCCCCCCCCCCCCCCCC"
	fineHooks     = "github_pat_11AAAAAAA0withHooksDDDDDDDDDDDDDDDDDDDDDDD"
	fineNoRepo    = "github_pat_11AAAAAAA0noRepositoryEEEEEEEEEEEEEEEEEEEE"
	finePublic    = "github_pat_11AAAAAAA0publicOnlyFFFFFFFFFFFFFFFFFFFFFF"
	installation  = "ghs_installationGGGGGGGGGGGGGGGGGGGGGGGGGG"
	legacyClassic = "0123456789abcdef0123456789abcdef01234567"
)

var expiry = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

// env is a fake GitHub (github.com and an Enterprise Server at ghe.test)
// over TLS under a test CA, with every exchange checked against GitHub's
// OpenAPI description.
type env struct {
	fake     *forgetest.GitHub
	srv      *forgetest.Server
	contract *forgetest.GitHubContract
}

func newEnv(t *testing.T) *env {
	t.Helper()
	fake := forgetest.NewGitHub()
	contract := forgetest.GitHubContractValidator(t)
	srv := forgetest.NewServer(t, nil, contract.Wrap(forgetest.ByHost{"api.github.com": fake, "ghe.test": fake}))
	fake.AddRepo(forgetest.GitHubRepo{FullName: "octo/app"})
	fake.AddRepo(forgetest.GitHubRepo{FullName: "octo/site", Public: true})
	exp := expiry
	fake.AddToken(classicFull, forgetest.GitHubToken{Login: "octo", Name: "Octo Cat", Kind: forgetest.GitHubClassic,
		Scopes: []string{"repo", "admin:repo_hook"}, ExpiresAt: &exp, Repos: []string{"octo/app"}})
	fake.AddToken(classicPublic, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubClassic,
		Scopes: []string{"public_repo"}, Repos: []string{"octo/app", "octo/site"}})
	fake.AddToken(legacyClassic, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubClassic,
		Scopes: []string{"repo"}, Repos: []string{"octo/app"}})
	fake.AddToken(fineContents, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubFineGrained, ExpiresAt: &exp,
		FineGrained: map[string]string{"metadata": "read", "contents": "read"}, Repos: []string{"octo/app"}})
	fake.AddToken(fineHooks, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubFineGrained,
		FineGrained: map[string]string{"metadata": "read", "contents": "read", "repository_hooks": "write"}, Repos: []string{"octo/app"}})
	fake.AddToken(fineNoRepo, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubFineGrained,
		FineGrained: map[string]string{"metadata": "read"}})
	fake.AddToken(finePublic, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubFineGrained,
		FineGrained: map[string]string{"metadata": "read"}, Repos: []string{"octo/site"}})
	fake.AddToken(installation, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubApp,
		FineGrained: map[string]string{"metadata": "read", "contents": "read"}, Repos: []string{"octo/app"}})
	return &env{fake: fake, srv: srv, contract: contract}
}

func (e *env) forge() *Forge { return New(e.srv.Policy(), nil) }

func (e *env) inspect(t *testing.T, rawURL, token string, uses ...forge.Use) (forge.Report, error) {
	t.Helper()
	f := e.forge()
	ep, err := f.ResolveEndpoint(rawURL, "")
	if err != nil {
		t.Fatalf("ResolveEndpoint(%q): %v", rawURL, err)
	}
	rep, err := f.Inspect(context.Background(), forge.Credential{Endpoint: ep, Token: secret.New(token)}, uses)
	if err != nil && strings.Contains(err.Error(), token) {
		t.Errorf("the error reveals the token: %v", err)
	}
	// Every request that reached the fake went through the contract.
	if got, want := e.contract.Checked(), len(e.srv.Requests()); got != want {
		t.Errorf("contract validated %d of %d exchanges", got, want)
	}
	return rep, err
}

// ignoreDetail compares checks by verdict; tests assert on Detail where
// its wording is what the user relies on.
var ignoreDetail = cmpopts.IgnoreFields(forge.UseCheck{}, "Detail")

func TestInspectClassicTokenCostsOneRequest(t *testing.T) {
	e := newEnv(t)
	rep, err := e.inspect(t, "", classicFull)
	if err != nil {
		t.Fatal(err)
	}
	exp := expiry
	want := forge.Report{
		Provider: forge.GitHub, Host: "github.com", Kind: forge.KindGitHubClassicPAT,
		Identity: "octo", IdentityName: "Octo Cat", Scopes: []string{"repo", "admin:repo_hook"},
		ExpiresAt: &exp,
		Checks: []forge.UseCheck{
			{Use: forge.UseClone, Status: forge.CheckOK, Needs: []string{"repo"}, Proven: []string{"repo"}},
			{Use: forge.UseWebhooks, Status: forge.CheckOK, Needs: []string{"admin:repo_hook"}, Proven: []string{"admin:repo_hook"}},
			{Use: forge.UsePullRequests, Status: forge.CheckOK, Needs: []string{"repo"}, Proven: []string{"repo"}},
		},
		RateLimit: &forge.RateLimit{Limit: 5000, Remaining: 4999, Reset: e.fake.RateLimitReset().UTC()},
		Requests:  1,
	}
	if diff := cmp.Diff(want, rep, ignoreDetail); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if n := e.fake.Requests(classicFull); n != 1 {
		t.Errorf("GitHub saw %d requests, want exactly 1", n)
	}
	req := e.srv.Requests()[0]
	if req.URL.Path != "/user" || req.Header.Get("Authorization") != "Bearer "+classicFull {
		t.Errorf("request %s with Authorization %q; want GET /user with a Bearer token", req.URL.Path, req.Header.Get("Authorization"))
	}
	if strings.Contains(req.URL.String(), classicFull) {
		t.Errorf("the token is in the URL %s", req.URL)
	}
}

func TestInspectClassicPublicRepoScope(t *testing.T) {
	e := newEnv(t)
	rep, err := e.inspect(t, "https://github.com", classicPublic)
	if err != nil {
		t.Fatal(err)
	}
	want := []forge.UseCheck{
		{Use: forge.UseClone, Status: forge.CheckMissing, Needs: []string{"repo"}, Missing: []string{"repo"}},
		{Use: forge.UseWebhooks, Status: forge.CheckMissing, Needs: []string{"admin:repo_hook"}, Missing: []string{"admin:repo_hook"}},
		{Use: forge.UsePullRequests, Status: forge.CheckMissing, Needs: []string{"repo"}, Missing: []string{"repo"}},
	}
	if diff := cmp.Diff(want, rep.Checks, ignoreDetail); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	if !strings.Contains(rep.Checks[0].Detail, "public_repo reaches public repositories only") {
		t.Errorf("clone detail %q does not explain that public_repo misses private repositories", rep.Checks[0].Detail)
	}
	if rep.ExpiresAt != nil {
		t.Errorf("a token without expiry got ExpiresAt %v", rep.ExpiresAt)
	}
	if diff := cmp.Diff([]string{"repo", "admin:repo_hook"}, rep.Missing(forge.AllUses)); diff != "" {
		t.Errorf("Missing (-want +got):\n%s", diff)
	}
}

func TestInspectLegacyTokenWithScopesIsClassic(t *testing.T) {
	e := newEnv(t)
	rep, err := e.inspect(t, "", legacyClassic, forge.UseClone)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != forge.KindGitHubClassicPAT || rep.Requests != 1 || rep.Checks[0].Status != forge.CheckOK {
		t.Errorf("legacy token: kind %s, %d requests, clone %s", rep.Kind, rep.Requests, rep.Checks[0].Status)
	}
}

func TestScopeChecks(t *testing.T) {
	cases := []struct {
		scopes []string
		want   map[forge.Use]forge.CheckStatus
		detail string // in the webhooks check
	}{
		{[]string{"repo"}, map[forge.Use]forge.CheckStatus{forge.UseClone: forge.CheckOK, forge.UseWebhooks: forge.CheckOK, forge.UsePullRequests: forge.CheckOK}, "repo includes repository webhooks"},
		{[]string{"write:repo_hook", "repo:status"}, map[forge.Use]forge.CheckStatus{forge.UseClone: forge.CheckMissing, forge.UseWebhooks: forge.CheckMissing, forge.UsePullRequests: forge.CheckMissing}, "cannot delete them"},
		{[]string{"read:repo_hook"}, map[forge.Use]forge.CheckStatus{forge.UseWebhooks: forge.CheckMissing}, "only reads webhooks"},
		{[]string{"admin:repo_hook"}, map[forge.Use]forge.CheckStatus{forge.UseClone: forge.CheckMissing, forge.UseWebhooks: forge.CheckOK}, "admin of each repository"},
		{[]string{}, map[forge.Use]forge.CheckStatus{forge.UseWebhooks: forge.CheckMissing}, "needs admin:repo_hook"},
	}
	for _, c := range cases {
		got := map[forge.Use]forge.CheckStatus{}
		detail := ""
		for _, ch := range scopeChecks(c.scopes, forge.AllUses) {
			if _, ok := c.want[ch.Use]; ok {
				got[ch.Use] = ch.Status
			}
			if ch.Use == forge.UseWebhooks {
				detail = ch.Detail
			}
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("scopes %v (-want +got):\n%s", c.scopes, diff)
		}
		if !strings.Contains(detail, c.detail) {
			t.Errorf("scopes %v: webhooks detail %q lacks %q", c.scopes, detail, c.detail)
		}
	}
}

func TestInspectFineGrainedProvesWhatItCan(t *testing.T) {
	e := newEnv(t)
	rep, err := e.inspect(t, "", fineContents)
	if err != nil {
		t.Fatal(err)
	}
	want := []forge.UseCheck{
		{Use: forge.UseClone, Status: forge.CheckOK, Needs: []string{"Contents: Read-only"}, Proven: []string{"Contents: Read-only"}},
		{Use: forge.UseWebhooks, Status: forge.CheckMissing, Needs: []string{"Webhooks: Read and write"}, Missing: []string{"Webhooks: Read and write"}},
		{Use: forge.UsePullRequests, Status: forge.CheckUnknown, Needs: []string{"Pull requests: Read and write"}, Unknown: []string{"Pull requests: Read and write"}},
	}
	if diff := cmp.Diff(want, rep.Checks, ignoreDetail); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	// The 403's X-Accepted-GitHub-Permissions is named in GitHub's words.
	if d := rep.Checks[1].Detail; !strings.Contains(d, "that needs Webhooks: Read-only") || !strings.Contains(d, "octo/app") {
		t.Errorf("webhooks detail %q should name the repository and the permission GitHub asked for", d)
	}
	if rep.Kind != forge.KindGitHubFineGrainedPAT || rep.Identity != "octo" {
		t.Errorf("kind %s identity %q", rep.Kind, rep.Identity)
	}
	if rep.ExpiresAt == nil || !rep.ExpiresAt.Equal(expiry) {
		t.Errorf("ExpiresAt = %v, want %v", rep.ExpiresAt, expiry)
	}
	if diff := cmp.Diff([]string{"Contents: Read-only"}, rep.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
	if !strings.Contains(strings.Join(rep.Notes, " "), "does not reveal the permissions") {
		t.Errorf("notes %q should say GitHub hides fine-grained permissions", rep.Notes)
	}
	// /user, /user/repos, the root directory, the hook list.
	if rep.Requests != 4 || e.fake.Requests(fineContents) != 4 {
		t.Errorf("requests: report %d, GitHub saw %d; want 4", rep.Requests, e.fake.Requests(fineContents))
	}
}

func TestInspectFineGrainedWebhooksReadProvenWriteUnknown(t *testing.T) {
	e := newEnv(t)
	rep, err := e.inspect(t, "", fineHooks, forge.UseWebhooks)
	if err != nil {
		t.Fatal(err)
	}
	want := []forge.UseCheck{{Use: forge.UseWebhooks, Status: forge.CheckUnknown, Needs: []string{"Webhooks: Read and write"},
		Proven: []string{"Webhooks: Read-only"}, Unknown: []string{"Webhooks: Read and write"}}}
	if diff := cmp.Diff(want, rep.Checks, ignoreDetail); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	// Only the probes the asked-for use needs: no contents read.
	for _, r := range e.srv.Requests() {
		if strings.Contains(r.URL.Path, "/contents") {
			t.Errorf("probed %s though only webhooks were asked for", r.URL.Path)
		}
	}
}

func TestInspectFineGrainedWithoutUsefulRepository(t *testing.T) {
	e := newEnv(t)
	rep, err := e.inspect(t, "", fineNoRepo, forge.UseClone)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checks[0].Status != forge.CheckUnknown || !strings.Contains(strings.Join(rep.Notes, " "), "lists no repository") {
		t.Errorf("no repository: clone %s, notes %q", rep.Checks[0].Status, rep.Notes)
	}

	rep, err = e.inspect(t, "", finePublic, forge.UseClone)
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Checks[0]; c.Status != forge.CheckUnknown || !strings.Contains(c.Detail, "public repository octo/site") {
		t.Errorf("public repository only: clone %s %q; reading a public repository proves nothing", c.Status, c.Detail)
	}
}

func TestInspectInstallationToken(t *testing.T) {
	e := newEnv(t)
	rep, err := e.inspect(t, "", installation, forge.UseClone)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != forge.KindGitHubApp || rep.Identity != "octo" || rep.Checks[0].Status != forge.CheckOK {
		t.Errorf("kind %s identity %q clone %s", rep.Kind, rep.Identity, rep.Checks[0].Status)
	}
	if !strings.Contains(strings.Join(rep.Notes, " "), "expire one hour after") {
		t.Errorf("notes %q should warn that the token expires within the hour", rep.Notes)
	}
	for _, r := range e.srv.Requests() {
		if r.URL.Path == "/user" {
			t.Error("asked GET /user, which GitHub refuses to installation tokens")
		}
	}
}

func TestInspectEnterpriseServer(t *testing.T) {
	e := newEnv(t)
	for _, raw := range []string{"https://ghe.test", "https://ghe.test/api/v3/"} {
		ep, err := e.forge().ResolveEndpoint(raw, "")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(forge.Endpoint{Provider: forge.GitHub, WebURL: "https://ghe.test", APIURL: "https://ghe.test/api/v3"}, ep); diff != "" {
			t.Errorf("ResolveEndpoint(%q) (-want +got):\n%s", raw, diff)
		}
	}
	rep, err := e.inspect(t, "https://ghe.test", classicFull)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Host != "ghe.test" || rep.Identity != "octo" || rep.Requests != 1 {
		t.Errorf("host %q identity %q requests %d", rep.Host, rep.Identity, rep.Requests)
	}
	if r := e.srv.Requests()[0]; r.Host != "ghe.test" || r.URL.Path != "/api/v3/user" {
		t.Errorf("asked %s%s, want ghe.test/api/v3/user", r.Host, r.URL.Path)
	}
}

func TestInspectErrors(t *testing.T) {
	e := newEnv(t)

	_, err := e.inspect(t, "", "ghp_notARealTokenHHHHHHHHHHHHHHHHHHHHHHHHHH")
	var auth *forge.AuthError
	if !errors.As(err, &auth) || auth.Status != 401 || auth.Message != "Bad credentials" || auth.Host != "github.com" {
		t.Errorf("unknown token: %#v", err)
	}

	e.fake.Revoke(classicPublic)
	if _, err := e.inspect(t, "", classicPublic); !errors.As(err, &auth) {
		t.Errorf("revoked token: %v, want *forge.AuthError", err)
	}

	e.fake.FailNext(http.StatusBadGateway, nil)
	_, err = e.inspect(t, "", classicFull)
	var perr *forge.ProviderError
	if !errors.As(err, &perr) || perr.Status != http.StatusBadGateway {
		t.Errorf("502: %v, want *forge.ProviderError", err)
	}

	reset := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	e.fake.FailNext(http.StatusForbidden, http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {strconv.FormatInt(reset.Unix(), 10)}})
	_, err = e.inspect(t, "", classicFull)
	var rl *forge.RateLimitedError
	if !errors.As(err, &rl) || !rl.Reset.Equal(reset) {
		t.Errorf("primary rate limit: %v, want *forge.RateLimitedError until %v", err, reset)
	}

	before := time.Now()
	e.fake.FailNext(http.StatusTooManyRequests, http.Header{"Retry-After": {"120"}})
	_, err = e.inspect(t, "", classicFull)
	after := time.Now()
	if !errors.As(err, &rl) || rl.Reset.Before(before.Add(119*time.Second)) || rl.Reset.After(after.Add(121*time.Second)) {
		t.Errorf("secondary rate limit: %v, want *forge.RateLimitedError about 120s ahead", err)
	}

	// A probe failing for a reason other than permissions aborts too.
	e.fake.FailNextOn("/repos/octo/app/contents", http.StatusInternalServerError, nil)
	if _, err := e.inspect(t, "", fineContents); !errors.As(err, &perr) || perr.Status != 500 {
		t.Errorf("5xx during a probe: %v, want *forge.ProviderError", err)
	}
}

func TestInspectRefusesBadTokenValues(t *testing.T) {
	f := New(egress.Policy{}, nil)
	ep, err := f.ResolveEndpoint("", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"", "ghp_with space", "ghp_abc\r\nX-Evil: 1", "ghp_tab\there"} {
		_, err := f.Inspect(context.Background(), forge.Credential{Endpoint: ep, Token: secret.New(tok)}, nil)
		var inv *forge.InvalidInputError
		if !errors.As(err, &inv) || inv.Field != "token" {
			t.Errorf("token %q: %v, want *forge.InvalidInputError for token", tok, err)
		}
		if tok != "" && strings.Contains(err.Error(), tok) {
			t.Errorf("error reveals the value: %v", err)
		}
	}
}

func TestInspectTLS(t *testing.T) {
	e := newEnv(t)
	f := New(e.srv.PolicyWithoutCA(), nil)
	ep, err := f.ResolveEndpoint("https://ghe.test", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Inspect(context.Background(), forge.Credential{Endpoint: ep, Token: secret.New(classicFull)}, nil)
	var un *forge.UnreachableError
	if !errors.As(err, &un) || !strings.Contains(un.Reason, "certificate") || un.Host != "ghe.test" {
		t.Fatalf("untrusted CA: %v, want *forge.UnreachableError about the certificate", err)
	}
	if strings.Contains(err.Error(), classicFull) {
		t.Errorf("error reveals the token: %v", err)
	}

	ep.CABundle = e.srv.CA.PEM
	rep, err := f.Inspect(context.Background(), forge.Credential{Endpoint: ep, Token: secret.New(classicFull)}, nil)
	if err != nil || rep.Identity != "octo" {
		t.Errorf("with the endpoint's CA bundle: %+v, %v", rep, err)
	}

	ep.CABundle = []byte("not a certificate")
	_, err = f.Inspect(context.Background(), forge.Credential{Endpoint: ep, Token: secret.New(classicFull)}, nil)
	var inv *forge.InvalidInputError
	if !errors.As(err, &inv) || inv.Field != "ca_bundle" {
		t.Errorf("bad CA bundle: %v, want *forge.InvalidInputError for ca_bundle", err)
	}
}

func TestResolveEndpoint(t *testing.T) {
	f := New(egress.Policy{}, nil)
	cloud := forge.Endpoint{Provider: forge.GitHub, WebURL: "https://github.com", APIURL: "https://api.github.com"}
	ok := []struct {
		raw  string
		want forge.Endpoint
	}{
		{"", cloud},
		{"  https://github.com/ ", cloud},
		{"HTTPS://GitHub.com", cloud},
		{"https://api.github.com", cloud},
		{"https://ghe.example.com:8443/api/v3/", forge.Endpoint{Provider: forge.GitHub, WebURL: "https://ghe.example.com:8443", APIURL: "https://ghe.example.com:8443/api/v3"}},
		{"https://Octo.ghe.com", forge.Endpoint{Provider: forge.GitHub, WebURL: "https://octo.ghe.com", APIURL: "https://api.octo.ghe.com"}},
	}
	for _, c := range ok {
		got, err := f.ResolveEndpoint(c.raw, "")
		if err != nil {
			t.Errorf("ResolveEndpoint(%q): %v", c.raw, err)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("ResolveEndpoint(%q) (-want +got):\n%s", c.raw, diff)
		}
	}
	bad := []struct{ raw, workspace, field, says string }{
		{"https://octo:hunter2@ghe.example.com", "", "url", "credentials"},
		{"https://ghe.example.com/?x=1", "", "url", "query"},
		{"https://ghe.example.com/#top", "", "url", "fragment"},
		{"https://ghe.example.com/octo/app", "", "url", "path"},
		{"https://github.com/octo", "", "url", "without a path"},
		{"ftp://ghe.example.com", "", "url", "http(s)"},
		{"ghe.example.com", "", "url", "http(s)"},
		{"http://ghe.example.com", "", "url", "--allow-insecure-http"},
		{"https://169.254.169.254", "", "url", "metadata"},
		{"", "octo", "workspace", "no workspaces"},
	}
	for _, c := range bad {
		_, err := f.ResolveEndpoint(c.raw, c.workspace)
		var inv *forge.InvalidInputError
		if !errors.As(err, &inv) || inv.Field != c.field || !strings.Contains(err.Error(), c.says) {
			t.Errorf("ResolveEndpoint(%q, %q) = %v; want *forge.InvalidInputError on %s saying %q", c.raw, c.workspace, err, c.field, c.says)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error reveals the password: %v", err)
		}
	}

	insecure := New(egress.Policy{AllowInsecureHTTP: true}, nil)
	got, err := insecure.ResolveEndpoint("http://ghe.example.com", "")
	if err != nil || got.APIURL != "http://ghe.example.com/api/v3" {
		t.Errorf("http with --allow-insecure-http: %+v, %v", got, err)
	}
}

func TestParseExpiry(t *testing.T) {
	for v, want := range map[string]time.Time{
		"2021-10-07 19:07:53 UTC":   time.Date(2021, 10, 7, 19, 7, 53, 0, time.UTC),
		"2023-01-31 23:00:00 +0100": time.Date(2023, 1, 31, 22, 0, 0, 0, time.UTC),
	} {
		got, ok := parseExpiry(v)
		if !ok || !got.Equal(want) {
			t.Errorf("parseExpiry(%q) = %v, %v; want %v", v, got, ok, want)
		}
	}
	if _, ok := parseExpiry("next Tuesday"); ok {
		t.Error("parseExpiry accepted nonsense")
	}
}

func TestDescribeAccepted(t *testing.T) {
	got := describeAccepted("repository_hooks=read; contents=write,pull_requests=write; organization_projects=admin")
	want := "Webhooks: Read-only or Contents: Read and write and Pull requests: Read and write or organization_projects: Admin"
	if got != want {
		t.Errorf("describeAccepted = %q, want %q", got, want)
	}
}

// A server that echoes the token in its message must not get it into an
// error.
func TestErrorsRedactAnEchoedToken(t *testing.T) {
	tok := "ghp_echoedIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIII"
	in := &inspection{conn: &conn{host: "github.com", apiHost: "api.github.com", token: secret.New(tok)}}
	resp := &http.Response{StatusCode: 401, Header: http.Header{}, Request: &http.Request{Method: "GET"}}
	err := in.errorFor(&gh.Response{Response: resp}, &gh.ErrorResponse{Response: resp, Message: "token " + tok + " is revoked"})
	var auth *forge.AuthError
	if !errors.As(err, &auth) || strings.Contains(err.Error(), tok) || !strings.Contains(err.Error(), "[REDACTED]") {
		t.Errorf("error = %v", err)
	}
}

// The token goes to the API host only: a redirect elsewhere must not carry
// it (go-github's own WithAuthToken would add it to any host).
func TestAuthorizationOnlyToTheAPIHost(t *testing.T) {
	var seen []string
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = append(seen, r.URL.Host+"="+r.Header.Get("Authorization"))
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	})
	tr := &authTransport{next: next, scheme: "https", host: "ghe.test", token: secret.New("ghp_secretJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJ")}
	for _, u := range []string{"https://ghe.test/api/v3/user", "https://elsewhere.test/steal", "http://ghe.test/api/v3/user"} {
		req, err := http.NewRequest("GET", u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"ghe.test=Bearer ghp_secretJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJ", "elsewhere.test=", "ghe.test="}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("Authorization per request (-want +got):\n%s", diff)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestInspectRefusesUnknownUse(t *testing.T) {
	e := newEnv(t)
	_, err := e.inspect(t, "", classicFull, forge.Use("deploy"))
	var inv *forge.InvalidInputError
	if !errors.As(err, &inv) || inv.Field != "use" {
		t.Errorf("unknown use: %v, want *forge.InvalidInputError", err)
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("%d requests made for an invalid use", n)
	}
}
