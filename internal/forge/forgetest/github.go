package forgetest

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Kinds of token the fake GitHub tells apart, as GitHub does by prefix.
const (
	GitHubClassic     = "classic"      // ghp_…: scopes in X-OAuth-Scopes
	GitHubOAuth       = "oauth"        // gho_…: scopes in X-OAuth-Scopes
	GitHubFineGrained = "fine-grained" // github_pat_…: permissions never revealed
	GitHubApp         = "app"          // ghs_…: an app installation token
)

// githubPermissionKeys are GitHub's own keys for the fine-grained
// permissions the fake enforces (the same keys GitHub's
// X-Accepted-GitHub-Permissions header and app-permissions schema use).
var githubPermissionKeys = []string{"contents", "metadata", "pull_requests", "repository_hooks"}

// GitHubToken is what the fake knows about one token value.
type GitHubToken struct {
	Login string
	Name  string
	// Kind is GitHubClassic, GitHubOAuth, GitHubFineGrained or GitHubApp.
	Kind string
	// Scopes of a classic or OAuth token, sent back in X-OAuth-Scopes.
	Scopes []string
	// ExpiresAt is sent in GitHub-Authentication-Token-Expiration; a token
	// past it is refused like a revoked one.
	ExpiresAt *time.Time
	// FineGrained maps GitHub's permission keys ("contents", "metadata",
	// "pull_requests", "repository_hooks" — GitHub's name for Webhooks) to
	// "read" or "write", for fine-grained and app tokens.
	FineGrained map[string]string
	// Repos are the "owner/name" repositories the token reaches. Unknown
	// names are created private with a README.md on branch main.
	Repos []string
}

// GitHubRepo is a repository the fake serves.
type GitHubRepo struct {
	FullName string
	// Public repositories are readable by any token; the zero value is private.
	Public bool
	// DefaultBranch is "main" when empty.
	DefaultBranch string
	// Branches besides the default one; every branch holds Files.
	Branches []string
	// Files maps paths to contents; nil means a README.md. An empty,
	// non-nil map is an empty repository.
	Files map[string]string
	// BranchFiles replaces Files on the branches it names, so a test can
	// tell which ref was read.
	BranchFiles map[string]map[string]string
}

// files is what a branch of the repository holds.
func (r *GitHubRepo) files(branch string) map[string]string {
	if f, ok := r.BranchFiles[branch]; ok {
		return f
	}
	return r.Files
}

func (r *GitHubRepo) hasBranch(name string) bool {
	return name == r.DefaultBranch || slices.Contains(r.Branches, name)
}

// githubBranchSHA is a stable commit id for a branch head.
func githubBranchSHA(r *GitHubRepo, branch string) string {
	return githubSHA(r.FullName + "\x00" + branch)
}

// GitHubHook is a repository webhook on the fake.
type GitHubHook struct {
	ID  int64
	URL string
	// ContentType is "json" or "form" (GitHub's default).
	ContentType string
	// Secret is answered as "********" when set, as GitHub does.
	Secret      string
	InsecureSSL string
	Events      []string
	Active      bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// GitHub is a fake of GitHub's REST API (github.com at api.github.com, and
// Enterprise Server under /api/v3 on any other host), built from
// contracts/github/openapi-subset.json. Mount it with NewServer and ByHost.
type GitHub struct {
	mux   *http.ServeMux
	reset time.Time

	mu       sync.Mutex
	tokens   map[string]*githubTokenState
	userIDs  map[string]int64
	repos    map[string]*GitHubRepo
	repoIDs  map[string]int64
	hooks    map[string][]GitHubHook
	nextID   int64
	failures []githubFailure
}

type githubTokenState struct {
	GitHubToken
	revoked bool
	used    int
	// notModified counts the 304s among used: they spend no rate limit.
	notModified int
}

type githubFailure struct {
	path   string // API path prefix the failure waits for; "" for any
	status int
	header http.Header
}

// githubLimit is the primary rate limit GitHub gives an authenticated token.
const githubLimit = 5000

// NewGitHub returns an empty fake.
func NewGitHub() *GitHub {
	g := &GitHub{
		reset:   time.Now().Add(time.Hour).Truncate(time.Second),
		tokens:  map[string]*githubTokenState{},
		userIDs: map[string]int64{},
		repos:   map[string]*GitHubRepo{},
		repoIDs: map[string]int64{},
		hooks:   map[string][]GitHubHook{},
		nextID:  1000,
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /user", g.getUser)
	m.HandleFunc("GET /user/repos", g.listUserRepos)
	m.HandleFunc("GET /installation/repositories", g.listInstallationRepos)
	m.HandleFunc("GET /repos/{owner}/{repo}", g.getRepo)
	m.HandleFunc("GET /repos/{owner}/{repo}/branches", g.listBranches)
	m.HandleFunc("GET /repos/{owner}/{repo}/branches/{branch...}", g.getBranch)
	m.HandleFunc("GET /repos/{owner}/{repo}/contents", g.getContents)
	m.HandleFunc("GET /repos/{owner}/{repo}/contents/{path...}", g.getContents)
	m.HandleFunc("GET /repos/{owner}/{repo}/hooks", g.listHooks)
	m.HandleFunc("POST /repos/{owner}/{repo}/hooks", g.createHook)
	m.HandleFunc("GET /repos/{owner}/{repo}/hooks/{hook_id}", g.getHook)
	m.HandleFunc("PATCH /repos/{owner}/{repo}/hooks/{hook_id}", g.updateHook)
	m.HandleFunc("DELETE /repos/{owner}/{repo}/hooks/{hook_id}", g.deleteHook)
	m.HandleFunc("GET /rate_limit", g.getRateLimit)
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		githubError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest")
	})
	g.mux = m
	return g
}

// AddToken registers a token value. Repositories it names that the fake
// does not know yet are created private.
func (g *GitHub) AddToken(value string, t GitHubToken) {
	for k, v := range t.FineGrained {
		if !slices.Contains(githubPermissionKeys, k) {
			panic(fmt.Sprintf("forgetest: unknown GitHub permission %q; use one of %v (Webhooks is \"repository_hooks\")", k, githubPermissionKeys))
		}
		if v != "read" && v != "write" {
			panic(fmt.Sprintf("forgetest: GitHub permission %s=%q; use \"read\" or \"write\"", k, v))
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.userIDs[t.Login]; !ok {
		g.nextID++
		g.userIDs[t.Login] = g.nextID
	}
	for _, full := range t.Repos {
		if _, ok := g.repos[strings.ToLower(full)]; !ok {
			g.addRepoLocked(GitHubRepo{FullName: full})
		}
	}
	g.tokens[value] = &githubTokenState{GitHubToken: t}
}

// AddRepo adds or replaces a repository.
func (g *GitHub) AddRepo(r GitHubRepo) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.addRepoLocked(r)
}

func (g *GitHub) addRepoLocked(r GitHubRepo) {
	if r.DefaultBranch == "" {
		r.DefaultBranch = "main"
	}
	if r.Files == nil {
		r.Files = map[string]string{"README.md": "# " + r.FullName + "\n"}
	}
	key := strings.ToLower(r.FullName)
	if _, ok := g.repoIDs[key]; !ok {
		g.nextID++
		g.repoIDs[key] = g.nextID
	}
	g.repos[key] = &r
}

// Revoke makes a token value answer 401 Bad credentials from now on.
func (g *GitHub) Revoke(value string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.tokens[value]; ok {
		t.revoked = true
	}
}

// FailNext makes the next request, whatever it is, fail with status. The
// headers replace the fake's defaults, so X-RateLimit-Remaining: 0 or
// Retry-After turn a 403 or 429 into GitHub's primary or secondary rate
// limit answer. Calls queue up.
func (g *GitHub) FailNext(status int, header http.Header) {
	g.FailNextOn("", status, header)
}

// FailNextOn is FailNext for the next request whose API path (without
// /api/v3) starts with path, e.g. "/repos/octo/app/hooks".
func (g *GitHub) FailNextOn(path string, status int, header http.Header) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failures = append(g.failures, githubFailure{path: path, status: status, header: header.Clone()})
}

// Requests counts the requests made with a token value.
func (g *GitHub) Requests(value string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.tokens[value]; ok {
		return t.used
	}
	return 0
}

// NotModified counts the requests made with a token value that were
// answered 304 Not Modified (included in Requests, but not in the rate
// limit the fake reports).
func (g *GitHub) NotModified(value string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.tokens[value]; ok {
		return t.notModified
	}
	return 0
}

// RateLimitReset is the X-RateLimit-Reset the fake reports.
func (g *GitHub) RateLimitReset() time.Time { return g.reset }

// Hooks returns the webhooks of a repository, oldest first.
func (g *GitHub) Hooks(fullName string) []GitHubHook {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.hooks[strings.ToLower(fullName)])
}

// AddHook puts a hook on a repository as if someone had made it on
// GitHub, and returns it with its new id. Empty fields take GitHub's
// defaults: content type form, insecure_ssl "0", events push.
func (g *GitHub) AddHook(fullName string, h GitHubHook) GitHubHook {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.nextID++
	h.ID = g.nextID
	if h.ContentType == "" {
		h.ContentType = "form"
	}
	if h.InsecureSSL == "" {
		h.InsecureSSL = "0"
	}
	if h.Events == nil {
		h.Events = []string{"push"}
	}
	if h.CreatedAt.IsZero() {
		h.CreatedAt = time.Now().UTC().Truncate(time.Second)
	}
	if h.UpdatedAt.IsZero() {
		h.UpdatedAt = h.CreatedAt
	}
	key := strings.ToLower(fullName)
	g.hooks[key] = append(g.hooks[key], h)
	return h
}

// AlterHook changes a hook behind the client's back (someone editing it in
// GitHub's settings); false when the repository has no such hook.
func (g *GitHub) AlterHook(fullName string, id int64, change func(*GitHubHook)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	hooks := g.hooks[strings.ToLower(fullName)]
	for i := range hooks {
		if hooks[i].ID == id {
			change(&hooks[i])
			hooks[i].ID = id
			return true
		}
	}
	return false
}

// RemoveHook deletes a hook behind the client's back; false when the
// repository has no such hook.
func (g *GitHub) RemoveHook(fullName string, id int64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	key := strings.ToLower(fullName)
	n := len(g.hooks[key])
	g.hooks[key] = slices.DeleteFunc(g.hooks[key], func(h GitHubHook) bool { return h.ID == id })
	return len(g.hooks[key]) < n
}

// githubCtx is one request as the handlers see it.
type githubCtx struct {
	w     http.ResponseWriter
	r     *http.Request
	api   string // API root as the client addressed it, no trailing slash
	web   string // web root
	token *githubTokenState
}

type githubCtxKey struct{}

// ServeHTTP serves api.* hosts at the root (github.com and GHE.com) and
// every other host under /api/v3, as GitHub Enterprise Server does.
func (g *GitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	hostname := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hostname = h
	}
	c := &githubCtx{w: w, r: r}
	p := r.URL.Path
	// The escaped form goes on to the mux, so an escaped slash (go-github
	// sends a branch feature/x as feature%2Fx) stays inside its segment.
	rawPath := r.URL.EscapedPath()
	if strings.HasPrefix(hostname, "api.") {
		c.api = "https://" + host
		c.web = "https://" + strings.TrimPrefix(host, "api.")
	} else {
		rest, ok := strings.CutPrefix(p, "/api/v3")
		if !ok || (rest != "" && rest[0] != '/') {
			// GitHub Enterprise Server serves its web UI, not the API, here.
			http.NotFound(w, r)
			return
		}
		p = rest
		rawPath = strings.TrimPrefix(rawPath, "/api/v3")
		c.api = "https://" + host + "/api/v3"
		c.web = "https://" + host
		w.Header().Set("X-GitHub-Enterprise-Version", "3.14.0")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")

	value := githubTokenFrom(r)
	g.mu.Lock()
	t := g.tokens[value]
	if t != nil {
		t.used++
	}
	used := 0
	refused := value != "" && (t == nil || t.revoked || (t.ExpiresAt != nil && time.Now().After(*t.ExpiresAt)))
	if t != nil {
		used = t.used - t.notModified
	}
	var fail *githubFailure
	for i, f := range g.failures {
		if strings.HasPrefix(p, f.path) {
			fail = &f
			g.failures = slices.Delete(g.failures, i, i+1)
			break
		}
	}
	g.mu.Unlock()

	limit := 60 // GitHub's unauthenticated limit
	if t != nil {
		limit = githubLimit
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(limit-used, 0)))
	h.Set("X-RateLimit-Used", strconv.Itoa(used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(g.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")

	if fail != nil {
		g.fail(c, fail)
		return
	}
	if refused {
		githubError(w, http.StatusUnauthorized, "Bad credentials", "https://docs.github.com/rest")
		return
	}
	if t == nil && p != "/rate_limit" {
		githubError(w, http.StatusUnauthorized, "Requires authentication", "https://docs.github.com/rest")
		return
	}
	c.token = t
	if t != nil {
		switch t.Kind {
		case GitHubClassic, GitHubOAuth:
			h.Set("X-OAuth-Scopes", strings.Join(t.Scopes, ", "))
		}
		if t.ExpiresAt != nil {
			// GitHub writes "2021-10-07 19:07:53 UTC".
			h.Set("GitHub-Authentication-Token-Expiration", t.ExpiresAt.UTC().Format("2006-01-02 15:04:05 MST"))
		}
	}
	inner := r.Clone(r.Context())
	inner.URL.Path = p
	inner.URL.RawPath = rawPath
	inner = inner.WithContext(context.WithValue(r.Context(), githubCtxKey{}, c))
	if r.Method != http.MethodGet || t == nil {
		g.mux.ServeHTTP(w, inner)
		return
	}
	buf := &githubBuffer{w: w}
	c.w = buf
	g.mux.ServeHTTP(buf, inner)
	g.finishGet(w, r, t, limit, buf, githubConditional.MatchString(p))
}

// githubConditional matches the GET routes whose GitHub description lists
// a 304 answer (contracts/github/openapi-subset.json); the fake answers
// If-None-Match on those only.
var githubConditional = regexp.MustCompile(`^/(user|user/repos|installation/repositories|rate_limit|repos/[^/]+/[^/]+/contents(/.*)?)$`)

// githubBuffer holds a GET's answer until its ETag is known.
type githubBuffer struct {
	w      http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (b *githubBuffer) Header() http.Header { return b.w.Header() }

func (b *githubBuffer) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *githubBuffer) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// finishGet sends a GET's answer as GitHub does: a 200 carries an ETag,
// and a request whose If-None-Match holds that ETag gets 304 Not Modified
// with no body, spending no rate limit ("Use conditional requests if
// appropriate", GitHub's REST best practices). The ETag is a SHA-256 of
// the Accept and Authorization headers and the body, so it differs for
// every token, as GitHub's does (reported in
// bored-engineer/github-conditional-http-transport; confirmed by GitHub
// support in eclipse-csi/otterdog#201). Unverified: which headers GitHub
// repeats on a 304; the fake repeats all of them, X-OAuth-Scopes and the
// expiry included; and whether the routes whose description lists no 304
// (branches, hooks) ever answer one: the fake does not.
func (g *GitHub) finishGet(w http.ResponseWriter, r *http.Request, t *githubTokenState, limit int, b *githubBuffer, conditional bool) {
	h := w.Header()
	if b.status == http.StatusOK {
		sum := sha256.Sum256([]byte(r.Header.Get("Accept") + ":" + r.Header.Get("Authorization") + ":" + b.body.String()))
		etag := `"` + hex.EncodeToString(sum[:]) + `"`
		h.Set("ETag", etag)
		if conditional && githubETagMatch(r.Header.Get("If-None-Match"), etag) {
			g.mu.Lock()
			t.notModified++
			spent := t.used - t.notModified
			g.mu.Unlock()
			h.Set("X-RateLimit-Remaining", strconv.Itoa(max(limit-spent, 0)))
			h.Set("X-RateLimit-Used", strconv.Itoa(spent))
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}

// githubETagMatch is If-None-Match's weak comparison (RFC 9110 §13.1.2).
func githubETagMatch(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == "*" || v == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

// githubFrom returns the request's githubCtx, now pointing at the routed
// request (the one with path values).
func githubFrom(r *http.Request) *githubCtx {
	c := r.Context().Value(githubCtxKey{}).(*githubCtx)
	c.r = r
	return c
}

func (g *GitHub) fail(c *githubCtx, f *githubFailure) {
	h := c.w.Header()
	for k, v := range f.header {
		h[k] = v
	}
	msg, doc := http.StatusText(f.status), "https://docs.github.com/rest"
	switch {
	case (f.status == http.StatusForbidden || f.status == http.StatusTooManyRequests) && h.Get("X-RateLimit-Remaining") == "0":
		msg = "API rate limit exceeded for user ID 1."
		doc = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
	case (f.status == http.StatusForbidden || f.status == http.StatusTooManyRequests) && h.Get("Retry-After") != "":
		msg = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
		doc = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	case f.status == http.StatusUnauthorized:
		msg = "Bad credentials"
	case f.status >= 500:
		msg = "Server Error"
	}
	githubError(c.w, f.status, msg, doc)
}

// githubTokenFrom accepts the ways GitHub takes a token: "Bearer", "token",
// and Basic with the token as password.
func githubTokenFrom(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if scheme, v, ok := strings.Cut(a, " "); ok {
		switch strings.ToLower(scheme) {
		case "bearer", "token":
			return strings.TrimSpace(v)
		}
	}
	if _, pw, ok := r.BasicAuth(); ok {
		return pw
	}
	return ""
}

// githubError writes GitHub's basic-error body, e.g.
// {"message":"Bad credentials","documentation_url":"…","status":"401"}.
func githubError(w http.ResponseWriter, status int, msg, doc string) {
	githubJSON(w, status, map[string]any{"message": msg, "documentation_url": doc, "status": strconv.Itoa(status)})
}

func githubJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (c *githubCtx) notFound(doc string) {
	githubError(c.w, http.StatusNotFound, "Not Found", doc)
}

// forbidden answers as GitHub does when a fine-grained actor lacks a
// permission: 403, naming what would do in X-Accepted-GitHub-Permissions.
func (c *githubCtx) forbidden(accepted, doc string) {
	c.w.Header().Set("X-Accepted-GitHub-Permissions", accepted)
	msg := "Resource not accessible by personal access token"
	if c.token.Kind == GitHubApp {
		msg = "Resource not accessible by integration"
	}
	githubError(c.w, http.StatusForbidden, msg, doc)
}

func (c *githubCtx) scoped() bool {
	return c.token.Kind == GitHubClassic || c.token.Kind == GitHubOAuth
}

func (c *githubCtx) hasScope(scopes ...string) bool {
	for _, s := range c.token.Scopes {
		if slices.Contains(scopes, s) {
			return true
		}
	}
	return false
}

func (c *githubCtx) hasPermission(key, level string) bool {
	got := c.token.FineGrained[key]
	return got == "write" || (got == "read" && level == "read")
}

// reaches says whether the token may see the repository at all.
func (c *githubCtx) reaches(r *GitHubRepo) bool {
	if r.Public {
		return true
	}
	if !slices.ContainsFunc(c.token.Repos, func(s string) bool { return strings.EqualFold(s, r.FullName) }) {
		return false
	}
	if c.scoped() {
		return c.hasScope("repo")
	}
	return true
}

func (g *GitHub) getUser(w http.ResponseWriter, r *http.Request) {
	c := githubFrom(r)
	if c.token.Kind == GitHubApp {
		githubError(w, http.StatusForbidden, "Resource not accessible by integration", "https://docs.github.com/rest/users/users#get-the-authenticated-user")
		return
	}
	g.mu.Lock()
	id := g.userIDs[c.token.Login]
	g.mu.Unlock()
	u := githubSimpleUser(c, c.token.Login, id)
	var name any
	if c.token.Name != "" {
		name = c.token.Name
	}
	for k, v := range map[string]any{
		"user_view_type": "private", "name": name, "company": nil, "blog": "", "location": nil,
		"email": nil, "hireable": nil, "bio": nil, "twitter_username": nil,
		"public_repos": 0, "public_gists": 0, "followers": 0, "following": 0,
		"created_at": "2020-01-02T03:04:05Z", "updated_at": "2024-01-02T03:04:05Z",
		"private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0,
		"disk_usage": 0, "collaborators": 0, "two_factor_authentication": true,
	} {
		u[k] = v
	}
	githubJSON(w, http.StatusOK, u)
}

func (g *GitHub) listUserRepos(w http.ResponseWriter, r *http.Request) {
	c := githubFrom(r)
	if c.token.Kind == GitHubApp {
		githubError(w, http.StatusForbidden, "Resource not accessible by integration", "https://docs.github.com/rest/repos/repos#list-repositories-for-the-authenticated-user")
		return
	}
	if !c.scoped() {
		w.Header().Set("X-Accepted-GitHub-Permissions", "metadata=read")
	}
	repos := g.visibleRepos(c)
	page, link := githubPage(c, len(repos))
	out := []any{}
	for _, rp := range repos[page[0]:page[1]] {
		out = append(out, g.repoJSON(c, rp, false))
	}
	if link != "" {
		w.Header().Set("Link", link)
	}
	githubJSON(w, http.StatusOK, out)
}

func (g *GitHub) listInstallationRepos(w http.ResponseWriter, r *http.Request) {
	c := githubFrom(r)
	if c.token.Kind != GitHubApp {
		githubError(w, http.StatusForbidden, "You must authenticate with an installation access token in order to list repositories for an installation.", "https://docs.github.com/rest/apps/installations#list-repositories-accessible-to-the-app-installation")
		return
	}
	w.Header().Set("X-Accepted-GitHub-Permissions", "metadata=read")
	repos := g.visibleRepos(c)
	page, link := githubPage(c, len(repos))
	list := []any{}
	for _, rp := range repos[page[0]:page[1]] {
		list = append(list, g.repoJSON(c, rp, false))
	}
	if link != "" {
		w.Header().Set("Link", link)
	}
	githubJSON(w, http.StatusOK, map[string]any{"total_count": len(repos), "repositories": list, "repository_selection": "selected"})
}

// visibleRepos lists the token's repositories it may see, by full name.
func (g *GitHub) visibleRepos(c *githubCtx) []*GitHubRepo {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*GitHubRepo
	for _, full := range c.token.Repos {
		if rp := g.repos[strings.ToLower(full)]; rp != nil && c.reaches(rp) {
			out = append(out, rp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].FullName) < strings.ToLower(out[j].FullName) })
	return slices.CompactFunc(out, func(a, b *GitHubRepo) bool { return a == b })
}

// repo finds the addressed repository or answers 404 as GitHub does for
// repositories a token cannot see.
func (g *GitHub) repo(c *githubCtx, doc string) *GitHubRepo {
	return g.repoFor(c, doc, c.reaches)
}

// hookRepo is repo for the webhook endpoints, where the hook scopes alone
// reach a private repository: "write:repo_hook only gives you access to
// the webhooks for repositories and not access to the repository
// information itself" (GitHub community discussion 24499); hookAccess then
// checks the scope.
func (g *GitHub) hookRepo(c *githubCtx, doc string) *GitHubRepo {
	return g.repoFor(c, doc, func(r *GitHubRepo) bool {
		return r.Public || slices.ContainsFunc(c.token.Repos, func(s string) bool { return strings.EqualFold(s, r.FullName) })
	})
}

func (g *GitHub) repoFor(c *githubCtx, doc string, reaches func(*GitHubRepo) bool) *GitHubRepo {
	g.mu.Lock()
	rp := g.repos[strings.ToLower(c.r.PathValue("owner")+"/"+c.r.PathValue("repo"))]
	g.mu.Unlock()
	if rp == nil || !reaches(rp) {
		c.notFound(doc)
		return nil
	}
	return rp
}

func (g *GitHub) getRepo(w http.ResponseWriter, r *http.Request) {
	c := githubFrom(r)
	rp := g.repo(c, "https://docs.github.com/rest/repos/repos#get-a-repository")
	if rp == nil {
		return
	}
	if !c.scoped() {
		w.Header().Set("X-Accepted-GitHub-Permissions", "metadata=read")
	}
	githubJSON(w, http.StatusOK, g.repoJSON(c, rp, true))
}

// readable checks the permission that reading code needs: repo for a
// classic token on a private repository, Contents: Read for fine-grained.
// The fake asks the same of branches (a simplification).
func (c *githubCtx) readable(rp *GitHubRepo, doc string) bool {
	if c.scoped() {
		return true // reaches() already required repo for private repositories
	}
	c.w.Header().Set("X-Accepted-GitHub-Permissions", "contents=read")
	if rp.Public || c.hasPermission("contents", "read") {
		return true
	}
	c.forbidden("contents=read", doc)
	return false
}

func (g *GitHub) listBranches(w http.ResponseWriter, r *http.Request) {
	c := githubFrom(r)
	const doc = "https://docs.github.com/rest/branches/branches#list-branches"
	rp := g.repo(c, doc)
	if rp == nil || !c.readable(rp, doc) {
		return
	}
	names := append([]string{rp.DefaultBranch}, rp.Branches...)
	slices.Sort(names)
	names = slices.Compact(names)
	page, link := githubPage(c, len(names))
	out := []any{}
	for _, n := range names[page[0]:page[1]] {
		sha := githubBranchSHA(rp, n)
		out = append(out, map[string]any{
			"name":      n,
			"commit":    map[string]any{"sha": sha, "url": c.api + "/repos/" + rp.FullName + "/commits/" + sha},
			"protected": false,
		})
	}
	if link != "" {
		w.Header().Set("Link", link)
	}
	githubJSON(w, http.StatusOK, out)
}

// getBranch answers GET /repos/{owner}/{repo}/branches/{branch}. GitHub
// takes the branch with its slashes either escaped (%2F, as go-github
// sends it) or not, which the {branch...} wildcard gives alike.
func (g *GitHub) getBranch(w http.ResponseWriter, r *http.Request) {
	c := githubFrom(r)
	const doc = "https://docs.github.com/rest/branches/branches#get-a-branch"
	rp := g.repo(c, doc)
	if rp == nil || !c.readable(rp, doc) {
		return
	}
	name := r.PathValue("branch")
	if !rp.hasBranch(name) {
		githubError(w, http.StatusNotFound, "Branch not found", doc)
		return
	}
	sha := githubBranchSHA(rp, name)
	self := c.api + "/repos/" + rp.FullName + "/branches/" + name
	commitURL := c.api + "/repos/" + rp.FullName + "/commits/" + sha
	tree := githubSHA("tree\x00" + rp.FullName + "\x00" + name)
	who := map[string]any{"name": "Octo Cat", "email": "octo@example.com", "date": "2024-05-06T07:08:09Z"}
	githubJSON(w, http.StatusOK, map[string]any{
		"name": name,
		"commit": map[string]any{
			"sha": sha, "node_id": base64.StdEncoding.EncodeToString([]byte("06:Commit" + sha)),
			"url": commitURL, "html_url": c.web + "/" + rp.FullName + "/commit/" + sha,
			"comments_url": commitURL + "/comments",
			"commit": map[string]any{
				"author": who, "committer": who, "message": "Update " + name, "comment_count": 0,
				"url":  c.api + "/repos/" + rp.FullName + "/git/commits/" + sha,
				"tree": map[string]any{"sha": tree, "url": c.api + "/repos/" + rp.FullName + "/git/trees/" + tree},
			},
			// null: the commit's email belongs to no GitHub account.
			"author": nil, "committer": nil, "parents": []any{},
		},
		"_links":    map[string]any{"self": self, "html": c.web + "/" + rp.FullName + "/tree/" + name},
		"protected": false,
		"protection": map[string]any{
			"enabled":                false,
			"required_status_checks": map[string]any{"enforcement_level": "off", "contexts": []any{}, "checks": []any{}},
		},
		"protection_url": self + "/protection",
	})
}

// githubLargeFile is where the contents API stops sending a file's content
// in JSON ("Between 1-100 MB: Only the raw or object custom media types
// are supported", the description of repos/get-content).
const githubLargeFile = 1 << 20

// githubWantsRaw says whether Accept asks for the raw media type, in any
// spelling GitHub takes: application/vnd.github.raw, its +json form, or
// the versioned application/vnd.github.v3.raw.
func githubWantsRaw(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/vnd.github.raw", "application/vnd.github.raw+json",
			"application/vnd.github.v3.raw", "application/vnd.github.v3.raw+json":
			return true
		}
	}
	return false
}

func (g *GitHub) getContents(w http.ResponseWriter, r *http.Request) {
	c := githubFrom(r)
	const doc = "https://docs.github.com/rest/repos/contents#get-repository-content"
	rp := g.repo(c, doc)
	if rp == nil || !c.readable(rp, doc) {
		return
	}
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		ref = rp.DefaultBranch
	}
	if !rp.hasBranch(ref) {
		githubError(w, http.StatusNotFound, "No commit found for the ref "+ref, doc)
		return
	}
	files := rp.files(ref)
	if len(files) == 0 {
		githubError(w, http.StatusNotFound, "This repository is empty.", doc)
		return
	}
	p := strings.Trim(r.PathValue("path"), "/")
	if content, ok := files[p]; ok {
		if githubWantsRaw(r.Header.Get("Accept")) {
			// Raw: the bytes themselves, whatever the file's size.
			w.Header().Set("Content-Type", "application/vnd.github.raw; charset=utf-8")
			w.Header().Set("X-GitHub-Media-Type", "github.v3; param=raw")
			w.Header().Set("Content-Length", strconv.Itoa(len(content)))
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, content)
			return
		}
		item := githubContentItem(c, rp, p, "file", len(content), githubBlobSHA(content), ref)
		item["encoding"], item["content"] = "base64", githubBase64(content)
		if len(content) > githubLargeFile {
			item["encoding"], item["content"] = "none", ""
		}
		githubJSON(w, http.StatusOK, item)
		return
	}
	// A directory (raw or not: directories have no raw form): its
	// immediate children.
	prefix := ""
	if p != "" {
		prefix = p + "/"
	}
	children := map[string]string{} // name -> "file" or "dir"
	for f := range files {
		rest, ok := strings.CutPrefix(f, prefix)
		if !ok {
			continue
		}
		if name, _, isDir := strings.Cut(rest, "/"); isDir {
			children[name] = "dir"
		} else {
			children[name] = "file"
		}
	}
	if len(children) == 0 {
		c.notFound(doc)
		return
	}
	names := make([]string, 0, len(children))
	for n := range children {
		names = append(names, n)
	}
	slices.Sort(names)
	out := []any{}
	for _, n := range names {
		full := prefix + n
		if children[n] == "file" {
			out = append(out, githubContentItem(c, rp, full, "file", len(files[full]), githubBlobSHA(files[full]), ref))
		} else {
			out = append(out, githubContentItem(c, rp, full, "dir", 0, githubSHA("tree\x00"+rp.FullName+"\x00"+full), ref))
		}
	}
	githubJSON(w, http.StatusOK, out)
}

func githubContentItem(c *githubCtx, rp *GitHubRepo, p, typ string, size int, sha, ref string) map[string]any {
	self := c.api + "/repos/" + rp.FullName + "/contents/" + p + "?ref=" + url.QueryEscape(ref)
	kind := "blob"
	if typ == "dir" {
		kind = "tree"
	}
	html := c.web + "/" + rp.FullName + "/" + kind + "/" + ref + "/" + p
	git := c.api + "/repos/" + rp.FullName + "/git/" + kind + "s/" + sha
	var download any
	if typ == "file" {
		download = "https://raw.githubusercontent.com/" + rp.FullName + "/" + ref + "/" + p
	}
	return map[string]any{
		"type": typ, "size": size, "name": path.Base(p), "path": p, "sha": sha,
		"url": self, "git_url": git, "html_url": html, "download_url": download,
		"_links": map[string]any{"self": self, "git": git, "html": html},
	}
}

// Levels of repository webhook access, as GitHub's scopes tell them apart.
const (
	githubHookRead   = "read"
	githubHookWrite  = "write"
	githubHookDelete = "delete"
)

// hookAccess checks repository webhook access. Classic tokens: any of
// admin:repo_hook, repo, write:repo_hook or read:repo_hook reads;
// write:repo_hook creates and updates but cannot delete (GitHub's scope
// docs); without one GitHub answers 404 (it hides what they cannot
// administer), naming the scopes that would do in X-Accepted-OAuth-Scopes.
// Fine-grained and app tokens need Webhooks (repository_hooks) read or
// write, else 403 with X-Accepted-GitHub-Permissions.
func (c *githubCtx) hookAccess(level, doc string) bool {
	if c.scoped() {
		scopes := []string{"admin:repo_hook", "read:repo_hook", "repo", "write:repo_hook"}
		switch level {
		case githubHookWrite:
			scopes = []string{"admin:repo_hook", "repo", "write:repo_hook"}
		case githubHookDelete:
			scopes = []string{"admin:repo_hook", "repo"}
		}
		c.w.Header().Set("X-Accepted-OAuth-Scopes", strings.Join(scopes, ", "))
		if c.hasScope(scopes...) {
			return true
		}
		c.notFound(doc)
		return false
	}
	perm := "read"
	if level != githubHookRead {
		perm = "write"
	}
	c.w.Header().Set("X-Accepted-GitHub-Permissions", "repository_hooks="+perm)
	if c.hasPermission("repository_hooks", perm) {
		return true
	}
	c.forbidden("repository_hooks="+perm, doc)
	return false
}

func (g *GitHub) listHooks(w http.ResponseWriter, r *http.Request) {
	c := githubFrom(r)
	const doc = "https://docs.github.com/rest/repos/webhooks#list-repository-webhooks"
	rp := g.hookRepo(c, doc)
	if rp == nil || !c.hookAccess(githubHookRead, doc) {
		return
	}
	hooks := g.Hooks(rp.FullName)
	page, link := githubPage(c, len(hooks))
	out := []any{}
	for _, h := range hooks[page[0]:page[1]] {
		out = append(out, githubHookJSON(c, rp, h))
	}
	if link != "" {
		w.Header().Set("Link", link)
	}
	githubJSON(w, http.StatusOK, out)
}

func (g *GitHub) createHook(w http.ResponseWriter, r *http.Request) {
	c := githubFrom(r)
	const doc = "https://docs.github.com/rest/repos/webhooks#create-a-repository-webhook"
	rp := g.hookRepo(c, doc)
	if rp == nil || !c.hookAccess(githubHookWrite, doc) {
		return
	}
	var in struct {
		Name   *string `json:"name"`
		Active *bool   `json:"active"`
		Events []string
		Config struct {
			URL         string `json:"url"`
			ContentType string `json:"content_type"`
			Secret      string `json:"secret"`
			InsecureSSL any    `json:"insecure_ssl"`
		} `json:"config"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		githubError(w, http.StatusBadRequest, "Problems parsing JSON", doc)
		return
	}
	invalid := func(msg string) { githubHookInvalid(w, doc, msg) }
	if in.Name != nil && *in.Name != "web" {
		invalid("Name must be web")
		return
	}
	if in.Config.URL == "" {
		invalid("Config must contain url for webhook hook")
		return
	}
	h := GitHubHook{
		URL: in.Config.URL, ContentType: in.Config.ContentType, Secret: in.Config.Secret,
		InsecureSSL: "0", Events: in.Events, Active: true, CreatedAt: time.Now().UTC().Truncate(time.Second),
	}
	h.UpdatedAt = h.CreatedAt
	if h.ContentType == "" {
		h.ContentType = "form"
	}
	if in.Config.InsecureSSL != nil {
		h.InsecureSSL = fmt.Sprint(in.Config.InsecureSSL)
	}
	if len(h.Events) == 0 {
		h.Events = []string{"push"}
	}
	if in.Active != nil {
		h.Active = *in.Active
	}
	key := strings.ToLower(rp.FullName)
	g.mu.Lock()
	if slices.ContainsFunc(g.hooks[key], func(o GitHubHook) bool { return o.URL == h.URL }) {
		g.mu.Unlock()
		invalid("Hook already exists on this repository")
		return
	}
	g.nextID++
	h.ID = g.nextID
	g.hooks[key] = append(g.hooks[key], h)
	g.mu.Unlock()
	body := githubHookJSON(c, rp, h)
	w.Header().Set("Location", body["url"].(string))
	githubJSON(w, http.StatusCreated, body)
}

func githubHookJSON(c *githubCtx, rp *GitHubRepo, h GitHubHook) map[string]any {
	base := c.api + "/repos/" + rp.FullName + "/hooks/" + strconv.FormatInt(h.ID, 10)
	cfg := map[string]any{"url": h.URL, "content_type": h.ContentType, "insecure_ssl": h.InsecureSSL}
	if h.Secret != "" {
		cfg["secret"] = "********" // GitHub never returns a hook secret
	}
	updated := h.UpdatedAt
	if updated.IsZero() {
		updated = h.CreatedAt
	}
	events := h.Events
	if events == nil {
		events = []string{}
	}
	return map[string]any{
		"type": "Repository", "id": h.ID, "name": "web", "active": h.Active,
		"events": events, "config": cfg, "created_at": h.CreatedAt.Format(time.RFC3339), "updated_at": updated.Format(time.RFC3339),
		"url": base, "test_url": base + "/test", "ping_url": base + "/pings",
		"deliveries_url": base + "/deliveries",
		"last_response":  map[string]any{"code": nil, "status": "unused", "message": nil},
	}
}

// githubHookInvalid is GitHub's 422 for a hook it will not take.
func githubHookInvalid(w http.ResponseWriter, doc, msg string) {
	githubJSON(w, http.StatusUnprocessableEntity, map[string]any{
		"message":           "Validation Failed",
		"errors":            []any{map[string]any{"resource": "Hook", "code": "custom", "message": msg}},
		"documentation_url": doc,
		"status":            "422",
	})
}

// hookByID finds the addressed hook after the access check, answering 404
// as GitHub does for an id the repository does not have.
func (g *GitHub) hookByID(c *githubCtx, level, doc string) (*GitHubRepo, GitHubHook, bool) {
	rp := g.hookRepo(c, doc)
	if rp == nil || !c.hookAccess(level, doc) {
		return nil, GitHubHook{}, false
	}
	id, err := strconv.ParseInt(c.r.PathValue("hook_id"), 10, 64)
	if err == nil {
		for _, h := range g.Hooks(rp.FullName) {
			if h.ID == id {
				return rp, h, true
			}
		}
	}
	c.notFound(doc)
	return nil, GitHubHook{}, false
}

func (g *GitHub) getHook(w http.ResponseWriter, r *http.Request) {
	c := githubFrom(r)
	rp, h, ok := g.hookByID(c, githubHookRead, "https://docs.github.com/rest/repos/webhooks#get-a-repository-webhook")
	if ok {
		githubJSON(w, http.StatusOK, githubHookJSON(c, rp, h))
	}
}

// updateHook answers PATCH as GitHub documents it: events replaces the
// list, add_events and remove_events edit it, active toggles, and config
// replaces the whole configuration, so a config without a secret removes
// the secret ("If you previously had a secret set, you must provide the
// same secret or set a new secret or the secret will be removed").
func (g *GitHub) updateHook(w http.ResponseWriter, r *http.Request) {
	c := githubFrom(r)
	const doc = "https://docs.github.com/rest/repos/webhooks#update-a-repository-webhook"
	rp, h, ok := g.hookByID(c, githubHookWrite, doc)
	if !ok {
		return
	}
	var in struct {
		Config *struct {
			URL         string `json:"url"`
			ContentType string `json:"content_type"`
			Secret      string `json:"secret"`
			InsecureSSL any    `json:"insecure_ssl"`
		} `json:"config"`
		Events       *[]string `json:"events"`
		AddEvents    []string  `json:"add_events"`
		RemoveEvents []string  `json:"remove_events"`
		Active       *bool     `json:"active"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		githubError(w, http.StatusBadRequest, "Problems parsing JSON", doc)
		return
	}
	if cfg := in.Config; cfg != nil {
		if cfg.URL == "" {
			githubHookInvalid(w, doc, "Config must contain url for webhook hook")
			return
		}
		h.URL, h.ContentType, h.Secret, h.InsecureSSL = cfg.URL, cfg.ContentType, cfg.Secret, "0"
		if h.ContentType == "" {
			h.ContentType = "form"
		}
		if cfg.InsecureSSL != nil {
			h.InsecureSSL = fmt.Sprint(cfg.InsecureSSL)
		}
	}
	if in.Events != nil {
		h.Events = slices.Clone(*in.Events)
	}
	for _, e := range in.AddEvents {
		if !slices.Contains(h.Events, e) {
			h.Events = append(h.Events, e)
		}
	}
	h.Events = slices.DeleteFunc(h.Events, func(e string) bool { return slices.Contains(in.RemoveEvents, e) })
	if in.Active != nil {
		h.Active = *in.Active
	}
	h.UpdatedAt = time.Now().UTC().Truncate(time.Second)
	key := strings.ToLower(rp.FullName)
	g.mu.Lock()
	if slices.ContainsFunc(g.hooks[key], func(o GitHubHook) bool { return o.ID != h.ID && o.URL == h.URL }) {
		g.mu.Unlock()
		githubHookInvalid(w, doc, "Hook already exists on this repository")
		return
	}
	found := false
	for i := range g.hooks[key] {
		if g.hooks[key][i].ID == h.ID {
			g.hooks[key][i], found = h, true
		}
	}
	g.mu.Unlock()
	if !found { // deleted while this request ran
		c.notFound(doc)
		return
	}
	githubJSON(w, http.StatusOK, githubHookJSON(c, rp, h))
}

func (g *GitHub) deleteHook(w http.ResponseWriter, r *http.Request) {
	c := githubFrom(r)
	rp, h, ok := g.hookByID(c, githubHookDelete, "https://docs.github.com/rest/repos/webhooks#delete-a-repository-webhook")
	if !ok {
		return
	}
	g.RemoveHook(rp.FullName, h.ID)
	w.Header().Del("Content-Type")
	w.WriteHeader(http.StatusNoContent)
}

func (g *GitHub) getRateLimit(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	limit, _ := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	used, _ := strconv.Atoi(h.Get("X-RateLimit-Used"))
	core := map[string]any{"limit": limit, "used": used, "remaining": max(limit-used, 0), "reset": g.reset.Unix()}
	search := map[string]any{"limit": 30, "used": 0, "remaining": 30, "reset": g.reset.Unix()}
	githubJSON(w, http.StatusOK, map[string]any{
		"resources": map[string]any{"core": core, "search": search},
		"rate":      core,
	})
}

// githubPage applies per_page (default 30, at most 100) and page, and
// builds GitHub's Link header.
func githubPage(c *githubCtx, n int) ([2]int, string) {
	q := c.r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = 30
	}
	per = min(per, 100)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page <= 0 {
		page = 1
	}
	start := min((page-1)*per, n)
	end := min(start+per, n)
	last := max((n+per-1)/per, 1)
	if last <= 1 {
		return [2]int{start, end}, ""
	}
	link := func(p int, rel string) string {
		q.Set("page", strconv.Itoa(p))
		q.Set("per_page", strconv.Itoa(per))
		return fmt.Sprintf("<%s%s?%s>; rel=%q", c.api, c.r.URL.Path, q.Encode(), rel)
	}
	var parts []string
	if page > 1 {
		parts = append(parts, link(page-1, "prev"))
	}
	if page < last {
		parts = append(parts, link(page+1, "next"))
	}
	parts = append(parts, link(last, "last"), link(1, "first"))
	return [2]int{start, end}, strings.Join(parts, ", ")
}

func githubSimpleUser(c *githubCtx, login string, id int64) map[string]any {
	u := c.api + "/users/" + login
	return map[string]any{
		"login": login, "id": id, "node_id": base64.StdEncoding.EncodeToString([]byte("04:User" + strconv.FormatInt(id, 10))),
		"avatar_url": "https://avatars.githubusercontent.com/u/" + strconv.FormatInt(id, 10) + "?v=4", "gravatar_id": "",
		"url": u, "html_url": c.web + "/" + login,
		"followers_url": u + "/followers", "following_url": u + "/following{/other_user}",
		"gists_url": u + "/gists{/gist_id}", "starred_url": u + "/starred{/owner}{/repo}",
		"subscriptions_url": u + "/subscriptions", "organizations_url": u + "/orgs",
		"repos_url": u + "/repos", "events_url": u + "/events{/privacy}",
		"received_events_url": u + "/received_events", "type": "User", "site_admin": false,
	}
}

// repoJSON renders the repository schema, or full-repository when full.
func (g *GitHub) repoJSON(c *githubCtx, rp *GitHubRepo, full bool) map[string]any {
	g.mu.Lock()
	id := g.repoIDs[strings.ToLower(rp.FullName)]
	owner, name, _ := strings.Cut(rp.FullName, "/")
	ownerID := g.userIDs[owner]
	g.mu.Unlock()
	a := c.api + "/repos/" + rp.FullName
	host := strings.TrimPrefix(c.web, "https://")
	visibility := "private"
	if rp.Public {
		visibility = "public"
	}
	m := map[string]any{
		"id": id, "node_id": base64.StdEncoding.EncodeToString([]byte("010:Repository" + strconv.FormatInt(id, 10))),
		"name": name, "full_name": rp.FullName, "owner": githubSimpleUser(c, owner, ownerID),
		"private": !rp.Public, "visibility": visibility, "html_url": c.web + "/" + rp.FullName,
		"description": nil, "fork": false, "url": a, "license": nil,
		"archive_url": a + "/{archive_format}{/ref}", "assignees_url": a + "/assignees{/user}",
		"blobs_url": a + "/git/blobs{/sha}", "branches_url": a + "/branches{/branch}",
		"collaborators_url": a + "/collaborators{/collaborator}", "comments_url": a + "/comments{/number}",
		"commits_url": a + "/commits{/sha}", "compare_url": a + "/compare/{base}...{head}",
		"contents_url": a + "/contents/{+path}", "contributors_url": a + "/contributors",
		"deployments_url": a + "/deployments", "downloads_url": a + "/downloads",
		"events_url": a + "/events", "forks_url": a + "/forks",
		"git_commits_url": a + "/git/commits{/sha}", "git_refs_url": a + "/git/refs{/sha}",
		"git_tags_url": a + "/git/tags{/sha}", "git_url": "git://" + host + "/" + rp.FullName + ".git",
		"issue_comment_url": a + "/issues/comments{/number}", "issue_events_url": a + "/issues/events{/number}",
		"issues_url": a + "/issues{/number}", "keys_url": a + "/keys{/key_id}",
		"labels_url": a + "/labels{/name}", "languages_url": a + "/languages",
		"merges_url": a + "/merges", "milestones_url": a + "/milestones{/number}",
		"notifications_url": a + "/notifications{?since,all,participating}", "pulls_url": a + "/pulls{/number}",
		"releases_url": a + "/releases{/id}", "ssh_url": "git@" + host + ":" + rp.FullName + ".git",
		"stargazers_url": a + "/stargazers", "statuses_url": a + "/statuses/{sha}",
		"subscribers_url": a + "/subscribers", "subscription_url": a + "/subscription",
		"tags_url": a + "/tags", "teams_url": a + "/teams", "trees_url": a + "/git/trees{/sha}",
		"clone_url": c.web + "/" + rp.FullName + ".git", "mirror_url": nil, "hooks_url": a + "/hooks",
		"svn_url": c.web + "/" + rp.FullName, "homepage": nil, "language": nil,
		"forks": 0, "forks_count": 0, "stargazers_count": 0, "watchers": 0, "watchers_count": 0,
		"size": len(rp.Files), "default_branch": rp.DefaultBranch, "open_issues": 0, "open_issues_count": 0,
		"has_issues": true, "has_projects": true, "has_wiki": false, "has_pages": false, "has_downloads": true,
		"archived": false, "disabled": false,
		"pushed_at": "2024-05-06T07:08:09Z", "created_at": "2023-01-02T03:04:05Z", "updated_at": "2024-05-06T07:08:09Z",
	}
	if full {
		m["has_discussions"] = false
		m["network_count"] = 0
		m["subscribers_count"] = 0
	}
	return m
}

// githubBlobSHA is git's object id for a blob with this content.
func githubBlobSHA(content string) string {
	return githubSHA("blob " + strconv.Itoa(len(content)) + "\x00" + content)
}

func githubSHA(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// githubBase64 wraps at 60 characters with newlines, as GitHub does.
func githubBase64(s string) string {
	enc := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(enc) > 60 {
		b.WriteString(enc[:60] + "\n")
		enc = enc[60:]
	}
	b.WriteString(enc + "\n")
	return b.String()
}

// GitHubContract checks HTTP exchanges against GitHub's own OpenAPI
// description (contracts/github/openapi-subset.json), so neither the fake
// nor a client can drift from the real API unnoticed.
type GitHubContract struct {
	t      testing.TB
	doc    *openapi3.T
	router routers.Router
	multi  []githubMultiSegment

	mu      sync.Mutex
	checked int
}

// githubMultiSegment is a path template with a parameter GitHub marks
// x-multi-segment (it may contain slashes), which routers do not honour.
type githubMultiSegment struct {
	re    *regexp.Regexp
	param string
	// emptyOK: GitHub documents that omitting this parameter is allowed
	// ("If you omit the path parameter, you will receive the contents of
	// the repository's root directory").
	emptyOK bool
}

// githubContractServers are the base URLs the fake answers on: cloud at the
// root of api.* hosts, Enterprise Server under /api/v3.
const (
	githubCloudServer = "https://api.github.com"
	githubGHESServer  = "https://ghe.test/api/v3"
)

// GitHubContractValidator loads the contract. It looks for
// contracts/github/openapi-subset.json (or shared/contracts/…) in the
// working directory and its parents, or under $GITACCESS_CONTRACTS.
func GitHubContractValidator(t testing.TB) *GitHubContract {
	t.Helper()
	file := githubContractFile(t)
	doc, err := openapi3.NewLoader().LoadFromFile(file)
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	// The description's own examples are not all valid (a date-time
	// example in branch-with-protection); the schemas are what matter.
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", file, err)
	}
	doc.Servers = openapi3.Servers{{URL: githubCloudServer}, {URL: githubGHESServer}}
	router, err := legacy.NewRouter(doc, openapi3.DisableExamplesValidation())
	if err != nil {
		t.Fatalf("route %s: %v", file, err)
	}
	c := &GitHubContract{t: t, doc: doc, router: router}
	for tmpl, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, p := range append(item.Parameters, op.Parameters...) {
				if p.Value == nil || p.Value.In != "path" || p.Value.Extensions["x-multi-segment"] != true {
					continue
				}
				emptyOK := op.OperationID == "repos/get-content"
				value := "/(?P<multi>.+)"
				if emptyOK {
					value = "(?:/(?P<multi>.*))?"
				}
				expr := regexp.QuoteMeta(tmpl)
				expr = strings.Replace(expr, regexp.QuoteMeta("/{"+p.Value.Name+"}"), value, 1)
				expr = regexp.MustCompile(`\\\{[a-z_]+\\\}`).ReplaceAllString(expr, `[^/]+`)
				c.multi = append(c.multi, githubMultiSegment{
					re:      regexp.MustCompile("^" + expr + "$"),
					param:   p.Value.Name,
					emptyOK: emptyOK,
				})
			}
		}
	}
	return c
}

func githubContractFile(t testing.TB) string {
	t.Helper()
	const rel = "github/openapi-subset.json"
	if dir := os.Getenv("GITACCESS_CONTRACTS"); dir != "" {
		return filepath.Join(dir, rel)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		for _, c := range []string{"contracts", filepath.Join("shared", "contracts")} {
			f := filepath.Join(dir, c, rel)
			if _, err := os.Stat(f); err == nil {
				return f
			}
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	t.Fatalf("cannot find contracts/%s in %s or above; set GITACCESS_CONTRACTS to the contracts directory", rel, wd)
	return ""
}

// Checked is how many exchanges were validated, so a test can tell that
// its traffic really went through the contract.
func (c *GitHubContract) Checked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checked
}

// Wrap validates every request h receives and every response it writes;
// a violation fails the test (the exchange still completes).
func (c *GitHubContract) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			c.t.Errorf("GitHub contract: read request body: %v", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r.Clone(r.Context()))
		if err := c.Check(r, body, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			c.t.Errorf("GitHub contract: %v", err)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// Check validates one exchange: the request (method, path, parameters,
// body) and the response (status, headers, body) against the operation it
// addresses. Statuses GitHub sends on any endpoint but the description
// omits (401, 404, 429, 5xx…) must still carry GitHub's basic-error body.
func (c *GitHubContract) Check(r *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	ctx := r.Context()
	req, params, route, err := c.route(r, reqBody)
	if err != nil {
		return err
	}
	where := fmt.Sprintf("%s %s (%s)", r.Method, r.URL.RequestURI(), route.Operation.OperationID)
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}
	opts.WithCustomSchemaErrorFunc(githubSchemaError)
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		return fmt.Errorf("request %s breaks the contract: %w", where, err)
	}
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt == "application/vnd.github.raw" {
		// The raw media type is in the operation's prose but not its
		// responses (github/rest-api-description#6089), and a raw body is
		// the file itself: there is no schema to hold it to, only the
		// conditions GitHub sends it under.
		if route.Operation.OperationID != "repos/get-content" || status != http.StatusOK {
			return fmt.Errorf("response %s: status %d with a raw body, which only a 200 from repos/get-content has", where, status)
		}
		if !githubWantsRaw(r.Header.Get("Accept")) {
			return fmt.Errorf("response %s: a raw body answers Accept %q, which did not ask for application/vnd.github.raw", where, r.Header.Get("Accept"))
		}
	} else if route.Operation.Responses.Status(status) == nil && route.Operation.Responses.Default() == nil {
		if status < 400 {
			return fmt.Errorf("response %s: status %d is not in the contract", where, status)
		}
		if err := c.basicError(header, body); err != nil {
			return fmt.Errorf("response %s: status %d: %w", where, status, err)
		}
	} else {
		ropts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
		ropts.WithCustomSchemaErrorFunc(githubSchemaError)
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: ropts}
		out.SetBodyBytes(body)
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			return fmt.Errorf("response %s with status %d breaks the contract: %w", where, status, err)
		}
	}
	c.mu.Lock()
	c.checked++
	c.mu.Unlock()
	return nil
}

// githubSchemaError names the offending field instead of dumping the schema.
func githubSchemaError(err *openapi3.SchemaError) string {
	return "/" + strings.Join(err.JSONPointer(), "/") + ": " + err.Reason
}

func (c *GitHubContract) basicError(header http.Header, body []byte) error {
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt != "application/json" {
		return fmt.Errorf("error body is %q, want application/json", header.Get("Content-Type"))
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("error body is not JSON: %w", err)
	}
	if err := c.doc.Components.Schemas["basic-error"].Value.VisitJSON(v); err != nil {
		return fmt.Errorf("error body is not a basic-error: %w", err)
	}
	return nil
}

// route finds the operation a request addresses, as if it had been sent to
// one of the contract's servers.
func (c *GitHubContract) route(r *http.Request, body []byte) (*http.Request, map[string]string, *routers.Route, error) {
	hostname := r.Host
	if h, _, err := net.SplitHostPort(hostname); err == nil {
		hostname = h
	}
	p := r.URL.EscapedPath()
	base := githubCloudServer
	if !strings.HasPrefix(hostname, "api.") {
		rest, ok := strings.CutPrefix(p, "/api/v3")
		if !ok {
			return nil, nil, nil, fmt.Errorf("%s %s: Enterprise Server requests belong under /api/v3", r.Method, p)
		}
		p, base = rest, githubGHESServer
	}
	// Route multi-segment values through a placeholder segment.
	var multi *githubMultiSegment
	multiValue := ""
	for i := range c.multi {
		m := c.multi[i].re.FindStringSubmatch(p)
		if m == nil {
			continue
		}
		multi = &c.multi[i]
		raw := m[c.multi[i].re.SubexpIndex("multi")]
		v, err := url.PathUnescape(raw)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s %s: %w", r.Method, p, err)
		}
		if v == "" && !multi.emptyOK {
			return nil, nil, nil, fmt.Errorf("%s %s: parameter %s is empty", r.Method, p, multi.param)
		}
		multiValue = v
		p = strings.TrimSuffix(strings.TrimSuffix(p, raw), "/") + "/_"
		break
	}
	u, err := url.Parse(base + p)
	if err != nil {
		return nil, nil, nil, err
	}
	u.RawQuery = r.URL.RawQuery
	req := r.Clone(r.Context())
	req.URL = u
	req.Host = u.Host
	req.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s %s is not an operation in the contract: %w", r.Method, r.URL.Path, err)
	}
	// An omitted (empty) value, where GitHub allows one, keeps the
	// placeholder so the required parameter still validates.
	if multi != nil && multiValue != "" {
		params[multi.param] = multiValue
	}
	return req, params, route, nil
}
