package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gitaccess/gitaccess/internal/store"
)

const auditCols = `id, org_id, at, actor, action, target, outcome, detail`

// AppendAudit inserts r; the schema refuses any later change to it.
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO audit (`+auditCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		r.ID, r.OrgID, ts(s.orNow(r.At)), r.Actor, r.Action, r.Target, r.Outcome, r.Detail)
	return wrap("postgres: append audit", err)
}

// ListAudit pages newest first, by (at, id) so records sharing a timestamp
// are neither repeated nor skipped across pages.
func (s *Store) ListAudit(ctx context.Context, orgID string, p store.Page) ([]store.AuditRecord, string, error) {
	const op = "postgres: list audit"
	limit := p.Size()
	q := `SELECT ` + auditCols + ` FROM audit WHERE org_id = $1`
	args := []any{orgID, limit + 1}
	if p.After != "" {
		at, id, err := store.ParseAuditCursor(p.After)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", op, err)
		}
		q += ` AND (at, id) < ($3, $4)`
		args = append(args, at, id)
	}
	q += ` ORDER BY at DESC, id DESC LIMIT $2`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", wrap(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AuditRecord, error) {
		var a store.AuditRecord
		if err := r.Scan(&a.ID, &a.OrgID, &a.At, &a.Actor, &a.Action, &a.Target, &a.Outcome, &a.Detail); err != nil {
			return store.AuditRecord{}, err
		}
		a.At = a.At.UTC()
		return a, nil
	})
	if err != nil {
		return nil, "", wrap(op, err)
	}
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		return out, store.AuditCursor(last.At, last.ID), nil
	}
	return out, "", nil
}

// replaceSealedSQL swaps one sealed value of table, where the row's version
// is the one SealedRows read, and moves the version on; ok is false for a
// table that holds no sealed values.
func replaceSealedSQL(table string) (q string, ok bool) {
	switch table {
	case "tokens", "hooks", "subscriptions":
		return `UPDATE ` + table + ` SET sealed = $1, version = version + 1 WHERE id = $2 AND version = $3`, true
	}
	return "", false
}

// SealedRows returns every sealed value (token values, hook secrets,
// subscription signing secrets), for re-wrapping under a new master key.
func (s *Store) SealedRows(ctx context.Context) ([]store.SealedRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT 'tokens', id, sealed, version FROM tokens
		UNION ALL SELECT 'hooks', id, sealed, version FROM hooks
		UNION ALL SELECT 'subscriptions', id, sealed, version FROM subscriptions
		ORDER BY 1, 2`)
	if err != nil {
		return nil, wrap("postgres: sealed rows", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.SealedRow, error) {
		var sr store.SealedRow
		err := r.Scan(&sr.Table, &sr.ID, &sr.Sealed, &sr.Version)
		return sr, err
	})
	if len(out) == 0 {
		out = nil
	}
	return out, wrap("postgres: sealed rows", err)
}

// ReplaceSealed swaps sealed values in one transaction. A row deleted since
// SealedRows fails the whole call with ErrNotFound, a row changed since with
// ErrConflict. Each replaced row's version moves on, so an update prepared
// before the swap cannot write the old ciphertext back either.
func (s *Store) ReplaceSealed(ctx context.Context, rows []store.SealedRow) error {
	const op = "postgres: replace sealed"
	for _, r := range rows {
		if _, ok := replaceSealedSQL(r.Table); !ok {
			return fmt.Errorf("%s: table %q holds no sealed values", op, r.Table)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, r := range rows {
			q, _ := replaceSealedSQL(r.Table)
			b.Queue(q, nullIfEmpty(r.Sealed), r.ID, r.Version)
		}
		br := tx.SendBatch(ctx, b)
		var stale *store.SealedRow
		for i := range rows {
			tag, err := br.Exec()
			if err != nil {
				_ = br.Close()
				return err
			}
			if tag.RowsAffected() == 0 {
				stale = &rows[i]
				break
			}
		}
		if err := br.Close(); err != nil {
			return err
		}
		if stale == nil {
			return nil
		}
		var v int64
		// stale.Table is one replaceSealedSQL knows.
		if err := tx.QueryRow(ctx, `SELECT version FROM `+stale.Table+` WHERE id = $1`, stale.ID).Scan(&v); err != nil {
			return fmt.Errorf("%s/%s: %w", stale.Table, stale.ID, err)
		}
		return fmt.Errorf("%s/%s changed since it was read (version %d, now %d): %w",
			stale.Table, stale.ID, stale.Version, v, store.ErrConflict)
	})
	return wrap(op, err)
}
