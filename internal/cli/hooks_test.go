package cli_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/access"
)

const signingSecret = "whsec_TWFrZSBzdXJlIHRoaXMgaXMgc2hvd24gb25seSBvbmNlIQ=="

func hookView(state, detail string, drift ...string) access.HookView {
	return access.HookView{URL: "https://gitaccess.example.com/hooks/hk_7", State: state, StateDetail: detail, ProviderHookID: "4711", Drift: drift, CheckedAt: ptr(now)}
}

// requestLines lists the API requests made, as "METHOD PATH?QUERY".
func requestLines(api *fakeAPI) []string {
	var lines []string
	for _, rq := range api.requests() {
		line := rq.Method + " " + rq.Path
		if rq.Query != "" {
			line += "?" + rq.Query
		}
		lines = append(lines, line)
	}
	return lines
}

func TestHookCheckRepairAndDeliveries(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("POST /api/v1/apps/{name}/hook/check", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") == "drifted" {
			reply(w, 200, hookView("altered", "changed on the provider: inactive, no push events; gitaccess hook repair drifted restores it", "inactive", "no push events"))
			return
		}
		reply(w, 200, hookView("installed", ""))
	})
	api.handle("POST /api/v1/apps/{name}/hook/repair", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, hookView("installed", "")) })
	api.handle("GET /api/v1/apps/{name}/deliveries", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") == "quiet" {
			reply(w, 200, map[string]any{"items": nil, "next_cursor": ""})
			return
		}
		reply(w, 200, map[string]any{"items": []access.DeliveryView{
			{ID: "dlv_3", DeliveryID: "72d3162e-cc78-11e3-81ab-4c9367dc0958", Event: "push", ReceivedAt: now, Verdict: "ignored", Detail: "push to refs/heads/feature, not main"},
			{ID: "dlv_2", DeliveryID: "d-2", Event: "push", ReceivedAt: now.Add(-time.Hour), Verdict: "accepted", Detail: "emitted deploy.requested", Duplicates: 2},
			{ID: "dlv_1", Event: "push", ReceivedAt: now.Add(-2 * time.Hour), Verdict: "bad-signature", Detail: "the delivery's signature does not match the hook's secret\x1b[2J"},
		}, "next_cursor": ""})
	})
	h := newHarness(t).loggedIn(api)

	r := h.run("", "hook", "check", "web").ok(t)
	for _, s := range []string{"https://gitaccess.example.com/hooks/hk_7", "installed", "4711", "2026-01-10 12:00 UTC"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("hook check lacks %q:\n%s", s, r.stdout)
		}
	}
	// Drift is reported with the way back.
	r = h.run("", "hook", "check", "drifted").ok(t)
	if !strings.Contains(r.stdout, "inactive, no push events") || !strings.Contains(r.stdout, "The webhook is altered; restore it with: gitaccess hook repair drifted") {
		t.Errorf("drift not shown:\n%s", r.stdout)
	}
	r = h.run("", "hook", "check", "drifted", "-o", "json").ok(t)
	var hv access.HookView
	if err := json.Unmarshal([]byte(r.stdout), &hv); err != nil || hv.State != "altered" || len(hv.Drift) != 2 {
		t.Errorf("hook check -o json = %+v, %v:\n%s", hv, err, r.stdout)
	}

	r = h.run("", "hook", "repair", "web").ok(t)
	if !strings.Contains(r.stdout, "Repaired the webhook of web.") || !strings.Contains(r.stdout, "installed") {
		t.Errorf("hook repair:\n%s", r.stdout)
	}

	r = h.run("", "hook", "deliveries", "web", "--limit", "3").ok(t)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("deliveries table has %d lines:\n%s", len(lines), r.stdout)
	}
	for i, want := range [][]string{
		{"TIME", "EVENT", "DELIVERY ID", "VERDICT", "DETAIL"},
		{"2026-01-10 12:00 UTC", "push", "72d3162e-cc78-11e3-81ab-4c9367dc0958", "ignored", "push to refs/heads/feature, not main"},
		{"2026-01-10 11:00 UTC", "d-2", "accepted (+2 duplicates)", "emitted deploy.requested"},
		{"2026-01-10 10:00 UTC", "-", "bad-signature", "does not match the hook's secret?[2J"},
	} {
		for _, s := range want {
			if !strings.Contains(lines[i], s) {
				t.Errorf("line %d lacks %q: %s", i, s, lines[i])
			}
		}
	}
	if strings.Contains(r.stdout, "\x1b") {
		t.Error("a control character from the server reached the terminal")
	}
	r = h.run("", "hook", "deliveries", "quiet").ok(t)
	if !strings.Contains(r.stdout, "No deliveries received for quiet yet") {
		t.Errorf("empty deliveries:\n%s", r.stdout)
	}
	h.run("", "hook", "deliveries").failed(t, "needs the application NAME")

	want := []string{
		"POST /api/v1/apps/web/hook/check",
		"POST /api/v1/apps/drifted/hook/check",
		"POST /api/v1/apps/drifted/hook/check",
		"POST /api/v1/apps/web/hook/repair",
		"GET /api/v1/apps/web/deliveries?limit=3",
		"GET /api/v1/apps/quiet/deliveries?limit=20",
	}
	if d := cmp.Diff(want, requestLines(api)); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
}

func TestAppShowAndDeleteWithAWebhook(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("GET /api/v1/apps/{name}", func(w http.ResponseWriter, r *http.Request) {
		v := appView(r.PathValue("name"))
		v.AutoDeploy = true
		hv := hookView("missing", "the hook is gone from acme/api; gitaccess hook repair web restores it")
		v.Hook = &hv
		reply(w, 200, v)
	})
	api.handle("DELETE /api/v1/apps/{name}", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("force") == "true" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		problem(w, 502, `{"type":"urn:gitaccess:problem:provider-error","title":"Provider error","status":502,"detail":"GitHub at github.com answered HTTP 500 for the webhooks of acme/api"}`)
	})
	h := newHarness(t).loggedIn(api)
	r := h.run("", "app", "show", "web").ok(t)
	for _, s := range []string{"Webhook:", "https://gitaccess.example.com/hooks/hk_7", "Webhook state:", "missing: the hook is gone from acme/api", "checked 2026-01-10 12:00 UTC"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("app show lacks %q:\n%s", s, r.stdout)
		}
	}
	h.run("", "app", "delete", "web", "--yes").failed(t, "answered HTTP 500", "hint:", "--force")
	r = h.run("", "app", "delete", "web", "--yes", "--force").ok(t)
	if !strings.Contains(r.stdout, "Deleted application web.") {
		t.Errorf("stdout = %q", r.stdout)
	}
	want := []string{"GET /api/v1/apps/web", "DELETE /api/v1/apps/web", "DELETE /api/v1/apps/web?force=true"}
	if d := cmp.Diff(want, requestLines(api)); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
}

func TestSubscriptionVerbs(t *testing.T) {
	created := access.SubscriptionView{ID: "sub_1", URL: "https://deploy.example.com/gitaccess", Events: []string{"deploy.*", "preview.*"}, CreatedAt: now}
	api := newFakeAPI(t)
	api.handle("POST /api/v1/subscriptions", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusCreated, map[string]any{"id": created.ID, "url": created.URL, "events": created.Events, "created_at": created.CreatedAt, "secret": signingSecret})
	})
	api.handle("GET /api/v1/subscriptions", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"items": []access.SubscriptionView{created}})
	})
	api.handle("DELETE /api/v1/subscriptions/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := newHarness(t).loggedIn(api)

	h.run("", "subscription", "add", "https://deploy.example.com/gitaccess").failed(t, "--events is required")
	r := h.run("", "subscription", "add", "https://deploy.example.com/gitaccess", "--events", "deploy.*, preview.*").ok(t)
	if strings.Count(r.stdout, signingSecret) != 1 || !strings.Contains(r.stdout, "shown only once") || !strings.Contains(r.stdout, "Created subscription sub_1") {
		t.Errorf("subscription add does not show the secret once with its warning:\n%s", r.stdout)
	}
	r = h.run("", "subscription", "add", "https://deploy.example.com/gitaccess", "--events", "deploy.*", "--events", "preview.*", "-o", "json").ok(t)
	var out map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out["secret"] != signingSecret || out["id"] != "sub_1" {
		t.Errorf("subscription add -o json = %v, %v", out, err)
	}

	r = h.run("", "subscription", "list").ok(t)
	for _, s := range []string{"ID", "URL", "EVENTS", "sub_1", "https://deploy.example.com/gitaccess", "deploy.*, preview.*", "2026-01-10"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("subscription list lacks %q:\n%s", s, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "whsec_") {
		t.Errorf("subscription list shows a secret:\n%s", r.stdout)
	}

	h.run("", "subscription", "delete", "sub_1").failed(t, "stdin is not a terminal", "--yes")
	h.terminal, h.prompter = true, &fakePrompter{line: "sub_2"}
	h.run("", "subscription", "delete", "sub_1").failed(t, "the id you typed does not match")
	p := &fakePrompter{line: "sub_1"}
	h.prompter = p
	r = h.run("", "subscription", "delete", "sub_1").ok(t)
	if len(p.prompts) != 1 || !strings.Contains(p.prompts[0], "Deleting subscription sub_1 cannot be undone. Type its id") || !strings.Contains(r.stdout, "Deleted subscription sub_1.") {
		t.Errorf("prompts %q, stdout %q", p.prompts, r.stdout)
	}
	h.terminal = false
	h.run("", "subscription", "delete", "sub_1", "--yes").ok(t)

	reqs := api.requests()
	if d := cmp.Diff(map[string]any{"url": "https://deploy.example.com/gitaccess", "events": []any{"deploy.*", "preview.*"}}, decodeBody(t, reqs[0].Body)); d != "" {
		t.Errorf("add body (-want +got):\n%s", d)
	}
	if d := cmp.Diff(decodeBody(t, reqs[0].Body), decodeBody(t, reqs[1].Body)); d != "" {
		t.Errorf("repeated --events differ from a comma list (-first +second):\n%s", d)
	}
	want := []string{"POST /api/v1/subscriptions", "POST /api/v1/subscriptions", "GET /api/v1/subscriptions", "DELETE /api/v1/subscriptions/sub_1", "DELETE /api/v1/subscriptions/sub_1"}
	if d := cmp.Diff(want, requestLines(api)); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}

	r = h.run("", "__complete", "subscription", "add", "https://x.example", "--events", "").ok(t)
	for _, s := range []string{"deploy.*", "preview.*", "token.expiring", "deploy.requested"} {
		if !strings.Contains(r.stdout, s+"\n") {
			t.Errorf("--events completion lacks %s:\n%s", s, r.stdout)
		}
	}
}

func TestEventsListAndReplay(t *testing.T) {
	next := now.Add(5 * time.Minute)
	api := newFakeAPI(t)
	api.handle("GET /api/v1/events", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"items": []access.EventView{
			{ID: "evt_2", Type: "deploy.requested", AppID: "app_1", CreatedAt: now, Payload: json.RawMessage(`{"type":"deploy.requested","data":{"app":"web","sha":"0123"}}`),
				Deliveries: []access.EventDeliveryView{
					{Subscription: "sub_1", Status: "delivered", Attempts: 1, LastStatus: 204, DeliveredAt: &now},
					{Subscription: "sub_2", Status: "pending", Attempts: 3, NextAttemptAt: &next, LastError: "connection refused"},
				}},
			{ID: "evt_1", Type: "token.expiring", CreatedAt: now.Add(-time.Hour), Payload: json.RawMessage(`{"data":{"token":"acme-ci"}}`), Deliveries: []access.EventDeliveryView{}},
		}, "next_cursor": ""})
	})
	api.handle("POST /api/v1/events/{id}/replay", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "evt_2" {
			problem(w, 404, `{"type":"urn:gitaccess:problem:not-found","title":"Not found","status":404,"detail":"no event \"evt_9\" in organization default"}`)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	h := newHarness(t).loggedIn(api)

	r := h.run("", "events", "list", "--limit", "10").ok(t)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("events table has %d lines:\n%s", len(lines), r.stdout)
	}
	for i, want := range [][]string{
		{"ID", "TYPE", "APP", "CREATED", "SUBSCRIPTION", "STATUS", "ATTEMPTS", "LAST ERROR"},
		{"evt_2", "deploy.requested", "web", "2026-01-10 12:00 UTC", "sub_1", "delivered", "1", "HTTP 204"},
		{"evt_2", "sub_2", "pending, next 2026-01-10 12:05 UTC", "3", "connection refused"},
		{"evt_1", "token.expiring", "token acme-ci", "no subscriber"},
	} {
		for _, s := range want {
			if !strings.Contains(lines[i], s) {
				t.Errorf("line %d lacks %q: %s", i, s, lines[i])
			}
		}
	}
	r = h.run("", "events", "list", "-o", "yaml").ok(t)
	if !strings.Contains(r.stdout, "type: deploy.requested") || !strings.Contains(r.stdout, "attempts: 3") {
		t.Errorf("events list -o yaml:\n%s", r.stdout)
	}

	r = h.run("", "events", "replay", "evt_2").ok(t)
	if !strings.Contains(r.stdout, "Queued event evt_2") {
		t.Errorf("replay: %q", r.stdout)
	}
	h.run("", "events", "replay", "evt_9").failed(t, `no event "evt_9"`)

	want := []string{"GET /api/v1/events?limit=10", "GET /api/v1/events?limit=50", "POST /api/v1/events/evt_2/replay", "POST /api/v1/events/evt_9/replay"}
	if d := cmp.Diff(want, requestLines(api)); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
}
