package access

import (
	"context"
	"log/slog"
	"time"

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
	store  store.Store
	sealer Sealer
	forges Forges
	log    *slog.Logger
	now    func() time.Time
}

// Config assembles a Service.
type Config struct {
	Store  store.Store
	Sealer Sealer
	Forges Forges
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New returns a Service.
func New(c Config) *Service {
	s := &Service{store: c.Store, sealer: c.Sealer, forges: c.Forges, log: c.Logger, now: c.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// BootstrapOrg is the organization an empty store starts with.
const BootstrapOrg = "default"

// Bootstrap creates the organization "default" and an Owner API key when
// the store has no organization. created is false (and key zero) otherwise.
func (s *Service) Bootstrap(ctx context.Context) (key secret.Value, created bool, err error) {
	panic("not yet")
}

// Authenticate resolves an API key string to its Principal.
func (s *Service) Authenticate(ctx context.Context, rawKey secret.Value) (Principal, error) {
	panic("not yet")
}

// AddToken tests the value with the provider and saves it when it
// authenticates and holds what its uses need (or AllowMissing is set).
// Nothing is saved on any failure.
func (s *Service) AddToken(ctx context.Context, p Principal, in AddTokenInput) (TokenResult, error) {
	panic("not yet")
}

// TestValue inspects a value without saving anything.
func (s *Service) TestValue(ctx context.Context, p Principal, in TestValueInput) (forge.Report, error) {
	panic("not yet")
}

// TestToken re-inspects a saved token and records the outcome (status,
// scopes, expiry, last validated).
func (s *Service) TestToken(ctx context.Context, p Principal, name string) (TokenResult, error) {
	panic("not yet")
}

// ListTokens pages through the organization's tokens by name.
func (s *Service) ListTokens(ctx context.Context, p Principal, page store.Page) ([]TokenView, string, error) {
	panic("not yet")
}

// GetToken returns one token with its last report.
func (s *Service) GetToken(ctx context.Context, p Principal, name string) (TokenView, error) {
	panic("not yet")
}

// UpdateToken changes a token in place; a new value or URL is tested first.
func (s *Service) UpdateToken(ctx context.Context, p Principal, name string, in UpdateTokenInput) (TokenResult, error) {
	panic("not yet")
}

// DeleteToken deletes a token. confirm must equal the token's name: the
// caller proves it means this token.
func (s *Service) DeleteToken(ctx context.Context, p Principal, name, confirm string) error {
	panic("not yet")
}

// CreateOrg creates an organization and an Owner key for it. Only Owners
// of the bootstrap organization (the instance's operators) may.
func (s *Service) CreateOrg(ctx context.Context, p Principal, name string) (OrgView, NewAPIKey, error) {
	panic("not yet")
}

// ListOrgs lists the organizations the caller can see: all of them for
// instance Owners, its own otherwise.
func (s *Service) ListOrgs(ctx context.Context, p Principal) ([]OrgView, error) {
	panic("not yet")
}

// CreateAPIKey makes a key in the caller's organization. Owners and Admins
// may; nobody may make a key with a role above their own.
func (s *Service) CreateAPIKey(ctx context.Context, p Principal, name string, role store.Role) (NewAPIKey, error) {
	panic("not yet")
}

// ListAPIKeys lists the organization's keys (Owner, Admin).
func (s *Service) ListAPIKeys(ctx context.Context, p Principal) ([]APIKeyView, error) {
	panic("not yet")
}

// RevokeAPIKey revokes a key of the caller's organization (Owner, Admin).
func (s *Service) RevokeAPIKey(ctx context.Context, p Principal, id string) error {
	panic("not yet")
}

// ListAudit pages the organization's audit records, newest first.
func (s *Service) ListAudit(ctx context.Context, p Principal, page store.Page) ([]AuditView, string, error) {
	panic("not yet")
}

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }
