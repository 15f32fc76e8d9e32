package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/store"
)

// Applications, repository browsing, git credentials and build-context
// archives: inputs, outputs and handlers.

// binarySchema documents a raw response body.
func binarySchema() *huma.Schema { return &huma.Schema{Type: huma.TypeString, Format: "binary"} }

type appList struct {
	Items      []access.AppView `json:"items"`
	NextCursor string           `json:"next_cursor" doc:"Cursor for the next page; empty on the last page."`
}

type appListOutput struct{ Body appList }

type createAppInput struct{ Body access.AppInput }

type appOutput struct{ Body access.AppView }

type appNameInput struct {
	Name string `path:"name" doc:"The application's name."`
}

type deleteAppInput struct {
	Name  string `path:"name" doc:"The application's name."`
	Force bool   `query:"force" doc:"Delete the application even when the provider cannot delete its webhook, which is then left behind on the repository."`
}

type updateAppInput struct {
	Name string `path:"name" doc:"The application's current name."`
	Body access.AppUpdate
}

type archiveInput struct {
	Name string `path:"name" doc:"The application's name."`
	Ref  string `query:"ref" doc:"Branch, tag or commit SHA; empty: the application's branch."`
}

type archiveOutput struct {
	ContentType        string `header:"Content-Type" hidden:"true"`
	Commit             string `header:"X-Gitaccess-Commit" doc:"The commit the archive holds (full SHA)."`
	ContentDisposition string `header:"Content-Disposition" doc:"attachment; filename=\"<app>-<12-digit SHA>.tar.gz\""`
	Body               func(huma.Context)
}

type tokenReposInput struct {
	Name   string `path:"name" doc:"The token's name."`
	Search string `query:"search" doc:"Only repositories whose full name contains this (case-insensitive); empty: all."`
}

type repoList struct {
	Items []forge.Repo `json:"items"`
}

type repoListOutput struct{ Body repoList }

type branchesInput struct {
	URL   string `query:"url" required:"true" doc:"The repository, https://HOST/OWNER/NAME."`
	Token string `query:"token" doc:"Read with this token; empty: the token whose URL prefix is the longest match."`
}

type branchList struct {
	Items []forge.Branch `json:"items"`
}

type branchListOutput struct{ Body branchList }

type fileInput struct {
	URL   string `query:"url" required:"true" doc:"The repository, https://HOST/OWNER/NAME."`
	Path  string `query:"path" required:"true" doc:"The file's path inside the repository, e.g. Dockerfile."`
	Ref   string `query:"ref" doc:"Branch, tag or commit SHA; empty: the default branch."`
	Token string `query:"token" doc:"Read with this token; empty: the token whose URL prefix is the longest match."`
}

type credentialInput struct{ Body access.CredentialRequest }

// credentialBody is the one response body that carries a token value:
// git needs it to clone.
type credentialBody struct {
	Username string `json:"username" doc:"What git sends as the user name: x-access-token (GitHub), oauth2 (GitLab), x-token-auth (Bitbucket)."`
	Password string `json:"password" format:"password" doc:"The token value. Hand it to git and nowhere else: never log or store it."`
	Token    string `json:"token" doc:"The name of the token chosen."`
	Reason   string `json:"reason" doc:"Why that token serves the repository."`
}

type credentialOutput struct {
	CacheControl string `header:"Cache-Control" hidden:"true"`
	Body         credentialBody
}

type rejectOutput struct{ Body access.RejectResult }

func (h *handlers) listApps(ctx context.Context, p access.Principal, in *pageInput) (*appListOutput, error) {
	items, next, err := h.svc.ListApps(ctx, p, store.Page{After: in.Cursor, Limit: in.Limit})
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &appListOutput{Body: appList{Items: nonNil(items), NextCursor: next}}, nil
}

func (h *handlers) createApp(ctx context.Context, p access.Principal, in *createAppInput) (*appOutput, error) {
	v, err := h.svc.CreateApp(ctx, p, in.Body)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &appOutput{Body: v}, nil
}

func (h *handlers) getApp(ctx context.Context, p access.Principal, in *appNameInput) (*appOutput, error) {
	v, err := h.svc.GetApp(ctx, p, in.Name)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &appOutput{Body: v}, nil
}

func (h *handlers) updateApp(ctx context.Context, p access.Principal, in *updateAppInput) (*appOutput, error) {
	v, err := h.svc.UpdateApp(ctx, p, in.Name, in.Body)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &appOutput{Body: v}, nil
}

func (h *handlers) deleteApp(ctx context.Context, p access.Principal, in *deleteAppInput) (*struct{}, error) {
	if err := h.svc.DeleteApp(ctx, p, in.Name, in.Force); err != nil {
		return nil, h.fail(ctx, err)
	}
	return &struct{}{}, nil
}

// appArchive streams the archive. The status goes out with the first
// byte, so a failure before it is still a problem; a failure after it
// cuts the connection, so the client sees a broken transfer rather than a
// short archive that looks whole.
func (h *handlers) appArchive(ctx context.Context, p access.Principal, in *archiveInput) (*archiveOutput, error) {
	arc, err := h.svc.PrepareArchive(ctx, p, in.Name, in.Ref)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &archiveOutput{
		ContentType:        "application/gzip",
		Commit:             arc.SHA,
		ContentDisposition: archiveDisposition(in.Name, arc.SHA),
		Body: func(hc huma.Context) {
			bw := &statusOnFirstWrite{ctx: hc}
			err := arc.Write(bw)
			if err == nil {
				if !bw.started {
					hc.SetStatus(http.StatusOK)
				}
				return
			}
			ri := infoFrom(ctx)
			if !bw.started {
				_, w := humago.Unwrap(hc)
				w.Header().Del("Content-Disposition")
				w.Header().Del("X-Gitaccess-Commit")
				writeProblem(w, h.fail(ctx, err))
				return
			}
			h.log.ErrorContext(ctx, "streaming an archive failed", "request_id", ri.id, "app", in.Name, "commit", arc.SHA, "error", err)
			panic(http.ErrAbortHandler)
		},
	}, nil
}

// statusOnFirstWrite sends the 200 with the first byte of the body.
type statusOnFirstWrite struct {
	ctx     huma.Context
	started bool
}

func (w *statusOnFirstWrite) Write(b []byte) (int, error) {
	if !w.started {
		w.started = true
		w.ctx.SetStatus(http.StatusOK)
	}
	return w.ctx.BodyWriter().Write(b)
}

// archiveDisposition names the download <app>-<12 hex digits>.tar.gz; the
// name is reduced to characters that need no escaping.
func archiveDisposition(app, sha string) string {
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, app)
	return `attachment; filename="` + safe + "-" + sha[:min(len(sha), 12)] + `.tar.gz"`
}

func (h *handlers) listTokenRepos(ctx context.Context, p access.Principal, in *tokenReposInput) (*repoListOutput, error) {
	repos, err := h.svc.ListRepos(ctx, p, in.Name, in.Search)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &repoListOutput{Body: repoList{Items: nonNil(repos)}}, nil
}

func (h *handlers) listBranches(ctx context.Context, p access.Principal, in *branchesInput) (*branchListOutput, error) {
	branches, err := h.svc.ListBranches(ctx, p, in.URL, in.Token)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &branchListOutput{Body: branchList{Items: nonNil(branches)}}, nil
}

func (h *handlers) readFile(ctx context.Context, p access.Principal, in *fileInput) (*rawOutput, error) {
	data, err := h.svc.ReadFile(ctx, p, in.URL, in.Path, in.Ref, in.Token)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &rawOutput{ContentType: "application/octet-stream", Body: nonNil(data)}, nil
}

func (h *handlers) resolveCredential(ctx context.Context, p access.Principal, in *credentialInput) (*credentialOutput, error) {
	c, err := h.svc.ResolveCredential(ctx, p, in.Body)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &credentialOutput{CacheControl: "no-store", Body: credentialBody{
		Username: c.Username, Password: c.Password.Reveal(), Token: c.Token, Reason: c.Reason,
	}}, nil
}

func (h *handlers) rejectCredential(ctx context.Context, p access.Principal, in *credentialInput) (*rejectOutput, error) {
	res, err := h.svc.RejectCredential(ctx, p, in.Body)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &rejectOutput{Body: res}, nil
}
