package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/gitaccess/gitaccess/internal/forge"
)

var _ forge.Hooks = (*Forge)(nil)

// hookName labels gitaccess's hook in GitLab's settings page (GitLab 17.1+
// shows it; older versions ignore the parameter).
const hookName = "gitaccess"

// hookSettings is everything gitaccess sets on its hook, sent whole on
// create and on every update so a hand-edited hook comes back to it. GitLab
// sends the token itself in X-Gitlab-Token; it is write-only, so it is
// always sent (and a changed URL would reset it: doc/api/project_webhooks.md,
// "Edit a project webhook"). An empty branch filter sends every branch, and
// an empty custom template keeps GitLab's own payload, which ParseDelivery
// reads. Events gitaccess does not act on are turned off so they cost no
// deliveries.
func hookSettings(spec forge.HookSpec) gl.EditProjectHookOptions {
	on, off := gl.Ptr(true), gl.Ptr(false)
	return gl.EditProjectHookOptions{
		URL:                       gl.Ptr(spec.URL),
		Token:                     gl.Ptr(spec.Secret.Reveal()),
		Name:                      gl.Ptr(hookName),
		PushEvents:                on,
		TagPushEvents:             on,
		MergeRequestsEvents:       on,
		EnableSSLVerification:     on,
		PushEventsBranchFilter:    gl.Ptr(""),
		CustomWebhookTemplate:     gl.Ptr(""),
		IssuesEvents:              off,
		ConfidentialIssuesEvents:  off,
		NoteEvents:                off,
		ConfidentialNoteEvents:    off,
		JobEvents:                 off,
		PipelineEvents:            off,
		WikiPageEvents:            off,
		DeploymentEvents:          off,
		ReleasesEvents:            off,
		ResourceAccessTokenEvents: off,
	}
}

// checkSpec refuses a hook GitLab would refuse, or that could not be
// verified, before any request.
func checkSpec(spec forge.HookSpec) error {
	u, err := url.Parse(spec.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return &forge.InvalidInputError{Field: "url", Reason: "the webhook URL must be an absolute http(s) URL without credentials"}
	}
	if spec.Secret.IsZero() {
		return &forge.InvalidInputError{Field: "secret", Reason: "the webhook needs a secret, or GitLab's deliveries could not be told from forgeries"}
	}
	return nil
}

// hooksCall starts a call on the webhooks of fullName.
func (f *Forge) hooksCall(ctx context.Context, cred forge.Credential, fullName string) (context.Context, *browse, error) {
	name, err := projectPath(fullName)
	if err != nil {
		return ctx, nil, err
	}
	return f.browse(ctx, cred, name)
}

// Permissions the hooks API needs, as GitLab names them.
const (
	needAPI        = scopeAPI
	needMaintainer = "Maintainer role"
)

// failHooks maps a failed hooks request. GitLab lets only Maintainers and
// Owners read or manage project webhooks (read_web_hook and admin_web_hook
// in lib/api/project_hooks.rb; doc/api/project_webhooks.md,
// "Prerequisites"), and writes need the api scope, read_api opening GETs
// only: a 403 says which of the two is missing, as a *forge.PermissionError.
func (b *browse) failHooks(what, resource string, resp *gl.Response, err error) error {
	fl := classify(resp, err)
	if fl.status == http.StatusForbidden {
		needs := needMaintainer
		if fl.insufficientScope() {
			needs = needAPI
		}
		fix := "the token's user lacks the " + needs + " there (Owner also works); give it that role on the project or its group"
		if needs == needAPI {
			fix = "the token lacks the api scope; create a token with api"
		}
		return &forge.PermissionError{Provider: forge.GitLab, Host: b.host, Action: "manage the webhooks of", Repo: b.project,
			Status: fl.status, Needs: needs, Fix: fix, Message: b.token.Redact(fl.text)}
	}
	return b.fail(what, resource, resp, err)
}

// hooksPath names the hooks endpoint in errors.
func (b *browse) hooksPath() string { return "/projects/" + gl.PathEscape(b.project) + "/hooks" }

// listHooks reads every page of the project's hooks (the endpoint pages by
// offset, 20 a page unless asked: present paginate(...) in
// lib/api/project_hooks.rb).
func (b *browse) listHooks(ctx context.Context) ([]*gl.ProjectHook, error) {
	opt := &gl.ListProjectHooksOptions{ListOptions: gl.ListOptions{PerPage: perPage}}
	hooks, n, err := pages(ctx, b, "GET "+b.hooksPath(), b.failHooks, func(o ...gl.RequestOptionFunc) ([]*gl.ProjectHook, *gl.Response, error) {
		return b.c.Projects.ListProjectHooks(b.project, opt, o...)
	})
	if err != nil {
		return nil, err
	}
	b.f.logger.DebugContext(ctx, "gitlab hooks listed", "host", b.host, "project", b.project, "count", len(hooks), "requests", n)
	return hooks, nil
}

// withURL keeps the hooks whose URL is hookURL, in GitLab's order.
func withURL(hooks []*gl.ProjectHook, hookURL string) []*gl.ProjectHook {
	var out []*gl.ProjectHook
	for _, h := range hooks {
		if h != nil && h.URL == hookURL {
			out = append(out, h)
		}
	}
	return out
}

// EnsureHook creates gitaccess's hook on fullName, or puts the one with
// spec.URL back to exactly hookSettings (a PUT even when nothing looks
// changed: the token cannot be read back to compare). Extra hooks with the
// same URL are deleted, since each would deliver every event again.
func (f *Forge) EnsureHook(ctx context.Context, cred forge.Credential, fullName string, spec forge.HookSpec) (forge.Hook, error) {
	if err := checkSpec(spec); err != nil {
		return forge.Hook{}, err
	}
	ctx, b, err := f.hooksCall(ctx, cred, fullName)
	if err != nil {
		return forge.Hook{}, err
	}
	hooks, err := b.listHooks(ctx)
	if err != nil {
		return forge.Hook{}, err
	}
	ours := withURL(hooks, spec.URL)
	settings := hookSettings(spec)
	if len(ours) == 0 {
		add := gl.AddProjectHookOptions(settings)
		h, resp, err := b.c.Projects.AddProjectHook(b.project, &add, gl.WithContext(ctx))
		if err != nil {
			return forge.Hook{}, b.failHooks("POST "+b.hooksPath(), b.project, resp, err)
		}
		f.logger.InfoContext(ctx, "gitlab webhook created", "host", b.host, "project", b.project, "hook_id", h.ID, "url", h.URL)
		return hookOf(h), nil
	}
	what := fmt.Sprintf("PUT %s/%d", b.hooksPath(), ours[0].ID)
	h, resp, err := b.c.Projects.EditProjectHook(b.project, ours[0].ID, &settings, gl.WithContext(ctx))
	if err != nil {
		return forge.Hook{}, b.failHooks(what, "webhook "+spec.URL+" of "+b.project, resp, err)
	}
	for _, extra := range ours[1:] {
		if err := b.deleteHook(ctx, extra.ID); err != nil {
			return forge.Hook{}, err
		}
	}
	f.logger.InfoContext(ctx, "gitlab webhook updated", "host", b.host, "project", b.project, "hook_id", h.ID,
		"url", h.URL, "drift_before", drift(ours[0]), "duplicates_deleted", len(ours)-1)
	return hookOf(h), nil
}

// FindHook reports the hook whose URL is hookURL, with how it drifted from
// hookSettings. The token cannot be read back, so it is never compared.
func (f *Forge) FindHook(ctx context.Context, cred forge.Credential, fullName, hookURL string) (forge.Hook, bool, error) {
	ctx, b, err := f.hooksCall(ctx, cred, fullName)
	if err != nil {
		return forge.Hook{}, false, err
	}
	hooks, err := b.listHooks(ctx)
	if err != nil {
		return forge.Hook{}, false, err
	}
	ours := withURL(hooks, hookURL)
	if len(ours) == 0 {
		return forge.Hook{}, false, nil
	}
	h := hookOf(ours[0])
	if len(ours) > 1 {
		h.Drift = append(h.Drift, fmt.Sprintf("%d hooks with this URL (each delivers every event)", len(ours)))
	}
	return h, true, nil
}

// DeleteHook deletes every hook whose URL is hookURL. No such hook, or one
// deleted meanwhile, is no error; a project that is gone or hidden is.
func (f *Forge) DeleteHook(ctx context.Context, cred forge.Credential, fullName, hookURL string) error {
	ctx, b, err := f.hooksCall(ctx, cred, fullName)
	if err != nil {
		return err
	}
	hooks, err := b.listHooks(ctx)
	if err != nil {
		return err
	}
	for _, h := range withURL(hooks, hookURL) {
		if err := b.deleteHook(ctx, h.ID); err != nil {
			return err
		}
		f.logger.InfoContext(ctx, "gitlab webhook deleted", "host", b.host, "project", b.project, "hook_id", h.ID, "url", h.URL)
	}
	return nil
}

// deleteHook deletes one hook; GitLab's 404 for a hook already gone ("404
// Not found", not "404 Project Not Found") counts as done.
func (b *browse) deleteHook(ctx context.Context, id int64) error {
	resp, err := b.c.Projects.DeleteProjectHook(b.project, id, gl.WithContext(ctx))
	if err == nil {
		return nil
	}
	what := fmt.Sprintf("DELETE %s/%d", b.hooksPath(), id)
	err = b.failHooks(what, fmt.Sprintf("webhook %d of %s", id, b.project), resp, err)
	var nf *forge.NotFoundError
	if errors.As(err, &nf) && nf.Resource != b.project {
		return nil
	}
	return err
}

// hookOf is a GitLab hook as gitaccess reports it. GitLab disables a hook
// whose deliveries keep failing and says so in alert_status (executable,
// temporarily_disabled or disabled; WebHooks::AutoDisabling).
func hookOf(h *gl.ProjectHook) forge.Hook {
	return forge.Hook{
		ID:     strconv.FormatInt(h.ID, 10),
		URL:    h.URL,
		Active: h.AlertStatus == "" || h.AlertStatus == "executable",
		Events: hookEvents(h),
		Drift:  drift(h),
	}
}

// hookEvents names the events the hook sends, by GitLab's API flag names:
// gitaccess's three first, then the others in alphabetical order.
func hookEvents(h *gl.ProjectHook) []string {
	var out []string
	for _, e := range []struct {
		name string
		on   bool
	}{
		{"push_events", h.PushEvents},
		{"tag_push_events", h.TagPushEvents},
		{"merge_requests_events", h.MergeRequestsEvents},
		{"confidential_issues_events", h.ConfidentialIssuesEvents},
		{"confidential_note_events", h.ConfidentialNoteEvents},
		{"deployment_events", h.DeploymentEvents},
		{"emoji_events", h.EmojiEvents},
		{"feature_flag_events", h.FeatureFlagEvents},
		{"issues_events", h.IssuesEvents},
		{"job_events", h.JobEvents},
		{"milestone_events", h.MilestoneEvents},
		{"note_events", h.NoteEvents},
		{"pipeline_events", h.PipelineEvents},
		{"releases_events", h.ReleasesEvents},
		{"repository_update_events", h.RepositoryUpdateEvents},
		{"resource_access_token_events", h.ResourceAccessTokenEvents},
		{"vulnerability_events", h.VulnerabilityEvents},
		{"wiki_page_events", h.WikiPageEvents},
	} {
		if e.on {
			out = append(out, e.name)
		}
	}
	return out
}

// drift lists how h differs from hookSettings in ways that cost gitaccess
// events or safety. Other events left on only cost deliveries gitaccess
// ignores, so they are not drift (EnsureHook still turns them off).
func drift(h *gl.ProjectHook) []string {
	var out []string
	if !h.PushEvents {
		out = append(out, "push events off")
	} else if h.PushEventsBranchFilter != "" && h.BranchFilterStrategy != "all_branches" {
		// GitLab's filter is a wildcard, or a regex with branch_filter_strategy=regex.
		out = append(out, fmt.Sprintf("push events only for branches matching %q", oneLine(h.PushEventsBranchFilter)))
	}
	if !h.TagPushEvents {
		out = append(out, "tag push events off")
	}
	if !h.MergeRequestsEvents {
		out = append(out, "merge request events off")
	}
	if !h.EnableSSLVerification {
		out = append(out, "SSL verification off")
	}
	if strings.TrimSpace(h.CustomWebhookTemplate) != "" {
		out = append(out, "custom webhook template (GitLab sends it instead of its own payload)")
	}
	switch h.AlertStatus {
	case "", "executable":
	case "temporarily_disabled":
		out = append(out, "temporarily disabled by GitLab after failed deliveries")
	default:
		out = append(out, "disabled by GitLab after failed deliveries ("+oneLine(h.AlertStatus)+")")
	}
	return out
}
