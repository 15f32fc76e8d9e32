package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gitaccess/gitaccess/internal/store"
)

// SaveRateLimit implements store.RateLimitStore. The text timestamps are
// fixed-width, so comparing them as text compares the instants.
func (s *Store) SaveRateLimit(ctx context.Context, tokenID string, rl store.RateLimit) error {
	const op = "sqlite: save rate limit"
	observed := fmtTime(s.orNow(rl.ObservedAt))
	var reset any
	if !rl.Reset.IsZero() {
		reset = fmtTime(rl.Reset)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE tokens SET rate_limit_limit = ?, rate_limit_remaining = ?,
		rate_limit_reset = ?, rate_limit_resource = ?, rate_limit_observed_at = ?
		WHERE id = ? AND (rate_limit_observed_at IS NULL OR rate_limit_observed_at <= ?)`,
		rl.Limit, rl.Remaining, reset, rl.Resource, observed, tokenID, observed)
	if err != nil {
		return wrap(op, err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return wrap(op, err)
	}
	// Nothing changed: the token is gone, or holds a newer observation.
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1 FROM tokens WHERE id = ?`, tokenID).Scan(&one); err != nil {
		return wrap(op, err)
	}
	return nil
}

// GetRateLimit implements store.RateLimitStore.
func (s *Store) GetRateLimit(ctx context.Context, tokenID string) (store.RateLimit, error) {
	const op = "sqlite: get rate limit"
	row := s.r.QueryRowContext(ctx, `SELECT rate_limit_limit, rate_limit_remaining, rate_limit_reset,
		rate_limit_resource, rate_limit_observed_at FROM tokens WHERE id = ?`, tokenID)
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
	const op = "sqlite: list token metrics"
	rows, err := s.r.QueryContext(ctx, `SELECT id, org_id, provider, status, expires_at,
		rate_limit_limit, rate_limit_remaining, rate_limit_reset, rate_limit_resource, rate_limit_observed_at
		FROM tokens ORDER BY id`)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []store.TokenMetric
	for rows.Next() {
		var m store.TokenMetric
		var expires sql.NullString
		rl, err := scanRateLimit(func(dest ...any) error {
			return rows.Scan(append([]any{&m.ID, &m.OrgID, &m.Provider, &m.Status, &expires}, dest...)...)
		})
		if err != nil {
			return nil, wrap(op, err)
		}
		if m.ExpiresAt, err = parseTimePtr(expires); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		m.RateLimit = rl
		out = append(out, m)
	}
	return out, wrap(op, rows.Err())
}

// scanRateLimit reads the five rate_limit_ columns through scan; nil when
// none was ever recorded.
func scanRateLimit(scan func(dest ...any) error) (*store.RateLimit, error) {
	var limit, remaining sql.NullInt64
	var reset, observed sql.NullString
	var resource string
	if err := scan(&limit, &remaining, &reset, &resource, &observed); err != nil {
		return nil, err
	}
	if !observed.Valid {
		return nil, nil
	}
	rl := store.RateLimit{Limit: int(limit.Int64), Remaining: int(remaining.Int64), Resource: resource}
	var err error
	if rl.ObservedAt, err = parseTime(observed.String); err != nil {
		return nil, err
	}
	if reset.Valid {
		if rl.Reset, err = parseTime(reset.String); err != nil {
			return nil, err
		}
	}
	return &rl, nil
}
