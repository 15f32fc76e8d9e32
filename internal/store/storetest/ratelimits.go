package storetest

import (
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

func rateLimitTests() []struct {
	name string
	fn   func(t *testing.T, s store.Store)
} {
	return []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RateLimitRoundTrip", testRateLimitRoundTrip},
		{"RateLimitNewestWins", testRateLimitNewestWins},
		{"RateLimitLeavesTokenAlone", testRateLimitLeavesTokenAlone},
		{"ListTokenMetrics", testListTokenMetrics},
	}
}

// testRateLimitRoundTrip: what a provider reported is what comes back,
// unknown remaining and reset included, and a missing token says so.
func testRateLimitRoundTrip(t *testing.T, s store.Store) {
	o := newOrg(t, s, "acme")
	tok := createToken(t, s, o.ID, "ci")
	_, err := s.GetRateLimit(ctx(t), tok.ID)
	wantErr(t, err, store.ErrNotFound)

	rl := store.RateLimit{Limit: 5000, Remaining: 4987, Reset: when(time.Hour), Resource: "core", ObservedAt: when(time.Minute)}
	must(t, s.SaveRateLimit(ctx(t), tok.ID, rl))
	got, err := s.GetRateLimit(ctx(t), tok.ID)
	must(t, err)
	want := rl
	want.Reset, want.ObservedAt = cut(rl.Reset), cut(rl.ObservedAt)
	diff(t, "rate limit", got, want)
	wantUTC(t, "rate limit", &got.Reset, &got.ObservedAt)

	// Bitbucket Cloud: a limit, no remaining count, no reset.
	bb := store.RateLimit{Limit: 1000, Remaining: -1, Resource: "api", ObservedAt: when(2 * time.Minute)}
	must(t, s.SaveRateLimit(ctx(t), tok.ID, bb))
	got, err = s.GetRateLimit(ctx(t), tok.ID)
	must(t, err)
	bb.ObservedAt = cut(bb.ObservedAt)
	diff(t, "rate limit without reset", got, bb)

	wantErr(t, s.SaveRateLimit(ctx(t), "tok_missing", rl), store.ErrNotFound)
	_, err = s.GetRateLimit(ctx(t), "tok_missing")
	wantErr(t, err, store.ErrNotFound)
}

// testRateLimitNewestWins: two replicas saving out of order leave the
// later observation, and the late writer is not told it failed.
func testRateLimitNewestWins(t *testing.T, s store.Store) {
	o := newOrg(t, s, "acme")
	tok := createToken(t, s, o.ID, "ci")
	newer := store.RateLimit{Limit: 5000, Remaining: 10, Reset: when(time.Hour), Resource: "core", ObservedAt: when(2 * time.Minute)}
	older := store.RateLimit{Limit: 5000, Remaining: 4000, Reset: when(time.Hour), Resource: "core", ObservedAt: when(time.Minute)}
	must(t, s.SaveRateLimit(ctx(t), tok.ID, newer))
	must(t, s.SaveRateLimit(ctx(t), tok.ID, older))
	got, err := s.GetRateLimit(ctx(t), tok.ID)
	must(t, err)
	if got.Remaining != 10 {
		t.Errorf("remaining = %d after an older observation was saved last, want the newer 10", got.Remaining)
	}
}

// testRateLimitLeavesTokenAlone: recording a rate limit is not an edit, so
// an update made from the token read before it still succeeds.
func testRateLimitLeavesTokenAlone(t *testing.T, s store.Store) {
	o := newOrg(t, s, "acme")
	tok := createToken(t, s, o.ID, "ci")
	must(t, s.SaveRateLimit(ctx(t), tok.ID, store.RateLimit{Limit: 5000, Remaining: 1, ObservedAt: when(time.Minute)}))
	after, err := s.GetToken(ctx(t), o.ID, "ci")
	must(t, err)
	if after.Version != tok.Version {
		t.Errorf("version = %d after saving a rate limit, want %d unchanged", after.Version, tok.Version)
	}
	tok.Description = "changed"
	if _, err := s.UpdateToken(ctx(t), tok); err != nil {
		t.Fatalf("updating the token read before the rate limit was saved: %v", err)
	}
	// And the update keeps the rate limit.
	got, err := s.GetRateLimit(ctx(t), tok.ID)
	must(t, err)
	if got.Remaining != 1 {
		t.Errorf("remaining = %d after a token update, want 1 kept", got.Remaining)
	}
}

// testListTokenMetrics: every token of every organization, by id, with
// status, expiry and rate limit; gone tokens are gone.
func testListTokenMetrics(t *testing.T, s store.Store) {
	got, err := s.ListTokenMetrics(ctx(t))
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("empty store lists %d token metrics", len(got))
	}
	a, b := newOrg(t, s, "acme"), newOrg(t, s, "globex")
	t1 := createToken(t, s, a.ID, "one")
	t2 := newToken(b.ID, "two")
	t2.Provider, t2.Status, t2.ExpiresAt = "gitlab", "invalid", nil
	must(t, s.CreateToken(ctx(t), t2))
	t3 := createToken(t, s, b.ID, "three")
	rl := store.RateLimit{Limit: 2000, Remaining: 3, Reset: when(time.Hour), Resource: "", ObservedAt: when(time.Minute)}
	must(t, s.SaveRateLimit(ctx(t), t2.ID, rl))
	must(t, s.DeleteToken(ctx(t), b.ID, t3.ID))

	got, err = s.ListTokenMetrics(ctx(t))
	must(t, err)
	want := []store.TokenMetric{
		{ID: t1.ID, OrgID: a.ID, Provider: "github", Status: "valid", ExpiresAt: t1.ExpiresAt},
		{ID: t2.ID, OrgID: b.ID, Provider: "gitlab", Status: "invalid",
			RateLimit: &store.RateLimit{Limit: 2000, Remaining: 3, Reset: cut(rl.Reset), ObservedAt: cut(rl.ObservedAt)}},
	}
	if want[0].ID > want[1].ID {
		want[0], want[1] = want[1], want[0]
	}
	diff(t, "token metrics", got, want)
	for _, m := range got {
		wantUTC(t, "token metric", m.ExpiresAt)
	}
}
