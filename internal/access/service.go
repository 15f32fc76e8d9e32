package access

import (
	"context"
	"log/slog"
	"time"

	"github.com/gitaccess/gitaccess/internal/audit"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// Sealer seals token values for storage. ad (associated data) binds a
// ciphertext to its row: a ciphertext copied to another row does not open.
type Sealer interface {
	Seal(v secret.Value, ad []byte) ([]byte, error)
	Open(sealed, ad []byte) (secret.Value, error)
}

// Forges finds the adapter for a provider.
type Forges interface {
	Forge(p forge.Provider) (forge.Forge, bool)
}

// ForgeMap is the simple Forges.
type ForgeMap map[forge.Provider]forge.Forge

// Forge implements Forges.
func (m ForgeMap) Forge(p forge.Provider) (forge.Forge, bool) { f, ok := m[p]; return f, ok }

// Service runs the use cases. Every method that acts for a caller takes its
// Principal and checks its role first.
type Service struct {
	store   store.Store
	sealer  Sealer
	forges  Forges
	mirrors Mirrors
	audit   *audit.Log
	log     *slog.Logger
	now     func() time.Time
}

// Config assembles a Service.
type Config struct {
	Store  store.Store
	Sealer Sealer
	Forges Forges
	// Mirrors is the server's mirror cache; nil disables archives.
	Mirrors Mirrors
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New returns a Service.
func New(c Config) *Service {
	s := &Service{store: c.Store, sealer: c.Sealer, forges: c.Forges, mirrors: c.Mirrors, log: c.Logger, now: c.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.audit = audit.New(c.Store, s.now, s.log)
	return s
}

// BootstrapOrg is the organization an empty store starts with.
const BootstrapOrg = "default"

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }
