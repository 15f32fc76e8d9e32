package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

const warningCols = `id, org_id, token_id, kind, threshold_days, ref_at, created_at, event_id, detail, payload,
	resolved_at, mailed_at, mail_attempts, mail_error, mail_next_at`

// RecordWarnings inserts the warnings not recorded yet and enqueues the
// events of those it inserted, in one transaction: a warning and its event
// exist together or not at all.
func (s *Store) RecordWarnings(ctx context.Context, ws []store.NewWarning) ([]store.TokenWarning, error) {
	const op = "sqlite: record warnings"
	var inserted []store.TokenWarning
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		inserted = inserted[:0]
		var events []store.NewEvent
		for _, nw := range ws {
			w := nw.Warning
			w.CreatedAt = cutUTC(s.orNow(w.CreatedAt))
			w.RefAt = cutUTC(w.RefAt)
			if w.MailNextAt.IsZero() {
				w.MailNextAt = w.CreatedAt
			}
			w.MailNextAt = cutUTC(w.MailNextAt)
			// ON CONFLICT DO NOTHING covers both the key and the one open
			// invalid episode per token; RETURNING yields no row then.
			var id string
			err := tx.QueryRowContext(ctx, `INSERT INTO token_warnings (`+warningCols+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, '', ?)
				ON CONFLICT DO NOTHING RETURNING id`,
				w.ID, w.OrgID, w.TokenID, w.Kind, w.ThresholdDays, fmtTime(w.RefAt), fmtTime(w.CreatedAt),
				w.EventID, w.Detail, jsonText(w.Payload), fmtTimePtr(w.ResolvedAt), fmtTime(w.MailNextAt)).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			w.ResolvedAt = cutPtrUTC(w.ResolvedAt)
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
	_, err := s.w.ExecContext(ctx, `UPDATE token_warnings SET resolved_at = ?
		WHERE org_id = ? AND token_id = ? AND kind = 'invalid' AND resolved_at IS NULL`,
		fmtTime(s.orNow(at)), orgID, tokenID)
	return wrap("sqlite: resolve invalid warning", err)
}

// ListWarnings lists an organization's warnings since a time, newest first.
func (s *Store) ListWarnings(ctx context.Context, orgID string, since time.Time) ([]store.TokenWarning, error) {
	return s.queryWarnings(ctx, "sqlite: list warnings", `SELECT `+warningCols+` FROM token_warnings
		WHERE org_id = ? AND created_at >= ? ORDER BY created_at DESC, id DESC LIMIT ?`,
		orgID, fmtTime(since), store.MaxPageLimit)
}

// ListTokenWarnings lists one token's warnings, newest first.
func (s *Store) ListTokenWarnings(ctx context.Context, orgID, tokenID string) ([]store.TokenWarning, error) {
	return s.queryWarnings(ctx, "sqlite: list token warnings", `SELECT `+warningCols+` FROM token_warnings
		WHERE org_id = ? AND token_id = ? ORDER BY created_at DESC, id DESC`, orgID, tokenID)
}

// DueMails lists unsent warnings with an event, oldest first.
func (s *Store) DueMails(ctx context.Context, since, now time.Time, n int) ([]store.TokenWarning, error) {
	return s.queryWarnings(ctx, "sqlite: due mails", `SELECT `+warningCols+` FROM token_warnings
		WHERE event_id <> '' AND mailed_at IS NULL AND mail_next_at <= ? AND created_at >= ?
		ORDER BY created_at, id LIMIT ?`, fmtTime(now), fmtTime(since), n)
}

// FinishMail records one mail attempt.
func (s *Store) FinishMail(ctx context.Context, id string, at time.Time, errText string, next time.Time) error {
	const op = "sqlite: finish mail"
	var res sql.Result
	var err error
	if errText == "" {
		res, err = s.w.ExecContext(ctx, `UPDATE token_warnings SET mailed_at = ?, mail_attempts = mail_attempts + 1,
			mail_error = '' WHERE id = ?`, fmtTime(at), id)
	} else {
		res, err = s.w.ExecContext(ctx, `UPDATE token_warnings SET mail_attempts = mail_attempts + 1,
			mail_error = ?, mail_next_at = ? WHERE id = ?`, errText, fmtTime(next), id)
	}
	if err != nil {
		return wrap(op, err)
	}
	return mustAffect(op, res)
}

func (s *Store) queryWarnings(ctx context.Context, op, q string, args ...any) ([]store.TokenWarning, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []store.TokenWarning
	for rows.Next() {
		w, err := scanWarning(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, w)
	}
	return out, wrap(op, rows.Err())
}

func scanWarning(r scanner) (store.TokenWarning, error) {
	var (
		w                         store.TokenWarning
		refAt, createdAt, nextAt  string
		payload, resolved, mailed sql.NullString
	)
	if err := r.Scan(&w.ID, &w.OrgID, &w.TokenID, &w.Kind, &w.ThresholdDays, &refAt, &createdAt, &w.EventID, &w.Detail,
		&payload, &resolved, &mailed, &w.MailAttempts, &w.MailError, &nextAt); err != nil {
		return store.TokenWarning{}, err
	}
	var err error
	if w.RefAt, err = parseTime(refAt); err != nil {
		return store.TokenWarning{}, err
	}
	if w.CreatedAt, err = parseTime(createdAt); err != nil {
		return store.TokenWarning{}, err
	}
	if w.MailNextAt, err = parseTime(nextAt); err != nil {
		return store.TokenWarning{}, err
	}
	if w.ResolvedAt, err = parseTimePtr(resolved); err != nil {
		return store.TokenWarning{}, err
	}
	if w.MailedAt, err = parseTimePtr(mailed); err != nil {
		return store.TokenWarning{}, err
	}
	if payload.Valid {
		w.Payload = []byte(payload.String)
	}
	return w, nil
}

// TryRunJob leases a due job in one conditional upsert. Text comparison
// is time comparison: timeLayout is fixed-width.
func (s *Store) TryRunJob(ctx context.Context, name, holder string, now, leaseUntil time.Time) (bool, error) {
	if holder == "" {
		return false, fmt.Errorf("sqlite: try run job %s: empty holder", name)
	}
	var got string
	err := s.w.QueryRowContext(ctx, `INSERT INTO lifecycle_jobs (name, holder, lease_until, next_run_at)
		VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until
		WHERE lifecycle_jobs.next_run_at <= ?4
		  AND (lifecycle_jobs.holder = '' OR lifecycle_jobs.holder = excluded.holder
		       OR lifecycle_jobs.lease_until IS NULL OR lifecycle_jobs.lease_until <= ?4)
		RETURNING holder`, name, holder, fmtTime(leaseUntil), fmtTime(now)).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, wrap("sqlite: try run job", err)
	}
	return got == holder, nil
}

// FinishJob records a run and releases its lease.
func (s *Store) FinishJob(ctx context.Context, name, holder string, lastRun, next time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE lifecycle_jobs SET holder = '', lease_until = NULL, last_run_at = ?, next_run_at = ?
		WHERE name = ? AND holder = ? AND holder <> ''`, fmtTime(lastRun), fmtTime(next), name, holder)
	if err != nil {
		return wrap("sqlite: finish job", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("sqlite: finish job", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: finish job %s: not held by %q: %w", name, holder, store.ErrConflict)
	}
	return nil
}

// GetJob reads a job's schedule.
func (s *Store) GetJob(ctx context.Context, name string) (store.Job, error) {
	var (
		j           store.Job
		lease, last sql.NullString
		next        string
	)
	err := s.r.QueryRowContext(ctx, `SELECT name, holder, lease_until, last_run_at, next_run_at FROM lifecycle_jobs WHERE name = ?`, name).
		Scan(&j.Name, &j.Holder, &lease, &last, &next)
	if err != nil {
		return store.Job{}, wrap("sqlite: get job", err)
	}
	if j.LeaseUntil, err = parseTimePtr(lease); err != nil {
		return store.Job{}, err
	}
	if j.LastRunAt, err = parseTimePtr(last); err != nil {
		return store.Job{}, err
	}
	if j.NextRunAt, err = parseTime(next); err != nil {
		return store.Job{}, err
	}
	return j, nil
}

func cutUTC(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func cutPtrUTC(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := cutUTC(*t)
	return &v
}
