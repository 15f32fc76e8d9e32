package gitlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
)

const (
	// perPage is GitLab's largest page (Kaminari max_per_page, 100, in
	// config/initializers/kaminari_config.rb).
	perPage = 100
	// maxPages bounds a list so a server that never stops naming a next
	// page cannot keep gitaccess asking: 100,000 items.
	maxPages = 1000
	// minSearch is GitLab's MIN_CHARS_FOR_PARTIAL_MATCHING: a shorter
	// search matches names exactly (Gitlab::SQL::Pattern), not as a
	// substring, so gitaccess filters short ones itself.
	minSearch = 3
)

// browse is one browsing call: the client, and what its errors name.
type browse struct {
	f    *Forge
	c    *gl.Client
	host string
	// project is the full name asked about, "" for ListRepos.
	project string
	// token only redacts provider text that might echo it.
	token secret.Value
	// notFound keeps GitLab's 404 bodies for the errors.
	notFound notFoundBody
}

// browse starts a browsing call; its requests go under the returned
// context, which keeps 404 bodies for b.fail.
func (f *Forge) browse(ctx context.Context, cred forge.Credential, fullName string) (context.Context, *browse, error) {
	c, host, err := f.connect(cred)
	if err != nil {
		return ctx, nil, err
	}
	b := &browse{f: f, c: c, host: host, project: fullName, token: cred.Token}
	return b.notFound.watch(ctx), b, nil
}

// projectPath checks a full name. It must hold a slash: GitLab reads a bare
// number as a project id, so "42" would name some other project.
func projectPath(fullName string) (string, error) {
	p := strings.Trim(strings.TrimSpace(fullName), "/")
	if !strings.Contains(p, "/") {
		return "", &forge.InvalidInputError{Field: "repository", Reason: fmt.Sprintf("%q is not a GitLab project path; give it as group/name or group/subgroup/name", fullName)}
	}
	for _, s := range strings.Split(p, "/") {
		if s == "" || s == "." || s == ".." {
			return "", &forge.InvalidInputError{Field: "repository", Reason: fmt.Sprintf("%q has an empty or relative path segment", fullName)}
		}
	}
	return p, nil
}

// fail maps a failed request. A 404 about a project is a
// *forge.NotFoundError naming resource, or the project itself when GitLab
// says the project is what it cannot find ("404 Project Not Found": absent,
// or invisible to the token). A 404 on /projects means a wrong URL and
// stays a ProviderError.
func (b *browse) fail(what, resource string, resp *gl.Response, err error) error {
	fl := classify(resp, err)
	if errors.Is(err, gl.ErrNotFound) {
		fl.read(b.notFound.last())
	}
	fl.text = b.token.Redact(fl.text)
	switch {
	case fl.status == http.StatusNotFound && b.project != "":
		if fl.text == "404 Project Not Found" {
			resource = b.project
		}
		return &forge.NotFoundError{Provider: forge.GitLab, Host: b.host, Resource: resource, Status: fl.status, Message: fl.text}
	case fl.insufficientScope():
		// Projects and branches take api or read_api only (lib/api/api.rb);
		// read_repository opens only the files endpoint and git itself.
		return &forge.ProviderError{Provider: forge.GitLab, Host: b.host, Status: fl.status,
			Message: what + ": the token lacks read_api or api, which browsing needs (GitLab: " + fl.text + ")"}
	}
	return b.f.toError(b.host, what, fl)
}

// failCode is fail for reading a repository's content, where a plain 403 is
// the role (read_code needs Reporter on a private project), not the token.
func (b *browse) failCode(what, resource string, resp *gl.Response, err error) error {
	fl := classify(resp, err)
	if fl.status == http.StatusForbidden && !fl.insufficientScope() {
		return &forge.ProviderError{Provider: forge.GitLab, Host: b.host, Status: fl.status,
			Message: fmt.Sprintf("%s: %s; the token can see %s but not read its code, which takes the Reporter role or higher on a private project",
				what, b.token.Redact(fl.text), b.project)}
	}
	return b.fail(what, resource, resp, err)
}

// pages follows every page of a list, by the keyset Link (rel="next") or
// X-Next-Page, whichever GitLab sent (gl.WithNext prefers the Link). A
// keyset page names a next one whenever it held anything
// (Gitlab::Pagination::Keyset::Pager), so an empty page is the end; it ends
// offset lists too, whose first page of branches names a page 2 even when
// there is none under the branch_list_keyset_pagination flag
// (GitalyKeysetPager).
func pages[T any](ctx context.Context, b *browse, what string,
	fail func(what, resource string, resp *gl.Response, err error) error,
	list func(...gl.RequestOptionFunc) ([]T, *gl.Response, error),
) ([]T, int, error) {
	var all []T
	opts := []gl.RequestOptionFunc{gl.WithContext(ctx)}
	for n := 1; ; n++ {
		items, resp, err := list(opts...)
		if err != nil {
			return nil, n, fail(what, b.project, resp, err)
		}
		all = append(all, items...)
		next, more := gl.WithNext(resp)
		if !more || len(items) == 0 {
			return all, n, nil
		}
		if n == maxPages {
			return nil, n, &forge.ProviderError{Provider: forge.GitLab, Host: b.host,
				Message: fmt.Sprintf("%s: still more after %d pages of %d; gitaccess stops there", what, maxPages, perPage)}
		}
		opts = []gl.RequestOptionFunc{gl.WithContext(ctx), next}
	}
}

func repoOf(p *gl.Project) forge.Repo {
	return forge.Repo{
		FullName:      p.PathWithNamespace,
		CloneURL:      p.HTTPURLToRepo,
		WebURL:        p.WebURL,
		DefaultBranch: p.DefaultBranch,
		// internal projects are open to every signed-in user, not the world.
		Private: p.Visibility != gl.PublicVisibility,
	}
}

func branchOf(br *gl.Branch) forge.Branch {
	out := forge.Branch{Name: br.Name}
	if br.Commit != nil {
		out.SHA = br.Commit.ID
	}
	return out
}

// ListRepos lists the projects the token's user is a member of (directly or
// through a group): GET /projects?membership=true, without which gitlab.com
// would list every public project. It pages by keyset on id, which GitLab
// offers for projects and which has no offset ceiling (offset pagination of
// /projects stops at 50,000 with a 405, lib/api/helpers/
// pagination_strategies.rb).
func (f *Forge) ListRepos(ctx context.Context, cred forge.Credential, search string) ([]forge.Repo, error) {
	ctx, b, err := f.browse(ctx, cred, "")
	if err != nil {
		return nil, err
	}
	opt := &gl.ListProjectsOptions{
		ListOptions: gl.ListOptions{Pagination: "keyset", PerPage: perPage},
		OrderBy:     gl.Ptr("id"),
		Sort:        gl.Ptr("asc"),
		Membership:  gl.Ptr(true),
	}
	needle := strings.ToLower(strings.TrimSpace(search))
	if utf8.RuneCountInString(needle) >= minSearch {
		// search_namespaces matches the full path, not only the name.
		opt.Search, opt.SearchNamespaces = gl.Ptr(needle), gl.Ptr(true)
	}
	projects, n, err := pages(ctx, b, "GET /projects", b.fail, func(o ...gl.RequestOptionFunc) ([]*gl.Project, *gl.Response, error) {
		return b.c.Projects.ListProjects(opt, o...)
	})
	if err != nil {
		return nil, err
	}
	// GitLab's search also matches names and descriptions; the contract is
	// the full name.
	repos := make([]forge.Repo, 0, len(projects))
	for _, p := range projects {
		if strings.Contains(strings.ToLower(p.PathWithNamespace), needle) {
			repos = append(repos, repoOf(p))
		}
	}
	f.logger.DebugContext(ctx, "gitlab projects listed", "host", b.host, "count", len(repos), "requests", n)
	return repos, nil
}

// GetRepo is GET /projects/:id with the URL-encoded full path as id.
func (f *Forge) GetRepo(ctx context.Context, cred forge.Credential, fullName string) (forge.Repo, error) {
	name, err := projectPath(fullName)
	if err != nil {
		return forge.Repo{}, err
	}
	ctx, b, err := f.browse(ctx, cred, name)
	if err != nil {
		return forge.Repo{}, err
	}
	return b.getRepo(ctx)
}

func (b *browse) getRepo(ctx context.Context) (forge.Repo, error) {
	p, resp, err := b.c.Projects.GetProject(b.project, nil, gl.WithContext(ctx))
	if err != nil {
		return forge.Repo{}, b.fail("GET /projects/"+gl.PathEscape(b.project), b.project, resp, err)
	}
	return repoOf(p), nil
}

// ListBranches lists every branch, by offset pages (the branches endpoint
// has no keyset paging without a feature flag).
func (f *Forge) ListBranches(ctx context.Context, cred forge.Credential, fullName string) ([]forge.Branch, error) {
	name, err := projectPath(fullName)
	if err != nil {
		return nil, err
	}
	ctx, b, err := f.browse(ctx, cred, name)
	if err != nil {
		return nil, err
	}
	what := "GET /projects/" + gl.PathEscape(name) + "/repository/branches"
	opt := &gl.ListBranchesOptions{ListOptions: gl.ListOptions{PerPage: perPage}}
	list, n, err := pages(ctx, b, what, b.failCode, func(o ...gl.RequestOptionFunc) ([]*gl.Branch, *gl.Response, error) {
		return b.c.Branches.ListBranches(name, opt, o...)
	})
	if err != nil {
		return nil, err
	}
	out := make([]forge.Branch, 0, len(list))
	for _, br := range list {
		out = append(out, branchOf(br))
	}
	f.logger.DebugContext(ctx, "gitlab branches listed", "host", b.host, "project", name, "count", len(out), "requests", n)
	return out, nil
}

// GetBranch is GET /projects/:id/repository/branches/:branch.
func (f *Forge) GetBranch(ctx context.Context, cred forge.Credential, fullName, branch string) (forge.Branch, error) {
	name, err := projectPath(fullName)
	if err != nil {
		return forge.Branch{}, err
	}
	if strings.TrimSpace(branch) == "" {
		return forge.Branch{}, &forge.InvalidInputError{Field: "branch", Reason: "the branch name is empty"}
	}
	ctx, b, err := f.browse(ctx, cred, name)
	if err != nil {
		return forge.Branch{}, err
	}
	br, resp, err := b.c.Branches.GetBranch(name, branch, gl.WithContext(ctx))
	if err != nil {
		what := "GET /projects/" + gl.PathEscape(name) + "/repository/branches/" + gl.PathEscape(branch)
		return forge.Branch{}, b.failCode(what, "branch "+branch+" of "+name, resp, err)
	}
	return branchOf(br), nil
}

// ReadFile is GET /projects/:id/repository/files/:path/raw?ref=REF. An
// empty ref is resolved to the default branch first: GitLab reads HEAD
// without ref only since 13.11 (lib/api/files.rb, "optional :ref"), older
// versions answer 400, and the errors can then name the branch.
func (f *Forge) ReadFile(ctx context.Context, cred forge.Credential, fullName, path, ref string) ([]byte, error) {
	name, err := projectPath(fullName)
	if err != nil {
		return nil, err
	}
	file := strings.TrimPrefix(path, "/")
	for _, s := range strings.Split(file, "/") {
		if s == "" || s == "." || s == ".." {
			return nil, &forge.InvalidInputError{Field: "path", Reason: fmt.Sprintf("%q does not name a file in the repository; give a path such as Dockerfile or deploy/app.yaml", path)}
		}
	}
	ctx, b, err := f.browse(ctx, cred, name)
	if err != nil {
		return nil, err
	}
	if ref == "" {
		repo, err := b.getRepo(ctx)
		if err != nil {
			return nil, err
		}
		if repo.DefaultBranch == "" {
			return nil, &forge.NotFoundError{Provider: forge.GitLab, Host: b.host, Resource: "file " + file + " of " + name,
				Message: "the repository is empty: it has no default branch"}
		}
		ref = repo.DefaultBranch
	}
	resource := "file " + file + " at " + ref + " of " + name
	rel := "projects/" + gl.PathEscape(name) + "/repository/files/" + gl.PathEscape(file) + "/raw"
	what := "GET /" + rel

	// Cancelling on overflow stops the client from draining the rest.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := b.c.NewRequest(http.MethodGet, rel, &gl.GetRawFileOptions{Ref: gl.Ptr(ref)}, []gl.RequestOptionFunc{gl.WithContext(rctx)})
	if err != nil {
		return nil, fmt.Errorf("building the GitLab request for %s: %w", resource, err)
	}
	w := &capped{limit: forge.MaxFileBytes, stop: cancel}
	resp, err := b.c.Do(req, w)
	var tooLarge *egress.ResponseTooLargeError
	if w.over || errors.As(err, &tooLarge) {
		return nil, &forge.InvalidInputError{Field: "path", Reason: fmt.Sprintf(
			"%s is larger than %d bytes; gitaccess reads only small files such as a Dockerfile or a build manifest", resource, forge.MaxFileBytes)}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("reading %s: %w", resource, ctx.Err())
		}
		return nil, b.failCode(what, resource, resp, err)
	}
	return w.buf.Bytes(), nil
}

// capped collects a body up to limit bytes and refuses more.
type capped struct {
	buf   bytes.Buffer
	limit int
	over  bool
	stop  func()
}

var errTooLarge = errors.New("file larger than the cap")

func (c *capped) Write(p []byte) (int, error) {
	if c.buf.Len()+len(p) > c.limit {
		c.over = true
		c.stop()
		return 0, errTooLarge
	}
	return c.buf.Write(p)
}
