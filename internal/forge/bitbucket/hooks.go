package bitbucket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
)

var _ forge.Hooks = (*Forge)(nil)

// hookDescription names gitaccess's hook in Bitbucket's settings page.
const hookDescription = "gitaccess"

// hookEvents are the events gitaccess subscribes to: pushes (branches and
// tags arrive as repo:push changes) and the pull request events that open,
// update and close a preview. Review events (approved,
// changes_request_created...) change no code, so they are left out.
// Subscribing needs the webhook scope and the scope of every event:
// repository for repo:push, pullrequest for pullrequest:* (API reference,
// "Create a webhook for a repository").
func hookEvents() []string {
	return []string{"repo:push", "pullrequest:created", "pullrequest:updated", "pullrequest:fulfilled", "pullrequest:rejected"}
}

// subscription is a webhook_subscription (contracts api/hooks.get.json).
type subscription struct {
	UUID        string   `json:"uuid"`
	Description string   `json:"description"`
	URL         string   `json:"url"`
	Active      bool     `json:"active"`
	Events      []string `json:"events"`
	// SecretSet is nil when Bitbucket does not say (the 2019 listing in
	// contracts api/hooks.list.json has no secret_set).
	SecretSet *bool `json:"secret_set"`
}

// hookBody is what gitaccess writes on POST and PUT. The secret is always
// sent: on PUT an absent secret would leave a stale one in place (API
// reference, "Update a webhook for a repository").
type hookBody struct {
	Description string   `json:"description"`
	URL         string   `json:"url"`
	Active      bool     `json:"active"`
	Events      []string `json:"events"`
	Secret      string   `json:"secret"`
}

// EnsureHook installs gitaccess's hook on workspace/slug, or puts the one
// whose URL is spec.URL back to exactly gitaccess's settings (PUT, secret
// included). Further hooks with the same URL are deleted: each would sign
// and send every event again under its own request UUID, which
// deduplication cannot catch.
func (f *Forge) EnsureHook(ctx context.Context, cred forge.Credential, fullName string, spec forge.HookSpec) (forge.Hook, error) {
	if err := checkSpec(spec); err != nil {
		return forge.Hook{}, err
	}
	c, ws, slug, err := f.hookClient(cred, fullName)
	if err != nil {
		return forge.Hook{}, err
	}
	mine, err := c.hooksAt(ctx, ws, slug, spec.URL)
	if err != nil {
		return forge.Hook{}, c.hookRefusal(err, ws, slug, spec.Secret)
	}
	body, err := json.Marshal(hookBody{Description: hookDescription, URL: spec.URL, Active: true, Events: hookEvents(), Secret: spec.Secret.Reveal()})
	if err != nil {
		return forge.Hook{}, fmt.Errorf("bitbucket: encoding the hook: %w", err)
	}
	var a *answer
	if len(mine) == 0 {
		a, err = c.do(ctx, http.MethodPost, c.endpoint(nil, "repositories", ws, slug, "hooks"), bytes.NewReader(body))
	} else {
		a, err = c.do(ctx, http.MethodPut, c.endpoint(nil, "repositories", ws, slug, "hooks", mine[0].UUID), bytes.NewReader(body))
	}
	clear(body)
	if err != nil {
		return forge.Hook{}, c.hookRefusal(err, ws, slug, spec.Secret)
	}
	var s subscription
	if err := c.decode(a, "the webhook", &s); err != nil {
		return forge.Hook{}, err
	}
	for _, dup := range mine[min(1, len(mine)):] {
		if err := c.deleteHook(ctx, ws, slug, dup.UUID); err != nil {
			return forge.Hook{}, c.hookRefusal(err, ws, slug, spec.Secret)
		}
	}
	action := "updated"
	if len(mine) == 0 {
		action = "created"
	}
	f.logger.InfoContext(ctx, "bitbucket webhook "+action, "repository", ws+"/"+slug, "hook", s.UUID,
		"duplicates_deleted", max(0, len(mine)-1), "requests", c.Requests)
	return toHook(s, 1), nil
}

// FindHook reports the hook whose URL is hookURL, with how it drifted from
// what EnsureHook installs.
func (f *Forge) FindHook(ctx context.Context, cred forge.Credential, fullName, hookURL string) (forge.Hook, bool, error) {
	c, ws, slug, err := f.hookClient(cred, fullName)
	if err != nil {
		return forge.Hook{}, false, err
	}
	mine, err := c.hooksAt(ctx, ws, slug, hookURL)
	if err != nil {
		return forge.Hook{}, false, c.hookRefusal(err, ws, slug, secret.Value{})
	}
	if len(mine) == 0 {
		return forge.Hook{}, false, nil
	}
	return toHook(mine[0], len(mine)), true, nil
}

// DeleteHook deletes every hook whose URL is hookURL; none is no error,
// and neither is one deleted by someone else meanwhile (404).
func (f *Forge) DeleteHook(ctx context.Context, cred forge.Credential, fullName, hookURL string) error {
	c, ws, slug, err := f.hookClient(cred, fullName)
	if err != nil {
		return err
	}
	mine, err := c.hooksAt(ctx, ws, slug, hookURL)
	if err != nil {
		return c.hookRefusal(err, ws, slug, secret.Value{})
	}
	for _, h := range mine {
		if err := c.deleteHook(ctx, ws, slug, h.UUID); err != nil {
			return c.hookRefusal(err, ws, slug, secret.Value{})
		}
	}
	if len(mine) > 0 {
		f.logger.InfoContext(ctx, "bitbucket webhook deleted", "repository", ws+"/"+slug, "hooks", len(mine))
	}
	return nil
}

// checkSpec refuses a hook Bitbucket would take but gitaccess could not
// use: without a secret Bitbucket signs nothing ("Passing a null or empty
// secret ... will leave the webhook's secret unset"), so every delivery
// would be refused as unsigned.
func checkSpec(spec forge.HookSpec) error {
	u, err := url.Parse(spec.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return &forge.InvalidInputError{Field: "url", Reason: "the hook URL must be an absolute http(s) URL without credentials"}
	}
	if spec.Secret.IsZero() {
		return &forge.InvalidInputError{Field: "secret", Reason: "a webhook needs a secret, or Bitbucket sends its deliveries unsigned"}
	}
	return nil
}

// hookClient checks the credential as browsing does and splits the
// repository's full name.
func (f *Forge) hookClient(cred forge.Credential, fullName string) (*client, string, string, error) {
	c, _, err := f.browser(cred)
	if err != nil {
		return nil, "", "", err
	}
	ws, slug, err := splitFullName(fullName)
	if err != nil {
		return nil, "", "", err
	}
	return c, ws, slug, nil
}

// hooksAt lists every hook on the repository (every page) and keeps those
// whose URL is hookURL, oldest first as Bitbucket lists them.
func (c *client) hooksAt(ctx context.Context, ws, slug, hookURL string) ([]subscription, error) {
	all, err := list[subscription](ctx, c, "the webhook list", 0, nil, "repositories", ws, slug, "hooks")
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(s subscription) bool { return s.URL != hookURL }), nil
}

// deleteHook deletes one hook; one already gone is no error.
func (c *client) deleteHook(ctx context.Context, ws, slug, uid string) error {
	_, err := c.do(ctx, http.MethodDelete, c.endpoint(nil, "repositories", ws, slug, "hooks", uid), nil)
	var se *statusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return nil
	}
	return err
}

// hookRefusal sorts a refusal of a hook call. A missing scope is a
// *forge.PermissionError naming the access-token permission to grant; a
// 404 (or a 403 that is not about scopes) means the token cannot see the
// repository. The hook secret is redacted from whatever Bitbucket echoed.
func (c *client) hookRefusal(err error, ws, slug string, hookSecret secret.Value) error {
	err = c.missingScope(err, "manage the webhooks of", ws+"/"+slug)
	err = c.refusal(err, ws+"/"+slug)
	var perm *forge.PermissionError
	if errors.As(err, &perm) {
		perm.Message = hookSecret.Redact(perm.Message)
	}
	var pe *forge.ProviderError
	if errors.As(err, &pe) {
		pe.Message = hookSecret.Redact(pe.Message)
	}
	var nf *forge.NotFoundError
	if errors.As(err, &nf) {
		nf.Message = hookSecret.Redact(nf.Message)
	}
	return err
}

// scopeLabel names a scope as the access-token screen does, from the
// same table Inspect checks.
func scopeLabel(scope string) string {
	for _, u := range forge.AllUses {
		for _, n := range needsFor(u) {
			if n.scope == scope {
				return n.label
			}
		}
	}
	return scope
}

// toHook maps a subscription; copies is how many hooks share its URL.
func toHook(s subscription, copies int) forge.Hook {
	return forge.Hook{ID: s.UUID, URL: s.URL, Active: s.Active, Events: slices.Clone(s.Events), Drift: drift(s, copies)}
}

// drift lists how a hook differs from what EnsureHook installs. The
// secret cannot be read back, only whether one is set.
func drift(s subscription, copies int) []string {
	var out []string
	if !s.Active {
		out = append(out, "inactive")
	}
	for _, ev := range hookEvents() {
		if !slices.Contains(s.Events, ev) {
			out = append(out, "no "+ev+" events")
		}
	}
	for _, ev := range s.Events {
		if !slices.Contains(hookEvents(), ev) {
			out = append(out, "extra "+ev+" events")
		}
	}
	if s.SecretSet != nil && !*s.SecretSet {
		out = append(out, "no secret set")
	}
	if copies > 1 {
		out = append(out, fmt.Sprintf("%d hooks share this URL", copies))
	}
	return out
}
