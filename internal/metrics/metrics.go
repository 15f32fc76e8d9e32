// Package metrics exposes gitaccess's health in the Prometheus text format
// at /metrics: tokens by status, time to the nearest expiry, provider
// requests and errors, each token's rate limit, webhook deliveries and
// event delivery attempts, plus the Go runtime and process collectors.
//
// Everything lives in one Registry per Metrics value (never Prometheus's
// global default registry), so two servers in one test process do not
// share counters. Labels carry token ids, never token names, values or
// organization names: a scrape reveals no secret and no customer naming.
//
// Cardinality: provider, code, kind, verdict and outcome come from fixed
// sets in the code. The per-token families (gitaccess_token_expires_in_seconds,
// gitaccess_token_rate_limit_remaining and _limit) have one series per
// token that has an expiry or a recorded rate limit, which is bounded by
// the number of tokens an operator saves (hundreds, not millions).
package metrics

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/store"
)

// Tokens lists what the token gauges are computed from, at each scrape.
type Tokens interface {
	ListTokenMetrics(ctx context.Context) ([]store.TokenMetric, error)
}

// Config assembles Metrics.
type Config struct {
	Tokens Tokens
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// ScrapeTimeout bounds reading the tokens at each scrape (default 5s).
	ScrapeTimeout time.Duration
}

// Metrics counts what the server does and reads token gauges at scrape
// time. It implements ratelimit.Observer, webhook.Observer and
// events.Observer.
type Metrics struct {
	reg      *prometheus.Registry
	log      *slog.Logger
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	webhooks *prometheus.CounterVec
	attempts *prometheus.CounterVec
	lag      prometheus.Histogram
}

// New builds Metrics with its own registry.
func New(cfg Config) *Metrics {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ScrapeTimeout <= 0 {
		cfg.ScrapeTimeout = 5 * time.Second
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		log: cfg.Logger,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitaccess_provider_requests_total",
			Help: "Requests gitaccess sent to Git providers, by provider and HTTP status code of the answer (304: revalidated, spent no rate limit).",
		}, []string{"provider", "code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitaccess_provider_errors_total",
			Help: "Failed provider requests by kind: unreachable (no answer), auth (401), rate_limited (throttled by the provider), held (not sent: budget nearly spent, reset too far), server (5xx).",
		}, []string{"provider", "kind"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitaccess_webhook_deliveries_total",
			Help: "Provider webhook deliveries received, by provider and verdict.",
		}, []string{"provider", "verdict"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitaccess_event_delivery_attempts_total",
			Help: "Attempts to deliver an event to a subscriber, by outcome.",
		}, []string{"outcome"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gitaccess_event_delivery_lag_seconds",
			Help:    "Time from an event being queued to each delivery attempt.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.errors, m.webhooks, m.attempts, m.lag,
		&tokenCollector{src: cfg.Tokens, now: cfg.Now, log: cfg.Logger, timeout: cfg.ScrapeTimeout},
	)
	return m
}

// Handler serves the registry in the Prometheus text format. A failure to
// read the tokens is logged and leaves those families out; the rest is
// still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
	})
}

// Registry is the registry behind Handler (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ProviderRequest implements ratelimit.Observer.
func (m *Metrics) ProviderRequest(p forge.Provider, code int) {
	m.requests.WithLabelValues(string(p), strconv.Itoa(code)).Inc()
}

// ProviderError implements ratelimit.Observer.
func (m *Metrics) ProviderError(p forge.Provider, kind string) {
	m.errors.WithLabelValues(string(p), kind).Inc()
}

// Delivery implements webhook.Observer.
func (m *Metrics) Delivery(provider, verdict string) {
	m.webhooks.WithLabelValues(provider, verdict).Inc()
}

// Attempt implements events.Observer.
func (m *Metrics) Attempt(outcome string, lag time.Duration) {
	m.attempts.WithLabelValues(outcome).Inc()
	m.lag.Observe(max(lag, 0).Seconds())
}

var (
	descTokens = prometheus.NewDesc("gitaccess_tokens",
		"Saved tokens by status (valid, limited, expiring, expired, invalid), expiry applied at scrape time as `token list` shows it.",
		[]string{"status"}, nil)
	descNearest = prometheus.NewDesc("gitaccess_token_expiry_seconds",
		"Seconds until the nearest expiry among tokens not yet expired and not invalid; +Inf when none expires.",
		nil, nil)
	descExpiresIn = prometheus.NewDesc("gitaccess_token_expires_in_seconds",
		"Seconds until each token with an expiry expires (negative once expired).",
		[]string{"token_id", "provider"}, nil)
	descRemaining = prometheus.NewDesc("gitaccess_token_rate_limit_remaining",
		"Requests left in the token's provider rate limit as last recorded; the full limit once the recorded reset has passed. Absent where the provider reports no remaining count (Bitbucket Cloud).",
		[]string{"token_id", "provider"}, nil)
	descLimit = prometheus.NewDesc("gitaccess_token_rate_limit_limit",
		"The token's provider rate limit (requests per window) as last recorded.",
		[]string{"token_id", "provider"}, nil)
)

// statuses are always reported, at zero when no token has them, so an
// alert on expired or invalid tokens sees 0 rather than nothing.
var statuses = []string{access.StatusValid, access.StatusLimited, access.StatusExpiring, access.StatusExpired, access.StatusInvalid}

// tokenCollector reads the tokens at each scrape: the numbers are the
// store's, the same on every replica, and survive restarts.
type tokenCollector struct {
	src     Tokens
	now     func() time.Time
	log     *slog.Logger
	timeout time.Duration
}

func (c *tokenCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTokens, descNearest, descExpiresIn, descRemaining, descLimit} {
		ch <- d
	}
}

func (c *tokenCollector) Collect(ch chan<- prometheus.Metric) {
	if c.src == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	tokens, err := c.src.ListTokenMetrics(ctx)
	if err != nil {
		c.log.Warn("reading tokens for /metrics failed", "error", err)
		ch <- prometheus.NewInvalidMetric(descTokens, err)
		return
	}
	now := c.now()
	counts := map[string]int{}
	for _, s := range statuses {
		counts[s] = 0
	}
	nearest := math.Inf(1)
	for _, t := range tokens {
		status := effectiveStatus(t, now)
		counts[status]++
		if t.ExpiresAt != nil {
			left := t.ExpiresAt.Sub(now).Seconds()
			ch <- prometheus.MustNewConstMetric(descExpiresIn, prometheus.GaugeValue, left, t.ID, t.Provider)
			if left > 0 && status != access.StatusInvalid {
				nearest = min(nearest, left)
			}
		}
		if rl := t.RateLimit; rl != nil && rl.Limit > 0 {
			ch <- prometheus.MustNewConstMetric(descLimit, prometheus.GaugeValue, float64(rl.Limit), t.ID, t.Provider)
			remaining := rl.Remaining
			if !rl.Reset.IsZero() && !rl.Reset.After(now) {
				remaining = rl.Limit
			}
			if remaining >= 0 {
				ch <- prometheus.MustNewConstMetric(descRemaining, prometheus.GaugeValue, float64(remaining), t.ID, t.Provider)
			}
		}
	}
	for s, n := range counts {
		ch <- prometheus.MustNewConstMetric(descTokens, prometheus.GaugeValue, float64(n), s)
	}
	ch <- prometheus.MustNewConstMetric(descNearest, prometheus.GaugeValue, nearest)
}

// effectiveStatus is the status `token list` shows: the stored one, moved
// by time to expiring or expired without a re-inspection (access's view
// does the same).
func effectiveStatus(t store.TokenMetric, now time.Time) string {
	if t.ExpiresAt == nil || t.Status == access.StatusInvalid {
		return t.Status
	}
	switch left := t.ExpiresAt.Sub(now); {
	case left <= 0:
		return access.StatusExpired
	case left <= access.ExpiringWithin && t.Status == access.StatusValid:
		return access.StatusExpiring
	}
	return t.Status
}
