// Package server assembles gitaccess from its parts (store, keyring, forge
// adapters, use cases, HTTP API) and runs it. It is the composition root: the
// only package that knows every concrete implementation.
package server

import (
	"context"
	"errors"
	"log/slog"
)

// Config is everything `gitaccess serve` takes.
type Config struct {
	// DataDir holds the SQLite database, the master keyring and the
	// bootstrap admin key (default ./gitaccess-data).
	DataDir string
	// Listen is the HTTP listen address (default 127.0.0.1:8080).
	Listen string
	// PublicURL is how providers and browsers reach this server.
	PublicURL string
	// DatabaseURL selects PostgreSQL (postgres://...); empty means SQLite in DataDir.
	DatabaseURL string
	// MasterKeyFile overrides <DataDir>/master.key.
	MasterKeyFile string
	// MasterKey is a keyring given inline (GITACCESS_MASTER_KEY).
	MasterKey string
	// AllowInsecureHTTP permits plain-http provider URLs.
	AllowInsecureHTTP bool
	Logger            *slog.Logger
}

// Run serves until ctx is cancelled, then shuts down gracefully.
func Run(ctx context.Context, cfg Config) error {
	return errors.New("not yet")
}

// RotateMasterKey adds a new primary master key to the keyring and re-wraps
// every sealed value's data key under it, in one transaction. It returns how
// many values were re-wrapped.
func RotateMasterKey(ctx context.Context, cfg Config) (int, error) {
	return 0, errors.New("not yet")
}
