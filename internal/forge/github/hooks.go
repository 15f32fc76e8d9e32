package github

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	gh "github.com/google/go-github/v92/github"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
)

var (
	_ forge.Hooks    = (*Forge)(nil)
	_ forge.Webhooks = (*Forge)(nil)
)

// The events gitaccess subscribes to. A tag push arrives as a push whose
// ref is refs/tags/... (with created/deleted set), so "create" and "delete"
// would only repeat what push says; GitHub also skips both push and create
// when more than three tags are pushed at once ("Events will not be
// created for tags when more than three tags are pushed at once", GitHub's
// push event docs), so neither fills that gap.
const (
	eventPush        = "push"
	eventPullRequest = "pull_request"
	// eventAll is the wildcard a hook set up in GitHub's UI may carry.
	eventAll = "*"
)

func hookEvents() []string { return []string{eventPush, eventPullRequest} }

// What a hook needs from the token, to name the right permission when
// GitHub refuses. GitHub's scope docs: admin:repo_hook reads, writes,
// pings and deletes hooks; write:repo_hook cannot delete; read:repo_hook
// only reads; repo includes them all. Fine-grained and app tokens need the
// "Webhooks" repository permission (read to list, write to change).
type hookNeed int

const (
	needRead hookNeed = iota
	needWrite
	needDelete
)

func (n hookNeed) scopes() []string {
	switch n {
	case needRead:
		return []string{"admin:repo_hook", "repo", "write:repo_hook", "read:repo_hook"}
	case needWrite:
		return []string{"admin:repo_hook", "repo", "write:repo_hook"}
	default:
		return []string{"admin:repo_hook", "repo"}
	}
}

// hookJSON is a repository webhook as GitHub answers it. go-github's Hook
// types insecure_ssl as a string, while GitHub's description allows a
// number too (webhook-config-insecure-ssl: oneOf string, number); one hook
// answered that way would fail the whole listing.
type hookJSON struct {
	ID     int64    `json:"id"`
	Active bool     `json:"active"`
	Events []string `json:"events"`
	Config struct {
		URL         string     `json:"url"`
		ContentType string     `json:"content_type"`
		Secret      string     `json:"secret"` // "********" when set; GitHub never returns it
		InsecureSSL flexString `json:"insecure_ssl"`
	} `json:"config"`
}

// flexString reads a JSON string or number as its text.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = flexString(str)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("insecure_ssl is neither a string nor a number")
	}
	*s = flexString(n.String())
	return nil
}

// hookRequest is the body of create (POST) and update (PATCH).
type hookRequest struct {
	// Name is "web" on create and absent on update, whose schema has none.
	Name   string            `json:"name,omitempty"`
	Active bool              `json:"active"`
	Events []string          `json:"events"`
	Config hookConfigRequest `json:"config"`
}

// hookConfigRequest holds the secret as a secret.Value until the moment
// go-github encodes the request body, so no copy of it sits in a plain
// string that a %v could print.
type hookConfigRequest struct {
	URL    string
	Secret secret.Value
}

func (c hookConfigRequest) MarshalJSON() ([]byte, error) {
	// GitHub's update docs: "If you previously had a secret set, you must
	// provide the same secret or set a new secret or the secret will be
	// removed", so the secret goes on every PATCH.
	return json.Marshal(struct {
		URL         string `json:"url"`
		ContentType string `json:"content_type"`
		Secret      string `json:"secret"`
		InsecureSSL string `json:"insecure_ssl"`
	}{c.URL, "json", c.Secret.Reveal(), "0"})
}

// EnsureHook implements forge.Hooks: it lists every page of the
// repository's hooks, creates ours when no hook has spec.URL, and
// otherwise PATCHes it back to exactly our configuration (the secret
// cannot be read back, so it is always rewritten). Extra hooks with our
// URL, which GitHub allows when their events do not overlap, are deleted.
func (f *Forge) EnsureHook(ctx context.Context, cred forge.Credential, fullName string, spec forge.HookSpec) (forge.Hook, error) {
	owner, name, err := splitFullName(fullName)
	if err != nil {
		return forge.Hook{}, err
	}
	if err := checkHookSpec(spec); err != nil {
		return forge.Hook{}, err
	}
	c, err := f.connect(cred)
	if err != nil {
		return forge.Hook{}, err
	}
	req := hookRequest{Active: true, Events: hookEvents(), Config: hookConfigRequest{URL: spec.URL, Secret: spec.Secret}}
	mine, err := c.hooksWithURL(ctx, owner, name, fullName, spec.URL)
	if err != nil {
		return forge.Hook{}, err
	}
	if len(mine) == 0 {
		create := req
		create.Name = "web"
		var h hookJSON
		resp, err := c.hookCall(ctx, http.MethodPost, hooksPath(owner, name, 0), create, &h)
		if err == nil {
			f.log.InfoContext(ctx, "GitHub webhook created", "host", c.host, "repo", fullName, "hook_id", h.ID)
			return hookOf(h), nil
		}
		if resp == nil || resp.StatusCode != http.StatusUnprocessableEntity {
			return forge.Hook{}, c.hookError("creating a webhook on "+fullName, fullName, needWrite, spec.Secret, resp, err)
		}
		// 422 "Hook already exists on this repository": another replica
		// created it since the listing; update that one instead.
		raced, lerr := c.hooksWithURL(ctx, owner, name, fullName, spec.URL)
		if lerr != nil || len(raced) == 0 {
			return forge.Hook{}, c.hookError("creating a webhook on "+fullName, fullName, needWrite, spec.Secret, resp, err)
		}
		mine = raced
	}
	return f.updateHook(ctx, c, owner, name, fullName, mine, req)
}

func (f *Forge) updateHook(ctx context.Context, c *conn, owner, name, fullName string, mine []hookJSON, req hookRequest) (forge.Hook, error) {
	for _, extra := range mine[1:] {
		if err := c.deleteHook(ctx, owner, name, fullName, extra.ID); err != nil {
			return forge.Hook{}, err
		}
		f.log.InfoContext(ctx, "GitHub webhook duplicate deleted", "host", c.host, "repo", fullName, "hook_id", extra.ID)
	}
	var h hookJSON
	resp, err := c.hookCall(ctx, http.MethodPatch, hooksPath(owner, name, mine[0].ID), req, &h)
	if err != nil {
		return forge.Hook{}, c.hookError("updating webhook "+strconv.FormatInt(mine[0].ID, 10)+" of "+fullName, fullName, needWrite, req.Config.Secret, resp, err)
	}
	f.log.InfoContext(ctx, "GitHub webhook updated", "host", c.host, "repo", fullName, "hook_id", h.ID, "drift_before", driftOf(mine[0]))
	return hookOf(h), nil
}

// FindHook implements forge.Hooks, reporting how the hook drifted from
// what EnsureHook installs.
func (f *Forge) FindHook(ctx context.Context, cred forge.Credential, fullName, hookURL string) (forge.Hook, bool, error) {
	owner, name, err := splitFullName(fullName)
	if err != nil {
		return forge.Hook{}, false, err
	}
	if err := checkHookURL(hookURL); err != nil {
		return forge.Hook{}, false, err
	}
	c, err := f.connect(cred)
	if err != nil {
		return forge.Hook{}, false, err
	}
	mine, err := c.hooksWithURL(ctx, owner, name, fullName, hookURL)
	if err != nil || len(mine) == 0 {
		return forge.Hook{}, false, err
	}
	h := hookOf(mine[0])
	if len(mine) > 1 {
		h.Drift = append(h.Drift, fmt.Sprintf("%d hooks with this URL", len(mine)))
	}
	return h, true, nil
}

// DeleteHook implements forge.Hooks: every hook with hookURL goes; none,
// or one deleted meanwhile (404), is no error.
func (f *Forge) DeleteHook(ctx context.Context, cred forge.Credential, fullName, hookURL string) error {
	owner, name, err := splitFullName(fullName)
	if err != nil {
		return err
	}
	if err := checkHookURL(hookURL); err != nil {
		return err
	}
	c, err := f.connect(cred)
	if err != nil {
		return err
	}
	mine, err := c.hooksWithURL(ctx, owner, name, fullName, hookURL)
	if err != nil {
		return err
	}
	for _, h := range mine {
		if err := c.deleteHook(ctx, owner, name, fullName, h.ID); err != nil {
			return err
		}
		f.log.InfoContext(ctx, "GitHub webhook deleted", "host", c.host, "repo", fullName, "hook_id", h.ID)
	}
	return nil
}

func (c *conn) deleteHook(ctx context.Context, owner, name, fullName string, id int64) error {
	resp, err := c.hookCall(ctx, http.MethodDelete, hooksPath(owner, name, id), nil, nil)
	switch {
	case err == nil:
		return nil
	case resp != nil && resp.StatusCode == http.StatusNotFound && missingHookPermission(resp.Response, needDelete) == "":
		// Listing it just worked, so the token may see the hooks: a 404
		// now means someone deleted it meanwhile.
		return nil
	}
	return c.hookError("deleting webhook "+strconv.FormatInt(id, 10)+" of "+fullName, fullName, needDelete, secret.Value{}, resp, err)
}

// hooksWithURL lists every page of the repository's hooks (GET
// /repos/{owner}/{repo}/hooks, per_page at most 100) and keeps those whose
// config.url is hookURL, oldest (lowest id) first.
func (c *conn) hooksWithURL(ctx context.Context, owner, name, fullName, hookURL string) ([]hookJSON, error) {
	var mine []hookJSON
	page := 0
	for range maxPages {
		p := hooksPath(owner, name, 0) + "?per_page=" + strconv.Itoa(perPage)
		if page > 0 {
			p += "&page=" + strconv.Itoa(page)
		}
		var list []hookJSON
		resp, err := c.hookCall(ctx, http.MethodGet, p, nil, &list)
		if err != nil {
			return nil, c.hookError("listing the webhooks of "+fullName, fullName, needRead, secret.Value{}, resp, err)
		}
		for _, h := range list {
			if h.Config.URL == hookURL {
				mine = append(mine, h)
			}
		}
		if resp.NextPage == 0 {
			slices.SortFunc(mine, func(a, b hookJSON) int { return cmp.Compare(a.ID, b.ID) })
			return mine, nil
		}
		if resp.NextPage <= page {
			return nil, &forge.ProviderError{Provider: forge.GitHub, Host: c.host, Message: fmt.Sprintf("while listing the webhooks of %s, page %d links back to page %d as next", fullName, page, resp.NextPage)}
		}
		page = resp.NextPage
	}
	return nil, &forge.ProviderError{Provider: forge.GitHub, Host: c.host, Message: fmt.Sprintf("while listing the webhooks of %s, GitHub still linked a next page after %d pages", fullName, maxPages)}
}

// hookCall sends one request through go-github, decoding into out.
func (c *conn) hookCall(ctx context.Context, method, path string, body, out any) (*gh.Response, error) {
	req, err := c.gh.NewRequest(ctx, method, path, body)
	if err != nil {
		return nil, fmt.Errorf("building %s %s: %w", method, path, err)
	}
	return c.gh.Do(req, out)
}

// hooksPath is repos/{owner}/{repo}/hooks, or one hook's path when id > 0;
// owner and name come escaped from splitFullName.
func hooksPath(owner, name string, id int64) string {
	p := "repos/" + owner + "/" + name + "/hooks"
	if id > 0 {
		p += "/" + strconv.FormatInt(id, 10)
	}
	return p
}

// hookError maps a failed hook call. GitHub answers a classic token
// without a hook scope with 404 (it hides what the user cannot
// administer) and a fine-grained or app token without "Webhooks" with 403
// and X-Accepted-GitHub-Permissions; both become a *forge.PermissionError. Any
// other 404 is a *forge.NotFoundError: no such repository, or a user who
// is not an admin of it.
func (c *conn) hookError(doing, fullName string, need hookNeed, hookSecret secret.Value, resp *gh.Response, err error) error {
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		// Should GitHub ever quote the secret back, errorFor below must
		// not pass it on either.
		er.Message = hookSecret.Redact(er.Message)
		status := er.Response.StatusCode
		msg := c.redact(er.Message)
		if msg == "" {
			msg = http.StatusText(status)
		}
		if needs := missingHookPermission(er.Response, need); needs != "" {
			fix := "the token lacks " + needs
			if needs == "admin:repo_hook" {
				fix += " (repo also includes it)"
			}
			return &forge.PermissionError{Provider: forge.GitHub, Host: c.host, Action: "manage the webhooks of", Repo: fullName,
				Status: status, Needs: needs, Fix: fix + "; give the token that permission on GitHub", Message: msg}
		}
		if status == http.StatusUnprocessableEntity {
			// "Validation Failed" alone says nothing; the reason ("Hook
			// already exists on this repository", "The \"push\" event
			// cannot have more than 20 hooks") is in errors[].
			for _, e := range er.Errors {
				if e.Message != "" {
					msg += "; " + c.redact(hookSecret.Redact(e.Message))
				}
			}
			return &forge.ProviderError{Provider: forge.GitHub, Host: c.host, Status: status, Message: msg}
		}
		if status == http.StatusNotFound {
			return &forge.NotFoundError{Provider: forge.GitHub, Host: c.host, Resource: "the webhooks of " + fullName, Status: status,
				Message: msg + "; GitHub answers 404 when the repository does not exist, the token cannot see it, or its user is not an admin of it"}
		}
	}
	return c.errorFor(doing, resp, err)
}

// missingHookPermission names the permission a 403 or 404 says the token
// lacks, or "" when the answer does not say so. Rate-limit 403s carry
// Retry-After or X-RateLimit-Remaining 0 and are left to errorFor.
func missingHookPermission(r *http.Response, need hookNeed) string {
	if r == nil || (r.StatusCode != http.StatusForbidden && r.StatusCode != http.StatusNotFound) ||
		r.Header.Get("Retry-After") != "" || r.Header.Get("X-RateLimit-Remaining") == "0" {
		return ""
	}
	if accepted := r.Header.Get("X-Accepted-GitHub-Permissions"); accepted != "" && r.StatusCode == http.StatusForbidden {
		if strings.Contains(accepted, "repository_hooks=") {
			// GitHub's words for what gitaccess needs, not just what this
			// call accepts: a token that lists but cannot install is no use.
			return permHooksWrite
		}
		return describeAccepted(accepted)
	}
	// Classic and OAuth tokens: GitHub reports the token's scopes in
	// X-OAuth-Scopes on every answer (present, maybe empty, for them only).
	if _, classic := r.Header["X-Oauth-Scopes"]; !classic {
		return ""
	}
	have := map[string]bool{}
	for s := range strings.SplitSeq(r.Header.Get("X-OAuth-Scopes"), ",") {
		have[strings.TrimSpace(s)] = true
	}
	if slices.ContainsFunc(need.scopes(), func(s string) bool { return have[s] }) {
		return ""
	}
	return "admin:repo_hook"
}

// hookOf converts GitHub's hook; URL is its config.url.
func hookOf(h hookJSON) forge.Hook {
	events := h.Events
	if events == nil {
		events = []string{}
	}
	return forge.Hook{
		ID:     strconv.FormatInt(h.ID, 10),
		URL:    h.Config.URL,
		Active: h.Active,
		Events: events,
		Drift:  driftOf(h),
	}
}

// driftOf lists how a hook differs from what EnsureHook installs. The
// secret cannot be compared (GitHub answers "********"), but its absence
// shows.
func driftOf(h hookJSON) []string {
	var d []string
	if !h.Active {
		d = append(d, "inactive")
	}
	has := func(e string) bool { return slices.Contains(h.Events, e) || slices.Contains(h.Events, eventAll) }
	if !has(eventPush) {
		d = append(d, "no push events")
	}
	if !has(eventPullRequest) {
		d = append(d, "no pull_request events")
	}
	ct := h.Config.ContentType
	if ct == "" {
		ct = "form" // GitHub's default
	}
	if ct != "json" {
		d = append(d, "content type "+ct)
	}
	if ssl := string(h.Config.InsecureSSL); ssl != "" && ssl != "0" {
		d = append(d, "TLS verification off (insecure_ssl "+ssl+")")
	}
	if h.Config.Secret == "" {
		d = append(d, "no secret")
	}
	return d
}

func checkHookSpec(spec forge.HookSpec) error {
	if err := checkHookURL(spec.URL); err != nil {
		return err
	}
	if spec.Secret.IsZero() {
		return &forge.InvalidInputError{Field: "secret", Reason: "a webhook needs a secret; gitaccess verifies every delivery's signature with it"}
	}
	return nil
}

func checkHookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || hasControl(raw) {
		return &forge.InvalidInputError{Field: "hook_url", Reason: "the webhook URL must be an absolute http(s) URL without credentials"}
	}
	return nil
}
