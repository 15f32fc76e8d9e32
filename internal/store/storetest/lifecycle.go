package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

func lifecycleTests() []struct {
	name string
	fn   func(t *testing.T, s store.Store)
} {
	return []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"WarningOnce", testWarningOnce},
		{"WarningInvalidEpisodes", testWarningInvalidEpisodes},
		{"WarningAllOrNothing", testWarningAllOrNothing},
		{"WarningTokenDeleted", testWarningTokenDeleted},
		{"WarningMail", testWarningMail},
		{"Jobs", testJobs},
		{"JobRace", func(t *testing.T, s store.Store) { jobRace(t, []store.Store{s}) }},
	}
}

// RunJobReplicas races replicas a and b (two stores on one database) for
// one due job: exactly one may run it.
func RunJobReplicas(t *testing.T, a, b store.Store) {
	jobRace(t, []store.Store{a, b})
}

// tokenEvent is a token.* event of org (no application: token events are
// ordered per organization).
func tokenEvent(orgID, typ string, subs ...string) *store.NewEvent {
	e := newEvent(orgID, "", typ, time.Minute)
	return &store.NewEvent{Event: e, Subscriptions: subs}
}

func newWarning(tok store.Token, kind string, days int, ref time.Time, ev *store.NewEvent) store.NewWarning {
	w := store.TokenWarning{ID: newID("twn"), OrgID: tok.OrgID, TokenID: tok.ID, Kind: kind, ThresholdDays: days,
		RefAt: ref, CreatedAt: when(time.Hour), Detail: "expires in 13 days", Payload: []byte(`{"threshold_days":14}`)}
	if ev != nil {
		w.EventID = ev.Event.ID
	}
	return store.NewWarning{Warning: w, Event: ev}
}

func warningIDs(ws []store.TokenWarning) []string {
	out := []string{}
	for _, w := range ws {
		out = append(out, w.ID)
	}
	slices.Sort(out)
	return out
}

func eventTypes(evs []store.EventStatus) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.Event.Type+"/"+e.Event.ID)
	}
	slices.Sort(out)
	return out
}

// testWarningOnce: a warning's key is recorded once, and its event goes
// out with it and only with it.
func testWarningOnce(t *testing.T, s store.Store) {
	org := newOrg(t, s, "acme")
	tok := createToken(t, s, org.ID, "ci")
	sub := createSubscription(t, s, org.ID, when(0))
	expires := when(40 * 24 * time.Hour)

	first := newWarning(tok, store.WarningExpiring, 30, expires, tokenEvent(org.ID, "token.expiring", sub.ID))
	passed := newWarning(tok, store.WarningExpiring, 14, expires, nil)
	got, err := s.RecordWarnings(ctx(t), []store.NewWarning{first, passed})
	must(t, err)
	diff(t, "inserted", warningIDs(got), warningIDs([]store.TokenWarning{first.Warning, passed.Warning}))

	// The same keys again (a restart, another replica) insert nothing and
	// enqueue nothing, even with fresh ids and events.
	again := newWarning(tok, store.WarningExpiring, 30, expires, tokenEvent(org.ID, "token.expiring", sub.ID))
	againPassed := newWarning(tok, store.WarningExpiring, 14, expires, nil)
	got, err = s.RecordWarnings(ctx(t), []store.NewWarning{again, againPassed})
	must(t, err)
	if len(got) != 0 {
		t.Errorf("recording the same keys again inserted %v", warningIDs(got))
	}
	evs := allEvents(t, s, org.ID)
	diff(t, "events", eventTypes(evs), []string{"token.expiring/" + first.Event.Event.ID})
	if len(evs) == 1 {
		if evs[0].Event.AppID != "" || len(evs[0].Deliveries) != 1 || evs[0].Deliveries[0].SubscriptionID != sub.ID {
			t.Errorf("event = %+v, want no app and one delivery to %s", evs[0], sub.ID)
		}
	}

	// A new expiry (the token was rotated) is a new key.
	rotated := newWarning(tok, store.WarningExpiring, 30, expires.Add(90*24*time.Hour), tokenEvent(org.ID, "token.expiring", sub.ID))
	got, err = s.RecordWarnings(ctx(t), []store.NewWarning{rotated})
	must(t, err)
	diff(t, "inserted after rotation", warningIDs(got), []string{rotated.Warning.ID})

	ws, err := s.ListTokenWarnings(ctx(t), org.ID, tok.ID)
	must(t, err)
	if len(ws) != 3 {
		t.Fatalf("token has %d warnings, want 3", len(ws))
	}
	var stored store.TokenWarning
	for _, w := range ws {
		if w.ID == first.Warning.ID {
			stored = w
		}
	}
	want := first.Warning
	want.RefAt, want.CreatedAt, want.MailNextAt = cut(want.RefAt), cut(want.CreatedAt), cut(want.CreatedAt)
	diff(t, "stored warning", stored, want)
	wantUTC(t, "warning", &stored.RefAt, &stored.CreatedAt, &stored.MailNextAt)
	if string(stored.Payload) != `{"threshold_days":14}` {
		t.Errorf("payload = %s", stored.Payload)
	}

	recent, err := s.ListWarnings(ctx(t), org.ID, when(0))
	must(t, err)
	if len(recent) != 3 {
		t.Errorf("ListWarnings since creation: %d, want 3", len(recent))
	}
	later, err := s.ListWarnings(ctx(t), org.ID, when(2*time.Hour))
	must(t, err)
	if len(later) != 0 {
		t.Errorf("ListWarnings since after creation: %d, want 0", len(later))
	}
	other := newOrg(t, s, "other")
	if ws, err := s.ListWarnings(ctx(t), other.ID, when(0)); err != nil || len(ws) != 0 {
		t.Errorf("another organization sees %d warnings (%v)", len(ws), err)
	}
}

// testWarningInvalidEpisodes: one open invalid warning per token; once
// resolved, a new refusal warns again.
func testWarningInvalidEpisodes(t *testing.T, s store.Store) {
	org := newOrg(t, s, "acme")
	tok := createToken(t, s, org.ID, "ci")
	sub := createSubscription(t, s, org.ID, when(0))

	first := newWarning(tok, store.WarningInvalid, 0, when(time.Hour), tokenEvent(org.ID, "token.invalid", sub.ID))
	got, err := s.RecordWarnings(ctx(t), []store.NewWarning{first})
	must(t, err)
	diff(t, "first refusal", warningIDs(got), []string{first.Warning.ID})

	// Refused again later, still in the same episode: nothing new.
	second := newWarning(tok, store.WarningInvalid, 0, when(2*time.Hour), tokenEvent(org.ID, "token.invalid", sub.ID))
	got, err = s.RecordWarnings(ctx(t), []store.NewWarning{second})
	must(t, err)
	if len(got) != 0 {
		t.Errorf("a second refusal in one episode inserted %v", warningIDs(got))
	}

	must(t, s.ResolveInvalid(ctx(t), org.ID, tok.ID, when(3*time.Hour)))
	must(t, s.ResolveInvalid(ctx(t), org.ID, tok.ID, when(4*time.Hour))) // nothing open: no error
	third := newWarning(tok, store.WarningInvalid, 0, when(5*time.Hour), tokenEvent(org.ID, "token.invalid", sub.ID))
	got, err = s.RecordWarnings(ctx(t), []store.NewWarning{third})
	must(t, err)
	diff(t, "refusal after recovery", warningIDs(got), []string{third.Warning.ID})

	diff(t, "events", eventTypes(allEvents(t, s, org.ID)),
		eventTypes([]store.EventStatus{{Event: first.Event.Event}, {Event: third.Event.Event}}))
	ws, err := s.ListTokenWarnings(ctx(t), org.ID, tok.ID)
	must(t, err)
	for _, w := range ws {
		switch w.ID {
		case first.Warning.ID:
			if w.ResolvedAt == nil || !w.ResolvedAt.Equal(cut(when(3*time.Hour))) {
				t.Errorf("first episode resolved at %v, want %v", w.ResolvedAt, cut(when(3*time.Hour)))
			}
		case third.Warning.ID:
			if w.ResolvedAt != nil {
				t.Errorf("open episode resolved at %v", w.ResolvedAt)
			}
		default:
			t.Errorf("unexpected warning %s", w.ID)
		}
	}
}

// testWarningAllOrNothing: when the event cannot be enqueued, the warning
// is not recorded either, so the next attempt warns.
func testWarningAllOrNothing(t *testing.T, s store.Store) {
	org := newOrg(t, s, "acme")
	tok := createToken(t, s, org.ID, "ci")
	bad := newWarning(tok, store.WarningExpiring, 7, when(0), tokenEvent(org.ID, "token.expiring", "sub_missing"))
	_, err := s.RecordWarnings(ctx(t), []store.NewWarning{newWarning(tok, store.WarningExpiring, 14, when(0), nil), bad})
	wantErr(t, err, store.ErrNotFound)
	ws, err := s.ListTokenWarnings(ctx(t), org.ID, tok.ID)
	must(t, err)
	if len(ws) != 0 {
		t.Errorf("a failed batch left %d warnings", len(ws))
	}
	if evs := allEvents(t, s, org.ID); len(evs) != 0 {
		t.Errorf("a failed batch left %d events", len(evs))
	}
	_, err = s.RecordWarnings(ctx(t), []store.NewWarning{newWarning(store.Token{ID: "tok_missing", OrgID: org.ID}, store.WarningExpiring, 7, when(0), nil)})
	wantErr(t, err, store.ErrNotFound)
}

// testWarningTokenDeleted: a deleted token's warnings go with it.
func testWarningTokenDeleted(t *testing.T, s store.Store) {
	org := newOrg(t, s, "acme")
	tok := createToken(t, s, org.ID, "ci")
	_, err := s.RecordWarnings(ctx(t), []store.NewWarning{newWarning(tok, store.WarningExpiring, 7, when(0), nil)})
	must(t, err)
	must(t, s.DeleteToken(ctx(t), org.ID, tok.ID))
	ws, err := s.ListWarnings(ctx(t), org.ID, when(-time.Hour))
	must(t, err)
	if len(ws) != 0 {
		t.Errorf("deleted token left %d warnings", len(ws))
	}
}

// testWarningMail: warnings with an event are due for mail until one
// attempt succeeds; a failed attempt waits until its next time.
func testWarningMail(t *testing.T, s store.Store) {
	org := newOrg(t, s, "acme")
	tok := createToken(t, s, org.ID, "ci")
	sub := createSubscription(t, s, org.ID, when(0))
	sent := newWarning(tok, store.WarningExpiring, 30, when(0), tokenEvent(org.ID, "token.expiring", sub.ID))
	passed := newWarning(tok, store.WarningExpiring, 14, when(0), nil)
	_, err := s.RecordWarnings(ctx(t), []store.NewWarning{sent, passed})
	must(t, err)

	due, err := s.DueMails(ctx(t), when(-24*time.Hour), when(time.Hour), 10)
	must(t, err)
	diff(t, "due", warningIDs(due), []string{sent.Warning.ID}) // never the passed one
	if due, err := s.DueMails(ctx(t), when(2*time.Hour), when(3*time.Hour), 10); err != nil || len(due) != 0 {
		t.Errorf("warnings older than since are due: %d (%v)", len(due), err)
	}
	if due, err := s.DueMails(ctx(t), when(-24*time.Hour), when(30*time.Minute), 10); err != nil || len(due) != 0 {
		t.Errorf("a warning is due before it was created: %d (%v)", len(due), err)
	}

	must(t, s.FinishMail(ctx(t), sent.Warning.ID, when(time.Hour), "dial tcp: connection refused", when(3*time.Hour)))
	if due, err := s.DueMails(ctx(t), when(-24*time.Hour), when(2*time.Hour), 10); err != nil || len(due) != 0 {
		t.Errorf("a failed mail is due before its retry time: %d (%v)", len(due), err)
	}
	due, err = s.DueMails(ctx(t), when(-24*time.Hour), when(3*time.Hour), 10)
	must(t, err)
	if len(due) != 1 || due[0].MailAttempts != 1 || due[0].MailError != "dial tcp: connection refused" {
		t.Fatalf("due after retry time = %+v, want the failed mail with its error", due)
	}
	must(t, s.FinishMail(ctx(t), sent.Warning.ID, when(3*time.Hour), "", time.Time{}))
	if due, err := s.DueMails(ctx(t), when(-24*time.Hour), when(100*time.Hour), 10); err != nil || len(due) != 0 {
		t.Errorf("a sent mail is due again: %d (%v)", len(due), err)
	}
	ws, err := s.ListTokenWarnings(ctx(t), org.ID, tok.ID)
	must(t, err)
	for _, w := range ws {
		if w.ID == sent.Warning.ID && (w.MailedAt == nil || !w.MailedAt.Equal(cut(when(3*time.Hour))) || w.MailAttempts != 2) {
			t.Errorf("sent warning: mailed %v after %d attempts, want %v after 2", w.MailedAt, w.MailAttempts, cut(when(3*time.Hour)))
		}
	}
	wantErr(t, s.FinishMail(ctx(t), "twn_missing", when(0), "", time.Time{}), store.ErrNotFound)
}

// testJobs: a job runs when due, one holder at a time; a finished run
// schedules the next; a crashed holder's lease runs out.
func testJobs(t *testing.T, s store.Store) {
	_, err := s.GetJob(ctx(t), "revalidate")
	wantErr(t, err, store.ErrNotFound)

	ok, err := s.TryRunJob(ctx(t), "revalidate", "a", when(0), when(time.Hour))
	must(t, err)
	if !ok {
		t.Fatal("a job never run is not due")
	}
	if ok, err := s.TryRunJob(ctx(t), "revalidate", "b", when(time.Minute), when(time.Hour)); err != nil || ok {
		t.Fatalf("b took a job a holds: %v %v", ok, err)
	}
	if ok, err := s.TryRunJob(ctx(t), "mail", "b", when(time.Minute), when(time.Hour)); err != nil || !ok {
		t.Fatalf("another job is not independent: %v %v", ok, err)
	}
	j, err := s.GetJob(ctx(t), "revalidate")
	must(t, err)
	if j.Holder != "a" || j.LeaseUntil == nil || !j.LeaseUntil.Equal(cut(when(time.Hour))) || j.LastRunAt != nil {
		t.Errorf("running job = %+v", j)
	}

	wantErr(t, s.FinishJob(ctx(t), "revalidate", "b", when(time.Minute), when(6*time.Hour)), store.ErrConflict)
	must(t, s.FinishJob(ctx(t), "revalidate", "a", when(2*time.Minute), when(6*time.Hour)))
	j, err = s.GetJob(ctx(t), "revalidate")
	must(t, err)
	if j.Holder != "" || j.LeaseUntil != nil || j.LastRunAt == nil || !j.LastRunAt.Equal(cut(when(2*time.Minute))) || !j.NextRunAt.Equal(cut(when(6*time.Hour))) {
		t.Errorf("finished job = %+v", j)
	}
	wantUTC(t, "job", j.LastRunAt, &j.NextRunAt)

	// Not due yet: nobody runs it (a restart does not sweep again).
	for _, h := range []string{"a", "b"} {
		if ok, err := s.TryRunJob(ctx(t), "revalidate", h, when(5*time.Hour), when(6*time.Hour)); err != nil || ok {
			t.Errorf("%s ran a job before it was due: %v %v", h, ok, err)
		}
	}
	// Due: b runs it, then crashes; a takes over once b's lease ends.
	if ok, err := s.TryRunJob(ctx(t), "revalidate", "b", when(6*time.Hour), when(7*time.Hour)); err != nil || !ok {
		t.Fatalf("b could not run a due job: %v %v", ok, err)
	}
	if ok, err := s.TryRunJob(ctx(t), "revalidate", "a", when(6*time.Hour+time.Minute), when(8*time.Hour)); err != nil || ok {
		t.Fatalf("a took b's live lease: %v %v", ok, err)
	}
	if ok, err := s.TryRunJob(ctx(t), "revalidate", "a", when(7*time.Hour), when(8*time.Hour)); err != nil || !ok {
		t.Fatalf("a could not take over b's ended lease: %v %v", ok, err)
	}
	wantErr(t, s.FinishJob(ctx(t), "revalidate", "b", when(7*time.Hour), when(13*time.Hour)), store.ErrConflict)
}

// jobRace: many workers over stores ask for one due job at once; exactly
// one gets it.
func jobRace(t *testing.T, stores []store.Store) {
	const workers = 8
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		won []int
	)
	start := make(chan struct{})
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s := stores[i%len(stores)]
			ok, err := s.TryRunJob(ctx(t), "revalidate", newID("holder"), when(0), when(time.Hour))
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				won = append(won, i)
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(won) != 1 {
		t.Errorf("%d workers got the job (%v), want exactly 1", len(won), won)
	}
}
