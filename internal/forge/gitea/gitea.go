// Package gitea is gitaccess's adapter for Gitea and Forgejo (which forked
// Gitea and keeps its /api/v1 and webhook formats; Codeberg is a Forgejo
// instance). It speaks to the few endpoints it needs through a thin client of
// its own rather than code.gitea.io/sdk/gitea: the SDK keeps one context and
// the token as plain strings on a shared client, asks /version on creation,
// flattens errors to strings (losing the status and Gitea's scope message),
// and would add four modules to go.mod for about ten requests.
//
// Gitea does not reveal a token's scopes to the token itself (GET
// /users/{name}/tokens takes basic auth only, routers/api/v1/api.go
// reqBasicOrRevProxyAuth), so Inspect proves them by probing: Gitea checks
// scopes before anything else on a route and answers 403 "token does not
// have at least one of required scope(s): [read:repository]" when one is
// missing (tokenRequiresScopes), read for GET and write for POST, PUT, PATCH
// and DELETE.
package gitea

import (
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
)

// Provider is Gitea's provider name (it serves Forgejo too).
const Provider = forge.Gitea

// KindAccessToken is a Gitea or Forgejo access token (Settings >
// Applications), the only kind gitaccess accepts here.
const KindAccessToken forge.TokenKind = "gitea-access-token"

// apiPath is where Gitea serves its REST API under its root URL.
const apiPath = "/api/v1"

// Forge talks to Gitea and Forgejo instances under an egress policy.
type Forge struct {
	policy egress.Policy
	logger *slog.Logger
	now    func() time.Time
	wrap   forge.WrapTransport
}

// WithTransport installs w on every client the adapter builds (the
// server's rate-limit tracker). Call it before the adapter is used.
func (f *Forge) WithTransport(w forge.WrapTransport) *Forge {
	f.wrap = w
	return f
}

var (
	_ forge.Forge    = (*Forge)(nil)
	_ forge.Hooks    = (*Forge)(nil)
	_ forge.Webhooks = (*Forge)(nil)
)

// New returns the adapter. Every request it makes goes through a client
// built by policy; a nil logger discards.
func New(policy egress.Policy, logger *slog.Logger) *Forge {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Forge{policy: policy, logger: logger, now: time.Now}
}

// Provider is "gitea", for Gitea and Forgejo alike.
func (f *Forge) Provider() forge.Provider { return Provider }

// ResolveEndpoint turns the address a user typed into Gitea's root URL and
// its API root. There is no cloud default: every Gitea or Forgejo, Codeberg
// included, is named by its URL. A root URL may carry a sub-path
// (ROOT_URL = https://host/gitea/); a trailing /api/v1 is accepted and
// dropped. User input is never echoed, so a token pasted into the wrong
// field cannot land in an error.
func (f *Forge) ResolveEndpoint(rawURL, workspace string) (forge.Endpoint, error) {
	bad := func(reason string) (forge.Endpoint, error) {
		return forge.Endpoint{}, &forge.InvalidInputError{Field: "url", Reason: reason}
	}
	if strings.TrimSpace(workspace) != "" {
		return forge.Endpoint{}, &forge.InvalidInputError{Field: "workspace",
			Reason: "Gitea and Forgejo have no workspaces; leave it empty (it is for Bitbucket)"}
	}
	raw := strings.TrimSpace(rawURL)
	if raw == "" {
		return bad("a Gitea or Forgejo URL is required, such as https://gitea.example.com or https://codeberg.org")
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("the Gitea URL cannot be parsed; give its address, such as https://gitea.example.com")
	}
	switch {
	case u.User != nil:
		return bad("the Gitea URL carries a user name or password; give the address alone (the token goes in its own field)")
	case u.RawQuery != "" || u.ForceQuery:
		return bad("the Gitea URL has a query (?...); give the address alone, such as https://gitea.example.com")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("the Gitea URL has a fragment (#...); give the address alone, such as https://gitea.example.com")
	case u.Opaque != "" || u.Host == "":
		return bad("the Gitea URL has no host; give its address, such as https://gitea.example.com")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return bad("the Gitea URL must start with https://")
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	path = strings.TrimRight(strings.TrimSuffix(path, apiPath), "/")
	web := scheme + "://" + strings.ToLower(u.Host) + path
	ep := forge.Endpoint{Provider: Provider, WebURL: web, APIURL: web + apiPath}
	if err := f.policy.CheckURL(ep.APIURL); err != nil {
		return bad(err.Error())
	}
	return ep, nil
}
