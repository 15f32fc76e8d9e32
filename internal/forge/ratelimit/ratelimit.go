// Package ratelimit keeps each saved token's provider rate limit and
// spends it carefully. It is an http.RoundTripper that adapters install
// for one credential (forge.WrapTransport): it reads every answer's
// rate-limit headers, keeps {limit, remaining, reset, resource} per token
// in memory and on the token's row, holds a request back until the reset
// when the budget is nearly spent (or refuses it at once with
// *forge.RateLimitedError when the reset is too far), revalidates GitHub
// answers with ETags so that an unchanged answer costs nothing, and tells
// an Observer about every request for metrics.
//
// What each provider sends, as documented or reported:
//   - GitHub: X-RateLimit-Limit, -Remaining, -Used, -Reset (epoch seconds)
//     and -Resource ("core", "search"...) on every REST answer; secondary
//     limits answer 403/429 with Retry-After. A 304 to a conditional request
//     made with the same Authorization does not count against the primary
//     limit ("Best practices for using the REST API").
//   - GitLab: RateLimit-Limit, -Remaining, -Observed, -Reset (epoch
//     seconds), -ResetTime and, in recent versions, RateLimit-Name. GitLab.com
//     sends them on throttled paths only and not consistently
//     (gitlab-org/gitlab#217312, #365728); self-managed instances often send
//     none. 429 carries Retry-After.
//   - Bitbucket Cloud: X-RateLimit-Limit, X-RateLimit-Resource and
//     X-RateLimit-NearLimit (true when under a fifth is left), but no
//     remaining count and no reset: its window rolls over an hour. So
//     gitaccess records the limit with remaining unknown (-1) and never
//     waits for a Bitbucket reset it cannot know.
//   - Gitea and Forgejo: no rate limiting by default; any X-RateLimit-*
//     headers a proxy adds are read like GitHub's.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/store"
)

// Store keeps the last rate limit per token (store.RateLimitStore).
type Store interface {
	SaveRateLimit(ctx context.Context, tokenID string, rl store.RateLimit) error
	GetRateLimit(ctx context.Context, tokenID string) (store.RateLimit, error)
}

// Observer is told about every request the tracker sees, for metrics.
type Observer interface {
	// ProviderRequest counts an answer by its HTTP status code.
	ProviderRequest(p forge.Provider, code int)
	// ProviderError counts a failure by kind (the Err* constants).
	ProviderError(p forge.Provider, kind string)
}

// Kinds of failure an Observer is told about.
const (
	ErrUnreachable = "unreachable"  // no HTTP answer: DNS, TLS, connection, timeout
	ErrAuth        = "auth"         // 401: the provider refused the token
	ErrRateLimited = "rate_limited" // the provider throttled the token
	ErrHeld        = "held"         // gitaccess refused to send: budget spent, reset too far
	ErrServer      = "server"       // 5xx
)

// Defaults for Config's zero values.
const (
	DefaultPersistEvery = 30 * time.Second
	DefaultMaxWait      = 60 * time.Second
	DefaultCacheEntries = 2048
	DefaultCacheMaxAge  = 24 * time.Hour
)

// Config configures a Tracker. Zero values take the defaults.
type Config struct {
	// Store persists each token's rate limit; nil keeps it in memory only.
	Store    Store
	Observer Observer
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx ends; nil sleeps on a timer. Tests pass
	// a fake that moves their clock instead.
	Sleep func(ctx context.Context, d time.Duration) error
	// PersistEvery bounds how often one token's rate limit is written to
	// the store; a low budget is always written.
	PersistEvery time.Duration
	// MaxWait is the longest a request waits for a reset; a request whose
	// context ends sooner than the reset is refused at once instead.
	MaxWait time.Duration
	// CacheEntries bounds the ETag cache (answers kept for revalidation).
	CacheEntries int
	// CacheMaxAge is how long a cached answer may be revalidated before a
	// full request is made again. It bounds how long facts GitHub might
	// leave out of a 304 (scopes, expiry) can stay stale in background
	// revalidation; a user's test (forge.Fresh) always asks afresh. The
	// default outlives the 6-hour revalidation sweep a few times over.
	CacheMaxAge time.Duration
}

// Tracker keeps every token's budget. One Tracker serves all adapters;
// it is safe for concurrent use.
type Tracker struct {
	store        Store
	obs          Observer
	log          *slog.Logger
	now          func() time.Time
	sleep        func(ctx context.Context, d time.Duration) error
	persistEvery time.Duration
	maxWait      time.Duration
	cache        *cache

	mu     sync.Mutex
	tokens map[string]*budget
}

// budget is one token's state.
type budget struct {
	rl store.RateLimit // ObservedAt zero: nothing known yet
	// loaded is set once the store was asked, so a restart does not
	// forget a spent budget, and the store is asked once per token.
	loaded bool
	// savedAt is when rl was last written to the store.
	savedAt time.Time
	// blockedUntil is a secondary limit's Retry-After: in memory only,
	// it is short and not the budget users read.
	blockedUntil time.Time
}

// New returns a Tracker.
func New(cfg Config) *Tracker {
	t := &Tracker{
		store: cfg.Store, obs: cfg.Observer, log: cfg.Logger, now: cfg.Now, sleep: cfg.Sleep,
		persistEvery: cfg.PersistEvery, maxWait: cfg.MaxWait, tokens: map[string]*budget{},
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.sleep == nil {
		t.sleep = sleep
	}
	if t.persistEvery <= 0 {
		t.persistEvery = DefaultPersistEvery
	}
	if t.maxWait <= 0 {
		t.maxWait = DefaultMaxWait
	}
	entries, age := cfg.CacheEntries, cfg.CacheMaxAge
	if entries <= 0 {
		entries = DefaultCacheEntries
	}
	if age <= 0 {
		age = DefaultCacheMaxAge
	}
	t.cache = newCache(entries, age, t.now)
	return t
}

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Floor is how much of a budget gitaccess leaves unspent: the larger of 5
// requests and 1% of the limit. At or below it, requests wait for the reset.
func Floor(limit int) int { return max(5, limit/100) }

// Wrap is the forge.WrapTransport adapters install.
func (t *Tracker) Wrap(p forge.Provider, cred forge.Credential, next http.RoundTripper) http.RoundTripper {
	rt := &transport{t: t, provider: p, tokenID: cred.TokenID, next: next}
	// Only GitHub is known to answer If-None-Match with a 304 that spends
	// nothing. GitLab's REST API sends ETags on few endpoints and says
	// nothing of their cost; Bitbucket Cloud and Gitea document no
	// conditional requests on the calls gitaccess makes. Only saved tokens
	// are cached: an unsaved value is tested once.
	if p == forge.GitHub && cred.TokenID != "" {
		rt.cacheKey = cred.TokenID + "\x00" + cred.Token.Fingerprint()
	}
	return rt
}

// Budget returns what the tracker knows of a token's rate limit; false
// when nothing is known.
func (t *Tracker) Budget(tokenID string) (store.RateLimit, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.tokens[tokenID]
	if b == nil || b.rl.ObservedAt.IsZero() {
		return store.RateLimit{}, false
	}
	return b.rl, true
}

type transport struct {
	t        *Tracker
	provider forge.Provider
	tokenID  string
	cacheKey string // empty: no revalidation
	next     http.RoundTripper
}

func (rt *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	t := rt.t
	ctx := req.Context()
	if rt.tokenID != "" {
		if err := t.admit(ctx, rt.provider, rt.tokenID, req.URL.Host); err != nil {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			var held *forge.RateLimitedError
			if errors.As(err, &held) {
				t.observeError(rt.provider, ErrHeld)
			}
			return nil, err
		}
	}
	var cached *entry
	key := ""
	if rt.cacheKey != "" && req.Method == http.MethodGet && req.Header.Get("If-None-Match") == "" && req.Header.Get("Range") == "" {
		key = rt.cacheKey + "\x00" + req.Header.Get("Accept") + "\x00" + req.URL.String()
		// A fresh request (forge.Fresh) is sent whole; its answer still
		// refreshes the cache.
		if !forge.IsFresh(ctx) {
			cached = t.cache.get(key)
		}
		if cached != nil {
			req = req.Clone(ctx)
			req.Header.Set("If-None-Match", cached.etag)
		}
	}
	resp, err := rt.next.RoundTrip(req)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			t.observeError(rt.provider, ErrUnreachable)
		}
		return nil, err
	}
	if t.obs != nil {
		t.obs.ProviderRequest(rt.provider, resp.StatusCode)
	}
	throttled := isThrottled(resp)
	switch {
	case throttled:
		t.observeError(rt.provider, ErrRateLimited)
	case resp.StatusCode == http.StatusUnauthorized:
		t.observeError(rt.provider, ErrAuth)
	case resp.StatusCode >= 500:
		t.observeError(rt.provider, ErrServer)
	}
	if rt.tokenID != "" {
		t.record(ctx, rt.provider, rt.tokenID, resp, throttled)
	}
	if key == "" {
		return resp, nil
	}
	if cached != nil && resp.StatusCode == http.StatusNotModified {
		return cached.revalidated(req, resp), nil
	}
	if resp.StatusCode == http.StatusOK && resp.Header.Get("ETag") != "" {
		return t.cache.put(key, resp)
	}
	return resp, nil
}

func (t *Tracker) observeError(p forge.Provider, kind string) {
	if t.obs != nil {
		t.obs.ProviderError(p, kind)
	}
}

// isThrottled says whether an answer is the provider's rate limit: 429,
// or GitHub's 403 with no budget left or a Retry-After.
func isThrottled(resp *http.Response) bool {
	if resp.StatusCode == http.StatusTooManyRequests {
		return true
	}
	return resp.StatusCode == http.StatusForbidden &&
		(resp.Header.Get("X-RateLimit-Remaining") == "0" || resp.Header.Get("Retry-After") != "")
}

// admit lets a request go, makes it wait for the reset when the token's
// budget is at its floor, or refuses it with *forge.RateLimitedError when
// the reset is further than MaxWait or the request's deadline.
func (t *Tracker) admit(ctx context.Context, p forge.Provider, tokenID, host string) error {
	b := t.load(ctx, tokenID)
	now := t.now()
	var until time.Time
	var why string
	switch {
	case b.blockedUntil.After(now):
		until, why = b.blockedUntil, fmt.Sprintf("%s asked gitaccess to slow down", forge.Title(p))
	case !b.rl.ObservedAt.IsZero() && b.rl.Remaining >= 0 && b.rl.Remaining <= Floor(b.rl.Limit) && b.rl.Reset.After(now):
		until = b.rl.Reset
		why = fmt.Sprintf("%d of the token's %d requests are left", b.rl.Remaining, b.rl.Limit)
	default:
		return nil
	}
	// A second of slack for the provider's clock.
	wait := until.Sub(now) + time.Second
	tooLong := wait > t.maxWait
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		tooLong = true
	}
	if tooLong {
		return &forge.RateLimitedError{Provider: p, Host: host, Reset: until.UTC(),
			Message: why + "; gitaccess keeps the rest for deploys and did not send the request, try again after the reset"}
	}
	t.log.InfoContext(ctx, "waiting for the provider's rate limit to reset", "provider", p, "token_id", tokenID, "wait", wait.Round(time.Second), "reason", why)
	if err := t.sleep(ctx, wait); err != nil {
		return fmt.Errorf("waiting %s for %s's rate limit to reset: %w", wait.Round(time.Second), forge.Title(p), err)
	}
	return nil
}

// load returns a copy of the token's state, asking the store the first
// time the token is seen.
func (t *Tracker) load(ctx context.Context, tokenID string) budget {
	t.mu.Lock()
	b := t.tokens[tokenID]
	if b != nil && b.loaded {
		defer t.mu.Unlock()
		return *b
	}
	t.mu.Unlock()
	var stored store.RateLimit
	ok := false
	if t.store != nil {
		rl, err := t.store.GetRateLimit(ctx, tokenID)
		switch {
		case err == nil:
			stored, ok = rl, true
		case !errors.Is(err, store.ErrNotFound):
			t.log.WarnContext(ctx, "reading a token's rate limit failed; going on without it", "token_id", tokenID, "error", err)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	b = t.tokens[tokenID]
	if b == nil {
		b = &budget{}
		t.tokens[tokenID] = b
	}
	if !b.loaded {
		b.loaded = true
		if ok && stored.ObservedAt.After(b.rl.ObservedAt) {
			b.rl, b.savedAt = stored, stored.ObservedAt
		}
	}
	return *b
}

// record keeps what an answer says of the token's budget and writes it to
// the store when it was not written for PersistEvery, or is low.
func (t *Tracker) record(ctx context.Context, p forge.Provider, tokenID string, resp *http.Response, throttled bool) {
	now := t.now()
	rl, ok := Parse(p, resp.Header)
	if ok && p == forge.GitHub && rl.Resource != "" && rl.Resource != "core" {
		// Another of GitHub's budgets (search, graphql...): not the one
		// gitaccess's REST calls spend, and much smaller.
		ok = false
	}
	var retry time.Time
	if throttled {
		retry = forge.RetryAfter(resp.Header, now)
	}
	if !ok && retry.IsZero() {
		return
	}
	t.mu.Lock()
	b := t.tokens[tokenID]
	if b == nil {
		b = &budget{}
		t.tokens[tokenID] = b
	}
	if retry.After(b.blockedUntil) {
		b.blockedUntil = retry
	}
	save := false
	if ok {
		rl.ObservedAt = now.UTC()
		b.rl = rl
		low := rl.Remaining >= 0 && rl.Remaining <= Floor(rl.Limit)
		save = t.store != nil && (low || now.Sub(b.savedAt) >= t.persistEvery)
		if save {
			b.savedAt = now
		}
	}
	t.mu.Unlock()
	if !save {
		return
	}
	// Saved even when the caller has given up: the answer came.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := t.store.SaveRateLimit(sctx, tokenID, rl); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.log.WarnContext(ctx, "saving a token's rate limit failed", "token_id", tokenID, "error", err)
	}
}

// Parse reads a provider's rate-limit headers; false when the answer
// carries none (or no limit).
func Parse(p forge.Provider, h http.Header) (store.RateLimit, bool) {
	prefix, resource := "X-RateLimit-", "X-RateLimit-Resource"
	if p == forge.GitLab {
		prefix, resource = "RateLimit-", "RateLimit-Name"
	}
	limit, err := strconv.Atoi(strings.TrimSpace(h.Get(prefix + "Limit")))
	if err != nil || limit <= 0 {
		return store.RateLimit{}, false
	}
	rl := store.RateLimit{Limit: limit, Remaining: -1, Resource: strings.TrimSpace(h.Get(resource))}
	if n, err := strconv.Atoi(strings.TrimSpace(h.Get(prefix + "Remaining"))); err == nil && n >= 0 {
		rl.Remaining = n
	}
	if s, err := strconv.ParseInt(strings.TrimSpace(h.Get(prefix+"Reset")), 10, 64); err == nil && s > 0 {
		rl.Reset = time.Unix(s, 0).UTC()
	}
	return rl, true
}
