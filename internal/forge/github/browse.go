package github

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	gh "github.com/google/go-github/v92/github"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
)

const (
	// perPage is the most GitHub gives per page ("per_page ... max 100",
	// GitHub's pagination docs), so a listing costs as few requests as it can.
	perPage = 100
	// maxPages bounds one listing: 100,000 repositories or branches is
	// beyond any real token, and a Link header that never ends must give
	// an error rather than a loop.
	maxPages = 1000
	// rawMediaType makes the contents API answer a file with its bytes
	// instead of base64 inside JSON, which also works for files over 1 MB
	// (the description of repos/get-content, which lists it in prose only:
	// github/rest-api-description#6089). github.com's docs now spell it
	// application/vnd.github.raw+json; the plain spelling is also what
	// older GitHub Enterprise Server docs name, and both come back as
	// Content-Type application/vnd.github.raw. Directories and submodules
	// have no raw form and still come back as JSON, which fileBody reads.
	rawMediaType = "application/vnd.github.raw"
)

// ListRepos implements forge.Browser with GET /user/repos, following every
// page GitHub's Link header names. An app installation token cannot call
// /user/repos (GitHub answers 403 "Resource not accessible by
// integration"), so it lists GET /installation/repositories instead.
func (f *Forge) ListRepos(ctx context.Context, cred forge.Credential, search string) ([]forge.Repo, error) {
	c, err := f.connect(cred)
	if err != nil {
		return nil, err
	}
	needle := strings.ToLower(strings.TrimSpace(search))
	out := []forge.Repo{}
	keep := func(list []*gh.Repository) {
		for _, r := range list {
			if needle == "" || strings.Contains(strings.ToLower(r.GetFullName()), needle) {
				out = append(out, repoOf(r))
			}
		}
	}
	if kindByPrefix(cred.Token.Reveal()) == forge.KindGitHubApp {
		err = c.everyPage("listing repositories", "", func(page int) (*gh.Response, error) {
			list, resp, err := c.gh.Apps.ListRepos(ctx, &gh.ListOptions{PerPage: perPage, Page: page})
			keep(list.GetRepositories())
			return resp, err
		})
	} else {
		err = c.everyPage("listing repositories", "", func(page int) (*gh.Response, error) {
			list, resp, err := c.gh.Repositories.ListByAuthenticatedUser(ctx, &gh.RepositoryListByAuthenticatedUserOptions{
				Sort: "full_name", ListOptions: gh.ListOptions{PerPage: perPage, Page: page},
			})
			keep(list)
			return resp, err
		})
	}
	f.log.DebugContext(ctx, "GitHub repositories listed", "host", c.host, "repos", len(out), "requests", c.requests(), "error", err)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetRepo implements forge.Browser with GET /repos/{owner}/{repo}. GitHub
// answers 404, not 403, for a private repository the token cannot see.
func (f *Forge) GetRepo(ctx context.Context, cred forge.Credential, fullName string) (forge.Repo, error) {
	owner, name, err := splitFullName(fullName)
	if err != nil {
		return forge.Repo{}, err
	}
	c, err := f.connect(cred)
	if err != nil {
		return forge.Repo{}, err
	}
	r, resp, err := c.gh.Repositories.Get(ctx, owner, name)
	if err != nil {
		return forge.Repo{}, c.browseError("reading repository "+fullName, fullName, resp, err)
	}
	return repoOf(r), nil
}

// ListBranches implements forge.Browser with GET
// /repos/{owner}/{repo}/branches, every page.
func (f *Forge) ListBranches(ctx context.Context, cred forge.Credential, fullName string) ([]forge.Branch, error) {
	owner, name, err := splitFullName(fullName)
	if err != nil {
		return nil, err
	}
	c, err := f.connect(cred)
	if err != nil {
		return nil, err
	}
	out := []forge.Branch{}
	err = c.everyPage("listing the branches of "+fullName, fullName, func(page int) (*gh.Response, error) {
		list, resp, err := c.gh.Repositories.ListBranches(ctx, owner, name, &gh.BranchListOptions{ListOptions: gh.ListOptions{PerPage: perPage, Page: page}})
		for _, b := range list {
			out = append(out, forge.Branch{Name: b.GetName(), SHA: b.GetCommit().GetSHA()})
		}
		return resp, err
	})
	f.log.DebugContext(ctx, "GitHub branches listed", "host", c.host, "repo", fullName, "branches", len(out), "requests", c.requests(), "error", err)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetBranch implements forge.Browser with GET
// /repos/{owner}/{repo}/branches/{branch}. go-github's own GetBranch
// reports a 404 as a bare "unexpected status code", so the request goes
// through Client.Do to keep GitHub's error and its mapping.
func (f *Forge) GetBranch(ctx context.Context, cred forge.Credential, fullName, branch string) (forge.Branch, error) {
	owner, name, err := splitFullName(fullName)
	if err != nil {
		return forge.Branch{}, err
	}
	if branch == "" || strings.Contains(branch, "..") || hasControl(branch) {
		return forge.Branch{}, &forge.InvalidInputError{Field: "branch", Reason: fmt.Sprintf("%q is not a branch name git allows", branch)}
	}
	c, err := f.connect(cred)
	if err != nil {
		return forge.Branch{}, err
	}
	resource := "branch " + branch + " of " + fullName
	// A slash in the name is escaped (%2F), as go-github does; GitHub
	// reads the whole remainder as the branch.
	req, err := c.gh.NewRequest(ctx, http.MethodGet, "repos/"+owner+"/"+name+"/branches/"+url.PathEscape(branch), nil)
	if err != nil {
		return forge.Branch{}, fmt.Errorf("asking for %s: %w", resource, err)
	}
	var b gh.Branch
	resp, err := c.gh.Do(req, &b)
	if err != nil {
		return forge.Branch{}, c.browseError("reading "+resource, resource, resp, err)
	}
	if b.GetName() == "" || b.GetCommit().GetSHA() == "" {
		return forge.Branch{}, &forge.ProviderError{Provider: forge.GitHub, Host: c.host, Message: "the answer for " + resource + " names no branch or commit"}
	}
	return forge.Branch{Name: b.GetName(), SHA: b.GetCommit().GetSHA()}, nil
}

// ReadFile implements forge.Browser with GET
// /repos/{owner}/{repo}/contents/{path}?ref= in the raw media type. A file
// larger than forge.MaxFileBytes, a directory, a submodule or a symlink
// leading out of the repository is an *forge.InvalidInputError on "path",
// never a truncated or substituted answer.
func (f *Forge) ReadFile(ctx context.Context, cred forge.Credential, fullName, filePath, ref string) ([]byte, error) {
	owner, name, err := splitFullName(fullName)
	if err != nil {
		return nil, err
	}
	clean, escaped, err := splitFilePath(filePath)
	if err != nil {
		return nil, err
	}
	if hasControl(ref) {
		return nil, &forge.InvalidInputError{Field: "ref", Reason: "the ref contains control characters"}
	}
	c, err := f.connect(cred)
	if err != nil {
		return nil, err
	}
	where := clean + " of " + fullName
	u := "repos/" + owner + "/" + name + "/contents/" + escaped
	if ref != "" {
		where = clean + " at " + ref + " of " + fullName
		u += "?ref=" + url.QueryEscape(ref)
	}
	req, err := c.gh.NewRequest(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("asking for file %s: %w", where, err)
	}
	req.Header.Set("Accept", rawMediaType)
	resp, err := c.gh.BareDo(req)
	if err != nil {
		if tooLarge := (*egress.ResponseTooLargeError)(nil); errors.As(err, &tooLarge) {
			// egress refused the body by its Content-Length, above even
			// its own cap.
			return nil, fileTooLarge(where, -1)
		}
		return nil, c.browseError("reading file "+where, "file "+where, resp, err)
	}
	defer resp.Body.Close()
	b, err := c.fileBody(resp.Response, where)
	f.log.DebugContext(ctx, "GitHub file read", "host", c.host, "repo", fullName, "path", clean, "ref", ref, "bytes", len(b), "error", err)
	return b, err
}

// fileBody reads a contents answer: raw bytes when GitHub honoured the raw
// media type, else the JSON it sends for what has no raw form.
func (c *conn) fileBody(resp *http.Response, where string) ([]byte, error) {
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		return c.contentObject(resp, where)
	}
	if resp.ContentLength > forge.MaxFileBytes {
		return nil, fileTooLarge(where, resp.ContentLength)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, forge.MaxFileBytes+1))
	if err != nil {
		return nil, c.readError(where, err)
	}
	if len(b) > forge.MaxFileBytes {
		return nil, fileTooLarge(where, -1)
	}
	return b, nil
}

// contentObject handles the JSON forms: an array for a directory, an
// object for a submodule or a symlink that does not lead to a file, and
// (from a server that ignored the raw media type) a file in base64, or
// with encoding "none" and no content when it is over 1 MB.
func (c *conn) contentObject(resp *http.Response, where string) ([]byte, error) {
	// A 1 MiB file is about 1.4 MiB in base64; a directory listing (at
	// most 1,000 entries) only needs its first byte.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 2*forge.MaxFileBytes))
	if err != nil {
		return nil, c.readError(where, err)
	}
	body = bytes.TrimSpace(body)
	if bytes.HasPrefix(body, []byte("[")) {
		return nil, &forge.InvalidInputError{Field: "path", Reason: where + " is a directory; give the path of a file"}
	}
	var item struct {
		Type     string `json:"type"`
		Encoding string `json:"encoding"`
		Content  string `json:"content"`
		Size     int64  `json:"size"`
	}
	if err := json.Unmarshal(body, &item); err != nil {
		return nil, &forge.ProviderError{Provider: forge.GitHub, Host: c.host, Message: "the contents of " + where + " did not decode: " + err.Error()}
	}
	switch {
	case item.Type != "file":
		return nil, &forge.InvalidInputError{Field: "path", Reason: fmt.Sprintf("%s is a %s, not a file", where, item.Type)}
	case item.Size > forge.MaxFileBytes || item.Encoding == "none":
		return nil, fileTooLarge(where, item.Size)
	case item.Encoding != "base64":
		return nil, &forge.ProviderError{Provider: forge.GitHub, Host: c.host, Message: fmt.Sprintf("the contents of %s came in encoding %q", where, item.Encoding)}
	}
	// GitHub wraps the base64 at 60 columns; the decoder skips newlines.
	b, err := base64.StdEncoding.DecodeString(item.Content)
	if err != nil {
		return nil, &forge.ProviderError{Provider: forge.GitHub, Host: c.host, Message: "the contents of " + where + " did not decode: " + err.Error()}
	}
	if len(b) > forge.MaxFileBytes {
		return nil, fileTooLarge(where, int64(len(b)))
	}
	return b, nil
}

func (c *conn) readError(where string, err error) error {
	if tooLarge := (*egress.ResponseTooLargeError)(nil); errors.As(err, &tooLarge) {
		return fileTooLarge(where, -1)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("reading file %s at %s: %w", where, c.host, err)
	}
	return egress.Classify(c.apiHost, err)
}

// fileTooLarge refuses rather than truncates: half a manifest reads as a
// different manifest. size < 0 means unknown.
func fileTooLarge(where string, size int64) error {
	reason := fmt.Sprintf("%s is larger than %d bytes, the most gitaccess reads from a repository", where, forge.MaxFileBytes)
	if size >= 0 {
		reason = fmt.Sprintf("%s is %d bytes, more than the %d gitaccess reads from a repository", where, size, forge.MaxFileBytes)
	}
	return &forge.InvalidInputError{Field: "path", Reason: reason}
}

// everyPage fetches the first page, then each page the Link header names
// as next (go-github reads it into Response.NextPage), until there is none.
func (c *conn) everyPage(doing, resource string, fetch func(page int) (*gh.Response, error)) error {
	page := 0 // GitHub's first page, without a page parameter
	for range maxPages {
		resp, err := fetch(page)
		if err != nil {
			return c.browseError(doing, resource, resp, err)
		}
		if resp.NextPage == 0 {
			return nil
		}
		if resp.NextPage <= page {
			return &forge.ProviderError{Provider: forge.GitHub, Host: c.host, Message: fmt.Sprintf("while %s, page %d links back to page %d as next", doing, page, resp.NextPage)}
		}
		page = resp.NextPage
	}
	return &forge.ProviderError{Provider: forge.GitHub, Host: c.host, Message: fmt.Sprintf("while %s, GitHub still linked a next page after %d pages", doing, maxPages)}
}

// browseError is errorFor plus GitHub's 404, which names resource (when
// there is one) as not found or not visible to the token.
func (c *conn) browseError(doing, resource string, resp *gh.Response, err error) error {
	var er *gh.ErrorResponse
	if resource != "" && errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusNotFound {
		msg := c.redact(er.Message)
		if msg == "" {
			msg = http.StatusText(http.StatusNotFound)
		}
		return &forge.NotFoundError{Provider: forge.GitHub, Host: c.host, Resource: resource, Status: http.StatusNotFound, Message: msg}
	}
	return c.errorFor(doing, resp, err)
}

func repoOf(r *gh.Repository) forge.Repo {
	return forge.Repo{
		FullName:      r.GetFullName(),
		CloneURL:      r.GetCloneURL(),
		WebURL:        r.GetHTMLURL(),
		DefaultBranch: r.GetDefaultBranch(),
		Private:       r.GetPrivate(),
	}
}

// splitFullName checks owner/name and returns both path-escaped, so
// neither can add a path segment or a query to the request.
func splitFullName(fullName string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok || !okSegment(owner) || !okSegment(name) || strings.Contains(name, "/") {
		return "", "", &forge.InvalidInputError{Field: "repository", Reason: fmt.Sprintf("%q is not a GitHub repository; give it as OWNER/NAME", fullName)}
	}
	return url.PathEscape(owner), url.PathEscape(name), nil
}

// splitFilePath checks a repository path and returns it without leading or
// trailing slashes, and escaped segment by segment: a "." or ".." segment
// would otherwise be resolved by URL parsing into another API path.
func splitFilePath(p string) (clean, escaped string, err error) {
	clean = strings.Trim(p, "/")
	if clean == "" {
		return "", "", &forge.InvalidInputError{Field: "path", Reason: "give the path of a file in the repository, e.g. Dockerfile"}
	}
	parts := strings.Split(clean, "/")
	for i, s := range parts {
		if !okSegment(s) {
			return "", "", &forge.InvalidInputError{Field: "path", Reason: fmt.Sprintf("%q has an empty, relative or unprintable path segment", p)}
		}
		parts[i] = url.PathEscape(s)
	}
	return clean, strings.Join(parts, "/"), nil
}

func okSegment(s string) bool {
	return s != "" && s != "." && s != ".." && !hasControl(s)
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f })
}
