// Package forge defines what gitaccess needs from every Git provider
// (GitHub, GitLab, Bitbucket Cloud, and later Gitea and Azure DevOps) and the
// provider-neutral types and errors its adapters return.
package forge

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/secret"
)

// Provider names a family of Git hosting APIs.
type Provider string

const (
	GitHub    Provider = "github"
	GitLab    Provider = "gitlab"
	Bitbucket Provider = "bitbucket"
	// Gitea also serves Forgejo, its fork, whose API is the same.
	Gitea Provider = "gitea"
)

// Providers lists the providers gitaccess supports, in display order.
var Providers = []Provider{GitHub, GitLab, Bitbucket, Gitea}

// Use is something gitaccess does with a token; each needs its own
// permissions on the provider.
type Use string

const (
	UseClone        Use = "clone"
	UseWebhooks     Use = "webhooks"
	UsePullRequests Use = "pull-requests"
)

// AllUses is the default set of uses for a new token.
var AllUses = []Use{UseClone, UseWebhooks, UsePullRequests}

// ParseUses parses a comma-separated list such as "clone,webhooks".
func ParseUses(s string) ([]Use, error) {
	var out []Use
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		u := Use(p)
		if !slices.Contains(AllUses, u) {
			return nil, &InvalidInputError{Field: "use", Reason: "unknown use " + strings.TrimSpace(p) + "; choose from clone, webhooks, pull-requests"}
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		return nil, &InvalidInputError{Field: "use", Reason: "at least one use is needed: clone, webhooks, pull-requests"}
	}
	return out, nil
}

// TokenKind says what sort of credential a token is, as the provider calls it.
type TokenKind string

const (
	KindGitHubClassicPAT     TokenKind = "github-classic-pat"
	KindGitHubFineGrainedPAT TokenKind = "github-fine-grained-pat"
	KindGitHubOAuth          TokenKind = "github-oauth"
	KindGitHubApp            TokenKind = "github-app-installation"
	KindGitLabPersonal       TokenKind = "gitlab-personal"
	KindGitLabGroup          TokenKind = "gitlab-group"
	KindGitLabProject        TokenKind = "gitlab-project"
	KindBitbucketRepository  TokenKind = "bitbucket-repository"
	KindBitbucketProject     TokenKind = "bitbucket-project"
	KindBitbucketWorkspace   TokenKind = "bitbucket-workspace"
	KindBitbucketAppPassword TokenKind = "bitbucket-app-password"
	KindUnknown              TokenKind = "unknown"
)

// Endpoint says where a provider lives. WebURL is what users type and what
// repository URLs start with; APIURL is where the REST API answers.
type Endpoint struct {
	Provider Provider `json:"provider"`
	// WebURL is the provider's web root without a trailing slash, e.g.
	// https://github.com, https://ghe.example.com, https://gitlab.com.
	WebURL string `json:"web_url"`
	// APIURL is the REST root without a trailing slash, e.g.
	// https://api.github.com, https://ghe.example.com/api/v3,
	// https://gitlab.com/api/v4, https://api.bitbucket.org/2.0.
	APIURL string `json:"api_url"`
	// Workspace is the Bitbucket workspace a token belongs to (empty elsewhere).
	Workspace string `json:"workspace,omitempty"`
	// CABundle is PEM added to the system roots for this endpoint only.
	CABundle []byte `json:"-"`
}

// Credential is a token at an endpoint.
type Credential struct {
	Endpoint Endpoint
	Token    secret.Value
	// TokenID is the saved token's id, empty for a value not saved yet.
	// Adapters hand it to their WrapTransport, which keeps each saved
	// token's rate limit.
	TokenID string
}

// CheckStatus is the verdict on one use.
type CheckStatus string

const (
	CheckOK      CheckStatus = "ok"      // every permission the use needs is proven
	CheckMissing CheckStatus = "missing" // at least one needed permission is absent
	CheckUnknown CheckStatus = "unknown" // nothing missing, but not all could be proven
)

// UseCheck compares what a use needs with what the token holds. Permission
// names are the provider's own words ("repo", "admin:repo_hook",
// "read_repository", "Webhooks: Read and write", "Maintainer role"...).
type UseCheck struct {
	Use     Use         `json:"use"`
	Status  CheckStatus `json:"status"`
	Needs   []string    `json:"needs"`
	Proven  []string    `json:"proven,omitempty"`
	Missing []string    `json:"missing,omitempty"`
	Unknown []string    `json:"unknown,omitempty"`
	// Detail explains the verdict in a sentence a user can act on.
	Detail string `json:"detail,omitempty"`
}

// RateLimit is the provider's budget as it last reported it.
type RateLimit struct {
	Limit     int       `json:"limit"`
	Remaining int       `json:"remaining"`
	Reset     time.Time `json:"reset"`
}

// Report is what inspecting a token found.
type Report struct {
	Provider Provider  `json:"provider"`
	Host     string    `json:"host"`
	Kind     TokenKind `json:"kind"`
	// Identity is the login, username or workspace the token acts as.
	Identity string `json:"identity"`
	// IdentityName is a display name where the provider gives one.
	IdentityName string `json:"identity_name,omitempty"`
	// Scopes are the scopes or permissions the provider reports, in its words.
	Scopes []string `json:"scopes"`
	// Role is the token's role where it has one (GitLab access level of a
	// group or project token, e.g. "Maintainer").
	Role      string     `json:"role,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Checks    []UseCheck `json:"checks"`
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	// Requests counts provider API calls made while inspecting.
	Requests int `json:"requests"`
	// Notes carry anything else a user should know (e.g. permissions a
	// fine-grained token does not reveal).
	Notes []string `json:"notes,omitempty"`
}

// Missing returns the missing permissions across the given uses, in order,
// without duplicates.
func (r Report) Missing(uses []Use) []string {
	var out []string
	for _, c := range r.Checks {
		if !slices.Contains(uses, c.Use) {
			continue
		}
		for _, m := range c.Missing {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

// Forge is one provider adapter.
type Forge interface {
	Provider() Provider
	// ResolveEndpoint turns what a user typed (empty for the provider's
	// cloud) into an Endpoint, refusing what cannot be right.
	ResolveEndpoint(rawURL, workspace string) (Endpoint, error)
	// Inspect authenticates the token and reports its identity, kind,
	// scopes, expiry and a check per use. It returns a typed error
	// (*AuthError, *RateLimitedError, *UnreachableError, *ProviderError)
	// when the provider cannot be asked or refuses the token.
	Inspect(ctx context.Context, cred Credential, uses []Use) (Report, error)
	Browser
	Hooks
	Webhooks
}

// Rotator is what a provider that can rotate a token through its own API
// offers (GitLab's rotate endpoints): the provider revokes the old value
// at once and returns a new one. Optional: adapters without such an API
// do not implement it.
type Rotator interface {
	// Rotate exchanges cred's token for a new value, valid until
	// expiresAt when given (the provider's default otherwise), and
	// returns the new value and the expiry the provider set.
	Rotate(ctx context.Context, cred Credential, expiresAt *time.Time) (Rotated, error)
}

// Rotated is a provider-issued replacement value.
type Rotated struct {
	Value     secret.Value
	ExpiresAt *time.Time
}
