package access

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

// ImpactWindow is how far back token impact looks for submodule
// resolutions: long enough to cover a monthly build, short enough to read
// from the audit log in one pass.
const ImpactWindow = 30 * 24 * time.Hour

// maxImpactAudit bounds how many audit records one impact reads, so a
// very busy organization cannot make the call unbounded.
const maxImpactAudit = 50_000

// TokenImpact is what depends on a token: what breaks or moves when it is
// rotated or deleted.
type TokenImpact struct {
	Token string `json:"token"`
	// Applications are those the token serves, bound explicitly or by
	// the longest matching prefix.
	Applications []ImpactApp `json:"applications"`
	// Hooks are the webhooks of those applications; gitaccess manages
	// them with the token.
	Hooks []ImpactHook `json:"hooks"`
	// SubmoduleResolutions are repositories other than the applications'
	// own that git resolved through the token since Since (submodules,
	// ad-hoc clones), from the audit log.
	SubmoduleResolutions []SubmoduleResolution `json:"submodule_resolutions"`
	Since                time.Time             `json:"since"`
	// InUse is true when anything above is not empty: deleting the token
	// then needs reassign or force.
	InUse bool `json:"in_use"`
}

// ImpactApp is one application a token serves.
type ImpactApp struct {
	Name    string `json:"name"`
	RepoURL string `json:"repo_url"`
	Branch  string `json:"branch"`
	// Binding is "explicit" (bound by name) or "prefix" (longest match).
	Binding    string     `json:"binding"`
	HasHook    bool       `json:"has_hook"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// ImpactHook is one webhook managed with a token.
type ImpactHook struct {
	App            string `json:"app"`
	URL            string `json:"url"`
	ProviderHookID string `json:"provider_hook_id,omitempty"`
	State          string `json:"state"`
}

// SubmoduleResolution is a repository git resolved a token for.
type SubmoduleResolution struct {
	RepoURL        string    `json:"repo_url"`
	LastResolvedAt time.Time `json:"last_resolved_at"`
	Count          int       `json:"count"`
}

// TokenImpact lists the applications, hooks and recent submodule
// resolutions that use a token. Members may read it: it shows no more
// than the applications and audit-free metadata they already see.
func (s *Service) TokenImpact(ctx context.Context, p Principal, name string) (TokenImpact, error) {
	if err := s.authorize(ctx, p, actReadTokens, "token/"+name); err != nil {
		return TokenImpact{}, err
	}
	t, err := s.getToken(ctx, p, name)
	if err != nil {
		return TokenImpact{}, err
	}
	return s.tokenImpact(ctx, t)
}

func (s *Service) tokenImpact(ctx context.Context, t store.Token) (TokenImpact, error) {
	apps, hooks, err := s.impactApps(ctx, t)
	if err != nil {
		return TokenImpact{}, err
	}
	imp := TokenImpact{Token: t.Name, Applications: apps, Hooks: hooks}
	own := map[string]bool{}
	for _, a := range apps {
		own[a.RepoURL] = true
	}
	imp.Since = s.now().UTC().Add(-ImpactWindow)
	if imp.SubmoduleResolutions, err = s.recentResolutions(ctx, t, imp.Since, own); err != nil {
		return TokenImpact{}, err
	}
	imp.InUse = len(imp.Applications) > 0 || len(imp.SubmoduleResolutions) > 0
	return imp, nil
}

// impactApps lists the applications t serves and their hooks.
func (s *Service) impactApps(ctx context.Context, t store.Token) ([]ImpactApp, []ImpactHook, error) {
	deps, err := s.dependentApps(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	apps, hooks := []ImpactApp{}, []ImpactHook{}
	for _, a := range deps {
		ia := ImpactApp{Name: a.Name, RepoURL: a.RepoURL, Branch: a.Branch, Binding: "prefix", LastUsedAt: a.LastUsedAt}
		if a.TokenID == t.ID {
			ia.Binding = "explicit"
		}
		h, err := s.store.GetHookByApp(ctx, t.OrgID, a.ID)
		switch {
		case err == nil:
			ia.HasHook = true
			hooks = append(hooks, ImpactHook{App: a.Name, URL: h.URL, ProviderHookID: h.ProviderHookID, State: h.State})
		case !errors.Is(err, store.ErrNotFound):
			return nil, nil, fmt.Errorf("reading the hook of %s: %w", a.Name, err)
		}
		apps = append(apps, ia)
	}
	return apps, hooks, nil
}

// resolvedToken finds the token name in a credential.resolve audit
// detail: "bound explicitly to token NAME" or "token NAME serves the
// longest matching prefix P".
var resolvedToken = regexp.MustCompile(`^(?:bound explicitly to token (\S+)$|token (\S+) serves )`)

// recentResolutions reads the audit log back to since for successful
// credential resolutions through t of repositories that are not one of
// its applications' own (own), most recent first.
func (s *Service) recentResolutions(ctx context.Context, t store.Token, since time.Time, own map[string]bool) ([]SubmoduleResolution, error) {
	byRepo := map[string]*SubmoduleResolution{}
	page := store.Page{Limit: store.MaxPageLimit}
	read := 0
	for read < maxImpactAudit {
		recs, next, err := s.store.ListAudit(ctx, t.OrgID, page)
		if err != nil {
			return nil, fmt.Errorf("reading the audit log: %w", err)
		}
		old := false
		for _, r := range recs {
			read++
			if r.At.Before(since) {
				old = true
				break
			}
			if r.Action != "credential.resolve" || r.Outcome != "success" {
				continue
			}
			m := resolvedToken.FindStringSubmatch(r.Detail)
			if m == nil || (m[1] != t.Name && m[2] != t.Name) {
				continue
			}
			repo, ok := strings.CutPrefix(r.Target, "repo/")
			if !ok || own[repo] {
				continue
			}
			sr := byRepo[repo]
			if sr == nil {
				sr = &SubmoduleResolution{RepoURL: repo, LastResolvedAt: r.At}
				byRepo[repo] = sr
			}
			sr.Count++
			if r.At.After(sr.LastResolvedAt) {
				sr.LastResolvedAt = r.At
			}
		}
		if old || next == "" {
			break
		}
		page.After = next
	}
	out := make([]SubmoduleResolution, 0, len(byRepo))
	for _, sr := range byRepo {
		out = append(out, *sr)
	}
	slices.SortFunc(out, func(a, b SubmoduleResolution) int {
		if c := b.LastResolvedAt.Compare(a.LastResolvedAt); c != 0 {
			return c
		}
		return strings.Compare(a.RepoURL, b.RepoURL)
	})
	return out, nil
}

// DeleteTokenInput says how to delete a token.
type DeleteTokenInput struct {
	// Confirm must equal the token's name.
	Confirm string `json:"confirm"`
	// Reassign names the token to move the applications to, after it is
	// proven on each.
	Reassign string `json:"reassign,omitempty"`
	// Force deletes a token in use: explicitly bound applications are
	// unbound and resolve by prefix.
	Force bool `json:"force,omitempty"`
}

// DeleteTokenResult is what deleting a token did.
type DeleteTokenResult struct {
	// Impact is what used the token just before it was deleted.
	Impact TokenImpact `json:"impact"`
	// Reassigned are the applications now bound to the Reassign token.
	Reassigned []string `json:"reassigned"`
	// Unbound are the applications a forced delete unbound.
	Unbound []string `json:"unbound"`
}
