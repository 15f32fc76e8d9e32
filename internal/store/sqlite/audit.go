package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gitaccess/gitaccess/internal/store"
)

const auditCols = `id, org_id, at, actor, action, target, outcome, detail`

// AppendAudit inserts r; the schema refuses any later change to it.
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO audit (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.OrgID, fmtTime(s.orNow(r.At)), r.Actor, r.Action, r.Target, r.Outcome, r.Detail)
	return wrap("sqlite: append audit", err)
}

// ListAudit pages newest first, by (at, id) so records sharing a timestamp
// are neither repeated nor skipped across pages.
func (s *Store) ListAudit(ctx context.Context, orgID string, p store.Page) ([]store.AuditRecord, string, error) {
	const op = "sqlite: list audit"
	limit := p.Size()
	q := `SELECT ` + auditCols + ` FROM audit WHERE org_id = ?`
	args := []any{orgID}
	if p.After != "" {
		at, id, err := store.ParseAuditCursor(p.After)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", op, err)
		}
		q += ` AND (at, id) < (?, ?)`
		args = append(args, fmtTime(at), id)
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", wrap(op, err)
	}
	defer rows.Close()
	var out []store.AuditRecord
	for rows.Next() {
		var r store.AuditRecord
		var at string
		if err := rows.Scan(&r.ID, &r.OrgID, &at, &r.Actor, &r.Action, &r.Target, &r.Outcome, &r.Detail); err != nil {
			return nil, "", wrap(op, err)
		}
		if r.At, err = parseTime(at); err != nil {
			return nil, "", wrap(op, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
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
		return `UPDATE ` + table + ` SET sealed = ?, version = version + 1 WHERE id = ? AND version = ?`, true
	}
	return "", false
}

// SealedRows returns every sealed value (token values, hook secrets,
// subscription signing secrets), for re-wrapping under a new master key.
func (s *Store) SealedRows(ctx context.Context) ([]store.SealedRow, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT 'tokens', id, sealed, version FROM tokens
		UNION ALL SELECT 'hooks', id, sealed, version FROM hooks
		UNION ALL SELECT 'subscriptions', id, sealed, version FROM subscriptions
		ORDER BY 1, 2`)
	if err != nil {
		return nil, wrap("sqlite: sealed rows", err)
	}
	defer rows.Close()
	var out []store.SealedRow
	for rows.Next() {
		var r store.SealedRow
		if err := rows.Scan(&r.Table, &r.ID, &r.Sealed, &r.Version); err != nil {
			return nil, wrap("sqlite: sealed rows", err)
		}
		out = append(out, r)
	}
	return out, wrap("sqlite: sealed rows", rows.Err())
}

// ReplaceSealed swaps sealed values in one transaction. A row deleted since
// SealedRows fails the whole call with ErrNotFound, a row changed since with
// ErrConflict. Each replaced row's version moves on, so an update prepared
// before the swap cannot write the old ciphertext back either.
func (s *Store) ReplaceSealed(ctx context.Context, rows []store.SealedRow) (err error) {
	const op = "sqlite: replace sealed"
	for _, r := range rows {
		if _, ok := replaceSealedSQL(r.Table); !ok {
			return fmt.Errorf("%s: table %q holds no sealed values", op, r.Table)
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	stmts := map[string]*sql.Stmt{}
	defer func() {
		for _, st := range stmts {
			_ = st.Close()
		}
	}()
	for _, r := range rows {
		stmt := stmts[r.Table]
		if stmt == nil {
			q, _ := replaceSealedSQL(r.Table)
			if stmt, err = tx.PrepareContext(ctx, q); err != nil {
				return wrap(op, err)
			}
			stmts[r.Table] = stmt
		}
		res, err := stmt.ExecContext(ctx, blob(r.Sealed), r.ID, r.Version)
		if err != nil {
			return wrap(op, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(op, err)
		}
		if n == 0 {
			var v int64
			// r.Table is one replaceSealedSQL knows.
			err := tx.QueryRowContext(ctx, `SELECT version FROM `+r.Table+` WHERE id = ?`, r.ID).Scan(&v)
			if err != nil {
				return wrap(fmt.Sprintf("%s: %s/%s", op, r.Table, r.ID), err)
			}
			return fmt.Errorf("%s: %s/%s changed since it was read (version %d, now %d): %w",
				op, r.Table, r.ID, r.Version, v, store.ErrConflict)
		}
	}
	return wrap(op, tx.Commit())
}
