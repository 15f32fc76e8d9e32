package store

import (
	"context"
	"time"
)

// RateLimit is a provider's request budget for one token as it last
// reported it. It lives on the token row but is written apart from the
// token (no Version bump): it is an observation, not an edit, and must
// never make a concurrent token update fail.
type RateLimit struct {
	Limit int
	// Remaining is -1 when the provider reports a limit but no remaining
	// count (Bitbucket Cloud).
	Remaining int
	// Reset is when the budget refills; zero when the provider does not
	// say (Bitbucket Cloud's window rolls).
	Reset time.Time
	// Resource is the provider's name for the budget ("core" on GitHub,
	// "api" on Bitbucket), empty when it names none.
	Resource   string
	ObservedAt time.Time
}

// TokenMetric is what metrics need of one token: no name, no value.
type TokenMetric struct {
	ID        string
	OrgID     string
	Provider  string
	Status    string
	ExpiresAt *time.Time
	// RateLimit is nil until a provider answer to the token was recorded.
	RateLimit *RateLimit
}

// RateLimitStore keeps each token's last reported rate limit and lists
// what the metrics endpoint reports about tokens.
type RateLimitStore interface {
	// SaveRateLimit records rl on the token; ErrNotFound when the token
	// is gone. An older observation never replaces a newer one, so two
	// replicas writing at once leave the latest.
	SaveRateLimit(ctx context.Context, tokenID string, rl RateLimit) error
	// GetRateLimit returns the token's last recorded rate limit;
	// ErrNotFound when the token is gone or none was recorded yet.
	GetRateLimit(ctx context.Context, tokenID string) (RateLimit, error)
	// ListTokenMetrics returns every token of every organization, ordered
	// by id.
	ListTokenMetrics(ctx context.Context) ([]TokenMetric, error)
}
