package webhook

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
	"github.com/gitaccess/gitaccess/internal/store/sqlite"
)

// These tests run the Service over a real SQLite store; only the provider
// is a fake: testForge signs a delivery with its secret in X-Test-Signature
// and carries "branch sha" pushes in the body.

type testForge struct{}

func (testForge) VerifyDelivery(h http.Header, _ []byte, sec secret.Value) error {
	got := h.Get("X-Test-Signature")
	if got == "" {
		return forge.ErrUnsigned
	}
	if !hmac.Equal([]byte(got), []byte(sec.Reveal())) {
		return fmt.Errorf("%w: X-Test-Signature", forge.ErrBadSignature)
	}
	return nil
}

func (testForge) DeliveryID(h http.Header) string { return h.Get("X-GitHub-Delivery") }

func (testForge) ParseDelivery(_ http.Header, body []byte) ([]forge.Event, error) {
	branch, sha, ok := strings.Cut(string(body), " ")
	if !ok {
		return nil, errors.New("not a push")
	}
	return []forge.Event{{Kind: forge.EventPush, Branch: branch, After: sha}}, nil
}

type testParsers struct{}

func (testParsers) Webhooks(forge.Provider) (forge.Webhooks, bool) { return testForge{}, true }

// plainOpener "unseals" by reading the sealed bytes as the secret, and
// counts how often.
type plainOpener struct {
	mu sync.Mutex
	n  int
}

func (o *plainOpener) Open(sealed, _ []byte) (secret.Value, error) {
	o.mu.Lock()
	o.n++
	o.mu.Unlock()
	return secret.New(string(sealed)), nil
}

func (o *plainOpener) opened() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

// gatedStore holds the first RecordDelivery until gate is closed, and
// logs the size of every RecordDeliveries batch.
type gatedStore struct {
	*sqlite.Store
	gate    chan struct{}
	entered chan struct{}
	once    sync.Once
	mu      sync.Mutex
	batches []int
}

func (g *gatedStore) RecordDelivery(ctx context.Context, d store.Delivery) (store.Delivery, bool, error) {
	if g.gate != nil {
		g.once.Do(func() {
			close(g.entered)
			<-g.gate
		})
	}
	return g.Store.RecordDelivery(ctx, d)
}

func (g *gatedStore) RecordDeliveries(ctx context.Context, ds []store.Delivery) ([]store.Recorded, error) {
	g.mu.Lock()
	g.batches = append(g.batches, len(ds))
	g.mu.Unlock()
	return g.Store.RecordDeliveries(ctx, ds)
}

// refreshes counts mirror refreshes per application.
type refreshes struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *refreshes) RefreshMirror(_ context.Context, app store.App) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[app.ID]++
}

// observed collects what an Observer is told.
type observed struct {
	mu  sync.Mutex
	got []string
}

func (o *observed) Delivery(provider, verdict string) {
	o.mu.Lock()
	o.got = append(o.got, provider+" "+verdict)
	o.mu.Unlock()
}

type fixture struct {
	st      *gatedStore
	opener  *plainOpener
	refresh *refreshes
	obs     *observed
	svc     *Service
	org     store.Org
	app     store.App
	hook    store.Hook
	sub     store.Subscription
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gitaccess.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{st: &gatedStore{Store: db}, opener: &plainOpener{}, refresh: &refreshes{}, obs: &observed{}}
	f.org = store.Org{ID: store.NewID("org"), Name: "acme", CreatedAt: time.Now()}
	f.app = store.App{ID: store.NewID("app"), OrgID: f.org.ID, Name: "api", RepoURL: "https://github.com/acme/api",
		RepoFullName: "acme/api", Branch: "main", AutoDeploy: true, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	f.hook = store.Hook{ID: store.NewID("hk"), OrgID: f.org.ID, AppID: f.app.ID, Provider: "github",
		Sealed: []byte("secret-1"), State: "installed", CreatedAt: time.Now()}
	f.sub = store.Subscription{ID: store.NewID("sub"), OrgID: f.org.ID, URL: "https://platform.example.com/events",
		Events: []string{"deploy.*"}, Sealed: []byte("whsec"), CreatedAt: time.Now()}
	for _, err := range []error{db.CreateOrg(ctx, f.org), db.CreateApp(ctx, f.app), db.CreateHook(ctx, f.hook), db.CreateSubscription(ctx, f.sub)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	f.svc = New(Config{Store: f.st, Opener: f.opener, Parsers: testParsers{}, Refresh: f.refresh, Observer: f.obs,
		Owner: "test", AssociatedData: func(table, id string) []byte { return []byte(table + "/" + id) }})
	return f
}

func (f *fixture) receive(t *testing.T, sig, id, body string) (Receipt, error) {
	t.Helper()
	h := http.Header{"X-Github-Event": {"push"}, "X-Github-Delivery": {id}}
	if sig != "" {
		h.Set("X-Test-Signature", sig)
	}
	return f.svc.Receive(t.Context(), f.hook.ID, h, []byte(body))
}

func (f *fixture) pending(t *testing.T) []store.Delivery {
	t.Helper()
	now := time.Now()
	ds, err := f.st.ClaimDeliveries(t.Context(), "peek", now, now, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// Deliveries arriving while one is being stored are stored together, in
// one batch, and each caller gets its own verdict: a redelivery in the
// same batch is a duplicate, exactly once.
func TestGroupCommit(t *testing.T) {
	f := newFixture(t)
	f.st.gate, f.st.entered = make(chan struct{}), make(chan struct{})
	const n = 20
	type result struct {
		id  string
		rc  Receipt
		err error
	}
	results := make(chan result, n+1)
	send := func(id string) {
		rc, err := f.receive(t, "secret-1", id, "main sha-"+id)
		results <- result{id, rc, err}
	}
	go send("first") // leads, and is held in the store
	<-f.st.entered
	for i := range n {
		go send(fmt.Sprintf("d-%d", i%(n/2))) // each id twice
	}
	for f.svc.commit.queued() < n {
		waitABit()
	}
	close(f.st.gate)
	verdicts := map[string][]string{}
	for range n + 1 {
		r := <-results
		if r.err != nil {
			t.Fatalf("%s: %v", r.id, r.err)
		}
		verdicts[r.id] = append(verdicts[r.id], r.rc.Verdict)
	}
	for id, vs := range verdicts {
		accepted := strings.Count(strings.Join(vs, " "), VerdictAccepted)
		if want := 2; id == "first" {
			if accepted != 1 || len(vs) != 1 {
				t.Errorf("%s: %v", id, vs)
			}
		} else if len(vs) != want || accepted != 1 {
			t.Errorf("%s sent twice: verdicts %v, want one accepted and one duplicate", id, vs)
		}
	}
	f.st.mu.Lock()
	batches := f.st.batches
	f.st.mu.Unlock()
	if len(batches) != 1 || batches[0] != n {
		t.Errorf("batches %v, want the %d waiting deliveries in one", batches, n)
	}
	if got := len(f.pending(t)); got != 1+n/2 {
		t.Errorf("%d deliveries stored, want %d", got, 1+n/2)
	}
}

// waitABit lets the goroutines under test run while a test polls them.
func waitABit() { runtime.Gosched() }

// The hook's secret is opened once, not per delivery; a repaired hook's
// new secret works at once, and the old one is refused from then on.
func TestHookCacheSecretChange(t *testing.T) {
	f := newFixture(t)
	for i := range 3 {
		if rc, err := f.receive(t, "secret-1", fmt.Sprint("a-", i), "main x"); err != nil || rc.Verdict != VerdictAccepted {
			t.Fatalf("delivery %d: %+v %v", i, rc, err)
		}
	}
	if n := f.opener.opened(); n != 1 {
		t.Errorf("secret opened %d times for 3 deliveries, want 1", n)
	}
	h, err := f.st.GetHook(t.Context(), f.hook.ID)
	if err != nil {
		t.Fatal(err)
	}
	h.Sealed = []byte("secret-2")
	if _, err := f.st.UpdateHook(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	if rc, err := f.receive(t, "secret-2", "b-1", "main y"); err != nil || rc.Verdict != VerdictAccepted {
		t.Errorf("with the repaired secret: %+v %v", rc, err)
	}
	if _, err := f.receive(t, "secret-1", "b-2", "main z"); !errors.Is(err, forge.ErrBadSignature) {
		t.Errorf("with the old secret after repair: %v, want a bad signature", err)
	}
	if _, err := f.receive(t, "", "b-3", "main z"); !errors.Is(err, forge.ErrUnsigned) {
		t.Errorf("unsigned: %v", err)
	}
}

// A hook served from memory whose application was deleted answers 404 at
// once: storing the delivery fails, and the store is asked again.
func TestHookCacheDeletedApp(t *testing.T) {
	f := newFixture(t)
	if _, err := f.receive(t, "secret-1", "a-1", "main x"); err != nil {
		t.Fatal(err)
	}
	if err := f.st.DeleteApp(t.Context(), f.org.ID, f.app.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.receive(t, "secret-1", "a-2", "main x"); !errors.Is(err, ErrUnknownHook) {
		t.Errorf("after the application was deleted: %v, want ErrUnknownHook", err)
	}
}

// The Observer hears every outcome with the hook's provider.
func TestObserver(t *testing.T) {
	f := newFixture(t)
	_, _ = f.receive(t, "secret-1", "d-1", "main x")
	_, _ = f.receive(t, "secret-1", "d-1", "main x")
	_, _ = f.receive(t, "forged", "d-2", "main x")
	_, _ = f.svc.Receive(t.Context(), "hk_nobody", http.Header{}, nil)
	want := []string{"github accepted", "github duplicate", "github bad-signature", " unknown-hook"}
	if strings.Join(f.obs.got, "|") != strings.Join(want, "|") {
		t.Errorf("observed %q, want %q", f.obs.got, want)
	}
}

// A batch is routed in delivery order, its events enqueued in that order
// in one completion, and the mirror refreshed once however many pushes.
func TestRouteBatch(t *testing.T) {
	f := newFixture(t)
	var shas []string
	for i := range 5 {
		sha := fmt.Sprintf("sha-%d", i)
		shas = append(shas, sha)
		if _, err := f.receive(t, "secret-1", "d-"+sha, "main "+sha); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.receive(t, "secret-1", "d-other", "dev sha-x"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	batch, err := f.st.ClaimDeliveries(t.Context(), "test", now, now.Add(time.Minute), routeBatch)
	if err != nil || len(batch) != 6 {
		t.Fatalf("claimed %d, %v", len(batch), err)
	}
	f.svc.processBatch(t.Context(), batch)
	events, _, err := f.st.ListEvents(t.Context(), f.org.ID, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(events) - 1; i >= 0; i-- { // oldest first
		got = append(got, string(events[i].Event.Payload))
		if len(events[i].Deliveries) != 1 || events[i].Deliveries[0].SubscriptionID != f.sub.ID {
			t.Errorf("event %s jobs: %+v", events[i].Event.ID, events[i].Deliveries)
		}
	}
	if len(got) != len(shas) {
		t.Fatalf("%d events, want %d: %v", len(got), len(shas), got)
	}
	for i, sha := range shas {
		if !strings.Contains(got[i], `"sha":"`+sha+`"`) {
			t.Errorf("event %d is %s, want the push of %s", i, got[i], sha)
		}
	}
	if n := f.refresh.n[f.app.ID]; n != 1 {
		t.Errorf("mirror refreshed %d times for one batch, want 1", n)
	}
	if left := f.pending(t); len(left) != 0 {
		t.Errorf("%d deliveries still pending after routing", len(left))
	}
}

// Routing defers to a busy receiver, but not for ever: while deliveries
// keep arriving back to back (the receiver never idle), the ones received
// first are still routed, maxLag after their receipt at the latest, and
// routing keeps up with the rest.
func TestRoutingNotStarvedByReceipts(t *testing.T) {
	f := newFixture(t)
	f.svc.maxLag = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	const first = 20
	var sent atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := f.receive(t, "secret-1", fmt.Sprint("d-", n), fmt.Sprintf("main sha-%d", n)); err != nil {
				t.Error(err)
				return
			}
			sent.Add(1)
		}
	}()
	defer func() { close(stop); <-done }()
	// Routing starts with the receiver already busy and deliveries
	// waiting; their events appear while receipts go on.
	for sent.Load() < first {
		waitABit()
	}
	go f.svc.Run(ctx)
	for {
		events, _, err := f.st.ListEvents(ctx, f.org.ID, store.Page{Limit: first})
		if err != nil && ctx.Err() == nil {
			t.Fatal(err)
		}
		if len(events) >= first {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d events routed after a minute of back-to-back receipts, want %d: routing starved", len(events), first)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("the sender stopped before the events were routed")
	default:
	}
}
