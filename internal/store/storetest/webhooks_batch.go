package storetest

import (
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

// The batch forms of the webhook hot path must do exactly what their
// one-row forms do, row by row, in one transaction.

// testRecordDeliveries: a batch stores each delivery as RecordDelivery
// would, a redelivery of an earlier batch or of an earlier delivery of the
// same batch counting a duplicate.
func testRecordDeliveries(t *testing.T, s store.Store) {
	_, _, h := hookFixture(t, s, "a")
	first := record(t, s, newDelivery(h, "guid-1", 0))
	a := newDelivery(h, "guid-2", time.Second)
	again := newDelivery(h, "guid-1", 2*time.Second)
	b := newDelivery(h, "guid-3", 3*time.Second)
	bAgain := newDelivery(h, "guid-3", 4*time.Second)
	refused := newDelivery(h, "", 5*time.Second)
	refused.Verdict, refused.Body = "bad-signature", nil
	refused2 := newDelivery(h, "", 6*time.Second)
	refused2.Verdict, refused2.Body = "bad-signature", nil

	got, err := s.RecordDeliveries(ctx(t), []store.Delivery{a, again, b, bAgain, refused, refused2})
	must(t, err)
	if len(got) != 6 {
		t.Fatalf("%d results for 6 deliveries", len(got))
	}
	dups := []bool{}
	for _, r := range got {
		dups = append(dups, r.Dup)
	}
	diff(t, "duplicate verdicts", dups, []bool{false, true, false, true, false, false})
	diff(t, "a as stored", got[0].Stored, storedDelivery(a))
	wantFirst := storedDelivery(first)
	wantFirst.Duplicates = 1
	diff(t, "the earlier delivery a redelivery hit, with its body", got[1].Stored, wantFirst)
	wantB := storedDelivery(b)
	wantB.Duplicates = 1
	diff(t, "a delivery redelivered within the batch", got[3].Stored, wantB)
	diff(t, "a refused delivery", got[4].Stored, storedDelivery(refused))

	now := when(time.Hour)
	claimed, err := s.ClaimDeliveries(ctx(t), "w", now, now.Add(time.Minute), 10)
	must(t, err)
	// refused ones are final; first, a and b are pending, with bodies.
	diff(t, "pending after the batch", deliveryIDs(claimed), []string{first.ID, a.ID, b.ID})
	for _, d := range claimed {
		if len(d.Body) == 0 {
			t.Errorf("delivery %s claimed without its body", d.ID)
		}
	}
	if got, err := s.RecordDeliveries(ctx(t), nil); err != nil || len(got) != 0 {
		t.Errorf("RecordDeliveries(nil) = %v, %v", got, err)
	}
}

// testRecordDeliveriesAllOrNothing: one delivery that cannot be stored
// stores none of its batch.
func testRecordDeliveriesAllOrNothing(t *testing.T, s store.Store) {
	_, _, h := hookFixture(t, s, "a")
	good := newDelivery(h, "guid-1", 0)
	orphan := newDelivery(h, "guid-2", 0)
	orphan.OrgID = newID("org")
	_, err := s.RecordDeliveries(ctx(t), []store.Delivery{good, orphan})
	wantErr(t, err, store.ErrNotFound)
	now := when(time.Hour)
	claimed, err := s.ClaimDeliveries(ctx(t), "w", now, now.Add(time.Minute), 10)
	must(t, err)
	if len(claimed) != 0 {
		t.Errorf("stored after a refused batch: %v", deliveryIDs(claimed))
	}
	// The good one alone is not a duplicate of anything half-written.
	record(t, s, good)
}

// testCompleteDeliveries: verdicts and events of the deliveries still
// leased to the owner, their events in slice order; the others are lost
// and their events not enqueued.
func testCompleteDeliveries(t *testing.T, s store.Store) {
	o, app, h := hookFixture(t, s, "a")
	sub := createSubscription(t, s, o.ID, when(0))
	d1 := record(t, s, newDelivery(h, "guid-1", 0))
	d2 := record(t, s, newDelivery(h, "guid-2", time.Second))
	now := when(time.Hour)
	claimed, err := s.ClaimDeliveries(ctx(t), "A", now, now.Add(time.Minute), 2)
	must(t, err)
	diff(t, "claimed", deliveryIDs(claimed), []string{d1.ID, d2.ID})
	d3 := record(t, s, newDelivery(h, "guid-3", 2*time.Second)) // never claimed

	e1 := newEvent(o.ID, app.ID, "deploy.requested", 0)
	e2 := newEvent(o.ID, app.ID, "deploy.requested", 0)
	e3 := newEvent(o.ID, app.ID, "deploy.requested", 0)
	e4 := newEvent(o.ID, app.ID, "preview.requested", 0)
	at := now.Add(time.Second)
	lost, err := s.CompleteDeliveries(ctx(t), "A", []store.Completion{
		{ID: d2.ID, Verdict: "accepted", Detail: "emitted deploy.requested", At: at,
			Events: []store.NewEvent{{Event: e1, Subscriptions: []string{sub.ID}}, {Event: e2, Subscriptions: []string{sub.ID}}}},
		{ID: d3.ID, Verdict: "accepted", At: at, Events: []store.NewEvent{{Event: e3, Subscriptions: []string{sub.ID}}}},
		{ID: d1.ID, Verdict: "ignored", Detail: "ping", At: at,
			Events: []store.NewEvent{{Event: e4, Subscriptions: []string{sub.ID}}}},
	})
	must(t, err)
	diff(t, "lost", lost, []string{d3.ID})
	var order []string
	for _, es := range allEvents(t, s, o.ID) {
		order = append([]string{es.Event.ID}, order...) // newest first
	}
	diff(t, "events enqueued, in seq order", order, []string{e1.ID, e2.ID, e4.ID})

	// Completed ones are no longer pending; d3 still is, unleased.
	claimed, err = s.ClaimDeliveries(ctx(t), "B", now, now.Add(time.Minute), 10)
	must(t, err)
	diff(t, "pending after completion", deliveryIDs(claimed), []string{d3.ID})
	list, _, err := s.ListDeliveries(ctx(t), o.ID, app.ID, store.Page{})
	must(t, err)
	verdicts := map[string]string{}
	for _, d := range list {
		verdicts[d.ID] = d.Verdict + "/" + d.Detail
	}
	diff(t, "verdicts", verdicts, map[string]string{
		d1.ID: "ignored/ping", d2.ID: "accepted/emitted deploy.requested", d3.ID: "pending/"})
	if _, err := s.CompleteDeliveries(ctx(t), "", []store.Completion{{ID: d3.ID, Verdict: "accepted"}}); err == nil {
		t.Error("CompleteDeliveries accepted an empty owner")
	}
}

// testClaimOutboxRuns: behind each chain head, the chain's next due jobs
// in seq order, stopping at the first one not due; a second claimer gets
// nothing of a leased run.
func testClaimOutboxRuns(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	appA := createApp(t, s, o.ID, "api", "")
	appB := createApp(t, s, o.ID, "web", "")
	sub := createSubscription(t, s, o.ID, when(0))
	a1 := newEvent(o.ID, appA.ID, "deploy.requested", 0)
	a2 := newEvent(o.ID, appA.ID, "deploy.requested", 0)
	b1 := newEvent(o.ID, appB.ID, "deploy.requested", 0)
	a3 := newEvent(o.ID, appA.ID, "deploy.requested", 0)
	a4 := newEvent(o.ID, appA.ID, "deploy.requested", 10*time.Hour) // not due: ends the run
	a5 := newEvent(o.ID, appA.ID, "deploy.requested", 0)
	for _, e := range []store.Event{a1, a2, b1, a3, a4, a5} {
		enqueue(t, s, e, sub.ID)
	}
	now := when(time.Hour)
	items, err := s.ClaimOutboxRuns(ctx(t), "A", now, now.Add(time.Minute), 10, 10)
	must(t, err)
	runs := map[string][]string{}
	for _, it := range items {
		runs[it.Outbox.AppKey] = append(runs[it.Outbox.AppKey], it.Event.ID)
		if it.Outbox.LeaseOwner != "A" || it.Subscription.ID != sub.ID {
			t.Errorf("claimed job %+v", it.Outbox)
		}
	}
	diff(t, "runs", runs, map[string][]string{appA.ID: {a1.ID, a2.ID, a3.ID}, appB.ID: {b1.ID}})
	// Grouped by chain, each in seq order.
	for i := 1; i < len(items); i++ {
		p, c := items[i-1].Outbox, items[i].Outbox
		if p.AppKey == c.AppKey && p.Seq >= c.Seq {
			t.Errorf("run out of order: seq %d before %d", p.Seq, c.Seq)
		}
		if p.AppKey != c.AppKey && runs[p.AppKey][len(runs[p.AppKey])-1] != items[i-1].Event.ID {
			t.Errorf("chains interleaved in %v", claimKeys(items))
		}
	}
	items, err = s.ClaimOutboxRuns(ctx(t), "B", now, now.Add(time.Minute), 10, 10)
	must(t, err)
	diff(t, "B's claim during A's leases", claimKeys(items), keys())

	// perChain bounds a run; chains bounds the heads.
	later := now.Add(2 * time.Minute)
	items, err = s.ClaimOutboxRuns(ctx(t), "C", later, later.Add(time.Minute), 1, 2)
	must(t, err)
	if len(items) != 2 || items[0].Event.ID != a1.ID && items[0].Event.ID != b1.ID {
		t.Errorf("claim of 1 chain, 2 per chain: %v", claimKeys(items))
	}
	if _, err := s.ClaimOutboxRuns(ctx(t), "", now, now, 1, 1); err == nil {
		t.Error("ClaimOutboxRuns accepted an empty owner")
	}
}

// testFinishOutboxes: outcomes and releases in one call; a job the owner
// does not hold is lost, the others are recorded.
func testFinishOutboxes(t *testing.T, s store.Store) {
	o := newOrg(t, s, "a")
	app := createApp(t, s, o.ID, "api", "")
	sub := createSubscription(t, s, o.ID, when(0))
	e1 := newEvent(o.ID, app.ID, "deploy.requested", 0)
	e2 := newEvent(o.ID, app.ID, "deploy.requested", 0)
	e3 := newEvent(o.ID, app.ID, "deploy.requested", 0)
	for _, e := range []store.Event{e1, e2, e3} {
		enqueue(t, s, e, sub.ID)
	}
	now := when(time.Hour)
	items, err := s.ClaimOutboxRuns(ctx(t), "A", now, now.Add(time.Minute), 1, 3)
	must(t, err)
	if len(items) != 3 {
		t.Fatalf("claimed %v, want the run of 3", claimKeys(items))
	}
	retry := store.OutboxResult{Status: store.OutboxPending, Next: now.Add(time.Hour), Error: "HTTP 503", HTTPStatus: 503, At: now}
	lost, err := s.FinishOutboxes(ctx(t), "A", []store.OutboxFinish{
		{ID: items[0].Outbox.ID, Result: store.OutboxResult{Status: store.OutboxDelivered, HTTPStatus: 204, At: now}},
		{ID: items[1].Outbox.ID, Result: retry},
		{ID: items[2].Outbox.ID, Release: true},
		{ID: newID("obx"), Result: retry},
	})
	must(t, err)
	if len(lost) != 1 {
		t.Errorf("lost %v, want the unknown job only", lost)
	}
	j1, j2, j3 := job(t, s, o.ID, e1.ID, sub.ID), job(t, s, o.ID, e2.ID, sub.ID), job(t, s, o.ID, e3.ID, sub.ID)
	if j1.Status != store.OutboxDelivered || j1.Attempts != 1 || j1.DeliveredAt == nil || j1.LeaseOwner != "" {
		t.Errorf("delivered job: %+v", j1)
	}
	if j2.Status != store.OutboxPending || j2.Attempts != 1 || !j2.NextAttemptAt.Equal(cut(retry.Next)) || j2.LastStatus != 503 || j2.LeaseOwner != "" {
		t.Errorf("retried job: %+v", j2)
	}
	if j3.Status != store.OutboxPending || j3.Attempts != 0 || j3.LeaseOwner != "" || j3.LeaseUntil != nil {
		t.Errorf("released job: %+v", j3)
	}
	// e3 waits behind e2's retry, released or not.
	items, err = s.ClaimOutboxRuns(ctx(t), "B", now, now.Add(time.Minute), 10, 10)
	must(t, err)
	diff(t, "claimable before the retry is due", claimKeys(items), keys())
	items, err = s.ClaimOutboxRuns(ctx(t), "B", retry.Next, retry.Next.Add(time.Minute), 10, 10)
	must(t, err)
	diff(t, "claimable once it is due", claimKeys(items), keys(e2.ID, sub.ID, e3.ID, sub.ID))
	// A's leases are gone: its finish of them is lost, and records nothing.
	lost, err = s.FinishOutboxes(ctx(t), "A", []store.OutboxFinish{{ID: items[0].Outbox.ID, Result: retry}})
	must(t, err)
	diff(t, "finish by a former owner", lost, []string{items[0].Outbox.ID})
	if _, err := s.FinishOutboxes(ctx(t), "B", []store.OutboxFinish{{ID: items[0].Outbox.ID, Result: store.OutboxResult{Status: "sent"}}}); err == nil {
		t.Error("FinishOutboxes accepted an unknown status")
	}
}
