package access

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gitaccess/gitaccess/internal/audit"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/store"
)

// ErrTokenGone means a token was deleted before it could be revalidated;
// a sweep skips it.
var ErrTokenGone = errors.New("token was deleted")

// Revalidate re-inspects a saved token for the scheduled sweep, acting as
// the system (audited as token.revalidate by "system"), records the
// outcome like `token test` does, and brings the token's warnings up to
// date. A token the provider refuses is marked invalid with the provider's
// words and the time, and warned about once. When the provider cannot be
// asked (unreachable, rate limited) the status is left alone, but expiry
// warnings still follow the clock; the error says what failed.
func (s *Service) Revalidate(ctx context.Context, orgID, tokenID string) (TokenView, error) {
	t, err := s.store.GetTokenByID(ctx, orgID, tokenID)
	if errors.Is(err, store.ErrNotFound) {
		return TokenView{}, ErrTokenGone
	}
	if err != nil {
		return TokenView{}, fmt.Errorf("reading token %s: %w", tokenID, err)
	}
	saved, inspectErr := s.revalidate(ctx, t)
	if err := s.syncWarnings(ctx, saved); err != nil {
		return s.view(saved, false), errors.Join(inspectErr, err)
	}
	return s.view(saved, false), inspectErr
}

func (s *Service) revalidate(ctx context.Context, t store.Token) (store.Token, error) {
	audited := func(outcome, detail string) {
		s.audit.Record(ctx, audit.Entry{OrgID: t.OrgID, Actor: systemActor, Action: "token.revalidate", Target: "token/" + t.Name, Outcome: outcome, Detail: detail})
	}
	spec, err := s.specOf(t)
	if err != nil {
		audited(audit.Failure, err.Error())
		return t, err
	}
	value, err := s.sealer.Open(t.Sealed, AssociatedData(tokensTable, t.ID))
	if err != nil {
		audited(audit.Failure, "opening the sealed value failed")
		return t, fmt.Errorf("opening token %s: %w", t.Name, err)
	}
	report, inspectErr := spec.forge.Inspect(ctx, forge.Credential{Endpoint: spec.endpoint, Token: value, TokenID: t.ID}, spec.uses)
	now := s.now().UTC()
	var authErr *forge.AuthError
	switch {
	case inspectErr == nil:
		if err := applyReport(&t, report, spec.uses, now); err != nil {
			return t, err
		}
	case errors.As(inspectErr, &authErr):
		t.Status = StatusInvalid
		t.StatusDetail = fmt.Sprintf("refused by %s on %s: HTTP %d %s", forge.Title(authErr.Provider), now.Format(time.RFC3339), authErr.Status, authErr.Message)
		t.LastValidatedAt = &now
	default:
		// Unreachable, rate limited or failing says nothing about the token.
		audited(audit.Failure, inspectErr.Error())
		return t, fmt.Errorf("revalidating token %s: %w", t.Name, inspectErr)
	}
	t.Sealed = nil // keep the stored value: only the metadata changes
	saved, err := s.store.UpdateToken(ctx, t)
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		// Changed (or deleted) meanwhile, e.g. rotated: what was inspected
		// is stale. The next sweep inspects the new state.
		fresh, gerr := s.store.GetTokenByID(ctx, t.OrgID, t.ID)
		if gerr != nil {
			return t, ErrTokenGone
		}
		return fresh, fmt.Errorf("token %s changed while it was being revalidated; it is checked again next sweep", t.Name)
	}
	if err != nil {
		return t, fmt.Errorf("recording revalidation of token %s: %w", t.Name, err)
	}
	if inspectErr != nil {
		audited(audit.Failure, "marked invalid: "+saved.StatusDetail)
		return saved, nil
	}
	audited(audit.Success, "status "+saved.Status)
	return saved, nil
}
