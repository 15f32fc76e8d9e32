package postgres_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gitaccess/gitaccess/internal/store"
	"github.com/gitaccess/gitaccess/internal/store/postgres"
	"github.com/gitaccess/gitaccess/internal/store/storetest"
)

func open(tb testing.TB, dsn string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(tb.Context(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, storetest.PostgresDSN(t))
	})
}

// TestReplicas: two replicas (two pools) on one database share the
// delivery and event queues without claiming anything twice.
func TestReplicas(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	storetest.RunReplicas(t, open(t, dsn), open(t, dsn))
}

// TestEventSeqCommitOrder: an organization's events commit in seq order.
// A transaction that took seq n and is held up (here on a row lock) holds
// back the organization's later events, so no worker can see n+1 pending
// without n and send it first (with a sequence, n+1 could commit first).
func TestEventSeqCommitOrder(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	s := open(t, dsn)
	ctx := t.Context()
	org := store.Org{ID: store.NewID("org"), Name: "acme", CreatedAt: time.Now()}
	sub := store.Subscription{ID: store.NewID("sub"), OrgID: org.ID, URL: "https://p.example.com/", Sealed: []byte{1}}
	if err := s.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	event := func() store.NewEvent {
		e := store.Event{ID: store.NewID("evt"), OrgID: org.ID, AppID: "app_1", Type: "deploy.requested",
			Payload: []byte(`{}`), CreatedAt: time.Now()}
		return store.NewEvent{Event: e, Subscriptions: []string{sub.ID}}
	}
	first, second := event(), event()

	// An uncommitted row with first's id makes first's insert wait, after
	// it took its seq.
	blocker, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close(context.Background())
	tx, err := blocker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(ctx, `INSERT INTO events (id, org_id, type, payload, created_at, seq)
		VALUES ($1, $2, 'blocker', '{}', now(), -1)`, first.Event.ID, org.ID); err != nil {
		t.Fatal(err)
	}
	watcher, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close(context.Background())
	// waitFor waits until n sessions wait on locks or one enqueue returned.
	errs := make(chan error, 2)
	waitFor := func(n int) {
		t.Helper()
		for range 500 {
			var waiting int
			if err := watcher.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			if waiting >= n || len(errs) > 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("fewer than %d sessions waiting on locks", n)
	}
	go func() { errs <- s.EnqueueEvents(context.Background(), []store.NewEvent{first}) }()
	waitFor(1)
	go func() { errs <- s.EnqueueEvents(context.Background(), []store.NewEvent{second}) }()
	waitFor(2)

	now := time.Now().Add(time.Minute)
	items, err := s.ClaimOutbox(ctx, "w", now, now.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 0 {
		t.Fatalf("while the first event's transaction is open, claimed event %s (seq %d)", items[0].Event.ID, items[0].Event.Seq)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []store.NewEvent{first, second} {
		items, err := s.ClaimOutbox(ctx, "w", now, now.Add(time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 1 || items[0].Event.ID != want.Event.ID {
			t.Fatalf("claimed %d jobs, want only %s's", len(items), want.Event.ID)
		}
		r := store.OutboxResult{Status: store.OutboxDelivered, At: now}
		if err := s.FinishOutbox(ctx, items[0].Outbox.ID, "w", r); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReplicasStartTogether: replicas deployed at once all migrate the same
// empty database at Open; each must come up, and see one schema.
func TestReplicasStartTogether(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	const replicas = 4
	stores := make([]*postgres.Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			stores[i], errs[i] = postgres.Open(t.Context(), dsn, slog.New(slog.DiscardHandler))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
			continue
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	if t.Failed() {
		return
	}
	if err := stores[0].CreateOrg(t.Context(), store.Org{ID: "org_1", Name: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[replicas-1].GetOrgByName(t.Context(), "acme"); err != nil {
		t.Fatalf("another replica does not see the org: %v", err)
	}
}

// TestReopen: data survives a restart, and migrating an up-to-date database
// again is a no-op.
func TestReopen(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	s, err := postgres.Open(t.Context(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOrg(t.Context(), store.Org{ID: "org_1", Name: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := open(t, dsn).GetOrgByName(t.Context(), "acme"); err != nil {
		t.Fatalf("after reopening: %v", err)
	}
}

// TestAuditAppendOnly: audit records are evidence; even a direct SQL
// session (an operator's psql) cannot rewrite, delete or truncate them.
func TestAuditAppendOnly(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	s := open(t, dsn)
	if err := s.CreateOrg(t.Context(), store.Org{ID: "org_1", Name: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	rec := store.AuditRecord{ID: "aud_1", OrgID: "org_1", At: time.Now(), Actor: "key_1 (ci)",
		Action: "token.delete", Target: "token/deploy", Outcome: "success"}
	if err := s.AppendAudit(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range []string{`UPDATE audit SET outcome = 'denied'`, `DELETE FROM audit`, `TRUNCATE audit`} {
		if _, err := conn.Exec(t.Context(), q); err == nil {
			t.Errorf("%s: succeeded", q)
		}
	}
	got, _, err := s.ListAudit(t.Context(), "org_1", store.Page{})
	if err != nil || len(got) != 1 || got[0].Outcome != "success" {
		t.Errorf("audit after tampering: %+v, %v; want the record unchanged", got, err)
	}
}

func BenchmarkListTokens10k(b *testing.B) {
	storetest.BenchListTokens10k(b, open(b, storetest.PostgresDSN(b)))
}

func BenchmarkMatchPrefix(b *testing.B) {
	storetest.BenchMatchPrefix10k(b, open(b, storetest.PostgresDSN(b)))
}

func BenchmarkRecordDelivery(b *testing.B) {
	s := open(b, storetest.PostgresDSN(b))
	bare, err := postgres.BareInsert(b.Context(), s)
	if err != nil {
		b.Fatal(err)
	}
	storetest.BenchRecordDelivery(b, s, bare)
}
