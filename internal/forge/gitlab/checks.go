package gitlab

import (
	"slices"
	"strings"

	"github.com/gitaccess/gitaccess/internal/forge"
)

// GitLab's scopes and access levels, in its own words.
const (
	scopeAPI             = "api"
	scopeReadAPI         = "read_api"
	scopeReadRepository  = "read_repository"
	scopeWriteRepository = "write_repository"

	levelGuest      = 10
	levelReporter   = 20
	levelMaintainer = 40
)

// roleName is GitLab's name for an access level (Gitlab::Access).
func roleName(level int) string {
	switch {
	case level >= 50:
		return "Owner"
	case level >= 40:
		return "Maintainer"
	case level >= 30:
		return "Developer"
	case level >= 20:
		return "Reporter"
	case level >= 15:
		return "Planner"
	case level >= 10:
		return "Guest"
	case level >= 5:
		return "Minimal Access"
	}
	return ""
}

func roleNeed(level int) string { return roleName(level) + " role" }

// facts is what the checks judge.
type facts struct {
	kind   forge.TokenKind
	scopes []string
	// role is the access level of a group or project token; 0 when unknown
	// or, for a personal token, set per project.
	role int
}

// resourceToken reports a group or project access token: one role, known.
func (t facts) resourceToken() bool {
	return t.kind == forge.KindGitLabGroup || t.kind == forge.KindGitLabProject
}

func (t facts) hasAny(scopes ...string) bool {
	return slices.ContainsFunc(t.scopes, func(s string) bool { return slices.Contains(scopes, s) })
}

// check builds one use's verdict.
type check struct {
	forge.UseCheck
	details []string
}

func (c *check) scope(need string, ok bool, detail string) {
	c.Needs = append(c.Needs, need)
	if ok {
		c.Proven = append(c.Proven, need)
		return
	}
	c.Missing = append(c.Missing, need)
	c.details = append(c.details, detail)
}

// role judges a minimum access level. A personal token acts with its
// user's role, which GitLab sets per project: only a group or project
// token's role can be judged here.
func (c *check) role(t facts, min int, short, perProject string) {
	need := roleNeed(min)
	switch {
	case !t.resourceToken():
		if perProject != "" {
			c.Needs = append(c.Needs, need)
			c.Unknown = append(c.Unknown, need)
			c.details = append(c.details, perProject)
		}
	case t.role == 0:
		c.Needs = append(c.Needs, need)
		c.Unknown = append(c.Unknown, need)
		c.details = append(c.details, "GitLab did not tell the token's role; gitaccess checks the "+need+" on each project when it needs it.")
	case t.role < min:
		c.Needs = append(c.Needs, need)
		c.Missing = append(c.Missing, need)
		c.details = append(c.details, "The token has the "+roleNeed(t.role)+"; "+short)
	default:
		c.Needs = append(c.Needs, need)
		c.Proven = append(c.Proven, need)
	}
}

func (c *check) done() forge.UseCheck {
	c.Status = c.Verdict()
	c.Detail = strings.Join(c.details, " ")
	return c.UseCheck
}

// checkUse compares what use needs with what the token holds.
//
// Scopes: Git over HTTPS downloads code with any of read_repository,
// write_repository, read_api or api (Gitlab::Auth.abilities_for_scopes
// grants download_code to each). Project webhooks are written through the
// API, which needs api, and GitLab lets only Maintainers and Owners manage
// them. gitaccess only reads merge requests (previews are driven by webhook
// events; it lists open ones to reconcile), so read_api is enough, and api
// includes it.
//
// Roles, for group and project tokens: a Guest can pull only public and
// internal projects, and reading merge requests of a private project needs
// Reporter (GitLab's permissions table).
func checkUse(use forge.Use, t facts) forge.UseCheck {
	c := &check{UseCheck: forge.UseCheck{Use: use}}
	switch use {
	case forge.UseClone:
		c.scope(scopeReadRepository, t.hasAny(scopeReadRepository, scopeWriteRepository, scopeReadAPI, scopeAPI),
			"Cloning over HTTPS needs the read_repository scope (write_repository, read_api or api also grant it).")
		c.role(t, levelReporter, "a Guest can clone only public and internal projects; give the token the Reporter role or higher.", "")
	case forge.UseWebhooks:
		c.scope(scopeAPI, t.hasAny(scopeAPI),
			"Managing project webhooks goes through the API and needs the api scope.")
		c.role(t, levelMaintainer, "GitLab lets only Maintainers and Owners manage webhooks; give the token the Maintainer role.",
			"A personal access token acts with its user's role, which GitLab sets per project; gitaccess checks for the Maintainer role on each project when it installs a webhook.")
	case forge.UsePullRequests:
		c.scope(scopeReadAPI, t.hasAny(scopeReadAPI, scopeAPI),
			"Reading merge requests needs the read_api scope (api also grants it).")
		c.role(t, levelReporter, "reading merge requests of a private project needs the Reporter role or higher.", "")
	}
	return c.done()
}
