package gitea

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
)

func TestResolveEndpoint(t *testing.T) {
	f := New(egress.Policy{}, nil)
	tests := []struct {
		in       string
		web, api string
	}{
		{"https://gitea.example.com", "https://gitea.example.com", "https://gitea.example.com/api/v1"},
		{"gitea.example.com/", "https://gitea.example.com", "https://gitea.example.com/api/v1"},
		{"  https://Codeberg.org  ", "https://codeberg.org", "https://codeberg.org/api/v1"},
		{"https://git.corp.example:8443/gitea/", "https://git.corp.example:8443/gitea", "https://git.corp.example:8443/gitea/api/v1"},
		{"https://git.corp.example/gitea/api/v1", "https://git.corp.example/gitea", "https://git.corp.example/gitea/api/v1"},
		{"https://codeberg.org/api/v1/", "https://codeberg.org", "https://codeberg.org/api/v1"},
	}
	for _, tc := range tests {
		ep, err := f.ResolveEndpoint(tc.in, "")
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		want := forge.Endpoint{Provider: Provider, WebURL: tc.web, APIURL: tc.api}
		if diff := cmp.Diff(want, ep); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.in, diff)
		}
	}

	const pasted = "a11a11a11a11a11a11a11a11a11a11a11a11ffff"
	bad := []struct{ in, ws, field, words string }{
		{"", "", "url", "required"},
		{"https://alice:" + pasted + "@gitea.example.com", "", "url", "user name or password"},
		{"https://gitea.example.com/?token=" + pasted, "", "url", "query"},
		{"https://gitea.example.com/#" + pasted, "", "url", "fragment"},
		{"ftp://gitea.example.com", "", "url", "https://"},
		{"http://gitea.example.com", "", "url", "plain http"},
		{"https://169.254.169.254", "", "url", "metadata"},
		{"https://gitea.example.com", "acme", "workspace", "no workspaces"},
	}
	for _, tc := range bad {
		_, err := f.ResolveEndpoint(tc.in, tc.ws)
		var ie *forge.InvalidInputError
		if !errors.As(err, &ie) || ie.Field != tc.field || !strings.Contains(ie.Reason, tc.words) {
			t.Errorf("%q: err = %v, want an InvalidInputError on %s saying %q", tc.in, err, tc.field, tc.words)
		}
		if err != nil && strings.Contains(err.Error(), pasted) {
			t.Errorf("%q: the error echoes the input: %v", tc.in, err)
		}
	}
	// --allow-insecure-http lets a plain http Gitea in.
	if _, err := New(egress.Policy{AllowInsecureHTTP: true}, nil).ResolveEndpoint("http://gitea.lan:3000", ""); err != nil {
		t.Errorf("http with AllowInsecureHTTP: %v", err)
	}
}

func inspect(t *testing.T, f *Forge, ep forge.Endpoint, token string, uses ...forge.Use) (forge.Report, error) {
	t.Helper()
	rep, err := f.Inspect(t.Context(), forge.Credential{Endpoint: ep, Token: secret.New(token)}, uses)
	noToken(t, err)
	return rep, err
}

var ignoreDetail = cmpopts.IgnoreFields(forge.UseCheck{}, "Detail")

func TestInspectTokenWithEveryScopeNeeded(t *testing.T) {
	e := newEnv(t)
	rep, err := inspect(t, e.f, endpoint(), tokAll)
	if err != nil {
		t.Fatal(err)
	}
	want := forge.Report{
		Provider: Provider, Host: "gitea.test", Kind: KindAccessToken,
		Identity: "alice", IdentityName: "Alice Liddell",
		Scopes: []string{"read:user", "write:repository"},
		Checks: []forge.UseCheck{
			{Use: forge.UseClone, Status: forge.CheckOK, Needs: []string{"read:repository"}, Proven: []string{"read:repository"}},
			// The admin role is per repository: never proven here.
			{Use: forge.UseWebhooks, Status: forge.CheckUnknown, Needs: []string{"write:repository", needRepoAdmin},
				Proven: []string{"write:repository"}, Unknown: []string{needRepoAdmin}},
			{Use: forge.UsePullRequests, Status: forge.CheckOK, Needs: []string{"read:repository"}, Proven: []string{"read:repository"}},
		},
		Requests: 3,
	}
	if diff := cmp.Diff(want, rep, ignoreDetail, cmpopts.IgnoreFields(forge.Report{}, "Notes")); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "version 1.22.3") }) {
		t.Errorf("notes do not name the version: %q", rep.Notes)
	}
	// version, user, then the write probe, which proves read as well.
	wantCalls := []string{"GET /api/v1/version", "GET /api/v1/user", "POST /api/v1/repos/migrate"}
	if diff := cmp.Diff(wantCalls, calls(e.srv)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if got := e.g.Hooks("alice/app"); len(got) != 0 {
		t.Errorf("inspecting changed something: %v", got)
	}
}

func TestInspectAllScope(t *testing.T) {
	e := newEnv(t)
	rep, err := inspect(t, e.f, endpoint(), tokEverything)
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Missing(forge.AllUses); len(got) != 0 {
		t.Errorf("missing %v with scope all", got)
	}
	if diff := cmp.Diff([]string{"read:user", "write:repository"}, rep.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
}

func TestInspectReadOnlyTokenMissesWebhooks(t *testing.T) {
	e := newEnv(t)
	rep, err := inspect(t, e.f, endpoint(), tokRead)
	if err != nil {
		t.Fatal(err)
	}
	wantChecks := []forge.UseCheck{
		{Use: forge.UseClone, Status: forge.CheckOK, Needs: []string{"read:repository"}, Proven: []string{"read:repository"}},
		{Use: forge.UseWebhooks, Status: forge.CheckMissing, Needs: []string{"write:repository", needRepoAdmin},
			Missing: []string{"write:repository"}, Unknown: []string{needRepoAdmin}},
		{Use: forge.UsePullRequests, Status: forge.CheckOK, Needs: []string{"read:repository"}, Proven: []string{"read:repository"}},
	}
	if diff := cmp.Diff(wantChecks, rep.Checks, ignoreDetail); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"read:user", "read:repository"}, rep.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"write:repository"}, rep.Missing(forge.AllUses)); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}
	if rep.Requests != 4 {
		t.Errorf("requests = %d, want 4 (version, user, write probe, read probe)", rep.Requests)
	}
	if d := rep.Checks[1].Detail; !strings.Contains(d, "write:repository") {
		t.Errorf("the webhooks detail does not name the scope: %q", d)
	}
}

func TestInspectCloneOnlySkipsTheWriteProbe(t *testing.T) {
	e := newEnv(t)
	rep, err := inspect(t, e.f, endpoint(), tokAll, forge.UseClone)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Checks) != 1 || rep.Checks[0].Status != forge.CheckOK {
		t.Errorf("checks %+v", rep.Checks)
	}
	wantCalls := []string{"GET /api/v1/version", "GET /api/v1/user", "GET /api/v1/repos/search"}
	if diff := cmp.Diff(wantCalls, calls(e.srv)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"read:user", "read:repository"}, rep.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
}

func TestInspectTokenWithoutReadUser(t *testing.T) {
	e := newEnv(t)
	rep, err := inspect(t, e.f, endpoint(), tokNoUser)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Identity != "" || rep.Kind != KindAccessToken {
		t.Errorf("identity %q kind %q", rep.Identity, rep.Kind)
	}
	if diff := cmp.Diff([]string{"write:repository"}, rep.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
	if got := rep.Missing(forge.AllUses); len(got) != 0 {
		t.Errorf("missing %v", got)
	}
	if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "read:user") }) {
		t.Errorf("no note about read:user: %q", rep.Notes)
	}
}

func TestInspectTokenWithoutRepositoryScope(t *testing.T) {
	e := newEnv(t)
	rep, err := inspect(t, e.f, endpoint(), tokIssues)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Identity != "dave" {
		t.Errorf("identity %q", rep.Identity)
	}
	for _, c := range rep.Checks {
		if c.Status != forge.CheckMissing {
			t.Errorf("%s: %s, want missing", c.Use, c.Status)
		}
	}
	if diff := cmp.Diff([]string{"read:repository", "write:repository"}, rep.Missing(forge.AllUses)); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"read:user"}, rep.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
}

func TestInspectRefusedTokens(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, token string
		status      int
		words       string
	}{
		{"revoked", tokRevoked, 401, "token is required"},
		{"never issued", tokUnknown, 401, "token is required"},
		{"user prohibited from signing in", tokProhibited, 403, "prohibited"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := inspect(t, e.f, endpoint(), tc.token)
			var ae *forge.AuthError
			if !errors.As(err, &ae) || ae.Status != tc.status || !strings.Contains(ae.Message, tc.words) || ae.Host != "gitea.test" {
				t.Fatalf("err = %#v, want an AuthError %d saying %q", err, tc.status, tc.words)
			}
		})
	}
}

func TestInspectScrubsAnEchoedToken(t *testing.T) {
	e := newEnv(t)
	// Newer Gitea answers an unknown token with the store's error, which
	// quotes what it was given.
	e.g.FailNext(http.StatusUnauthorized, nil, `{"message":"access token does not exist [sha: `+tokUnknown+`]","url":"https://gitea.test/api/swagger"}`)
	_, err := inspect(t, e.f, endpoint(), tokUnknown)
	var ae *forge.AuthError
	if !errors.As(err, &ae) || !strings.Contains(ae.Message, "access token does not exist") {
		t.Fatalf("err = %v", err)
	}
}

func TestInspectForgejo(t *testing.T) {
	e := newEnv(t)
	e.g.SetForgejo("7.0.5", "1.21.11")
	rep, err := inspect(t, e.f, forge.Endpoint{Provider: Provider, WebURL: "https://gitea.test"}, tokAll)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rep.Notes, "The server is Forgejo 7.0.5 (Gitea API 1.21.11).") {
		t.Errorf("notes %q", rep.Notes)
	}
}

func TestInspectSubPathAndWrongAddress(t *testing.T) {
	e := newEnv(t)
	e.g.SetSubPath("/gitea")
	ep, err := e.f.ResolveEndpoint("https://gitea.test/gitea", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inspect(t, e.f, ep, tokAll); err != nil {
		t.Fatalf("under the sub-path: %v", err)
	}
	_, err = inspect(t, e.f, endpoint(), tokAll)
	var pe *forge.ProviderError
	if !errors.As(err, &pe) || pe.Status != 404 || !strings.Contains(pe.Message, "sub-path") {
		t.Fatalf("at the host's root: %v, want a ProviderError about the address", err)
	}
}

func TestInspectProviderFailures(t *testing.T) {
	e := newEnv(t)

	e.g.FailNext(http.StatusBadGateway, nil, "")
	_, err := inspect(t, e.f, endpoint(), tokAll)
	var pe *forge.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusBadGateway {
		t.Errorf("502: %v", err)
	}

	e.g.FailNext(http.StatusTooManyRequests, http.Header{"Retry-After": {"120"}}, "")
	_, err = inspect(t, e.f, endpoint(), tokAll)
	var rl *forge.RateLimitedError
	if !errors.As(err, &rl) || !rl.Reset.Equal(fixedNow.Add(2*time.Minute)) {
		t.Errorf("429: %#v", err)
	}

	// A web page where the API should be: not Gitea's root.
	e.g.FailNext(http.StatusOK, nil, "<!DOCTYPE html><html>Sign in</html>")
	_, err = inspect(t, e.f, endpoint(), tokAll)
	if !errors.As(err, &pe) || pe.Status != 0 || !strings.Contains(pe.Message, "did not answer Gitea API JSON") {
		t.Errorf("HTML: %v", err)
	}
}

func TestInspectUnreachable(t *testing.T) {
	e := newEnv(t)
	f := newForge(t, e.srv.PolicyWithoutCA())
	_, err := inspect(t, f, endpoint(), tokAll)
	var ue *forge.UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(ue.Reason, "certificate") {
		t.Fatalf("err = %v, want an UnreachableError about the certificate", err)
	}
	// With the CA bundle for this endpoint it is trusted.
	ep := endpoint()
	ep.CABundle = e.srv.CA.PEM
	if _, err := inspect(t, f, ep, tokAll); err != nil {
		t.Fatalf("with the CA bundle: %v", err)
	}
}

func TestInspectRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name  string
		cred  forge.Credential
		uses  []forge.Use
		field string
	}{
		{"empty token", cred(""), nil, "token"},
		{"no URL", forge.Credential{Token: secret.New(tokAll)}, nil, "url"},
		{"another provider", forge.Credential{Endpoint: forge.Endpoint{Provider: forge.GitLab, WebURL: "https://gitea.test"}, Token: secret.New(tokAll)}, nil, "provider"},
		{"unknown use", cred(tokAll), []forge.Use{"deploy"}, "use"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.f.Inspect(t.Context(), tc.cred, tc.uses)
			var ie *forge.InvalidInputError
			if !errors.As(err, &ie) || ie.Field != tc.field {
				t.Fatalf("err = %v, want an InvalidInputError on %s", err, tc.field)
			}
		})
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("%d requests sent for bad input", n)
	}
}

// The token travels only in the Authorization header, as Gitea's
// "token <value>" form, never in a URL.
func TestTokenOnlyInTheAuthorizationHeader(t *testing.T) {
	e := newEnv(t)
	if _, err := inspect(t, e.f, endpoint(), tokAll); err != nil {
		t.Fatal(err)
	}
	if _, err := e.f.ListRepos(t.Context(), cred(tokAll), ""); err != nil {
		t.Fatal(err)
	}
	reqs := e.srv.Requests()
	if len(reqs) == 0 {
		t.Fatal("no requests")
	}
	for _, r := range reqs {
		if got := r.Header.Get("Authorization"); got != "token "+tokAll {
			t.Errorf("%s %s: Authorization %q", r.Method, r.URL, got)
		}
		if strings.Contains(r.URL.String(), tokAll) {
			t.Errorf("the token is in the URL %s", r.URL)
		}
	}
}

func TestRequiredScopes(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want []string
	}{
		{"token does not have at least one of required scope(s): [read:user]", []string{"read:user"}},
		{"token does not have at least one of required scope(s): [read:repository read:organization]", []string{"read:repository", "read:organization"}},
		{"token does not have at least one of required scope(s), required=[write:repository], token scope=read:repository", []string{"write:repository"}},
		{"user should be an owner or a collaborator with admin write of a repository", nil},
		{"token scope is limited to public repos", nil},
		{"required scope(s): [", nil},
	} {
		if diff := cmp.Diff(tc.want, requiredScopes(tc.msg)); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.msg, diff)
		}
	}
}

func TestMorePages(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.Header
		seen int
		want bool
	}{
		{"next", http.Header{"Link": {`<https://g/api/v1/user/repos?limit=50&page=2>; rel="next",<https://g/api/v1/user/repos?limit=50&page=3>; rel="last"`}}, 50, true},
		{"last page", http.Header{"Link": {`<https://g/x?page=1>; rel="first",<https://g/x?page=2>; rel="prev"`}}, 150, false},
		{"count only, more", http.Header{"X-Total-Count": {"75"}}, 50, true},
		{"count only, done", http.Header{"X-Total-Count": {"75"}}, 75, false},
		{"neither", http.Header{}, 50, false},
		{"garbage", http.Header{"Link": {`;;;,,rel=`}, "X-Total-Count": {"x"}}, 50, false},
	} {
		if got := morePages(tc.h, tc.seen); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
