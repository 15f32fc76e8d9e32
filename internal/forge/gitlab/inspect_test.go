package gitlab

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// Token values look like GitLab's so a leak would be recognisable.
const (
	tokPersonal = "glpat-Personal0000000000001"
	tokRepoOnly = "glpat-RepoOnly0000000000002"
	tokProject  = "glpat-ProjectDev00000000003"
	tokGroup    = "glpat-GroupMaint0000000004"
	tokGuest    = "glpat-GroupGuest0000000005"
	tokExpired  = "glpat-Expired000000000006"
	tokRevoked  = "glpat-Revoked000000000007"
	tokUnknown  = "glpat-NeverIssued00000008"
)

var allTokens = []string{tokPersonal, tokRepoOnly, tokProject, tokGroup, tokGuest, tokExpired, tokRevoked, tokUnknown}

// fixedNow is the adapter's clock in tests, for Retry-After arithmetic.
var fixedNow = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	gl  *forgetest.GitLab
	srv *forgetest.Server
	f   *Forge
}

// newForge is the adapter under policy, logging at debug level into a
// buffer that must never hold a token.
func newForge(t *testing.T, policy egress.Policy) *Forge {
	t.Helper()
	logs := &forgetest.LogBuffer{}
	f := New(policy, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	f.now = func() time.Time { return fixedNow }
	t.Cleanup(func() {
		for _, tok := range allTokens {
			if strings.Contains(logs.String(), tok) {
				t.Errorf("a log line holds token %s:\n%s", tok, logs)
			}
		}
	})
	return f
}

// newEnv serves one fake GitLab as gitlab.com and gitlab.test, with the
// tokens every test uses.
func newEnv(t *testing.T) *env {
	t.Helper()
	gl := forgetest.NewGitLab()
	gl.AddToken(tokPersonal, forgetest.GitLabToken{Username: "alice", Name: "Alice Liddell",
		Scopes: []string{"api", "read_repository"}, ExpiresAt: "2099-03-01", AccessLevel: 30, Projects: []string{"acme/web"}})
	gl.AddToken(tokRepoOnly, forgetest.GitLabToken{Username: "bob", Scopes: []string{"read_repository"},
		AccessLevel: 30, Projects: []string{"acme/web"}})
	gl.AddToken(tokProject, forgetest.GitLabToken{Kind: "project", Name: "deployer", Scopes: []string{"api"},
		AccessLevel: 30, Projects: []string{"acme/web"}})
	gl.AddToken(tokGroup, forgetest.GitLabToken{Kind: "group", Scopes: []string{"api"},
		AccessLevel: 40, Projects: []string{"acme/web", "acme/api"}})
	gl.AddToken(tokGuest, forgetest.GitLabToken{Kind: "group", Scopes: []string{"read_api"},
		AccessLevel: 10, Projects: []string{"guests/site"}})
	gl.AddToken(tokExpired, forgetest.GitLabToken{Username: "carol", Scopes: []string{"api"}, ExpiresAt: "2020-01-01"})
	gl.AddToken(tokRevoked, forgetest.GitLabToken{Username: "dave", Scopes: []string{"api"}})
	gl.Revoke(tokRevoked)
	srv := forgetest.NewServer(t, nil, forgetest.ByHost{"gitlab.com": gl, "gitlab.test": gl})
	return &env{gl: gl, srv: srv, f: newForge(t, srv.Policy())}
}

func cloud() forge.Endpoint {
	return forge.Endpoint{Provider: forge.GitLab, WebURL: "https://gitlab.com", APIURL: "https://gitlab.com/api/v4"}
}

func inspect(t *testing.T, f *Forge, ep forge.Endpoint, token string, uses ...forge.Use) (forge.Report, error) {
	t.Helper()
	rep, err := f.Inspect(t.Context(), forge.Credential{Endpoint: ep, Token: secret.New(token)}, uses)
	if err != nil {
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			for _, tok := range allTokens {
				if strings.Contains(s, tok) {
					t.Errorf("the error holds token %s: %s", tok, s)
				}
			}
		}
	}
	return rep, err
}

func date(y int, m time.Month, d int) *time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return &t
}

var ignoreDetail = cmpopts.IgnoreFields(forge.UseCheck{}, "Detail")

func TestInspectPersonalToken(t *testing.T) {
	e := newEnv(t)
	rep, err := inspect(t, e.f, cloud(), tokPersonal)
	if err != nil {
		t.Fatal(err)
	}
	want := forge.Report{
		Provider: forge.GitLab, Host: "gitlab.com", Kind: forge.KindGitLabPersonal,
		Identity: "alice", IdentityName: "Alice Liddell", Scopes: []string{"api", "read_repository"},
		// GitLab refuses the token from 00:00 UTC on its expiry date.
		ExpiresAt: date(2099, 3, 1),
		Checks: []forge.UseCheck{
			{Use: forge.UseClone, Status: forge.CheckOK, Needs: []string{"read_repository"}, Proven: []string{"read_repository"}},
			{Use: forge.UseWebhooks, Status: forge.CheckUnknown, Needs: []string{"api", "Maintainer role"},
				Proven: []string{"api"}, Unknown: []string{"Maintainer role"}},
			{Use: forge.UsePullRequests, Status: forge.CheckOK, Needs: []string{"read_api"}, Proven: []string{"read_api"}},
		},
		Requests: 2,
	}
	if diff := cmp.Diff(want, rep, ignoreDetail); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if d := rep.Checks[1].Detail; !strings.Contains(d, "per project") {
		t.Errorf("webhooks detail %q should say the role is checked per project", d)
	}
	// The budget is two requests, as GitLab counted them too.
	if got := e.gl.Requests(tokPersonal); got != 2 {
		t.Errorf("GitLab saw %d requests, want 2", got)
	}
	for _, r := range e.srv.Requests() {
		if r.Header.Get("PRIVATE-TOKEN") != tokPersonal {
			t.Errorf("%s %s: token not in PRIVATE-TOKEN", r.Method, r.URL)
		}
		if strings.Contains(r.URL.String(), tokPersonal) {
			t.Errorf("token in URL %s", r.URL)
		}
	}
}

func TestInspectReadRepositoryOnly(t *testing.T) {
	e := newEnv(t)
	rep, err := inspect(t, e.f, cloud(), tokRepoOnly)
	if err != nil {
		t.Fatalf("a read_repository token is valid; GitLab only refuses it GET /user: %v", err)
	}
	want := forge.Report{
		Provider: forge.GitLab, Host: "gitlab.com", Kind: forge.KindUnknown, Scopes: []string{"read_repository"},
		Checks: []forge.UseCheck{
			{Use: forge.UseClone, Status: forge.CheckOK, Needs: []string{"read_repository"}, Proven: []string{"read_repository"}},
			{Use: forge.UseWebhooks, Status: forge.CheckMissing, Needs: []string{"api", "Maintainer role"},
				Missing: []string{"api"}, Unknown: []string{"Maintainer role"}},
			{Use: forge.UsePullRequests, Status: forge.CheckMissing, Needs: []string{"read_api"}, Missing: []string{"read_api"}},
		},
		Requests: 2,
	}
	if diff := cmp.Diff(want, rep, ignoreDetail, cmpopts.IgnoreFields(forge.Report{}, "Notes")); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "read_user") {
		t.Errorf("notes %q should say why the username is unknown", rep.Notes)
	}
	if diff := cmp.Diff([]string{"api", "read_api"}, rep.Missing(forge.AllUses)); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}
}

func TestInspectResourceTokens(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, token string
		kind        forge.TokenKind
		botPrefix   string
		role        string
		checks      []forge.UseCheck
	}{
		{
			name: "project token, Developer", token: tokProject, kind: forge.KindGitLabProject, botPrefix: "project_", role: "Developer",
			checks: []forge.UseCheck{
				{Use: forge.UseClone, Status: forge.CheckOK, Needs: []string{"read_repository", "Reporter role"}, Proven: []string{"read_repository", "Reporter role"}},
				{Use: forge.UseWebhooks, Status: forge.CheckMissing, Needs: []string{"api", "Maintainer role"},
					Proven: []string{"api"}, Missing: []string{"Maintainer role"}},
				{Use: forge.UsePullRequests, Status: forge.CheckOK, Needs: []string{"read_api", "Reporter role"}, Proven: []string{"read_api", "Reporter role"}},
			},
		},
		{
			name: "group token, Maintainer", token: tokGroup, kind: forge.KindGitLabGroup, botPrefix: "group_", role: "Maintainer",
			checks: []forge.UseCheck{
				{Use: forge.UseClone, Status: forge.CheckOK, Needs: []string{"read_repository", "Reporter role"}, Proven: []string{"read_repository", "Reporter role"}},
				{Use: forge.UseWebhooks, Status: forge.CheckOK, Needs: []string{"api", "Maintainer role"}, Proven: []string{"api", "Maintainer role"}},
				{Use: forge.UsePullRequests, Status: forge.CheckOK, Needs: []string{"read_api", "Reporter role"}, Proven: []string{"read_api", "Reporter role"}},
			},
		},
		{
			name: "group token, Guest with read_api", token: tokGuest, kind: forge.KindGitLabGroup, botPrefix: "group_", role: "Guest",
			checks: []forge.UseCheck{
				{Use: forge.UseClone, Status: forge.CheckMissing, Needs: []string{"read_repository", "Reporter role"},
					Proven: []string{"read_repository"}, Missing: []string{"Reporter role"}},
				{Use: forge.UseWebhooks, Status: forge.CheckMissing, Needs: []string{"api", "Maintainer role"}, Missing: []string{"api", "Maintainer role"}},
				{Use: forge.UsePullRequests, Status: forge.CheckMissing, Needs: []string{"read_api", "Reporter role"},
					Proven: []string{"read_api"}, Missing: []string{"Reporter role"}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := inspect(t, e.f, cloud(), tc.token)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Kind != tc.kind || rep.Role != tc.role || !strings.HasPrefix(rep.Identity, tc.botPrefix) {
				t.Errorf("kind %s, role %q, identity %q; want %s, %q, %s...", rep.Kind, rep.Role, rep.Identity, tc.kind, tc.role, tc.botPrefix)
			}
			if diff := cmp.Diff(tc.checks, rep.Checks, ignoreDetail); diff != "" {
				t.Errorf("checks (-want +got):\n%s", diff)
			}
			// self, user, associations.
			if rep.Requests != 3 || e.gl.Requests(tc.token) != 3 {
				t.Errorf("requests: report %d, GitLab %d; want 3", rep.Requests, e.gl.Requests(tc.token))
			}
		})
	}
}

func TestInspectOnlyRequestedUses(t *testing.T) {
	e := newEnv(t)
	rep, err := inspect(t, e.f, cloud(), tokProject, forge.UseWebhooks)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Checks) != 1 || rep.Checks[0].Use != forge.UseWebhooks {
		t.Errorf("checks %+v, want webhooks only", rep.Checks)
	}
	if !strings.Contains(rep.Checks[0].Detail, "Maintainer") {
		t.Errorf("detail %q should name the Maintainer role", rep.Checks[0].Detail)
	}
}

func TestInspectRefusedTokens(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, token, says string
	}{
		{"expired", tokExpired, "Token is expired"},
		{"revoked", tokRevoked, "Token was revoked"},
		{"unknown", tokUnknown, "401 Unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := inspect(t, e.f, cloud(), tc.token)
			var ae *forge.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want *forge.AuthError", err)
			}
			if ae.Status != http.StatusUnauthorized || !strings.Contains(ae.Message, tc.says) {
				t.Errorf("AuthError %d %q, want 401 saying %q", ae.Status, ae.Message, tc.says)
			}
			if e.gl.Requests(tc.token) != 1 {
				t.Errorf("GitLab saw %d requests, want 1: a refused token stops the test", e.gl.Requests(tc.token))
			}
		})
	}
}

func TestInspectEmptyToken(t *testing.T) {
	_, err := newEnv(t).f.Inspect(t.Context(), forge.Credential{Endpoint: cloud()}, nil)
	var ie *forge.InvalidInputError
	if !errors.As(err, &ie) || ie.Field != "token" {
		t.Errorf("err = %v, want InvalidInputError on token", err)
	}
}

func TestInspectProviderFailures(t *testing.T) {
	t.Run("5xx", func(t *testing.T) {
		e := newEnv(t)
		e.gl.FailNext(http.StatusServiceUnavailable, nil)
		_, err := inspect(t, e.f, cloud(), tokPersonal)
		var pe *forge.ProviderError
		if !errors.As(err, &pe) || pe.Status != 503 {
			t.Fatalf("err = %v, want ProviderError 503", err)
		}
		if e.gl.Requests(tokPersonal) != 1 {
			t.Errorf("GitLab saw %d requests, want 1 (no retries)", e.gl.Requests(tokPersonal))
		}
	})
	t.Run("429 with RateLimit-Reset", func(t *testing.T) {
		e := newEnv(t)
		// A reset in the past keeps a client that waits for it from hanging
		// here: it would retry at once and fail the count below.
		reset := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		e.gl.FailNext(http.StatusTooManyRequests, http.Header{
			"Ratelimit-Reset": {fmt.Sprint(reset.Unix())}, "Ratelimit-Remaining": {"0"}, "Retry-After": {"60"}})
		_, err := inspect(t, e.f, cloud(), tokPersonal)
		var re *forge.RateLimitedError
		if !errors.As(err, &re) {
			t.Fatalf("err = %v, want RateLimitedError", err)
		}
		if !re.Reset.Equal(reset) || !strings.Contains(re.Message, "Retry later") {
			t.Errorf("reset %v message %q; want %v, GitLab's words", re.Reset, re.Message, reset)
		}
		if n := e.gl.Requests(tokPersonal); n != 1 {
			t.Errorf("GitLab saw %d requests, want 1: a 429 is reported, not waited out", n)
		}
	})
	t.Run("429 with Retry-After only", func(t *testing.T) {
		e := newEnv(t)
		e.gl.FailNext(http.StatusTooManyRequests, http.Header{"Retry-After": {"30"}})
		_, err := inspect(t, e.f, cloud(), tokPersonal)
		var re *forge.RateLimitedError
		if !errors.As(err, &re) || !re.Reset.Equal(fixedNow.Add(30*time.Second)) {
			t.Fatalf("err = %v, want RateLimitedError until now+30s", err)
		}
	})
	t.Run("not GitLab", func(t *testing.T) {
		html := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>welcome</html>")
		})
		srv := forgetest.NewServer(t, nil, forgetest.ByHost{"gitlab.test": html})
		_, err := inspect(t, newForge(t, srv.Policy()), forge.Endpoint{APIURL: "https://gitlab.test/api/v4"}, tokPersonal)
		var pe *forge.ProviderError
		if !errors.As(err, &pe) || pe.Status != 0 || !strings.Contains(pe.Error(), "GitLab's address") {
			t.Fatalf("err = %v, want ProviderError saying the answer is not GitLab's", err)
		}
	})
}

func TestInspectReportsRateLimit(t *testing.T) {
	e := newEnv(t)
	reset := time.Date(2030, 6, 1, 12, 1, 0, 0, time.UTC)
	e.gl.SetRateLimit(2000, 1998, reset)
	rep, err := inspect(t, e.f, cloud(), tokPersonal)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&forge.RateLimit{Limit: 2000, Remaining: 1998, Reset: reset}, rep.RateLimit); diff != "" {
		t.Errorf("rate limit (-want +got):\n%s", diff)
	}
}

func TestInspectSelfManagedRelativeRoot(t *testing.T) {
	gl := forgetest.NewGitLab()
	gl.SetRelativeRoot("/gitlab")
	gl.AddToken(tokPersonal, forgetest.GitLabToken{Username: "alice", Scopes: []string{"api"}})
	srv := forgetest.NewServer(t, nil, forgetest.ByHost{"gitlab.test": gl})
	f := newForge(t, srv.Policy())

	ep, err := f.ResolveEndpoint("https://gitlab.test/gitlab/", "")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := inspect(t, f, ep, tokPersonal)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Host != "gitlab.test" || rep.Identity != "alice" {
		t.Errorf("host %q identity %q", rep.Host, rep.Identity)
	}

	// Without the relative root GitLab is not found, and the error says so.
	ep, err = f.ResolveEndpoint("https://gitlab.test", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = inspect(t, f, ep, tokPersonal)
	var pe *forge.ProviderError
	if !errors.As(err, &pe) || pe.Status != 404 || !strings.Contains(pe.Message, "relative root") {
		t.Errorf("err = %v, want ProviderError 404 pointing at the URL", err)
	}
}

func TestInspectCustomCA(t *testing.T) {
	e := newEnv(t)
	f := newForge(t, e.srv.PolicyWithoutCA())
	ep := forge.Endpoint{Provider: forge.GitLab, WebURL: "https://gitlab.test", APIURL: "https://gitlab.test/api/v4"}

	_, err := inspect(t, f, ep, tokPersonal)
	var ue *forge.UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(ue.Error(), "certificate") {
		t.Fatalf("err = %v, want UnreachableError about the certificate", err)
	}
	if n := e.gl.Requests(tokPersonal); n != 0 {
		t.Errorf("the token reached an untrusted server %d times", n)
	}

	ep.CABundle = e.srv.CA.PEM
	rep, err := inspect(t, f, ep, tokPersonal)
	if err != nil {
		t.Fatalf("with the endpoint's CA bundle: %v", err)
	}
	if rep.Identity != "alice" {
		t.Errorf("identity %q", rep.Identity)
	}
}

func TestInspectPlainHTTP(t *testing.T) {
	gl := forgetest.NewGitLab()
	gl.AddToken(tokPersonal, forgetest.GitLabToken{Username: "alice", Scopes: []string{"api"}})
	plain := httptest.NewServer(gl)
	t.Cleanup(plain.Close)
	ep := forge.Endpoint{Provider: forge.GitLab, WebURL: "http://gitlab.test", APIURL: "http://gitlab.test/api/v4"}
	toPlain := func(string) string { return plain.Listener.Addr().String() }

	_, err := inspect(t, newForge(t, egress.Policy{DialOverride: toPlain}), ep, tokPersonal)
	var insecure *egress.InsecureURLError
	if !errors.As(err, &insecure) {
		t.Fatalf("err = %v, want InsecureURLError", err)
	}
	if n := gl.Requests(tokPersonal); n != 0 {
		t.Fatalf("the token went over plain http %d times under a policy that forbids it", n)
	}

	rep, err := inspect(t, newForge(t, egress.Policy{AllowInsecureHTTP: true, DialOverride: toPlain}), ep, tokPersonal)
	if err != nil {
		t.Fatalf("with --allow-insecure-http: %v", err)
	}
	if rep.Identity != "alice" {
		t.Errorf("identity %q", rep.Identity)
	}
}

func TestInspectConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	f := newForge(t, egress.Policy{DialOverride: func(string) string { return addr }})
	_, err = inspect(t, f, cloud(), tokPersonal)
	var ue *forge.UnreachableError
	if !errors.As(err, &ue) || ue.Host != "gitlab.com" {
		t.Errorf("err = %v, want UnreachableError for gitlab.com", err)
	}
}
