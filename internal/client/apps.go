package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/client/wire"
	"github.com/gitaccess/gitaccess/internal/credhelper"
	"github.com/gitaccess/gitaccess/internal/forge"
)

// ListApps lists the organization's applications, following every page.
func (c *Client) ListApps(ctx context.Context, opts ListOptions) ([]access.AppView, error) {
	return listAll[access.AppView](ctx, c, "/api/v1/apps", opts.Limit)
}

// CreateApp binds a repository and branch to a token; the server proves
// the token sees both first.
func (c *Client) CreateApp(ctx context.Context, in access.AppInput) (access.AppView, error) {
	var out access.AppView
	err := c.do(ctx, http.MethodPost, "/api/v1/apps", nil, in, &out)
	return out, err
}

// GetApp returns one application, with the token that serves it and why.
func (c *Client) GetApp(ctx context.Context, name string) (access.AppView, error) {
	var out access.AppView
	seg, err := pathSeg("application name", name)
	if err != nil {
		return out, err
	}
	err = c.do(ctx, http.MethodGet, "/api/v1/apps/"+seg, nil, nil, &out)
	return out, err
}

// UpdateApp changes an application; nil fields stay as they are.
func (c *Client) UpdateApp(ctx context.Context, name string, in access.AppUpdate) (access.AppView, error) {
	var out access.AppView
	seg, err := pathSeg("application name", name)
	if err != nil {
		return out, err
	}
	err = c.do(ctx, http.MethodPatch, "/api/v1/apps/"+seg, nil, in, &out)
	return out, err
}

// DeleteApp deletes an application and its webhook. When the provider
// cannot delete the webhook the application stays, unless force is set
// (the webhook is then left behind on the repository).
func (c *Client) DeleteApp(ctx context.Context, name string, force bool) error {
	seg, err := pathSeg("application name", name)
	if err != nil {
		return err
	}
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	return c.do(ctx, http.MethodDelete, "/api/v1/apps/"+seg, q, nil, nil)
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// AppArchive starts the download of an application's build context at ref
// (empty: its branch): the commit it holds and its tar.gz stream, which
// the caller must close. The stream has no overall timeout; ctx bounds
// it. A read error means the archive is incomplete.
func (c *Client) AppArchive(ctx context.Context, name, ref string) (sha string, body io.ReadCloser, err error) {
	seg, err := pathSeg("application name", name)
	if err != nil {
		return "", nil, err
	}
	path := "/api/v1/apps/" + seg + "/archive"
	var q url.Values
	if ref != "" {
		q = url.Values{"ref": {ref}}
	}
	resp, err := c.conn.Stream(ctx, http.MethodGet, path, q, nil, wire.AcceptGzip)
	if err != nil {
		return "", nil, err
	}
	if err := wire.CheckMediaType(resp, "application/gzip"); err != nil {
		_ = resp.Body.Close()
		return "", nil, fmt.Errorf("GET %s: %w", path, err)
	}
	sha = resp.Header.Get("X-Gitaccess-Commit")
	if !shaRE.MatchString(sha) {
		_ = resp.Body.Close()
		return "", nil, fmt.Errorf("GET %s: the server named no commit (X-Gitaccess-Commit %q)", path, sha)
	}
	return sha, resp.Body, nil
}

// ListRepos lists the repositories a token can see whose full name
// contains search (empty: all).
func (c *Client) ListRepos(ctx context.Context, token, search string) ([]forge.Repo, error) {
	seg, err := pathSeg("token name", token)
	if err != nil {
		return nil, err
	}
	var q url.Values
	if search != "" {
		q = url.Values{"search": {search}}
	}
	var out page[forge.Repo]
	if err := c.do(ctx, http.MethodGet, "/api/v1/tokens/"+seg+"/repos", q, nil, &out); err != nil {
		return nil, err
	}
	return nonNil(out.Items), nil
}

// repoQuery names a repository and, optionally, the token to read it with.
func repoQuery(repoURL, token string) (url.Values, error) {
	if repoURL == "" {
		return nil, errors.New("repository URL is empty")
	}
	q := url.Values{"url": {repoURL}}
	if token != "" {
		q.Set("token", token)
	}
	return q, nil
}

// ListBranches lists a repository's branches, read with token (empty: the
// one whose prefix matches best).
func (c *Client) ListBranches(ctx context.Context, repoURL, token string) ([]forge.Branch, error) {
	q, err := repoQuery(repoURL, token)
	if err != nil {
		return nil, err
	}
	var out page[forge.Branch]
	if err := c.do(ctx, http.MethodGet, "/api/v1/repos/branches", q, nil, &out); err != nil {
		return nil, err
	}
	return nonNil(out.Items), nil
}

// ReadFile returns one file of a repository at ref (empty: the default
// branch), raw.
func (c *Client) ReadFile(ctx context.Context, repoURL, path, ref, token string) ([]byte, error) {
	q, err := repoQuery(repoURL, token)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, errors.New("file path is empty")
	}
	q.Set("path", path)
	if ref != "" {
		q.Set("ref", ref)
	}
	return c.raw(ctx, "/api/v1/repos/file", q, "application/octet-stream")
}

// ResolveCredential asks for the basic-auth pair git needs for a
// repository. The password is the token value: hand it to git only.
func (c *Client) ResolveCredential(ctx context.Context, req access.CredentialRequest) (access.Credential, error) {
	cred, err := credhelper.Resolve(ctx, c.conn, credhelper.Request(req))
	if err != nil {
		return access.Credential{}, err
	}
	return access.Credential{Username: cred.Username, Password: cred.Password, Token: cred.Token, Reason: cred.Reason}, nil
}

// RejectCredential reports that git was refused with the credential
// resolved for req; the server re-inspects the token.
func (c *Client) RejectCredential(ctx context.Context, req access.CredentialRequest) (access.RejectResult, error) {
	res, err := credhelper.Reject(ctx, c.conn, credhelper.Request(req))
	return access.RejectResult(res), err
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
