package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v92/github"

	"github.com/gitaccess/gitaccess/internal/forge"
)

// tokenPrefixes are GitHub's token prefixes ("Behind GitHub's new
// authentication token formats", GitHub blog 2021-04-05; github_pat_ for
// fine-grained tokens since 2022). ghu_ (GitHub App user tokens) has no
// kind of its own and stays unknown.
var tokenPrefixes = []struct {
	prefix string
	kind   forge.TokenKind
}{
	{"github_pat_", forge.KindGitHubFineGrainedPAT},
	{"ghp_", forge.KindGitHubClassicPAT},
	{"gho_", forge.KindGitHubOAuth},
	{"ghs_", forge.KindGitHubApp},
}

// legacyToken is the 40-hex format every GitHub token had before 2021.
var legacyToken = regexp.MustCompile(`^[0-9a-f]{40}$`)

func kindByPrefix(token string) forge.TokenKind {
	for _, p := range tokenPrefixes {
		if strings.HasPrefix(token, p.prefix) {
			return p.kind
		}
	}
	return forge.KindUnknown
}

// Fine-grained permissions as GitHub's token settings page names them.
const (
	permContentsRead = "Contents: Read-only"
	permHooksRead    = "Webhooks: Read-only"
	permHooksWrite   = "Webhooks: Read and write"
	permPullsWrite   = "Pull requests: Read and write"
)

// permissionNames maps GitHub's permission keys (as in the
// X-Accepted-GitHub-Permissions header) to the names its settings show.
var permissionNames = map[string]string{
	"contents":         "Contents",
	"metadata":         "Metadata",
	"pull_requests":    "Pull requests",
	"repository_hooks": "Webhooks",
	"administration":   "Administration",
}

var levelNames = map[string]string{"read": "Read-only", "write": "Read and write", "admin": "Admin"}

// inspection is the state of one Inspect call.
type inspection struct {
	*conn
	uses   []forge.Use
	report forge.Report
}

func (in *inspection) errorFor(resp *gh.Response, err error) error {
	return in.conn.errorFor("inspecting the token", resp, err)
}

func (in *inspection) run(ctx context.Context) error {
	if in.report.Kind == forge.KindGitHubApp {
		return in.runInstallation(ctx)
	}
	user, resp, err := in.gh.Users.Get(ctx, "")
	in.observe(resp)
	if err != nil {
		return in.errorFor(resp, err)
	}
	in.report.Identity = user.GetLogin()
	in.report.IdentityName = user.GetName()

	// Classic and OAuth tokens carry X-OAuth-Scopes (possibly empty);
	// fine-grained and app tokens do not.
	header, reported := resp.Header[http.CanonicalHeaderKey("X-OAuth-Scopes")]
	kind := in.report.Kind
	if kind == forge.KindUnknown && reported && legacyToken.MatchString(in.token.Reveal()) {
		kind = forge.KindGitHubClassicPAT
		in.report.Kind = kind
	}
	switch {
	case reported && kind != forge.KindGitHubFineGrainedPAT:
		in.report.Scopes = parseScopes(strings.Join(header, ","))
		in.report.Checks = scopeChecks(in.report.Scopes, in.uses)
		return nil
	case kind == forge.KindGitHubClassicPAT || kind == forge.KindGitHubOAuth:
		in.report.Notes = append(in.report.Notes, "GitHub did not report this token's scopes (no X-OAuth-Scopes header), so gitaccess cannot check them.")
		in.report.Checks = unknownChecks(in.uses, "GitHub did not report the token's scopes.")
		return nil
	}
	if strings.HasPrefix(in.token.Reveal(), "ghu_") {
		in.report.Notes = append(in.report.Notes, "This is a GitHub App user access token; such tokens usually expire after eight hours, and gitaccess cannot refresh them.")
	}
	var repo *gh.Repository
	if needsRepository(in.uses) {
		repos, resp, err := in.gh.Repositories.ListByAuthenticatedUser(ctx, &gh.RepositoryListByAuthenticatedUserOptions{ListOptions: gh.ListOptions{PerPage: 1}})
		in.observe(resp)
		if err != nil {
			return in.errorFor(resp, err)
		}
		if len(repos) > 0 {
			repo = repos[0]
		}
	}
	return in.probe(ctx, repo)
}

// runInstallation inspects an app installation token. GET /user answers
// 403 "Resource not accessible by integration" to these, so the
// installation's repositories stand in for an identity.
func (in *inspection) runInstallation(ctx context.Context) error {
	list, resp, err := in.gh.Apps.ListRepos(ctx, &gh.ListOptions{PerPage: 1})
	in.observe(resp)
	if err != nil {
		return in.errorFor(resp, err)
	}
	in.report.Notes = append(in.report.Notes, "This is a GitHub App installation token: GitHub makes it expire one hour after it is created and gitaccess cannot renew it. Save a fine-grained personal access token for anything lasting.")
	var repo *gh.Repository
	if len(list.Repositories) > 0 {
		repo = list.Repositories[0]
		in.report.Identity = repo.GetOwner().GetLogin()
	}
	if in.report.Identity == "" {
		in.report.Identity = "GitHub App installation"
	}
	if !needsRepository(in.uses) {
		repo = nil
	}
	return in.probe(ctx, repo)
}

func needsRepository(uses []forge.Use) bool {
	return slices.Contains(uses, forge.UseClone) || slices.Contains(uses, forge.UseWebhooks)
}

// observe keeps the rate limit and expiry GitHub reports on every answer.
func (in *inspection) observe(resp *gh.Response) {
	if resp == nil || resp.Response == nil {
		return
	}
	if resp.Rate.Limit > 0 {
		in.report.RateLimit = &forge.RateLimit{Limit: resp.Rate.Limit, Remaining: resp.Rate.Remaining, Reset: resp.Rate.Reset.UTC()}
	}
	if v := resp.Header.Get("GitHub-Authentication-Token-Expiration"); v != "" && in.report.ExpiresAt == nil {
		if t, ok := parseExpiry(v); ok {
			in.report.ExpiresAt = &t
		} else {
			in.report.Notes = append(in.report.Notes, fmt.Sprintf("GitHub sent an expiry date gitaccess cannot read (%q); check the token's expiry on GitHub.", v))
		}
	}
}

// parseExpiry reads GitHub-Authentication-Token-Expiration. GitHub writes
// "2021-10-07 19:07:53 UTC", and for some tokens an offset instead of the
// zone name ("2023-01-31 23:00:00 +0100"; go-github issue #2649).
func parseExpiry(v string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02 15:04:05 MST", "2006-01-02 15:04:05 -0700"} {
		if t, err := time.Parse(layout, strings.TrimSpace(v)); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// resetFrom reads when a throttled client may retry: Retry-After seconds,
// else X-RateLimit-Reset (epoch seconds), as GitHub documents for its
// secondary rate limits.
func resetFrom(h http.Header) time.Time {
	if t := forge.RetryAfter(h, time.Now()); !t.IsZero() {
		return t
	}
	if s, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil && s > 0 {
		return time.Unix(s, 0).UTC()
	}
	return time.Time{}
}

func parseScopes(header string) []string {
	out := []string{}
	for _, s := range strings.Split(header, ",") {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// scopeChecks judges classic and OAuth scopes. From GitHub's scope
// documentation: repo is full access to public and private repositories,
// including code and repository webhooks; public_repo is the same for
// public repositories only; admin:repo_hook reads, writes, pings and
// deletes hooks, write:repo_hook cannot delete and read:repo_hook only
// reads. gitaccess deletes its webhook when an application goes away, so
// webhooks need admin:repo_hook or repo.
func scopeChecks(scopes []string, uses []forge.Use) []forge.UseCheck {
	has := func(s string) bool { return slices.Contains(scopes, s) }
	var out []forge.UseCheck
	for _, u := range uses {
		c := forge.UseCheck{Use: u}
		switch u {
		case forge.UseClone, forge.UsePullRequests:
			what := "cloning private repositories"
			if u == forge.UsePullRequests {
				what = "working with pull requests of private repositories"
			}
			c.Needs = []string{"repo"}
			switch {
			case has("repo"):
				c.Proven = []string{"repo"}
			case has("public_repo"):
				c.Missing = []string{"repo"}
				c.Detail = "public_repo reaches public repositories only; " + what + " needs repo."
			default:
				c.Missing = []string{"repo"}
				c.Detail = what + " needs the repo scope; add it to the token on GitHub."
			}
		case forge.UseWebhooks:
			c.Needs = []string{"admin:repo_hook"}
			const admin = " GitHub also requires the token's user to be an admin of each repository."
			switch {
			case has("admin:repo_hook"):
				c.Proven = []string{"admin:repo_hook"}
				c.Detail = strings.TrimSpace(admin)
			case has("repo"):
				c.Proven = []string{"repo"}
				c.Detail = "repo includes repository webhooks." + admin
			case has("write:repo_hook"):
				c.Missing = []string{"admin:repo_hook"}
				c.Detail = "write:repo_hook creates webhooks but cannot delete them, and gitaccess deletes its webhook when an application is removed; use admin:repo_hook (or repo)."
			case has("read:repo_hook"):
				c.Missing = []string{"admin:repo_hook"}
				c.Detail = "read:repo_hook only reads webhooks; installing them needs admin:repo_hook (or repo)."
			default:
				c.Missing = []string{"admin:repo_hook"}
				c.Detail = "managing repository webhooks needs admin:repo_hook (or repo); add it to the token on GitHub."
			}
		}
		out = append(out, finish(c))
	}
	return out
}

func unknownChecks(uses []forge.Use, detail string) []forge.UseCheck {
	var out []forge.UseCheck
	for _, u := range uses {
		needs := map[forge.Use]string{forge.UseClone: "repo", forge.UseWebhooks: "admin:repo_hook", forge.UsePullRequests: "repo"}[u]
		out = append(out, finish(forge.UseCheck{Use: u, Needs: []string{needs}, Unknown: []string{needs}, Detail: detail}))
	}
	return out
}

// finish sets the verdict: anything missing wins, then anything unproven.
func finish(c forge.UseCheck) forge.UseCheck {
	c.Status = c.Verdict()
	return c
}

// probe proves fine-grained permissions with harmless reads on one
// repository the token reaches: its root directory (Contents: Read-only)
// and its webhook list (Webhooks: Read-only; write access cannot be proven
// without changing something). Pull requests access has no probe in the
// API gitaccess is allowed to call, so it stays unknown.
func (in *inspection) probe(ctx context.Context, repo *gh.Repository) error {
	name := repo.GetFullName()
	note := "GitHub does not reveal the permissions of fine-grained and app tokens. gitaccess proved what harmless reads could prove"
	if repo != nil {
		note += " on " + name
	}
	in.report.Notes = append(in.report.Notes, note+"; anything else is reported as unknown, so check the token's settings on GitHub.")
	if repo == nil && needsRepository(in.uses) {
		in.report.Notes = append(in.report.Notes, "GitHub lists no repository for this token: grant it access to the repositories gitaccess should deploy.")
	}
	for _, u := range in.uses {
		var (
			c   forge.UseCheck
			err error
		)
		switch u {
		case forge.UseClone:
			c, err = in.probeContents(ctx, repo)
		case forge.UseWebhooks:
			c, err = in.probeHooks(ctx, repo)
		case forge.UsePullRequests:
			c = forge.UseCheck{Use: u, Needs: []string{permPullsWrite}, Unknown: []string{permPullsWrite},
				Detail: "GitHub offers no harmless request that proves pull request access; make sure the token has " + permPullsWrite + "."}
		}
		if err != nil {
			return err
		}
		in.report.Checks = append(in.report.Checks, finish(c))
	}
	return nil
}

func (in *inspection) probeContents(ctx context.Context, repo *gh.Repository) (forge.UseCheck, error) {
	c := forge.UseCheck{Use: forge.UseClone, Needs: []string{permContentsRead}}
	if repo == nil {
		c.Unknown = c.Needs
		c.Detail = "The token reaches no repository GitHub would list, so nothing could be read."
		return c, nil
	}
	name := repo.GetFullName()
	owner, repoName := repoParts(repo)
	_, _, resp, err := in.gh.Repositories.GetContents(ctx, owner, repoName, "", nil)
	in.observe(resp)
	switch {
	case err == nil && repo.GetPrivate():
		c.Proven = c.Needs
		in.prove(permContentsRead)
		c.Detail = "Reading private repository " + name + " worked."
	case err == nil:
		c.Unknown = c.Needs
		c.Detail = "Only public repository " + name + " was checked, and public repositories are readable without " + permContentsRead + "; private ones need it."
	default:
		denied, detail, ferr := in.refusal(resp, err, "read the files of "+name)
		if ferr != nil {
			return c, ferr
		}
		c.Detail = detail
		if denied {
			c.Missing = c.Needs
			c.Detail += " Give the token " + permContentsRead + " on the repositories to deploy."
		} else {
			c.Unknown = c.Needs
		}
	}
	return c, nil
}

func (in *inspection) probeHooks(ctx context.Context, repo *gh.Repository) (forge.UseCheck, error) {
	c := forge.UseCheck{Use: forge.UseWebhooks, Needs: []string{permHooksWrite}}
	if repo == nil {
		c.Unknown = c.Needs
		c.Detail = "The token reaches no repository GitHub would list, so no webhook access could be checked."
		return c, nil
	}
	name := repo.GetFullName()
	owner, repoName := repoParts(repo)
	_, resp, err := in.gh.Repositories.ListHooks(ctx, owner, repoName, &gh.ListOptions{PerPage: 1})
	in.observe(resp)
	if err == nil {
		c.Proven = []string{permHooksRead}
		in.prove(permHooksRead)
		c.Unknown = c.Needs
		c.Detail = "Listing the webhooks of " + name + " worked, which proves " + permHooksRead + "; GitHub offers no harmless way to prove write access."
		return c, nil
	}
	denied, detail, ferr := in.refusal(resp, err, "list the webhooks of "+name)
	if ferr != nil {
		return c, ferr
	}
	c.Detail = detail
	if denied {
		c.Missing = c.Needs
		c.Detail += " Give the token " + permHooksWrite + "."
	} else {
		c.Unknown = c.Needs
		if resp != nil && resp.Response != nil && resp.StatusCode == http.StatusNotFound {
			c.Detail += " GitHub hides webhooks from users who are not admins of the repository."
		}
	}
	return c, nil
}

// refusal interprets a failed probe. A 403 that names the permissions
// GitHub would accept (X-Accepted-GitHub-Permissions, sent to fine-grained
// actors) means the permission is missing; another 403 or a 404 proves
// nothing. Anything else (401, rate limits, 5xx, no answer) aborts the
// inspection with its typed error.
func (in *inspection) refusal(resp *gh.Response, err error, action string) (denied bool, detail string, fatal error) {
	var er *gh.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil {
		return false, "", in.errorFor(resp, err)
	}
	status := er.Response.StatusCode
	if status != http.StatusForbidden && status != http.StatusNotFound {
		return false, "", in.errorFor(resp, err)
	}
	if h := er.Response.Header.Get("Retry-After"); status == http.StatusForbidden && h != "" {
		return false, "", in.errorFor(resp, err)
	}
	msg := in.redact(er.Message)
	if msg == "" {
		msg = http.StatusText(status)
	}
	detail = fmt.Sprintf("GitHub refused to %s (HTTP %d: %s).", action, status, msg)
	if accepted := describeAccepted(er.Response.Header.Get("X-Accepted-GitHub-Permissions")); status == http.StatusForbidden && accepted != "" {
		return true, strings.TrimSuffix(detail, ".") + "; that needs " + accepted + ".", nil
	}
	return false, detail, nil
}

// describeAccepted renders X-Accepted-GitHub-Permissions, e.g.
// "repository_projects=write; organization_projects=admin" (alternative
// sets separated by ";", GitHub changelog 2023-08-10), in GitHub's UI words.
func describeAccepted(h string) string {
	var sets []string
	for _, set := range strings.Split(h, ";") {
		var perms []string
		for _, p := range strings.Split(set, ",") {
			key, level, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok {
				continue
			}
			name, lvl := permissionNames[key], levelNames[level]
			if name == "" {
				name = key
			}
			if lvl == "" {
				lvl = level
			}
			perms = append(perms, name+": "+lvl)
		}
		if len(perms) > 0 {
			sets = append(sets, strings.Join(perms, " and "))
		}
	}
	return strings.Join(sets, " or ")
}

// repoParts splits full_name, which GitHub always sends, rather than
// trusting the optional owner object.
func repoParts(repo *gh.Repository) (owner, name string) {
	owner, name, _ = strings.Cut(repo.GetFullName(), "/")
	return url.PathEscape(owner), url.PathEscape(name)
}

func (in *inspection) prove(perm string) {
	if !slices.Contains(in.report.Scopes, perm) {
		in.report.Scopes = append(in.report.Scopes, perm)
	}
}
