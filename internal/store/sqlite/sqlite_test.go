package sqlite_test

import (
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
	"github.com/gitaccess/gitaccess/internal/store/sqlite"
	"github.com/gitaccess/gitaccess/internal/store/storetest"
)

func open(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(tb.Context(), path, slog.New(slog.DiscardHandler))
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
		return open(t, filepath.Join(t.TempDir(), "gitaccess.db"))
	})
}

// TestReplicas: two stores on one database file (two processes) share the
// delivery and event queues without claiming anything twice.
func TestReplicas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gitaccess.db")
	storetest.RunReplicas(t, open(t, path), open(t, path))
}

// TestFilesPrivate: the database holds sealed values, so neither it nor its
// WAL and shared-memory files may be readable by other users, whatever the
// umask, and a file left readable by an older install is narrowed.
func TestFilesPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	path := filepath.Join(dir, "gitaccess.db")
	s := open(t, path)
	if err := s.CreateOrg(t.Context(), store.Org{ID: "org_1", Name: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatalf("%s: %v (WAL mode should keep it while open)", filepath.Base(f), err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(f), got)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("created data directory mode %v, want no access for others", fi.Mode().Perm())
	}

	old := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(old, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(old, 0o644); err != nil { // past the umask
		t.Fatal(err)
	}
	open(t, old)
	if fi, err := os.Stat(old); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("existing 0644 database: mode %v (err %v), want 0600", fi.Mode().Perm(), err)
	}
}

// TestReopen: data survives a restart, and migrating an up-to-date database
// again is a no-op.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gitaccess.db")
	s, err := sqlite.Open(t.Context(), path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOrg(t.Context(), store.Org{ID: "org_1", Name: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, path)
	if _, err := s2.GetOrgByName(t.Context(), "acme"); err != nil {
		t.Fatalf("after reopening: %v", err)
	}
}

// TestAuditAppendOnly: audit records are evidence; even a direct SQL
// session (an operator's sqlite3 shell) cannot rewrite or delete them.
func TestAuditAppendOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gitaccess.db")
	s := open(t, path)
	if err := s.CreateOrg(t.Context(), store.Org{ID: "org_1", Name: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	rec := store.AuditRecord{ID: "aud_1", OrgID: "org_1", At: time.Now(), Actor: "key_1 (ci)",
		Action: "token.delete", Target: "token/deploy", Outcome: "success"}
	if err := s.AppendAudit(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`UPDATE audit SET outcome = 'denied'`, `DELETE FROM audit`} {
		if _, err := db.ExecContext(t.Context(), q); err == nil {
			t.Errorf("%s: succeeded", q)
		}
	}
	got, _, err := s.ListAudit(t.Context(), "org_1", store.Page{})
	if err != nil || len(got) != 1 || got[0].Outcome != "success" {
		t.Errorf("audit after tampering: %+v, %v; want the record unchanged", got, err)
	}
}

// TestOpenFails: a data directory that cannot be created is an error at
// Open, not a store that fails later.
func TestOpenFails(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := sqlite.Open(t.Context(), filepath.Join(file, "data", "gitaccess.db"), nil); err == nil {
		_ = s.Close()
		t.Fatal("Open with a regular file as the data directory's parent succeeded")
	}
}

func BenchmarkListTokens10k(b *testing.B) {
	storetest.BenchListTokens10k(b, open(b, filepath.Join(b.TempDir(), "gitaccess.db")))
}

func BenchmarkMatchPrefix(b *testing.B) {
	storetest.BenchMatchPrefix10k(b, open(b, filepath.Join(b.TempDir(), "gitaccess.db")))
}

func BenchmarkRecordDelivery(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "gitaccess.db"))
	bare, err := sqlite.BareInsert(b.Context(), s)
	if err != nil {
		b.Fatal(err)
	}
	storetest.BenchRecordDelivery(b, s, bare)
}
