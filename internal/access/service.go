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
	// publicURL is where providers reach this server (hook URLs).
	publicURL string
	// checkURL vets subscriber URLs (the egress policy).
	checkURL func(string) error
	// newSigningSecret makes subscription secrets (events.NewSecret).
	newSigningSecret func() secret.Value
	// wakeEvents tells the dispatcher new work is due.
	wakeEvents func()
	log        *slog.Logger
	now        func() time.Time
}

// Config assembles a Service.
type Config struct {
	Store  store.Store
	Sealer Sealer
	Forges Forges
	// Mirrors is the server's mirror cache; nil disables archives.
	Mirrors Mirrors
	// PublicURL is how providers reach this server; hooks need it.
	PublicURL string
	// CheckURL vets subscriber URLs; nil accepts any.
	CheckURL func(string) error
	// NewSigningSecret makes subscription signing secrets.
	NewSigningSecret func() secret.Value
	// WakeEvents, when set, is called after events are replayed.
	WakeEvents func()
	Logger     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New returns a Service.
func New(c Config) *Service {
	s := &Service{store: c.Store, sealer: c.Sealer, forges: c.Forges, mirrors: c.Mirrors, log: c.Logger, now: c.Now,
		publicURL: c.PublicURL, checkURL: c.CheckURL, newSigningSecret: c.NewSigningSecret, wakeEvents: c.WakeEvents}
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
