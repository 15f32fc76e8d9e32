package access

import (
	"context"
	"time"
)

// TokenRateLimit is a provider's request budget for one token.
type TokenRateLimit struct {
	Limit int `json:"limit"`
	// Remaining is absent when the provider reports none (Bitbucket Cloud
	// sends only its limit).
	Remaining *int `json:"remaining,omitempty"`
	// Reset is when the budget refills; absent when the provider does not
	// say (Bitbucket Cloud's window rolls).
	Reset *time.Time `json:"reset,omitempty"`
	// Resource is the provider's name for the budget ("core" on GitHub).
	Resource   string    `json:"resource,omitempty"`
	ObservedAt time.Time `json:"observed_at"`
}

// rateLimitOf reads a token's last recorded rate limit; nil when none was
// recorded or it cannot be read (the view is still worth showing).
func (s *Service) rateLimitOf(ctx context.Context, tokenID string) *TokenRateLimit {
	rl, err := s.store.GetRateLimit(ctx, tokenID)
	if err != nil {
		return nil
	}
	v := &TokenRateLimit{Limit: rl.Limit, Resource: rl.Resource, ObservedAt: rl.ObservedAt}
	if rl.Remaining >= 0 {
		v.Remaining = &rl.Remaining
	}
	if !rl.Reset.IsZero() {
		v.Reset = &rl.Reset
	}
	return v
}
