package events

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
	"github.com/gitaccess/gitaccess/internal/store/sqlite"
)

// plainOpener "unseals" by reading the sealed bytes as the secret.
type plainOpener struct{}

func (plainOpener) Open(sealed, _ []byte) (secret.Value, error) {
	return secret.New(string(sealed)), nil
}

type attempt struct {
	outcome string
	lag     time.Duration
}

type attempts struct {
	mu  sync.Mutex
	got []attempt
}

func (a *attempts) Attempt(outcome string, lag time.Duration) {
	a.mu.Lock()
	a.got = append(a.got, attempt{outcome, lag})
	a.mu.Unlock()
}

// A claimed run goes out one event after another in seq order, signed;
// the first one the subscriber refuses ends it: it is retried later, the
// ones behind it are given back untried, and everything is recorded in
// one go. The Observer hears each attempt with its lag.
func TestRunStopsAtFirstFailure(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gitaccess.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	var mu sync.Mutex
	var got []string
	sec := NewSecret()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			N int `json:"n"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		got = append(got, fmt.Sprint(body.N))
		mu.Unlock()
		if body.N == 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("webhook-signature") == "" || r.Header.Get("webhook-id") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	created := time.Now().Add(-time.Minute).UTC()
	org := store.Org{ID: store.NewID("org"), Name: "acme", CreatedAt: created}
	sub := store.Subscription{ID: store.NewID("sub"), OrgID: org.ID, URL: srv.URL, Events: []string{"*"},
		Sealed: []byte(sec.Reveal()), CreatedAt: created}
	if err := db.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateSubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	var evs []store.NewEvent
	for n := range 6 {
		evs = append(evs, store.NewEvent{Event: store.Event{ID: store.NewID("evt"), OrgID: org.ID, AppID: "app_1",
			Type: "deploy.requested", Payload: fmt.Appendf(nil, `{"n":%d}`, n), CreatedAt: created}, Subscriptions: []string{sub.ID}})
	}
	if err := db.EnqueueEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}

	obs := &attempts{}
	d := New(Config{Store: db, Opener: plainOpener{}, Client: srv.Client(), Owner: "test", Observer: obs,
		AssociatedData: func(table, id string) []byte { return nil }})
	now := time.Now()
	items, err := db.ClaimOutboxRuns(ctx, "test", now, now.Add(Lease), runChains, runLength)
	if err != nil {
		t.Fatal(err)
	}
	runs := splitRuns(items)
	if len(runs) != 1 || len(runs[0]) != 6 {
		t.Fatalf("claimed runs %v, want one run of 6", runs)
	}
	d.finish(ctx, d.sendRun(ctx, now, runs[0]))

	if want := []string{"0", "1", "2", "3"}; !slices.Equal(got, want) {
		t.Errorf("subscriber got %v, want %v (nothing after the refused one)", got, want)
	}
	list, _, err := db.ListEvents(ctx, org.ID, store.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for i := len(list) - 1; i >= 0; i-- {
		j := list[i].Deliveries[0]
		states = append(states, fmt.Sprintf("%s/%d/%q", j.Status, j.Attempts, j.LeaseOwner))
	}
	want := []string{`delivered/1/""`, `delivered/1/""`, `delivered/1/""`, `pending/1/""`, `pending/0/""`, `pending/0/""`}
	if !slices.Equal(states, want) {
		t.Errorf("jobs after the run: %v, want %v", states, want)
	}
	var outcomes []string
	for _, a := range obs.got {
		outcomes = append(outcomes, a.outcome)
		if a.lag < time.Minute {
			t.Errorf("lag %s, want at least the minute since the event was created", a.lag)
		}
	}
	if want := []string{AttemptDelivered, AttemptDelivered, AttemptDelivered, AttemptRetry}; !slices.Equal(outcomes, want) {
		t.Errorf("observed %v, want %v", outcomes, want)
	}
	// The refused event is not due yet, and the rest wait behind it.
	items, err = db.ClaimOutboxRuns(ctx, "test", time.Now(), time.Now().Add(Lease), runChains, runLength)
	if err != nil || len(items) != 0 {
		t.Errorf("claimable right after the retry was scheduled: %d, %v", len(items), err)
	}
}
