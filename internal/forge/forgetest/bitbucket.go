package forgetest

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Bitbucket is a fake Bitbucket Cloud REST API (https://api.bitbucket.org/2.0)
// for repository, project and workspace access tokens. Mount it with
// NewServer(t, nil, ByHost{"api.bitbucket.org": bb}).
//
// What it reproduces, and where that was learnt:
//   - Access tokens authenticate as "Authorization: Bearer" (Atlassian, "Using
//     access tokens"); an unknown or revoked one gets 401 with
//     {"type":"error","error":{"message":"Token is invalid, expired, or not
//     supported for this endpoint."}} (reported in avivsinai/bitbucket-cli#30).
//   - Every answer to a known token carries X-Credential-Type
//     (repo_access_token, project_access_token, workspace_access_token),
//     X-OAuth-Scopes and X-Accepted-OAuth-Scopes (Atlassian KB "How to fetch
//     the scope of a token via command line"), 403s included.
//   - A missing scope is a 403 "Your credentials lack one or more required
//     privilege scopes." with detail {granted, required}.
//   - /2.0/repositories/* answers carry X-RateLimit-Limit,
//     X-RateLimit-Resource and X-RateLimit-NearLimit for access tokens, never
//     a remaining count or reset time; past the limit Bitbucket answers 429
//     "Rate limit for this resource has been exceeded." (Bitbucket blog
//     "Introducing scaled rate limits", Atlassian KB "Rate limit
//     troubleshooting").
//   - Lists are pages of {pagelen, values, page, size, next}; pagelen above
//     100 is a 400 "Invalid pagelen" (seen on pullrequests, whose cap is 50).
//     The next link keeps every query parameter, q included.
//   - A repository's https clone link carries a user ("https://USER@
//     bitbucket.org/ws/slug.git", contracts api/repository.get*.json).
//   - Repository lists take q=full_name ~ "TEXT", BBQL's case-insensitive
//     contains (API reference, "Filter and sort API objects"); the fake
//     understands that one expression and nothing else.
//   - GET .../src/{commit}/{path} answers a file's raw bytes with a
//     Content-Type from the extension and Content-Disposition: attachment,
//     and a directory (the root needs the trailing slash) with a page of
//     commit_directory and commit_file entries (API reference, "Get file or
//     directory contents"). {commit} is one path segment, a branch name or a
//     commit hash, so a branch whose name has a slash cannot be read by name
//     (BCLOUD-9969; reported by jenkinsci/bitbucket-branch-source-plugin#102
//     and CenterForOpenScience/waterbutler#377).
//   - Repository webhooks (GET/POST .../hooks, GET/PUT/DELETE
//     .../hooks/{uid}) are webhook_subscription objects shaped like contracts
//     api/hooks.get.json, secret_set included but never the secret. Every
//     call needs the webhook scope; POST and PUT also need the scope of each
//     subscribed event. A PUT leaves an absent secret as it is and removes a
//     null one (API reference, "Create/Update a webhook for a repository").
//
// Unverified, and marked where coded: the X-RateLimit-Resource value, the
// near-limit threshold, what another workspace's listing shows a token, the
// user in clone links handed to an access token, the messages of a bad q and
// of a missing commit or path, and format=meta (not reproduced); for hooks,
// the refusal of a missing event scope, the 400 messages, PUT leaving
// absent non-secret fields unchanged, and the cap of 50 hooks a repository
// (reported by simstudioai/sim#6934; not reproduced). Unlike
// Bitbucket, the fake serves nothing anonymously.
//
// Response bodies follow shared/contracts/bitbucket/api; a contract test
// keeps them from drifting.
type Bitbucket struct {
	mu       sync.Mutex
	mux      *http.ServeMux
	tokens   map[string]*bbToken
	repos    []*bbRepo // creation order, which listings keep
	fail     []bbFailure
	hookSeq  int
	started  time.Time
	userUUID string
}

// BitbucketToken is an access token the fake accepts.
type BitbucketToken struct {
	// Kind is "repository", "project" or "workspace".
	Kind      string
	Workspace string
	// Repository is the repository slug of a "repository" token; the
	// repository is added when missing.
	Repository string
	// Project is the project key of a "project" token.
	Project string
	// Scopes are Bitbucket's scope names ("repository", "webhook",
	// "pullrequest:write"...), printed in X-OAuth-Scopes as given.
	Scopes []string
	// RateLimit is X-RateLimit-Limit; past it the token gets 429. Zero
	// means Bitbucket's base 1000 an hour.
	RateLimit int
}

// BitbucketRepo is a repository in the fake.
type BitbucketRepo struct {
	Workspace string
	Slug      string
	// Name defaults to Slug.
	Name string
	// Project is the project key (default "PROJ"); ProjectName defaults to
	// the key.
	Project     string
	ProjectName string
	// MainBranch defaults to "main"; Branches default to MainBranch alone.
	MainBranch string
	Branches   []string
	Private    bool
}

type bbToken struct {
	BitbucketToken
	revoked  bool
	requests int
}

type bbRepo struct {
	BitbucketRepo
	hooks []*bbHook
	// files maps branch → path → content.
	files map[string]map[string][]byte
}

type bbHook struct {
	uuid        string
	description string
	url         string
	active      bool
	events      []string
	// secret signs deliveries; empty means none, so secret_set is false.
	secret  string
	created time.Time
}

type bbFailure struct {
	status int
	header http.Header
}

type bbTokenKey struct{}

// NewBitbucket returns an empty fake.
func NewBitbucket() *Bitbucket {
	b := &Bitbucket{
		tokens:   map[string]*bbToken{},
		started:  time.Now().UTC(),
		userUUID: "{7d3a178a-a087-4756-b2da-2f9eadf50ba8}",
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /2.0/repositories/{workspace}", b.listRepos)
	m.HandleFunc("GET /2.0/repositories/{workspace}/{slug}", b.getRepo)
	m.HandleFunc("GET /2.0/repositories/{workspace}/{slug}/refs/branches", b.listBranches)
	m.HandleFunc("GET /2.0/repositories/{workspace}/{slug}/refs/branches/{name...}", b.getBranch)
	m.HandleFunc("GET /2.0/repositories/{workspace}/{slug}/src/{rest...}", b.src)
	m.HandleFunc("GET /2.0/repositories/{workspace}/{slug}/hooks", b.listHooks)
	m.HandleFunc("POST /2.0/repositories/{workspace}/{slug}/hooks", b.createHook)
	m.HandleFunc("GET /2.0/repositories/{workspace}/{slug}/hooks/{uid}", b.getHook)
	m.HandleFunc("PUT /2.0/repositories/{workspace}/{slug}/hooks/{uid}", b.updateHook)
	m.HandleFunc("DELETE /2.0/repositories/{workspace}/{slug}/hooks/{uid}", b.deleteHook)
	b.mux = m
	return b
}

// AddRepo adds a repository.
func (b *Bitbucket) AddRepo(r BitbucketRepo) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addRepoLocked(r)
}

func (b *Bitbucket) addRepoLocked(r BitbucketRepo) {
	if r.Name == "" {
		r.Name = r.Slug
	}
	if r.Project == "" {
		r.Project = "PROJ"
	}
	if r.ProjectName == "" {
		r.ProjectName = r.Project
	}
	if r.MainBranch == "" {
		r.MainBranch = "main"
	}
	if len(r.Branches) == 0 {
		r.Branches = []string{r.MainBranch}
	}
	r.Branches = slices.Clone(r.Branches)
	b.repos = append(b.repos, &bbRepo{BitbucketRepo: r, files: map[string]map[string][]byte{}})
}

// SetFile puts content at path (slash-separated, no leading slash) on a
// branch of a repository, adding the branch when missing. It panics on an
// unknown repository: that is a broken test, not a provider answer.
func (b *Bitbucket) SetFile(workspace, slug, branch, filePath string, content []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.repoLocked(workspace, slug)
	if r == nil {
		panic("forgetest: SetFile on unknown repository " + workspace + "/" + slug)
	}
	if !slices.Contains(r.Branches, branch) {
		r.Branches = append(r.Branches, branch)
	}
	if r.files[branch] == nil {
		r.files[branch] = map[string][]byte{}
	}
	r.files[branch][strings.Trim(filePath, "/")] = slices.Clone(content)
}

// BranchHash is the commit a branch of the fake points at, as its branch
// answers report it.
func BranchHash(workspace, slug, branch string) string {
	return bbHash(workspace + "/" + slug + "@" + branch)
}

// AddToken makes value a valid access token.
func (b *Bitbucket) AddToken(value string, tok BitbucketToken) {
	b.mu.Lock()
	defer b.mu.Unlock()
	tok.Scopes = slices.Clone(tok.Scopes)
	if tok.Kind == "repository" && b.repoLocked(tok.Workspace, tok.Repository) == nil {
		b.addRepoLocked(BitbucketRepo{Workspace: tok.Workspace, Slug: tok.Repository})
	}
	b.tokens[value] = &bbToken{BitbucketToken: tok}
}

// Revoke makes value fail authentication from now on.
func (b *Bitbucket) Revoke(value string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t, ok := b.tokens[value]; ok {
		t.revoked = true
	}
}

// FailNext makes the next request, whatever its token, answer status with
// headers and a Bitbucket error body.
func (b *Bitbucket) FailNext(status int, headers http.Header) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fail = append(b.fail, bbFailure{status: status, header: headers.Clone()})
}

// Requests is how many requests arrived bearing value, failed ones included.
func (b *Bitbucket) Requests(value string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t, ok := b.tokens[value]; ok {
		return t.requests
	}
	return 0
}

// HookURLs lists the URLs of the hooks on a repository, oldest first.
func (b *Bitbucket) HookURLs(workspace, slug string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.repoLocked(workspace, slug)
	if r == nil {
		return nil
	}
	var out []string
	for _, h := range r.hooks {
		out = append(out, h.url)
	}
	return out
}

// BitbucketHook is a webhook in the fake as a test sees or changes it.
type BitbucketHook struct {
	// UUID is Bitbucket's {uuid}; AddHook assigns it.
	UUID        string
	Description string
	URL         string
	Active      bool
	Events      []string
	// Secret signs deliveries; empty means none (secret_set false).
	Secret string
}

func (h *bbHook) export() BitbucketHook {
	return BitbucketHook{UUID: h.uuid, Description: h.description, URL: h.url, Active: h.active,
		Events: slices.Clone(h.events), Secret: h.secret}
}

// Hooks lists a repository's hooks, oldest first.
func (b *Bitbucket) Hooks(workspace, slug string) []BitbucketHook {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.repoLocked(workspace, slug)
	if r == nil {
		return nil
	}
	var out []BitbucketHook
	for _, h := range r.hooks {
		out = append(out, h.export())
	}
	return out
}

// AddHook installs a hook as someone else would (another integration, or
// a duplicate made by hand), with no scope or validity checks, and returns
// its UUID. It panics on an unknown repository.
func (b *Bitbucket) AddHook(workspace, slug string, h BitbucketHook) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.repoLocked(workspace, slug)
	if r == nil {
		panic("forgetest: AddHook on unknown repository " + workspace + "/" + slug)
	}
	in := &bbHook{description: h.Description, url: h.URL, active: h.Active, events: slices.Clone(h.Events), secret: h.Secret}
	b.addHookLocked(r, in)
	return in.uuid
}

// EditHook changes every hook whose URL is hookURL as a repository admin
// would in Bitbucket's settings, behind gitaccess's back; it reports how
// many it changed. edit cannot change the UUID.
func (b *Bitbucket) EditHook(workspace, slug, hookURL string, edit func(*BitbucketHook)) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.repoLocked(workspace, slug)
	if r == nil {
		return 0
	}
	n := 0
	for _, h := range r.hooks {
		if h.url != hookURL {
			continue
		}
		e := h.export()
		edit(&e)
		h.description, h.url, h.active, h.events, h.secret = e.Description, e.URL, e.Active, slices.Clone(e.Events), e.Secret
		n++
	}
	return n
}

// RemoveHook deletes every hook whose URL is hookURL behind gitaccess's
// back and reports how many it deleted.
func (b *Bitbucket) RemoveHook(workspace, slug, hookURL string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.repoLocked(workspace, slug)
	if r == nil {
		return 0
	}
	before := len(r.hooks)
	r.hooks = slices.DeleteFunc(r.hooks, func(h *bbHook) bool { return h.url == hookURL })
	return before - len(r.hooks)
}

func (b *Bitbucket) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()

	value, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	tok := b.tokens[value]
	if tok != nil {
		tok.requests++
	}
	if len(b.fail) > 0 {
		f := b.fail[0]
		b.fail = b.fail[1:]
		for k, vs := range f.header {
			w.Header()[k] = vs
		}
		msg := http.StatusText(f.status)
		if f.status == http.StatusTooManyRequests {
			msg = "Rate limit for this resource has been exceeded."
		}
		bbError(w, f.status, msg, nil)
		return
	}
	if tok == nil || tok.revoked || value == "" {
		bbError(w, http.StatusUnauthorized, "Token is invalid, expired, or not supported for this endpoint.", nil)
		return
	}
	w.Header().Set("X-Credential-Type", bbCredentialType(tok.Kind))
	w.Header().Set("X-OAuth-Scopes", strings.Join(tok.Scopes, ", "))
	if strings.HasPrefix(r.URL.Path, "/2.0/repositories/") {
		limit := tok.RateLimit
		if limit <= 0 {
			limit = 1000
		}
		w.Header().Set("X-RateLimit-Limit", strconv.Itoa(limit))
		// "api" is the blog's name for the resource group; unverified.
		w.Header().Set("X-RateLimit-Resource", "api")
		if tok.requests > limit {
			bbError(w, http.StatusTooManyRequests, "Rate limit for this resource has been exceeded.", nil)
			return
		}
		// NearLimit flips once less than a fifth of the budget is left
		// (threshold unverified).
		w.Header().Set("X-RateLimit-NearLimit", strconv.FormatBool(tok.requests*5 >= limit*4))
	}
	b.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bbTokenKey{}, tok)))
}

func bbCredentialType(kind string) string {
	switch kind {
	case "repository":
		return "repo_access_token"
	case "project":
		return "project_access_token"
	case "workspace":
		return "workspace_access_token"
	}
	return kind
}

// bbImpliedScopes follows Bitbucket's scope documentation: repository:write
// implies repository; pullrequest implies repository; pullrequest:write
// implies pullrequest and repository:write. repository:admin and webhook
// imply nothing.
func bbImpliedScopes(granted []string) map[string]bool {
	have := map[string]bool{}
	var add func(s string)
	add = func(s string) {
		if have[s] {
			return
		}
		have[s] = true
		switch s {
		case "repository:write":
			add("repository")
		case "pullrequest":
			add("repository")
		case "pullrequest:write":
			add("pullrequest")
			add("repository:write")
		}
	}
	for _, s := range granted {
		add(s)
	}
	return have
}

// allow checks scope and visibility for a repository request and answers
// the refusal itself; it returns nil when refused.
func (b *Bitbucket) allow(w http.ResponseWriter, r *http.Request, scope string) (*bbToken, *bbRepo) {
	tok := r.Context().Value(bbTokenKey{}).(*bbToken)
	w.Header().Set("X-Accepted-OAuth-Scopes", scope)
	if !bbImpliedScopes(tok.Scopes)[scope] {
		bbError(w, http.StatusForbidden, "Your credentials lack one or more required privilege scopes.",
			map[string]any{"granted": tok.Scopes, "required": []string{scope}})
		return nil, nil
	}
	slug := r.PathValue("slug")
	if slug == "" {
		return tok, nil
	}
	repo := b.repoLocked(r.PathValue("workspace"), slug)
	if repo == nil || !tok.sees(repo) {
		bbError(w, http.StatusNotFound, "Repository "+r.PathValue("workspace")+"/"+slug+" not found", nil)
		return nil, nil
	}
	return tok, repo
}

func (t *bbToken) sees(r *bbRepo) bool {
	if !strings.EqualFold(t.Workspace, r.Workspace) {
		return false
	}
	switch t.Kind {
	case "workspace":
		return true
	case "project":
		return t.Project == r.Project
	case "repository":
		return t.Repository == r.Slug
	}
	return false
}

func (b *Bitbucket) repoLocked(workspace, slug string) *bbRepo {
	for _, r := range b.repos {
		if strings.EqualFold(r.Workspace, workspace) && strings.EqualFold(r.Slug, slug) {
			return r
		}
	}
	return nil
}

func (b *Bitbucket) listRepos(w http.ResponseWriter, r *http.Request) {
	tok, _ := b.allow(w, r, "repository")
	if tok == nil {
		return
	}
	contains := ""
	if q := r.URL.Query().Get("q"); q != "" {
		s, ok := bbParseFullNameContains(q)
		if !ok {
			// Unverified wording; Bitbucket answers a query it cannot
			// parse with a 400.
			bbError(w, http.StatusBadRequest, "Invalid query: the fake understands only full_name ~ \"TEXT\"", nil)
			return
		}
		contains = strings.ToLower(s)
	}
	// Unverified: what Bitbucket answers an access token asking about
	// another workspace; the fake shows it nothing.
	var vals []any
	for _, repo := range b.repos {
		full := strings.ToLower(repo.Workspace + "/" + repo.Slug)
		if strings.EqualFold(repo.Workspace, r.PathValue("workspace")) && tok.sees(repo) && strings.Contains(full, contains) {
			vals = append(vals, b.repoJSON(repo))
		}
	}
	bbWritePage(w, r, vals)
}

// bbParseFullNameContains reads full_name ~ "TEXT", where TEXT escapes " and
// \ with a backslash.
func bbParseFullNameContains(q string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(q), "full_name")
	if !ok {
		return "", false
	}
	rest, ok = strings.CutPrefix(strings.TrimSpace(rest), "~")
	if !ok {
		return "", false
	}
	rest, ok = strings.CutPrefix(strings.TrimSpace(rest), `"`)
	if !ok {
		return "", false
	}
	var out strings.Builder
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; c {
		case '\\':
			if i+1 == len(rest) {
				return "", false
			}
			i++
			out.WriteByte(rest[i])
		case '"':
			return out.String(), strings.TrimSpace(rest[i+1:]) == ""
		default:
			out.WriteByte(c)
		}
	}
	return "", false
}

func (b *Bitbucket) getRepo(w http.ResponseWriter, r *http.Request) {
	if _, repo := b.allow(w, r, "repository"); repo != nil {
		bbWriteJSON(w, http.StatusOK, b.repoJSON(repo))
	}
}

func (b *Bitbucket) listBranches(w http.ResponseWriter, r *http.Request) {
	_, repo := b.allow(w, r, "repository")
	if repo == nil {
		return
	}
	var vals []any
	for _, name := range repo.Branches {
		vals = append(vals, b.branchJSON(repo, name))
	}
	bbWritePage(w, r, vals)
}

func (b *Bitbucket) getBranch(w http.ResponseWriter, r *http.Request) {
	_, repo := b.allow(w, r, "repository")
	if repo == nil {
		return
	}
	name := r.PathValue("name")
	if !slices.Contains(repo.Branches, name) {
		bbError(w, http.StatusNotFound, "Branch not found", nil)
		return
	}
	bbWriteJSON(w, http.StatusOK, b.branchJSON(repo, name))
}

// src serves GET .../src/{commit}/{path}: the commit is the first segment
// of the rest, as on Bitbucket.
func (b *Bitbucket) src(w http.ResponseWriter, r *http.Request) {
	_, repo := b.allow(w, r, "repository")
	if repo == nil {
		return
	}
	if r.URL.Query().Has("format") {
		bbError(w, http.StatusNotImplemented, "the fake does not reproduce format=", nil)
		return
	}
	commit, p, hasSlash := strings.Cut(r.PathValue("rest"), "/")
	branch := repo.branchAt(commit)
	if branch == "" || !hasSlash {
		// Unverified wording. Without the slash after the commit the
		// root is not listed (API reference: the trailing slash is
		// required), which the fake answers as not found.
		bbError(w, http.StatusNotFound, "Commit not found", nil)
		return
	}
	full := repo.Workspace + "/" + repo.Slug
	hash := BranchHash(repo.Workspace, repo.Slug, branch)
	files := repo.files[branch]
	if body, ok := files[p]; ok {
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Disposition", `attachment; filename="`+path.Base(p)+`"`)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return
	}
	dir := strings.TrimSuffix(p, "/")
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	type entry struct {
		path string
		dir  bool
		size int
	}
	seen := map[string]bool{}
	var entries []entry
	for fp, body := range files {
		rest, ok := strings.CutPrefix(fp, prefix)
		if !ok {
			continue
		}
		name, _, isDir := strings.Cut(rest, "/")
		if seen[name] {
			continue
		}
		seen[name] = true
		entries = append(entries, entry{path: prefix + name, dir: isDir, size: len(body)})
	}
	if len(entries) == 0 && dir != "" {
		// Unverified wording.
		bbError(w, http.StatusNotFound, "No such file or directory: "+dir, nil)
		return
	}
	// Git keeps tree entries sorted by name; the listing follows the SCM.
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.path, b.path) })
	api := bbAPI + "/repositories/" + full
	vals := make([]any, 0, len(entries))
	for _, e := range entries {
		self := api + "/src/" + hash + "/" + e.path
		v := bbTreeEntryJSON{Path: e.path, Type: "commit_file"}
		v.Commit.Type, v.Commit.Hash = "commit", hash
		v.Commit.Links.Self, v.Commit.Links.HTML = bbLink(api+"/commit/"+hash), bbLink(bbWeb+"/"+full+"/commits/"+hash)
		if e.dir {
			v.Type = "commit_directory"
			self += "/"
		} else {
			v.Attributes, v.Size = &[]string{}, &e.size
		}
		v.Links.Self, v.Links.Meta = bbLink(self), bbLink(self+"?format=meta")
		vals = append(vals, v)
	}
	bbWritePage(w, r, vals)
}

// branchAt resolves a src commit segment: a branch name, or the full or
// abbreviated (7+ hex) hash of a branch head.
func (r *bbRepo) branchAt(commit string) string {
	if commit == "" {
		return ""
	}
	for _, br := range r.Branches {
		if br == commit {
			return br
		}
	}
	if len(commit) < 7 {
		return ""
	}
	for _, br := range r.Branches {
		if strings.HasPrefix(BranchHash(r.Workspace, r.Slug, br), strings.ToLower(commit)) {
			return br
		}
	}
	return ""
}

func (b *Bitbucket) listHooks(w http.ResponseWriter, r *http.Request) {
	_, repo := b.allow(w, r, "webhook")
	if repo == nil {
		return
	}
	var vals []any
	for _, h := range repo.hooks {
		vals = append(vals, b.hookJSON(repo, h))
	}
	bbWritePage(w, r, vals)
}

// bbHookInput is a POST or PUT body. Secret stays raw so a PUT can tell an
// absent secret (unchanged) from null (removed) and a string (set).
type bbHookInput struct {
	Description *string         `json:"description"`
	URL         *string         `json:"url"`
	Active      *bool           `json:"active"`
	Events      *[]string       `json:"events"`
	Secret      json.RawMessage `json:"secret"`
}

// readHookInput decodes and checks a hook body against the token's scopes,
// answering the refusal itself; ok is false when refused. Subscribing
// needs "the webhook scope, as well as any scope that applies to the
// events that the webhook subscribes to" (API reference, "Create a webhook
// for a repository"): repository for repo:*, pullrequest for
// pullrequest:*, issue for issue:*. That the refusal is the usual
// missing-scope 403 is unverified.
func (b *Bitbucket) readHookInput(w http.ResponseWriter, r *http.Request, tok *bbToken, creating bool) (bbHookInput, bool) {
	var in bbHookInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		bbError(w, http.StatusBadRequest, "Bad request: "+err.Error(), nil)
		return in, false
	}
	if in.URL != nil || creating {
		var raw string
		if in.URL != nil {
			raw = *in.URL
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bbError(w, http.StatusBadRequest, "Invalid URL", nil)
			return in, false
		}
	}
	if in.Events != nil || creating {
		if in.Events == nil || len(*in.Events) == 0 {
			bbError(w, http.StatusBadRequest, "At least one event is required", nil)
			return in, false
		}
		// A repeated event is a 400 (harness/harness-core#39903).
		seen := map[string]bool{}
		for _, ev := range *in.Events {
			if seen[ev] {
				bbError(w, http.StatusBadRequest, "Bad request: duplicate event "+ev, nil)
				return in, false
			}
			seen[ev] = true
			if scope := bbEventScope(ev); scope != "" && !bbImpliedScopes(tok.Scopes)[scope] {
				bbError(w, http.StatusForbidden, "Your credentials lack one or more required privilege scopes.",
					map[string]any{"granted": tok.Scopes, "required": []string{scope}})
				return in, false
			}
		}
	}
	if len(in.Secret) > 0 && string(in.Secret) != "null" {
		var s string
		if json.Unmarshal(in.Secret, &s) != nil {
			bbError(w, http.StatusBadRequest, "Bad request: secret must be a string", nil)
			return in, false
		}
	}
	return in, true
}

// bbEventScope is the scope subscribing to an event needs besides webhook.
func bbEventScope(event string) string {
	switch {
	case strings.HasPrefix(event, "repo:"):
		return "repository"
	case strings.HasPrefix(event, "pullrequest:"):
		return "pullrequest"
	case strings.HasPrefix(event, "issue:"):
		return "issue"
	}
	return ""
}

// secretOf reads a checked raw secret: null, absent and "" all mean none
// ("Passing a null or empty secret or not passing a secret will leave the
// webhook's secret unset").
func secretOf(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

func (b *Bitbucket) createHook(w http.ResponseWriter, r *http.Request) {
	tok, repo := b.allow(w, r, "webhook")
	if repo == nil {
		return
	}
	in, ok := b.readHookInput(w, r, tok, true)
	if !ok {
		return
	}
	h := &bbHook{
		url:    *in.URL,
		active: in.Active == nil || *in.Active,
		events: slices.Clone(*in.Events),
		secret: secretOf(in.Secret),
	}
	if in.Description != nil {
		h.description = *in.Description
	}
	b.addHookLocked(repo, h)
	bbWriteJSON(w, http.StatusCreated, b.hookJSON(repo, h))
}

func (b *Bitbucket) addHookLocked(repo *bbRepo, h *bbHook) {
	b.hookSeq++
	h.uuid = fmt.Sprintf("{%08x-0000-4000-8000-%012x}", b.hookSeq, b.hookSeq)
	h.created = b.started.Add(time.Duration(b.hookSeq) * time.Second)
	repo.hooks = append(repo.hooks, h)
}

// updateHook serves PUT .../hooks/{uid}: description, url, secret, active
// and events can change; an absent secret is left as it is and a null one
// removes it (API reference, "Update a webhook for a repository"). That
// other absent fields are left unchanged is unverified.
func (b *Bitbucket) updateHook(w http.ResponseWriter, r *http.Request) {
	tok, repo := b.allow(w, r, "webhook")
	if repo == nil {
		return
	}
	i := slices.IndexFunc(repo.hooks, func(h *bbHook) bool { return h.uuid == r.PathValue("uid") })
	if i < 0 {
		bbError(w, http.StatusNotFound, "Webhook not found", nil)
		return
	}
	in, ok := b.readHookInput(w, r, tok, false)
	if !ok {
		return
	}
	h := repo.hooks[i]
	if in.Description != nil {
		h.description = *in.Description
	}
	if in.URL != nil {
		h.url = *in.URL
	}
	if in.Active != nil {
		h.active = *in.Active
	}
	if in.Events != nil {
		h.events = slices.Clone(*in.Events)
	}
	if len(in.Secret) > 0 {
		h.secret = secretOf(in.Secret)
	}
	bbWriteJSON(w, http.StatusOK, b.hookJSON(repo, h))
}

func (b *Bitbucket) getHook(w http.ResponseWriter, r *http.Request) {
	_, repo := b.allow(w, r, "webhook")
	if repo == nil {
		return
	}
	for _, h := range repo.hooks {
		if h.uuid == r.PathValue("uid") {
			bbWriteJSON(w, http.StatusOK, b.hookJSON(repo, h))
			return
		}
	}
	bbError(w, http.StatusNotFound, "Webhook not found", nil)
}

func (b *Bitbucket) deleteHook(w http.ResponseWriter, r *http.Request) {
	_, repo := b.allow(w, r, "webhook")
	if repo == nil {
		return
	}
	for i, h := range repo.hooks {
		if h.uuid == r.PathValue("uid") {
			repo.hooks = slices.Delete(repo.hooks, i, i+1)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	bbError(w, http.StatusNotFound, "Webhook not found", nil)
}

// bbWritePage answers one page of vals, honouring pagelen (default 10, at
// most 100) and page, with an absolute next link while more remain.
func bbWritePage(w http.ResponseWriter, r *http.Request, vals []any) {
	q := r.URL.Query()
	pagelen, page := 10, 1
	if s := q.Get("pagelen"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			bbError(w, http.StatusBadRequest, "Invalid pagelen", nil)
			return
		}
		pagelen = n
	}
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			bbError(w, http.StatusBadRequest, "Invalid page", nil)
			return
		}
		page = n
	}
	start := min((page-1)*pagelen, len(vals))
	end := min(start+pagelen, len(vals))
	out := map[string]any{
		"pagelen": pagelen,
		"values":  append([]any{}, vals[start:end]...),
		"page":    page,
		"size":    len(vals),
	}
	if end < len(vals) {
		q.Set("page", strconv.Itoa(page+1))
		q.Set("pagelen", strconv.Itoa(pagelen))
		out["next"] = "https://" + r.Host + r.URL.Path + "?" + q.Encode()
	}
	bbWriteJSON(w, http.StatusOK, out)
}

func bbWriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// bbError writes Bitbucket's error envelope.
func bbError(w http.ResponseWriter, status int, msg string, detail any) {
	e := map[string]any{"message": msg}
	if detail != nil {
		e["detail"] = detail
	}
	bbWriteJSON(w, status, map[string]any{"type": "error", "error": e})
}

type bbHref struct {
	Href string `json:"href"`
}

func bbLink(s string) bbHref { return bbHref{Href: s} }

type bbLinks3 struct {
	Self   bbHref `json:"self"`
	HTML   bbHref `json:"html"`
	Avatar bbHref `json:"avatar"`
}

type bbCloneLink struct {
	Name string `json:"name"`
	Href string `json:"href"`
}

type bbRepoLinks struct {
	Self         bbHref        `json:"self"`
	HTML         bbHref        `json:"html"`
	Avatar       bbHref        `json:"avatar"`
	Pullrequests bbHref        `json:"pullrequests"`
	Commits      bbHref        `json:"commits"`
	Forks        bbHref        `json:"forks"`
	Watchers     bbHref        `json:"watchers"`
	Branches     bbHref        `json:"branches"`
	Tags         bbHref        `json:"tags"`
	Downloads    bbHref        `json:"downloads"`
	Source       bbHref        `json:"source"`
	Clone        []bbCloneLink `json:"clone"`
	Hooks        bbHref        `json:"hooks"`
}

type bbOwner struct {
	DisplayName string `json:"display_name"`
	Links       struct {
		Self   bbHref `json:"self"`
		Avatar bbHref `json:"avatar"`
		HTML   bbHref `json:"html"`
	} `json:"links"`
	Type      string `json:"type"`
	UUID      string `json:"uuid"`
	AccountID string `json:"account_id"`
	Nickname  string `json:"nickname"`
}

type bbWorkspace struct {
	Type  string `json:"type"`
	UUID  string `json:"uuid"`
	Name  string `json:"name"`
	Slug  string `json:"slug"`
	Links struct {
		Avatar bbHref `json:"avatar"`
		HTML   bbHref `json:"html"`
		Self   bbHref `json:"self"`
	} `json:"links"`
}

type bbProject struct {
	Type  string   `json:"type"`
	Key   string   `json:"key"`
	UUID  string   `json:"uuid"`
	Name  string   `json:"name"`
	Links bbLinks3 `json:"links"`
}

type bbMainBranch struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type bbOverride struct {
	DefaultMergeStrategy bool `json:"default_merge_strategy"`
	BranchingModel       bool `json:"branching_model"`
}

// bbRepoJSON is a repository as api/repository.get.2.json shows it (the
// post-GDPR shape: owner has nickname, no username).
type bbRepoJSON struct {
	Type                  string       `json:"type"`
	FullName              string       `json:"full_name"`
	Links                 bbRepoLinks  `json:"links"`
	Name                  string       `json:"name"`
	Slug                  string       `json:"slug"`
	Description           string       `json:"description"`
	SCM                   string       `json:"scm"`
	Website               *string      `json:"website"`
	Owner                 bbOwner      `json:"owner"`
	Workspace             bbWorkspace  `json:"workspace"`
	IsPrivate             bool         `json:"is_private"`
	Project               bbProject    `json:"project"`
	ForkPolicy            string       `json:"fork_policy"`
	CreatedOn             string       `json:"created_on"`
	UpdatedOn             string       `json:"updated_on"`
	Size                  int          `json:"size"`
	Language              string       `json:"language"`
	UUID                  string       `json:"uuid"`
	MainBranch            bbMainBranch `json:"mainbranch"`
	OverrideSettings      bbOverride   `json:"override_settings"`
	Parent                *struct{}    `json:"parent"`
	EnforcedSignedCommits *bool        `json:"enforced_signed_commits"`
	HasIssues             bool         `json:"has_issues"`
	HasWiki               bool         `json:"has_wiki"`
}

type bbRepoRef struct {
	Links    bbLinks3 `json:"links"`
	Type     string   `json:"type"`
	Name     string   `json:"name"`
	FullName string   `json:"full_name"`
	UUID     string   `json:"uuid"`
}

type bbCommitLinks struct {
	Self     bbHref `json:"self"`
	Comments bbHref `json:"comments"`
	Patch    bbHref `json:"patch"`
	HTML     bbHref `json:"html"`
	Diff     bbHref `json:"diff"`
	Approve  bbHref `json:"approve"`
	Statuses bbHref `json:"statuses"`
}

type bbParent struct {
	Hash  string `json:"hash"`
	Type  string `json:"type"`
	Links struct {
		Self bbHref `json:"self"`
		HTML bbHref `json:"html"`
	} `json:"links"`
}

type bbCommit struct {
	Hash       string        `json:"hash"`
	Repository bbRepoRef     `json:"repository"`
	Links      bbCommitLinks `json:"links"`
	Author     struct {
		Raw  string `json:"raw"`
		Type string `json:"type"`
	} `json:"author"`
	Parents []bbParent `json:"parents"`
	Date    string     `json:"date"`
	Message string     `json:"message"`
	Type    string     `json:"type"`
}

// bbBranchJSON is a branch as api/refs_branches.get.json shows it.
type bbBranchJSON struct {
	Name  string `json:"name"`
	Links struct {
		Commits bbHref `json:"commits"`
		Self    bbHref `json:"self"`
		HTML    bbHref `json:"html"`
	} `json:"links"`
	DefaultMergeStrategy string   `json:"default_merge_strategy"`
	MergeStrategies      []string `json:"merge_strategies"`
	Type                 string   `json:"type"`
	Target               bbCommit `json:"target"`
}

// bbTreeEntryJSON is a commit_file or commit_directory as the API
// reference's /src example shows it (no contract file holds one).
type bbTreeEntryJSON struct {
	Path  string `json:"path"`
	Type  string `json:"type"`
	Links struct {
		Self bbHref `json:"self"`
		Meta bbHref `json:"meta"`
	} `json:"links"`
	Commit struct {
		Type  string `json:"type"`
		Hash  string `json:"hash"`
		Links struct {
			Self bbHref `json:"self"`
			HTML bbHref `json:"html"`
		} `json:"links"`
	} `json:"commit"`
	Attributes *[]string `json:"attributes,omitempty"`
	Size       *int      `json:"size,omitempty"`
}

// bbHookJSON is a webhook_subscription as api/hooks.get.json shows it.
type bbHookJSON struct {
	Type                 string   `json:"type"`
	UUID                 string   `json:"uuid"`
	Description          string   `json:"description"`
	URL                  string   `json:"url"`
	Active               bool     `json:"active"`
	SkipCertVerification bool     `json:"skip_cert_verification"`
	Events               []string `json:"events"`
	CreatedAt            string   `json:"created_at"`
	Subject              struct {
		Type     string   `json:"type"`
		FullName string   `json:"full_name"`
		Links    bbLinks3 `json:"links"`
		Name     string   `json:"name"`
		UUID     string   `json:"uuid"`
	} `json:"subject"`
	Links struct {
		Self bbHref `json:"self"`
	} `json:"links"`
	Source         *string `json:"source"`
	ReadOnly       bool    `json:"read_only"`
	HistoryEnabled bool    `json:"history_enabled"`
	SecretSet      bool    `json:"secret_set"`
}

const (
	bbAPI = "https://api.bitbucket.org/2.0"
	bbWeb = "https://bitbucket.org"
)

// bbUUID is a stable Bitbucket-style {uuid} for a name.
func bbUUID(name string) string {
	h := bbHash(name)
	return "{" + h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32] + "}"
}

// bbHash is a stable 40-hex commit id for a name.
func bbHash(name string) string {
	sum := sha1.Sum([]byte(name))
	return hex.EncodeToString(sum[:])
}

func bbRepoLinks3(full string) bbLinks3 {
	return bbLinks3{
		Self:   bbLink(bbAPI + "/repositories/" + full),
		HTML:   bbLink(bbWeb + "/" + full),
		Avatar: bbLink(bbWeb + "/" + full + "/avatar/32"),
	}
}

func (b *Bitbucket) repoJSON(r *bbRepo) bbRepoJSON {
	full := r.Workspace + "/" + r.Slug
	api := bbAPI + "/repositories/" + full
	ts := b.started.Format("2006-01-02T15:04:05.000000-07:00")
	out := bbRepoJSON{
		Type:     "repository",
		FullName: full,
		Links: bbRepoLinks{
			Self: bbLink(api), HTML: bbLink(bbWeb + "/" + full), Avatar: bbLink(bbWeb + "/" + full + "/avatar/32"),
			Pullrequests: bbLink(api + "/pullrequests"), Commits: bbLink(api + "/commits"), Forks: bbLink(api + "/forks"),
			Watchers: bbLink(api + "/watchers"), Branches: bbLink(api + "/refs/branches"), Tags: bbLink(api + "/refs/tags"),
			Downloads: bbLink(api + "/downloads"), Source: bbLink(api + "/src"), Hooks: bbLink(api + "/hooks"),
			// The user Bitbucket names for an access token is unverified;
			// the fake uses the workspace ID.
			Clone: []bbCloneLink{{"https", "https://" + r.Workspace + "@bitbucket.org/" + full + ".git"}, {"ssh", "git@bitbucket.org:" + full + ".git"}},
		},
		Name:       r.Name,
		Slug:       r.Slug,
		SCM:        "git",
		IsPrivate:  r.Private,
		ForkPolicy: "allow_forks",
		CreatedOn:  ts,
		UpdatedOn:  ts,
		Size:       1024,
		UUID:       bbUUID("repo:" + full),
		MainBranch: bbMainBranch{Name: r.MainBranch, Type: "branch"},
	}
	o := &out.Owner
	o.DisplayName, o.Type, o.UUID = r.Workspace, "user", b.userUUID
	o.AccountID, o.Nickname = "557058:00000000-0000-0000-0000-000000000000", r.Workspace
	o.Links.Self = bbLink(bbAPI + "/users/" + url.PathEscape(b.userUUID))
	o.Links.Avatar = bbLink(bbWeb + "/account/" + r.Workspace + "/avatar/")
	o.Links.HTML = bbLink(bbWeb + "/" + url.PathEscape(b.userUUID) + "/")
	ws := &out.Workspace
	ws.Type, ws.UUID, ws.Name, ws.Slug = "workspace", bbUUID("ws:"+r.Workspace), r.Workspace, r.Workspace
	ws.Links.Avatar = bbLink(bbWeb + "/workspaces/" + r.Workspace + "/avatar/")
	ws.Links.HTML = bbLink(bbWeb + "/" + r.Workspace + "/")
	ws.Links.Self = bbLink(bbAPI + "/workspaces/" + r.Workspace)
	p := &out.Project
	p.Type, p.Key, p.UUID, p.Name = "project", r.Project, bbUUID("project:"+r.Workspace+"/"+r.Project), r.ProjectName
	projWeb := bbWeb + "/" + r.Workspace + "/workspace/projects/" + r.Project
	p.Links = bbLinks3{Self: bbLink(bbAPI + "/workspaces/" + r.Workspace + "/projects/" + r.Project), HTML: bbLink(projWeb), Avatar: bbLink(projWeb + "/avatar/32")}
	return out
}

func (b *Bitbucket) branchJSON(r *bbRepo, name string) bbBranchJSON {
	full := r.Workspace + "/" + r.Slug
	api := bbAPI + "/repositories/" + full
	hash := bbHash(full + "@" + name)
	parent := bbHash(full + "@" + name + "^")
	out := bbBranchJSON{
		Name:                 name,
		DefaultMergeStrategy: "merge_commit",
		MergeStrategies:      []string{"merge_commit", "squash", "fast_forward"},
		Type:                 "branch",
	}
	out.Links.Commits = bbLink(api + "/commits/" + name)
	out.Links.Self = bbLink(api + "/refs/branches/" + name)
	out.Links.HTML = bbLink(bbWeb + "/" + full + "/branch/" + name)
	t := &out.Target
	t.Hash, t.Type = hash, "commit"
	t.Repository = bbRepoRef{Links: bbRepoLinks3(full), Type: "repository", Name: r.Name, FullName: full, UUID: bbUUID("repo:" + full)}
	c := api + "/commit/" + hash
	t.Links = bbCommitLinks{Self: bbLink(c), Comments: bbLink(c + "/comments"), Patch: bbLink(api + "/patch/" + hash),
		HTML: bbLink(bbWeb + "/" + full + "/commits/" + hash), Diff: bbLink(api + "/diff/" + hash),
		Approve: bbLink(c + "/approve"), Statuses: bbLink(c + "/statuses")}
	t.Author.Raw, t.Author.Type = "Fake Author <author@example.com>", "author"
	par := bbParent{Hash: parent, Type: "commit"}
	par.Links.Self, par.Links.HTML = bbLink(api+"/commit/"+parent), bbLink(bbWeb+"/"+full+"/commits/"+parent)
	t.Parents = []bbParent{par}
	t.Date = b.started.Format(time.RFC3339)
	t.Message = "Commit on " + name
	return out
}

func (b *Bitbucket) hookJSON(r *bbRepo, h *bbHook) bbHookJSON {
	full := r.Workspace + "/" + r.Slug
	out := bbHookJSON{
		Type:        "webhook_subscription",
		UUID:        h.uuid,
		Description: h.description,
		URL:         h.url,
		Active:      h.active,
		Events:      slices.Clone(h.events),
		CreatedAt:   h.created.Format(time.RFC3339Nano),
		SecretSet:   h.secret != "",
	}
	s := &out.Subject
	s.Type, s.FullName, s.Name, s.UUID, s.Links = "repository", full, r.Name, bbUUID("repo:"+full), bbRepoLinks3(full)
	out.Links.Self = bbLink(bbAPI + "/repositories/" + full + "/hooks/" + url.PathEscape(h.uuid))
	return out
}
