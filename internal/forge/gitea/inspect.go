package gitea

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gitaccess/gitaccess/internal/forge"
)

// Gitea's scopes, in its own words (models/auth/access_token_scope.go).
// Write implies read in every category; "all" is every write scope.
const (
	scopeReadUser        = "read:user"
	scopeReadRepository  = "read:repository"
	scopeWriteRepository = "write:repository"
	// needRepoAdmin is not a scope: Gitea lets only repository admins
	// (owners, admin collaborators, owners and admin teams of the
	// organization) manage webhooks (api.go reqAdmin on /hooks).
	needRepoAdmin = "admin access to the repository"
)

// probe is what one scope probe proved.
type probe int

const (
	unproven probe = iota // the answer proved neither way
	held
	lacking
)

// version is GET /version, {"version": "1.22.3"}; Forgejo answers its own
// version with the Gitea API version it implements after "+gitea-"
// ("7.0.5+gitea-1.21.11"), which tells the two apart.
type version struct {
	Version string `json:"version"`
}

// user is the part of Gitea's User (swagger #/definitions/User) gitaccess
// reads.
type user struct {
	ID       int64  `json:"id"`
	Login    string `json:"login"`
	FullName string `json:"full_name"`
}

// facts is what the checks judge.
type facts struct {
	readRepo  probe
	writeRepo probe
}

// Inspect asks Gitea about the token: GET /version (is this Gitea, which
// one), GET /user (who the token is, which needs read:user), then probes
// for the repository scopes the uses need, cheapest first: GET
// /repos/search?limit=1 for read:repository and, when webhooks are asked
// for, POST /repos/migrate with an empty body for write:repository. That
// POST can never migrate anything: Gitea checks the scope first and then
// refuses the body (422, clone_addr and repo_name are required) before any
// handler runs, so a 422 proves the scope and a scope 403 disproves it.
// Three requests; four when webhooks are asked for and the token lacks
// write:repository.
func (f *Forge) Inspect(ctx context.Context, cred forge.Credential, uses []forge.Use) (forge.Report, error) {
	if len(uses) == 0 {
		uses = forge.AllUses
	}
	for _, use := range uses {
		if !slices.Contains(forge.AllUses, use) {
			return forge.Report{}, &forge.InvalidInputError{Field: "use", Reason: fmt.Sprintf("unknown use %q; choose from clone, webhooks, pull-requests", use)}
		}
	}
	c, err := f.connect(cred)
	if err != nil {
		return forge.Report{}, err
	}
	rep := forge.Report{Provider: Provider, Host: c.Host, Kind: KindAccessToken, Scopes: []string{}}
	t, err := f.inspect(ctx, c, &rep, slices.Contains(uses, forge.UseWebhooks))
	rep.Requests = c.Requests
	if err != nil {
		f.logger.DebugContext(ctx, "gitea token test failed", "host", c.Host, "requests", c.Requests, "error", err)
		return forge.Report{}, err
	}
	for _, use := range uses {
		rep.Checks = append(rep.Checks, checkUse(use, t))
	}
	rep.Notes = append(rep.Notes,
		"Gitea does not show a token its own scopes; gitaccess proved the scopes listed by asking Gitea for what each one allows.",
		"Gitea does not report when an access token expires; if you set an expiry, rotate the token before it, as gitaccess cannot warn.")
	f.logger.DebugContext(ctx, "gitea token tested", "host", c.Host, "identity", rep.Identity,
		"scopes", rep.Scopes, "requests", c.Requests, "missing", rep.Missing(uses))
	return rep, nil
}

func (f *Forge) inspect(ctx context.Context, c *client, rep *forge.Report, webhooks bool) (facts, error) {
	var v version
	a, err := c.do(ctx, http.MethodGet, c.path("version"), nil)
	var se *statusError
	switch {
	case errors.As(err, &se) && se.Status == http.StatusNotFound:
		return facts{}, &forge.ProviderError{Provider: Provider, Host: c.Host, Status: se.Status,
			Message: "GET " + apiPath + "/version is not there; check that the URL is the address of Gitea or Forgejo itself (with its sub-path, if any)"}
	case errors.As(err, &se) && se.Status == http.StatusForbidden:
		// /version needs no scope; a 403 is Gitea refusing the caller
		// ("Only signed in user is allowed to call APIs." under
		// REQUIRE_SIGNIN_VIEW, when it did not recognise the token).
		return facts{}, &forge.AuthError{Provider: Provider, Host: c.Host, Status: se.Status, Message: se.Message}
	case err != nil:
		return facts{}, c.providerError("GET "+apiPath+"/version", err)
	}
	if err := c.decode(a, "GET "+apiPath+"/version", &v); err != nil {
		return facts{}, err
	}
	if note := productNote(v.Version); note != "" {
		rep.Notes = append(rep.Notes, note)
	}

	a, err = c.do(ctx, http.MethodGet, c.path("user"), nil)
	switch {
	case errors.As(err, &se) && se.ScopeRefusal():
		// Real but unable to say who it is: GET /user needs read:user.
		rep.Notes = append(rep.Notes, "Gitea authenticated the token but answers GET /user only to tokens with the read:user scope, so its user is unknown; listing repositories (GET /user/repos) needs read:user too.")
	case errors.As(err, &se) && se.Status == http.StatusForbidden:
		// Any other 403 here refuses the user: prohibited from signing
		// in, not activated, must change password (verifyAuthWithOptions).
		return facts{}, &forge.AuthError{Provider: Provider, Host: c.Host, Status: se.Status, Message: se.Message}
	case err != nil:
		return facts{}, c.providerError("GET "+apiPath+"/user", err)
	default:
		var u user
		if err := c.decode(a, "GET "+apiPath+"/user", &u); err != nil {
			return facts{}, err
		}
		if u.Login == "" {
			return facts{}, &forge.ProviderError{Provider: Provider, Host: c.Host, Message: "GET " + apiPath + "/user answered no login"}
		}
		rep.Identity, rep.IdentityName = u.Login, u.FullName
		rep.Scopes = append(rep.Scopes, scopeReadUser)
	}

	var t facts
	if webhooks {
		if t.writeRepo, err = f.probeWrite(ctx, c); err != nil {
			return facts{}, err
		}
	}
	if t.writeRepo == held {
		t.readRepo = held // write implies read
		rep.Scopes = append(rep.Scopes, scopeWriteRepository)
		return t, nil
	}
	if t.readRepo, err = f.probeRead(ctx, c); err != nil {
		return facts{}, err
	}
	if t.readRepo == held {
		rep.Scopes = append(rep.Scopes, scopeReadRepository)
	}
	return t, nil
}

// probeRead asks GET /repos/search?limit=1, which needs read:repository and
// nothing else.
func (f *Forge) probeRead(ctx context.Context, c *client) (probe, error) {
	_, err := c.do(ctx, http.MethodGet, c.path("repos", "search")+"?limit=1", nil)
	return verdict(ctx, c, "GET "+apiPath+"/repos/search", err, http.StatusOK)
}

// probeWrite sends POST /repos/migrate {}: the scope check answers first,
// then validation refuses the empty body with 422.
func (f *Forge) probeWrite(ctx context.Context, c *client) (probe, error) {
	_, err := c.do(ctx, http.MethodPost, c.path("repos", "migrate"), struct{}{})
	if err == nil {
		// Never expected: an empty body cannot pass validation.
		f.logger.WarnContext(ctx, "gitea accepted an empty migration request", "host", c.Host)
		return held, nil
	}
	return verdict(ctx, c, "POST "+apiPath+"/repos/migrate", err, http.StatusUnprocessableEntity)
}

// verdict reads a probe's answer: proof is the status that shows the scope
// check passed, a scope 403 naming a scope shows it failed, anything else
// proves nothing (a 403 for another reason, a 404 from a server too old to
// have the route).
func verdict(ctx context.Context, c *client, what string, err error, proof int) (probe, error) {
	var se *statusError
	switch {
	case err == nil:
		return held, nil
	case errors.As(err, &se) && se.Status == proof:
		return held, nil
	case errors.As(err, &se) && se.ScopeRefusal():
		return lacking, nil
	case errors.As(err, &se):
		c.Log.DebugContext(ctx, "gitea scope probe inconclusive", "request", what, "status", se.Status, "message", se.Message)
		return unproven, nil
	}
	return unproven, err
}

// productNote names the server from its version string.
func productNote(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	if fj, gt, ok := strings.Cut(v, "+gitea-"); ok {
		return fmt.Sprintf("The server is Forgejo %s (Gitea API %s).", oneLine(fj), oneLine(gt))
	}
	return fmt.Sprintf("The server reports version %s (Gitea, or a Forgejo older than 7.0).", oneLine(v))
}

// check builds one use's verdict.
type check struct {
	forge.UseCheck
	details []string
}

func (c *check) need(name string, p probe, missing, unknown string) {
	c.Needs = append(c.Needs, name)
	switch p {
	case held:
		c.Proven = append(c.Proven, name)
	case lacking:
		c.Missing = append(c.Missing, name)
		c.details = append(c.details, missing)
	default:
		c.Unknown = append(c.Unknown, name)
		c.details = append(c.details, unknown)
	}
}

func (c *check) done() forge.UseCheck {
	c.Status = c.Verdict()
	c.Detail = strings.Join(c.details, " ")
	return c.UseCheck
}

// checkUse compares what use needs with what the token holds.
//
// Git over HTTPS checks a token's repository scope like the API does:
// read:repository to fetch (routers/web/repo/githttp.go). Webhooks are
// repository settings under /repos/{owner}/{repo}/hooks, inside the
// repository scope group: writing them takes write:repository, and the
// user must be an admin of the repository. Pull requests are read under
// /repos/{owner}/{repo}/pulls, also in the repository group (the issue
// scope covers issues, labels and milestones only), so read:repository.
func checkUse(use forge.Use, t facts) forge.UseCheck {
	c := &check{UseCheck: forge.UseCheck{Use: use}}
	unknownRead := "Gitea did not say whether the token holds read:repository."
	switch use {
	case forge.UseClone:
		c.need(scopeReadRepository, t.readRepo,
			"Cloning needs the read:repository scope (write:repository also grants it); create a token that has it.", unknownRead)
	case forge.UseWebhooks:
		c.need(scopeWriteRepository, t.writeRepo,
			"Managing webhooks needs the write:repository scope; create a token that has it.",
			"Gitea did not say whether the token holds write:repository.")
		c.Needs = append(c.Needs, needRepoAdmin)
		c.Unknown = append(c.Unknown, needRepoAdmin)
		c.details = append(c.details, "Gitea lets only repository admins manage webhooks, which it decides per repository; gitaccess checks when it installs a webhook.")
	case forge.UsePullRequests:
		c.need(scopeReadRepository, t.readRepo,
			"Reading pull requests needs the read:repository scope; create a token that has it.", unknownRead)
	}
	return c.done()
}
