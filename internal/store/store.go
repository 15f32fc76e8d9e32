// Package store persists gitaccess's state behind one interface with two
// engines: embedded SQLite (the default) and PostgreSQL (for replicas). Both
// run the same migrations' intent and pass the same test suite.
package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrNotFound means no row matched.
var ErrNotFound = errors.New("not found")

// ErrPrefixTaken means another token of the organization already serves
// one of the URL prefixes. errors.Is(err, ErrConflict) holds too.
var ErrPrefixTaken = fmt.Errorf("%w: URL prefix already served by another token", ErrConflict)

// ErrInUse means a row is still referenced (a token bound to applications).
// errors.Is(err, ErrConflict) holds too.
var ErrInUse = fmt.Errorf("%w: still in use", ErrConflict)

// ErrConflict means a uniqueness rule was broken (e.g. a token name already
// used in the organization) or an optimistic version check failed.
var ErrConflict = errors.New("conflict")

// Role is a member's role in one organization.
type Role string

const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleDevOps Role = "devops"
	RoleMember Role = "member"
	// RoleBuilder is for build workers: it resolves clone credentials and
	// reads applications and their archives, nothing else.
	RoleBuilder Role = "builder"
)

// Org is a tenant: everything else belongs to exactly one.
type Org struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// APIKey authenticates one caller in one organization. Only a hash of the
// secret part is stored.
type APIKey struct {
	ID         string // public identifier, also embedded in the key string
	OrgID      string
	Name       string
	Role       Role
	Hash       []byte // SHA-256 of the secret part
	CreatedAt  time.Time
	CreatedBy  string
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// Token is a Git provider token's metadata and its sealed value.
type Token struct {
	ID          string
	OrgID       string
	Name        string // unique per organization
	Description string
	Provider    string
	WebURL      string
	APIURL      string
	Workspace   string
	CABundle    []byte // PEM, public
	Uses        []string
	Kind        string
	Identity    string
	Scopes      []string
	Role        string
	ExpiresAt   *time.Time
	Status      string
	// StatusDetail says why the status is what it is, in words a user reads.
	StatusDetail string
	// Report is the last inspection report as JSON.
	Report          []byte
	LastValidatedAt *time.Time
	LastUsedAt      *time.Time
	Fingerprint     string
	Last4           string
	// Prefixes are the URL prefixes the token serves, each ending in "/",
	// unique within the organization; the longest matching prefix picks
	// the token for a repository URL.
	Prefixes []string
	// Sealed is the envelope-encrypted value, bound to ID as associated data.
	Sealed    []byte
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version increments on every update; UpdateToken refuses a stale one.
	Version int64
}

// App binds a repository and branch to a token (explicitly, or by the
// longest URL prefix when TokenID is empty).
type App struct {
	ID    string
	OrgID string
	Name  string // unique per organization
	// RepoURL is the normalized repository URL: https://HOST/PATH, no
	// ".git", no trailing slash.
	RepoURL      string
	RepoFullName string
	Branch       string
	// TokenID binds a token explicitly; empty means prefix matching.
	TokenID    string
	Path       string // build context directory within the repository
	AutoDeploy bool
	Previews   bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
	LastUsedAt *time.Time
	Version    int64
}

// AuditRecord is one append-only audit entry.
type AuditRecord struct {
	ID      string
	OrgID   string
	At      time.Time
	Actor   string // API key id and name, e.g. "key_abc (ci-bot)"
	Action  string // e.g. "token.create", "token.test", "authz.denied"
	Target  string // e.g. "token/acme-ci"
	Outcome string // "success", "denied", "failure"
	Detail  string
}

// Page asks for one page of a list ordered by a stable key. After is the
// cursor returned as Next by the previous page (empty for the first).
type Page struct {
	After string
	Limit int
}

// Page sizes: one request can never pull a whole table, however many rows
// an organization has.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

// Size is how many items p asks for: Limit within (0, MaxPageLimit], or
// DefaultPageLimit when Limit is unset or negative.
func (p Page) Size() int {
	switch {
	case p.Limit <= 0:
		return DefaultPageLimit
	case p.Limit > MaxPageLimit:
		return MaxPageLimit
	}
	return p.Limit
}

// ErrInvalidCursor means a Page.After was not a cursor the store handed out
// (cursors reach the API from users, so this is bad input, not a fault).
var ErrInvalidCursor = errors.New("invalid page cursor")

// AuditCursor is the opaque cursor after the audit record at/id. Both parts
// are needed: several records can share a timestamp, and the id orders them.
// Both engines use this one encoding.
func AuditCursor(at time.Time, id string) string {
	raw := strconv.FormatInt(at.UnixMicro(), 10) + ":" + id
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// ParseAuditCursor reverses AuditCursor; the error wraps ErrInvalidCursor.
func ParseAuditCursor(c string) (at time.Time, id string, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("audit cursor: %w", ErrInvalidCursor)
	}
	micros, id, ok := strings.Cut(string(raw), ":")
	n, perr := strconv.ParseInt(micros, 10, 64)
	if !ok || perr != nil || id == "" {
		return time.Time{}, "", fmt.Errorf("audit cursor: %w", ErrInvalidCursor)
	}
	return time.UnixMicro(n).UTC(), id, nil
}

// SealedRow is one sealed value anywhere in the store, for re-wrapping under
// a new master key. Table and ID together are its associated-data binding.
type SealedRow struct {
	Table  string
	ID     string
	Sealed []byte
	// Version is the row's version when SealedRows read it. ReplaceSealed
	// refuses a row changed since (ErrConflict), so a value updated during
	// a re-wrap is not overwritten with the re-wrapped old one.
	Version int64
}

// Store is everything gitaccess persists. Implementations are safe for
// concurrent use.
type Store interface {
	Ping(ctx context.Context) error
	Close() error

	CreateOrg(ctx context.Context, o Org) error
	GetOrg(ctx context.Context, id string) (Org, error)
	GetOrgByName(ctx context.Context, name string) (Org, error)
	ListOrgs(ctx context.Context) ([]Org, error)

	CreateAPIKey(ctx context.Context, k APIKey) error
	GetAPIKey(ctx context.Context, id string) (APIKey, error)
	ListAPIKeys(ctx context.Context, orgID string) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, orgID, id string, at time.Time) error
	TouchAPIKey(ctx context.Context, id string, at time.Time) error

	// CreateToken inserts t with its Prefixes; ErrConflict when the name is
	// taken in its org, ErrPrefixTaken when a prefix is.
	CreateToken(ctx context.Context, t Token) error
	// GetToken finds a token by name within an org, including Sealed.
	GetToken(ctx context.Context, orgID, name string) (Token, error)
	// ListTokens pages through an org's tokens ordered by name, without
	// Sealed or Report (neither is shown in a listing). next is empty on the last page.
	ListTokens(ctx context.Context, orgID string, p Page) (tokens []Token, next string, err error)
	// UpdateToken writes every field of t where ID and Version match, and
	// bumps Version, replacing its prefix set with t.Prefixes; ErrConflict
	// when the version is stale or the new name is taken, ErrPrefixTaken
	// when a prefix is, ErrNotFound when the token is gone.
	UpdateToken(ctx context.Context, t Token) (Token, error)
	// DeleteToken deletes a token and its prefixes; ErrInUse while
	// applications are bound to it.
	DeleteToken(ctx context.Context, orgID, id string) error

	// MatchPrefix finds the token (with Sealed) whose prefix is the longest
	// one that rawURL starts with, and that prefix; ErrNotFound when none.
	MatchPrefix(ctx context.Context, orgID, rawURL string) (Token, string, error)
	// GetTokenByID finds a token by id within an org, including Sealed.
	GetTokenByID(ctx context.Context, orgID, id string) (Token, error)
	// TouchToken moves a token's last-used time forward (never back).
	TouchToken(ctx context.Context, id string, at time.Time) error

	// CreateApp inserts a; ErrConflict when the name is taken, ErrNotFound
	// when the org or the bound token does not exist.
	CreateApp(ctx context.Context, a App) error
	GetApp(ctx context.Context, orgID, name string) (App, error)
	// GetAppByID finds an application by id within an org.
	GetAppByID(ctx context.Context, orgID, id string) (App, error)
	// ListApps pages an org's applications by name.
	ListApps(ctx context.Context, orgID string, p Page) (apps []App, next string, err error)
	// ListAppsByToken lists the applications bound explicitly to a token.
	ListAppsByToken(ctx context.Context, orgID, tokenID string) ([]App, error)
	// UpdateApp is optimistic like UpdateToken.
	UpdateApp(ctx context.Context, a App) (App, error)
	DeleteApp(ctx context.Context, orgID, id string) error
	// TouchApp moves an application's last-used time forward.
	TouchApp(ctx context.Context, id string, at time.Time) error

	// AppendAudit records an entry; records are never changed or removed.
	AppendAudit(ctx context.Context, r AuditRecord) error
	// ListAudit pages newest first.
	ListAudit(ctx context.Context, orgID string, p Page) (records []AuditRecord, next string, err error)

	WebhookStore
	LifecycleStore
	ConsoleStore
	RateLimitStore

	// SealedRows returns every sealed value in the store.
	SealedRows(ctx context.Context) ([]SealedRow, error)
	// ReplaceSealed swaps sealed values in one transaction: all or nothing.
	ReplaceSealed(ctx context.Context, rows []SealedRow) error
}
