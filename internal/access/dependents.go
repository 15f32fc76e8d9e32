package access

import (
	"context"
	"errors"
	"fmt"

	"github.com/gitaccess/gitaccess/internal/store"
)

// DependentApps lists the applications of t's organization that t serves:
// those bound to it explicitly and those without a binding whose
// repository URL resolves to t by the longest matching prefix. Warnings,
// rotation and deletion all need this whole set: an application bound by
// prefix breaks with the token just as an explicitly bound one does.
func (s *Service) dependentApps(ctx context.Context, t store.Token) ([]store.App, error) {
	var out []store.App
	page := store.Page{Limit: store.MaxPageLimit}
	for {
		apps, next, err := s.store.ListApps(ctx, t.OrgID, page)
		if err != nil {
			return nil, fmt.Errorf("listing applications of organization %s: %w", t.OrgID, err)
		}
		for _, a := range apps {
			if a.TokenID == t.ID {
				out = append(out, a)
				continue
			}
			if a.TokenID != "" {
				continue
			}
			holder, _, err := s.store.MatchPrefix(ctx, t.OrgID, a.RepoURL+"/")
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("resolving the token of application %s: %w", a.Name, err)
			}
			if holder.ID == t.ID {
				out = append(out, a)
			}
		}
		if next == "" {
			return out, nil
		}
		page.After = next
	}
}

// touchApp moves an application's last-used time forward; a failure is
// logged, never the caller's: usage is bookkeeping.
func (s *Service) touchApp(ctx context.Context, id string) {
	if err := s.store.TouchApp(context.WithoutCancel(ctx), id, s.now().UTC()); err != nil {
		s.log.Warn("recording application use failed", "app", id, "err", err)
	}
}

// touchBoth records that an application used a token.
func (s *Service) touchBoth(ctx context.Context, tokenID, appID string) {
	s.touchToken(ctx, tokenID)
	s.touchApp(ctx, appID)
}
