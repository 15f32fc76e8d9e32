package gitea

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gitaccess/gitaccess/internal/forge"
)

// repository is the part of Gitea's Repository (swagger
// #/definitions/Repository) gitaccess reads.
type repository struct {
	ID            int64  `json:"id"`
	FullName      string `json:"full_name"`
	HTMLURL       string `json:"html_url"`
	CloneURL      string `json:"clone_url"`
	DefaultBranch string `json:"default_branch"`
	Private       bool   `json:"private"`
	Internal      bool   `json:"internal"`
	Empty         bool   `json:"empty"`
}

// branch is the part of Gitea's Branch (swagger #/definitions/Branch)
// gitaccess reads; commit is a PayloadCommit, id its SHA.
type branch struct {
	Name   string `json:"name"`
	Commit *struct {
		ID string `json:"id"`
	} `json:"commit"`
}

func repoOf(r repository) forge.Repo {
	return forge.Repo{
		FullName:      r.FullName,
		CloneURL:      r.CloneURL,
		WebURL:        r.HTMLURL,
		DefaultBranch: r.DefaultBranch,
		// internal repositories are open to every signed-in user, not the world.
		Private: r.Private || r.Internal,
	}
}

func branchOf(b branch) forge.Branch {
	out := forge.Branch{Name: b.Name}
	if b.Commit != nil {
		out.SHA = b.Commit.ID
	}
	return out
}

// splitName checks a full name: Gitea repositories are exactly owner/name.
func splitName(fullName string) (owner, name string, err error) {
	p := strings.Trim(strings.TrimSpace(fullName), "/")
	owner, name, ok := strings.Cut(p, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") ||
		owner == "." || owner == ".." || name == "." || name == ".." {
		return "", "", &forge.InvalidInputError{Field: "repository", Reason: fmt.Sprintf("%q is not a Gitea repository; give it as owner/name", fullName)}
	}
	return owner, name, nil
}

// browse is one browsing call on one repository ("" for ListRepos).
type browse struct {
	c           *client
	owner, name string
}

func (b *browse) full() string { return b.owner + "/" + b.name }

// repoPath is the API path of the repository, with more segments.
func (b *browse) repoPath(more ...string) string {
	return b.c.path(append([]string{"repos", b.owner, b.name}, more...)...)
}

// browser starts a browsing call on one repository, checking its name
// before any request.
func (f *Forge) browser(cred forge.Credential, fullName string) (*browse, error) {
	owner, name, err := splitName(fullName)
	if err != nil {
		return nil, err
	}
	c, err := f.connect(cred)
	if err != nil {
		return nil, err
	}
	return &browse{c: c, owner: owner, name: name}, nil
}

// fail maps a failed browsing request. Gitea answers 404 for a repository
// that does not exist and for one the token's user cannot see
// (repoAssignment); its NotFound body lists the cause in "errors" when a
// handler, not the route, found nothing ("branch does not exist [name:
// x]"), so an empty list means the repository itself. A scope 403 names
// the scope; a plain 403 is the user's role on the repository.
func (b *browse) fail(what, resource string, err error) error {
	var se *statusError
	if !errors.As(err, &se) {
		return err
	}
	switch {
	case se.Status == http.StatusNotFound && b.name != "":
		if len(se.Errors) == 0 {
			resource = b.full()
		}
		return &forge.NotFoundError{Provider: Provider, Host: b.c.Host, Resource: resource, Status: se.Status, Message: se.Message}
	case se.ScopeRefusal():
		if resource == "" {
			return b.c.missingScope(se, "list the repositories of", "the token's user")
		}
		return b.c.missingScope(se, "read", resource)
	}
	return b.c.providerError(what, err)
}

// missingScope turns a scope 403, Gitea's "token does not have at least
// one of required scope(s): [write:repository]" (routers/api/v1/api.go
// tokenRequiresScopes), into a *forge.PermissionError refusing action on
// resource. Needs is the scope in Gitea's words; any one of several named
// would do. Gitea cannot change a token's scopes, so Fix says to create a
// token that has it.
func (c *client) missingScope(se *statusError, action, resource string) *forge.PermissionError {
	needs := strings.Join(se.Required, " or ")
	return &forge.PermissionError{Provider: Provider, Host: c.Host, Action: action, Repo: resource, Status: se.Status,
		Needs: needs, Message: se.Message,
		Fix: "the token lacks the " + needs + " scope; Gitea cannot add a scope to a token, so generate a new one with " + needs +
			" in Settings > Applications (of the token's user) and replace this one"}
}

// ListRepos lists the repositories the token's user owns, collaborates on
// or reaches through an organization team: GET /user/repos, every page
// (it needs read:user and read:repository). Gitea's /repos/search could
// filter on the server but would also list every public repository of the
// instance (all of Codeberg), so the search is applied here, on the full
// name, as forge.Browser promises.
func (f *Forge) ListRepos(ctx context.Context, cred forge.Credential, search string) ([]forge.Repo, error) {
	c, err := f.connect(cred)
	if err != nil {
		return nil, err
	}
	b := &browse{c: c}
	what := "GET " + apiPath + "/user/repos"
	repos, err := list[repository](ctx, b.c, what, b.c.path("user", "repos"))
	if err != nil {
		return nil, b.fail(what, "", err)
	}
	needle := strings.ToLower(strings.TrimSpace(search))
	out := make([]forge.Repo, 0, len(repos))
	for _, r := range repos {
		if strings.Contains(strings.ToLower(r.FullName), needle) {
			out = append(out, repoOf(r))
		}
	}
	f.logger.DebugContext(ctx, "gitea repositories listed", "host", b.c.Host, "count", len(out), "requests", b.c.Requests)
	return out, nil
}

// GetRepo is GET /repos/{owner}/{repo}.
func (f *Forge) GetRepo(ctx context.Context, cred forge.Credential, fullName string) (forge.Repo, error) {
	b, err := f.browser(cred, fullName)
	if err != nil {
		return forge.Repo{}, err
	}
	what := "GET " + apiPath + "/repos/" + b.full()
	a, err := b.c.do(ctx, http.MethodGet, b.repoPath(), nil)
	if err != nil {
		return forge.Repo{}, b.fail(what, b.full(), err)
	}
	var r repository
	if err := b.c.decode(a, what, &r); err != nil {
		return forge.Repo{}, err
	}
	return repoOf(r), nil
}

// ListBranches is GET /repos/{owner}/{repo}/branches, every page.
func (f *Forge) ListBranches(ctx context.Context, cred forge.Credential, fullName string) ([]forge.Branch, error) {
	b, err := f.browser(cred, fullName)
	if err != nil {
		return nil, err
	}
	what := "GET " + apiPath + "/repos/" + b.full() + "/branches"
	list, err := list[branch](ctx, b.c, what, b.repoPath("branches"))
	if err != nil {
		return nil, b.fail(what, b.full(), err)
	}
	out := make([]forge.Branch, 0, len(list))
	for _, br := range list {
		out = append(out, branchOf(br))
	}
	f.logger.DebugContext(ctx, "gitea branches listed", "host", b.c.Host, "repository", b.full(), "count", len(out), "requests", b.c.Requests)
	return out, nil
}

// GetBranch is GET /repos/{owner}/{repo}/branches/{branch}; the route takes
// the rest of the path, so a branch name keeps its slashes.
func (f *Forge) GetBranch(ctx context.Context, cred forge.Credential, fullName, branchName string) (forge.Branch, error) {
	if strings.TrimSpace(branchName) == "" {
		return forge.Branch{}, &forge.InvalidInputError{Field: "branch", Reason: "the branch name is empty"}
	}
	// Git forbids empty, "." and ".." components in ref names
	// (git-check-ref-format); refusing them keeps a proxy that cleans
	// paths from sending the request to another route.
	for _, s := range strings.Split(branchName, "/") {
		if s == "" || s == "." || s == ".." {
			return forge.Branch{}, &forge.InvalidInputError{Field: "branch", Reason: fmt.Sprintf("%q is not a branch name", branchName)}
		}
	}
	b, err := f.browser(cred, fullName)
	if err != nil {
		return forge.Branch{}, err
	}
	what := "GET " + apiPath + "/repos/" + b.full() + "/branches/" + branchName
	a, err := b.c.do(ctx, http.MethodGet, b.repoPath("branches")+"/"+subPath(branchName), nil)
	if err != nil {
		return forge.Branch{}, b.fail(what, "branch "+branchName+" of "+b.full(), err)
	}
	var br branch
	if err := b.c.decode(a, what, &br); err != nil {
		return forge.Branch{}, err
	}
	return branchOf(br), nil
}

// ReadFile is GET /repos/{owner}/{repo}/raw/{filepath}?ref=REF; without a
// ref Gitea reads the default branch (swagger repoGetRawFile: "ref ...
// default the repository's default branch"). At most forge.MaxFileBytes
// are read; a larger file is refused, never truncated.
func (f *Forge) ReadFile(ctx context.Context, cred forge.Credential, fullName, path, ref string) ([]byte, error) {
	file := strings.TrimPrefix(path, "/")
	for _, s := range strings.Split(file, "/") {
		if s == "" || s == "." || s == ".." {
			return nil, &forge.InvalidInputError{Field: "path", Reason: fmt.Sprintf("%q does not name a file in the repository; give a path such as Dockerfile or deploy/app.yaml", path)}
		}
	}
	b, err := f.browser(cred, fullName)
	if err != nil {
		return nil, err
	}
	rawURL := b.repoPath("raw") + "/" + subPath(file)
	resource := "file " + file + " of " + b.full()
	if ref != "" {
		rawURL += "?" + url.Values{"ref": {ref}}.Encode()
		resource = "file " + file + " at " + ref + " of " + b.full()
	}
	a, err := b.c.fetch(ctx, http.MethodGet, rawURL, nil, "*/*", forge.MaxFileBytes)
	var tooLarge *tooLargeError
	if errors.As(err, &tooLarge) {
		return nil, &forge.InvalidInputError{Field: "path", Reason: fmt.Sprintf(
			"%s is larger than %d bytes; gitaccess reads only small files such as a Dockerfile or a build manifest", resource, forge.MaxFileBytes)}
	}
	if err != nil {
		var se *statusError
		if errors.As(err, &se) && se.Status == http.StatusNotFound && len(se.Errors) == 0 {
			// Gitea's raw route answers a bare 404 for a missing file or
			// ref as for a missing repository; name the file.
			return nil, &forge.NotFoundError{Provider: Provider, Host: b.c.Host, Resource: resource, Status: se.Status, Message: se.Message}
		}
		return nil, b.fail("GET "+apiPath+"/repos/"+b.full()+"/raw/"+file, resource, err)
	}
	return a.Body, nil
}
