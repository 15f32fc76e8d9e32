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
	ClaimOutbox(ctx context.Context, owner string, now, leaseUntil time.Time, n int) ([]store.OutboxItem, error)
	FinishOutbox(ctx context.Context, id, owner string, r store.OutboxResult) error
}

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
}

// New returns a Dispatcher.
func New(c Config) *Dispatcher {
	d := &Dispatcher{store: c.Store, opener: c.Opener, client: c.Client, log: c.Logger, now: c.Now, owner: c.Owner,
		ad: c.AssociatedData, jitter: c.Jitter, wake: make(chan struct{}, 1)}
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

// Run sends due jobs until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	const lease = Lease
	for {
		now := d.now()
		items, err := d.store.ClaimOutbox(ctx, d.owner, now, now.Add(lease), 32)
		if err != nil && ctx.Err() == nil {
			d.log.Error("claiming outgoing events failed", "err", err)
		}
		var wg sync.WaitGroup
		for _, it := range items {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.send(ctx, it)
			}()
		}
		wg.Wait()
		if len(items) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-time.After(time.Second):
		}
	}
}

// send makes one attempt and records its outcome.
func (d *Dispatcher) send(ctx context.Context, it store.OutboxItem) {
	status, err := d.post(ctx, it)
	now := d.now().UTC()
	r := store.OutboxResult{At: now, HTTPStatus: status}
	switch {
	case err == nil:
		r.Status = store.OutboxDelivered
	case now.Sub(it.Event.CreatedAt) >= RetryFor:
		r.Status, r.Error = store.OutboxFailed, err.Error()
	default:
		r.Status, r.Error = store.OutboxPending, err.Error()
		r.Next = now.Add(Backoff(it.Outbox.Attempts+1, d.jitter))
	}
	if ctx.Err() != nil && err != nil {
		return // shutting down: the lease lapses and another attempt follows
	}
	if ferr := d.store.FinishOutbox(context.WithoutCancel(ctx), it.Outbox.ID, d.owner, r); ferr != nil {
		d.log.Error("recording an event attempt failed", "outbox", it.Outbox.ID, "err", ferr)
	}
}

func (d *Dispatcher) post(ctx context.Context, it store.OutboxItem) (int, error) {
	sec, err := d.opener.Open(it.Subscription.Sealed, d.ad("subscriptions", it.Subscription.ID))
	if err != nil {
		return 0, fmt.Errorf("opening the subscription secret: %w", err)
	}
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
