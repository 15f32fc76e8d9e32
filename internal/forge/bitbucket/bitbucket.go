// Package bitbucket is gitaccess's adapter for Bitbucket Cloud. It accepts
// repository, project and workspace access tokens (Bearer-only, tied to a
// resource rather than a user) and learns what a token is from the headers
// Bitbucket puts on every answer: X-Credential-Type names the kind and
// X-OAuth-Scopes the scopes, so one listing request identifies a token.
// Bitbucket Data Center, a different API, is not supported yet.
package bitbucket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
)

const (
	webURL  = "https://bitbucket.org"
	apiURL  = "https://api.bitbucket.org/2.0"
	webHost = "bitbucket.org"
)

// Forge is the Bitbucket Cloud adapter.
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

var _ forge.Forge = (*Forge)(nil)

// New returns the adapter; every request it makes goes through policy. A
// nil logger discards.
func New(policy egress.Policy, logger *slog.Logger) *Forge {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Forge{policy: policy, logger: logger, now: time.Now}
}

// Provider is forge.Bitbucket.
func (f *Forge) Provider() forge.Provider { return forge.Bitbucket }

// ResolveEndpoint accepts Bitbucket Cloud only (an empty URL, bitbucket.org
// or api.bitbucket.org) and requires the workspace, since repository URLs
// and workspace tokens are scoped by it. User input is never echoed: a token
// pasted into the wrong field must not land in an error.
func (f *Forge) ResolveEndpoint(rawURL, workspace string) (forge.Endpoint, error) {
	if err := checkCloudURL(rawURL); err != nil {
		return forge.Endpoint{}, err
	}
	ws, err := normalizeWorkspace(workspace)
	if err != nil {
		return forge.Endpoint{}, err
	}
	return forge.Endpoint{Provider: forge.Bitbucket, WebURL: webURL, APIURL: apiURL, Workspace: ws}, nil
}

func checkCloudURL(raw string) error {
	s := strings.TrimSpace(raw)
	if s == "" {
		return nil
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err == nil && u.User != nil {
		return &forge.InvalidInputError{Field: "url", Reason: "the URL carries credentials; leave them out and give the token as the value"}
	}
	if err == nil && u.Scheme == "https" && u.Port() == "" && u.RawQuery == "" && u.Fragment == "" {
		host, p := strings.ToLower(u.Hostname()), strings.TrimSuffix(u.Path, "/")
		switch host {
		case "bitbucket.org", "www.bitbucket.org":
			if p == "" {
				return nil
			}
			return &forge.InvalidInputError{Field: "url", Reason: "give https://bitbucket.org without a path (or leave the URL empty) and the workspace separately"}
		case "api.bitbucket.org":
			if p == "" || p == "/2.0" {
				return nil
			}
		}
	}
	return &forge.InvalidInputError{Field: "url", Reason: "gitaccess supports Bitbucket Cloud only (https://bitbucket.org); Bitbucket Data Center is not supported yet. Leave the URL empty for Bitbucket Cloud"}
}

// normalizeWorkspace checks a workspace ID: lowercase letters and digits,
// with - and _ after the first character (Atlassian, "Change a workspace
// ID"; IDs such as kosli-dev exist). The length bound is a sanity limit,
// not Bitbucket's.
func normalizeWorkspace(s string) (string, error) {
	ws := strings.ToLower(strings.TrimSpace(s))
	if ws == "" {
		return "", &forge.InvalidInputError{Field: "workspace", Reason: "a Bitbucket workspace is required: the first part of your repository URLs, e.g. acme in https://bitbucket.org/acme/app"}
	}
	ok := len(ws) <= 100
	for i, r := range ws {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || i > 0 && (r == '-' || r == '_')) {
			ok = false
		}
	}
	if !ok {
		return "", &forge.InvalidInputError{Field: "workspace", Reason: "not a Bitbucket workspace ID: use the ID from your repository URLs (acme in https://bitbucket.org/acme/app), made of letters, digits, - and _"}
	}
	return ws, nil
}

// Inspect identifies the token with one request, GET
// /2.0/repositories/{workspace}?pagelen=1: its headers give the kind and
// scopes, and the one repository it returns names the repository or project
// a narrower token belongs to.
func (f *Forge) Inspect(ctx context.Context, cred forge.Credential, uses []forge.Use) (forge.Report, error) {
	if cred.Endpoint.Provider != "" && cred.Endpoint.Provider != forge.Bitbucket {
		return forge.Report{}, &forge.InvalidInputError{Field: "provider", Reason: fmt.Sprintf("this credential is for %s, not Bitbucket", forge.Title(cred.Endpoint.Provider))}
	}
	raw := cred.Endpoint.APIURL
	if raw == "" {
		raw = cred.Endpoint.WebURL
	}
	ep, err := f.ResolveEndpoint(raw, cred.Endpoint.Workspace)
	if err != nil {
		return forge.Report{}, err
	}
	ep.CABundle = cred.Endpoint.CABundle
	if cred.Token.IsZero() {
		return forge.Report{}, &forge.InvalidInputError{Field: "value", Reason: "the token is empty; paste the access token Bitbucket showed when it was created"}
	}
	if len(uses) == 0 {
		uses = forge.AllUses
	}
	c, err := newClient(f.policy, ep, cred.Token, f.logger, f.now)
	if err != nil {
		return forge.Report{}, err
	}
	c.HTTP.Transport = f.wrap.Wrap(forge.Bitbucket, cred, c.HTTP.Transport)

	ws := ep.Workspace
	var (
		header  http.Header
		first   *repository
		refusal *statusError
	)
	a, err := c.do(ctx, http.MethodGet, c.endpoint(url.Values{"pagelen": {"1"}}, "repositories", ws), nil)
	switch {
	case err == nil:
		header = a.Header
		var p page[repository]
		if err := c.decode(a, "the repository list", &p); err != nil {
			return forge.Report{}, err
		}
		if len(p.Values) > 0 {
			first = &p.Values[0]
		}
	case errors.As(err, &refusal) && refusal.Status == http.StatusForbidden:
		// A token without the repository scope is refused here, but the
		// headers still carry its kind and scopes.
		header = refusal.Header
	case errors.As(err, &refusal) && refusal.Status == http.StatusNotFound:
		return forge.Report{}, &forge.InvalidInputError{Field: "workspace", Reason: fmt.Sprintf(
			"Bitbucket knows no workspace %q that this token can see (%s); give the workspace ID from your repository URLs, bitbucket.org/WORKSPACE/REPOSITORY", ws, refusal.Message)}
	default:
		return forge.Report{}, c.providerError(err)
	}

	credType := strings.TrimSpace(header.Get("X-Credential-Type"))
	scopes, scopesKnown := parseScopes(header)
	rep := forge.Report{
		Provider: forge.Bitbucket,
		Host:     webHost,
		Kind:     kindOf(credType),
		Identity: ws,
		Scopes:   scopes,
	}

	switch rep.Kind {
	case forge.KindBitbucketRepository:
		switch {
		case first != nil:
			rep.Identity, rep.IdentityName = first.FullName, first.Name
			rep.Notes = append(rep.Notes, "A repository access token reaches one repository: "+first.FullName+".")
		case refusal == nil:
			// It always sees its own repository, so it belongs elsewhere.
			return forge.Report{}, &forge.InvalidInputError{Field: "workspace", Reason: fmt.Sprintf(
				"this repository access token sees no repository in workspace %q; give the workspace its repository is in (the first part of the repository URL)", ws)}
		}
	case forge.KindBitbucketProject:
		if first != nil {
			rep.Identity, rep.IdentityName = ws+"/"+first.Project.Key, first.Project.Name
			rep.Notes = append(rep.Notes, fmt.Sprintf("A project access token reaches the repositories of project %s in workspace %s.", first.Project.Key, ws))
		} else if refusal == nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("This project access token sees no repository in workspace %s: its project is empty, or it belongs to another workspace.", ws))
		}
	case forge.KindBitbucketWorkspace:
		if first != nil {
			rep.IdentityName = first.Workspace.Name
		}
		rep.Notes = append(rep.Notes, fmt.Sprintf("A workspace access token reaches every repository in workspace %s.", ws))
	default:
		if credType == "" {
			rep.Notes = append(rep.Notes, "Bitbucket did not say what kind of credential this is (no X-Credential-Type header).")
		} else {
			rep.Notes = append(rep.Notes, fmt.Sprintf("Bitbucket calls this credential %q; gitaccess supports repository, project and workspace access tokens.", credType))
		}
	}
	if refusal != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("Bitbucket refused to list the repositories of %s (HTTP %d): %s", ws, refusal.Status, refusal.Message))
	}

	for _, u := range uses {
		rep.Checks = append(rep.Checks, check(u, rep.Kind, scopes, scopesKnown))
	}

	// Bitbucket documents no API that reveals an access token's expiry.
	rep.Notes = append(rep.Notes, "Bitbucket does not reveal an access token's expiry date; if one was set, rotate the token before it, as gitaccess cannot warn.")
	if limit := header.Get("X-RateLimit-Limit"); limit != "" {
		rep.Notes = append(rep.Notes, fmt.Sprintf("Bitbucket allows this token %s requests an hour to its repository API and does not report how many remain.", limit))
		if strings.EqualFold(header.Get("X-RateLimit-NearLimit"), "true") {
			rep.Notes = append(rep.Notes, "Bitbucket reports this token has used more than four fifths of its hourly requests.")
		}
	}
	rep.Requests = c.Requests

	f.logger.InfoContext(ctx, "bitbucket token inspected", "workspace", ws, "kind", rep.Kind,
		"identity", rep.Identity, "missing", rep.Missing(uses), "requests", rep.Requests)
	return rep, nil
}

// kindOf maps X-Credential-Type: repo_access_token is in Atlassian's KB
// "How to fetch the scope of a token via command line"; the project and
// workspace spellings are as third-party clients report them.
func kindOf(credType string) forge.TokenKind {
	switch credType {
	case "repo_access_token":
		return forge.KindBitbucketRepository
	case "project_access_token":
		return forge.KindBitbucketProject
	case "workspace_access_token":
		return forge.KindBitbucketWorkspace
	}
	return forge.KindUnknown
}

// parseScopes reads X-OAuth-Scopes, a comma-separated list; known is false
// when the header is absent, so nothing can be proven.
func parseScopes(h http.Header) (scopes []string, known bool) {
	vals := h.Values("X-OAuth-Scopes")
	scopes = []string{}
	for _, v := range vals {
		for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	return scopes, len(vals) > 0
}

// need is one permission a use requires, as the token-creation screen
// names it and as the API scope it grants.
type need struct {
	label string
	scope string
}

func needsFor(u forge.Use) []need {
	switch u {
	case forge.UseClone:
		return []need{{"Repositories: Read (repository)", "repository"}}
	case forge.UseWebhooks:
		// Subscribing a hook to events needs each event's scope besides
		// webhook: repository for repo:push, pullrequest for
		// pullrequest:* (API reference, "Create a webhook for a
		// repository"); pullrequest implies repository.
		return []need{{"Webhooks: Read and write (webhook)", "webhook"}, {"Pull requests: Read (pullrequest)", "pullrequest"}}
	case forge.UsePullRequests:
		return []need{{"Pull requests: Write (pullrequest:write)", "pullrequest:write"}}
	}
	return nil
}

// holds expands granted scopes by Bitbucket's documented implications
// (developer.atlassian.com, "Scopes for the Bitbucket Cloud REST API"):
// repository:write implies repository; pullrequest implies repository;
// pullrequest:write implies pullrequest and repository:write;
// repository:admin and webhook imply nothing. Bitbucket may list only the
// highest level granted (the KB example shows just "repository:write").
func holds(granted []string) map[string]bool {
	have := map[string]bool{}
	var add func(string)
	add = func(s string) {
		if have[s] {
			return
		}
		have[s] = true
		switch s {
		case "repository:write", "pullrequest":
			add("repository")
		case "pullrequest:write":
			add("pullrequest")
			add("repository:write")
		}
	}
	for _, s := range granted {
		add(s)
	}
	return have
}

func check(u forge.Use, kind forge.TokenKind, granted []string, known bool) forge.UseCheck {
	c := forge.UseCheck{Use: u}
	have := holds(granted)
	for _, n := range needsFor(u) {
		c.Needs = append(c.Needs, n.label)
		switch {
		case !known:
			c.Unknown = append(c.Unknown, n.label)
		case have[n.scope]:
			c.Proven = append(c.Proven, n.label)
		default:
			c.Missing = append(c.Missing, n.label)
		}
	}
	c.Status = c.Verdict()
	switch c.Status {
	case forge.CheckMissing:
		c.Detail = recreate(kind, strings.Join(c.Missing, " and ")) + "."
	case forge.CheckUnknown:
		c.Detail = "Bitbucket did not report this token's scopes, so gitaccess cannot tell whether it has " + strings.Join(c.Unknown, " and ") + "."
	}
	return c
}

// recreate says how to get a token with the permissions needs: access
// tokens cannot be edited, so a new one is made where the token's kind is
// managed.
func recreate(kind forge.TokenKind, needs string) string {
	return fmt.Sprintf("Bitbucket access tokens cannot be edited: create a new one in %s with %s, and replace this token", settingsPage(kind), needs)
}

func settingsPage(kind forge.TokenKind) string {
	switch kind {
	case forge.KindBitbucketRepository:
		return "Repository settings > Access tokens"
	case forge.KindBitbucketProject:
		return "Project settings > Access tokens"
	case forge.KindBitbucketWorkspace:
		return "Workspace settings > Access tokens"
	}
	return "Bitbucket's Access tokens settings"
}
