package forgetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Gitea is a fake Gitea (or Forgejo) REST API, /api/v1, for one instance.
// Its answers are shaped like Gitea's own structs (modules/structs: User,
// Repository, Branch, Hook; the repository and user objects match those
// embedded in shared/contracts/gitea/webhooks, which a test keeps so), and
// its refusals follow routers/api/v1/api.go: 401 "token is required" for a
// missing or unknown token, 403 "token does not have at least one of
// required scope(s): [read:user]" from tokenRequiresScopes (read scope for
// GET, write for POST, PUT, PATCH and DELETE, checked before the route
// looks anything up), 404 "The target couldn't be found." for a repository
// the token's user cannot see, and 403 from reqAdmin on hooks for a user
// who is not a repository admin. Lists page by page and limit
// (DEFAULT_PAGING_NUM 30, MAX_RESPONSE_ITEMS 50) with Link and
// X-Total-Count headers.
//
// Mount it with NewServer(t, nil, ByHost{"gitea.test": g}).
type Gitea struct {
	mu       sync.Mutex
	subPath  string // "" or e.g. "/gitea"
	appURL   string // ROOT_URL for links, "" for https://<Host><subPath>/
	version  string
	forgejo  bool
	maxItems int
	nextID   int64
	tokens   map[string]*gtToken
	users    map[string]*gtUser // by lower-case login
	repos    map[string]*gtRepo // by lower-case full name
	failures []gtFailure
	requests map[string]int
}

// GiteaToken describes a token the fake accepts.
type GiteaToken struct {
	// Username is the login the token acts as; FullName its display name.
	Username string
	FullName string
	// Scopes in Gitea's words: read:user, read:repository,
	// write:repository, all... Write implies read, all is every write.
	Scopes []string
	// Repos are "owner/name" repositories, created on first mention, on
	// which the user gets Access; a repository whose owner is Username is
	// the user's own (admin).
	Repos []string
	// Access is "read", "write" or "admin" (the default).
	Access string
	// Prohibited makes Gitea refuse the user (prohibit_login) with 403.
	Prohibited bool
}

// GiteaHook is a repository webhook as the fake stored it, secret included
// (Gitea never returns it; tests need it to sign deliveries).
type GiteaHook struct {
	ID           int64
	Type         string
	URL          string
	ContentType  string
	Secret       string
	BranchFilter string
	// Events are the API names Gitea lists for the hook.
	Events []string
	Active bool
}

type gtUser struct {
	id         int64
	login      string
	fullName   string
	prohibited bool
}

type gtToken struct {
	user   *gtUser
	scopes []string
}

type gtRepo struct {
	id            int64
	owner         *gtUser
	name          string
	private       bool
	defaultBranch string                       // "" for an empty repository
	branches      map[string]string            // name -> commit sha
	files         map[string]map[string]string // ref -> path -> content
	access        map[int64]string             // user id -> read, write, admin
	hooks         []*gtHook
}

type gtHook struct {
	id           int64
	typ          string
	url          string
	contentType  string
	secret       string
	branchFilter string
	events       map[string]bool
	active       bool
}

type gtFailure struct {
	status  int
	headers http.Header
	body    string
}

// gtEpoch is when every fake object was "created": fixed, so answers are
// reproducible.
func gtEpoch() time.Time { return time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) }

// NewGitea returns an empty fake Gitea 1.22.3 served at the host's root.
func NewGitea() *Gitea {
	return &Gitea{
		version:  "1.22.3",
		maxItems: 50,
		nextID:   1,
		tokens:   map[string]*gtToken{},
		users:    map[string]*gtUser{},
		repos:    map[string]*gtRepo{},
		requests: map[string]int{},
	}
}

// SetSubPath serves Gitea under a sub-path of its host (ROOT_URL
// https://host/gitea/), so /api/v1 alone answers 404.
func (g *Gitea) SetSubPath(p string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.subPath = "/" + strings.Trim(p, "/")
	if g.subPath == "/" {
		g.subPath = ""
	}
}

// SetAppURL sets Gitea's ROOT_URL, from which it builds every URL it
// answers, Link headers included; a proxy in front may make it differ from
// the address clients use.
func (g *Gitea) SetAppURL(u string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.appURL = strings.TrimRight(u, "/") + "/"
}

// SetForgejo makes the fake a Forgejo: /version answers
// "<version>+gitea-<giteaVersion>" and hooks may have type forgejo.
func (g *Gitea) SetForgejo(version, giteaVersion string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.forgejo, g.version = true, version+"+gitea-"+giteaVersion
}

// SetMaxResponseItems sets [api] MAX_RESPONSE_ITEMS, the largest page.
func (g *Gitea) SetMaxResponseItems(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.maxItems = n
}

// AddToken makes value a valid token.
func (g *Gitea) AddToken(value string, spec GiteaToken) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if spec.Username == "" {
		panic("forgetest: a Gitea token needs a Username")
	}
	access := spec.Access
	if access == "" {
		access = "admin"
	}
	if access != "read" && access != "write" && access != "admin" {
		panic(fmt.Sprintf("forgetest: Gitea access %q is not read, write or admin", access))
	}
	u := g.userLocked(spec.Username)
	if spec.FullName != "" {
		u.fullName = spec.FullName
	}
	u.prohibited = spec.Prohibited
	for _, full := range spec.Repos {
		r := g.repoLocked(full)
		if r.owner != u {
			r.access[u.id] = access
		}
	}
	g.tokens[value] = &gtToken{user: u, scopes: slices.Clone(spec.Scopes)}
}

// Revoke deletes a token, as Gitea does: it then answers 401.
func (g *Gitea) Revoke(value string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.tokens, value)
}

// FailNext makes the next request, whatever it is, answer status with
// headers and body (Gitea's {"message":..., "url":...} when body is
// empty). Calls queue up.
func (g *Gitea) FailNext(status int, headers http.Header, body string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failures = append(g.failures, gtFailure{status: status, headers: headers.Clone(), body: body})
}

// Requests counts the requests that carried value, answered or not.
func (g *Gitea) Requests(value string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests[value]
}

// SetPrivate makes repo ("owner/name") private (the default) or public.
func (g *Gitea) SetPrivate(repo string, private bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.repoLocked(repo).private = private
}

// SetBranch points branch of repo at sha.
func (g *Gitea) SetBranch(repo, branch, sha string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.repoLocked(repo).branches[branch] = sha
}

// SetDefaultBranch makes branch the default, creating it if needed; "" makes
// the repository empty.
func (g *Gitea) SetDefaultBranch(repo, branch string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.repoLocked(repo)
	r.defaultBranch = branch
	if branch == "" {
		r.branches = map[string]string{}
		return
	}
	if _, ok := r.branches[branch]; !ok {
		r.branches[branch] = fmt.Sprintf("%040x", int64(len(r.branches))+1000*r.id)
	}
}

// SetFile stores content at path for ref (a branch name, or a commit sha).
func (g *Gitea) SetFile(repo, ref, path, content string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.repoLocked(repo)
	if r.files[ref] == nil {
		r.files[ref] = map[string]string{}
	}
	r.files[ref][path] = content
}

// AddHook stores a hook on repo as if someone had made it, and returns its
// id. Events are CreateHookOption events ("push", "pull_request_only"...).
func (g *Gitea) AddHook(repo string, h GiteaHook) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.repoLocked(repo)
	typ := h.Type
	if typ == "" {
		typ = "gitea"
	}
	hk := &gtHook{id: g.newID(), typ: typ, url: h.URL, contentType: h.ContentType, secret: h.Secret,
		branchFilter: h.BranchFilter, events: gtHookEvents(h.Events), active: h.Active}
	r.hooks = append(r.hooks, hk)
	return hk.id
}

// Hooks returns the hooks of repo.
func (g *Gitea) Hooks(repo string) []GiteaHook {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.repos[strings.ToLower(repo)]
	if !ok {
		return nil
	}
	out := make([]GiteaHook, 0, len(r.hooks))
	for _, h := range r.hooks {
		out = append(out, GiteaHook{ID: h.id, Type: h.typ, URL: h.url, ContentType: h.contentType, Secret: h.secret,
			BranchFilter: h.branchFilter, Events: h.eventList(), Active: h.active})
	}
	return out
}

func (g *Gitea) newID() int64 {
	id := g.nextID
	g.nextID++
	return id
}

func (g *Gitea) userLocked(login string) *gtUser {
	if u, ok := g.users[strings.ToLower(login)]; ok {
		return u
	}
	u := &gtUser{id: g.newID(), login: login}
	g.users[strings.ToLower(login)] = u
	return u
}

func (g *Gitea) repoLocked(full string) *gtRepo {
	if r, ok := g.repos[strings.ToLower(full)]; ok {
		return r
	}
	owner, name, ok := strings.Cut(full, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		panic(fmt.Sprintf("forgetest: Gitea repository %q is not owner/name", full))
	}
	r := &gtRepo{id: g.newID(), owner: g.userLocked(owner), name: name, private: true, defaultBranch: "main",
		files: map[string]map[string]string{}, access: map[int64]string{}}
	r.branches = map[string]string{"main": fmt.Sprintf("%040x", r.id)}
	g.repos[strings.ToLower(full)] = r
	return r
}

func (r *gtRepo) fullName() string { return r.owner.login + "/" + r.name }

// accessOf is u's access to r: owner, admin, write, read or "" (none);
// anyone reads a public repository.
func (r *gtRepo) accessOf(u *gtUser) string {
	switch {
	case r.owner == u:
		return "owner"
	case r.access[u.id] != "":
		return r.access[u.id]
	case !r.private:
		return "read"
	}
	return ""
}

// member reports whether u reaches r through ownership or collaboration,
// which is what /user/repos lists.
func (r *gtRepo) member(u *gtUser) bool { return r.owner == u || r.access[u.id] != "" }

// hasScope reports whether scopes grant want ("read:user"...): write
// implies read, all is every write scope.
func hasScope(scopes []string, want string) bool {
	level, cat, _ := strings.Cut(want, ":")
	for _, s := range scopes {
		if s == "all" || s == want || level == "read" && s == "write:"+cat {
			return true
		}
	}
	return false
}

func (g *Gitea) swaggerURL(r *http.Request) string { return g.rootURL(r) + "api/swagger" }

// rootURL is ROOT_URL, with its trailing slash.
func (g *Gitea) rootURL(r *http.Request) string {
	if g.appURL != "" {
		return g.appURL
	}
	return "https://" + r.Host + g.subPath + "/"
}

func gtJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// gtError is APIContext.Error's body.
func (g *Gitea) gtError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	gtJSON(w, status, map[string]any{"message": msg, "url": g.swaggerURL(r)})
}

// gtNotFound is APIContext.NotFound's body; errs are its causes.
func (g *Gitea) gtNotFound(w http.ResponseWriter, r *http.Request, errs ...string) {
	if errs == nil {
		errs = []string{}
	}
	gtJSON(w, http.StatusNotFound, map[string]any{"message": "The target couldn't be found.", "url": g.swaggerURL(r), "errors": errs})
}

// gtTokenOf reads the token from "Authorization: token X" or "Bearer X"
// (services/auth/oauth2.go parseToken). Query tokens are not modelled:
// gitaccess never sends one.
func gtTokenOf(r *http.Request) string {
	scheme, v, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if ok && (strings.EqualFold(scheme, "token") || strings.EqualFold(scheme, "bearer")) {
		return strings.TrimSpace(v)
	}
	return ""
}

func (g *Gitea) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()

	value := gtTokenOf(r)
	if value != "" {
		g.requests[value]++
	}
	if len(g.failures) > 0 {
		f := g.failures[0]
		g.failures = g.failures[1:]
		for k, vs := range f.headers {
			w.Header()[k] = vs
		}
		if f.body != "" {
			w.Header().Set("Content-Type", "application/json;charset=utf-8")
			w.WriteHeader(f.status)
			_, _ = fmt.Fprint(w, f.body)
			return
		}
		g.gtError(w, r, f.status, http.StatusText(f.status))
		return
	}

	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), g.subPath+"/api/v1/")
	if !ok {
		http.NotFound(w, r) // the web UI's 404, not the API's
		return
	}
	seg := strings.Split(rest, "/")
	for i, s := range seg {
		if u, err := url.PathUnescape(s); err == nil {
			seg[i] = u
		}
	}
	if len(seg) == 1 && seg[0] == "version" {
		// Public: no token needed, none checked (an unknown one is
		// anonymous here).
		gtJSON(w, http.StatusOK, map[string]string{"version": g.version})
		return
	}

	// route finds the handler and the scope categories its group needs.
	var cats []string
	var h func(*gtUser)
	method := r.Method
	switch {
	case len(seg) == 1 && seg[0] == "user" && method == http.MethodGet:
		cats, h = []string{"user"}, func(u *gtUser) { gtJSON(w, http.StatusOK, g.userJSON(r, u)) }
	case len(seg) == 2 && seg[0] == "user" && seg[1] == "repos" && method == http.MethodGet:
		cats, h = []string{"user", "repository"}, func(u *gtUser) { g.listMyRepos(w, r, u) }
	case len(seg) == 2 && seg[0] == "repos" && seg[1] == "search" && method == http.MethodGet:
		cats, h = []string{"repository"}, func(u *gtUser) { g.searchRepos(w, r, u) }
	case len(seg) == 2 && seg[0] == "repos" && seg[1] == "migrate" && method == http.MethodPost:
		cats, h = []string{"repository"}, func(*gtUser) { g.migrate(w, r) }
	case len(seg) >= 3 && seg[0] == "repos":
		cats, h = []string{"repository"}, func(u *gtUser) { g.repoRoute(w, r, u, seg[1], seg[2], seg[3:]) }
	default:
		g.gtNotFound(w, r)
		return
	}

	t, ok := g.tokens[value]
	if !ok {
		// The token is unknown (or none was sent): the request is
		// anonymous, and reqToken refuses it.
		g.gtError(w, r, http.StatusUnauthorized, "token is required")
		return
	}
	if t.user.prohibited {
		g.gtError(w, r, http.StatusForbidden, "This account is prohibited from signing in, please contact your site administrator.")
		return
	}
	level := "read"
	if method != http.MethodGet && method != http.MethodHead {
		level = "write"
	}
	for _, c := range cats {
		need := level + ":" + c
		if !hasScope(t.scopes, need) {
			g.gtError(w, r, http.StatusForbidden, fmt.Sprintf("token does not have at least one of required scope(s): %v", []string{need}))
			return
		}
	}
	h(t.user)
}

// pageBounds applies page and limit (utils.GetListOptions,
// convert.ToCorrectPageSize) to a list of total items, writes
// X-Total-Count and Link (genAPILinks: next, last, first, prev, from
// ROOT_URL, joined by ","), and returns the page's bounds.
func (g *Gitea) pageBounds(w http.ResponseWriter, r *http.Request, total int) (lo, hi int) {
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 {
		limit = 30
	}
	limit = min(limit, g.maxItems)
	lo = min((page-1)*limit, total)
	hi = min(lo+limit, total)
	pages := max(1, (total+limit-1)/limit)
	href := func(n int) string {
		qq := r.URL.Query()
		qq.Set("page", strconv.Itoa(n))
		p := strings.TrimPrefix(r.URL.EscapedPath(), g.subPath+"/")
		return g.rootURL(r) + p + "?" + qq.Encode()
	}
	var links []string
	if page < pages {
		links = append(links, fmt.Sprintf(`<%s>; rel="next"`, href(page+1)))
	}
	if page != pages {
		links = append(links, fmt.Sprintf(`<%s>; rel="last"`, href(pages)))
	}
	if page != 1 {
		links = append(links, fmt.Sprintf(`<%s>; rel="first"`, href(1)))
	}
	if page > 1 {
		links = append(links, fmt.Sprintf(`<%s>; rel="prev"`, href(page-1)))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ","))
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	return lo, hi
}

func gtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// userJSON is Gitea's User (convert.ToUser), shaped like the sender and
// owner objects of contracts/gitea/webhooks/gitea.pull_request.reopened.json.
func (g *Gitea) userJSON(r *http.Request, u *gtUser) map[string]any {
	return map[string]any{
		"id":                  u.id,
		"login":               u.login,
		"login_name":          "",
		"source_id":           0,
		"full_name":           u.fullName,
		"email":               u.login + "@noreply.gitea.test",
		"avatar_url":          g.rootURL(r) + "avatars/" + strconv.FormatInt(u.id, 10),
		"html_url":            g.rootURL(r) + u.login,
		"language":            "",
		"is_admin":            false,
		"last_login":          "0001-01-01T00:00:00Z",
		"created":             gtTime(gtEpoch()),
		"restricted":          false,
		"active":              true,
		"prohibit_login":      u.prohibited,
		"location":            "",
		"pronouns":            "",
		"website":             "",
		"description":         "",
		"visibility":          "public",
		"followers_count":     0,
		"following_count":     0,
		"starred_repos_count": 0,
		"username":            u.login,
	}
}

// repoJSON is Gitea's Repository (convert.ToRepo), shaped like the
// repository objects of contracts/gitea/webhooks, with the permissions of
// the asking user.
func (g *Gitea) repoJSON(r *http.Request, u *gtUser, repo *gtRepo) map[string]any {
	full := repo.fullName()
	web := g.rootURL(r) + full
	acc := repo.accessOf(u)
	host := r.Host
	if pu, err := url.Parse(g.rootURL(r)); err == nil {
		host = pu.Hostname()
	}
	return map[string]any{
		"id":                                repo.id,
		"owner":                             g.userJSON(r, repo.owner),
		"name":                              repo.name,
		"full_name":                         full,
		"description":                       "",
		"empty":                             repo.defaultBranch == "",
		"private":                           repo.private,
		"fork":                              false,
		"template":                          false,
		"parent":                            nil,
		"mirror":                            false,
		"size":                              34,
		"language":                          "",
		"languages_url":                     g.rootURL(r) + "api/v1/repos/" + full + "/languages",
		"html_url":                          web,
		"url":                               g.rootURL(r) + "api/v1/repos/" + full,
		"link":                              "",
		"ssh_url":                           "git@" + host + ":" + full + ".git",
		"clone_url":                         web + ".git",
		"original_url":                      "",
		"website":                           "",
		"stars_count":                       0,
		"forks_count":                       0,
		"watchers_count":                    1,
		"open_issues_count":                 0,
		"open_pr_counter":                   0,
		"release_counter":                   0,
		"default_branch":                    repo.defaultBranch,
		"archived":                          false,
		"created_at":                        gtTime(gtEpoch()),
		"updated_at":                        gtTime(gtEpoch()),
		"archived_at":                       "1970-01-01T00:00:00Z",
		"permissions":                       map[string]bool{"admin": acc == "owner" || acc == "admin", "push": acc != "read" && acc != "", "pull": acc != ""},
		"has_issues":                        true,
		"internal_tracker":                  map[string]bool{"enable_time_tracker": true, "allow_only_contributors_to_track_time": true, "enable_issue_dependencies": true},
		"has_wiki":                          true,
		"has_pull_requests":                 true,
		"has_projects":                      true,
		"has_releases":                      true,
		"has_packages":                      true,
		"has_actions":                       true,
		"ignore_whitespace_conflicts":       false,
		"allow_merge_commits":               true,
		"allow_rebase":                      true,
		"allow_rebase_explicit":             true,
		"allow_squash_merge":                true,
		"allow_fast_forward_only_merge":     false,
		"allow_rebase_update":               true,
		"default_delete_branch_after_merge": false,
		"default_merge_style":               "merge",
		"default_allow_maintainer_edit":     false,
		"avatar_url":                        "",
		"internal":                          false,
		"mirror_interval":                   "",
		"object_format_name":                "sha1",
		"mirror_updated":                    "0001-01-01T00:00:00Z",
		"repo_transfer":                     nil,
		"topics":                            []string{},
	}
}

// reposWhere lists repositories matching keep, by id.
func (g *Gitea) reposWhere(keep func(*gtRepo) bool) []*gtRepo {
	var out []*gtRepo
	for _, repo := range g.repos {
		if keep(repo) {
			out = append(out, repo)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// listMyRepos is GET /user/repos: the repositories the user owns or
// collaborates on.
func (g *Gitea) listMyRepos(w http.ResponseWriter, r *http.Request, u *gtUser) {
	all := g.reposWhere(func(repo *gtRepo) bool { return repo.member(u) })
	lo, hi := g.pageBounds(w, r, len(all))
	out := []any{}
	for _, repo := range all[lo:hi] {
		out = append(out, g.repoJSON(r, u, repo))
	}
	gtJSON(w, http.StatusOK, out)
}

// searchRepos is GET /repos/search: every repository the user can see, as
// SearchResults {"ok": true, "data": [...]}.
func (g *Gitea) searchRepos(w http.ResponseWriter, r *http.Request, u *gtUser) {
	all := g.reposWhere(func(repo *gtRepo) bool { return repo.accessOf(u) != "" })
	lo, hi := g.pageBounds(w, r, len(all))
	data := []any{}
	for _, repo := range all[lo:hi] {
		data = append(data, g.repoJSON(r, u, repo))
	}
	gtJSON(w, http.StatusOK, map[string]any{"ok": true, "data": data})
}

// migrate is POST /repos/migrate up to binding: MigrateRepoOptions
// requires clone_addr and repo_name, and bind answers 422 with the first
// missing field ("[CloneAddr]: Required").
func (g *Gitea) migrate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		CloneAddr string `json:"clone_addr"`
		RepoName  string `json:"repo_name"`
	}
	_ = json.NewDecoder(r.Body).Decode(&in)
	switch {
	case in.CloneAddr == "":
		g.gtError(w, r, http.StatusUnprocessableEntity, "[CloneAddr]: Required")
	case in.RepoName == "":
		g.gtError(w, r, http.StatusUnprocessableEntity, "[RepoName]: Required")
	default:
		g.gtError(w, r, http.StatusNotImplemented, "forgetest: migrations are not modelled")
	}
}

// repoRoute serves /repos/{owner}/{repo}/... after repoAssignment: a
// repository that does not exist or that u cannot see is a bare 404.
func (g *Gitea) repoRoute(w http.ResponseWriter, r *http.Request, u *gtUser, owner, name string, rest []string) {
	repo, ok := g.repos[strings.ToLower(owner+"/"+name)]
	if !ok || repo.accessOf(u) == "" {
		g.gtNotFound(w, r)
		return
	}
	m := r.Method
	switch {
	case len(rest) == 0 && m == http.MethodGet:
		gtJSON(w, http.StatusOK, g.repoJSON(r, u, repo))
	case len(rest) == 1 && rest[0] == "branches" && m == http.MethodGet:
		g.listBranches(w, r, repo)
	case len(rest) >= 2 && rest[0] == "branches" && m == http.MethodGet:
		g.getBranch(w, r, repo, strings.Join(rest[1:], "/"))
	case len(rest) >= 2 && rest[0] == "raw" && m == http.MethodGet:
		g.rawFile(w, r, repo, strings.Join(rest[1:], "/"))
	case len(rest) >= 1 && rest[0] == "hooks" && len(rest) <= 2:
		if a := repo.accessOf(u); a != "owner" && a != "admin" {
			g.gtError(w, r, http.StatusForbidden, "user should be an owner or a collaborator with admin write of a repository")
			return
		}
		g.hooksRoute(w, r, repo, rest[1:])
	default:
		g.gtNotFound(w, r)
	}
}

// branchJSON is Gitea's Branch (convert.ToBranch); its commit is a
// PayloadCommit, like a push payload's commits.
func (g *Gitea) branchJSON(r *http.Request, repo *gtRepo, name string) map[string]any {
	sha := repo.branches[name]
	person := map[string]string{"name": "Dev", "email": "dev@example.com", "username": "dev"}
	return map[string]any{
		"name": name,
		"commit": map[string]any{
			"id":        sha,
			"message":   "Update " + name + "\n",
			"url":       g.rootURL(r) + repo.fullName() + "/commit/" + sha,
			"author":    person,
			"committer": person,
			"verification": map[string]any{
				"verified": false, "reason": "gpg.error.not_signed_commit", "signature": "", "signer": nil, "payload": "",
			},
			"timestamp": gtTime(gtEpoch()),
			"added":     nil,
			"removed":   nil,
			"modified":  nil,
		},
		"protected":                        false,
		"required_approvals":               0,
		"enable_status_check":              false,
		"status_check_contexts":            []string{},
		"user_can_push":                    true,
		"user_can_merge":                   true,
		"effective_branch_protection_name": "",
	}
}

// listBranches is GET /repos/{owner}/{repo}/branches, by name.
func (g *Gitea) listBranches(w http.ResponseWriter, r *http.Request, repo *gtRepo) {
	names := make([]string, 0, len(repo.branches))
	for n := range repo.branches {
		names = append(names, n)
	}
	sort.Strings(names)
	lo, hi := g.pageBounds(w, r, len(names))
	out := []any{}
	for _, n := range names[lo:hi] {
		out = append(out, g.branchJSON(r, repo, n))
	}
	gtJSON(w, http.StatusOK, out)
}

// getBranch is GET /repos/{owner}/{repo}/branches/{branch}; the route
// takes the rest of the path, slashes included.
func (g *Gitea) getBranch(w http.ResponseWriter, r *http.Request, repo *gtRepo, name string) {
	if _, ok := repo.branches[name]; !ok {
		g.gtNotFound(w, r, fmt.Sprintf("branch does not exist [name: %s]", name))
		return
	}
	gtJSON(w, http.StatusOK, g.branchJSON(r, repo, name))
}

// rawFile is GET /repos/{owner}/{repo}/raw/{filepath}?ref=: the default
// branch without ref, a bare 404 for an unknown ref or file.
func (g *Gitea) rawFile(w http.ResponseWriter, r *http.Request, repo *gtRepo, path string) {
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		ref = repo.defaultBranch
	}
	files, known := repo.files[ref]
	if _, isBranch := repo.branches[ref]; isBranch {
		known = true
	}
	if !known {
		for name, sha := range repo.branches {
			if sha == ref {
				files, known = repo.files[name], true
			}
		}
	}
	content, ok := files[path]
	if !known || ref == "" || !ok {
		g.gtNotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = fmt.Fprint(w, content)
}

// gtAllHookEvents are the HookEvents keys in the order the fake lists them.
func gtAllHookEvents() []string {
	return []string{"create", "delete", "fork", "push",
		"issues", "issue_assign", "issue_label", "issue_milestone", "issue_comment",
		"pull_request", "pull_request_assign", "pull_request_label", "pull_request_milestone",
		"pull_request_comment", "pull_request_review", "pull_request_review_request", "pull_request_sync",
		"wiki", "repository", "release"}
}

// gtHookEvents turns CreateHookOption events into HookEvents
// (utils/hook.go addHook): "issues" and "pull_request" enable their whole
// family, "issues_only" and "pull_request_only" the bare event; no events
// means push.
func gtHookEvents(events []string) map[string]bool {
	if len(events) == 0 {
		events = []string{"push"}
	}
	has := func(e string) bool {
		return slices.ContainsFunc(events, func(x string) bool { return strings.EqualFold(x, e) })
	}
	out := map[string]bool{}
	for _, e := range gtAllHookEvents() {
		switch {
		case e == "issues":
			out[e] = has("issues") || has("issues_only")
		case strings.HasPrefix(e, "issue_"):
			out[e] = has("issues") || has(e)
		case e == "pull_request":
			out[e] = has("pull_request") || has("pull_request_only")
		case strings.HasPrefix(e, "pull_request_"):
			out[e] = has("pull_request") || has(e)
		default:
			out[e] = has(e)
		}
	}
	return out
}

func (h *gtHook) eventList() []string {
	out := []string{}
	for _, e := range gtAllHookEvents() {
		if h.events[e] {
			out = append(out, e)
		}
	}
	return out
}

// hookJSON is Gitea's Hook (webhook_service.ToHook); the secret is never
// shown.
func (h *gtHook) hookJSON() map[string]any {
	return map[string]any{
		"id":                   h.id,
		"type":                 h.typ,
		"branch_filter":        h.branchFilter,
		"config":               map[string]string{"url": h.url, "content_type": h.contentType},
		"events":               h.eventList(),
		"authorization_header": "",
		"active":               h.active,
		"updated_at":           gtTime(gtEpoch()),
		"created_at":           gtTime(gtEpoch()),
	}
}

// gtHookOption is CreateHookOption and EditHookOption.
type gtHookOption struct {
	Type         string            `json:"type"`
	Config       map[string]string `json:"config"`
	Events       []string          `json:"events"`
	BranchFilter string            `json:"branch_filter"`
	Active       *bool             `json:"active"`
}

func (g *Gitea) validHookType(t string) bool {
	switch t {
	case "gitea", "gogs", "slack", "discord", "dingtalk", "telegram", "msteams", "feishu", "matrix", "wechatwork", "packagist":
		return true
	case "forgejo":
		return g.forgejo
	}
	return false
}

// hooksRoute serves /repos/{owner}/{repo}/hooks[/{id}] for a repository
// admin.
func (g *Gitea) hooksRoute(w http.ResponseWriter, r *http.Request, repo *gtRepo, rest []string) {
	if len(rest) == 0 {
		switch r.Method {
		case http.MethodGet:
			// ListHooks sends X-Total-Count only, no Link.
			q := r.URL.Query()
			page, _ := strconv.Atoi(q.Get("page"))
			page = max(page, 1)
			limit, _ := strconv.Atoi(q.Get("limit"))
			if limit <= 0 {
				limit = 30
			}
			limit = min(limit, g.maxItems)
			lo := min((page-1)*limit, len(repo.hooks))
			hi := min(lo+limit, len(repo.hooks))
			out := []any{}
			for _, h := range repo.hooks[lo:hi] {
				out = append(out, h.hookJSON())
			}
			w.Header().Set("X-Total-Count", strconv.Itoa(len(repo.hooks)))
			gtJSON(w, http.StatusOK, out)
		case http.MethodPost:
			g.createHook(w, r, repo)
		default:
			g.gtNotFound(w, r)
		}
		return
	}
	id, err := strconv.ParseInt(rest[0], 10, 64)
	i := slices.IndexFunc(repo.hooks, func(h *gtHook) bool { return h.id == id })
	if err != nil || i < 0 {
		g.gtNotFound(w, r)
		return
	}
	h := repo.hooks[i]
	switch r.Method {
	case http.MethodGet:
		gtJSON(w, http.StatusOK, h.hookJSON())
	case http.MethodPatch:
		var in gtHookOption
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			g.gtError(w, r, http.StatusUnprocessableEntity, "[Body]: "+err.Error())
			return
		}
		if in.Config != nil {
			if u, ok := in.Config["url"]; ok {
				h.url = u
			}
			if ct, ok := in.Config["content_type"]; ok {
				if ct != "json" && ct != "form" {
					g.gtError(w, r, http.StatusUnprocessableEntity, "Invalid content type")
					return
				}
				h.contentType = ct
			}
			if s, ok := in.Config["secret"]; ok {
				h.secret = s
			}
		}
		h.events = gtHookEvents(in.Events)
		h.branchFilter = in.BranchFilter
		if in.Active != nil {
			h.active = *in.Active
		}
		gtJSON(w, http.StatusOK, h.hookJSON())
	case http.MethodDelete:
		repo.hooks = slices.Delete(repo.hooks, i, i+1)
		w.WriteHeader(http.StatusNoContent)
	default:
		g.gtNotFound(w, r)
	}
}

// createHook is POST /repos/{owner}/{repo}/hooks (checkCreateHookOption,
// addHook): a known type, config url and content_type, content type json
// or form; active defaults to false.
func (g *Gitea) createHook(w http.ResponseWriter, r *http.Request, repo *gtRepo) {
	var in gtHookOption
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		g.gtError(w, r, http.StatusUnprocessableEntity, "[Body]: "+err.Error())
		return
	}
	if in.Type == "" || in.Config == nil {
		g.gtError(w, r, http.StatusUnprocessableEntity, "[Type Config]: Required")
		return
	}
	if !g.validHookType(in.Type) {
		g.gtError(w, r, http.StatusUnprocessableEntity, "Invalid hook type: "+in.Type)
		return
	}
	for _, k := range []string{"url", "content_type"} {
		if _, ok := in.Config[k]; !ok {
			g.gtError(w, r, http.StatusUnprocessableEntity, "Missing config option: "+k)
			return
		}
	}
	if ct := in.Config["content_type"]; ct != "json" && ct != "form" {
		g.gtError(w, r, http.StatusUnprocessableEntity, "Invalid content type")
		return
	}
	h := &gtHook{id: g.newID(), typ: in.Type, url: in.Config["url"], contentType: in.Config["content_type"],
		secret: in.Config["secret"], branchFilter: in.BranchFilter, events: gtHookEvents(in.Events),
		active: in.Active != nil && *in.Active}
	repo.hooks = append(repo.hooks, h)
	gtJSON(w, http.StatusCreated, h.hookJSON())
}
