package store

import (
	"context"
	"time"
)

// ConsoleSession is one signed-in browser of the web console. The browser
// holds a random id in a cookie; the store keeps only its SHA-256, so a
// copy of the database signs nobody in. The API key that signed in is kept
// by id, never its secret: every request re-reads the key, so a revoked key
// or a changed role takes effect at once.
type ConsoleSession struct {
	// IDHash is the SHA-256 of the cookie's session id.
	IDHash    []byte
	OrgID     string
	KeyID     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ConsoleStore keeps the web console's sessions.
type ConsoleStore interface {
	// CreateConsoleSession inserts s; ErrConflict when its hash is taken,
	// ErrNotFound when its organization or key does not exist.
	CreateConsoleSession(ctx context.Context, s ConsoleSession) error
	// GetConsoleSession finds a session by the hash of its id, expired or
	// not (the caller decides with its own clock); ErrNotFound when absent.
	GetConsoleSession(ctx context.Context, idHash []byte) (ConsoleSession, error)
	// DeleteConsoleSession removes a session (sign-out); ErrNotFound when
	// it was already gone.
	DeleteConsoleSession(ctx context.Context, idHash []byte) error
	// DeleteExpiredConsoleSessions removes sessions whose expiry is at or
	// before now and says how many went.
	DeleteExpiredConsoleSessions(ctx context.Context, now time.Time) (int, error)
}
