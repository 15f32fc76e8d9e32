package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gitaccess/gitaccess/internal/store"
)

const warningCols = `id, org_id, token_id, kind, threshold_days, ref_at, created_at, event_id, detail, payload,
	resolved_at, mailed_at, mail_attempts, mail_error, mail_next_at`

// RecordWarnings inserts the warnings not recorded yet and enqueues the
// events of those it inserted, in one transaction: a warning and its event
// exist together or not at all.
func (s *Store) RecordWarnings(ctx context.Context, ws []store.NewWarning) ([]store.TokenWarning, error) {
	const op = "postgres: record warnings"
	var inserted []store.TokenWarning
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		inserted = inserted[:0]
		var events []store.NewEvent
		for _, nw := range ws {
			w := nw.Warning
			w.CreatedAt = ts(s.orNow(w.CreatedAt))
			w.RefAt = ts(w.RefAt)
			if w.MailNextAt.IsZero() {
				w.MailNextAt = w.CreatedAt
			}
			w.MailNextAt = ts(w.MailNextAt)
			w.ResolvedAt = tsPtr(w.ResolvedAt)
			// ON CONFLICT DO NOTHING covers both the key and the one open
			// invalid episode per token; RETURNING yields no row then.
			var id string
			err := tx.QueryRow(ctx, `INSERT INTO token_warnings (`+warningCols+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, 0, '', $12)
				ON CONFLICT DO NOTHING RETURNING id`,
				w.ID, w.OrgID, w.TokenID, w.Kind, w.ThresholdDays, w.RefAt, w.CreatedAt,
				w.EventID, w.Detail, nullIfEmpty(w.Payload), w.ResolvedAt, w.MailNextAt).Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			w.MailedAt, w.MailAttempts, w.MailError = nil, 0, ""
			inserted = append(inserted, w)
			if nw.Event != nil {
				events = append(events, *nw.Event)
			}
		}
		return s.insertEvents(ctx, tx, events)
	})
	if err != nil {
		return nil, wrapRef(op, "token, organization or subscription", err)
	}
	return inserted, nil
}

// ResolveInvalid closes the token's open invalid warning.
func (s *Store) ResolveInvalid(ctx context.Context, orgID, tokenID string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE token_warnings SET resolved_at = $1
		WHERE org_id = $2 AND token_id = $3 AND kind = 'invalid' AND resolved_at IS NULL`,
		ts(s.orNow(at)), orgID, tokenID)
	return wrap("postgres: resolve invalid warning", err)
}

// ListWarnings lists an organization's warnings since a time, newest first.
func (s *Store) ListWarnings(ctx context.Context, orgID string, since time.Time) ([]store.TokenWarning, error) {
	return s.queryWarnings(ctx, "postgres: list warnings", `SELECT `+warningCols+` FROM token_warnings
		WHERE org_id = $1 AND created_at >= $2 ORDER BY created_at DESC, id DESC LIMIT $3`,
		orgID, ts(since), store.MaxPageLimit)
}

// ListTokenWarnings lists one token's warnings, newest first.
func (s *Store) ListTokenWarnings(ctx context.Context, orgID, tokenID string) ([]store.TokenWarning, error) {
	return s.queryWarnings(ctx, "postgres: list token warnings", `SELECT `+warningCols+` FROM token_warnings
		WHERE org_id = $1 AND token_id = $2 ORDER BY created_at DESC, id DESC`, orgID, tokenID)
}

// DueMails lists unsent warnings with an event, oldest first.
func (s *Store) DueMails(ctx context.Context, since, now time.Time, n int) ([]store.TokenWarning, error) {
	return s.queryWarnings(ctx, "postgres: due mails", `SELECT `+warningCols+` FROM token_warnings
		WHERE event_id <> '' AND mailed_at IS NULL AND mail_next_at <= $1 AND created_at >= $2
		ORDER BY created_at, id LIMIT $3`, ts(now), ts(since), n)
}

// FinishMail records one mail attempt.
func (s *Store) FinishMail(ctx context.Context, id string, at time.Time, errText string, next time.Time) error {
	const op = "postgres: finish mail"
	var err error
	var n int64
	if errText == "" {
		tag, e := s.pool.Exec(ctx, `UPDATE token_warnings SET mailed_at = $1, mail_attempts = mail_attempts + 1,
			mail_error = '' WHERE id = $2`, ts(at), id)
		n, err = tag.RowsAffected(), e
	} else {
		tag, e := s.pool.Exec(ctx, `UPDATE token_warnings SET mail_attempts = mail_attempts + 1,
			mail_error = $1, mail_next_at = $2 WHERE id = $3`, errText, ts(next), id)
		n, err = tag.RowsAffected(), e
	}
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}

func (s *Store) queryWarnings(ctx context.Context, op, q string, args ...any) ([]store.TokenWarning, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []store.TokenWarning
	for rows.Next() {
		var (
			w       store.TokenWarning
			payload *string
		)
		if err := rows.Scan(&w.ID, &w.OrgID, &w.TokenID, &w.Kind, &w.ThresholdDays, &w.RefAt, &w.CreatedAt, &w.EventID, &w.Detail,
			&payload, &w.ResolvedAt, &w.MailedAt, &w.MailAttempts, &w.MailError, &w.MailNextAt); err != nil {
			return nil, wrap(op, err)
		}
		w.RefAt, w.CreatedAt, w.MailNextAt = w.RefAt.UTC(), w.CreatedAt.UTC(), w.MailNextAt.UTC()
		w.ResolvedAt, w.MailedAt = utcPtr(w.ResolvedAt), utcPtr(w.MailedAt)
		if payload != nil {
			w.Payload = []byte(*payload)
		}
		out = append(out, w)
	}
	return out, wrap(op, rows.Err())
}

// TryRunJob leases a due job in one conditional upsert; the conflicting
// row's lock makes two replicas asking at once take turns, and the second
// sees the first's lease.
func (s *Store) TryRunJob(ctx context.Context, name, holder string, now, leaseUntil time.Time) (bool, error) {
	if holder == "" {
		return false, fmt.Errorf("postgres: try run job %s: empty holder", name)
	}
	var got string
	err := s.pool.QueryRow(ctx, `INSERT INTO lifecycle_jobs (name, holder, lease_until, next_run_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until
		WHERE lifecycle_jobs.next_run_at <= $4
		  AND (lifecycle_jobs.holder = '' OR lifecycle_jobs.holder = excluded.holder
		       OR lifecycle_jobs.lease_until IS NULL OR lifecycle_jobs.lease_until <= $4)
		RETURNING holder`, name, holder, ts(leaseUntil), ts(now)).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, wrap("postgres: try run job", err)
	}
	return got == holder, nil
}

// FinishJob records a run and releases its lease.
func (s *Store) FinishJob(ctx context.Context, name, holder string, lastRun, next time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE lifecycle_jobs SET holder = '', lease_until = NULL, last_run_at = $1, next_run_at = $2
		WHERE name = $3 AND holder = $4 AND holder <> ''`, ts(lastRun), ts(next), name, holder)
	if err != nil {
		return wrap("postgres: finish job", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: finish job %s: not held by %q: %w", name, holder, store.ErrConflict)
	}
	return nil
}

// GetJob reads a job's schedule.
func (s *Store) GetJob(ctx context.Context, name string) (store.Job, error) {
	var j store.Job
	err := s.pool.QueryRow(ctx, `SELECT name, holder, lease_until, last_run_at, next_run_at FROM lifecycle_jobs WHERE name = $1`, name).
		Scan(&j.Name, &j.Holder, &j.LeaseUntil, &j.LastRunAt, &j.NextRunAt)
	if err != nil {
		return store.Job{}, wrap("postgres: get job", err)
	}
	j.LeaseUntil, j.LastRunAt, j.NextRunAt = utcPtr(j.LeaseUntil), utcPtr(j.LastRunAt), j.NextRunAt.UTC()
	return j, nil
}
