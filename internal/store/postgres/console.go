package postgres

import (
	"context"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

// CreateConsoleSession inserts a console session.
func (s *Store) CreateConsoleSession(ctx context.Context, cs store.ConsoleSession) error {
	_, err := s.pool.Exec(ctx,
		`INSERT INTO console_sessions (id_hash, org_id, key_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		cs.IDHash, cs.OrgID, cs.KeyID, ts(s.orNow(cs.CreatedAt)), ts(cs.ExpiresAt))
	return wrapRef("postgres: create console session", "organization or API key", err)
}

// GetConsoleSession finds a session by the hash of its id.
func (s *Store) GetConsoleSession(ctx context.Context, idHash []byte) (store.ConsoleSession, error) {
	var cs store.ConsoleSession
	err := s.pool.QueryRow(ctx,
		`SELECT id_hash, org_id, key_id, created_at, expires_at FROM console_sessions WHERE id_hash = $1`, idHash).
		Scan(&cs.IDHash, &cs.OrgID, &cs.KeyID, &cs.CreatedAt, &cs.ExpiresAt)
	if err != nil {
		return store.ConsoleSession{}, wrap("postgres: get console session", err)
	}
	cs.CreatedAt, cs.ExpiresAt = cs.CreatedAt.UTC(), cs.ExpiresAt.UTC()
	return cs, nil
}

// DeleteConsoleSession removes a session.
func (s *Store) DeleteConsoleSession(ctx context.Context, idHash []byte) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE id_hash = $1`, idHash)
	if err != nil {
		return wrap("postgres: delete console session", err)
	}
	return mustAffect("postgres: delete console session", tag)
}

// DeleteExpiredConsoleSessions removes sessions expired at now.
func (s *Store) DeleteExpiredConsoleSessions(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE expires_at <= $1`, ts(now))
	if err != nil {
		return 0, wrap("postgres: delete expired console sessions", err)
	}
	return int(tag.RowsAffected()), nil
}
