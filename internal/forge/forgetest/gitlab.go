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
	"unicode/utf8"
)

// GitLab is a fake GitLab REST API (v4) for one instance. Its answers are
// shaped like the examples in shared/contracts/gitlab/api (a contract test
// keeps them so) and its authentication follows GitLab's own code
// (lib/api/api_guard.rb, lib/gitlab/auth/auth_finders.rb): the same status
// codes and bodies for unknown, expired and revoked tokens and for a scope
// an endpoint does not accept.
//
// Mount it with NewServer(t, nil, ByHost{"gitlab.com": gl, "gitlab.test": gl}).
type GitLab struct {
	mu           sync.Mutex
	root         string // relative URL root, "" or e.g. "/gitlab"
	nextID       int
	tokens       map[string]*glToken
	users        map[string]*glUser
	groups       map[string]*glGroup
	projects     map[string]*glProject
	projectsByID map[int]*glProject
	failures     []glFailure
	requests     map[string]int
	rateLimit    *glRateLimit
}

// GitLabToken describes a token the fake accepts.
type GitLabToken struct {
	// Username the token acts as. For a group or project token, empty means
	// the bot name GitLab generates: group_<id>_bot_<32 hex> or
	// project_<id>_bot_<32 hex> (ResourceAccessTokens::CreateService).
	Username string
	// Name is the user's display name; it defaults to Username.
	Name string
	// TokenName is the token's own name; it defaults to "gitaccess".
	TokenName string
	// Kind is "personal" (the default), "group" or "project".
	Kind string
	// Scopes as GitLab names them: api, read_api, read_user, read_repository...
	Scopes []string
	// ExpiresAt is GitLab's expiry date, "2006-01-02"; empty never expires.
	// Like GitLab, the fake refuses the token from 00:00 UTC on that date.
	ExpiresAt string
	// AccessLevel is the role: 10 Guest, 15 Planner, 20 Reporter,
	// 30 Developer, 40 Maintainer, 50 Owner. A personal token's user holds
	// it on each of Projects, a project token's bot on its one project, a
	// group token's bot on the group of its projects.
	AccessLevel int
	// Projects are "group/name" paths, created on first mention.
	Projects []string
}

// GitLabHook is a project hook as the fake stored it, secret token included
// (GitLab never returns it; tests need it to check what gitaccess sent).
type GitLabHook struct {
	ID                    int
	URL                   string
	Token                 string
	PushEvents            bool
	TagPushEvents         bool
	MergeRequestsEvents   bool
	EnableSSLVerification bool
	// PushEventsBranchFilter limits push events to matching branches; ""
	// sends every branch.
	PushEventsBranchFilter string
	// CustomWebhookTemplate replaces GitLab's payload when set.
	CustomWebhookTemplate string
	// AlertStatus is "executable", or "temporarily_disabled" / "disabled"
	// after failed deliveries (WebHooks::AutoDisabling).
	AlertStatus string
	// OtherEvents names the other *_events flags that are on
	// ("issues_events", "pipeline_events"...), sorted; nil when none.
	OtherEvents []string
}

// glOtherEvents are the hook's event flags besides push, tag push and
// merge requests, as project_hook.get.docs-example.json lists them.
func glOtherEvents() []string {
	return []string{
		"issues_events", "confidential_issues_events", "note_events", "confidential_note_events",
		"job_events", "pipeline_events", "wiki_page_events", "deployment_events", "releases_events",
		"feature_flag_events", "repository_update_events", "resource_access_token_events",
	}
}

type glUser struct {
	id       int
	username string
	name     string
	bot      bool
	created  time.Time
	projects map[int]int // project id -> access level (direct membership)
	groups   map[int]int // group id -> access level
}

type glToken struct {
	id       int
	name     string
	kind     string
	scopes   []string
	expires  string
	user     *glUser
	revoked  bool
	created  time.Time
	lastUsed time.Time
	// rotatedTo is the value a self-rotation replaced this token with.
	rotatedTo string
}

type glGroup struct {
	id       int
	path     string
	fullPath string
	parent   *glGroup // nil for a top-level group
	created  time.Time
}

type glProject struct {
	id            int
	path          string
	group         *glGroup
	created       time.Time
	defaultBranch string                       // "" for an empty repository
	visibility    string                       // private, internal or public
	branches      map[string]string            // name -> commit sha
	files         map[string]map[string]string // ref -> file path -> content
	hooks         []*glHook
}

type glHook struct {
	GitLabHook
	name          string
	description   string
	created       time.Time
	customHeaders []string
}

type glFailure struct {
	status  int
	headers http.Header
}

type glRateLimit struct {
	limit, remaining int
	reset            time.Time
}

// glEpoch is when every fake object was "created": fixed, so answers are
// reproducible.
var glEpoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// NewGitLab returns an empty fake GitLab served at the host's root.
func NewGitLab() *GitLab {
	return &GitLab{
		nextID:       1,
		tokens:       map[string]*glToken{},
		users:        map[string]*glUser{},
		groups:       map[string]*glGroup{},
		projects:     map[string]*glProject{},
		projectsByID: map[int]*glProject{},
		requests:     map[string]int{},
	}
}

// SetRelativeRoot serves the API under a relative URL root such as
// "/gitlab" (GitLab's relative_url_root), so /api/v4 alone answers 404.
func (g *GitLab) SetRelativeRoot(root string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.root = strings.TrimRight(root, "/")
}

// AddToken makes value a valid token. It panics on a spec GitLab could not
// hold (unknown kind, bad date, a project token on several projects).
func (g *GitLab) AddToken(value string, spec GitLabToken) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if spec.Kind == "" {
		spec.Kind = "personal"
	}
	if spec.ExpiresAt != "" {
		if _, err := time.Parse(time.DateOnly, spec.ExpiresAt); err != nil {
			panic(fmt.Sprintf("forgetest: GitLabToken.ExpiresAt %q is not a YYYY-MM-DD date", spec.ExpiresAt))
		}
	}
	var projects []*glProject
	for _, p := range spec.Projects {
		projects = append(projects, g.projectLocked(p))
	}
	var user *glUser
	switch spec.Kind {
	case "personal":
		name := spec.Username
		if name == "" {
			name = fmt.Sprintf("user%d", g.nextID)
		}
		user = g.userLocked(name, spec.Name, false)
		for _, p := range projects {
			user.projects[p.id] = spec.AccessLevel
		}
	case "project":
		if len(projects) != 1 {
			panic("forgetest: a GitLab project access token belongs to exactly one project")
		}
		p := projects[0]
		user = g.userLocked(glBotName(spec.Username, "project", p.id, g.nextID), spec.Name, true)
		user.projects[p.id] = spec.AccessLevel
	case "group":
		if len(projects) == 0 {
			panic("forgetest: a GitLab group access token needs a project to name its group")
		}
		grp := projects[0].group
		user = g.userLocked(glBotName(spec.Username, "group", grp.id, g.nextID), spec.Name, true)
		user.groups[grp.id] = spec.AccessLevel
	default:
		panic(fmt.Sprintf("forgetest: GitLabToken.Kind %q is not personal, group or project", spec.Kind))
	}
	name := spec.TokenName
	if name == "" {
		name = "gitaccess"
	}
	g.tokens[value] = &glToken{
		id: g.newID(), name: name, kind: spec.Kind, scopes: slices.Clone(spec.Scopes),
		expires: spec.ExpiresAt, user: user, created: glEpoch,
	}
}

func glBotName(given, kind string, resourceID, seed int) string {
	if given != "" {
		return given
	}
	return fmt.Sprintf("%s_%d_bot_%032x", kind, resourceID, seed)
}

// Revoke revokes a token: GitLab then answers 401 with invalid_token.
func (g *GitLab) Revoke(value string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.tokens[value]; ok {
		t.revoked = true
	}
}

// FailNext makes the next request (whatever it is) answer status with
// headers and GitLab's body for it: Rack::Attack's "Retry later" for 429,
// {"message":"<status> <text>"} otherwise. Calls queue up.
func (g *GitLab) FailNext(status int, headers http.Header) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failures = append(g.failures, glFailure{status: status, headers: headers.Clone()})
}

// SetRateLimit adds GitLab's RateLimit-* headers to every later answer.
func (g *GitLab) SetRateLimit(limit, remaining int, reset time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rateLimit = &glRateLimit{limit: limit, remaining: remaining, reset: reset}
}

// Requests counts the requests that carried value, answered or not.
func (g *GitLab) Requests(value string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests[value]
}

// SetBranch points branch of project ("group/name") at sha.
func (g *GitLab) SetBranch(project, branch, sha string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.projectLocked(project).branches[branch] = sha
}

// SetVisibility makes project ("group/name") "private" (the default),
// "internal" (any signed-in user sees it) or "public".
func (g *GitLab) SetVisibility(project, visibility string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch visibility {
	case "private", "internal", "public":
	default:
		panic(fmt.Sprintf("forgetest: GitLab visibility %q is not private, internal or public", visibility))
	}
	g.projectLocked(project).visibility = visibility
}

// SetDefaultBranch makes branch the project's default, creating it if
// needed. An empty branch makes the repository empty: no branches, and
// default_branch null as GitLab reports it then.
func (g *GitLab) SetDefaultBranch(project, branch string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.projectLocked(project)
	p.defaultBranch = branch
	if branch == "" {
		p.branches = map[string]string{}
		return
	}
	if _, ok := p.branches[branch]; !ok {
		p.branches[branch] = fmt.Sprintf("%040x", len(p.branches)+1000*p.id)
	}
}

// SetFile stores content at path for ref (a branch name, tag or commit sha).
func (g *GitLab) SetFile(project, ref, path, content string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.projectLocked(project)
	if p.files[ref] == nil {
		p.files[ref] = map[string]string{}
	}
	p.files[ref][path] = content
}

func (g *GitLab) newID() int {
	id := g.nextID
	g.nextID++
	return id
}

func (g *GitLab) userLocked(username, name string, bot bool) *glUser {
	if u, ok := g.users[username]; ok {
		return u
	}
	if name == "" {
		name = username
	}
	u := &glUser{id: g.newID(), username: username, name: name, bot: bot, created: glEpoch,
		projects: map[int]int{}, groups: map[int]int{}}
	g.users[username] = u
	return u
}

func (g *GitLab) projectLocked(fullPath string) *glProject {
	if p, ok := g.projects[fullPath]; ok {
		return p
	}
	i := strings.LastIndex(fullPath, "/")
	if i <= 0 || i == len(fullPath)-1 {
		panic(fmt.Sprintf("forgetest: GitLab project %q is not group/name", fullPath))
	}
	grp := g.groupLocked(fullPath[:i])
	p := &glProject{id: g.newID(), path: fullPath[i+1:], group: grp, created: glEpoch,
		defaultBranch: "main", visibility: "private", files: map[string]map[string]string{}}
	p.branches = map[string]string{"main": fmt.Sprintf("%040x", p.id)}
	g.projects[fullPath] = p
	g.projectsByID[p.id] = p
	return p
}

// groupLocked finds or makes the group at fullPath and its ancestors
// (subgroups: "acme/platform/tools").
func (g *GitLab) groupLocked(fullPath string) *glGroup {
	if grp, ok := g.groups[fullPath]; ok {
		return grp
	}
	var parent *glGroup
	name := fullPath
	if i := strings.LastIndex(fullPath, "/"); i >= 0 {
		parent, name = g.groupLocked(fullPath[:i]), fullPath[i+1:]
	}
	grp := &glGroup{id: g.newID(), path: name, fullPath: fullPath, parent: parent, created: glEpoch}
	g.groups[fullPath] = grp
	return grp
}

// access is the user's role on p: the highest of its project membership
// and its membership of p's group or any ancestor (subgroups inherit), as
// GitLab computes it; 0 means none.
func (u *glUser) access(p *glProject) int {
	level := u.projects[p.id]
	for grp := p.group; grp != nil; grp = grp.parent {
		level = max(level, u.groups[grp.id])
	}
	return level
}

// sees says whether u may see p at all: a member, or any signed-in user
// for an internal or public project (ProjectPolicy :read_project).
func (u *glUser) sees(p *glProject) bool {
	return u.access(p) > 0 || p.visibility != "private"
}

// readsCode says whether u may read p's code (:read_code, :download_code):
// Reporter on a private project, anyone who sees an internal or public one.
func (u *glUser) readsCode(p *glProject) bool {
	if p.visibility == "private" {
		return u.access(p) >= glReporter
	}
	return true
}

// Scope sets GitLab accepts per endpoint (allow_access_with_scope): every
// endpoint takes api, and read_api for GET (lib/api/api.rb).
var (
	glAnyScope   = []string{"*"} // /personal_access_tokens/self*: any scope
	glReadUser   = []string{"api", "read_api", "read_user"}
	glReadAPI    = []string{"api", "read_api"}
	glReadFiles  = []string{"api", "read_api", "read_repository"} // lib/api/files.rb
	glWriteScope = []string{"api"}
	// glRotateScopes: the self-rotate endpoints take api or self_rotate.
	glRotateScopes = []string{"api", "self_rotate"}
)

func (g *GitLab) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()

	value := r.Header.Get("PRIVATE-TOKEN")
	if value == "" {
		if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			value = strings.TrimSpace(v)
		}
	}
	if value != "" {
		g.requests[value]++
	}
	if g.rateLimit != nil {
		h := w.Header()
		h.Set("RateLimit-Limit", strconv.Itoa(g.rateLimit.limit))
		h.Set("RateLimit-Observed", strconv.Itoa(g.rateLimit.limit-g.rateLimit.remaining))
		h.Set("RateLimit-Remaining", strconv.Itoa(g.rateLimit.remaining))
		h.Set("RateLimit-Reset", strconv.FormatInt(g.rateLimit.reset.Unix(), 10))
		h.Set("RateLimit-ResetTime", g.rateLimit.reset.UTC().Format(http.TimeFormat))
	}
	if len(g.failures) > 0 {
		f := g.failures[0]
		g.failures = g.failures[1:]
		for k, vs := range f.headers {
			w.Header()[k] = vs
		}
		if f.status == http.StatusTooManyRequests {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(f.status)
			_, _ = fmt.Fprint(w, "Retry later\n")
			return
		}
		glMessage(w, f.status, fmt.Sprintf("%d %s", f.status, http.StatusText(f.status)))
		return
	}

	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), g.root+"/api/v4/")
	if !ok {
		glError(w, http.StatusNotFound, "404 Not Found")
		return
	}
	seg := strings.Split(rest, "/")
	for i, s := range seg {
		if u, err := url.PathUnescape(s); err == nil {
			seg[i] = u
		}
	}
	route := func(method string, n int, scopes []string, h func(http.ResponseWriter, *http.Request, *glToken, []string)) bool {
		if len(seg) != n || r.Method != method {
			return false
		}
		g.serve(w, value, scopes, func(t *glToken) { h(w, r, t, seg) })
		return true
	}
	switch {
	case glMatch(seg, "personal_access_tokens", "self"):
		if !route(http.MethodGet, 2, glAnyScope, g.tokenSelf) {
			glError(w, http.StatusMethodNotAllowed, "405 Not Allowed")
		}
	case glMatch(seg, "personal_access_tokens", "self", "rotate"):
		if !route(http.MethodPost, 3, glRotateScopes, g.rotateSelf) {
			glError(w, http.StatusMethodNotAllowed, "405 Not Allowed")
		}
	case len(seg) == 5 && (seg[0] == "groups" || seg[0] == "projects") && seg[2] == "access_tokens" && seg[3] == "self" && seg[4] == "rotate":
		if !route(http.MethodPost, 5, glRotateScopes, g.rotateSelf) {
			glError(w, http.StatusMethodNotAllowed, "405 Not Allowed")
		}
	case glMatch(seg, "personal_access_tokens", "self", "associations"):
		if !route(http.MethodGet, 3, glAnyScope, g.associations) {
			glError(w, http.StatusMethodNotAllowed, "405 Not Allowed")
		}
	case glMatch(seg, "user"):
		if !route(http.MethodGet, 1, glReadUser, g.currentUser) {
			glError(w, http.StatusMethodNotAllowed, "405 Not Allowed")
		}
	case glMatch(seg, "projects"):
		if !route(http.MethodGet, 1, glReadAPI, g.listProjects) {
			glError(w, http.StatusMethodNotAllowed, "405 Not Allowed")
		}
	case len(seg) == 2 && seg[0] == "projects":
		if !route(http.MethodGet, 2, glReadAPI, g.getProject) {
			glError(w, http.StatusMethodNotAllowed, "405 Not Allowed")
		}
	case len(seg) == 4 && seg[0] == "projects" && seg[2] == "repository" && seg[3] == "branches":
		if !route(http.MethodGet, 4, glReadAPI, g.listBranches) {
			glError(w, http.StatusMethodNotAllowed, "405 Not Allowed")
		}
	case len(seg) == 5 && seg[0] == "projects" && seg[2] == "repository" && seg[3] == "branches":
		if !route(http.MethodGet, 5, glReadAPI, g.getBranch) {
			glError(w, http.StatusMethodNotAllowed, "405 Not Allowed")
		}
	case len(seg) == 6 && seg[0] == "projects" && seg[2] == "repository" && seg[3] == "files" && seg[5] == "raw":
		if !route(http.MethodGet, 6, glReadFiles, g.rawFile) {
			glError(w, http.StatusMethodNotAllowed, "405 Not Allowed")
		}
	case len(seg) == 3 && seg[0] == "projects" && seg[2] == "hooks":
		if !route(http.MethodGet, 3, glReadAPI, g.listHooks) && !route(http.MethodPost, 3, glWriteScope, g.createHook) {
			glError(w, http.StatusMethodNotAllowed, "405 Not Allowed")
		}
	case len(seg) == 4 && seg[0] == "projects" && seg[2] == "hooks":
		if !route(http.MethodGet, 4, glReadAPI, g.getHook) && !route(http.MethodPut, 4, glWriteScope, g.editHook) &&
			!route(http.MethodDelete, 4, glWriteScope, g.deleteHook) {
			glError(w, http.StatusMethodNotAllowed, "405 Not Allowed")
		}
	default:
		glError(w, http.StatusNotFound, "404 Not Found")
	}
}

func glMatch(seg []string, want ...string) bool {
	return len(seg) == len(want) && slices.Equal(seg, want)
}

// serve authenticates like GitLab's APIGuard, then runs h.
func (g *GitLab) serve(w http.ResponseWriter, value string, scopes []string, h func(*glToken)) {
	t, ok := g.tokens[value]
	if value == "" || !ok {
		// AuthFinders raises UnauthorizedError: API's plain 401.
		glMessage(w, http.StatusUnauthorized, "401 Unauthorized")
		return
	}
	switch {
	case t.revoked:
		glInvalidToken(w, "Token was revoked. You have to re-authorize from the user.")
		return
	case t.expired(time.Now()):
		glInvalidToken(w, "Token is expired. You can either do re-authorization or token refresh.")
		return
	}
	if !slices.Equal(scopes, glAnyScope) && !slices.ContainsFunc(t.scopes, func(s string) bool { return slices.Contains(scopes, s) }) {
		// InsufficientScopeError: Rack::OAuth2 Bearer::Forbidden.
		glJSON(w, http.StatusForbidden, map[string]any{
			"error":             "insufficient_scope",
			"error_description": "The request requires higher privileges than provided by the access token.",
			"scope":             strings.Join(scopes, " "),
		})
		return
	}
	t.lastUsed = time.Now()
	h(t)
}

// expired follows GitLab's Expirable#expired? (expires_at <= Time.current,
// the date read as 00:00 UTC).
func (t *glToken) expired(now time.Time) bool {
	if t.expires == "" {
		return false
	}
	d, _ := time.Parse(time.DateOnly, t.expires)
	return !now.Before(d)
}

func glInvalidToken(w http.ResponseWriter, desc string) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="Protected by OAuth 2.0", error="invalid_token", error_description=%q`, desc))
	glJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_token", "error_description": desc})
}

func glJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// glMessage is GitLab's render_api_error! body.
func glMessage(w http.ResponseWriter, status int, msg string) {
	glJSON(w, status, map[string]any{"message": msg})
}

// glError is Grape's error! body, used by the catch-all routes.
func glError(w http.ResponseWriter, status int, msg string) {
	glJSON(w, status, map[string]any{"error": msg})
}

func (g *GitLab) webURL(r *http.Request) string {
	return "https://" + r.Host + g.root
}

func glTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (g *GitLab) tokenSelf(w http.ResponseWriter, _ *http.Request, t *glToken, _ []string) {
	var expires any
	if t.expires != "" {
		expires = t.expires
	}
	glJSON(w, http.StatusOK, map[string]any{
		"id":           t.id,
		"name":         t.name,
		"revoked":      t.revoked,
		"created_at":   glTime(t.created),
		"description":  "",
		"scopes":       append([]string{}, t.scopes...),
		"user_id":      t.user.id,
		"last_used_at": glTime(t.lastUsed),
		"active":       !t.revoked && !t.expired(time.Now()),
		"expires_at":   expires,
	})
}

func (g *GitLab) currentUser(w http.ResponseWriter, r *http.Request, t *glToken, _ []string) {
	u := t.user
	glJSON(w, http.StatusOK, map[string]any{
		"id":           u.id,
		"username":     u.username,
		"name":         u.name,
		"state":        "active",
		"avatar_url":   g.webURL(r) + "/uploads/-/system/user/avatar/" + strconv.Itoa(u.id) + "/avatar.png",
		"web_url":      g.webURL(r) + "/" + u.username,
		"created_at":   glTime(u.created),
		"bio":          "",
		"bot":          u.bot,
		"location":     "",
		"public_email": "",
		"skype":        "",
		"linkedin":     "",
		"twitter":      "",
		"website_url":  "",
		"organization": "",
		"job_title":    "",
		"followers":    0,
		"following":    0,
	})
}

// glIntParam reads an integer query parameter, def when absent or bad.
func glIntParam(r *http.Request, name string, def int) int {
	if n, err := strconv.Atoi(r.URL.Query().Get(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// visibleProjects lists what u can reach at min level or above, by id.
func (g *GitLab) visibleProjects(u *glUser, minLevel int) []*glProject {
	var out []*glProject
	for _, p := range g.projectsByID {
		if a := u.access(p); a > 0 && a >= minLevel {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (g *GitLab) associations(w http.ResponseWriter, r *http.Request, t *glToken, _ []string) {
	minLevel := glIntParam(r, "min_access_level", 0)
	u := t.user
	var member []*glGroup
	for _, grp := range g.groups {
		if lvl, ok := u.groups[grp.id]; ok && lvl >= minLevel {
			member = append(member, grp)
		}
	}
	sort.Slice(member, func(i, j int) bool { return member[i].id < member[j].id })
	groups := []any{}
	for _, grp := range member {
		groups = append(groups, map[string]any{
			"id":              grp.id,
			"web_url":         g.webURL(r) + "/groups/" + grp.fullPath,
			"name":            grp.path,
			"parent_id":       grp.parentID(),
			"organization_id": 1,
			"access_levels":   u.groups[grp.id],
			"visibility":      "private",
		})
	}
	projects := []any{}
	for _, p := range g.visibleProjects(u, minLevel) {
		var pl, gl any
		if lvl, ok := u.projects[p.id]; ok {
			pl = lvl
		}
		if lvl, ok := u.groups[p.group.id]; ok {
			gl = lvl
		}
		projects = append(projects, map[string]any{
			"id":                  p.id,
			"description":         "",
			"name":                p.path,
			"name_with_namespace": p.group.fullName() + " / " + p.path,
			"path":                p.path,
			"path_with_namespace": p.group.fullPath + "/" + p.path,
			"created_at":          glTime(p.created),
			"access_levels":       map[string]any{"project_access_level": pl, "group_access_level": gl},
			"visibility":          p.visibility,
			"web_url":             g.webURL(r) + "/" + p.group.fullPath + "/" + p.path,
			"namespace":           g.namespaceJSON(r, p.group),
		})
	}
	glJSON(w, http.StatusOK, map[string]any{"groups": groups, "projects": projects})
}

// parentID is the parent group's id, nil (JSON null) at the top.
func (grp *glGroup) parentID() any {
	if grp.parent == nil {
		return nil
	}
	return grp.parent.id
}

// fullName is GitLab's full_name: the names along the path, " / "-joined.
func (grp *glGroup) fullName() string {
	if grp.parent == nil {
		return grp.path
	}
	return grp.parent.fullName() + " / " + grp.path
}

// glNullable is s, or JSON null when empty.
func glNullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (g *GitLab) namespaceJSON(r *http.Request, grp *glGroup) map[string]any {
	return map[string]any{
		"id":         grp.id,
		"name":       grp.path,
		"path":       grp.path,
		"kind":       "group",
		"full_path":  grp.fullPath,
		"parent_id":  grp.parentID(),
		"avatar_url": nil,
		"web_url":    g.webURL(r) + "/groups/" + grp.fullPath,
	}
}

// projectJSON is GitLab's project entity, trimmed to what gitaccess reads
// (no contract example exists for it).
func (g *GitLab) projectJSON(r *http.Request, u *glUser, p *glProject) map[string]any {
	web := g.webURL(r) + "/" + p.group.fullPath + "/" + p.path
	var projectAccess, groupAccess any
	if lvl, ok := u.projects[p.id]; ok {
		projectAccess = map[string]any{"access_level": lvl, "notification_level": 3}
	}
	if lvl := u.access(p); lvl > u.projects[p.id] {
		groupAccess = map[string]any{"access_level": lvl, "notification_level": 3}
	}
	return map[string]any{
		"id":                  p.id,
		"description":         "",
		"name":                p.path,
		"name_with_namespace": p.group.fullName() + " / " + p.path,
		"path":                p.path,
		"path_with_namespace": p.group.fullPath + "/" + p.path,
		"created_at":          glTime(p.created),
		"default_branch":      glNullable(p.defaultBranch),
		"ssh_url_to_repo":     "git@" + r.Host + ":" + p.group.fullPath + "/" + p.path + ".git",
		"http_url_to_repo":    web + ".git",
		"web_url":             web,
		"visibility":          p.visibility,
		"archived":            false,
		"empty_repo":          p.defaultBranch == "",
		"last_activity_at":    glTime(p.created),
		"namespace":           g.namespaceJSON(r, p.group),
		"permissions":         map[string]any{"project_access": projectAccess, "group_access": groupAccess},
	}
}

// glMaxCount is Kaminari's MAX_COUNT_LIMIT: past it GitLab stops counting
// and drops X-Total, X-Total-Pages and the "last" link.
const glMaxCount = 10000

// glOffsetLimit is GitLab's default offset_pagination_limit for projects:
// deeper offsets answer 405 (lib/api/helpers/pagination_strategies.rb).
const glOffsetLimit = 50000

// glPageHref is a page link as GitLab builds it: this request's URL and
// params, route params (id) included, merged with set, keys sorted
// (Rails' to_query).
func (g *GitLab) glPageHref(r *http.Request, routeID string, set map[string]string) string {
	q := r.URL.Query()
	if routeID != "" {
		q.Set("id", routeID)
	}
	for k, v := range set {
		q.Set(k, v)
	}
	return "https://" + r.Host + r.URL.EscapedPath() + "?" + q.Encode()
}

// glOffsetPage writes GitLab's offset pagination headers
// (Gitlab::Pagination::OffsetHeaderBuilder) for page of a list of total
// items and returns the bounds of that page.
func (g *GitLab) glOffsetPage(w http.ResponseWriter, r *http.Request, routeID string, total int) (lo, hi int) {
	page, perPage := glIntParam(r, "page", 1), min(glIntParam(r, "per_page", 20), 100)
	lo = min((page-1)*perPage, total)
	hi = min(lo+perPage, total)
	counted := total <= glMaxCount
	totalPages := max(1, (total+perPage-1)/perPage)
	href := func(n int) string {
		return g.glPageHref(r, routeID, map[string]string{"page": strconv.Itoa(n), "per_page": strconv.Itoa(perPage)})
	}
	var next, prev string
	var links []string
	if page > 1 {
		prev = strconv.Itoa(page - 1)
		links = append(links, fmt.Sprintf(`<%s>; rel="prev"`, href(page-1)))
	}
	if hi < total {
		next = strconv.Itoa(page + 1)
		links = append(links, fmt.Sprintf(`<%s>; rel="next"`, href(page+1)))
	}
	links = append(links, fmt.Sprintf(`<%s>; rel="first"`, href(1)))
	if counted {
		links = append(links, fmt.Sprintf(`<%s>; rel="last"`, href(totalPages)))
	}
	h := w.Header()
	h.Set("X-Per-Page", strconv.Itoa(perPage))
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Next-Page", next)
	h.Set("X-Prev-Page", prev)
	h.Set("Link", strings.Join(links, ", "))
	if counted {
		h.Set("X-Total", strconv.Itoa(total))
		h.Set("X-Total-Pages", strconv.Itoa(totalPages))
	}
	return lo, hi
}

// glSearch matches like Gitlab::SQL::Pattern: a substring, ignoring case,
// from MIN_CHARS_FOR_PARTIAL_MATCHING (3) characters; the whole value below.
func glSearch(query string, values ...string) bool {
	q := strings.ToLower(query)
	for _, v := range values {
		v = strings.ToLower(v)
		if utf8.RuneCountInString(q) >= 3 && strings.Contains(v, q) || v == q {
			return true
		}
	}
	return false
}

// listProjects is GET /projects (lib/api/projects.rb): the projects the
// user sees, or with membership=true those it is a member of; search
// matches path and name, and with search_namespaces the full path too.
// Pages are offset (default order created_at desc; all fake projects share
// one created_at, so id desc) or, with pagination=keyset and order_by=id,
// keyset: a Link rel="next" carrying id_after/id_before whenever the page
// held anything (Gitlab::Pagination::Keyset::Pager).
func (g *GitLab) listProjects(w http.ResponseWriter, r *http.Request, t *glToken, _ []string) {
	q := r.URL.Query()
	membership := q.Get("membership") == "true"
	minLevel := glIntParam(r, "min_access_level", 0)
	search := q.Get("search")
	var all []*glProject
	for _, p := range g.projectsByID {
		switch {
		case !t.user.sees(p), membership && t.user.access(p) == 0, minLevel > 0 && t.user.access(p) < minLevel:
			continue
		case search != "":
			fields := []string{p.path}
			if q.Get("search_namespaces") == "true" {
				fields = append(fields, p.group.fullPath+"/"+p.path, p.group.fullName()+" / "+p.path)
			}
			if !glSearch(search, fields...) {
				continue
			}
		}
		all = append(all, p)
	}
	orderBy, sortDir := q.Get("order_by"), q.Get("sort")
	if orderBy == "" {
		orderBy = "created_at"
	}
	switch orderBy {
	case "id", "created_at":
	case "name", "path", "updated_at", "last_activity_at", "similarity", "star_count":
		glError(w, http.StatusNotImplemented, "forgetest: order_by="+orderBy+" is not modelled")
		return
	default:
		glError(w, http.StatusBadRequest, "order_by does not have a valid value")
		return
	}
	asc := sortDir == "asc"
	sort.Slice(all, func(i, j int) bool {
		if asc {
			return all[i].id < all[j].id
		}
		return all[i].id > all[j].id
	})

	if q.Get("pagination") == "keyset" {
		if orderBy != "id" {
			glError(w, http.StatusMethodNotAllowed, "Keyset pagination is not yet available for this type of request")
			return
		}
		after, before := glIntParam(r, "id_after", 0), glIntParam(r, "id_before", 0)
		perPage := min(glIntParam(r, "per_page", 20), 100)
		var page []*glProject
		for _, p := range all {
			if after > 0 && p.id <= after || before > 0 && p.id >= before {
				continue
			}
			if len(page) == perPage {
				break
			}
			page = append(page, p)
		}
		if len(page) > 0 {
			last := page[len(page)-1].id
			key := "id_before"
			if asc {
				key = "id_after"
			}
			w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, g.glPageHref(r, "", map[string]string{key: strconv.Itoa(last)})))
		}
		g.writeProjects(w, r, t, page)
		return
	}
	if glIntParam(r, "page", 1)*min(glIntParam(r, "per_page", 20), 100) > glOffsetLimit {
		glError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Offset pagination has a maximum allowed offset of %d for requests that return objects of type Project. Remaining records can be retrieved using keyset pagination.", glOffsetLimit))
		return
	}
	lo, hi := g.glOffsetPage(w, r, "", len(all))
	g.writeProjects(w, r, t, all[lo:hi])
}

func (g *GitLab) writeProjects(w http.ResponseWriter, r *http.Request, t *glToken, page []*glProject) {
	out := []any{}
	for _, p := range page {
		out = append(out, g.projectJSON(r, t.user, p))
	}
	glJSON(w, http.StatusOK, out)
}

// userProject finds the project named by an id or URL-encoded path that t
// can see and, when level > 0, holds level on; it writes GitLab's answer
// and returns nil when it cannot: 404 when the project is invisible, 403
// when the role is short.
func (g *GitLab) userProject(w http.ResponseWriter, t *glToken, id string, level int) *glProject {
	p, ok := g.projects[id]
	if n, err := strconv.Atoi(id); err == nil {
		p, ok = g.projectsByID[n]
	}
	if !ok || !t.user.sees(p) {
		glMessage(w, http.StatusNotFound, "404 Project Not Found")
		return nil
	}
	if t.user.access(p) < level {
		glMessage(w, http.StatusForbidden, "403 Forbidden")
		return nil
	}
	return p
}

// codeProject is userProject for reading code (authorize_read_code!):
// 403 when the user sees the project but may not read its repository.
func (g *GitLab) codeProject(w http.ResponseWriter, t *glToken, id string) *glProject {
	p := g.userProject(w, t, id, 0)
	if p != nil && !t.user.readsCode(p) {
		glMessage(w, http.StatusForbidden, "403 Forbidden")
		return nil
	}
	return p
}

func (g *GitLab) getProject(w http.ResponseWriter, r *http.Request, t *glToken, seg []string) {
	if p := g.userProject(w, t, seg[1], 0); p != nil {
		glJSON(w, http.StatusOK, g.projectJSON(r, t.user, p))
	}
}

const (
	glReporter   = 20
	glDeveloper  = 30
	glMaintainer = 40
)

// branchJSON is GitLab's branch entity (API::Entities::Branch), shaped like
// contracts/gitlab/api/branches.list.json.
func (g *GitLab) branchJSON(r *http.Request, t *glToken, p *glProject, n string) map[string]any {
	sha := p.branches[n]
	return map[string]any{
		"name":                 n,
		"merged":               false,
		"protected":            n == p.defaultBranch,
		"default":              n == p.defaultBranch,
		"developers_can_push":  false,
		"developers_can_merge": false,
		"can_push":             t.user.access(p) >= glDeveloper,
		"web_url":              g.webURL(r) + "/" + p.group.fullPath + "/" + p.path + "/-/tree/" + n,
		"commit": map[string]any{
			"author_email":    "dev@example.com",
			"author_name":     "Dev",
			"authored_date":   glTime(p.created),
			"committed_date":  glTime(p.created),
			"committer_email": "dev@example.com",
			"committer_name":  "Dev",
			"id":              sha,
			"short_id":        sha[:min(8, len(sha))],
			"title":           "Update " + n,
			"message":         "Update " + n,
			"parent_ids":      []string{fmt.Sprintf("%040x", 0)},
		},
	}
}

// listBranches is GET /projects/:id/repository/branches, sorted by name,
// in offset pages (Kaminari over the branch list, as GitLab pages it
// without the branch_list_keyset_pagination flag).
func (g *GitLab) listBranches(w http.ResponseWriter, r *http.Request, t *glToken, seg []string) {
	p := g.codeProject(w, t, seg[1])
	if p == nil {
		return
	}
	names := make([]string, 0, len(p.branches))
	for n := range p.branches {
		names = append(names, n)
	}
	sort.Strings(names)
	lo, hi := g.glOffsetPage(w, r, seg[1], len(names))
	out := []any{}
	for _, n := range names[lo:hi] {
		out = append(out, g.branchJSON(r, t, p, n))
	}
	glJSON(w, http.StatusOK, out)
}

// getBranch is GET /projects/:id/repository/branches/:branch, the branch
// name URL-encoded (a slash as %2F).
func (g *GitLab) getBranch(w http.ResponseWriter, r *http.Request, t *glToken, seg []string) {
	p := g.codeProject(w, t, seg[1])
	if p == nil {
		return
	}
	if _, ok := p.branches[seg[4]]; !ok {
		glMessage(w, http.StatusNotFound, "404 Branch Not Found")
		return
	}
	glJSON(w, http.StatusOK, g.branchJSON(r, t, p, seg[4]))
}

// rawFile is GET /projects/:id/repository/files/:file_path/raw
// (lib/api/files.rb): ref is optional (HEAD, the default branch, when
// absent; blank is refused), an unknown ref is "404 Commit Not Found", a
// missing file "404 File Not Found", and the answer carries blob_data as
// X-Gitlab-* headers.
func (g *GitLab) rawFile(w http.ResponseWriter, r *http.Request, t *glToken, seg []string) {
	p := g.codeProject(w, t, seg[1])
	if p == nil {
		return
	}
	q := r.URL.Query()
	ref, given := q.Get("ref"), q.Has("ref")
	if given && ref == "" {
		glError(w, http.StatusBadRequest, "ref is empty")
		return
	}
	if !given {
		ref = p.defaultBranch
	}
	files, known := p.files[ref]
	sha, isBranch := p.branches[ref]
	known = known || isBranch
	if !known { // a commit sha: the files of the branch pointing at it
		for name, s := range p.branches {
			if s == ref {
				files, known, sha = p.files[name], true, s
			}
		}
	}
	if !known || ref == "" {
		glMessage(w, http.StatusNotFound, "404 Commit Not Found")
		return
	}
	content, ok := files[seg[4]]
	if !ok {
		glMessage(w, http.StatusNotFound, "404 File Not Found")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Gitlab-File-Name", seg[4][strings.LastIndex(seg[4], "/")+1:])
	h.Set("X-Gitlab-File-Path", seg[4])
	h.Set("X-Gitlab-Size", strconv.Itoa(len(content)))
	h.Set("X-Gitlab-Encoding", "base64")
	if given {
		h.Set("X-Gitlab-Ref", ref)
	}
	h.Set("X-Gitlab-Commit-Id", sha)
	_, _ = fmt.Fprint(w, content)
}

// hookJSON is GitLab's ProjectHook entity, shaped like
// contracts/gitlab/api/project_hook.get.docs-example.json; the token is
// never part of it.
func (g *GitLab) hookJSON(p *glProject, h *glHook) map[string]any {
	headers := []any{}
	for _, k := range h.customHeaders {
		headers = append(headers, map[string]any{"key": k}) // values never leave GitLab
	}
	var disabledUntil any
	if h.AlertStatus == "temporarily_disabled" {
		disabledUntil = glEpoch.Add(time.Hour).UTC().Format(time.RFC3339)
	}
	out := map[string]any{
		"id":                        h.ID,
		"url":                       h.URL,
		"name":                      h.name,
		"description":               h.description,
		"project_id":                p.id,
		"push_events":               h.PushEvents,
		"push_events_branch_filter": h.PushEventsBranchFilter,
		"merge_requests_events":     h.MergeRequestsEvents,
		"tag_push_events":           h.TagPushEvents,
		"enable_ssl_verification":   h.EnableSSLVerification,
		"alert_status":              h.AlertStatus,
		"disabled_until":            disabledUntil,
		"url_variables":             []any{},
		"created_at":                h.created.UTC().Format(time.RFC3339),
		"custom_webhook_template":   h.CustomWebhookTemplate,
		"custom_headers":            headers,
	}
	for _, e := range glOtherEvents() {
		out[e] = slices.Contains(h.OtherEvents, e)
	}
	return out
}

// hookProject is userProject for the hooks API, which authorizes
// read_web_hook for GETs and admin_web_hook otherwise
// (lib/api/project_hooks.rb): both the Maintainer role.
func (g *GitLab) hookProject(w http.ResponseWriter, t *glToken, id string) *glProject {
	return g.userProject(w, t, id, glMaintainer)
}

// findHook finds hook rawID of p, writing GitLab's answer when it cannot:
// 400 for an id that is not an integer, 404 for an unknown one.
func (g *GitLab) findHook(w http.ResponseWriter, p *glProject, rawID string) (int, *glHook) {
	id, err := strconv.Atoi(rawID)
	if err != nil {
		glError(w, http.StatusBadRequest, "hook_id is invalid")
		return -1, nil
	}
	for i, h := range p.hooks {
		if h.ID == id {
			return i, h
		}
	}
	// ActiveRecord::RecordNotFound, as the API renders it.
	glMessage(w, http.StatusNotFound, "404 Not found")
	return -1, nil
}

// listHooks is GET /projects/:id/hooks: offset pages (paginate(), 20 per
// page unless per_page says otherwise, at most 100).
func (g *GitLab) listHooks(w http.ResponseWriter, r *http.Request, t *glToken, seg []string) {
	p := g.hookProject(w, t, seg[1])
	if p == nil {
		return
	}
	lo, hi := g.glOffsetPage(w, r, seg[1], len(p.hooks))
	out := []any{}
	for _, h := range p.hooks[lo:hi] {
		out = append(out, g.hookJSON(p, h))
	}
	glJSON(w, http.StatusOK, out)
}

func (g *GitLab) getHook(w http.ResponseWriter, _ *http.Request, t *glToken, seg []string) {
	p := g.hookProject(w, t, seg[1])
	if p == nil {
		return
	}
	if _, h := g.findHook(w, p, seg[3]); h != nil {
		glJSON(w, http.StatusOK, g.hookJSON(p, h))
	}
}

func (g *GitLab) createHook(w http.ResponseWriter, r *http.Request, t *glToken, seg []string) {
	p := g.hookProject(w, t, seg[1])
	if p == nil {
		return
	}
	in, ok := glReadParams(w, r)
	if !ok {
		return
	}
	if !in.has("url") {
		glError(w, http.StatusBadRequest, "url is missing")
		return
	}
	// Column defaults: push events and SSL verification on, the rest off.
	h := &glHook{GitLabHook: GitLabHook{PushEvents: true, EnableSSLVerification: true, AlertStatus: "executable"}, created: glEpoch}
	if !g.applyHook(w, h, in) {
		return
	}
	h.ID = g.newID()
	p.hooks = append(p.hooks, h)
	glJSON(w, http.StatusCreated, g.hookJSON(p, h))
}

// editHook is PUT /projects/:id/hooks/:hook_id: parameters change only
// when given (url too: use :optional_url). A new URL without a token drops
// the old token (GitLab resets it so a secret never follows a hook
// elsewhere).
func (g *GitLab) editHook(w http.ResponseWriter, r *http.Request, t *glToken, seg []string) {
	p := g.hookProject(w, t, seg[1])
	if p == nil {
		return
	}
	_, h := g.findHook(w, p, seg[3])
	if h == nil {
		return
	}
	in, ok := glReadParams(w, r)
	if !ok {
		return
	}
	edited := *h
	edited.OtherEvents = slices.Clone(h.OtherEvents)
	if !g.applyHook(w, &edited, in) {
		return
	}
	if edited.URL != h.URL && !in.has("token") {
		edited.Token = ""
	}
	*h = edited
	glJSON(w, http.StatusOK, g.hookJSON(p, h))
}

// deleteHook is DELETE /projects/:id/hooks/:hook_id: 204, or 404 when the
// hook is gone.
func (g *GitLab) deleteHook(w http.ResponseWriter, _ *http.Request, t *glToken, seg []string) {
	p := g.hookProject(w, t, seg[1])
	if p == nil {
		return
	}
	i, h := g.findHook(w, p, seg[3])
	if h == nil {
		return
	}
	p.hooks = slices.Delete(p.hooks, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}

// applyHook sets what in gives on h, or writes Grape's 400 (or GitLab's
// 422 for a bad URL) and leaves h half-done: callers apply to a copy.
func (g *GitLab) applyHook(w http.ResponseWriter, h *glHook, in glParams) bool {
	if in.has("url") {
		raw := in.str("url")
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			glMessage(w, http.StatusUnprocessableEntity, "Invalid url given")
			return false
		}
		h.URL = raw
	}
	for key, dst := range map[string]*string{
		"token": &h.Token, "name": &h.name, "description": &h.description,
		"push_events_branch_filter": &h.PushEventsBranchFilter, "custom_webhook_template": &h.CustomWebhookTemplate,
	} {
		if in.has(key) {
			*dst = in.str(key)
		}
	}
	for key, dst := range map[string]*bool{
		"push_events": &h.PushEvents, "tag_push_events": &h.TagPushEvents,
		"merge_requests_events": &h.MergeRequestsEvents, "enable_ssl_verification": &h.EnableSSLVerification,
	} {
		if !in.has(key) {
			continue
		}
		v, ok := in.boolean(key)
		if !ok {
			glError(w, http.StatusBadRequest, key+" is invalid")
			return false
		}
		*dst = v
	}
	for _, key := range glOtherEvents() {
		if !in.has(key) {
			continue
		}
		v, ok := in.boolean(key)
		if !ok {
			glError(w, http.StatusBadRequest, key+" is invalid")
			return false
		}
		h.OtherEvents = slices.DeleteFunc(h.OtherEvents, func(e string) bool { return e == key })
		if v {
			h.OtherEvents = append(h.OtherEvents, key)
		}
	}
	sort.Strings(h.OtherEvents)
	if len(h.OtherEvents) == 0 {
		h.OtherEvents = nil
	}
	if in.has("custom_headers") {
		var headers []glKey
		if err := json.Unmarshal(in.json["custom_headers"], &headers); err != nil {
			glError(w, http.StatusBadRequest, "custom_headers is invalid")
			return false
		}
		h.customHeaders = nil
		for _, k := range headers {
			h.customHeaders = append(h.customHeaders, k.Key)
		}
	}
	return true
}

type glKey struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// glParams are a request's parameters from a JSON body or a form, which
// Grape accepts alike.
type glParams struct {
	json map[string]json.RawMessage
	form url.Values
}

// glReadParams reads the body (at most 1 MiB) or writes Grape's 400.
func glReadParams(w http.ResponseWriter, r *http.Request) (glParams, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var in glParams
		if err := json.NewDecoder(r.Body).Decode(&in.json); err != nil {
			glError(w, http.StatusBadRequest, "400 Bad request - "+err.Error())
			return glParams{}, false
		}
		return in, true
	}
	if err := r.ParseForm(); err != nil {
		glError(w, http.StatusBadRequest, "400 Bad request - "+err.Error())
		return glParams{}, false
	}
	return glParams{form: r.PostForm}, true
}

func (p glParams) has(k string) bool {
	if p.json != nil {
		v, ok := p.json[k]
		return ok && string(v) != "null"
	}
	return p.form.Has(k)
}

func (p glParams) str(k string) string {
	if p.json != nil {
		var s string
		if json.Unmarshal(p.json[k], &s) != nil {
			return string(p.json[k]) // a number or bool, as Grape coerces it
		}
		return s
	}
	return p.form.Get(k)
}

// boolean coerces like Grape's Boolean: true/false, also as strings or 1/0.
func (p glParams) boolean(k string) (bool, bool) {
	v := p.str(k)
	switch strings.ToLower(v) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// Hooks returns the hooks of project ("group/name"), tokens included.
func (g *GitLab) Hooks(project string) []GitLabHook {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.projects[project]
	if !ok {
		return nil
	}
	out := make([]GitLabHook, 0, len(p.hooks))
	for _, h := range p.hooks {
		c := h.GitLabHook
		c.OtherEvents = slices.Clone(h.OtherEvents)
		out = append(out, c)
	}
	return out
}

// AddHook adds h to project (created on first mention) as someone could in
// GitLab's settings page, behind gitaccess's back, and returns its new id.
// A zero AlertStatus is "executable".
func (g *GitLab) AddHook(project string, h GitLabHook) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.projectLocked(project)
	h.ID = g.newID()
	if h.AlertStatus == "" {
		h.AlertStatus = "executable"
	}
	h.OtherEvents = slices.Clone(h.OtherEvents)
	sort.Strings(h.OtherEvents)
	p.hooks = append(p.hooks, &glHook{GitLabHook: h, created: glEpoch})
	return h.ID
}

// AlterHook changes hook id of project in place, behind gitaccess's back
// (its id stays); false when there is no such hook.
func (g *GitLab) AlterHook(project string, id int, change func(*GitLabHook)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.projects[project]
	if !ok {
		return false
	}
	for _, h := range p.hooks {
		if h.ID == id {
			change(&h.GitLabHook)
			h.ID = id
			sort.Strings(h.OtherEvents)
			return true
		}
	}
	return false
}

// RemoveHook deletes hook id of project behind gitaccess's back; false
// when there is no such hook.
func (g *GitLab) RemoveHook(project string, id int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.projects[project]
	if !ok {
		return false
	}
	n := len(p.hooks)
	p.hooks = slices.DeleteFunc(p.hooks, func(h *glHook) bool { return h.ID == id })
	return len(p.hooks) < n
}

// RotatedValue is the value the self-rotation of old issued; ok is false
// when old was never rotated.
func (g *GitLab) RotatedValue(old string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.tokens[old]
	if !ok || t.rotatedTo == "" {
		return "", false
	}
	return t.rotatedTo, true
}

// rotateSelf is POST /personal_access_tokens/self/rotate and
// /{groups,projects}/:id/access_tokens/self/rotate (PersonalAccessTokens::
// RotateService): the token is revoked and a new one with its name,
// scopes and user is issued, expiring at expires_at or in one week. A
// group or project path must name the token's own group or project.
func (g *GitLab) rotateSelf(w http.ResponseWriter, r *http.Request, t *glToken, seg []string) {
	in, ok := glReadParams(w, r)
	if !ok {
		return
	}
	level := 0
	if len(seg) == 5 {
		kind := strings.TrimSuffix(seg[0], "s")
		want := glBotName("", kind, glAtoi(seg[1]), 0)
		if t.kind != kind || !strings.HasPrefix(t.user.username, want[:strings.Index(want, "_bot_")+len("_bot")]) {
			glMessage(w, http.StatusNotFound, "404 Not Found")
			return
		}
		level = t.user.groups[glAtoi(seg[1])]
		if kind == "project" {
			level = t.user.projects[glAtoi(seg[1])]
		}
	}
	expires := time.Now().UTC().AddDate(0, 0, 7).Format(time.DateOnly)
	if in.has("expires_at") {
		d, err := time.Parse(time.DateOnly, in.str("expires_at"))
		if err != nil {
			glError(w, http.StatusBadRequest, "expires_at is invalid")
			return
		}
		expires = d.Format(time.DateOnly)
	}
	nt := &glToken{id: g.newID(), name: t.name, kind: t.kind, scopes: slices.Clone(t.scopes), expires: expires, user: t.user, created: time.Now()}
	value := fmt.Sprintf("glpat-rotated%014d", nt.id)
	g.tokens[value] = nt
	t.revoked, t.rotatedTo = true, value
	body := map[string]any{
		"id": nt.id, "name": nt.name, "revoked": false, "created_at": glTime(nt.created), "description": "",
		"scopes": slices.Clone(nt.scopes), "user_id": nt.user.id, "last_used_at": nil, "active": true,
		"expires_at": nt.expires, "token": value,
	}
	if len(seg) == 5 {
		body["access_level"] = level
	}
	// Grape answers a POST 201 unless the endpoint says otherwise.
	glJSON(w, http.StatusCreated, body)
}

func glAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
