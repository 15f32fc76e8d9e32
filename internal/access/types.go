// Package access holds gitaccess's use cases for Git tokens, organizations
// and API keys: who may do what, test-and-save, sealing, and audit. It knows
// the forge, secret and store interfaces and nothing of HTTP or the CLI.
package access

import (
	"errors"
	"fmt"
	"time"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// Principal is an authenticated caller: one API key in one organization.
type Principal struct {
	OrgID   string     `json:"org_id"`
	OrgName string     `json:"org"`
	KeyID   string     `json:"key_id"`
	KeyName string     `json:"key_name"`
	Role    store.Role `json:"role"`
}

// Actor is how audit records name the caller.
func (p Principal) Actor() string { return p.KeyID + " (" + p.KeyName + ")" }

// Token statuses.
const (
	StatusValid    = "valid"
	StatusLimited  = "limited"
	StatusExpiring = "expiring"
	StatusExpired  = "expired"
	StatusInvalid  = "invalid"
)

// ExpiringWithin is how close an expiry must be for a token to be "expiring".
const ExpiringWithin = 30 * 24 * time.Hour

// TokenView is a token as callers see it: everything but the value.
type TokenView struct {
	ID              string        `json:"id"`
	Name            string        `json:"name"`
	Description     string        `json:"description,omitempty"`
	Provider        string        `json:"provider"`
	Host            string        `json:"host"`
	WebURL          string        `json:"web_url"`
	APIURL          string        `json:"api_url"`
	Workspace       string        `json:"workspace,omitempty"`
	HasCABundle     bool          `json:"has_ca_bundle"`
	Uses            []string      `json:"uses"`
	Prefixes        []string      `json:"prefixes"`
	Kind            string        `json:"kind"`
	Identity        string        `json:"identity"`
	Scopes          []string      `json:"scopes"`
	Role            string        `json:"role,omitempty"`
	ExpiresAt       *time.Time    `json:"expires_at,omitempty"`
	Status          string        `json:"status"`
	StatusDetail    string        `json:"status_detail,omitempty"`
	LastValidatedAt *time.Time    `json:"last_validated_at,omitempty"`
	LastUsedAt      *time.Time    `json:"last_used_at,omitempty"`
	Fingerprint     string        `json:"fingerprint"`
	Last4           string        `json:"last4"`
	CreatedAt       time.Time     `json:"created_at"`
	UpdatedAt       time.Time     `json:"updated_at"`
	Report          *forge.Report `json:"report,omitempty"`
	// RateLimit is the provider's budget for the token as last seen on a
	// request gitaccess made with it; only a single token's view fills it.
	RateLimit *TokenRateLimit `json:"rate_limit,omitempty"`
	// Applications are those the token serves (explicitly or by prefix),
	// with when each last used it; only a single token's view fills it.
	Applications []ImpactApp `json:"applications,omitempty"`
}

// AddTokenInput is what a user gives to add a token.
type AddTokenInput struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Provider    string   `json:"provider"`
	URL         string   `json:"url,omitempty"`
	Workspace   string   `json:"workspace,omitempty"`
	CABundle    string   `json:"ca_bundle,omitempty"`
	Uses        []string `json:"uses,omitempty"`
	// Prefixes are the repository URL prefixes this token serves; default:
	// the provider's host (plus the workspace on Bitbucket).
	Prefixes []string     `json:"prefixes,omitempty"`
	Value    secret.Value `json:"value"`
	// AllowMissing saves a token that lacks permissions for its uses, with
	// status "limited", instead of refusing it.
	AllowMissing bool `json:"allow_missing,omitempty"`
}

// TestValueInput tests a value without saving anything.
type TestValueInput struct {
	Provider  string       `json:"provider"`
	URL       string       `json:"url,omitempty"`
	Workspace string       `json:"workspace,omitempty"`
	CABundle  string       `json:"ca_bundle,omitempty"`
	Uses      []string     `json:"uses,omitempty"`
	Value     secret.Value `json:"value"`
}

// UpdateTokenInput changes a token in place; nil fields stay as they are.
// A new Value is tested like a new token before it replaces the old one.
type UpdateTokenInput struct {
	Name         *string       `json:"name,omitempty"`
	Description  *string       `json:"description,omitempty"`
	URL          *string       `json:"url,omitempty"`
	Workspace    *string       `json:"workspace,omitempty"`
	CABundle     *string       `json:"ca_bundle,omitempty"`
	Uses         []string      `json:"uses,omitempty"`
	Prefixes     []string      `json:"prefixes,omitempty"`
	Value        *secret.Value `json:"value,omitempty"`
	AllowMissing bool          `json:"allow_missing,omitempty"`
}

// TokenResult is a saved token with the inspection that admitted it.
type TokenResult struct {
	Token  TokenView    `json:"token"`
	Report forge.Report `json:"report"`
}

// AppInput creates an application.
type AppInput struct {
	Name    string `json:"name"`
	RepoURL string `json:"repo_url"`
	// Branch defaults to the repository's default branch.
	Branch string `json:"branch,omitempty"`
	// Token binds a token by name; empty picks the longest matching prefix.
	Token      string `json:"token,omitempty"`
	Path       string `json:"path,omitempty"`
	AutoDeploy bool   `json:"auto_deploy,omitempty"`
	Previews   bool   `json:"previews,omitempty"`
}

// AppUpdate changes an application; nil fields stay. A change of
// repository, branch or token is proven against the provider first.
type AppUpdate struct {
	Name       *string `json:"name,omitempty"`
	RepoURL    *string `json:"repo_url,omitempty"`
	Branch     *string `json:"branch,omitempty"`
	Token      *string `json:"token,omitempty"`
	Path       *string `json:"path,omitempty"`
	AutoDeploy *bool   `json:"auto_deploy,omitempty"`
	Previews   *bool   `json:"previews,omitempty"`
}

// AppView is an application and the token that serves it, with why.
type AppView struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	RepoURL      string `json:"repo_url"`
	RepoFullName string `json:"repo_full_name"`
	Branch       string `json:"branch"`
	Path         string `json:"path,omitempty"`
	AutoDeploy   bool   `json:"auto_deploy"`
	Previews     bool   `json:"previews"`
	// Token is the name of the token that serves the application now.
	Token string `json:"token"`
	// Binding is "explicit" (bound by name) or "prefix" (longest match).
	Binding string `json:"binding"`
	// Prefix is the matching prefix when Binding is "prefix".
	Prefix string `json:"prefix,omitempty"`
	// Reason says in a sentence why that token serves the application.
	Reason string `json:"reason"`
	// Hook is the application's webhook, when it has one.
	Hook       *HookView  `json:"hook,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// CredentialRequest is what git's credential helper asks for.
type CredentialRequest struct {
	Protocol string `json:"protocol"`
	Host     string `json:"host"`
	Path     string `json:"path"`
	// App, when set, makes its bound token serve its own repository.
	App string `json:"app,omitempty"`
}

// Credential is the smart-HTTP basic-auth pair for a repository. It is the
// one place a token value leaves gitaccess, to git, over the API.
type Credential struct {
	Username string       `json:"username"`
	Password secret.Value `json:"-"`
	Token    string       `json:"token"`
	// Reason says why this token was chosen.
	Reason string `json:"reason"`
}

// RejectResult is what revalidating a token git was refused with found.
type RejectResult struct {
	Token  string `json:"token"`
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// OrgView is an organization.
type OrgView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// APIKeyView is an API key without its secret.
type APIKeyView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       store.Role `json:"role"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// NewAPIKey is a freshly made key: the only time its secret is shown.
type NewAPIKey struct {
	APIKeyView
	Org string `json:"org"`
	// Key is the whole key string to hand to the caller. It is a
	// secret.Value so nothing prints it by accident; the API reveals it
	// exactly once, in the creation response.
	Key secret.Value `json:"-"`
}

// AuditView is one audit record.
type AuditView struct {
	ID      string    `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	Outcome string    `json:"outcome"`
	Detail  string    `json:"detail,omitempty"`
}

// Kind classifies an *Error for callers that branch on it (the API maps it
// to a status code and a problem type).
type Kind string

const (
	KindInvalid              Kind = "invalid-input"
	KindNotFound             Kind = "not-found"
	KindConflict             Kind = "conflict"
	KindForbidden            Kind = "forbidden"
	KindUnauthenticated      Kind = "unauthenticated"
	KindMissingPermissions   Kind = "missing-permissions"
	KindConfirmationRequired Kind = "confirmation-required"
)

// Error is a use-case failure a user can act on.
type Error struct {
	Kind    Kind
	Message string
	// Missing lists missing permissions in the provider's words
	// (KindMissingPermissions).
	Missing []string
	// Report is the inspection behind a refusal, when there was one.
	Report *forge.Report
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil && e.Message == "" {
		return e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorKind returns the Kind of err, or "" when it is not an *Error.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

func errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}
