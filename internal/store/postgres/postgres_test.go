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
