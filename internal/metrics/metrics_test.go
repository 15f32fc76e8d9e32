package metrics_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/metrics"
	"github.com/gitaccess/gitaccess/internal/store"
)

var now = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

type tokens struct {
	list []store.TokenMetric
	err  error
}

func (t tokens) ListTokenMetrics(context.Context) ([]store.TokenMetric, error) { return t.list, t.err }

func at(d time.Duration) *time.Time { v := now.Add(d); return &v }

// Scrape fetches /metrics and returns each sample line's value by its
// name and labels as Prometheus writes them, e.g.
// `gitaccess_tokens{status="valid"}`.
func Scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, rec.Body)
	}
	body, _ := io.ReadAll(rec.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestTokenFamilies(t *testing.T) {
	src := tokens{list: []store.TokenMetric{
		{ID: "tok_a", Provider: "github", Status: "valid", ExpiresAt: at(100 * 24 * time.Hour),
			RateLimit: &store.RateLimit{Limit: 5000, Remaining: 3, Reset: now.Add(10 * time.Minute), Resource: "core", ObservedAt: now}},
		{ID: "tok_b", Provider: "github", Status: "valid", ExpiresAt: at(10 * 24 * time.Hour)}, // expiring
		{ID: "tok_c", Provider: "gitlab", Status: "invalid", ExpiresAt: at(24 * time.Hour)},    // not the nearest: invalid
		{ID: "tok_d", Provider: "gitlab", Status: "valid", ExpiresAt: at(-24 * time.Hour), // expired
			RateLimit: &store.RateLimit{Limit: 2000, Remaining: 0, Reset: now.Add(-time.Minute), ObservedAt: now.Add(-time.Hour)}},
		{ID: "tok_e", Provider: "bitbucket", Status: "limited",
			RateLimit: &store.RateLimit{Limit: 1000, Remaining: -1, Resource: "api", ObservedAt: now}},
	}}
	m := metrics.New(metrics.Config{Tokens: src, Now: func() time.Time { return now }})
	got := Scrape(t, m.Handler())
	want := map[string]float64{
		`gitaccess_tokens{status="valid"}`:    1,
		`gitaccess_tokens{status="expiring"}`: 1,
		`gitaccess_tokens{status="invalid"}`:  1,
		`gitaccess_tokens{status="expired"}`:  1,
		`gitaccess_tokens{status="limited"}`:  1,
		`gitaccess_token_expiry_seconds`:      (10 * 24 * time.Hour).Seconds(),

		`gitaccess_token_expires_in_seconds{provider="github",token_id="tok_a"}`: (100 * 24 * time.Hour).Seconds(),
		`gitaccess_token_expires_in_seconds{provider="github",token_id="tok_b"}`: (10 * 24 * time.Hour).Seconds(),
		`gitaccess_token_expires_in_seconds{provider="gitlab",token_id="tok_c"}`: (24 * time.Hour).Seconds(),
		`gitaccess_token_expires_in_seconds{provider="gitlab",token_id="tok_d"}`: -(24 * time.Hour).Seconds(),

		`gitaccess_token_rate_limit_remaining{provider="github",token_id="tok_a"}`: 3,
		// The recorded reset has passed: the provider has refilled it.
		`gitaccess_token_rate_limit_remaining{provider="gitlab",token_id="tok_d"}`: 2000,
		`gitaccess_token_rate_limit_limit{provider="github",token_id="tok_a"}`:     5000,
		`gitaccess_token_rate_limit_limit{provider="gitlab",token_id="tok_d"}`:     2000,
		// Bitbucket reports no remaining count: a limit only.
		`gitaccess_token_rate_limit_limit{provider="bitbucket",token_id="tok_e"}`: 1000,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	// No other token series: none for Bitbucket's unknown remaining.
	for k := range got {
		if _, ok := want[k]; !ok && strings.HasPrefix(k, "gitaccess_token") {
			t.Errorf("unexpected series %s", k)
		}
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}

func TestNoExpiryIsInfinite(t *testing.T) {
	m := metrics.New(metrics.Config{Tokens: tokens{list: []store.TokenMetric{{ID: "tok_a", Provider: "github", Status: "valid"}}}})
	got := Scrape(t, m.Handler())
	if v := got["gitaccess_token_expiry_seconds"]; !math.IsInf(v, 1) {
		t.Errorf("gitaccess_token_expiry_seconds = %v with no expiring token, want +Inf", v)
	}
	if got[`gitaccess_tokens{status="expired"}`] != 0 || got[`gitaccess_tokens{status="valid"}`] != 1 {
		t.Errorf("status counts: %v", got)
	}
}

func TestCounters(t *testing.T) {
	m := metrics.New(metrics.Config{})
	m.ProviderRequest(forge.GitHub, 200)
	m.ProviderRequest(forge.GitHub, 200)
	m.ProviderRequest(forge.GitHub, 304)
	m.ProviderError(forge.GitLab, "held")
	m.Delivery("github", "accepted")
	m.Attempt("delivered", 1500*time.Millisecond)
	m.Attempt("failed", 20*time.Second)
	got := Scrape(t, m.Handler())
	want := map[string]float64{
		`gitaccess_provider_requests_total{code="200",provider="github"}`:          2,
		`gitaccess_provider_requests_total{code="304",provider="github"}`:          1,
		`gitaccess_provider_errors_total{kind="held",provider="gitlab"}`:           1,
		`gitaccess_webhook_deliveries_total{provider="github",verdict="accepted"}`: 1,
		`gitaccess_event_delivery_attempts_total{outcome="delivered"}`:             1,
		`gitaccess_event_delivery_attempts_total{outcome="failed"}`:                1,
		`gitaccess_event_delivery_lag_seconds_count`:                               2,
		`gitaccess_event_delivery_lag_seconds_sum`:                                 21.5,
		`gitaccess_event_delivery_lag_seconds_bucket{le="2.5"}`:                    1,
		`gitaccess_event_delivery_lag_seconds_bucket{le="30"}`:                     2,
	}
	gotSome := map[string]float64{}
	for k := range want {
		gotSome[k] = got[k]
	}
	if d := cmp.Diff(want, gotSome); d != "" {
		t.Errorf("counters (-want +got):\n%s", d)
	}
}

// TestStoreFailureKeepsTheRest: a store that cannot be read leaves the
// token families out but the counters are still served.
func TestStoreFailureKeepsTheRest(t *testing.T) {
	m := metrics.New(metrics.Config{Tokens: tokens{err: errors.New("database is down")}})
	m.ProviderRequest(forge.Gitea, 200)
	got := Scrape(t, m.Handler())
	if got[`gitaccess_provider_requests_total{code="200",provider="gitea"}`] != 1 {
		t.Errorf("counters missing when the store failed: %v", got)
	}
	for k := range got {
		if strings.HasPrefix(k, "gitaccess_tokens") {
			t.Errorf("%s served from a store that failed", k)
		}
	}
}

// TestOwnRegistry: two Metrics in one process count apart.
func TestOwnRegistry(t *testing.T) {
	a, b := metrics.New(metrics.Config{}), metrics.New(metrics.Config{})
	a.ProviderRequest(forge.GitHub, 200)
	if v, ok := Scrape(t, b.Handler())[`gitaccess_provider_requests_total{code="200",provider="github"}`]; ok {
		t.Errorf("b counted a's request: %v", v)
	}
}
