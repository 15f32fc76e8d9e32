package lifecycle_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/events"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/forge/github"
	"github.com/gitaccess/gitaccess/internal/lifecycle"
	"github.com/gitaccess/gitaccess/internal/lifecycle/lifecycletest"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/secret/keyring"
	"github.com/gitaccess/gitaccess/internal/store"
	"github.com/gitaccess/gitaccess/internal/store/postgres"
	"github.com/gitaccess/gitaccess/internal/store/sqlite"
	"github.com/gitaccess/gitaccess/internal/store/storetest"
)

const day = 24 * time.Hour

// world is gitaccess's domain over a real store and the real GitHub
// adapter talking TLS to the fake GitHub. A "replica" or a "restart" is a
// new Service and Runner over the same store and keyring.
type world struct {
	t       *testing.T
	st      store.Store
	keys    *keyring.Keyring
	gh      *forgetest.GitHub
	adapter *github.Forge
	clock   *lifecycletest.Clock
	log     *slog.Logger
	logs    *forgetest.LogBuffer
	svc     *access.Service
	owner   access.Principal
	// value is token ci's value; expires is its expiry.
	value   string
	expires time.Time
	// tokenSub receives token.*; deploySub only deploy.*.
	tokenSub, deploySub string
}

func openSQLite(t *testing.T, path string) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func openPostgres(t *testing.T, dsn string) store.Store {
	t.Helper()
	st, err := postgres.Open(t.Context(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// newWorld saves token ci (expiring in 40 days) with applications web
// (bound to it) and api (bound by its prefix), and two subscribers.
func newWorld(t *testing.T, st store.Store) *world {
	t.Helper()
	ctx := t.Context()
	gh := forgetest.NewGitHub()
	srv := forgetest.NewServer(t, nil, forgetest.ByHost{"api.github.com": gh})
	logs := &forgetest.LogBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	keys, err := keyring.GenerateKeyring()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Truncate(time.Second)
	w := &world{t: t, st: st, keys: keys, gh: gh, adapter: github.New(srv.Policy(), log), clock: lifecycletest.NewClock(start), log: log, logs: logs,
		value: "ghp_lifecycleCANARY0000000000000000000001", expires: start.Add(40 * day)}
	w.svc = w.service()
	key, created, err := w.svc.Bootstrap(ctx)
	if err != nil || !created {
		t.Fatalf("bootstrap: %v %v", created, err)
	}
	if w.owner, err = w.svc.Authenticate(ctx, key); err != nil {
		t.Fatal(err)
	}
	gh.AddToken(w.value, forgetest.GitHubToken{Login: "ci-bot", Kind: forgetest.GitHubClassic,
		Scopes: []string{"repo", "admin:repo_hook"}, ExpiresAt: &w.expires, Repos: []string{"acme/web", "acme/api"}})
	if _, err := w.svc.AddToken(ctx, w.owner, access.AddTokenInput{Name: "ci", Provider: "github", Value: secret.New(w.value)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.CreateApp(ctx, w.owner, access.AppInput{Name: "web", RepoURL: "https://github.com/acme/web", Token: "ci"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.CreateApp(ctx, w.owner, access.AppInput{Name: "api", RepoURL: "https://github.com/acme/api", Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		pattern string
		id      *string
	}{{"token.*", &w.tokenSub}, {"deploy.*", &w.deploySub}} {
		sub, err := w.svc.CreateSubscription(ctx, w.owner, access.SubscriptionInput{URL: "https://platform.example.com/" + s.pattern, Events: []string{s.pattern}})
		if err != nil {
			t.Fatal(err)
		}
		*s.id = sub.ID
	}
	return w
}

// service is a fresh Service over the world's store: what a restart or
// another replica has.
func (w *world) service() *access.Service {
	return access.New(access.Config{Store: w.st, Sealer: w.keys, Forges: access.ForgeMap{forge.GitHub: w.adapter},
		Logger: w.log, Now: w.clock.Now, NewSigningSecret: events.NewSecret})
}

func (w *world) runner(holder string, svc lifecycle.Tokens, mailer lifecycle.Mailer) *lifecycle.Runner {
	return lifecycle.New(lifecycle.Config{Store: w.st, Tokens: svc, Mailer: mailer, Holder: holder, Now: w.clock.Now,
		Logger: w.log, Jitter: func() float64 { return 0.5 }})
}

// at moves the clock to left before ci's expiry.
func (w *world) at(left time.Duration) { w.clock.Set(w.expires.Add(-left)) }

// tokenEvents are the org's token events, oldest first, decoded.
func (w *world) tokenEvents() ([]access.WarningEvent, []store.EventStatus) {
	w.t.Helper()
	evs, _, err := w.st.ListEvents(w.t.Context(), w.owner.OrgID, store.Page{Limit: store.MaxPageLimit})
	if err != nil {
		w.t.Fatal(err)
	}
	slices.Reverse(evs)
	var out []access.WarningEvent
	var raw []store.EventStatus
	for _, e := range evs {
		if !strings.HasPrefix(e.Event.Type, "token.") {
			continue
		}
		var we access.WarningEvent
		if err := json.Unmarshal(e.Event.Payload, &we); err != nil {
			w.t.Fatalf("event %s payload: %v", e.Event.ID, err)
		}
		if we.Type != e.Event.Type {
			w.t.Errorf("event %s: payload type %q, event type %q", e.Event.ID, we.Type, e.Event.Type)
		}
		out = append(out, we)
		raw = append(raw, e)
	}
	return out, raw
}

func thresholds(evs []access.WarningEvent) []int {
	out := []int{}
	for _, e := range evs {
		out = append(out, e.Data.ThresholdDays)
	}
	return out
}

// checkWarning: the event names the token and every application that
// depends on it, and goes to the token.* subscriber only.
func (w *world) checkWarning(e access.WarningEvent, raw store.EventStatus, typ string) {
	w.t.Helper()
	if e.Type != typ || e.Data.Token.Name != "ci" || e.Data.Token.Provider != "github" || e.Data.Token.Host != "github.com" {
		w.t.Errorf("event %+v, want %s about token ci on github.com", e, typ)
	}
	var apps []string
	for _, a := range e.Data.Applications {
		apps = append(apps, a.Name+" "+a.Repository+" "+a.Branch)
	}
	if want := []string{"api https://github.com/acme/api main", "web https://github.com/acme/web main"}; !slices.Equal(apps, want) {
		w.t.Errorf("%s names applications %q, want %q", typ, apps, want)
	}
	if len(raw.Deliveries) != 1 || raw.Deliveries[0].SubscriptionID != w.tokenSub {
		w.t.Errorf("%s goes to %+v, want only the token.* subscriber %s", typ, raw.Deliveries, w.tokenSub)
	}
	if raw.Event.AppID != "" {
		w.t.Errorf("%s carries app %q; token events are ordered per organization", typ, raw.Event.AppID)
	}
	if strings.Contains(string(mustJSON(w.t, e)), w.value) {
		w.t.Error("the event carries the token value")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tick runs one scheduler tick of r and fails on sweep errors.
func tick(t *testing.T, r *lifecycle.Runner) lifecycle.SweepResult {
	t.Helper()
	res, err := r.SweepIfDue(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 0 {
		t.Errorf("sweep: %d tokens failed", res.Failed)
	}
	return res
}

// TestExpiryWarningsOncePerThreshold: a token expiring in 40 days crosses
// 30, 14, 7 and 1 days as the clock moves; each threshold gets exactly one
// token.expiring event, whatever the sweeps, restarts and replicas.
func TestExpiryWarningsOncePerThreshold(t *testing.T) {
	w := newWorld(t, openSQLite(t, filepath.Join(t.TempDir(), "db")))
	r := w.runner("replica-a", w.svc, nil)

	if res := tick(t, r); !res.Ran || res.Checked != 1 {
		t.Fatalf("first sweep = %+v, want it to run over 1 token", res)
	}
	if evs, _ := w.tokenEvents(); len(evs) != 0 {
		t.Fatalf("40 days before expiry: %d warnings, want none", len(evs))
	}
	// Ticking again before the interval sweeps nothing.
	w.clock.Set(w.clock.Now().Add(5 * time.Hour))
	if res := tick(t, r); res.Ran {
		t.Fatal("a sweep ran 5h after the last one; the interval is 6h")
	}

	steps := []struct {
		left    time.Duration
		restart bool
		want    []int
	}{
		{31 * day, false, []int{}},
		{30*day - time.Hour, false, []int{30}},
		{29 * day, true, []int{30}}, // a restart does not warn again
		{15 * day, false, []int{30}},
		{14*day - time.Hour, false, []int{30, 14}},
		{10 * day, true, []int{30, 14}},
		{7*day - time.Hour, false, []int{30, 14, 7}},
		{2 * day, true, []int{30, 14, 7}},
		{day - time.Hour, false, []int{30, 14, 7, 1}},
		{time.Hour, true, []int{30, 14, 7, 1}},
		{-2 * day, false, []int{30, 14, 7, 1}}, // expired: no fifth warning
	}
	for i, s := range steps {
		if s.restart {
			w.svc = w.service()
			r = w.runner("replica-restarted-"+string(rune('a'+i)), w.svc, nil)
		}
		w.at(s.left)
		if res := tick(t, r); !res.Ran {
			t.Fatalf("step %d (%s left): the sweep was not due", i, s.left)
		}
		// A second look at the same moment (a `token test`, another
		// replica's check) adds nothing either.
		if err := w.svc.CheckWarnings(t.Context(), w.owner.OrgID, tokenID(t, w)); err != nil {
			t.Fatal(err)
		}
		evs, raw := w.tokenEvents()
		if got := thresholds(evs); !slices.Equal(got, s.want) {
			t.Fatalf("step %d (%s left): warned at %v, want %v", i, s.left, got, s.want)
		}
		for j, e := range evs {
			w.checkWarning(e, raw[j], "token.expiring")
		}
	}
	evs, _ := w.tokenEvents()
	for i, e := range evs {
		wantLeft := []int{29, 13, 6, 0}[i]
		if e.Data.Token.DaysLeft == nil || *e.Data.Token.DaysLeft != wantLeft || e.Data.Token.ExpiresAt == nil || !e.Data.Token.ExpiresAt.Equal(w.expires) {
			t.Errorf("warning %d: days_left %v, expires_at %v; want %d and %v", i, e.Data.Token.DaysLeft, e.Data.Token.ExpiresAt, wantLeft, w.expires)
		}
		if e.Data.Token.Status != access.StatusExpiring {
			t.Errorf("warning %d: status %q, want expiring", i, e.Data.Token.Status)
		}
	}

	// The sweeps are audited as the system.
	recs, _, err := w.svc.ListAudit(t.Context(), w.owner, store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	sweeps := 0
	for _, rec := range recs {
		if rec.Action == "token.revalidate" {
			sweeps++
			if rec.Actor != "system" || rec.Outcome != "success" {
				t.Errorf("revalidation audited as %+v, want actor system, success", rec)
			}
		}
	}
	if sweeps != len(steps)+1 {
		t.Errorf("%d token.revalidate audit records, want %d (one per sweep)", sweeps, len(steps)+1)
	}
	if strings.Contains(w.logs.String(), w.value) {
		t.Error("the token value reached the log")
	}
}

func tokenID(t *testing.T, w *world) string {
	t.Helper()
	tok, err := w.st.GetToken(t.Context(), w.owner.OrgID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	return tok.ID
}

// TestDowntimeWarnsOnlyMostUrgent: a server down while a token crossed
// 30, 14 and 7 days sends one warning (7 days), not three; the others are
// recorded as passed and the status page shows them so.
func TestDowntimeWarnsOnlyMostUrgent(t *testing.T) {
	w := newWorld(t, openSQLite(t, filepath.Join(t.TempDir(), "db")))
	w.at(5 * day)
	tick(t, w.runner("a", w.svc, nil))
	evs, _ := w.tokenEvents()
	if got := thresholds(evs); !slices.Equal(got, []int{7}) {
		t.Fatalf("after downtime warned at %v, want only [7]", got)
	}
	st, err := w.svc.Status(t.Context(), w.owner)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, wn := range st.Warnings {
		kinds = append(kinds, strings.Join([]string{wn.Kind, strconv.Itoa(wn.ThresholdDays), boolStr(wn.EventID != "")}, "/"))
	}
	slices.Sort(kinds)
	if want := []string{"expiring/14/false", "expiring/30/false", "expiring/7/true"}; !slices.Equal(kinds, want) {
		t.Errorf("status warnings %v, want %v", kinds, want)
	}
	if len(st.Expiring) != 1 || st.Expiring[0].Name != "ci" || *st.Expiring[0].DaysLeft != 5 || len(st.Expiring[0].Applications) != 2 {
		t.Errorf("status expiring = %+v, want ci with 5 days left and 2 applications", st.Expiring)
	}
	if st.Revalidation.LastRunAt == nil || !st.Revalidation.LastRunAt.Equal(w.clock.Now()) || st.Revalidation.NextRunAt == nil ||
		!st.Revalidation.NextRunAt.Equal(w.clock.Now().Add(6*time.Hour)) {
		t.Errorf("status revalidation = %+v, want last now and next in 6h (jitter 0.5 is the middle)", st.Revalidation)
	}

	w.at(day - time.Minute)
	tick(t, w.runner("a", w.svc, nil))
	evs, _ = w.tokenEvents()
	if got := thresholds(evs); !slices.Equal(got, []int{7, 1}) {
		t.Fatalf("warned at %v, want [7 1]", got)
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// TestRevokedTokenFoundBySweep: a token revoked at the provider is found
// by the next sweep, marked invalid with the provider's words and the
// time, and token.invalid names its applications, once.
func TestRevokedTokenFoundBySweep(t *testing.T) {
	w := newWorld(t, openSQLite(t, filepath.Join(t.TempDir(), "db")))
	r := w.runner("a", w.svc, nil)
	tick(t, r)
	w.gh.Revoke(w.value)
	w.clock.Set(w.clock.Now().Add(7 * time.Hour))
	found := w.clock.Now()
	tick(t, r)

	tok, err := w.svc.GetToken(t.Context(), w.owner, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Status != access.StatusInvalid || !strings.Contains(tok.StatusDetail, "Bad credentials") ||
		!strings.Contains(tok.StatusDetail, found.Format(time.RFC3339)) || !strings.Contains(tok.StatusDetail, "401") {
		t.Fatalf("after the sweep: status %q (%s), want invalid with GitHub's words, 401 and %s", tok.Status, tok.StatusDetail, found.Format(time.RFC3339))
	}
	evs, raw := w.tokenEvents()
	if len(evs) != 1 {
		t.Fatalf("%d token events, want one token.invalid", len(evs))
	}
	w.checkWarning(evs[0], raw[0], "token.invalid")
	if evs[0].Data.Token.Status != access.StatusInvalid || evs[0].Data.Token.StatusDetail != tok.StatusDetail {
		t.Errorf("token.invalid says %q (%q), want the token's status and the provider's words", evs[0].Data.Token.Status, evs[0].Data.Token.StatusDetail)
	}

	// Still refused at the next sweeps, after a restart, and by a manual
	// test: no second warning for the same episode.
	w.clock.Set(w.clock.Now().Add(7 * time.Hour))
	w.svc = w.service()
	tick(t, w.runner("b", w.svc, nil))
	if _, err := w.svc.TestToken(t.Context(), w.owner, "ci"); err == nil {
		t.Fatal("testing a revoked token succeeded")
	}
	if evs, _ := w.tokenEvents(); len(evs) != 1 {
		t.Fatalf("%d token events after more refusals, want still 1", len(evs))
	}
	st, err := w.svc.Status(t.Context(), w.owner)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Invalid) != 1 || st.Invalid[0].Name != "ci" || !strings.Contains(st.Invalid[0].StatusDetail, "Bad credentials") || st.Tokens["invalid"] != 1 {
		t.Errorf("status = %+v, want ci invalid in GitHub's words", st)
	}
}

// TestRefusalWhileBrowsingWarnsOnce: a 401 met while serving a request
// (here listing branches) marks the token invalid and warns at once, not
// at the next sweep; a recovered token warns again on its next refusal.
func TestRefusalWhileBrowsingWarnsOnce(t *testing.T) {
	w := newWorld(t, openSQLite(t, filepath.Join(t.TempDir(), "db")))
	w.gh.Revoke(w.value)
	if _, err := w.svc.ListBranches(t.Context(), w.owner, "https://github.com/acme/web", ""); err == nil {
		t.Fatal("listing branches with a revoked token succeeded")
	}
	_, _ = w.svc.ListBranches(t.Context(), w.owner, "https://github.com/acme/web", "")
	evs, raw := w.tokenEvents()
	if len(evs) != 1 {
		t.Fatalf("%d token events after two refusals, want 1", len(evs))
	}
	w.checkWarning(evs[0], raw[0], "token.invalid")

	// Accepted again (the provider's revocation was undone: a new value
	// with the same name here), then refused again: a new episode.
	w.gh.AddToken(w.value, forgetest.GitHubToken{Login: "ci-bot", Kind: forgetest.GitHubClassic,
		Scopes: []string{"repo", "admin:repo_hook"}, ExpiresAt: &w.expires, Repos: []string{"acme/web", "acme/api"}})
	if _, err := w.svc.TestToken(t.Context(), w.owner, "ci"); err != nil {
		t.Fatal(err)
	}
	w.gh.Revoke(w.value)
	w.clock.Set(w.clock.Now().Add(time.Hour))
	_, _ = w.svc.ListBranches(t.Context(), w.owner, "https://github.com/acme/web", "")
	if evs, _ := w.tokenEvents(); len(evs) != 2 {
		t.Fatalf("%d token events after recovery and a new refusal, want 2", len(evs))
	}
}

// countingTokens counts revalidations, to see which replica swept.
type countingTokens struct {
	svc *access.Service
	n   atomic.Int64
}

func (c *countingTokens) Revalidate(ctx context.Context, orgID, tokenID string) (access.TokenView, error) {
	c.n.Add(1)
	return c.svc.Revalidate(ctx, orgID, tokenID)
}

// sweepOnce: two replicas tick at the same moment, again and again; per
// period exactly one sweeps.
func sweepOnce(t *testing.T, a, b store.Store) {
	w := newWorld(t, a)
	ca, cb := &countingTokens{svc: w.svc}, &countingTokens{svc: w.svc}
	wb := *w
	wb.st = b
	cb.svc = wb.service()
	ra, rb := w.runner("replica-a", ca, nil), wb.runner("replica-b", cb, nil)
	for period := range 3 {
		var wg sync.WaitGroup
		ran := make([]bool, 2)
		for i, r := range []*lifecycle.Runner{ra, rb} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 3 {
					res, err := r.SweepIfDue(t.Context())
					if err != nil {
						t.Error(err)
					}
					ran[i] = ran[i] || res.Ran
				}
			}()
		}
		wg.Wait()
		if ran[0] == ran[1] {
			t.Fatalf("period %d: replica a swept %v, b %v; want exactly one", period, ran[0], ran[1])
		}
		w.clock.Set(w.clock.Now().Add(7 * time.Hour))
	}
	if total := ca.n.Load() + cb.n.Load(); total != 3 {
		t.Errorf("%d revalidations over 3 periods of 1 token, want 3", total)
	}
}

func TestSweepOnceAcrossReplicasSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	sweepOnce(t, openSQLite(t, path), openSQLite(t, path))
}

func TestSweepOnceAcrossReplicasPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	sweepOnce(t, openPostgres(t, dsn), openPostgres(t, dsn))
}

// TestExpiryWarningsPostgres: the once-per-threshold rule holds on
// PostgreSQL too, across a restart.
func TestExpiryWarningsPostgres(t *testing.T) {
	w := newWorld(t, openPostgres(t, storetest.PostgresDSN(t)))
	for i, left := range []time.Duration{29 * day, 28 * day, 13 * day, 12 * day} {
		w.svc = w.service()
		w.at(left)
		tick(t, w.runner("replica-"+strconv.Itoa(i), w.svc, nil))
	}
	if got, _ := w.tokenEvents(); !slices.Equal(thresholds(got), []int{30, 14}) {
		t.Fatalf("warned at %v, want [30 14]", thresholds(got))
	}
}

// A token added already within 30 days of its expiry warns when it is
// saved: the platform hears of it now, not at the next sweep up to 6h on.
func TestTokenAddedNearExpiryWarnsAtOnce(t *testing.T) {
	w := newWorld(t, openSQLite(t, filepath.Join(t.TempDir(), "db")))
	soon := w.clock.Now().Add(20 * day)
	const value = "ghp_lifecycleCANARY0000000000000000000002"
	w.gh.AddToken(value, forgetest.GitHubToken{Login: "deployer", Kind: forgetest.GitHubClassic,
		Scopes: []string{"repo", "admin:repo_hook"}, ExpiresAt: &soon, Repos: []string{"acme/web"}})
	if _, err := w.svc.AddToken(t.Context(), w.owner, access.AddTokenInput{Name: "soon", Provider: "github", Value: secret.New(value),
		Prefixes: []string{"https://github.com/acme/web/"}}); err != nil {
		t.Fatal(err)
	}
	evs, _ := w.tokenEvents()
	if len(evs) != 1 || evs[0].Data.Token.Name != "soon" || evs[0].Data.ThresholdDays != 30 {
		t.Fatalf("after adding a token 20 days before expiry: %+v, want one 30-day warning for soon", evs)
	}
	// The sweep that follows does not warn again.
	tick(t, w.runner("a", w.svc, nil))
	if evs, _ := w.tokenEvents(); len(evs) != 1 {
		t.Fatalf("the sweep after the add warned again: %d warnings", len(evs))
	}
}
