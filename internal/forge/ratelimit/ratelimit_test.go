package ratelimit_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/ratelimit"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// clock is a fake clock whose Sleep moves it instead of sleeping.
type clock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}

func (c *clock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// memStore is a store.RateLimitStore in memory that counts writes.
type memStore struct {
	mu    sync.Mutex
	rls   map[string]store.RateLimit
	saves int
}

func newMemStore() *memStore { return &memStore{rls: map[string]store.RateLimit{}} }

func (s *memStore) SaveRateLimit(_ context.Context, id string, rl store.RateLimit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves++
	s.rls[id] = rl
	return nil
}

func (s *memStore) GetRateLimit(_ context.Context, id string) (store.RateLimit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rl, ok := s.rls[id]
	if !ok {
		return store.RateLimit{}, store.ErrNotFound
	}
	return rl, nil
}

func (s *memStore) get(id string) (store.RateLimit, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rls[id], s.saves
}

// observer records what metrics would count.
type observer struct {
	mu       sync.Mutex
	requests map[string]int
	errors   map[string]int
}

func newObserver() *observer {
	return &observer{requests: map[string]int{}, errors: map[string]int{}}
}

func (o *observer) ProviderRequest(p forge.Provider, code int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests[string(p)+" "+strconv.Itoa(code)]++
}

func (o *observer) ProviderError(p forge.Provider, kind string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.errors[string(p)+" "+kind]++
}

func (o *observer) snapshot() (map[string]int, map[string]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps(o.requests), maps(o.errors)
}

func maps(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// provider is an HTTP server answering each request with the next queued
// header set (the last one repeats), counting requests.
type provider struct {
	mu      sync.Mutex
	answers []answer
	n       int
	srv     *httptest.Server
}

type answer struct {
	status int
	header http.Header
}

func newProvider(t *testing.T, answers ...answer) *provider {
	p := &provider{answers: answers}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		a := p.answers[min(p.n, len(p.answers)-1)]
		p.n++
		p.mu.Unlock()
		for k, v := range a.header {
			w.Header()[k] = v
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

func get(ctx context.Context, t *testing.T, rt http.RoundTripper, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func cred(id string) forge.Credential {
	return forge.Credential{Token: secret.New("ghp_" + id + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), TokenID: id}
}

// TestParse reads each provider's own header names.
func TestParse(t *testing.T) {
	reset := time.Unix(1763780400, 0).UTC()
	tests := []struct {
		name   string
		p      forge.Provider
		h      http.Header
		want   store.RateLimit
		wantOK bool
	}{
		{"GitHub", forge.GitHub, header("X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "4987",
			"X-RateLimit-Used", "13", "X-RateLimit-Reset", "1763780400", "X-RateLimit-Resource", "core"),
			store.RateLimit{Limit: 5000, Remaining: 4987, Reset: reset, Resource: "core"}, true},
		{"GitLab.com", forge.GitLab, header("RateLimit-Limit", "2000", "RateLimit-Observed", "3",
			"RateLimit-Remaining", "1997", "RateLimit-Reset", "1763780400",
			"RateLimit-ResetTime", "Sat, 22 Nov 2026 03:00:00 GMT", "RateLimit-Name", "throttle_authenticated_api"),
			store.RateLimit{Limit: 2000, Remaining: 1997, Reset: reset, Resource: "throttle_authenticated_api"}, true},
		{"GitLab self-managed sends none", forge.GitLab, header("Content-Type", "application/json"), store.RateLimit{}, false},
		{"GitLab ignores GitHub's names", forge.GitLab, header("X-RateLimit-Limit", "5000"), store.RateLimit{}, false},
		{"Bitbucket: a limit, no remaining, no reset", forge.Bitbucket, header("X-RateLimit-Limit", "1000",
			"X-RateLimit-Resource", "api", "X-RateLimit-NearLimit", "false"),
			store.RateLimit{Limit: 1000, Remaining: -1, Resource: "api"}, true},
		{"Gitea sends none", forge.Gitea, header("X-Gitea-Version", "1.22"), store.RateLimit{}, false},
		{"garbage", forge.GitHub, header("X-RateLimit-Limit", "lots", "X-RateLimit-Remaining", "3"), store.RateLimit{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ratelimit.Parse(tc.p, tc.h)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("rate limit (-want +got):\n%s", d)
			}
		})
	}
}

// TestPersists: the first answer is written, later ones at most every
// PersistEvery, and a low budget at once.
func TestPersists(t *testing.T) {
	clk := newClock()
	reset := clk.Now().Add(time.Hour)
	rate := func(remaining int) answer {
		return answer{200, header("X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", strconv.Itoa(remaining),
			"X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10), "X-RateLimit-Resource", "core")}
	}
	prov := newProvider(t, rate(4999), rate(4998), rate(4997), rate(40))
	st := newMemStore()
	tr := ratelimit.New(ratelimit.Config{Store: st, Now: clk.Now, Sleep: clk.Sleep, PersistEvery: 30 * time.Second})
	rt := tr.Wrap(forge.GitHub, cred("tok_a"), http.DefaultTransport)

	mustGet(t, rt, prov.srv.URL)
	rl, saves := st.get("tok_a")
	if saves != 1 || rl.Remaining != 4999 || rl.Limit != 5000 || rl.Resource != "core" || !rl.Reset.Equal(reset) || !rl.ObservedAt.Equal(clk.Now()) {
		t.Fatalf("after the first answer: saved %d times, %+v", saves, rl)
	}
	clk.Advance(10 * time.Second)
	mustGet(t, rt, prov.srv.URL)
	if _, saves := st.get("tok_a"); saves != 1 {
		t.Errorf("an answer 10s after the last write was written (%d writes); want at most one per 30s", saves)
	}
	if got, ok := tr.Budget("tok_a"); !ok || got.Remaining != 4998 {
		t.Errorf("in-memory budget = %+v, %v; want remaining 4998", got, ok)
	}
	clk.Advance(25 * time.Second)
	mustGet(t, rt, prov.srv.URL)
	if rl, saves := st.get("tok_a"); saves != 2 || rl.Remaining != 4997 {
		t.Errorf("35s after the first write: %d writes, remaining %d; want 2 writes, 4997", saves, rl.Remaining)
	}
	// 40 left of 5000 is under the floor (1% = 50): written at once.
	mustGet(t, rt, prov.srv.URL)
	if rl, saves := st.get("tok_a"); saves != 3 || rl.Remaining != 40 {
		t.Errorf("low budget: %d writes, remaining %d; want it written at once (3 writes, 40)", saves, rl.Remaining)
	}
	// A value not saved yet (no token id) is never written.
	mustGet(t, tr.Wrap(forge.GitHub, forge.Credential{Token: secret.New("x")}, http.DefaultTransport), prov.srv.URL)
	if _, saves := st.get(""); saves != 3 {
		t.Errorf("an unsaved value's rate limit was written")
	}
}

func mustGet(t *testing.T, rt http.RoundTripper, url string) *http.Response {
	t.Helper()
	resp, err := get(context.Background(), t, rt, url)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestWaitsForReset: at the floor, a request waits until the reset (on
// the fake clock: nothing really sleeps) and then goes out.
func TestWaitsForReset(t *testing.T) {
	clk := newClock()
	reset := clk.Now().Add(20 * time.Second)
	prov := newProvider(t,
		answer{200, header("X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "5", "X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))},
		answer{200, header("X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "4999", "X-RateLimit-Reset", strconv.FormatInt(reset.Add(time.Hour).Unix(), 10))})
	obs := newObserver()
	tr := ratelimit.New(ratelimit.Config{Store: newMemStore(), Observer: obs, Now: clk.Now, Sleep: clk.Sleep})
	rt := tr.Wrap(forge.GitHub, cred("tok_w"), http.DefaultTransport)

	mustGet(t, rt, prov.srv.URL) // learns: 5 left, the floor
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := get(ctx, t, rt, prov.srv.URL); err != nil {
		t.Fatalf("a request that can wait for the reset failed: %v", err)
	}
	if d := cmp.Diff([]time.Duration{21 * time.Second}, clk.Slept()); d != "" {
		t.Errorf("waits (-want +got):\n%s", d)
	}
	if prov.requests() != 2 {
		t.Errorf("provider saw %d requests, want 2 (the held one went out after the wait)", prov.requests())
	}
	// Refilled: the next request goes at once.
	mustGet(t, rt, prov.srv.URL)
	if len(clk.Slept()) != 1 {
		t.Errorf("a refilled budget still waited: %v", clk.Slept())
	}
	if _, errs := obs.snapshot(); errs["github held"] != 0 {
		t.Errorf("a request that waited was counted as held: %v", errs)
	}
}

// TestRefusesWhenResetIsTooFar: when the reset is past the request's
// deadline or MaxWait, the request is refused at once with the reset, and
// nothing is sent.
func TestRefusesWhenResetIsTooFar(t *testing.T) {
	for _, tc := range []struct {
		name     string
		resetIn  time.Duration
		deadline time.Duration // 0: none
	}{
		{"past the deadline", 20 * time.Second, 5 * time.Second},
		{"past MaxWait", 10 * time.Minute, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			reset := clk.Now().Add(tc.resetIn)
			prov := newProvider(t, answer{200, header("X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "0",
				"X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))})
			obs := newObserver()
			tr := ratelimit.New(ratelimit.Config{Observer: obs, Now: clk.Now, Sleep: clk.Sleep, MaxWait: time.Minute})
			rt := tr.Wrap(forge.GitHub, cred("tok_r"), http.DefaultTransport)
			mustGet(t, rt, prov.srv.URL)

			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			_, err := get(ctx, t, rt, prov.srv.URL)
			var rl *forge.RateLimitedError
			if !errors.As(err, &rl) {
				t.Fatalf("err = %v, want *forge.RateLimitedError", err)
			}
			if !rl.Reset.Equal(reset) || rl.Provider != forge.GitHub {
				t.Errorf("refusal = %+v, want GitHub with reset %v", rl, reset)
			}
			if prov.requests() != 1 || len(clk.Slept()) != 0 {
				t.Errorf("provider saw %d requests and the tracker slept %v; want the refused one never sent, no wait", prov.requests(), clk.Slept())
			}
			reqs, errs := obs.snapshot()
			if d := cmp.Diff(map[string]int{"github 200": 1}, reqs); d != "" {
				t.Errorf("requests counted (-want +got):\n%s", d)
			}
			if d := cmp.Diff(map[string]int{"github held": 1}, errs); d != "" {
				t.Errorf("errors counted (-want +got):\n%s", d)
			}
		})
	}
}

// TestRemembersAcrossRestart: a budget spent before a restart is read
// from the store, so the new process does not burn the rest.
func TestRemembersAcrossRestart(t *testing.T) {
	clk := newClock()
	st := newMemStore()
	_ = st.SaveRateLimit(context.Background(), "tok_s", store.RateLimit{Limit: 5000, Remaining: 2, Reset: clk.Now().Add(30 * time.Minute), ObservedAt: clk.Now()})
	prov := newProvider(t, answer{200, nil})
	tr := ratelimit.New(ratelimit.Config{Store: st, Now: clk.Now, Sleep: clk.Sleep})
	_, err := get(context.Background(), t, tr.Wrap(forge.GitHub, cred("tok_s"), http.DefaultTransport), prov.srv.URL)
	var rl *forge.RateLimitedError
	if !errors.As(err, &rl) || prov.requests() != 0 {
		t.Fatalf("err = %v after %d requests; want a refusal before any request", err, prov.requests())
	}
}

// TestBitbucketNeverWaits: Bitbucket reports no remaining count nor reset,
// so there is nothing to wait for, however near the limit it says it is.
func TestBitbucketNeverWaits(t *testing.T) {
	clk := newClock()
	prov := newProvider(t, answer{200, header("X-RateLimit-Limit", "1000", "X-RateLimit-Resource", "api", "X-RateLimit-NearLimit", "true")})
	st := newMemStore()
	tr := ratelimit.New(ratelimit.Config{Store: st, Now: clk.Now, Sleep: clk.Sleep})
	rt := tr.Wrap(forge.Bitbucket, cred("tok_b"), http.DefaultTransport)
	for range 3 {
		mustGet(t, rt, prov.srv.URL)
	}
	if prov.requests() != 3 || len(clk.Slept()) != 0 {
		t.Errorf("requests %d, waits %v; want 3 requests, no wait", prov.requests(), clk.Slept())
	}
	if rl, _ := st.get("tok_b"); rl.Limit != 1000 || rl.Remaining != -1 || rl.Resource != "api" {
		t.Errorf("saved %+v, want limit 1000, remaining unknown (-1), resource api", rl)
	}
}

// TestSecondaryLimitWaits: a 403 with Retry-After (GitHub's secondary
// limit) or a 429 holds the token's next request for that long.
func TestSecondaryLimitWaits(t *testing.T) {
	clk := newClock()
	prov := newProvider(t,
		answer{http.StatusForbidden, header("Retry-After", "30", "X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "4000")},
		answer{200, header("X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "3999")})
	obs := newObserver()
	tr := ratelimit.New(ratelimit.Config{Observer: obs, Now: clk.Now, Sleep: clk.Sleep})
	rt := tr.Wrap(forge.GitHub, cred("tok_2"), http.DefaultTransport)
	if resp := mustGet(t, rt, prov.srv.URL); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want the provider's 403 passed on", resp.StatusCode)
	}
	mustGet(t, rt, prov.srv.URL)
	if d := cmp.Diff([]time.Duration{31 * time.Second}, clk.Slept()); d != "" {
		t.Errorf("waits (-want +got):\n%s", d)
	}
	reqs, errs := obs.snapshot()
	if d := cmp.Diff(map[string]int{"github 403": 1, "github 200": 1}, reqs); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]int{"github rate_limited": 1}, errs); d != "" {
		t.Errorf("errors (-want +got):\n%s", d)
	}
}

// TestUnreachableCounted: no answer at all is counted as unreachable.
func TestUnreachableCounted(t *testing.T) {
	prov := newProvider(t, answer{200, nil})
	url := prov.srv.URL
	prov.srv.Close()
	obs := newObserver()
	tr := ratelimit.New(ratelimit.Config{Observer: obs})
	if _, err := get(context.Background(), t, tr.Wrap(forge.Gitea, cred("tok_u"), http.DefaultTransport), url); err == nil {
		t.Fatal("a closed server answered")
	}
	if _, errs := obs.snapshot(); errs["gitea unreachable"] != 1 {
		t.Errorf("errors = %v, want gitea unreachable 1", errs)
	}
}

// TestGitHubOtherBudgetsIgnored: an answer about another of GitHub's
// budgets (search: 30 a minute) does not stand for the core budget.
func TestGitHubOtherBudgetsIgnored(t *testing.T) {
	clk := newClock()
	reset := strconv.FormatInt(clk.Now().Add(30*time.Second).Unix(), 10)
	prov := newProvider(t,
		answer{200, header("X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "4000", "X-RateLimit-Reset", reset, "X-RateLimit-Resource", "core")},
		answer{200, header("X-RateLimit-Limit", "30", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", reset, "X-RateLimit-Resource", "search")})
	tr := ratelimit.New(ratelimit.Config{Now: clk.Now, Sleep: clk.Sleep})
	rt := tr.Wrap(forge.GitHub, cred("tok_o"), http.DefaultTransport)
	mustGet(t, rt, prov.srv.URL)
	mustGet(t, rt, prov.srv.URL)
	mustGet(t, rt, prov.srv.URL)
	if rl, _ := tr.Budget("tok_o"); rl.Remaining != 4000 || rl.Resource != "core" || len(clk.Slept()) != 0 {
		t.Errorf("budget %+v, waits %v; want core's 4000 kept and no wait", rl, clk.Slept())
	}
}
