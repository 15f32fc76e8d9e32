package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

// SaveRateLimit implements store.RateLimitStore.
func (s *Store) SaveRateLimit(ctx context.Context, tokenID string, rl store.RateLimit) error {
	const op = "postgres: save rate limit"
	observed := ts(s.orNow(rl.ObservedAt))
	var reset *time.Time
	if !rl.Reset.IsZero() {
		v := ts(rl.Reset)
		reset = &v
	}
	tag, err := s.pool.Exec(ctx, `UPDATE tokens SET rate_limit_limit = $1, rate_limit_remaining = $2,
		rate_limit_reset = $3, rate_limit_resource = $4, rate_limit_observed_at = $5
		WHERE id = $6 AND (rate_limit_observed_at IS NULL OR rate_limit_observed_at <= $5)`,
		rl.Limit, rl.Remaining, reset, rl.Resource, observed, tokenID)
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	// Nothing changed: the token is gone, or holds a newer observation.
	var one int
	return wrap(op, s.pool.QueryRow(ctx, `SELECT 1 FROM tokens WHERE id = $1`, tokenID).Scan(&one))
}

// GetRateLimit implements store.RateLimitStore.
func (s *Store) GetRateLimit(ctx context.Context, tokenID string) (store.RateLimit, error) {
	const op = "postgres: get rate limit"
	row := s.pool.QueryRow(ctx, `SELECT rate_limit_limit, rate_limit_remaining, rate_limit_reset,
		rate_limit_resource, rate_limit_observed_at FROM tokens WHERE id = $1`, tokenID)
	rl, err := scanRateLimit(row.Scan)
	if err != nil {
		return store.RateLimit{}, wrap(op, err)
	}
	if rl == nil {
		return store.RateLimit{}, fmt.Errorf("%s: none recorded for token %s: %w", op, tokenID, store.ErrNotFound)
	}
	return *rl, nil
}

// ListTokenMetrics implements store.RateLimitStore.
func (s *Store) ListTokenMetrics(ctx context.Context) ([]store.TokenMetric, error) {
	const op = "postgres: list token metrics"
	rows, err := s.pool.Query(ctx, `SELECT id, org_id, provider, status, expires_at,
		rate_limit_limit, rate_limit_remaining, rate_limit_reset, rate_limit_resource, rate_limit_observed_at
		FROM tokens ORDER BY id`)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []store.TokenMetric
	for rows.Next() {
		var m store.TokenMetric
		rl, err := scanRateLimit(func(dest ...any) error {
			return rows.Scan(append([]any{&m.ID, &m.OrgID, &m.Provider, &m.Status, &m.ExpiresAt}, dest...)...)
		})
		if err != nil {
			return nil, wrap(op, err)
		}
		m.ExpiresAt = utcPtr(m.ExpiresAt)
		m.RateLimit = rl
		out = append(out, m)
	}
	return out, wrap(op, rows.Err())
}

// scanRateLimit reads the five rate_limit_ columns through scan; nil when
// none was ever recorded.
func scanRateLimit(scan func(dest ...any) error) (*store.RateLimit, error) {
	var limit, remaining *int32
	var reset, observed *time.Time
	var resource string
	if err := scan(&limit, &remaining, &reset, &resource, &observed); err != nil {
		return nil, err
	}
	if observed == nil {
		return nil, nil
	}
	rl := store.RateLimit{Resource: resource, ObservedAt: observed.UTC()}
	if limit != nil {
		rl.Limit = int(*limit)
	}
	if remaining != nil {
		rl.Remaining = int(*remaining)
	}
	if reset != nil {
		rl.Reset = reset.UTC()
	}
	return &rl, nil
}
