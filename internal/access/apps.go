package access

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/gitaccess/gitaccess/internal/audit"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// Mirrors is the server's cache of bare repositories (internal/gitx).
type Mirrors interface {
	// Fetch brings the mirror of repoURL up to date, with what the token
	// that serves it offers, and returns its path.
	Fetch(ctx context.Context, repoURL string, o FetchOptions) (string, error)
	// Lookup returns the mirror of repoURL when the cache holds one that
	// has commit sha (a full SHA), without fetching or asking for a
	// credential.
	Lookup(ctx context.Context, repoURL, sha string) (mirror string, ok bool)
	ResolveRef(ctx context.Context, mirror, ref string) (string, error)
	Archive(ctx context.Context, mirror, sha, subdir string, w io.Writer) error
}

// FetchOptions is what a mirror fetch takes from the token that serves
// the repository.
type FetchOptions struct {
	// Credential supplies the basic-auth pair, asked only when git needs
	// it.
	Credential func(context.Context) (string, secret.Value, error)
	// CABundle is the token's CA bundle (PEM, public), for a provider
	// whose certificate chains to a private CA: git trusts it for the
	// repository's host. Nil means the system roots.
	CABundle []byte
}

// binding is a token chosen for a repository, and why.
type binding struct {
	token   store.Token
	how     string // "explicit" or "prefix"
	prefix  string
	reason  string
	forge   forge.Forge
	cred    forge.Credential
	repoURL string
}

// bindToken chooses the token for a repository URL: the named one, or the
// one whose prefix is the longest match.
func (s *Service) bindToken(ctx context.Context, p Principal, repoURL, tokenName string) (binding, error) {
	var b binding
	b.repoURL = repoURL
	if tokenName != "" {
		t, err := s.getToken(ctx, p, tokenName)
		if err != nil {
			return b, err
		}
		b.token, b.how, b.reason = t, "explicit", "bound explicitly to token "+t.Name
	} else {
		t, prefix, err := s.store.MatchPrefix(ctx, p.OrgID, repoURL+"/")
		if errors.Is(err, store.ErrNotFound) {
			return b, errorf(KindNotFound, "no token of organization %s serves %s: add one (gitaccess token add NAME --provider P --prefix URL) or name one with --token", p.OrgName, repoURL)
		}
		if err != nil {
			return b, fmt.Errorf("matching a token prefix: %w", err)
		}
		b.token, b.how, b.prefix = t, "prefix", prefix
		b.reason = fmt.Sprintf("token %s serves the longest matching prefix %s", t.Name, prefix)
	}
	spec, err := s.specOf(b.token)
	if err != nil {
		return b, err
	}
	v, err := s.sealer.Open(b.token.Sealed, AssociatedData(tokensTable, b.token.ID))
	if err != nil {
		return b, fmt.Errorf("opening token %s: %w", b.token.Name, err)
	}
	b.forge, b.cred = spec.forge, forge.Credential{Endpoint: spec.endpoint, Token: v, TokenID: b.token.ID}
	return b, nil
}

// explain turns a provider failure while acting for a token into a
// sentence naming the token and the repository, and marks a token the
// provider refused as invalid.
func (s *Service) explain(ctx context.Context, b binding, what string, err error) error {
	var nf *forge.NotFoundError
	var authErr *forge.AuthError
	switch {
	case errors.As(err, &nf):
		return &Error{Kind: KindNotFound, Err: err, Message: fmt.Sprintf("token %s cannot see %s: %s answered %d%s", b.token.Name, what, forge.Title(nf.Provider), nf.Status, suffix(nf.Message))}
	case errors.As(err, &authErr):
		s.markInvalid(ctx, b.token, authErr)
		return fmt.Errorf("token %s was refused while reading %s (marked invalid; fix it with gitaccess token update %s --value): %w", b.token.Name, what, b.token.Name, err)
	}
	return fmt.Errorf("token %s, %s: %w", b.token.Name, what, err)
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + msg
}

// markInvalid records a provider's refusal of a token.
func (s *Service) markInvalid(ctx context.Context, t store.Token, authErr *forge.AuthError) {
	now := s.now().UTC()
	ctx = context.WithoutCancel(ctx)
	fresh, err := s.store.GetTokenByID(ctx, t.OrgID, t.ID)
	if err != nil {
		s.log.Warn("marking token invalid: reading it failed", "token", t.ID, "err", err)
		return
	}
	fresh.Status = StatusInvalid
	fresh.StatusDetail = fmt.Sprintf("refused by %s on %s: HTTP %d %s", forge.Title(authErr.Provider), now.Format("2006-01-02T15:04:05Z"), authErr.Status, authErr.Message)
	fresh.Sealed = nil // keep the stored value
	if _, err := s.store.UpdateToken(ctx, fresh); err != nil {
		s.log.Warn("marking token invalid failed", "token", t.ID, "err", err)
		return
	}
	s.audit.Record(ctx, audit.Entry{OrgID: t.OrgID, Actor: "system", Action: "token.invalid", Target: "token/" + t.Name, Outcome: audit.Success, Detail: fresh.StatusDetail})
	s.tokenStatusChanged(ctx, fresh) // token.invalid to subscribers, once per episode
}

func (s *Service) appView(ctx context.Context, p Principal, a store.App) AppView {
	v := AppView{ID: a.ID, Name: a.Name, RepoURL: a.RepoURL, RepoFullName: a.RepoFullName, Branch: a.Branch, Path: a.Path,
		AutoDeploy: a.AutoDeploy, Previews: a.Previews, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, LastUsedAt: a.LastUsedAt}
	if h, err := s.store.GetHookByApp(ctx, p.OrgID, a.ID); err == nil {
		v.Hook = hookView(h)
	}
	if a.TokenID != "" {
		if t, err := s.store.GetTokenByID(ctx, p.OrgID, a.TokenID); err == nil {
			v.Token, v.Binding, v.Reason = t.Name, "explicit", "bound explicitly to token "+t.Name
		}
		return v
	}
	if t, prefix, err := s.store.MatchPrefix(ctx, p.OrgID, a.RepoURL+"/"); err == nil {
		v.Token, v.Binding, v.Prefix = t.Name, "prefix", prefix
		v.Reason = fmt.Sprintf("token %s serves the longest matching prefix %s", t.Name, prefix)
	} else {
		v.Binding, v.Reason = "prefix", "no token serves "+a.RepoURL+" now; add one with a matching --prefix"
	}
	return v
}

// proveRepo checks the bound token sees the repository and the branch (the
// default branch when none is given) and returns the repository's full
// name and the branch.
func (s *Service) proveRepo(ctx context.Context, b binding, branch string) (string, string, error) {
	full, err := forge.RepoPath(b.cred.Endpoint, b.repoURL)
	if err != nil {
		return "", "", &Error{Kind: KindInvalid, Message: fmt.Sprintf("repository: token %s (%s) cannot serve it: %v", b.token.Name, b.token.WebURL, err), Err: err}
	}
	repo, err := b.forge.GetRepo(ctx, b.cred, full)
	if err != nil {
		return "", "", s.explain(ctx, b, full, err)
	}
	if branch == "" {
		branch = repo.DefaultBranch
	}
	if _, err := b.forge.GetBranch(ctx, b.cred, full, branch); err != nil {
		return "", "", s.explain(ctx, b, "branch "+branch+" of "+full, err)
	}
	return full, branch, nil
}

func cleanAppPath(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	c := path.Clean("/" + strings.TrimSpace(p))
	if strings.Contains(p, "..") || c == "/" && strings.Trim(p, "/ ") != "" {
		return "", errorf(KindInvalid, "path: %q must be a directory inside the repository, without ..", p)
	}
	return strings.TrimPrefix(c, "/"), nil
}

// CreateApp binds a repository and branch to a token after proving the
// token can see both.
func (s *Service) CreateApp(ctx context.Context, p Principal, in AppInput) (AppView, error) {
	if err := s.authorize(ctx, p, actManageApps, "app/"+in.Name); err != nil {
		return AppView{}, err
	}
	v, err := s.createApp(ctx, p, in)
	if err != nil {
		s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "app.create", Target: "app/" + in.Name, Outcome: audit.Failure, Detail: err.Error()})
		return AppView{}, err
	}
	s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "app.create", Target: "app/" + in.Name, Outcome: audit.Success, Detail: fmt.Sprintf("%s@%s via token %s (%s)", v.RepoURL, v.Branch, v.Token, v.Binding)})
	return v, nil
}

func (s *Service) createApp(ctx context.Context, p Principal, in AppInput) (AppView, error) {
	if err := validName("application", in.Name); err != nil {
		return AppView{}, err
	}
	repoURL, err := NormalizeRepoURL(in.RepoURL)
	if err != nil {
		return AppView{}, err
	}
	dir, err := cleanAppPath(in.Path)
	if err != nil {
		return AppView{}, err
	}
	if _, err := s.store.GetApp(ctx, p.OrgID, in.Name); err == nil {
		return AppView{}, errorf(KindConflict, "an application named %q already exists in organization %s", in.Name, p.OrgName)
	}
	b, err := s.bindToken(ctx, p, repoURL, in.Token)
	if err != nil {
		return AppView{}, err
	}
	full, branch, err := s.proveRepo(ctx, b, in.Branch)
	if err != nil {
		return AppView{}, err
	}
	now := s.now().UTC()
	a := store.App{ID: store.NewID("app"), OrgID: p.OrgID, Name: in.Name, RepoURL: repoURL, RepoFullName: full, Branch: branch,
		Path: dir, AutoDeploy: in.AutoDeploy, Previews: in.Previews, CreatedAt: now, UpdatedAt: now}
	if b.how == "explicit" {
		a.TokenID = b.token.ID
	}
	if err := s.store.CreateApp(ctx, a); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return AppView{}, errorf(KindConflict, "an application named %q already exists in organization %s", in.Name, p.OrgName)
		}
		return AppView{}, fmt.Errorf("saving application: %w", err)
	}
	if wantsHook(a) {
		if _, err := s.installHook(ctx, p, a); err != nil {
			// Nothing half-made: an application that asked for a hook and
			// could not get one is not kept.
			if derr := s.store.DeleteApp(context.WithoutCancel(ctx), p.OrgID, a.ID); derr != nil {
				s.log.Error("removing an application whose hook failed", "app", a.ID, "err", derr)
			}
			return AppView{}, fmt.Errorf("installing the webhook for %s failed, so the application was not created: %w", a.Name, err)
		}
	}
	return s.appView(ctx, p, a), nil
}

func (s *Service) getApp(ctx context.Context, p Principal, name string) (store.App, error) {
	a, err := s.store.GetApp(ctx, p.OrgID, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.App{}, errorf(KindNotFound, "no application named %q in organization %s; `gitaccess app list` shows them", name, p.OrgName)
	}
	if err != nil {
		return store.App{}, fmt.Errorf("reading application %s: %w", name, err)
	}
	return a, nil
}

// GetApp returns an application and the token serving it.
func (s *Service) GetApp(ctx context.Context, p Principal, name string) (AppView, error) {
	if err := s.authorize(ctx, p, actReadApps, "app/"+name); err != nil {
		return AppView{}, err
	}
	a, err := s.getApp(ctx, p, name)
	if err != nil {
		return AppView{}, err
	}
	return s.appView(ctx, p, a), nil
}

// ListApps pages the organization's applications by name.
func (s *Service) ListApps(ctx context.Context, p Principal, page store.Page) ([]AppView, string, error) {
	if err := s.authorize(ctx, p, actReadApps, "apps"); err != nil {
		return nil, "", err
	}
	apps, next, err := s.store.ListApps(ctx, p.OrgID, page)
	if err != nil {
		return nil, "", fmt.Errorf("listing applications: %w", err)
	}
	out := make([]AppView, 0, len(apps))
	for _, a := range apps {
		out = append(out, s.appView(ctx, p, a))
	}
	return out, next, nil
}

// UpdateApp changes an application; a new repository, branch or token is
// proven against the provider before anything is saved.
func (s *Service) UpdateApp(ctx context.Context, p Principal, name string, in AppUpdate) (AppView, error) {
	if err := s.authorize(ctx, p, actManageApps, "app/"+name); err != nil {
		return AppView{}, err
	}
	a, err := s.getApp(ctx, p, name)
	if err != nil {
		return AppView{}, err
	}
	var changed []string
	reprove := false
	if in.Name != nil && *in.Name != a.Name {
		if err := validName("application", *in.Name); err != nil {
			return AppView{}, err
		}
		a.Name = *in.Name
		changed = append(changed, "name (was "+name+")")
	}
	if in.RepoURL != nil {
		u, err := NormalizeRepoURL(*in.RepoURL)
		if err != nil {
			return AppView{}, err
		}
		if u != a.RepoURL {
			a.RepoURL, reprove = u, true
			changed = append(changed, "repository")
		}
	}
	branch := a.Branch
	if in.Branch != nil && *in.Branch != a.Branch {
		branch, reprove = *in.Branch, true
		changed = append(changed, "branch")
	}
	tokenName := ""
	if in.Token != nil {
		tokenName, reprove = *in.Token, true
		changed = append(changed, "token")
	} else if a.TokenID != "" {
		if t, err := s.store.GetTokenByID(ctx, p.OrgID, a.TokenID); err == nil {
			tokenName = t.Name
		}
	}
	if in.Path != nil {
		dir, err := cleanAppPath(*in.Path)
		if err != nil {
			return AppView{}, err
		}
		a.Path = dir
		changed = append(changed, "path")
	}
	if in.AutoDeploy != nil {
		a.AutoDeploy = *in.AutoDeploy
		changed = append(changed, "auto_deploy")
	}
	if in.Previews != nil {
		a.Previews = *in.Previews
		changed = append(changed, "previews")
	}
	if reprove {
		b, err := s.bindToken(ctx, p, a.RepoURL, tokenName)
		if err != nil {
			return AppView{}, err
		}
		if a.RepoFullName, a.Branch, err = s.proveRepo(ctx, b, branch); err != nil {
			return AppView{}, err
		}
		a.TokenID = ""
		if b.how == "explicit" {
			a.TokenID = b.token.ID
		}
	}
	if len(changed) == 0 {
		return s.appView(ctx, p, a), nil
	}
	// The old hook goes first when the app moves or stops needing one, so
	// no hook is left behind on a repository gitaccess no longer watches.
	old, _ := s.getApp(ctx, p, name)
	if reprove || !wantsHook(a) {
		if err := s.removeHook(ctx, p, old); err != nil {
			return AppView{}, err
		}
	}
	saved, err := s.store.UpdateApp(ctx, a)
	if errors.Is(err, store.ErrConflict) {
		return AppView{}, errorf(KindConflict, "application %s changed meanwhile, or the name %q is taken; nothing was changed", name, a.Name)
	}
	if err != nil {
		return AppView{}, fmt.Errorf("saving application %s: %w", name, err)
	}
	s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "app.update", Target: "app/" + a.Name, Outcome: audit.Success, Detail: "changed " + strings.Join(changed, ", ")})
	if wantsHook(saved) {
		if _, err := s.store.GetHookByApp(ctx, p.OrgID, saved.ID); errors.Is(err, store.ErrNotFound) {
			if _, err := s.installHook(ctx, p, saved); err != nil {
				return AppView{}, fmt.Errorf("application %s was updated, but installing its webhook failed (retry with gitaccess hook repair %s): %w", saved.Name, saved.Name, err)
			}
		}
	}
	return s.appView(ctx, p, saved), nil
}

// DeleteApp deletes an application and its webhook. When the provider
// cannot delete the hook, the application stays unless force is set.
func (s *Service) DeleteApp(ctx context.Context, p Principal, name string, force bool) error {
	if err := s.authorize(ctx, p, actManageApps, "app/"+name); err != nil {
		return err
	}
	a, err := s.getApp(ctx, p, name)
	if err != nil {
		return err
	}
	if err := s.removeHook(ctx, p, a); err != nil {
		if !force {
			return fmt.Errorf("%w; delete the application anyway with force", err)
		}
		s.log.Warn("deleting an application whose webhook could not be deleted", "app", a.ID, "err", err)
	}
	if err := s.store.DeleteApp(ctx, p.OrgID, a.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("deleting application %s: %w", name, err)
	}
	s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "app.delete", Target: "app/" + name, Outcome: audit.Success, Detail: a.RepoURL})
	return nil
}
