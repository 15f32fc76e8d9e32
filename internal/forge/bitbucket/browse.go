package bitbucket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/gitaccess/gitaccess/internal/forge"
)

// browser checks a credential as Inspect does and returns a client for one
// browsing call and the token's workspace.
func (f *Forge) browser(cred forge.Credential) (*client, string, error) {
	if cred.Endpoint.Provider != "" && cred.Endpoint.Provider != forge.Bitbucket {
		return nil, "", &forge.InvalidInputError{Field: "provider", Reason: fmt.Sprintf("this credential is for %s, not Bitbucket", forge.Title(cred.Endpoint.Provider))}
	}
	raw := cred.Endpoint.APIURL
	if raw == "" {
		raw = cred.Endpoint.WebURL
	}
	ep, err := f.ResolveEndpoint(raw, cred.Endpoint.Workspace)
	if err != nil {
		return nil, "", err
	}
	ep.CABundle = cred.Endpoint.CABundle
	if cred.Token.IsZero() {
		return nil, "", &forge.InvalidInputError{Field: "value", Reason: "the token is empty"}
	}
	c, err := newClient(f.policy, ep, cred.Token, f.logger, f.now)
	if err != nil {
		return nil, "", err
	}
	c.HTTP.Transport = f.wrap.Wrap(forge.Bitbucket, cred, c.HTTP.Transport)
	return c, ep.Workspace, nil
}

// ListRepos lists the workspace's repositories the token sees, every page.
// A search made only of characters a full name can hold (workspace IDs and
// slugs are lowercase letters, digits, - _ .) is sent as BBQL
// full_name ~ "search", Bitbucket's case-insensitive contains (API
// reference, "Filter and sort API objects"), so no user text is ever
// spliced into a query it could change; any other search lists everything.
// Either way the answer is filtered again here, so the result is what
// forge.Browser promises whatever the server matched.
func (f *Forge) ListRepos(ctx context.Context, cred forge.Credential, search string) ([]forge.Repo, error) {
	c, ws, err := f.browser(cred)
	if err != nil {
		return nil, err
	}
	needle := strings.ToLower(strings.TrimSpace(search))
	bbql := ""
	if needle != "" && strings.Trim(needle, "abcdefghijklmnopqrstuvwxyz0123456789-_./") == "" {
		bbql = `full_name ~ "` + needle + `"`
	}
	repos, err := c.repositoriesWhere(ctx, ws, bbql, 0)
	if err != nil {
		return nil, c.refusal(err, "workspace "+ws)
	}
	out := make([]forge.Repo, 0, len(repos))
	for _, r := range repos {
		if strings.Contains(strings.ToLower(r.FullName), needle) {
			out = append(out, toRepo(r))
		}
	}
	f.logger.DebugContext(ctx, "bitbucket repositories listed", "workspace", ws, "filtered", bbql != "",
		"repositories", len(out), "requests", c.Requests)
	return out, nil
}

// GetRepo reads one repository. Bitbucket answers 404 for a repository that
// does not exist or that it hides, and 403 for a private one the caller
// cannot read (API reference, "Get a repository"); both are *NotFoundError.
func (f *Forge) GetRepo(ctx context.Context, cred forge.Credential, fullName string) (forge.Repo, error) {
	c, _, err := f.browser(cred)
	if err != nil {
		return forge.Repo{}, err
	}
	ws, slug, err := splitFullName(fullName)
	if err != nil {
		return forge.Repo{}, err
	}
	r, err := c.repository(ctx, ws, slug)
	if err != nil {
		return forge.Repo{}, err
	}
	return toRepo(r), nil
}

// ListBranches lists every branch, every page.
func (f *Forge) ListBranches(ctx context.Context, cred forge.Credential, fullName string) ([]forge.Branch, error) {
	c, _, err := f.browser(cred)
	if err != nil {
		return nil, err
	}
	ws, slug, err := splitFullName(fullName)
	if err != nil {
		return nil, err
	}
	bs, err := c.branches(ctx, ws, slug, 0)
	if err != nil {
		return nil, c.refusal(err, ws+"/"+slug)
	}
	out := make([]forge.Branch, 0, len(bs))
	for _, b := range bs {
		out = append(out, forge.Branch{Name: b.Name, SHA: b.Target.Hash})
	}
	return out, nil
}

// GetBranch reads one branch head.
func (f *Forge) GetBranch(ctx context.Context, cred forge.Credential, fullName, branchName string) (forge.Branch, error) {
	c, _, err := f.browser(cred)
	if err != nil {
		return forge.Branch{}, err
	}
	ws, slug, err := splitFullName(fullName)
	if err != nil {
		return forge.Branch{}, err
	}
	b, err := c.branch(ctx, ws, slug, branchName)
	if err != nil {
		return forge.Branch{}, c.refusal(err, fmt.Sprintf("branch %s of %s/%s", branchName, ws, slug))
	}
	return forge.Branch{Name: b.Name, SHA: b.Target.Hash}, nil
}

// ReadFile reads a file through GET .../src/{commit}/{path} (API reference,
// "Get file or directory contents"), which answers a file's raw bytes and a
// directory's listing. {commit} must be one path segment, and Bitbucket
// takes no ref with a slash there, escaped or not (BCLOUD-9969), so such a
// ref is first resolved as a branch to its head commit. An empty ref is the
// repository's main branch, which costs one request for the repository.
// More than forge.MaxFileBytes is refused, never truncated.
func (f *Forge) ReadFile(ctx context.Context, cred forge.Credential, fullName, filePath, ref string) ([]byte, error) {
	c, _, err := f.browser(cred)
	if err != nil {
		return nil, err
	}
	ws, slug, err := splitFullName(fullName)
	if err != nil {
		return nil, err
	}
	full := ws + "/" + slug
	p := strings.Trim(filePath, "/")
	segs, err := segments("path", p)
	if err != nil {
		return nil, err
	}
	if p == "" {
		return nil, &forge.InvalidInputError{Field: "path", Reason: "give the path of a file; the repository root is a directory"}
	}

	ref = strings.TrimSpace(ref)
	if ref == "" {
		r, err := c.repository(ctx, ws, slug)
		if err != nil {
			return nil, err
		}
		if r.MainBranch == nil || r.MainBranch.Name == "" {
			return nil, &forge.InvalidInputError{Field: "ref", Reason: full + " has no main branch (it is empty); give a branch, tag or commit"}
		}
		ref = r.MainBranch.Name
	}
	what := fmt.Sprintf("file %s at %s of %s", p, ref, full)
	commit := ref
	if strings.Contains(ref, "/") {
		b, err := c.branch(ctx, ws, slug, ref)
		if err != nil {
			err = c.refusal(err, what)
			var nf *forge.NotFoundError
			if errors.As(err, &nf) {
				nf.Message += " (a ref with a slash is read as a branch; for a tag, give its commit)"
			}
			return nil, err
		}
		commit = b.Target.Hash
	}

	a, err := c.fetch(ctx, c.endpoint(nil, append([]string{"repositories", ws, slug, "src", commit}, segs...)...), forge.MaxFileBytes)
	var big *tooLargeError
	switch {
	case errors.As(err, &big):
		return nil, &forge.InvalidInputError{Field: "path", Reason: fmt.Sprintf(
			"%s is larger than %d KiB, the most gitaccess reads from a repository (it reads build files, not blobs)", what, forge.MaxFileBytes>>10)}
	case err != nil:
		return nil, c.refusal(err, what)
	case isListing(a):
		return nil, &forge.InvalidInputError{Field: "path", Reason: fmt.Sprintf("%s is a directory, not a file; give the path of a file", strings.TrimPrefix(what, "file "))}
	}
	return a.Body, nil
}

// repository GETs one repository, refusals mapped.
func (c *client) repository(ctx context.Context, ws, slug string) (repository, error) {
	var r repository
	a, err := c.do(ctx, http.MethodGet, c.endpoint(nil, "repositories", ws, slug), nil)
	if err != nil {
		return r, c.refusal(err, ws+"/"+slug)
	}
	return r, c.decode(a, "the repository", &r)
}

// branch GETs one branch. A name with slashes keeps them as path
// separators, as Bitbucket's own self links do
// (.../refs/branches/issue-9.3/AUI-5343-assistive-class).
func (c *client) branch(ctx context.Context, ws, slug, name string) (branch, error) {
	var b branch
	segs, err := segments("branch", name)
	if err != nil {
		return b, err
	}
	if name == "" {
		return b, &forge.InvalidInputError{Field: "branch", Reason: "the branch name is empty"}
	}
	a, err := c.do(ctx, http.MethodGet, c.endpoint(nil, append([]string{"repositories", ws, slug, "refs", "branches"}, segs...)...), nil)
	if err != nil {
		return b, err
	}
	return b, c.decode(a, "the branch", &b)
}

// refusal names the resource a 404 was about, and a 403 that is not about
// a missing scope (Bitbucket's 403 for a private repository the caller
// cannot read). A 403 for a missing scope is a *forge.PermissionError
// naming the scope (see missingScope); other errors pass through as
// providerError sorts them.
func (c *client) refusal(err error, resource string) error {
	var se *statusError
	switch {
	case errors.As(err, &se) && se.ScopeRefusal():
		return c.missingScope(err, "read", resource)
	case errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusForbidden):
		return &forge.NotFoundError{Provider: forge.Bitbucket, Host: c.Host, Resource: resource, Status: se.Status, Message: se.Message}
	}
	return c.providerError(err)
}

// missingScope turns a 403 whose body lists required scopes ({"type":
// "error", "error": {"message": "Your credentials lack one or more
// required privilege scopes.", "detail": {"granted": [...], "required":
// [...]}}}) into a *forge.PermissionError refusing action on resource.
// Needs names each scope as the access-token screen and gitaccess's
// inspection reports do ("Webhooks: Read and write (webhook)"), and Fix
// says where to make a token that has it: access tokens cannot be edited,
// and the settings page depends on the token's kind, which Bitbucket
// names in X-Credential-Type even on a refusal. Any other error is
// returned as it is.
func (c *client) missingScope(err error, action, resource string) error {
	var se *statusError
	if !errors.As(err, &se) || !se.ScopeRefusal() {
		return err
	}
	labels := make([]string, 0, len(se.Required))
	for _, s := range se.Required {
		labels = append(labels, scopeLabel(s))
	}
	needs := strings.Join(labels, " and ")
	kind := kindOf(strings.TrimSpace(se.Header.Get("X-Credential-Type")))
	return &forge.PermissionError{Provider: forge.Bitbucket, Host: c.Host, Action: action, Repo: resource, Status: se.Status,
		Needs: needs, Message: se.Message, Fix: "the token lacks " + needs + "; " + recreate(kind, needs)}
}

// toRepo maps a Bitbucket repository. Its https clone link names the
// caller ("https://USER@bitbucket.org/ws/slug.git", contracts
// api/repository.get*.json); the user is dropped, since git gets its
// credential from the helper and a user in the URL would override it.
func toRepo(r repository) forge.Repo {
	out := forge.Repo{FullName: r.FullName, WebURL: r.Links.HTML.Href, Private: r.IsPrivate}
	if out.WebURL == "" {
		out.WebURL = webURL + "/" + r.FullName
	}
	for _, l := range r.Links.Clone {
		if u, err := url.Parse(l.Href); l.Name == "https" && err == nil && u.Scheme == "https" {
			u.User = nil
			out.CloneURL = u.String()
		}
	}
	if out.CloneURL == "" {
		out.CloneURL = webURL + "/" + r.FullName + ".git"
	}
	if r.MainBranch != nil {
		out.DefaultBranch = r.MainBranch.Name
	}
	return out
}

// splitFullName splits "workspace/slug".
func splitFullName(fullName string) (ws, slug string, err error) {
	parts := strings.Split(strings.TrimSpace(fullName), "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" || parts[0] == "." || parts[0] == ".." || parts[1] == "." || parts[1] == ".." {
		return "", "", &forge.InvalidInputError{Field: "repository", Reason: fmt.Sprintf("%q is not a Bitbucket repository; give it as WORKSPACE/REPOSITORY", fullName)}
	}
	return parts[0], parts[1], nil
}

// segments splits a slash-separated name into path segments, refusing
// empty, . and .. segments, which would address something else.
func segments(field, s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			return nil, &forge.InvalidInputError{Field: field, Reason: fmt.Sprintf("%q has an empty, . or .. segment", s)}
		}
	}
	return parts, nil
}

// isListing reports a directory listing: a JSON page of commit_file and
// commit_directory entries. A file comes with Content-Disposition:
// attachment (API reference, "Get file or directory contents"), so a JSON
// file that happens to look like a listing is still read as a file.
func isListing(a *answer) bool {
	if d, _, err := mime.ParseMediaType(a.Header.Get("Content-Disposition")); err == nil && d == "attachment" {
		return false
	}
	if mt, _, err := mime.ParseMediaType(a.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return false
	}
	var p struct {
		Pagelen *int `json:"pagelen"`
		Values  *[]struct {
			Type string `json:"type"`
		} `json:"values"`
	}
	if json.Unmarshal(a.Body, &p) != nil || p.Pagelen == nil || p.Values == nil {
		return false
	}
	for _, v := range *p.Values {
		if v.Type != "commit_file" && v.Type != "commit_directory" {
			return false
		}
	}
	return true
}
