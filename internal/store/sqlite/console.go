package sqlite

import (
	"context"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

// CreateConsoleSession inserts a console session.
func (s *Store) CreateConsoleSession(ctx context.Context, cs store.ConsoleSession) error {
	_, err := s.w.ExecContext(ctx,
		`INSERT INTO console_sessions (id_hash, org_id, key_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		cs.IDHash, cs.OrgID, cs.KeyID, fmtTime(s.orNow(cs.CreatedAt)), fmtTime(cs.ExpiresAt))
	return wrapRef("sqlite: create console session", "organization or API key", err)
}

// GetConsoleSession finds a session by the hash of its id.
func (s *Store) GetConsoleSession(ctx context.Context, idHash []byte) (store.ConsoleSession, error) {
	var cs store.ConsoleSession
	var created, expires string
	err := s.r.QueryRowContext(ctx,
		`SELECT id_hash, org_id, key_id, created_at, expires_at FROM console_sessions WHERE id_hash = ?`, idHash).
		Scan(&cs.IDHash, &cs.OrgID, &cs.KeyID, &created, &expires)
	if err != nil {
		return store.ConsoleSession{}, wrap("sqlite: get console session", err)
	}
	if cs.CreatedAt, err = parseTime(created); err != nil {
		return store.ConsoleSession{}, wrap("sqlite: get console session", err)
	}
	if cs.ExpiresAt, err = parseTime(expires); err != nil {
		return store.ConsoleSession{}, wrap("sqlite: get console session", err)
	}
	return cs, nil
}

// DeleteConsoleSession removes a session.
func (s *Store) DeleteConsoleSession(ctx context.Context, idHash []byte) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM console_sessions WHERE id_hash = ?`, idHash)
	if err != nil {
		return wrap("sqlite: delete console session", err)
	}
	return mustAffect("sqlite: delete console session", res)
}

// DeleteExpiredConsoleSessions removes sessions expired at now.
func (s *Store) DeleteExpiredConsoleSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM console_sessions WHERE expires_at <= ?`, fmtTime(now))
	if err != nil {
		return 0, wrap("sqlite: delete expired console sessions", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("sqlite: delete expired console sessions", err)
}
