package gitea

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gitaccess/gitaccess/internal/forge"
)

// hookType is the payload format gitaccess installs. Forgejo also offers
// "forgejo" but keeps accepting "gitea", with the same payloads and both
// X-Gitea-* and X-Forgejo-* headers, so one type serves both.
const hookType = "gitea"

// hookEvents lists the events gitaccess subscribes to (CreateHookOption
// events): pushes, tag creation (create), branch and tag deletion (delete),
// and "pull_request", which Gitea expands to every pull request event,
// synchronize included (routers/api/v1/utils/hook.go pullHook).
func hookEvents() []string { return []string{"push", "create", "delete", "pull_request"} }

// hook is Gitea's Hook (swagger #/definitions/Hook). The secret is never
// returned; config holds url and content_type ("json" or "form"), and
// newer versions http_method.
type hook struct {
	ID           int64             `json:"id"`
	Type         string            `json:"type"`
	Config       map[string]string `json:"config"`
	Events       []string          `json:"events"`
	Active       bool              `json:"active"`
	BranchFilter string            `json:"branch_filter"`
}

// hookOption is CreateHookOption and, without Type, EditHookOption
// (swagger #/definitions/CreateHookOption, #/definitions/EditHookOption).
type hookOption struct {
	Type         string            `json:"type,omitempty"`
	Config       map[string]string `json:"config"`
	Events       []string          `json:"events"`
	BranchFilter string            `json:"branch_filter"`
	Active       *bool             `json:"active"`
}

// drift lists how h differs from what gitaccess installs, in words a user
// can act on.
func drift(h hook) []string {
	var out []string
	if !h.Active {
		out = append(out, "inactive")
	}
	if h.Type != hookType && h.Type != "forgejo" {
		out = append(out, fmt.Sprintf("type %s, not gitea", h.Type))
	}
	if ct := h.Config["content_type"]; ct != "json" {
		out = append(out, "content type "+ct)
	}
	if m := h.Config["http_method"]; m != "" && !strings.EqualFold(m, http.MethodPost) {
		out = append(out, "HTTP method "+m)
	}
	if bf := h.BranchFilter; bf != "" && bf != "*" {
		out = append(out, "branch filter "+bf)
	}
	has := func(e string) bool { return slices.Contains(h.Events, e) }
	for _, e := range []struct{ name, words string }{
		{"push", "no push events"},
		{"create", "no create (tag) events"},
		{"delete", "no delete events"},
		{"pull_request", "no pull request events"},
	} {
		if !has(e.name) {
			out = append(out, e.words)
		}
	}
	// Newer Gitea lists each pull request event it sends; without
	// pull_request_sync, pushes to an open pull request go unseen.
	if has("pull_request") && slices.ContainsFunc(h.Events, func(e string) bool { return strings.HasPrefix(e, "pull_request_") }) && !has("pull_request_sync") {
		out = append(out, "no pull request synchronize events")
	}
	return out
}

func hookOf(h hook) forge.Hook {
	return forge.Hook{ID: strconv.FormatInt(h.ID, 10), URL: h.Config["url"], Active: h.Active,
		Events: slices.Clone(h.Events), Drift: drift(h)}
}

// hooksFail maps a failed hook request: only repository admins may manage
// hooks (reqAdmin), the administrator may disable webhooks
// (reqWebhooksEnabled), and a scope 403 (write:repository) is a
// *forge.PermissionError. A role refusal stays a *forge.ProviderError, but
// names the role.
func (b *browse) hooksFail(what string, err error) error {
	var se *statusError
	switch {
	case errors.As(err, &se) && se.ScopeRefusal():
		return b.c.missingScope(se, "manage the webhooks of", b.full())
	case errors.As(err, &se) && se.Status == http.StatusForbidden && strings.Contains(se.Message, "webhooks disabled"):
		return &forge.ProviderError{Provider: Provider, Host: b.c.Host, Status: se.Status,
			Message: fmt.Sprintf("%s: %s; the Gitea administrator turned webhooks off ([webhook] DISABLE_WEBHOOKS)", what, se.Message)}
	case errors.As(err, &se) && se.Status == http.StatusForbidden:
		return &forge.ProviderError{Provider: Provider, Host: b.c.Host, Status: se.Status,
			Message: fmt.Sprintf("%s: %s; the token's user needs %s: Gitea lets only admins of %s (its owner, admin collaborators, organization owners) manage its webhooks", what, se.Message, needRepoAdmin, b.full())}
	}
	return b.fail(what, b.full(), err)
}

// hooks lists the repository's hooks, every page.
func (b *browse) hooks(ctx context.Context) ([]hook, error) {
	what := "GET " + apiPath + "/repos/" + b.full() + "/hooks"
	hs, err := list[hook](ctx, b.c, what, b.repoPath("hooks"))
	if err != nil {
		return nil, b.hooksFail(what, err)
	}
	return hs, nil
}

// matching returns the hooks whose URL is hookURL.
func matching(hs []hook, hookURL string) []hook {
	var out []hook
	for _, h := range hs {
		if h.Config["url"] == hookURL {
			out = append(out, h)
		}
	}
	return out
}

// EnsureHook creates the hook, or edits the one with spec.URL to exactly
// what gitaccess installs (PATCH sets url, content type, secret, events,
// branch filter and active together), and deletes any further hook with
// the same URL, so the repository ends with one.
func (f *Forge) EnsureHook(ctx context.Context, cred forge.Credential, fullName string, spec forge.HookSpec) (forge.Hook, error) {
	u, err := url.Parse(spec.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return forge.Hook{}, &forge.InvalidInputError{Field: "hook_url", Reason: "the webhook URL must be an http(s) URL without credentials"}
	}
	if spec.Secret.IsZero() {
		return forge.Hook{}, &forge.InvalidInputError{Field: "hook_secret", Reason: "the webhook needs a secret, so deliveries can be verified"}
	}
	b, err := f.browser(cred, fullName)
	if err != nil {
		return forge.Hook{}, err
	}
	b.c.Scrub = append(b.c.Scrub, spec.Secret)
	hs, err := b.hooks(ctx)
	if err != nil {
		return forge.Hook{}, err
	}
	active := true
	opt := hookOption{
		Config:       map[string]string{"url": spec.URL, "content_type": "json", "secret": spec.Secret.Reveal()},
		Events:       hookEvents(),
		BranchFilter: "*",
		Active:       &active,
	}
	found := matching(hs, spec.URL)
	var a *answer
	var what string
	if len(found) == 0 {
		opt.Type = hookType
		what = "POST " + apiPath + "/repos/" + b.full() + "/hooks"
		a, err = b.c.do(ctx, http.MethodPost, b.repoPath("hooks"), opt)
	} else {
		id := strconv.FormatInt(found[0].ID, 10)
		what = "PATCH " + apiPath + "/repos/" + b.full() + "/hooks/" + id
		a, err = b.c.do(ctx, http.MethodPatch, b.repoPath("hooks", id), opt)
	}
	if err != nil {
		return forge.Hook{}, b.hooksFail(what, err)
	}
	var h hook
	if err := b.c.decode(a, what, &h); err != nil {
		return forge.Hook{}, err
	}
	for _, dup := range found[min(1, len(found)):] {
		if err := b.deleteHook(ctx, dup.ID); err != nil {
			return forge.Hook{}, err
		}
	}
	out := hookOf(h)
	f.logger.InfoContext(ctx, "gitea webhook ensured", "host", b.c.Host, "repository", b.full(), "hook_id", out.ID,
		"created", len(found) == 0, "duplicates_removed", max(0, len(found)-1), "drift", out.Drift)
	return out, nil
}

// FindHook finds the hook whose URL is hookURL.
func (f *Forge) FindHook(ctx context.Context, cred forge.Credential, fullName, hookURL string) (forge.Hook, bool, error) {
	b, err := f.browser(cred, fullName)
	if err != nil {
		return forge.Hook{}, false, err
	}
	hs, err := b.hooks(ctx)
	if err != nil {
		return forge.Hook{}, false, err
	}
	found := matching(hs, hookURL)
	if len(found) == 0 {
		return forge.Hook{}, false, nil
	}
	out := hookOf(found[0])
	if len(found) > 1 {
		out.Drift = append(out.Drift, fmt.Sprintf("%d hooks with this URL", len(found)))
	}
	return out, true, nil
}

// DeleteHook deletes every hook whose URL is hookURL; none is no error.
func (f *Forge) DeleteHook(ctx context.Context, cred forge.Credential, fullName, hookURL string) error {
	b, err := f.browser(cred, fullName)
	if err != nil {
		return err
	}
	hs, err := b.hooks(ctx)
	if err != nil {
		return err
	}
	found := matching(hs, hookURL)
	for _, h := range found {
		if err := b.deleteHook(ctx, h.ID); err != nil {
			return err
		}
	}
	f.logger.InfoContext(ctx, "gitea webhook deleted", "host", b.c.Host, "repository", b.full(), "deleted", len(found))
	return nil
}

// deleteHook is DELETE /repos/{owner}/{repo}/hooks/{id}; a hook already
// gone (404 with the repository still there) is no error.
func (b *browse) deleteHook(ctx context.Context, id int64) error {
	sid := strconv.FormatInt(id, 10)
	what := "DELETE " + apiPath + "/repos/" + b.full() + "/hooks/" + sid
	_, err := b.c.do(ctx, http.MethodDelete, b.repoPath("hooks", sid), nil)
	var se *statusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		if _, gerr := b.c.do(ctx, http.MethodGet, b.repoPath(), nil); gerr == nil {
			return nil
		}
	}
	if err != nil {
		return b.hooksFail(what, err)
	}
	return nil
}
