package console_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/console"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/forge/github"
	"github.com/gitaccess/gitaccess/internal/secret/keyring"
	"github.com/gitaccess/gitaccess/internal/store"
	"github.com/gitaccess/gitaccess/internal/store/sqlite"
)

// env is a real access.Service on SQLite, with the real GitHub adapter
// talking to the fake GitHub over TLS, behind the console.
type env struct {
	t      *testing.T
	svc    *access.Service
	st     store.Store
	gh     *forgetest.GitHub
	srv    *httptest.Server
	owner  string // the bootstrap Owner key
	ownerP access.Principal
	clock  *clock
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// The fake's tokens: good holds everything; weak lacks repo and
// admin:repo_hook (write:repo_hook cannot delete hooks).
const (
	goodValue = "ghp_GOODvalue0123456789abcdefghijklmnopq"
	weakValue = "ghp_WEAKvalue0123456789abcdefghijklmnopq"
	nextValue = "ghp_NEXTvalue0123456789abcdefghijklmnopq"
)

type envOpts struct {
	tls       bool
	publicURL string
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := keyring.GenerateKeyring()
	if err != nil {
		t.Fatal(err)
	}
	gh := forgetest.NewGitHub()
	gh.AddToken(goodValue, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"repo", "admin:repo_hook"}, Repos: []string{"acme/api"}})
	gh.AddToken(weakValue, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"public_repo", "write:repo_hook"}, Repos: []string{"acme/api"}})
	gh.AddToken(nextValue, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"repo", "admin:repo_hook"}, Repos: []string{"acme/api"}})
	fake := forgetest.NewServer(t, nil, forgetest.ByHost{"api.github.com": gh})
	clk := &clock{now: time.Now().UTC()}
	svc := access.New(access.Config{Store: st, Sealer: keys, Forges: access.ForgeMap{forge.GitHub: github.New(fake.Policy(), logger)}, Logger: logger, Now: clk.Now})
	key, _, err := svc.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	c, err := console.New(console.Config{Service: svc, Sessions: st, Next: api, PublicURL: o.publicURL, Logger: logger, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	var srv *httptest.Server
	if o.tls {
		srv = httptest.NewTLSServer(c)
	} else {
		srv = httptest.NewServer(c)
	}
	t.Cleanup(srv.Close)
	e := &env{t: t, svc: svc, st: st, gh: gh, srv: srv, owner: key.Reveal(), clock: clk}
	if e.ownerP, err = svc.Authenticate(ctx, key); err != nil {
		t.Fatal(err)
	}
	return e
}

// browser is one user agent: a cookie jar that does not follow redirects,
// so each test sees every answer.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := *e.srv.Client() // a copy: each browser has its own jar
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{e: e, c: &c}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) answer {
	b.e.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(body)}
}

func (b *browser) get(path string) answer {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	return b.do(req)
}

// post sends a form as a same-origin browser does (Sec-Fetch-Site).
func (b *browser) post(path string, form url.Values) answer {
	b.e.t.Helper()
	return b.postWith(path, form, "same-origin")
}

func (b *browser) postWith(path string, form url.Values, fetchSite string) answer {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if fetchSite != "" {
		req.Header.Set("Sec-Fetch-Site", fetchSite)
	}
	return b.do(req)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return m[1]
}

// signIn signs in with key and returns the session cookie the server set.
func (b *browser) signIn(key string) *http.Cookie {
	t := b.e.t
	t.Helper()
	page := b.get("/console/sign-in")
	a := b.post("/console/sign-in", url.Values{"csrf": {csrfOf(t, page.body)}, "api_key": {key}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/" {
		t.Fatalf("sign-in: HTTP %d, Location %q\n%s", a.status, a.header.Get("Location"), a.body)
	}
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == console.SessionCookie {
			return c
		}
	}
	t.Fatalf("sign-in set no %s cookie: %v", console.SessionCookie, a.header["Set-Cookie"])
	return nil
}

// csrf reads the signed-in page's CSRF token.
func (b *browser) csrf() string {
	b.e.t.Helper()
	return csrfOf(b.e.t, b.get("/").body)
}

func (e *env) apiKey(role store.Role) (string, access.NewAPIKey) {
	e.t.Helper()
	k, err := e.svc.CreateAPIKey(context.Background(), e.ownerP, string(role)+"-key", role)
	if err != nil {
		e.t.Fatal(err)
	}
	return k.Key.Reveal(), k
}

func (e *env) tokenNames() []string {
	e.t.Helper()
	ts, _, err := e.svc.ListTokens(context.Background(), e.ownerP, store.Page{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, t := range ts {
		out = append(out, t.Name)
	}
	return out
}

func TestSessionCookieAttributes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       envOpts
		wantSecure bool
	}{
		{"plain http", envOpts{}, false},
		{"over TLS", envOpts{tls: true}, true},
		{"https public URL behind a proxy", envOpts{publicURL: "https://gitaccess.example.com"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			b := e.browser()
			ck := b.signIn(e.owner)
			if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Secure != tc.wantSecure {
				t.Errorf("session cookie: HttpOnly=%v SameSite=%v Path=%q Secure=%v; want HttpOnly, Strict, /, Secure=%v",
					ck.HttpOnly, ck.SameSite, ck.Path, ck.Secure, tc.wantSecure)
			}
			if len(ck.Value) < 40 || strings.Contains(ck.Value, e.owner) || strings.Contains(e.owner, ck.Value) {
				t.Errorf("session cookie %q is not a fresh random id independent of the API key", ck.Value)
			}
			// The store keeps only the id's hash.
			h := sha256.Sum256([]byte(ck.Value))
			if _, err := e.st.GetConsoleSession(context.Background(), h[:]); err != nil {
				t.Errorf("no session stored under the id's SHA-256: %v", err)
			}
			if _, err := e.st.GetConsoleSession(context.Background(), []byte(ck.Value)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a session is stored under the raw id: %v", err)
			}
			if a := b.get("/"); a.status != http.StatusOK || !strings.Contains(a.body, "Tokens") {
				t.Errorf("signed-in token page: HTTP %d", a.status)
			}
		})
	}
}

func TestSignInRefusals(t *testing.T) {
	e := newEnv(t, envOpts{})
	b := e.browser()
	// A wrong key: 401, no session.
	page := b.get("/console/sign-in")
	a := b.post("/console/sign-in", url.Values{"csrf": {csrfOf(t, page.body)}, "api_key": {"gak_nope_nope"}})
	if a.status != http.StatusUnauthorized || strings.Contains(strings.Join(a.header["Set-Cookie"], ";"), console.SessionCookie+"=") {
		t.Errorf("wrong key: HTTP %d, cookies %v", a.status, a.header["Set-Cookie"])
	}
	if strings.Contains(a.body, "gak_nope_nope") {
		t.Error("the sign-in page echoed the key it was given")
	}
	// The sign-in form's own CSRF token is required.
	a = b.post("/console/sign-in", url.Values{"api_key": {e.owner}})
	if a.status != http.StatusForbidden || strings.Contains(strings.Join(a.header["Set-Cookie"], ";"), console.SessionCookie+"=") {
		t.Errorf("sign-in without the form token: HTTP %d, cookies %v", a.status, a.header["Set-Cookie"])
	}
	// A cross-site post is refused outright, whatever it carries.
	page = b.get("/console/sign-in")
	a = b.postWith("/console/sign-in", url.Values{"csrf": {csrfOf(t, page.body)}, "api_key": {e.owner}}, "cross-site")
	if a.status != http.StatusForbidden {
		t.Errorf("cross-site sign-in: HTTP %d", a.status)
	}
	// Signed out, pages lead to the sign-in page.
	if a := e.browser().get("/console/apps"); a.status != http.StatusSeeOther || !strings.HasPrefix(a.header.Get("Location"), "/console/sign-in?next=%2Fconsole%2Fapps") {
		t.Errorf("signed-out page: HTTP %d → %q", a.status, a.header.Get("Location"))
	}
}

func TestCSRFRefusedAndNothingChanged(t *testing.T) {
	e := newEnv(t, envOpts{})
	b := e.browser()
	b.signIn(e.owner)
	form := url.Values{"provider": {"github"}, "name": {"gh"}, "value": {goodValue}, "action": {"save"}}
	for _, tc := range []struct {
		name, csrf, site string
	}{
		{"missing token", "", "same-origin"},
		{"wrong token", "AAAA" + b.csrf()[4:], "same-origin"},
		{"another session's token", func() string { o := e.browser(); o.signIn(e.owner); return o.csrf() }(), "same-origin"},
		{"cross-site with the right token", b.csrf(), "cross-site"},
	} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		if tc.csrf != "" {
			f.Set("csrf", tc.csrf)
		}
		a := b.postWith("/console/tokens/new", f, tc.site)
		if a.status != http.StatusForbidden {
			t.Errorf("%s: HTTP %d, want 403", tc.name, a.status)
		}
		if strings.Contains(a.body, goodValue) {
			t.Errorf("%s: the refusal echoed the token value", tc.name)
		}
	}
	if n := e.gh.Requests(goodValue); n != 0 {
		t.Errorf("refused posts reached GitHub %d times", n)
	}
	if names := e.tokenNames(); len(names) != 0 {
		t.Fatalf("refused posts saved tokens %v", names)
	}
	// The right token saves.
	form.Set("csrf", b.csrf())
	if a := b.post("/console/tokens/new", form); a.status != http.StatusSeeOther {
		t.Fatalf("valid post: HTTP %d\n%s", a.status, a.body)
	}
	if names := e.tokenNames(); len(names) != 1 || names[0] != "gh" {
		t.Errorf("tokens after a valid post = %v", names)
	}
}

func TestSignOutEndsTheSessionOnTheServer(t *testing.T) {
	e := newEnv(t, envOpts{})
	b := e.browser()
	ck := b.signIn(e.owner)
	a := b.post("/console/sign-out", url.Values{"csrf": {b.csrf()}})
	if a.status != http.StatusSeeOther || !strings.HasPrefix(a.header.Get("Location"), "/console/sign-in") {
		t.Fatalf("sign-out: HTTP %d → %q", a.status, a.header.Get("Location"))
	}
	if !strings.Contains(strings.Join(a.header["Set-Cookie"], ";"), console.SessionCookie+"=;") {
		t.Errorf("sign-out did not clear the cookie: %v", a.header["Set-Cookie"])
	}
	h := sha256.Sum256([]byte(ck.Value))
	if _, err := e.st.GetConsoleSession(context.Background(), h[:]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session still stored after sign-out: %v", err)
	}
	// A copy of the old cookie no longer works.
	thief := e.browser()
	u, _ := url.Parse(e.srv.URL)
	thief.c.Jar.SetCookies(u, []*http.Cookie{{Name: console.SessionCookie, Value: ck.Value}})
	if a := thief.get("/"); a.status != http.StatusSeeOther || !strings.HasPrefix(a.header.Get("Location"), "/console/sign-in") {
		t.Errorf("old cookie after sign-out: HTTP %d → %q", a.status, a.header.Get("Location"))
	}
}

func TestRevokedKeyEndsTheSession(t *testing.T) {
	e := newEnv(t, envOpts{})
	key, k := e.apiKey(store.RoleDevOps)
	b := e.browser()
	b.signIn(key)
	if a := b.get("/"); a.status != http.StatusOK {
		t.Fatalf("before revocation: HTTP %d", a.status)
	}
	if err := e.svc.RevokeAPIKey(context.Background(), e.ownerP, k.ID); err != nil {
		t.Fatal(err)
	}
	a := b.get("/")
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/sign-in?why=revoked" {
		t.Fatalf("after revocation: HTTP %d → %q", a.status, a.header.Get("Location"))
	}
	// And a post made with the page's token is refused.
	if a := b.post("/console/tokens/new", url.Values{"provider": {"github"}, "name": {"x"}, "value": {goodValue}, "action": {"save"}}); a.status != http.StatusUnauthorized {
		t.Errorf("post after revocation: HTTP %d, want 401", a.status)
	}
	if n := len(e.tokenNames()); n != 0 {
		t.Errorf("a revoked key's session saved %d tokens", n)
	}
}

func TestSessionExpires(t *testing.T) {
	e := newEnv(t, envOpts{})
	b := e.browser()
	ck := b.signIn(e.owner)
	e.clock.Add(console.DefaultSessionTTL - time.Minute)
	if a := b.get("/"); a.status != http.StatusOK {
		t.Fatalf("before expiry: HTTP %d", a.status)
	}
	e.clock.Add(2 * time.Minute)
	if a := b.get("/"); a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/sign-in?why=expired" {
		t.Fatalf("after expiry: HTTP %d → %q", a.status, a.header.Get("Location"))
	}
	h := sha256.Sum256([]byte(ck.Value))
	if _, err := e.st.GetConsoleSession(context.Background(), h[:]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired session is still stored: %v", err)
	}
}

func TestMemberIsReadOnly(t *testing.T) {
	e := newEnv(t, envOpts{})
	owner := e.browser()
	owner.signIn(e.owner)
	if a := owner.post("/console/tokens/new", url.Values{"csrf": {owner.csrf()}, "provider": {"github"}, "name": {"gh"}, "value": {goodValue}, "action": {"save"}}); a.status != http.StatusSeeOther {
		t.Fatalf("owner adds a token: HTTP %d\n%s", a.status, a.body)
	}
	key, _ := e.apiKey(store.RoleMember)
	m := e.browser()
	m.signIn(key)
	list := m.get("/")
	if list.status != http.StatusOK || !strings.Contains(list.body, `href="/console/tokens/gh"`) {
		t.Fatalf("member's token list: HTTP %d\n%s", list.status, list.body)
	}
	detail := m.get("/console/tokens/gh")
	for _, page := range []answer{list, detail, m.get("/console/apps")} {
		for _, control := range []string{"/console/tokens/new", "/edit", "/rotate", "/delete", "/console/apps/new", `name="value"`} {
			if strings.Contains(page.body, control) {
				t.Errorf("a member's page shows the control %q", control)
			}
		}
		if !strings.Contains(page.body, "Read-only") {
			t.Error("a member's page does not say it is read-only")
		}
	}
	// Forged posts with a valid session and token are refused by the use
	// cases, and change nothing.
	csrf := m.csrf()
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/console/tokens/new", url.Values{"provider": {"github"}, "name": {"evil"}, "value": {goodValue}, "action": {"save"}}},
		{"/console/tokens/new", url.Values{"provider": {"github"}, "value": {goodValue}, "action": {"test"}}},
		{"/console/tokens/gh/edit", url.Values{"name": {"renamed"}}},
		{"/console/tokens/gh/rotate", url.Values{"value": {weakValue}}},
		{"/console/tokens/gh/delete", url.Values{"confirm": {"delete"}, "then": {"force"}}},
	} {
		tc.form.Set("csrf", csrf)
		a := m.post(tc.path, tc.form)
		if a.status != http.StatusForbidden || !strings.Contains(a.body, "member") {
			t.Errorf("member POST %s: HTTP %d, want 403 naming the role\n%s", tc.path, a.status, a.body)
		}
	}
	if names := e.tokenNames(); len(names) != 1 || names[0] != "gh" {
		t.Errorf("tokens after a member's posts = %v, want [gh]", names)
	}
}

func TestValueIsNeverSentBack(t *testing.T) {
	e := newEnv(t, envOpts{})
	b := e.browser()
	b.signIn(e.owner)
	csrf := b.csrf()
	for _, tc := range []struct {
		name       string
		form       url.Values
		wantStatus int
		wantText   string
	}{
		{"bad name", url.Values{"provider": {"github"}, "name": {"Bad Name"}, "value": {goodValue}, "action": {"save"}}, http.StatusBadRequest, "not valid"},
		{"missing permission", url.Values{"provider": {"github"}, "name": {"weak"}, "value": {weakValue}, "action": {"save"}}, http.StatusUnprocessableEntity, "admin:repo_hook"},
		{"test report", url.Values{"provider": {"github"}, "name": {"weak"}, "value": {weakValue}, "action": {"test"}}, http.StatusOK, "admin:repo_hook"},
		{"test fragment", url.Values{"provider": {"github"}, "value": {weakValue}, "action": {"test"}, "fragment": {"1"}}, http.StatusOK, "admin:repo_hook"},
		{"refused value", url.Values{"provider": {"github"}, "name": {"wrong"}, "value": {"ghp_notKnownToGitHub0123456789abcdefgh"}, "action": {"save"}}, http.StatusUnprocessableEntity, "Bad credentials"},
		{"enterprise without URL", url.Values{"provider": {"github-enterprise"}, "name": {"ghe"}, "value": {goodValue}, "action": {"save"}}, http.StatusBadRequest, "URL"},
	} {
		tc.form.Set("csrf", csrf)
		a := b.post("/console/tokens/new", tc.form)
		if a.status != tc.wantStatus || !strings.Contains(a.body, tc.wantText) {
			t.Errorf("%s: HTTP %d, want %d with %q\n%s", tc.name, a.status, tc.wantStatus, tc.wantText, a.body)
		}
		if v := tc.form.Get("value"); strings.Contains(a.body, v) || strings.Contains(a.body, v[len(v)-12:]) {
			t.Errorf("%s: the page carries the token value", tc.name)
		}
		if name := tc.form.Get("name"); name != "" && tc.form.Get("fragment") == "" && !strings.Contains(a.body, `value="`+name+`"`) {
			t.Errorf("%s: the page lost the name the user typed", tc.name)
		}
	}
	if n := len(e.tokenNames()); n != 0 {
		t.Errorf("failed adds saved %d tokens", n)
	}
}

func TestSecurityHeadersAndRouting(t *testing.T) {
	e := newEnv(t, envOpts{})
	b := e.browser()
	for _, path := range []string{"/console/sign-in", "/", "/console/nowhere"} {
		a := b.get(path)
		h := a.header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: security headers %v", path, h)
		}
	}
	if a := b.get("/console/nowhere"); a.status != http.StatusNotFound {
		t.Errorf("unknown console page: HTTP %d", a.status)
	}
	if a := b.get("/console/static/console.js"); a.status != http.StatusOK || !strings.Contains(a.header.Get("Content-Type"), "javascript") {
		t.Errorf("console.js: HTTP %d %s", a.status, a.header.Get("Content-Type"))
	}
	// Everything else is the API's.
	for _, path := range []string{"/api/v1/tokens", "/healthz", "/hooks/hk_x"} {
		if a := b.get(path); a.status != http.StatusTeapot {
			t.Errorf("%s went to the console (HTTP %d), not the API", path, a.status)
		}
	}
	// No inline script or style anywhere: the policy would block it.
	b.signIn(e.owner)
	for _, path := range []string{"/", "/console/tokens/new", "/console/apps", "/console/apps/new"} {
		body := b.get(path).body
		if regexp.MustCompile(`<script>|<script [^>]*>[^<]|\sstyle=|\son[a-z]+=`).MatchString(body) {
			t.Errorf("%s has inline script or style", path)
		}
	}
}

func TestSafeRedirectAfterSignIn(t *testing.T) {
	e := newEnv(t, envOpts{})
	for next, want := range map[string]string{
		"/console/apps":          "/console/apps",
		"//evil.example/":        "/",
		"https://evil.example/x": "/",
		"/api/v1/tokens":         "/",
	} {
		b := e.browser()
		page := b.get("/console/sign-in?next=" + url.QueryEscape(next))
		a := b.post("/console/sign-in", url.Values{"csrf": {csrfOf(t, page.body)}, "api_key": {e.owner}, "next": {next}})
		if a.header.Get("Location") != want {
			t.Errorf("next=%q: redirected to %q, want %q", next, a.header.Get("Location"), want)
		}
	}
}

// TestTokenLifecycle edits, rotates and deletes a token through the
// console's forms, with an application depending on it.
func TestTokenLifecycle(t *testing.T) {
	e := newEnv(t, envOpts{})
	b := e.browser()
	b.signIn(e.owner)
	csrf := b.csrf()
	if a := b.post("/console/tokens/new", url.Values{"csrf": {csrf}, "provider": {"github"}, "name": {"gh"}, "value": {goodValue}, "action": {"save"}}); a.status != http.StatusSeeOther {
		t.Fatalf("add: HTTP %d\n%s", a.status, a.body)
	}
	// An application from the token's repository list and branch.
	page := b.get("/console/apps/new?token=gh")
	if !strings.Contains(page.body, `value="https://github.com/acme/api"`) {
		t.Fatalf("the repository list lacks acme/api:\n%s", page.body)
	}
	page = b.get("/console/apps/new?token=gh&repo=" + url.QueryEscape("https://github.com/acme/api"))
	if !strings.Contains(page.body, `<option value="main" selected>main</option>`) || !strings.Contains(page.body, `value="api"`) {
		t.Fatalf("the branch step does not preselect main and suggest the name:\n%s", page.body)
	}
	a := b.post("/console/apps/new", url.Values{"csrf": {csrf}, "token": {"gh"}, "repo": {"https://github.com/acme/api"}, "branch": {"main"}, "name": {"api"}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/apps/api?name=api&notice=app-created" {
		t.Fatalf("create app: HTTP %d → %q\n%s", a.status, a.header.Get("Location"), a.body)
	}

	// Edit: rename and describe; the value is left alone.
	a = b.post("/console/tokens/gh/edit", url.Values{"csrf": {csrf}, "name": {"gh-ci"}, "description": {"CI"}, "url": {"https://github.com"}})
	if a.status != http.StatusSeeOther || !strings.HasPrefix(a.header.Get("Location"), "/console/tokens/gh-ci?") {
		t.Fatalf("edit: HTTP %d → %q\n%s", a.status, a.header.Get("Location"), a.body)
	}
	// Rotate: a value lacking permissions is refused and nothing changes;
	// the same value again is refused too.
	before, _ := e.svc.GetToken(context.Background(), e.ownerP, "gh-ci")
	a = b.post("/console/tokens/gh-ci/rotate", url.Values{"csrf": {csrf}, "value": {weakValue}})
	if a.status < 400 || strings.Contains(a.body, weakValue) {
		t.Errorf("rotate to a weak value: HTTP %d (value echoed: %v)", a.status, strings.Contains(a.body, weakValue))
	}
	if after, _ := e.svc.GetToken(context.Background(), e.ownerP, "gh-ci"); after.Fingerprint != before.Fingerprint {
		t.Error("a refused rotation changed the value")
	}
	// A value that serves the application switches.
	a = b.post("/console/tokens/gh-ci/rotate", url.Values{"csrf": {csrf}, "value": {nextValue}})
	if a.status != http.StatusSeeOther || !strings.Contains(a.header.Get("Location"), "notice=rotated") {
		t.Fatalf("rotate: HTTP %d\n%s", a.status, a.body)
	}
	if after, _ := e.svc.GetToken(context.Background(), e.ownerP, "gh-ci"); after.Last4 != nextValue[len(nextValue)-4:] || after.Fingerprint == before.Fingerprint {
		t.Errorf("after rotation the token ends in %q", after.Last4)
	}
	// The delete dialog names the application; deleting without a choice
	// is refused, unbinding it deletes.
	page = b.get("/console/tokens/gh-ci")
	if !strings.Contains(page.body, `href="/console/apps/api"`) || !strings.Contains(page.body, `value="force"`) {
		t.Errorf("the token page does not list its application in the delete dialog:\n%s", page.body)
	}
	a = b.post("/console/tokens/gh-ci/delete", url.Values{"csrf": {csrf}, "confirm": {"gh-ci"}})
	if a.status != http.StatusBadRequest || !strings.Contains(a.body, "Type delete") {
		t.Errorf("delete without typing delete: HTTP %d", a.status)
	}
	a = b.post("/console/tokens/gh-ci/delete", url.Values{"csrf": {csrf}, "confirm": {"delete"}})
	if a.status != http.StatusConflict || !strings.Contains(a.body, "api") {
		t.Errorf("delete of a token in use: HTTP %d\n%s", a.status, a.body)
	}
	if names := e.tokenNames(); len(names) != 1 {
		t.Fatalf("tokens after refused deletes = %v", names)
	}
	a = b.post("/console/tokens/gh-ci/delete", url.Values{"csrf": {csrf}, "confirm": {"delete"}, "then": {"force"}})
	if a.status != http.StatusSeeOther || !strings.HasPrefix(a.header.Get("Location"), "/?") {
		t.Fatalf("forced delete: HTTP %d\n%s", a.status, a.body)
	}
	if names := e.tokenNames(); len(names) != 0 {
		t.Errorf("tokens after the delete = %v", names)
	}
	if !strings.Contains(b.get(a.header.Get("Location")).body, "Token gh-ci was deleted.") {
		t.Error("the list does not confirm the deletion")
	}
}

// TestSignInAgainReplacesTheSession: each sign-in gets a new id and ends
// the one the browser had, so an id planted before sign-in (or left from
// an earlier one) opens nothing.
func TestSignInAgainReplacesTheSession(t *testing.T) {
	e := newEnv(t, envOpts{})
	b := e.browser()
	first := b.signIn(e.owner)
	// Signed in, the sign-in page leads home.
	if a := b.get("/console/sign-in"); a.status != http.StatusSeeOther || a.header.Get("Location") != "/" {
		t.Errorf("sign-in page while signed in: HTTP %d → %q", a.status, a.header.Get("Location"))
	}
	// Sign in again from the same browser, with a sign-in form (and its
	// cookie) fetched anonymously, as after a second tab's sign-out.
	u, _ := url.Parse(e.srv.URL)
	anon := e.browser()
	form := anon.get("/console/sign-in")
	b.c.Jar.SetCookies(u, anon.c.Jar.Cookies(u))
	a := b.post("/console/sign-in", url.Values{"csrf": {csrfOf(t, form.body)}, "api_key": {e.owner}})
	if a.status != http.StatusSeeOther {
		t.Fatalf("second sign-in: HTTP %d\n%s", a.status, a.body)
	}
	h := sha256.Sum256([]byte(first.Value))
	if _, err := e.st.GetConsoleSession(context.Background(), h[:]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the first session survived a second sign-in: %v", err)
	}
}

// TestBuilderSeesWhyNot: a Builder key may sign in but reads no tokens;
// the page says so with the use case's words and a 403.
func TestBuilderSeesWhyNot(t *testing.T) {
	e := newEnv(t, envOpts{})
	key, _ := e.apiKey(store.RoleBuilder)
	b := e.browser()
	b.signIn(key)
	a := b.get("/")
	if a.status != http.StatusForbidden || !strings.Contains(a.body, "builder") || strings.Contains(a.body, "No tokens yet") {
		t.Errorf("builder's token page: HTTP %d\n%s", a.status, a.body)
	}
}
