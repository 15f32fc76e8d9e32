package client_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/client"
)

func TestHooksAndDeliveries(t *testing.T) {
	at := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	hook := access.HookView{URL: "https://gitaccess.example.com/hooks/hk_1", State: "altered", StateDetail: "changed on the provider: inactive", Drift: []string{"inactive"}, CheckedAt: &at}
	deliveries := []access.DeliveryView{
		{ID: "dlv_2", DeliveryID: "d-2", Event: "push", ReceivedAt: at, Verdict: "ignored", Detail: "push to feature, not main"},
		{ID: "dlv_1", Event: "push", ReceivedAt: at, Verdict: "bad-signature", Detail: "signature does not match"},
	}
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"POST /api/v1/apps/web/hook/check": func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, hook) },
		"POST /api/v1/apps/web/hook/repair": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, access.HookView{URL: hook.URL, State: "installed"})
		},
		"GET /api/v1/apps/team%2Fweb/deliveries": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("cursor") == "" {
				writeJSON(w, 200, map[string]any{"items": deliveries[:1], "next_cursor": "c2"})
				return
			}
			writeJSON(w, 200, map[string]any{"items": deliveries[1:], "next_cursor": ""})
		},
		"DELETE /api/v1/apps/web": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) },
	}}
	c := newClient(t, rec)
	ctx := context.Background()
	got, err := c.CheckHook(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(hook, got); d != "" {
		t.Errorf("CheckHook (-want +got):\n%s", d)
	}
	if got, err := c.RepairHook(ctx, "web"); err != nil || got.State != "installed" {
		t.Errorf("RepairHook = %+v, %v", got, err)
	}
	ds, err := c.ListDeliveries(ctx, "team/web", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(deliveries, ds); d != "" {
		t.Errorf("ListDeliveries (-want +got):\n%s", d)
	}
	if err := c.DeleteApp(ctx, "web", true); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteApp(ctx, "web", false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CheckHook(ctx, ".."); err == nil {
		t.Error("CheckHook(..) sent a request")
	}
	var lines []string
	for _, r := range rec.requests() {
		lines = append(lines, r.Method+" "+r.RawPath+"?"+r.Query)
	}
	want := []string{
		"POST /api/v1/apps/web/hook/check?",
		"POST /api/v1/apps/web/hook/repair?",
		"GET /api/v1/apps/team%2Fweb/deliveries?limit=1000",
		"GET /api/v1/apps/team%2Fweb/deliveries?cursor=c2&limit=1000",
		"DELETE /api/v1/apps/web?force=true",
		"DELETE /api/v1/apps/web?",
	}
	if d := cmp.Diff(want, lines); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
}

func TestSubscriptionSecretArrivesAsASecret(t *testing.T) {
	const signing = "whsec_c2lnbmluZyBzZWNyZXQgZm9yIHRoZSBjbGllbnQgdGVzdA=="
	view := access.SubscriptionView{ID: "sub_1", URL: "https://platform.example.com/events", Events: []string{"deploy.*"}, CreatedAt: time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)}
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"POST /api/v1/subscriptions": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 201, map[string]any{"id": view.ID, "url": view.URL, "events": view.Events, "created_at": view.CreatedAt, "secret": signing})
		},
		"GET /api/v1/subscriptions":          func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]any{"items": nil}) },
		"DELETE /api/v1/subscriptions/sub_1": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) },
	}}
	c := newClient(t, rec)
	ctx := context.Background()
	sub, err := c.CreateSubscription(ctx, access.SubscriptionInput{URL: view.URL, Events: []string{"deploy.*"}})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(view, sub.SubscriptionView); d != "" {
		t.Errorf("view (-want +got):\n%s", d)
	}
	if sub.Secret.Reveal() != signing || strings.Contains(sub.Secret.String(), signing) {
		t.Errorf("secret %q (prints as %q)", sub.Secret.Reveal(), sub.Secret.String())
	}
	subs, err := c.ListSubscriptions(ctx)
	if err != nil || subs == nil || len(subs) != 0 {
		t.Errorf("ListSubscriptions = %#v, %v", subs, err)
	}
	if err := c.DeleteSubscription(ctx, "sub_1"); err != nil {
		t.Error(err)
	}
	reqs := rec.requests()
	if d := cmp.Diff(map[string]any{"url": view.URL, "events": []any{"deploy.*"}}, reqs[0].Body); d != "" {
		t.Errorf("create body (-want +got):\n%s", d)
	}
	if reqs[1].Query != "" {
		t.Errorf("list query = %q", reqs[1].Query)
	}

	// A server that sends no secret is an error, not a subscription whose
	// secret is lost.
	rec.routes["POST /api/v1/subscriptions"] = func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 201, view) }
	if _, err := c.CreateSubscription(ctx, access.SubscriptionInput{URL: view.URL, Events: []string{"*"}}); err == nil || !strings.Contains(err.Error(), "no signing secret") {
		t.Errorf("err = %v", err)
	}
}

func TestEventsListAndReplay(t *testing.T) {
	ev := access.EventView{ID: "evt_1", Type: "deploy.requested", AppID: "app_1", CreatedAt: time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC),
		Payload:    []byte(`{"app":"web","sha":"0123"}`),
		Deliveries: []access.EventDeliveryView{{Subscription: "sub_1", Status: "pending", Attempts: 2, LastError: "HTTP 503", LastStatus: 503}}}
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"GET /api/v1/events": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"items": []access.EventView{ev, ev}, "next_cursor": "more"})
		},
		"POST /api/v1/events/evt_1/replay": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) },
		"POST /api/v1/events/evt_9/replay": func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, 404, `{"type":"urn:gitaccess:problem:not-found","title":"Not found","status":404,"detail":"no event \"evt_9\" in organization default"}`)
		},
	}}
	c := newClient(t, rec)
	ctx := context.Background()
	evs, err := c.ListEvents(ctx, client.ListOptions{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]access.EventView{ev}, evs); d != "" {
		t.Errorf("ListEvents (-want +got):\n%s", d)
	}
	if q := rec.requests()[0].Query; q != "limit=1" {
		t.Errorf("query = %q", q)
	}
	if err := c.ReplayEvent(ctx, "evt_1"); err != nil {
		t.Error(err)
	}
	if err := c.ReplayEvent(ctx, "evt_9"); client.ProblemSlug(err) != client.SlugNotFound {
		t.Errorf("err = %v", err)
	}
}
