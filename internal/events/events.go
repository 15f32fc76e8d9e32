// Package events delivers gitaccess's outgoing events (deploy.requested,
// preview.requested, preview.closed, token.expiring, token.invalid) to
// subscribers from the durable outbox: signed per the Standard Webhooks
// convention, at least once, in order per application, retried with
// exponential backoff for a day, then marked failed.
package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// SecretPrefix marks a Standard Webhooks signing secret.
const SecretPrefix = "whsec_"

// NewSecret makes a signing secret: whsec_ and 32 random bytes in base64.
func NewSecret() secret.Value {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return secret.New(SecretPrefix + base64.StdEncoding.EncodeToString(b))
}

// Sign returns the webhook-signature header value for a message: "v1,"
// and the base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" under the
// secret's decoded key.
func Sign(sec secret.Value, id string, ts time.Time, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sec.Reveal(), SecretPrefix))
	if err != nil {
		return "", fmt.Errorf("signing secret is not base64 after %s", SecretPrefix)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, ts.Unix())
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Verify checks a webhook-signature header (which may list several
// space-separated signatures) in constant time; subscribers do the same.
func Verify(sec secret.Value, id string, ts time.Time, body []byte, header string) bool {
	want, err := Sign(sec, id, ts, body)
	if err != nil {
		return false
	}
	for _, sig := range strings.Fields(header) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

// Store is the outbox.
type Store interface {
	FinishOutbox(ctx context.Context, id, owner string, r store.OutboxResult) error
	ClaimOutboxRuns(ctx context.Context, owner string, now, leaseUntil time.Time, chains, perChain int) ([]store.OutboxItem, error)
	FinishOutboxes(ctx context.Context, owner string, fs []store.OutboxFinish) (lost []string, err error)
}

// Observer is told of each send attempt, for metrics: its outcome
// (delivered, retry, failed) and its lag, the time from the event's
// creation to the attempt.
type Observer interface {
	Attempt(outcome string, lag time.Duration)
}

// Attempt outcomes an Observer sees.
const (
	AttemptDelivered = "delivered"
	AttemptRetry     = "retry"
	AttemptFailed    = "failed"
)

// Opener opens sealed subscription secrets.
type Opener interface {
	Open(sealed, ad []byte) (secret.Value, error)
}

// RetryFor is how long an event keeps being retried before it is failed.
const RetryFor = 24 * time.Hour

// Backoff is the wait before attempt n+1 (n ≥ 1): 5s doubling, at most an
// hour, with up to 20% jitter so a recovering subscriber is not stampeded.
func Backoff(n int, jitter func() float64) time.Duration {
	d := 5 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	d = min(d, time.Hour)
	return d + time.Duration(float64(d)*0.2*jitter())
}

// Dispatcher sends claimed outbox jobs.
type Dispatcher struct {
	store  Store
	opener Opener
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
	owner  string
	ad     func(table, id string) []byte
	jitter func() float64
	wake   chan struct{}
	obs    Observer
}

// Config assembles a Dispatcher.
type Config struct {
	Store  Store
	Opener Opener
	// Client sends the POSTs: from the egress policy, with its timeouts.
	Client         *http.Client
	Logger         *slog.Logger
	Now            func() time.Time
	Owner          string
	AssociatedData func(table, id string) []byte
	// Jitter returns a number in [0,1); nil means none.
	Jitter func() float64
	// Observer, when set, is told of each attempt.
	Observer Observer
}

// New returns a Dispatcher.
func New(c Config) *Dispatcher {
	d := &Dispatcher{store: c.Store, opener: c.Opener, client: c.Client, log: c.Logger, now: c.Now, owner: c.Owner,
		ad: c.AssociatedData, jitter: c.Jitter, wake: make(chan struct{}, 1), obs: c.Observer}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.jitter == nil {
		d.jitter = func() float64 { return 0 }
	}
	return d
}

// Wake makes Run look for work now (new events were enqueued).
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// SendTimeout bounds one POST to a subscriber. The lease on a job is
// longer, so a job is never sent twice while its first send may still
// succeed; a crashed replica's jobs come back after Lease.
const (
	SendTimeout = 10 * time.Second
	Lease       = 2 * SendTimeout
)

// Claim sizes: one claim takes the heads of up to runChains chains (a
// subscription and one application's events), each with up to runLength
// of its next jobs, sent one after another.
const (
	runChains = 32
	runLength = 64
)

// gather is how long a woken Run waits for more events to send at once.
const gather = 10 * time.Millisecond

// runBudget is how long after its claim a run may start another send: the
// last one then ends by runBudget+SendTimeout, well within Lease, so no
// job of a run can be claimed again while the run still sends.
const runBudget = SendTimeout / 2

// Run sends due jobs until ctx ends: each claimed run in its own
// goroutine, one job after another, and all their outcomes recorded in
// one transaction.
func (d *Dispatcher) Run(ctx context.Context) {
	for {
		now := d.now()
		items, err := d.store.ClaimOutboxRuns(ctx, d.owner, now, now.Add(Lease), runChains, runLength)
		if err != nil && ctx.Err() == nil {
			d.log.Error("claiming outgoing events failed", "err", err)
		}
		runs := splitRuns(items)
		results := make([][]store.OutboxFinish, len(runs))
		var wg sync.WaitGroup
		for i, run := range runs {
			wg.Go(func() { results[i] = d.sendRun(ctx, now, run) })
		}
		wg.Wait()
		if len(items) > 0 {
			d.finish(ctx, slices.Concat(results...))
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
			// Let the events enqueued just behind these join their run.
			select {
			case <-ctx.Done():
				return
			case <-time.After(gather):
			}
		case <-time.After(time.Second):
		}
	}
}

// splitRuns cuts claimed items, grouped by chain, into their runs.
func splitRuns(items []store.OutboxItem) [][]store.OutboxItem {
	var runs [][]store.OutboxItem
	for i := 0; i < len(items); {
		j := i + 1
		for j < len(items) && items[j].Outbox.SubscriptionID == items[i].Outbox.SubscriptionID &&
			items[j].Outbox.AppKey == items[i].Outbox.AppKey {
			j++
		}
		runs = append(runs, items[i:j])
		i = j
	}
	return runs
}

// sendRun sends a run's jobs in order and returns their outcomes. The
// first job that does not go out ends the run: the ones behind it are
// released untried, since they must not overtake it.
func (d *Dispatcher) sendRun(ctx context.Context, claimed time.Time, run []store.OutboxItem) []store.OutboxFinish {
	out := make([]store.OutboxFinish, 0, len(run))
	var sec secret.Value
	var secErr error
	for i, it := range run {
		if i > 0 && (d.now().Sub(claimed) >= runBudget || ctx.Err() != nil) {
			break
		}
		if i == 0 {
			sec, secErr = d.opener.Open(it.Subscription.Sealed, d.ad("subscriptions", it.Subscription.ID))
			if secErr != nil {
				secErr = fmt.Errorf("opening the subscription secret: %w", secErr)
			}
		}
		code, err := 0, secErr
		if err == nil {
			code, err = d.post(ctx, it, sec)
		}
		if ctx.Err() != nil && err != nil {
			break // shutting down: released below, tried again later
		}
		r := d.outcome(it, code, err)
		out = append(out, store.OutboxFinish{ID: it.Outbox.ID, Result: r})
		if r.Status != store.OutboxDelivered {
			break
		}
	}
	for _, it := range run[len(out):] {
		out = append(out, store.OutboxFinish{ID: it.Outbox.ID, Release: true})
	}
	return out
}

// outcome is how an attempt at it that got HTTP status code (0: none)
// and err ends: delivered, retried after a backoff, or failed for good
// once the event is RetryFor old.
func (d *Dispatcher) outcome(it store.OutboxItem, code int, err error) store.OutboxResult {
	now := d.now().UTC()
	r := store.OutboxResult{At: now, HTTPStatus: code}
	outcome := AttemptDelivered
	switch {
	case err == nil:
		r.Status = store.OutboxDelivered
	case now.Sub(it.Event.CreatedAt) >= RetryFor:
		r.Status, r.Error = store.OutboxFailed, err.Error()
		outcome = AttemptFailed
	default:
		r.Status, r.Error = store.OutboxPending, err.Error()
		r.Next = now.Add(Backoff(it.Outbox.Attempts+1, d.jitter))
		outcome = AttemptRetry
	}
	if d.obs != nil {
		d.obs.Attempt(outcome, now.Sub(it.Event.CreatedAt))
	}
	return r
}

// finish records the outcomes of a claim in one transaction, or one by
// one when that fails.
func (d *Dispatcher) finish(ctx context.Context, fs []store.OutboxFinish) {
	ctx = context.WithoutCancel(ctx)
	lost, err := d.store.FinishOutboxes(ctx, d.owner, fs)
	if err != nil {
		d.log.Warn("recording event attempts failed; recording them one by one", "n", len(fs), "err", err)
		lost = nil
		for _, f := range fs {
			if f.Release {
				continue // the lease lapses
			}
			if ferr := d.store.FinishOutbox(ctx, f.ID, d.owner, f.Result); ferr != nil {
				d.log.Error("recording an event attempt failed", "outbox", f.ID, "err", ferr)
			}
		}
	}
	for _, id := range lost {
		d.log.Error("recording an event attempt failed: the job's lease was lost", "outbox", id)
	}
}

// post sends one job's event, signed with sec, its subscription's secret.
func (d *Dispatcher) post(ctx context.Context, it store.OutboxItem, sec secret.Value) (int, error) {
	ts := d.now()
	sig, err := Sign(sec, it.Event.ID, ts, it.Event.Payload)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, SendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, it.Subscription.URL, bytes.NewReader(it.Event.Payload))
	if err != nil {
		return 0, fmt.Errorf("subscription URL: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", it.Event.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("subscriber answered HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}
