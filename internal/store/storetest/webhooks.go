package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

func webhookTests() []struct {
	name string
	fn   func(t *testing.T, s store.Store)
} {
	return []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetAppByID", testGetAppByID},
		{"HookRoundTrip", testHookRoundTrip},
		{"HookConflicts", testHookConflicts},
		{"UpdateHook", testUpdateHook},
		{"DeleteHook", testDeleteHook},
		{"AppDeleteCascades", testAppDeleteCascades},
		{"RecordDelivery", testRecordDelivery},
		{"DeliveryDedup", testDeliveryDedup},
		{"DeliveryDedupRace", testDeliveryDedupRace},
		{"ClaimDeliveries", testClaimDeliveries},
		{"CompleteDeliveryEvents", testCompleteDeliveryEvents},
		{"ListDeliveries", testListDeliveries},
		{"Subscriptions", testSubscriptions},
		{"EnqueueEvents", testEnqueueEvents},
		{"ClaimOutbox", testClaimOutbox},
		{"OutboxOrder", testOutboxOrder},
		{"ReplayEvent", testReplayEvent},
		{"ListEvents", testListEvents},
		{"DeleteSubscriptionJobs", testDeleteSubscriptionJobs},
		{"ConcurrentClaims", func(t *testing.T, s store.Store) { claimRace(t, []store.Store{s}, false) }},
		{"RecordDeliveries", testRecordDeliveries},
		{"RecordDeliveriesAllOrNothing", testRecordDeliveriesAllOrNothing},
		{"CompleteDeliveries", testCompleteDeliveries},
		{"ClaimOutboxRuns", testClaimOutboxRuns},
		{"FinishOutboxes", testFinishOutboxes},
		{"ConcurrentRunClaims", func(t *testing.T, s store.Store) { claimRace(t, []store.Store{s}, true) }},
	}
}

// RunReplicas runs the claim race with its workers split between a and b,
// two stores opened on one database as two replicas (or processes) would:
// no delivery or outbox job may go to two workers, and each application's
// events must still go out in order.
func RunReplicas(t *testing.T, a, b store.Store) {
	t.Run("one-by-one", func(t *testing.T) { claimRace(t, []store.Store{a, b}, false) })
	t.Run("batches", func(t *testing.T) { claimRace(t, []store.Store{a, b}, true) })
}

// appByID is the lookup the webhook router needs beside store.Store.
type appByID interface {
	GetAppByID(ctx context.Context, orgID, id string) (store.App, error)
}

func testGetAppByID(t *testing.T, s store.Store) {
	g, ok := s.(appByID)
	if !ok {
		t.Fatalf("%T has no GetAppByID", s)
	}
	a := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	app := createApp(t, s, a.ID, "api", "")
	got, err := g.GetAppByID(ctx(t), a.ID, app.ID)
	must(t, err)
	diff(t, "GetAppByID", got, app)
	_, err = g.GetAppByID(ctx(t), b.ID, app.ID)
	wantErr(t, err, store.ErrNotFound)
}

// newHook is a hook with every field set.
func newHook(orgID, appID string) store.Hook {
	id := newID("hook")
	return store.Hook{
		ID:             id,
		OrgID:          orgID,
		AppID:          appID,
		Provider:       "github",
		ProviderHookID: "48151623",
		URL:            "https://gitaccess.example.com/hooks/" + id,
		Sealed:         randomBytes(120),
		State:          "installed",
		StateDetail:    "push and pull_request events, JSON",
		CheckedAt:      ptr(when(time.Hour)),
		CreatedAt:      when(0),
		UpdatedAt:      when(time.Minute),
		Version:        1,
	}
}

func storedHook(h store.Hook) store.Hook {
	h.CheckedAt = cutPtr(h.CheckedAt)
	h.CreatedAt = cut(h.CreatedAt)
	h.UpdatedAt = cut(h.UpdatedAt)
	return h
}

func createHook(t *testing.T, s store.Store, orgID, appID string) store.Hook {
	t.Helper()
	h := newHook(orgID, appID)
	must(t, s.CreateHook(ctx(t), h))
	return storedHook(h)
}

// hookFixture is an organization with one application and its hook.
func hookFixture(t *testing.T, s store.Store, org string) (store.Org, store.App, store.Hook) {
	t.Helper()
	o := newOrg(t, s, org)
	app := createApp(t, s, o.ID, "api", "")
	return o, app, createHook(t, s, o.ID, app.ID)
}

func createSubscription(t *testing.T, s store.Store, orgID string, at time.Time) store.Subscription {
	t.Helper()
	sub := store.Subscription{ID: newID("sub"), OrgID: orgID, URL: "https://platform.example.com/gitaccess",
		Events: []string{"deploy.*", "preview.requested"}, Sealed: randomBytes(90), CreatedAt: at}
	must(t, s.CreateSubscription(ctx(t), sub))
	sub.CreatedAt = cut(sub.CreatedAt)
	return sub
}

// newDelivery is a pending delivery on h received at when(at).
func newDelivery(h store.Hook, deliveryID string, at time.Duration) store.Delivery {
	return store.Delivery{
		ID:         newID("dlv"),
		OrgID:      h.OrgID,
		HookID:     h.ID,
		AppID:      h.AppID,
		Provider:   h.Provider,
		DeliveryID: deliveryID,
		Event:      "push",
		ReceivedAt: when(at),
		Headers:    []byte(`{"X-GitHub-Event":["push"],"User-Agent":["GitHub-Hookshot/1"]}`),
		Body:       []byte(`{"ref": "refs/heads/main", "after": "` + deliveryID + `"}`),
		Verdict:    "pending",
	}
}

// storedDelivery is what a store hands back for d: times in UTC cut to
// microseconds, empty byte slices nil.
func storedDelivery(d store.Delivery) store.Delivery {
	d.ReceivedAt = cut(d.ReceivedAt)
	d.ProcessedAt = cutPtr(d.ProcessedAt)
	d.LeaseUntil = cutPtr(d.LeaseUntil)
	if len(d.Headers) == 0 {
		d.Headers = nil
	}
	if len(d.Body) == 0 {
		d.Body = nil
	}
	if d.Verdict == "" {
		d.Verdict = "pending"
	}
	return d
}

func record(t *testing.T, s store.Store, d store.Delivery) store.Delivery {
	t.Helper()
	got, dup, err := s.RecordDelivery(ctx(t), d)
	must(t, err)
	if dup {
		t.Fatalf("delivery %s (%q) recorded as a duplicate", d.ID, d.DeliveryID)
	}
	return got
}

// newEvent is an event of orgID for appID (empty: a token event). Its
// payload has odd spacing and key order: it must come back byte for byte.
func newEvent(orgID, appID, typ string, at time.Duration) store.Event {
	id := newID("evt")
	return store.Event{ID: id, OrgID: orgID, AppID: appID, Type: typ, CreatedAt: when(at),
		Payload: []byte(`{"type": "` + typ + `",  "id":"` + id + `", "data": {"z": 1, "a": [true, null]}}`)}
}

func storedEvent(e store.Event, seq int64) store.Event {
	e.CreatedAt = cut(e.CreatedAt)
	e.Seq = seq
	return e
}

func enqueue(t *testing.T, s store.Store, e store.Event, subs ...string) {
	t.Helper()
	must(t, s.EnqueueEvents(ctx(t), []store.NewEvent{{Event: e, Subscriptions: subs}}))
}

// allEvents walks every page of an organization's events, newest first.
func allEvents(t *testing.T, s store.Store, orgID string) []store.EventStatus {
	t.Helper()
	var out []store.EventStatus
	p := store.Page{Limit: store.MaxPageLimit}
	for {
		page, next, err := s.ListEvents(ctx(t), orgID, p)
		must(t, err)
		out = append(out, page...)
		if next == "" {
			return out
		}
		p.After = next
	}
}

// eventStatus finds an event's status among an organization's events.
func eventStatus(t *testing.T, s store.Store, orgID, eventID string) store.EventStatus {
	t.Helper()
	for _, es := range allEvents(t, s, orgID) {
		if es.Event.ID == eventID {
			return es
		}
	}
	t.Fatalf("event %s not listed", eventID)
	return store.EventStatus{}
}

// job finds the outbox job of an event for a subscription.
func job(t *testing.T, s store.Store, orgID, eventID, subID string) store.Outbox {
	t.Helper()
	for _, o := range eventStatus(t, s, orgID, eventID).Deliveries {
		if o.SubscriptionID == subID {
			return o
		}
	}
	t.Fatalf("event %s has no job for subscription %s", eventID, subID)
	return store.Outbox{}
}

func deliveryIDs(l []store.Delivery) []string {
	ids := []string{}
	for _, d := range l {
		ids = append(ids, d.ID)
	}
	return ids
}

// claimKeys names claimed jobs as event/subscription.
func claimKeys(items []store.OutboxItem) []string {
	keys := []string{}
	for _, it := range items {
		keys = append(keys, it.Event.ID+"/"+it.Subscription.ID)
	}
	slices.Sort(keys)
	return keys
}

func keys(pairs ...string) []string {
	var out []string
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, pairs[i]+"/"+pairs[i+1])
	}
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func testHookRoundTrip(t *testing.T, s store.Store) {
	o, app, h := hookFixture(t, s, "a")
	other := newOrg(t, s, "b")

	got, err := s.GetHook(ctx(t), h.ID)
	must(t, err)
	diff(t, "GetHook", got, h)
	wantUTC(t, "GetHook", &got.CreatedAt, &got.UpdatedAt, got.CheckedAt)
	got, err = s.GetHookByApp(ctx(t), o.ID, app.ID)
	must(t, err)
	diff(t, "GetHookByApp", got, h)

	_, err = s.GetHookByApp(ctx(t), other.ID, app.ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetHook(ctx(t), newID("hook"))
	wantErr(t, err, store.ErrNotFound)

	app2 := createApp(t, s, o.ID, "web", "")
	minimal := store.Hook{ID: newID("hook"), OrgID: o.ID, AppID: app2.ID, Provider: "gitlab", Sealed: []byte{1}}
	before := time.Now().Truncate(time.Microsecond)
	must(t, s.CreateHook(ctx(t), minimal))
	after := time.Now()
	got, err = s.GetHook(ctx(t), minimal.ID)
	must(t, err)
	if got.CreatedAt.Before(before) || got.CreatedAt.After(after) || !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("CreatedAt %v, UpdatedAt %v; want both the time of the create", got.CreatedAt, got.UpdatedAt)
	}
	minimal.CreatedAt, minimal.UpdatedAt = got.CreatedAt, got.UpdatedAt
	diff(t, "hook with optional fields unset", got, minimal)
}

func testHookConflicts(t *testing.T, s store.Store) {
	o, app, h := hookFixture(t, s, "a")
	b := newOrg(t, s, "b")
	appB := createApp(t, s, b.ID, "api", "")
	app2 := createApp(t, s, o.ID, "web", "")

	wantErr(t, s.CreateHook(ctx(t), newHook(o.ID, app.ID)), store.ErrConflict)
	sameID := newHook(o.ID, app2.ID)
	sameID.ID = h.ID
	wantErr(t, s.CreateHook(ctx(t), sameID), store.ErrConflict)
	wantErr(t, s.CreateHook(ctx(t), newHook(o.ID, newID("app"))), store.ErrNotFound)
	// An application of another organization is not found either.
	wantErr(t, s.CreateHook(ctx(t), newHook(o.ID, appB.ID)), store.ErrNotFound)
	wantErr(t, s.CreateHook(ctx(t), newHook(newID("org"), app2.ID)), store.ErrNotFound)
	noSecret := newHook(o.ID, app2.ID)
	noSecret.Sealed = nil
	if err := s.CreateHook(ctx(t), noSecret); err == nil {
		t.Error("CreateHook accepted a hook without a secret")
	}

	got, err := s.GetHookByApp(ctx(t), o.ID, app.ID)
	must(t, err)
	diff(t, "hook after refused creates", got, h)
	_, err = s.GetHookByApp(ctx(t), o.ID, app2.ID)
	wantErr(t, err, store.ErrNotFound)
}

func testUpdateHook(t *testing.T, s store.Store) {
	o, app, h := hookFixture(t, s, "a")
	b := newOrg(t, s, "b")

	in := h
	in.AppID = newID("app") // ignored: a hook stays with its application
	in.Provider = "gitlab"
	in.ProviderHookID = "777"
	in.URL = h.URL + "?v=2"
	in.Sealed = randomBytes(64)
	in.State, in.StateDetail = "altered", "content type form"
	in.CheckedAt = ptr(when(48 * time.Hour))
	in.CreatedAt = when(-time.Hour) // ignored
	in.UpdatedAt = when(49 * time.Hour)
	got, err := s.UpdateHook(ctx(t), in)
	must(t, err)
	want := storedHook(in)
	want.AppID, want.CreatedAt, want.Version = app.ID, h.CreatedAt, h.Version+1
	diff(t, "UpdateHook result", got, want)
	read, err := s.GetHookByApp(ctx(t), o.ID, app.ID)
	must(t, err)
	diff(t, "GetHookByApp after update", read, want)

	// Without Sealed the secret is kept; without CheckedAt it is cleared.
	keep := read
	keep.Sealed, keep.CheckedAt, keep.State = nil, nil, "missing"
	got, err = s.UpdateHook(ctx(t), keep)
	must(t, err)
	if string(got.Sealed) != string(want.Sealed) || got.State != "missing" || got.CheckedAt != nil || got.Version != want.Version+1 {
		t.Errorf("update without Sealed: %+v", got)
	}

	stale := read
	stale.State = "stale write"
	_, err = s.UpdateHook(ctx(t), stale)
	wantErr(t, err, store.ErrConflict)
	steal := got
	steal.OrgID = b.ID
	_, err = s.UpdateHook(ctx(t), steal)
	wantErr(t, err, store.ErrNotFound)
	gone := got
	gone.ID = newID("hook")
	_, err = s.UpdateHook(ctx(t), gone)
	wantErr(t, err, store.ErrNotFound)
}

func testDeleteHook(t *testing.T, s store.Store) {
	o, app, h := hookFixture(t, s, "a")
	b := newOrg(t, s, "b")
	d := record(t, s, newDelivery(h, "guid-1", 0))

	wantErr(t, s.DeleteHook(ctx(t), b.ID, h.ID), store.ErrNotFound)
	must(t, s.DeleteHook(ctx(t), o.ID, h.ID))
	_, err := s.GetHook(ctx(t), h.ID)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteHook(ctx(t), o.ID, h.ID), store.ErrNotFound)

	// The delivery is history; the application can have a new hook.
	list, _, err := s.ListDeliveries(ctx(t), o.ID, app.ID, store.Page{})
	must(t, err)
	diff(t, "deliveries after the hook is deleted", deliveryIDs(list), []string{d.ID})
	createHook(t, s, o.ID, app.ID)
}

// testAppDeleteCascades: deleting an application deletes its hook; its
// deliveries stay, detached from it, and are still routed (as ignored).
func testAppDeleteCascades(t *testing.T, s store.Store) {
	o, app, h := hookFixture(t, s, "a")
	routed := record(t, s, newDelivery(h, "guid-1", 0))
	waiting := record(t, s, newDelivery(h, "guid-2", time.Second))
	now := when(time.Hour)
	claimed, err := s.ClaimDeliveries(ctx(t), "w1", now, now.Add(time.Minute), 1)
	must(t, err)
	diff(t, "claimed", deliveryIDs(claimed), []string{routed.ID})
	must(t, s.CompleteDelivery(ctx(t), routed.ID, "w1", "accepted", "", now, nil))

	must(t, s.DeleteApp(ctx(t), o.ID, app.ID))
	_, err = s.GetHook(ctx(t), h.ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetHookByApp(ctx(t), o.ID, app.ID)
	wantErr(t, err, store.ErrNotFound)

	claimed, err = s.ClaimDeliveries(ctx(t), "w1", now, now.Add(time.Minute), 10)
	must(t, err)
	if len(claimed) != 1 || claimed[0].ID != waiting.ID {
		t.Fatalf("after deleting the app, claimed %v, want the pending delivery %s", deliveryIDs(claimed), waiting.ID)
	}
	want := waiting
	want.AppID = ""
	want.LeaseOwner, want.LeaseUntil = "w1", cutPtr(ptr(now.Add(time.Minute)))
	diff(t, "a delivery of a deleted application", claimed[0], want)
	must(t, s.CompleteDelivery(ctx(t), waiting.ID, "w1", "ignored", "the application was deleted", now, nil))
}

func testRecordDelivery(t *testing.T, s store.Store) {
	o, _, h := hookFixture(t, s, "a")
	d := newDelivery(h, "guid-1", 0)
	got := record(t, s, d)
	diff(t, "RecordDelivery result", got, storedDelivery(d))
	wantUTC(t, "RecordDelivery result", &got.ReceivedAt)

	// A refused delivery: no provider id, no body, a final verdict.
	refused := newDelivery(h, "", time.Second)
	refused.Verdict, refused.Detail, refused.Body = "bad-signature", "signature mismatch", nil
	diff(t, "refused delivery", record(t, s, refused), storedDelivery(refused))

	minimal := store.Delivery{ID: newID("dlv"), OrgID: o.ID, HookID: h.ID, Provider: "github"}
	before := time.Now().Truncate(time.Microsecond)
	got = record(t, s, minimal)
	after := time.Now()
	if got.ReceivedAt.Before(before) || got.ReceivedAt.After(after) {
		t.Errorf("ReceivedAt = %v, want the time of the call", got.ReceivedAt)
	}
	minimal.ReceivedAt, minimal.Verdict = got.ReceivedAt, "pending"
	diff(t, "delivery with optional fields unset", got, minimal)

	now := when(time.Hour)
	claimed, err := s.ClaimDeliveries(ctx(t), "w1", now, now.Add(time.Minute), 10)
	must(t, err)
	want := storedDelivery(d)
	want.LeaseOwner, want.LeaseUntil = "w1", cutPtr(ptr(now.Add(time.Minute)))
	if len(claimed) != 2 {
		t.Fatalf("claimed %v, want the two pending deliveries", deliveryIDs(claimed))
	}
	diff(t, "claimed delivery, with its body", claimed[0], want)
	wantUTC(t, "claimed delivery", &claimed[0].ReceivedAt, claimed[0].LeaseUntil)

	// The largest body a provider sends fits; a larger one does not.
	big := newDelivery(h, "guid-big", 2*time.Second)
	big.Body = bytes.Repeat([]byte{'x'}, 25<<20)
	record(t, s, big)
	big = newDelivery(h, "guid-bigger", 2*time.Second)
	big.Body = bytes.Repeat([]byte{'x'}, 25<<20+1)
	if _, _, err := s.RecordDelivery(ctx(t), big); err == nil {
		t.Error("RecordDelivery stored a body over 25 MB")
	}

	sameID := newDelivery(h, "guid-other", 0)
	sameID.ID = d.ID
	_, _, err = s.RecordDelivery(ctx(t), sameID)
	wantErr(t, err, store.ErrConflict)
	orphan := newDelivery(h, "guid-3", 0)
	orphan.OrgID = newID("org")
	_, _, err = s.RecordDelivery(ctx(t), orphan)
	wantErr(t, err, store.ErrNotFound)
	orphan = newDelivery(h, "guid-4", 0)
	orphan.AppID = newID("app")
	_, _, err = s.RecordDelivery(ctx(t), orphan)
	wantErr(t, err, store.ErrNotFound)
}

func testDeliveryDedup(t *testing.T, s store.Store) {
	o, app, h := hookFixture(t, s, "a")
	app2 := createApp(t, s, o.ID, "web", "")
	h2 := createHook(t, s, o.ID, app2.ID)

	first := record(t, s, newDelivery(h, "guid-1", 0))
	for i := 1; i <= 2; i++ {
		again := newDelivery(h, "guid-1", time.Duration(i)*time.Minute)
		again.Body = []byte(`{"redelivered": true}`)
		got, dup, err := s.RecordDelivery(ctx(t), again)
		must(t, err)
		want := first
		want.Duplicates = i
		if !dup {
			t.Fatalf("redelivery %d not reported as a duplicate", i)
		}
		diff(t, "the stored delivery a duplicate returns", got, want)
	}
	// The same provider id on another hook is another delivery.
	record(t, s, newDelivery(h2, "guid-1", 0))
	// Deliveries without a provider id never collide.
	e1 := record(t, s, newDelivery(h, "", time.Second))
	e2 := record(t, s, newDelivery(h, "", 2*time.Second))

	list, _, err := s.ListDeliveries(ctx(t), o.ID, app.ID, store.Page{})
	must(t, err)
	diff(t, "deliveries of the app, newest first", deliveryIDs(list), []string{e2.ID, e1.ID, first.ID})
	if list[2].Duplicates != 2 {
		t.Errorf("Duplicates = %d, want 2", list[2].Duplicates)
	}
}

// testDeliveryDedupRace: a provider retrying while the first attempt is
// still being stored gets exactly one delivery.
func testDeliveryDedupRace(t *testing.T, s store.Store) {
	o, app, h := hookFixture(t, s, "a")
	const n = 8
	var wg sync.WaitGroup
	dups := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, dups[i], errs[i] = s.RecordDelivery(context.Background(), newDelivery(h, "guid-1", 0))
		})
	}
	wg.Wait()
	fresh := 0
	for i := range n {
		must(t, errs[i])
		if !dups[i] {
			fresh++
		}
	}
	list, _, err := s.ListDeliveries(ctx(t), o.ID, app.ID, store.Page{})
	must(t, err)
	if fresh != 1 || len(list) != 1 || list[0].Duplicates != n-1 {
		t.Errorf("%d stored as new, %d rows, duplicates %v; want 1, 1 and %d", fresh, len(list), list, n-1)
	}
}

func testClaimDeliveries(t *testing.T, s store.Store) {
	_, _, h := hookFixture(t, s, "a")
	var ds []store.Delivery
	for i := range 3 {
		ds = append(ds, record(t, s, newDelivery(h, fmt.Sprintf("guid-%d", i), time.Duration(i)*time.Second)))
	}
	refused := newDelivery(h, "", -time.Hour)
	refused.Verdict, refused.Body = "bad-signature", nil
	record(t, s, refused)

	now := when(time.Hour)
	lease := now.Add(time.Minute)
	claim := func(owner string, at time.Time, n int) []string {
		t.Helper()
		got, err := s.ClaimDeliveries(ctx(t), owner, at, at.Add(time.Minute), n)
		must(t, err)
		for _, d := range got {
			if d.LeaseOwner != owner || d.LeaseUntil == nil || !d.LeaseUntil.Equal(cut(at.Add(time.Minute))) {
				t.Errorf("claimed %s: lease %q until %v, want %q until %v", d.ID, d.LeaseOwner, d.LeaseUntil, owner, at.Add(time.Minute))
			}
		}
		return deliveryIDs(got)
	}
	diff(t, "A's claim, oldest first", claim("A", now, 2), []string{ds[0].ID, ds[1].ID})
	// B's lease on ds[2] runs until lease+30s.
	diff(t, "B's claim beside A's leases", claim("B", now.Add(30*time.Second), 5), []string{ds[2].ID})
	diff(t, "a claim while all are leased", claim("B", lease.Add(-time.Microsecond), 5), []string{})

	// A's lease ends; B takes its deliveries over.
	diff(t, "B's claim once A's lease ended", claim("B", lease, 5), []string{ds[0].ID, ds[1].ID})
	wantErr(t, s.CompleteDelivery(ctx(t), ds[0].ID, "A", "accepted", "", now, nil), store.ErrConflict)
	wantErr(t, s.CompleteDelivery(ctx(t), ds[0].ID, "", "accepted", "", now, nil), store.ErrConflict)
	must(t, s.CompleteDelivery(ctx(t), ds[0].ID, "B", "accepted", "emitted deploy.requested", lease, nil))
	wantErr(t, s.CompleteDelivery(ctx(t), ds[0].ID, "B", "accepted", "", lease, nil), store.ErrConflict)
	wantErr(t, s.CompleteDelivery(ctx(t), newID("dlv"), "B", "accepted", "", lease, nil), store.ErrNotFound)
	// A lease that ended unclaimed still lets its owner finish.
	must(t, s.CompleteDelivery(ctx(t), ds[2].ID, "B", "ignored", "push to dev", lease.Add(time.Hour), nil))

	diff(t, "a claim with a zero limit", claim("C", lease, 0), []string{})
	if _, err := s.ClaimDeliveries(ctx(t), "", lease, lease, 5); err == nil {
		t.Error("ClaimDeliveries accepted an empty owner")
	}
	// Only ds[1] is left pending (leased to B until lease+1m).
	diff(t, "the last claim", claim("C", lease.Add(time.Hour), 5), []string{ds[1].ID})
	must(t, s.CompleteDelivery(ctx(t), ds[1].ID, "C", "failed", "payload could not be read", lease.Add(time.Hour), nil))
	diff(t, "a claim when none is pending", claim("C", lease.Add(48*time.Hour), 5), []string{})

	list, _, err := s.ListDeliveries(ctx(t), h.OrgID, h.AppID, store.Page{})
	must(t, err)
	want := map[string]store.Delivery{}
	for i, v := range []struct {
		verdict, detail string
		at              time.Time
	}{{"accepted", "emitted deploy.requested", lease}, {"failed", "payload could not be read", lease.Add(time.Hour)}, {"ignored", "push to dev", lease.Add(time.Hour)}} {
		d := ds[i]
		d.Verdict, d.Detail, d.ProcessedAt, d.Body = v.verdict, v.detail, cutPtr(&v.at), nil
		want[d.ID] = d
	}
	for _, d := range list {
		if d.Verdict == "bad-signature" {
			continue
		}
		diff(t, "completed delivery "+d.ID, d, want[d.ID])
	}
}

func testCompleteDeliveryEvents(t *testing.T, s store.Store) {
	o, app, h := hookFixture(t, s, "a")
	b := newOrg(t, s, "b")
	sub := createSubscription(t, s, o.ID, when(0))
	subB := createSubscription(t, s, b.ID, when(0))
	d1 := record(t, s, newDelivery(h, "guid-1", 0))
	d2 := record(t, s, newDelivery(h, "guid-2", time.Second))
	now := when(time.Hour)
	_, err := s.ClaimDeliveries(ctx(t), "w", now, now.Add(time.Minute), 2)
	must(t, err)

	deploy := newEvent(o.ID, app.ID, "deploy.requested", time.Hour)
	unrouted := newEvent(o.ID, app.ID, "preview.requested", time.Hour)
	must(t, s.CompleteDelivery(ctx(t), d1.ID, "w", "accepted", "emitted", now, []store.NewEvent{
		{Event: deploy, Subscriptions: []string{sub.ID}}, {Event: unrouted}}))
	events := allEvents(t, s, o.ID)
	if len(events) != 2 || events[0].Event.ID != unrouted.ID || events[1].Event.ID != deploy.ID {
		t.Fatalf("events after completing: %v, want %s then %s", events, unrouted.ID, deploy.ID)
	}
	if len(events[0].Deliveries) != 0 || len(events[1].Deliveries) != 1 || events[1].Deliveries[0].SubscriptionID != sub.ID {
		t.Errorf("jobs: %v and %v, want none and one for %s", events[0].Deliveries, events[1].Deliveries, sub.ID)
	}

	// All or nothing: an event for a missing subscription, or another
	// organization's, leaves the delivery pending and leased.
	for _, bad := range []string{newID("sub"), subB.ID} {
		err = s.CompleteDelivery(ctx(t), d2.ID, "w", "accepted", "", now, []store.NewEvent{
			{Event: newEvent(o.ID, app.ID, "deploy.requested", time.Hour), Subscriptions: []string{sub.ID}},
			{Event: newEvent(o.ID, app.ID, "deploy.requested", time.Hour), Subscriptions: []string{bad}}})
		wantErr(t, err, store.ErrNotFound)
	}
	if n := len(allEvents(t, s, o.ID)); n != 2 {
		t.Errorf("%d events after failed completions, want 2", n)
	}
	list, _, err := s.ListDeliveries(ctx(t), o.ID, app.ID, store.Page{})
	must(t, err)
	if list[0].ID != d2.ID || list[0].Verdict != "pending" || list[0].LeaseOwner != "w" {
		t.Errorf("delivery after failed completions: %+v, want pending and leased to w", list[0])
	}
	must(t, s.CompleteDelivery(ctx(t), d2.ID, "w", "accepted", "", now, []store.NewEvent{
		{Event: newEvent(o.ID, app.ID, "deploy.requested", time.Hour), Subscriptions: []string{sub.ID}}}))
}

func testListDeliveries(t *testing.T, s store.Store) {
	o, app, h := hookFixture(t, s, "a")
	app2 := createApp(t, s, o.ID, "web", "")
	h2 := createHook(t, s, o.ID, app2.ID)
	b, appB, hB := hookFixture(t, s, "b")
	var want []store.Delivery
	for i := range 8 {
		at := time.Duration(i) * time.Second
		if i >= 2 && i < 6 {
			at = 2 * time.Second // four at one instant
		}
		d := record(t, s, newDelivery(h, fmt.Sprintf("guid-%d", i), at))
		d.Body = nil
		want = append(want, d)
	}
	record(t, s, newDelivery(h2, "guid-x", 0))
	record(t, s, newDelivery(hB, "guid-y", 0))
	slices.SortFunc(want, func(x, y store.Delivery) int {
		if c := y.ReceivedAt.Compare(x.ReceivedAt); c != 0 {
			return c
		}
		return strings.Compare(y.ID, x.ID)
	})

	var got []store.Delivery
	var sizes []int
	p := store.Page{Limit: 3}
	for {
		page, next, err := s.ListDeliveries(ctx(t), o.ID, app.ID, p)
		must(t, err)
		got = append(got, page...)
		sizes = append(sizes, len(page))
		if next == "" {
			break
		}
		p.After = next
		if len(sizes) > 5 {
			t.Fatal("paging does not end")
		}
	}
	diff(t, "page sizes", sizes, []int{3, 3, 2})
	diff(t, "deliveries across pages, newest first, without bodies", got, want)

	page, _, err := s.ListDeliveries(ctx(t), b.ID, app.ID, store.Page{})
	must(t, err)
	if len(page) != 0 {
		t.Errorf("another organization lists %d of a's deliveries", len(page))
	}
	page, _, err = s.ListDeliveries(ctx(t), b.ID, appB.ID, store.Page{})
	must(t, err)
	if len(page) != 1 {
		t.Errorf("b lists %d deliveries, want 1", len(page))
	}
	for _, bad := range []string{"not a cursor", store.AuditCursor(when(0), "")} {
		_, _, err = s.ListDeliveries(ctx(t), o.ID, app.ID, store.Page{After: bad})
		wantErr(t, err, store.ErrInvalidCursor)
	}
}

func testSubscriptions(t *testing.T, s store.Store) {
	a := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	later := createSubscription(t, s, a.ID, when(time.Second))
	first := createSubscription(t, s, a.ID, when(0))
	createSubscription(t, s, b.ID, when(0))
	bare := store.Subscription{ID: newID("sub"), OrgID: a.ID, URL: "https://x.example.com/", Events: []string{},
		Sealed: []byte{1}, CreatedAt: when(2 * time.Second)}
	must(t, s.CreateSubscription(ctx(t), bare))
	bare.CreatedAt, bare.Events = cut(bare.CreatedAt), nil

	got, err := s.ListSubscriptions(ctx(t), a.ID)
	must(t, err)
	diff(t, "ListSubscriptions(a), oldest first", got, []store.Subscription{first, later, bare})
	wantUTC(t, "subscription", &got[0].CreatedAt)

	dup := first
	dup.OrgID = b.ID
	wantErr(t, s.CreateSubscription(ctx(t), dup), store.ErrConflict)
	orphan := first
	orphan.ID, orphan.OrgID = newID("sub"), newID("org")
	wantErr(t, s.CreateSubscription(ctx(t), orphan), store.ErrNotFound)
	for _, bad := range []store.Subscription{
		{ID: newID("sub"), OrgID: a.ID, Sealed: []byte{1}},
		{ID: newID("sub"), OrgID: a.ID, URL: "https://x.example.com/"},
	} {
		if err := s.CreateSubscription(ctx(t), bad); err == nil {
			t.Errorf("CreateSubscription accepted %+v", bad)
		}
	}

	wantErr(t, s.DeleteSubscription(ctx(t), b.ID, first.ID), store.ErrNotFound)
	must(t, s.DeleteSubscription(ctx(t), a.ID, first.ID))
	wantErr(t, s.DeleteSubscription(ctx(t), a.ID, first.ID), store.ErrNotFound)
	got, err = s.ListSubscriptions(ctx(t), a.ID)
	must(t, err)
	diff(t, "ListSubscriptions(a) after a delete", got, []store.Subscription{later, bare})
	got, err = s.ListSubscriptions(ctx(t), newID("org"))
	must(t, err)
	if len(got) != 0 {
		t.Errorf("unknown org: %d subscriptions", len(got))
	}
}

func testEnqueueEvents(t *testing.T, s store.Store) {
	a := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	appA := createApp(t, s, a.ID, "api", "")
	s1 := createSubscription(t, s, a.ID, when(0))
	s2 := createSubscription(t, s, a.ID, when(0))
	sb := createSubscription(t, s, b.ID, when(0))

	e1 := newEvent(a.ID, appA.ID, "deploy.requested", 0)
	eb := newEvent(b.ID, "", "token.expiring", 0)
	e2 := newEvent(a.ID, "", "token.invalid", time.Second)
	must(t, s.EnqueueEvents(ctx(t), []store.NewEvent{
		{Event: e1, Subscriptions: []string{s1.ID, s2.ID, s1.ID}},
		{Event: eb, Subscriptions: []string{sb.ID}},
		{Event: e2, Subscriptions: []string{s2.ID}},
	}))
	e3 := newEvent(a.ID, appA.ID, "preview.closed", 2*time.Second)
	e3.Seq = 1 // ignored: the store numbers events
	enqueue(t, s, e3, s1.ID)
	must(t, s.EnqueueEvents(ctx(t), nil))

	got := allEvents(t, s, a.ID)
	if len(got) != 3 {
		t.Fatalf("%d events in a, want 3", len(got))
	}
	seqs := []int64{got[2].Event.Seq, got[1].Event.Seq, got[0].Event.Seq}
	if !(seqs[0] > 0 && seqs[0] < seqs[1] && seqs[1] < seqs[2]) {
		t.Errorf("seqs in enqueue order %v, want increasing", seqs)
	}
	for i, e := range []store.Event{e3, e2, e1} {
		diff(t, "listed event", got[i].Event, storedEvent(e, got[i].Event.Seq))
		if string(got[i].Event.Payload) != string(e.Payload) {
			t.Errorf("payload changed in storage:\n got %s\nwant %s", got[i].Event.Payload, e.Payload)
		}
		wantUTC(t, "event", &got[i].Event.CreatedAt)
	}
	job := func(e store.Event, seq int64, sub string) store.Outbox {
		return store.Outbox{EventID: e.ID, SubscriptionID: sub, OrgID: e.OrgID, AppKey: e.AppID, Seq: seq,
			Status: store.OutboxPending, NextAttemptAt: cut(e.CreatedAt)}
	}
	noIDs := func(l []store.Outbox) []store.Outbox {
		for i := range l {
			if l[i].ID == "" {
				t.Error("a job without an id")
			}
			l[i].ID = ""
		}
		return l
	}
	bySub := func(l ...store.Outbox) []store.Outbox {
		slices.SortFunc(l, func(x, y store.Outbox) int { return strings.Compare(x.SubscriptionID, y.SubscriptionID) })
		return l
	}
	diff(t, "e1's jobs (one per subscription)", noIDs(got[2].Deliveries), bySub(job(e1, seqs[0], s1.ID), job(e1, seqs[0], s2.ID)))
	diff(t, "e2's jobs (a token event)", noIDs(got[1].Deliveries), []store.Outbox{job(e2, seqs[1], s2.ID)})
	diff(t, "e3's jobs", noIDs(got[0].Deliveries), []store.Outbox{job(e3, seqs[2], s1.ID)})
	gotB := allEvents(t, s, b.ID)
	if len(gotB) != 1 || gotB[0].Event.ID != eb.ID || len(gotB[0].Deliveries) != 1 {
		t.Errorf("b's events: %+v, want eb with one job", gotB)
	}

	// All or nothing, with every reference checked.
	for name, bad := range map[string]struct {
		ne   store.NewEvent
		want error
	}{
		"missing subscription":            {store.NewEvent{Event: newEvent(a.ID, "", "token.invalid", 0), Subscriptions: []string{newID("sub")}}, store.ErrNotFound},
		"another organization's":          {store.NewEvent{Event: newEvent(a.ID, "", "token.invalid", 0), Subscriptions: []string{sb.ID}}, store.ErrNotFound},
		"missing organization":            {store.NewEvent{Event: newEvent(newID("org"), "", "token.invalid", 0)}, store.ErrNotFound},
		"event id taken":                  {store.NewEvent{Event: e1}, store.ErrConflict},
		"payload that is not JSON at all": {store.NewEvent{Event: store.Event{ID: newID("evt"), OrgID: a.ID, Type: "x", Payload: []byte("{")}}, nil},
	} {
		err := s.EnqueueEvents(ctx(t), []store.NewEvent{{Event: newEvent(a.ID, appA.ID, "deploy.requested", 0), Subscriptions: []string{s1.ID}}, bad.ne})
		if bad.want == nil && err == nil || bad.want != nil && !errors.Is(err, bad.want) {
			t.Errorf("%s: err = %v, want %v", name, err, bad.want)
		}
	}
	if n := len(allEvents(t, s, a.ID)); n != 3 {
		t.Errorf("%d events after refused enqueues, want 3", n)
	}
}

func testClaimOutbox(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	app := createApp(t, s, o.ID, "api", "")
	sub := createSubscription(t, s, o.ID, when(0))
	e := newEvent(o.ID, app.ID, "deploy.requested", 0)
	enqueue(t, s, e, sub.ID)
	future := newEvent(o.ID, "", "token.expiring", 10*time.Hour)
	enqueue(t, s, future, sub.ID)
	seq := eventStatus(t, s, o.ID, e.ID).Event.Seq

	now := when(time.Hour)
	lease := now.Add(time.Minute)
	items, err := s.ClaimOutbox(ctx(t), "A", now, lease, 10)
	must(t, err)
	if len(items) != 1 {
		t.Fatalf("claimed %v, want e's job only (the other is not due)", claimKeys(items))
	}
	it := items[0]
	diff(t, "claimed event", it.Event, storedEvent(e, seq))
	diff(t, "claimed subscription", it.Subscription, sub)
	want := store.Outbox{ID: it.Outbox.ID, EventID: e.ID, SubscriptionID: sub.ID, OrgID: o.ID, AppKey: app.ID, Seq: seq,
		Status: store.OutboxPending, NextAttemptAt: cut(e.CreatedAt), LeaseOwner: "A", LeaseUntil: cutPtr(&lease)}
	diff(t, "claimed job", it.Outbox, want)
	wantUTC(t, "claimed item", &it.Outbox.NextAttemptAt, it.Outbox.LeaseUntil, &it.Event.CreatedAt, &it.Subscription.CreatedAt)

	items, err = s.ClaimOutbox(ctx(t), "B", now, lease, 10)
	must(t, err)
	diff(t, "B's claim during A's lease", claimKeys(items), keys())
	items, err = s.ClaimOutbox(ctx(t), "B", lease, lease.Add(time.Minute), 10)
	must(t, err)
	diff(t, "B's claim once A's lease ended", claimKeys(items), keys(e.ID, sub.ID))

	retry := store.OutboxResult{Status: store.OutboxPending, Next: lease.Add(10 * time.Minute),
		Error: "subscriber answered HTTP 503", HTTPStatus: 503, At: lease}
	wantErr(t, s.FinishOutbox(ctx(t), it.Outbox.ID, "A", retry), store.ErrConflict)
	wantErr(t, s.FinishOutbox(ctx(t), it.Outbox.ID, "", retry), store.ErrConflict)
	must(t, s.FinishOutbox(ctx(t), it.Outbox.ID, "B", retry))
	wantErr(t, s.FinishOutbox(ctx(t), it.Outbox.ID, "B", retry), store.ErrConflict)
	wantErr(t, s.FinishOutbox(ctx(t), newID("obx"), "B", retry), store.ErrNotFound)
	if err := s.FinishOutbox(ctx(t), it.Outbox.ID, "B", store.OutboxResult{Status: "sent"}); err == nil {
		t.Error("FinishOutbox accepted an unknown status")
	}
	if _, err := s.ClaimOutbox(ctx(t), "", now, lease, 1); err == nil {
		t.Error("ClaimOutbox accepted an empty owner")
	}
	want.Attempts, want.LastError, want.LastStatus = 1, retry.Error, 503
	want.NextAttemptAt, want.LeaseOwner, want.LeaseUntil = cut(retry.Next), "", nil
	diff(t, "job after a failed attempt", job(t, s, o.ID, e.ID, sub.ID), want)

	items, err = s.ClaimOutbox(ctx(t), "C", retry.Next.Add(-time.Microsecond), retry.Next.Add(time.Minute), 10)
	must(t, err)
	diff(t, "claim before the retry is due", claimKeys(items), keys())
	items, err = s.ClaimOutbox(ctx(t), "C", retry.Next, retry.Next.Add(time.Minute), 0)
	must(t, err)
	diff(t, "claim with a zero limit", claimKeys(items), keys())
	items, err = s.ClaimOutbox(ctx(t), "C", retry.Next, retry.Next.Add(time.Minute), 10)
	must(t, err)
	if len(items) != 1 || items[0].Outbox.Attempts != 1 {
		t.Fatalf("claim when the retry is due: %v", items)
	}
	done := store.OutboxResult{Status: store.OutboxDelivered, HTTPStatus: 204, At: retry.Next.Add(time.Second)}
	must(t, s.FinishOutbox(ctx(t), it.Outbox.ID, "C", done))
	want.Attempts, want.LastError, want.LastStatus, want.Status = 2, "", 204, store.OutboxDelivered
	want.DeliveredAt = cutPtr(&done.At)
	diff(t, "job after delivery", job(t, s, o.ID, e.ID, sub.ID), want)
	items, err = s.ClaimOutbox(ctx(t), "C", future.CreatedAt.Add(-time.Second), lease, 10)
	must(t, err)
	diff(t, "claim after delivery", claimKeys(items), keys())
}

// testOutboxOrder: a subscription receives each application's events, and
// an organization's token events, one at a time in seq order; other
// applications and other subscriptions do not wait.
func testOutboxOrder(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	appA := createApp(t, s, o.ID, "api", "")
	appB := createApp(t, s, o.ID, "web", "")
	s1 := createSubscription(t, s, o.ID, when(0))
	s2 := createSubscription(t, s, o.ID, when(0))
	a1 := newEvent(o.ID, appA.ID, "deploy.requested", 0)
	b1 := newEvent(o.ID, appB.ID, "deploy.requested", 0)
	a2 := newEvent(o.ID, appA.ID, "preview.requested", 0)
	t1 := newEvent(o.ID, "", "token.expiring", 0)
	t2 := newEvent(o.ID, "", "token.invalid", 0)
	a3 := newEvent(o.ID, appA.ID, "preview.closed", 0)
	enqueue(t, s, a1, s1.ID, s2.ID)
	enqueue(t, s, b1, s1.ID)
	must(t, s.EnqueueEvents(ctx(t), []store.NewEvent{
		{Event: a2, Subscriptions: []string{s1.ID, s2.ID}},
		{Event: t1, Subscriptions: []string{s1.ID}},
		{Event: t2, Subscriptions: []string{s1.ID}},
		{Event: a3, Subscriptions: []string{s1.ID}},
	}))

	now := when(time.Hour)
	ids := map[string]string{}
	claim := func(at time.Time, want ...string) {
		t.Helper()
		items, err := s.ClaimOutbox(ctx(t), "w", at, at.Add(time.Hour), 10)
		must(t, err)
		for _, it := range items {
			ids[it.Event.ID+"/"+it.Subscription.ID] = it.Outbox.ID
		}
		diff(t, "claimable jobs", claimKeys(items), keys(want...))
	}
	finish := func(e store.Event, sub store.Subscription, r store.OutboxResult) {
		t.Helper()
		must(t, s.FinishOutbox(ctx(t), ids[e.ID+"/"+sub.ID], "w", r))
	}
	delivered := store.OutboxResult{Status: store.OutboxDelivered, HTTPStatus: 200, At: now}

	// Only the head of each chain: not a2 or a3 (a1 first), not t2 (t1).
	claim(now, a1.ID, s1.ID, a1.ID, s2.ID, b1.ID, s1.ID, t1.ID, s1.ID)
	// a1 fails for s1 and waits an hour: a2 waits behind it for s1, but
	// not for s2, once a1 is delivered there.
	finish(a1, s1, store.OutboxResult{Status: store.OutboxPending, Next: now.Add(time.Hour), Error: "timeout", At: now})
	claim(now)
	finish(a1, s2, delivered)
	claim(now, a2.ID, s2.ID)
	finish(t1, s1, store.OutboxResult{Status: store.OutboxFailed, Error: "gave up", At: now})
	claim(now, t2.ID, s1.ID)
	// The leases ended: those jobs come back, and a1 is due again; a2
	// still waits behind it for s1.
	claim(now.Add(90*time.Minute), a1.ID, s1.ID, a2.ID, s2.ID, b1.ID, s1.ID, t2.ID, s1.ID)
	finish(a1, s1, delivered)
	claim(now.Add(90*time.Minute), a2.ID, s1.ID)
	finish(a2, s1, store.OutboxResult{Status: store.OutboxFailed, Error: "HTTP 410", HTTPStatus: 410, At: now})
	claim(now.Add(90*time.Minute), a3.ID, s1.ID)
}

func testReplayEvent(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	s1 := createSubscription(t, s, o.ID, when(0))
	s2 := createSubscription(t, s, o.ID, when(0))
	e := newEvent(o.ID, "", "token.expiring", 0)
	enqueue(t, s, e, s1.ID, s2.ID)
	lonely := newEvent(o.ID, "", "token.invalid", 0)
	enqueue(t, s, lonely)

	now := when(time.Hour)
	items, err := s.ClaimOutbox(ctx(t), "w", now, now.Add(time.Minute), 10)
	must(t, err)
	if len(items) != 2 {
		t.Fatalf("claimed %v, want both jobs", claimKeys(items))
	}
	must(t, s.FinishOutbox(ctx(t), items[0].Outbox.ID, "w", store.OutboxResult{Status: store.OutboxDelivered, HTTPStatus: 200, At: now}))
	must(t, s.FinishOutbox(ctx(t), items[1].Outbox.ID, "w", store.OutboxResult{Status: store.OutboxFailed, Error: "HTTP 410", HTTPStatus: 410, At: now}))

	wantErr(t, s.ReplayEvent(ctx(t), b.ID, e.ID, now), store.ErrNotFound)
	wantErr(t, s.ReplayEvent(ctx(t), o.ID, newID("evt"), now), store.ErrNotFound)
	must(t, s.ReplayEvent(ctx(t), o.ID, lonely.ID, now))

	replayAt := now.Add(time.Hour)
	must(t, s.ReplayEvent(ctx(t), o.ID, e.ID, replayAt))
	for _, j := range eventStatus(t, s, o.ID, e.ID).Deliveries {
		if j.Status != store.OutboxPending || j.Attempts != 0 || !j.NextAttemptAt.Equal(cut(replayAt)) ||
			j.DeliveredAt != nil || j.LeaseOwner != "" || j.LeaseUntil != nil {
			t.Errorf("job after replay: %+v, want pending, no attempts, due at %v", j, replayAt)
		}
	}
	items, err = s.ClaimOutbox(ctx(t), "w", replayAt.Add(-time.Microsecond), replayAt, 10)
	must(t, err)
	diff(t, "claim before the replay is due", claimKeys(items), keys())
	items, err = s.ClaimOutbox(ctx(t), "w2", replayAt, replayAt.Add(time.Minute), 10)
	must(t, err)
	diff(t, "claim of the replayed jobs", claimKeys(items), keys(e.ID, s1.ID, e.ID, s2.ID))

	// Replaying while a worker sends takes its lease away.
	must(t, s.ReplayEvent(ctx(t), o.ID, e.ID, replayAt))
	wantErr(t, s.FinishOutbox(ctx(t), items[0].Outbox.ID, "w2", store.OutboxResult{Status: store.OutboxDelivered, At: replayAt}), store.ErrConflict)
}

func testListEvents(t *testing.T, s store.Store) {
	a := newOrg(t, s, "a")
	b := newOrg(t, s, "b")
	sub := createSubscription(t, s, a.ID, when(0))
	var ids []string
	for i := range 25 {
		e := newEvent(a.ID, "", "token.expiring", time.Duration(i)*time.Second)
		if i%2 == 0 {
			enqueue(t, s, e, sub.ID)
		} else {
			enqueue(t, s, e)
		}
		ids = append(ids, e.ID)
	}
	for range 3 {
		enqueue(t, s, newEvent(b.ID, "", "token.expiring", 0))
	}
	slices.Reverse(ids)

	var got []string
	var sizes []int
	var last int64
	p := store.Page{Limit: 10}
	for {
		page, next, err := s.ListEvents(ctx(t), a.ID, p)
		must(t, err)
		sizes = append(sizes, len(page))
		for _, es := range page {
			if last != 0 && es.Event.Seq >= last {
				t.Errorf("seq %d after %d, want newest first", es.Event.Seq, last)
			}
			last = es.Event.Seq
			got = append(got, es.Event.ID)
		}
		if next == "" {
			break
		}
		if next != fmt.Sprint(page[len(page)-1].Event.Seq) {
			t.Errorf("next = %q, want the page's last seq", next)
		}
		p.After = next
		if len(sizes) > 5 {
			t.Fatal("paging does not end")
		}
	}
	diff(t, "page sizes", sizes, []int{10, 10, 5})
	diff(t, "events across pages, newest first", got, ids)
	page, _, err := s.ListEvents(ctx(t), b.ID, store.Page{})
	must(t, err)
	if len(page) != 3 {
		t.Errorf("b lists %d events, want 3", len(page))
	}
	page, next, err := s.ListEvents(ctx(t), newID("org"), store.Page{})
	must(t, err)
	if len(page) != 0 || next != "" {
		t.Errorf("unknown org: %d events, next %q", len(page), next)
	}
	for _, bad := range []string{"x", "-1", "0", "1.5"} {
		_, _, err := s.ListEvents(ctx(t), a.ID, store.Page{After: bad})
		wantErr(t, err, store.ErrInvalidCursor)
	}
}

// testDeleteSubscriptionJobs: a deleted subscription's jobs go with it;
// the events and other subscriptions' jobs stay.
func testDeleteSubscriptionJobs(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	s1 := createSubscription(t, s, o.ID, when(0))
	s2 := createSubscription(t, s, o.ID, when(0))
	e := newEvent(o.ID, "", "token.expiring", 0)
	enqueue(t, s, e, s1.ID, s2.ID)
	must(t, s.DeleteSubscription(ctx(t), o.ID, s1.ID))
	es := eventStatus(t, s, o.ID, e.ID)
	if len(es.Deliveries) != 1 || es.Deliveries[0].SubscriptionID != s2.ID {
		t.Errorf("jobs after deleting s1: %+v, want s2's only", es.Deliveries)
	}
	now := when(time.Hour)
	items, err := s.ClaimOutbox(ctx(t), "w", now, now.Add(time.Minute), 10)
	must(t, err)
	diff(t, "claimable jobs", claimKeys(items), keys(e.ID, s2.ID))
}

// watchRace reports, if ctx ends before finished is closed, the stacks of
// the goroutines waiting in database/sql or a store: what a hung race
// waits for.
func watchRace(ctx context.Context, t *testing.T, finished <-chan struct{}) {
	select {
	case <-finished:
		return
	case <-ctx.Done():
	}
	select {
	case <-finished:
		return
	default:
	}
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var stuck []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if (strings.Contains(g, "database/sql.") || strings.Contains(g, "/internal/store/")) &&
			!strings.Contains(g, "connectionOpener") && !strings.Contains(g, "storetest.watchRace") {
			stuck = append(stuck, g)
		}
	}
	t.Errorf("the claim race outlived its deadline; goroutines in the store:\n%s", strings.Join(stuck, "\n\n"))
}

// claimRace runs 8 workers, spread over stores (one database), claiming
// and completing deliveries and outbox jobs while 4 producers enqueue
// more events: no delivery or job may be claimed twice, and each chain's
// jobs must be claimed in seq order, each only after every earlier one
// finished.
//
// With runs the workers use the batch forms: CompleteDeliveries, and
// ClaimOutboxRuns and FinishOutboxes, finishing each run in one go.
func claimRace(t *testing.T, stores []store.Store, runs bool) {
	const (
		workers    = 8
		producers  = 4
		deliveries = 120
		apps       = 6
		perApp     = 10 // events enqueued before the workers start
		produced   = 15 // events each producer adds while they run
	)
	s := stores[0]
	name := "race"
	if runs {
		name = "race-runs"
	}
	o := newOrg(t, s, name)
	app := createApp(t, s, o.ID, "hooked", "")
	h := createHook(t, s, o.ID, app.ID)
	sub := createSubscription(t, s, o.ID, when(0))
	sub2 := createSubscription(t, s, o.ID, when(0))
	for i := range deliveries {
		record(t, s, newDelivery(h, fmt.Sprintf("guid-%d", i), time.Duration(i)*time.Millisecond))
	}
	var appIDs []string
	for i := range apps {
		appIDs = append(appIDs, createApp(t, s, o.ID, fmt.Sprintf("app-%d", i), "").ID)
	}
	appIDs = append(appIDs, "") // token events
	for i := range perApp {
		var batch []store.NewEvent
		for _, a := range appIDs {
			batch = append(batch, store.NewEvent{Event: newEvent(o.ID, a, "deploy.requested", time.Duration(i)*time.Millisecond),
				Subscriptions: []string{sub.ID, sub2.ID}})
		}
		must(t, s.EnqueueEvents(ctx(t), batch))
	}

	now := when(time.Hour)
	total := deliveries + 2*(perApp*len(appIDs)+producers*produced)
	var (
		mu        sync.Mutex
		claimed   = map[string]int{}
		finished  = map[string]int64{} // chain -> last seq claimed and finished
		order     = map[string][]int64{}
		remaining = total
	)
	chainOf := func(o store.Outbox) string { return o.SubscriptionID + "/" + o.AppKey }
	deadline := time.Now().Add(2 * time.Minute)
	// A store call that never returns (a connection held for ever: once
	// seen on SQLite under the whole suite) fails the race shortly after
	// the deadline, naming where each goroutine waited, instead of
	// hanging until the test binary's timeout.
	raceCtx, cancel := context.WithDeadline(context.Background(), deadline.Add(15*time.Second))
	raceDone, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		watchRace(raceCtx, t, raceDone)
	}()
	defer func() {
		close(raceDone)
		<-watched
		cancel()
	}()
	var wg sync.WaitGroup
	for p := range producers {
		st := stores[p%len(stores)]
		wg.Go(func() {
			for range produced {
				e := newEvent(o.ID, appIDs[0], "preview.requested", 0)
				if err := st.EnqueueEvents(raceCtx, []store.NewEvent{{Event: e, Subscriptions: []string{sub.ID, sub2.ID}}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for w := range workers {
		st := stores[w%len(stores)]
		owner := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			ctx := raceCtx
			for {
				mu.Lock()
				left := remaining
				mu.Unlock()
				if left == 0 || t.Failed() {
					return
				}
				if time.Now().After(deadline) {
					t.Errorf("%d deliveries and jobs left unclaimed", left)
					return
				}
				ds, err := st.ClaimDeliveries(ctx, owner, now, now.Add(time.Hour), 3)
				if err != nil {
					t.Error(err)
					return
				}
				var cs []store.Completion
				for _, d := range ds {
					mu.Lock()
					claimed[d.ID]++
					remaining--
					mu.Unlock()
					if runs {
						cs = append(cs, store.Completion{ID: d.ID, Verdict: "accepted", At: now})
					} else if err := st.CompleteDelivery(ctx, d.ID, owner, "accepted", "", now, nil); err != nil {
						t.Error(err)
						return
					}
				}
				if lost, err := st.CompleteDeliveries(ctx, owner, cs); err != nil || len(lost) > 0 {
					t.Errorf("CompleteDeliveries: lost %v, %v", lost, err)
					return
				}
				var items []store.OutboxItem
				if runs {
					items, err = st.ClaimOutboxRuns(ctx, owner, now, now.Add(time.Hour), 2, 3)
				} else {
					items, err = st.ClaimOutbox(ctx, owner, now, now.Add(time.Hour), 4)
				}
				if err != nil {
					t.Error(err)
					return
				}
				var fs []store.OutboxFinish
				for _, it := range items {
					c := chainOf(it.Outbox)
					mu.Lock()
					claimed[it.Outbox.ID]++
					if last := finished[c]; it.Outbox.Seq <= last {
						t.Errorf("chain %s: seq %d claimed after %d", c, it.Outbox.Seq, last)
					}
					// Marked before finishing: the next job of the chain
					// can only be claimed once the finish commits.
					finished[c] = it.Outbox.Seq
					order[c] = append(order[c], it.Outbox.Seq)
					remaining--
					mu.Unlock()
					r := store.OutboxResult{Status: store.OutboxDelivered, HTTPStatus: 200, At: now}
					if runs {
						fs = append(fs, store.OutboxFinish{ID: it.Outbox.ID, Result: r})
					} else if err := st.FinishOutbox(ctx, it.Outbox.ID, owner, r); err != nil {
						t.Error(err)
						return
					}
				}
				if lost, err := st.FinishOutboxes(ctx, owner, fs); err != nil || len(lost) > 0 {
					t.Errorf("FinishOutboxes: lost %v, %v", lost, err)
					return
				}
				if len(ds) == 0 && len(items) == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("%s claimed %d times", id, n)
		}
	}
	if len(claimed) != total {
		t.Errorf("%d deliveries and jobs claimed, want %d", len(claimed), total)
	}
	// Every chain went out in exactly its seq order, none skipped.
	want := map[string][]int64{}
	for _, es := range allEvents(t, s, o.ID) {
		for _, j := range es.Deliveries {
			if j.Status != store.OutboxDelivered {
				t.Errorf("job %s: %s after the race, want delivered", j.ID, j.Status)
			}
			want[chainOf(j)] = append(want[chainOf(j)], j.Seq)
		}
	}
	for c := range want {
		slices.Sort(want[c])
	}
	diff(t, "seqs each chain went out in", order, want)
}
