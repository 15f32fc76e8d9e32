package access

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/audit"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/store"
)

// ListRepos lists the repositories a token can see, every page followed.
func (s *Service) ListRepos(ctx context.Context, p Principal, tokenName, search string) ([]forge.Repo, error) {
	if err := s.authorize(ctx, p, actBrowse, "token/"+tokenName); err != nil {
		return nil, err
	}
	t, err := s.getToken(ctx, p, tokenName)
	if err != nil {
		return nil, err
	}
	b, err := s.bindToken(ctx, p, "", t.Name)
	if err != nil {
		return nil, err
	}
	repos, err := b.forge.ListRepos(ctx, b.cred, search)
	if err != nil {
		return nil, s.explain(ctx, b, "its repositories", err)
	}
	s.touchToken(ctx, t.ID)
	return repos, nil
}

// ListBranches lists a repository's branches with the token that serves
// it (or the named one).
func (s *Service) ListBranches(ctx context.Context, p Principal, repoURL, tokenName string) ([]forge.Branch, error) {
	b, full, err := s.browse(ctx, p, repoURL, tokenName)
	if err != nil {
		return nil, err
	}
	branches, err := b.forge.ListBranches(ctx, b.cred, full)
	if err != nil {
		return nil, s.explain(ctx, b, full, err)
	}
	return branches, nil
}

// ReadFile reads one file of a repository at ref (default branch when empty).
func (s *Service) ReadFile(ctx context.Context, p Principal, repoURL, filePath, ref, tokenName string) ([]byte, error) {
	b, full, err := s.browse(ctx, p, repoURL, tokenName)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(filePath) == "" {
		return nil, errorf(KindInvalid, "path: give the file's path inside the repository, e.g. Dockerfile")
	}
	data, err := b.forge.ReadFile(ctx, b.cred, full, strings.TrimPrefix(filePath, "/"), ref)
	if err != nil {
		at := ""
		if ref != "" {
			at = " at " + ref
		}
		return nil, s.explain(ctx, b, filePath+at+" of "+full, err)
	}
	return data, nil
}

func (s *Service) browse(ctx context.Context, p Principal, repoURL, tokenName string) (binding, string, error) {
	if err := s.authorize(ctx, p, actBrowse, "repo/"+repoURL); err != nil {
		return binding{}, "", err
	}
	u, err := NormalizeRepoURL(repoURL)
	if err != nil {
		return binding{}, "", err
	}
	b, err := s.bindToken(ctx, p, u, tokenName)
	if err != nil {
		return binding{}, "", err
	}
	full, err := forge.RepoPath(b.cred.Endpoint, u)
	if err != nil {
		return binding{}, "", &Error{Kind: KindInvalid, Message: fmt.Sprintf("repository: token %s cannot serve it: %v", b.token.Name, err), Err: err}
	}
	s.touchToken(ctx, b.token.ID)
	return b, full, nil
}

func (s *Service) touchToken(ctx context.Context, id string) {
	if err := s.store.TouchToken(context.WithoutCancel(ctx), id, s.now().UTC()); err != nil {
		s.log.Warn("recording token use failed", "token", id, "err", err)
	}
}

// credentialURL rebuilds the repository URL git asked about.
func credentialURL(req CredentialRequest) (string, error) {
	if req.Protocol != "https" && req.Protocol != "http" {
		return "", errorf(KindInvalid, "protocol %q: gitaccess serves https repositories only", req.Protocol)
	}
	if req.Host == "" || strings.ContainsAny(req.Host, "/@") {
		return "", errorf(KindInvalid, "host %q is not a host name", req.Host)
	}
	if req.Path == "" {
		return "", errorf(KindInvalid, "git did not send the repository path; configure the helper with credential.useHttpPath=true (gitaccess clone does)")
	}
	return NormalizeRepoURL(req.Protocol + "://" + req.Host + "/" + strings.TrimPrefix(req.Path, "/"))
}

// ResolveCredential answers git's credential helper: the token that serves
// the repository (the application's bound token for its own repository,
// otherwise the longest matching prefix), as the provider's basic-auth
// pair. Every resolution is audited with the repository and marks the
// token (and application) used.
func (s *Service) ResolveCredential(ctx context.Context, p Principal, req CredentialRequest) (Credential, error) {
	repoURL, err := credentialURL(req)
	if err != nil {
		return Credential{}, err
	}
	if err := s.authorize(ctx, p, actResolve, "repo/"+repoURL); err != nil {
		return Credential{}, err
	}
	b, app, err := s.bindForApp(ctx, p, repoURL, req.App)
	if err != nil {
		s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "credential.resolve", Target: "repo/" + repoURL, Outcome: audit.Failure, Detail: err.Error()})
		return Credential{}, err
	}
	user, pass := forge.GitAuth(b.cred.Endpoint.Provider, b.cred.Token)
	now := s.now().UTC()
	s.touchToken(ctx, b.token.ID)
	if app != nil {
		if err := s.store.TouchApp(context.WithoutCancel(ctx), app.ID, now); err != nil {
			s.log.Warn("recording application use failed", "app", app.ID, "err", err)
		}
	}
	s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "credential.resolve", Target: "repo/" + repoURL, Outcome: audit.Success, Detail: b.reason})
	return Credential{Username: user, Password: pass, Token: b.token.Name, Reason: b.reason}, nil
}

// bindForApp picks the application's token for its own repository and
// the best prefix match for anything else (its submodules).
func (s *Service) bindForApp(ctx context.Context, p Principal, repoURL, appName string) (binding, *store.App, error) {
	if appName == "" {
		b, err := s.bindToken(ctx, p, repoURL, "")
		return b, nil, err
	}
	a, err := s.getApp(ctx, p, appName)
	if err != nil {
		return binding{}, nil, err
	}
	tokenName := ""
	if a.RepoURL == repoURL && a.TokenID != "" {
		t, err := s.store.GetTokenByID(ctx, p.OrgID, a.TokenID)
		if err != nil {
			return binding{}, nil, fmt.Errorf("reading the token of application %s: %w", a.Name, err)
		}
		tokenName = t.Name
	}
	b, err := s.bindToken(ctx, p, repoURL, tokenName)
	return b, &a, err
}

// RejectCredential is git telling the helper a credential was refused: the
// token is re-inspected at once, and marked invalid if the provider
// refuses it.
func (s *Service) RejectCredential(ctx context.Context, p Principal, req CredentialRequest) (RejectResult, error) {
	repoURL, err := credentialURL(req)
	if err != nil {
		return RejectResult{}, err
	}
	if err := s.authorize(ctx, p, actResolve, "repo/"+repoURL); err != nil {
		return RejectResult{}, err
	}
	b, _, err := s.bindForApp(ctx, p, repoURL, req.App)
	if err != nil {
		return RejectResult{}, err
	}
	spec, err := s.specOf(b.token)
	if err != nil {
		return RejectResult{}, err
	}
	_, ierr := spec.forge.Inspect(ctx, b.cred, spec.uses)
	var authErr *forge.AuthError
	res := RejectResult{Token: b.token.Name, Status: b.token.Status}
	switch {
	case errors.As(ierr, &authErr):
		s.markInvalid(ctx, b.token, authErr)
		res.Status, res.Detail = StatusInvalid, authErr.Error()
	case ierr != nil:
		res.Detail = "could not revalidate now: " + ierr.Error()
	default:
		res.Detail = fmt.Sprintf("the token still authenticates with %s; it may not reach %s (check the repository and the token's permissions)", forge.Title(spec.endpoint.Provider), repoURL)
	}
	s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "credential.reject", Target: "repo/" + repoURL, Outcome: audit.Success, Detail: "token " + b.token.Name + ": " + res.Detail})
	return res, nil
}

// Archive is a build context ready to stream: the commit it is of, and
// the writer of its tar.gz.
type Archive struct {
	SHA   string
	Write func(w io.Writer) error
}

// PrepareArchive brings the application's mirror up to date and resolves
// ref (the application's branch when empty) to a commit; Write then
// streams the tree at that commit (under the application's path) as
// tar.gz. A full commit SHA the mirror already holds is served without
// fetching.
func (s *Service) PrepareArchive(ctx context.Context, p Principal, appName, ref string) (Archive, error) {
	if s.mirrors == nil {
		return Archive{}, errors.New("this server has no mirror cache configured")
	}
	mirrors := s.mirrors
	if err := s.authorize(ctx, p, actReadApps, "app/"+appName); err != nil {
		return Archive{}, err
	}
	a, err := s.getApp(ctx, p, appName)
	if err != nil {
		return Archive{}, err
	}
	b, _, err := s.bindForApp(ctx, p, a.RepoURL, a.Name)
	if err != nil {
		return Archive{}, err
	}
	cloneURL := a.RepoURL
	if u, err := url.Parse(a.RepoURL); err == nil {
		u.Path += ".git"
		cloneURL = u.String()
	}
	if ref == "" {
		ref = a.Branch
	}
	// A full commit SHA names the same tree forever: when the mirror
	// already holds that commit, there is nothing to fetch. A branch or
	// tag may have moved, so it is always fetched first. Lowercase only,
	// as git prints them; anything else takes the fetch.
	var mirror, sha string
	if n := len(ref); (n == 40 || n == 64) && strings.Trim(ref, "0123456789abcdef") == "" {
		if m, ok := mirrors.Lookup(ctx, cloneURL, ref); ok {
			mirror, sha = m, ref
		}
	}
	if mirror == "" {
		mirror, err = mirrors.Fetch(ctx, cloneURL, b.fetchOptions())
		if err != nil {
			return Archive{}, fetchError(b, a.RepoURL, err)
		}
		sha, err = mirrors.ResolveRef(ctx, mirror, ref)
		if err != nil {
			return Archive{}, &Error{Kind: KindNotFound, Message: fmt.Sprintf("%s has no ref %q: %v", a.RepoURL, ref, err), Err: err}
		}
	}
	now := s.now().UTC()
	s.touchToken(ctx, b.token.ID)
	if err := s.store.TouchApp(context.WithoutCancel(ctx), a.ID, now); err != nil {
		s.log.Warn("recording application use failed", "app", a.ID, "err", err)
	}
	s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "app.archive", Target: "app/" + a.Name, Outcome: audit.Success, Detail: fmt.Sprintf("%s at %s (%s) via token %s", a.RepoURL, ref, sha, b.token.Name)})
	return Archive{SHA: sha, Write: func(w io.Writer) error {
		return mirrors.Archive(ctx, mirror, sha, a.Path, w)
	}}, nil
}

// RefreshMirror brings an application's mirror up to date in the
// background, after a push: the next archive then starts warm.
func (s *Service) RefreshMirror(ctx context.Context, a store.App) {
	if s.mirrors == nil {
		return
	}
	p := Principal{OrgID: a.OrgID, KeyID: "system", KeyName: "webhook", Role: store.RoleOwner}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
		defer cancel()
		b, _, err := s.bindForApp(ctx, p, a.RepoURL, a.Name)
		if err != nil {
			s.log.Warn("refreshing mirror: no token", "app", a.ID, "err", err)
			return
		}
		if _, err := s.mirrors.Fetch(ctx, a.RepoURL+".git", b.fetchOptions()); err != nil {
			s.log.Warn("refreshing mirror failed", "app", a.ID, "err", fetchError(b, a.RepoURL, err))
			return
		}
		s.touchBoth(ctx, b.token.ID, a.ID)
	}()
}
