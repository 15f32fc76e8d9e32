package storetest

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

func consoleTests() []struct {
	name string
	fn   func(t *testing.T, s store.Store)
} {
	return []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"ConsoleSessionRoundTrip", testConsoleSessionRoundTrip},
		{"ConsoleSessionDelete", testConsoleSessionDelete},
		{"ConsoleSessionRefs", testConsoleSessionRefs},
		{"ConsoleSessionExpiry", testConsoleSessionExpiry},
	}
}

func newSessionKey(t *testing.T, s store.Store, orgID string) store.APIKey {
	t.Helper()
	k := store.APIKey{ID: newID("key"), OrgID: orgID, Name: "browser", Role: store.RoleOwner, Hash: randomBytes(32), CreatedAt: when(0)}
	must(t, s.CreateAPIKey(ctx(t), k))
	return k
}

func sessionHash(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

func testConsoleSessionRoundTrip(t *testing.T, s store.Store) {
	o := newOrg(t, s, "acme")
	k := newSessionKey(t, s, o.ID)
	cs := store.ConsoleSession{IDHash: sessionHash("one"), OrgID: o.ID, KeyID: k.ID, CreatedAt: when(time.Second), ExpiresAt: when(12 * time.Hour)}
	must(t, s.CreateConsoleSession(ctx(t), cs))
	got, err := s.GetConsoleSession(ctx(t), sessionHash("one"))
	must(t, err)
	want := cs
	want.CreatedAt, want.ExpiresAt = cut(cs.CreatedAt), cut(cs.ExpiresAt)
	diff(t, "GetConsoleSession", got, want)
	wantUTC(t, "GetConsoleSession", &got.CreatedAt, &got.ExpiresAt)

	// Another id's hash finds nothing; the same hash twice is a conflict.
	_, err = s.GetConsoleSession(ctx(t), sessionHash("two"))
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.CreateConsoleSession(ctx(t), cs), store.ErrConflict)
}

func testConsoleSessionDelete(t *testing.T, s store.Store) {
	o := newOrg(t, s, "acme")
	k := newSessionKey(t, s, o.ID)
	for _, id := range []string{"keep", "drop"} {
		must(t, s.CreateConsoleSession(ctx(t), store.ConsoleSession{IDHash: sessionHash(id), OrgID: o.ID, KeyID: k.ID, CreatedAt: when(0), ExpiresAt: when(time.Hour)}))
	}
	must(t, s.DeleteConsoleSession(ctx(t), sessionHash("drop")))
	_, err := s.GetConsoleSession(ctx(t), sessionHash("drop"))
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteConsoleSession(ctx(t), sessionHash("drop")), store.ErrNotFound)
	if _, err := s.GetConsoleSession(ctx(t), sessionHash("keep")); err != nil {
		t.Fatalf("deleting one session touched another: %v", err)
	}
}

func testConsoleSessionRefs(t *testing.T, s store.Store) {
	o := newOrg(t, s, "acme")
	k := newSessionKey(t, s, o.ID)
	wantErr(t, s.CreateConsoleSession(ctx(t), store.ConsoleSession{IDHash: sessionHash("a"), OrgID: o.ID, KeyID: "key_missing", CreatedAt: when(0), ExpiresAt: when(time.Hour)}), store.ErrNotFound)
	wantErr(t, s.CreateConsoleSession(ctx(t), store.ConsoleSession{IDHash: sessionHash("b"), OrgID: "org_missing", KeyID: k.ID, CreatedAt: when(0), ExpiresAt: when(time.Hour)}), store.ErrNotFound)
}

func testConsoleSessionExpiry(t *testing.T, s store.Store) {
	o := newOrg(t, s, "acme")
	k := newSessionKey(t, s, o.ID)
	for i, id := range []string{"old", "edge", "fresh"} {
		must(t, s.CreateConsoleSession(ctx(t), store.ConsoleSession{IDHash: sessionHash(id), OrgID: o.ID, KeyID: k.ID, CreatedAt: when(0), ExpiresAt: when(time.Duration(i+1) * time.Hour)}))
	}
	n, err := s.DeleteExpiredConsoleSessions(ctx(t), when(2*time.Hour))
	must(t, err)
	if n != 2 {
		t.Errorf("DeleteExpiredConsoleSessions removed %d sessions, want 2 (the expired one and the one expiring now)", n)
	}
	for _, id := range []string{"old", "edge"} {
		_, err := s.GetConsoleSession(ctx(t), sessionHash(id))
		wantErr(t, err, store.ErrNotFound)
	}
	if _, err := s.GetConsoleSession(ctx(t), sessionHash("fresh")); err != nil {
		t.Errorf("a session not yet expired was removed: %v", err)
	}
}
