// Package webhook receives provider deliveries on the hooks gitaccess
// installed: it verifies each one's signature over the raw bytes, stores
// it durably (deduplicated by the provider's delivery id) before anyone
// answers 2xx, and routes it to its application as outgoing events
// (deploy.requested, preview.requested, preview.closed).
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// MaxBody is the largest delivery accepted: GitHub caps payloads at 25 MB.
const MaxBody = 25 << 20

// Verdicts a delivery ends with.
const (
	VerdictPending      = "pending"
	VerdictAccepted     = "accepted"
	VerdictDuplicate    = "duplicate"
	VerdictBadSignature = "bad-signature"
	VerdictIgnored      = "ignored"
	VerdictFailed       = "failed"
)

// ErrUnknownHook means no hook has that id (404).
var ErrUnknownHook = errors.New("no such hook")

// Store is what receiving and routing need.
type Store interface {
	GetHook(ctx context.Context, id string) (store.Hook, error)
	GetAppByID(ctx context.Context, orgID, id string) (store.App, error)
	RecordDelivery(ctx context.Context, d store.Delivery) (store.Delivery, bool, error)
	RecordDeliveries(ctx context.Context, ds []store.Delivery) ([]store.Recorded, error)
	ClaimDeliveries(ctx context.Context, owner string, now, leaseUntil time.Time, n int) ([]store.Delivery, error)
	CompleteDelivery(ctx context.Context, id, owner, verdict, detail string, at time.Time, events []store.NewEvent) error
	CompleteDeliveries(ctx context.Context, owner string, cs []store.Completion) (lost []string, err error)
	ListSubscriptions(ctx context.Context, orgID string) ([]store.Subscription, error)
}

// Opener opens sealed hook secrets.
type Opener interface {
	Open(sealed, ad []byte) (secret.Value, error)
}

// Parsers finds the delivery reader of a provider.
type Parsers interface {
	Webhooks(p forge.Provider) (forge.Webhooks, bool)
}

// Refresher brings an application's mirror up to date after a push.
type Refresher interface {
	RefreshMirror(ctx context.Context, app store.App)
}

// Observer is told how each delivery was received, for metrics: the
// provider ("" when the hook is unknown) and the verdict the delivery log
// shows (accepted, duplicate, bad-signature), or unknown-hook for a 404
// and error when it could not be stored (a 5xx).
type Observer interface {
	Delivery(provider, verdict string)
}

// Receive outcomes that are no stored verdict, as Observer sees them.
const (
	OutcomeUnknownHook = "unknown-hook"
	OutcomeError       = "error"
)

// Service receives and routes deliveries.
type Service struct {
	store    Store
	opener   Opener
	parsers  Parsers
	refresh  Refresher
	observer Observer
	log      *slog.Logger
	now      func() time.Time
	owner    string
	wake     chan struct{}
	notify   func()
	// AD binds a hook's sealed secret to its row (access.AssociatedData).
	ad     func(table, id string) []byte
	hooks  *hookCache
	commit *committer
	// inflight counts the Receive calls under way: see Run.
	inflight atomic.Int64
	// unrouted is when the first delivery accepted since routing last
	// claimed was accepted (Unix nanoseconds; 0 for none): see Run.
	unrouted atomic.Int64
	// lastReceipt is when the last Receive ended, as time since epoch
	// (monotonic): see Run.
	lastReceipt atomic.Int64
	epoch       time.Time
	// maxLag is the const maxLag; tests shorten it.
	maxLag time.Duration
}

// Config assembles a Service.
type Config struct {
	Store   Store
	Opener  Opener
	Parsers Parsers
	// Refresh may be nil.
	Refresh Refresher
	Logger  *slog.Logger
	Now     func() time.Time
	// Owner names this replica's leases.
	Owner string
	// AssociatedData is access.AssociatedData.
	AssociatedData func(table, id string) []byte
	// Notify, when set, is told that routing enqueued events.
	Notify func()
	// Observer, when set, is told each delivery's outcome.
	Observer Observer
}

// New returns a Service.
func New(c Config) *Service {
	s := &Service{store: c.Store, opener: c.Opener, parsers: c.Parsers, refresh: c.Refresh, observer: c.Observer,
		log: c.Logger, now: c.Now, owner: c.Owner, wake: make(chan struct{}, 1), ad: c.AssociatedData, notify: c.Notify}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.epoch, s.maxLag = time.Now(), maxLag
	s.hooks = newHookCache(time.Now)
	s.commit = newCommitter(c.Store)
	return s
}

// Receipt is how a delivery was taken in.
type Receipt struct {
	Verdict    string
	DeliveryID string
	Event      string
}

// keptHeaders are the request headers stored with a delivery: what
// parsing and a person debugging need, never a secret (X-Gitlab-Token is
// the hook secret itself, and is not kept).
var keptHeaders = []string{
	"Content-Type", "User-Agent",
	"X-GitHub-Event", "X-GitHub-Delivery", "X-GitHub-Hook-ID",
	"X-Gitlab-Event", "X-Gitlab-Event-UUID", "X-Gitlab-Instance",
	"X-Event-Key", "X-Request-UUID", "X-Hook-UUID",
	"X-Gitea-Event", "X-Gitea-Delivery", "X-Forgejo-Event", "X-Forgejo-Delivery",
}

func eventName(h http.Header) string {
	for _, k := range []string{"X-GitHub-Event", "X-Gitlab-Event", "X-Event-Key", "X-Gitea-Event", "X-Forgejo-Event"} {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}

// Receive verifies and durably records one delivery. It returns
// ErrUnknownHook, a wrapped forge.ErrUnsigned/ErrBadSignature (after
// recording the attempt), or the receipt once the delivery is stored.
func (s *Service) Receive(ctx context.Context, hookID string, h http.Header, body []byte) (Receipt, error) {
	s.inflight.Add(1)
	provider, rc, err := s.receive(ctx, hookID, h, body)
	s.inflight.Add(-1)
	s.lastReceipt.Store(int64(time.Since(s.epoch)))
	if s.observer != nil {
		verdict := rc.Verdict
		switch {
		case errors.Is(err, ErrUnknownHook):
			verdict = OutcomeUnknownHook
		case errors.Is(err, forge.ErrUnsigned), errors.Is(err, forge.ErrBadSignature):
			verdict = VerdictBadSignature
		case err != nil:
			verdict = OutcomeError
		}
		s.observer.Delivery(provider, verdict)
	}
	return rc, err
}

// receive is Receive; it also returns the hook's provider.
func (s *Service) receive(ctx context.Context, hookID string, h http.Header, body []byte) (string, Receipt, error) {
	// Until it queues to be stored (record counts it off), the delivery
	// is one a batch about to commit may wait for.
	s.commit.arriving.Add(1)
	queued := false
	defer func() {
		if !queued {
			s.commit.arriving.Add(-1)
		}
	}()
	hk, err := s.hook(ctx, hookID, false)
	if err != nil {
		return "", Receipt{}, err
	}
	kept := http.Header{}
	for _, k := range keptHeaders {
		for _, v := range h.Values(k) {
			kept.Add(k, v)
		}
	}
	headers, _ := json.Marshal(kept)
	d := store.Delivery{
		ID: store.NewSortableID("dlv", s.now()), OrgID: hk.row.OrgID, HookID: hk.row.ID, AppID: hk.row.AppID, Provider: hk.row.Provider,
		DeliveryID: hk.parser.DeliveryID(h), Event: eventName(h), ReceivedAt: s.now().UTC(), Headers: headers,
	}
	rc := Receipt{DeliveryID: d.DeliveryID, Event: d.Event}
	verr := hk.parser.VerifyDelivery(h, body, hk.secret)
	if verr != nil && hk.cached {
		// The cached secret may be one a repair replaced: the stored one
		// decides before a delivery is refused.
		if fresh, err := s.hook(ctx, hookID, true); err == nil && !bytes.Equal(fresh.row.Sealed, hk.row.Sealed) {
			hk = fresh
			verr = hk.parser.VerifyDelivery(h, body, hk.secret)
		}
	}
	if verr != nil {
		d.Verdict, d.Detail = VerdictBadSignature, verr.Error()
		// A forged delivery's id must not block the real one: record it
		// without the provider's id, and without its body.
		d.DeliveryID = ""
		if _, _, err := s.store.RecordDelivery(ctx, d); err != nil {
			s.log.Warn("recording a refused delivery failed", "hook", hk.row.ID, "err", err)
		}
		return hk.row.Provider, rc, fmt.Errorf("hook %s: %w", hk.row.ID, verr)
	}
	d.Body, d.Verdict = body, VerdictPending
	queued = true
	r, err := s.commit.record(ctx, d)
	if errors.Is(err, store.ErrNotFound) && hk.cached {
		// The application (and with it the hook) was deleted after the
		// hook was cached: the store decides.
		s.hooks.forget(hookID)
		if _, herr := s.hook(ctx, hookID, true); errors.Is(herr, ErrUnknownHook) {
			return hk.row.Provider, rc, herr
		}
	}
	if err != nil {
		return hk.row.Provider, Receipt{}, fmt.Errorf("storing delivery: %w", err)
	}
	if r.Dup {
		rc.Verdict = VerdictDuplicate
		return hk.row.Provider, rc, nil
	}
	rc.Verdict = VerdictAccepted
	s.unrouted.CompareAndSwap(0, time.Now().UnixNano())
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return hk.row.Provider, rc, nil
}

// hook returns a hook with its parser and opened secret, from the cache
// unless fresh, else from the store (caching it).
func (s *Service) hook(ctx context.Context, id string, fresh bool) (cachedHook, error) {
	if !fresh {
		if hk, ok := s.hooks.get(id); ok {
			return hk, nil
		}
	}
	row, err := s.store.GetHook(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		s.hooks.forget(id)
		return cachedHook{}, ErrUnknownHook
	}
	if err != nil {
		return cachedHook{}, fmt.Errorf("reading hook: %w", err)
	}
	parser, ok := s.parsers.Webhooks(forge.Provider(row.Provider))
	if !ok {
		return cachedHook{}, fmt.Errorf("hook %s: provider %q has no delivery parser", row.ID, row.Provider)
	}
	sec, err := s.opener.Open(row.Sealed, s.ad("hooks", row.ID))
	if err != nil {
		return cachedHook{}, fmt.Errorf("opening hook secret: %w", err)
	}
	hk := cachedHook{row: row, parser: parser, secret: sec}
	s.hooks.put(id, hk)
	return hk, nil
}

// routeBatch is how many deliveries one claim takes to route, in one
// transaction to complete.
const routeBatch = 128

// maxLag bounds how long routing defers to a busy receiver
// (Service.maxLag, which tests shorten): it waits until the oldest
// delivery it knows unrouted was accepted maxLag ago, then routes
// whatever the receiver is doing. maxDefer bounds the wait when it knows
// of none (deliveries another replica received, or left from before a
// restart). quiet is how long the receiver must have received nothing to
// be idle, and gather how long routing lets a batch gather once woken:
// see Run.
const (
	maxLag   = 3 * time.Second
	maxDefer = 200 * time.Millisecond
	quiet    = 5 * time.Millisecond
	gather   = 10 * time.Millisecond
)

// receiving: a delivery is being received or queueing to be stored, or
// one ended less than quiet ago. Counting only deliveries inside Receive
// missed most of a burst: on 2 busy cores the requests spend most of
// their time in HTTP and waiting for a CPU, and routing that ran in those
// moments took the CPU from them.
func (s *Service) receiving() bool {
	return s.inflight.Load() > 0 || s.commit.saturated() ||
		time.Since(s.epoch) < time.Duration(s.lastReceipt.Load())+quiet
}

// waitReceiver returns once the receiver is not busy, or at deadline
// (at most maxLag from now); false when ctx ended.
func (s *Service) waitReceiver(ctx context.Context, deadline time.Time) bool {
	deadline = minTime(deadline, time.Now().Add(s.maxLag))
	for s.receiving() {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(min(left, 2*time.Millisecond)):
		}
	}
	return ctx.Err() == nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// routeDeadline is when routing stops deferring to a busy receiver: maxLag
// after the oldest delivery known unrouted was received, which is the
// last one of a full batch just routed (those left are no older), or the
// first one accepted since the last claim; maxDefer from now when neither
// is known.
func (s *Service) routeDeadline(lastOfFull time.Time) time.Time {
	if !lastOfFull.IsZero() {
		return lastOfFull.Add(s.maxLag)
	}
	if at := s.unrouted.Load(); at != 0 {
		return time.Unix(0, at).Add(s.maxLag)
	}
	return time.Now().Add(maxDefer)
}

// Run routes stored deliveries until ctx ends. Deliveries a crashed
// replica leased come back when the lease ends.
//
// Receiving comes first: a provider waits for its answer (GitHub gives up
// after 10 s and does not deliver again by itself), while routing only
// decides what a stored delivery means. So while the receiver is busy
// (a delivery being received or stored, or one less than quiet ago: see
// receiving) routing waits, and the CPU and the writer (SQLite has one)
// are the receiver's, until the oldest delivery waiting to be routed is
// maxLag old; then it routes batches of up to routeBatch without waiting
// until it has caught up to within maxLag. So a burst is received at the
// receiver's full speed and routed after it (or during it, when it lasts
// longer than maxLag); under sustained load beyond what both can do
// together routing still goes on, holding its lag near maxLag while the
// receiver slows; at a steady rate with deliveries less than quiet apart
// routing runs every maxLag, in batches; with gaps between deliveries it
// does not wait.
func (s *Service) Run(ctx context.Context) {
	// Routing a batch takes milliseconds (waiting for the receiver comes
	// before the claim); a crashed replica's claims come back after this
	// long.
	const lease = 10 * time.Second
	var lastOfFull time.Time
	for {
		if !s.waitReceiver(ctx, s.routeDeadline(lastOfFull)) {
			return
		}
		// Deliveries accepted from here on may miss this claim: they set
		// the mark again.
		s.unrouted.Store(0)
		now := s.now()
		batch, err := s.store.ClaimDeliveries(ctx, s.owner, now, now.Add(lease), routeBatch)
		if err != nil && ctx.Err() == nil {
			s.log.Error("claiming deliveries failed", "err", err)
		}
		lastOfFull = time.Time{}
		if len(batch) == routeBatch {
			lastOfFull = batch[len(batch)-1].ReceivedAt
		}
		if len(batch) > 0 {
			s.processBatch(ctx, batch)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			// Let the deliveries arriving just behind this one join its
			// batch: at a steady rate, a batch per delivery would spend
			// the writer on per-batch work.
			select {
			case <-ctx.Done():
				return
			case <-time.After(gather):
			}
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// processBatch routes claimed deliveries one at a time, oldest first
// (routing assigns the events' order, so concurrent routing would reorder
// one application's events), and completes them in one transaction,
// their events in the same order. An application's mirror is refreshed
// once per batch however many pushes it had.
func (s *Service) processBatch(ctx context.Context, ds []store.Delivery) {
	rs := &routeState{apps: map[string]appLookup{}, subs: map[string]subsLookup{}}
	cs := make([]store.Completion, 0, len(ds))
	var pushed []store.App
	events := 0
	for _, d := range ds {
		verdict, detail, evs := s.route(ctx, d, rs)
		if rs.pushed != nil {
			if !slices.ContainsFunc(pushed, func(a store.App) bool { return a.ID == rs.pushed.ID }) {
				pushed = append(pushed, *rs.pushed)
			}
			rs.pushed = nil
		}
		cs = append(cs, store.Completion{ID: d.ID, Verdict: verdict, Detail: detail, At: s.now().UTC(), Events: evs})
		events += len(evs)
	}
	lost, err := s.store.CompleteDeliveries(ctx, s.owner, cs)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		// One bad completion (a subscription deleted meanwhile) must not
		// hold up the others: complete them one by one.
		s.log.Warn("completing a batch of deliveries failed; completing them one by one", "n", len(cs), "err", err)
		events = 0
		for _, c := range cs {
			if err := s.store.CompleteDelivery(ctx, c.ID, s.owner, c.Verdict, c.Detail, c.At, c.Events); err != nil {
				if ctx.Err() == nil {
					s.log.Error("completing delivery failed", "delivery", c.ID, "err", err)
				}
				continue
			}
			events += len(c.Events)
		}
	}
	for _, id := range lost {
		s.log.Warn("a delivery's lease was lost before it was completed; another worker routes it", "delivery", id)
	}
	if s.refresh != nil {
		for _, app := range pushed {
			s.refresh.RefreshMirror(context.WithoutCancel(ctx), app)
		}
	}
	if events > 0 && s.notify != nil {
		s.notify()
	}
}

type appLookup struct {
	app store.App
	err error
}

type subsLookup struct {
	subs []store.Subscription
	err  error
}

// routeState is what routing one batch reads once: each application and
// each organization's subscriptions; and the application the last routed
// delivery pushed to.
type routeState struct {
	apps   map[string]appLookup
	subs   map[string]subsLookup
	pushed *store.App
}

func (rs *routeState) app(ctx context.Context, st Store, orgID, id string) (store.App, error) {
	k := orgID + "/" + id
	l, ok := rs.apps[k]
	if !ok {
		l.app, l.err = st.GetAppByID(ctx, orgID, id)
		// A passing failure fails one delivery, not its batch.
		if l.err == nil || errors.Is(l.err, store.ErrNotFound) {
			rs.apps[k] = l
		}
	}
	return l.app, l.err
}

func (rs *routeState) subscriptions(ctx context.Context, st Store, orgID string) ([]store.Subscription, error) {
	l, ok := rs.subs[orgID]
	if !ok {
		l.subs, l.err = st.ListSubscriptions(ctx, orgID)
		if l.err == nil {
			rs.subs[orgID] = l
		}
	}
	return l.subs, l.err
}

// route decides what a delivery means for its application; rs holds
// the batch's reads and learns whether it pushed to its branch.
func (s *Service) route(ctx context.Context, d store.Delivery, rs *routeState) (string, string, []store.NewEvent) {
	var h http.Header
	_ = json.Unmarshal(d.Headers, &h)
	parser, ok := s.parsers.Webhooks(forge.Provider(d.Provider))
	if !ok {
		return VerdictFailed, "no parser for provider " + d.Provider, nil
	}
	evs, err := parser.ParseDelivery(h, d.Body)
	if err != nil {
		return VerdictFailed, "payload could not be read: " + err.Error(), nil
	}
	if d.AppID == "" {
		return VerdictIgnored, "the application was deleted", nil
	}
	app, err := rs.app(ctx, s.store, d.OrgID, d.AppID)
	if errors.Is(err, store.ErrNotFound) {
		return VerdictIgnored, "the application was deleted", nil
	}
	if err != nil {
		return VerdictFailed, "reading the application: " + err.Error(), nil
	}
	subs, err := rs.subscriptions(ctx, s.store, d.OrgID)
	if err != nil {
		return VerdictFailed, "reading subscriptions: " + err.Error(), nil
	}
	var out []store.NewEvent
	var reasons []string
	pushed := false
	for _, ev := range evs {
		typ, data, why := Decide(app, ev)
		if typ == "" {
			reasons = append(reasons, why)
			continue
		}
		if typ == "deploy.requested" {
			pushed = true
		}
		payload, err := json.Marshal(map[string]any{"type": typ, "timestamp": s.now().UTC().Format(time.RFC3339), "data": data})
		if err != nil {
			return VerdictFailed, err.Error(), nil
		}
		e := store.Event{ID: store.NewSortableID("evt", s.now()), OrgID: d.OrgID, AppID: app.ID, Type: typ, Payload: payload, CreatedAt: s.now().UTC()}
		out = append(out, store.NewEvent{Event: e, Subscriptions: Matching(subs, typ)})
		reasons = append(reasons, typ)
	}
	if pushed {
		rs.pushed = &app
	}
	if len(out) == 0 {
		return VerdictIgnored, strings.Join(reasons, "; "), nil
	}
	return VerdictAccepted, "emitted " + strings.Join(reasons, ", "), out
}

// Decide maps one normalized event to an outgoing event type and its data
// for app, or explains in why it maps to nothing.
func Decide(app store.App, ev forge.Event) (typ string, data map[string]any, why string) {
	base := map[string]any{"app": app.Name, "app_id": app.ID, "repository": app.RepoURL}
	switch ev.Kind {
	case forge.EventPing:
		return "", nil, "ping"
	case forge.EventTag:
		return "", nil, fmt.Sprintf("tag %s: tags do not deploy", ev.Tag)
	case forge.EventPush:
		switch {
		case ev.Branch != app.Branch:
			return "", nil, fmt.Sprintf("push to %s; %s deploys %s", ev.Branch, app.Name, app.Branch)
		case ev.Deleted:
			return "", nil, fmt.Sprintf("branch %s was deleted", ev.Branch)
		case !app.AutoDeploy:
			return "", nil, fmt.Sprintf("push to %s, but auto-deploy is off for %s", ev.Branch, app.Name)
		}
		base["branch"], base["sha"], base["before"], base["pusher"], base["forced"], base["commits"] = ev.Branch, ev.After, ev.Before, ev.Pusher, ev.Forced, ev.Commits
		return "deploy.requested", base, ""
	case forge.EventPullRequest:
		pr := ev.PullRequest
		if pr == nil {
			return "", nil, "pull request event without a pull request"
		}
		if pr.TargetBranch != app.Branch {
			return "", nil, fmt.Sprintf("pull request #%d targets %s; %s deploys %s", pr.Number, pr.TargetBranch, app.Name, app.Branch)
		}
		if !app.Previews {
			return "", nil, fmt.Sprintf("pull request #%d %s, but previews are off for %s", pr.Number, pr.Action, app.Name)
		}
		base["number"], base["source_branch"], base["target_branch"], base["sha"], base["author"], base["fork"], base["title"], base["url"] =
			pr.Number, pr.SourceBranch, pr.TargetBranch, pr.HeadSHA, pr.Author, pr.Fork, pr.Title, pr.URL
		switch pr.Action {
		case forge.PROpened, forge.PRUpdated, forge.PRReopened:
			base["action"] = pr.Action
			return "preview.requested", base, ""
		case forge.PRClosed, forge.PRMerged:
			base["merged"] = pr.Action == forge.PRMerged
			return "preview.closed", base, ""
		}
		return "", nil, fmt.Sprintf("pull request #%d %s", pr.Number, pr.Action)
	}
	return "", nil, fmt.Sprintf("%s event", ev.Name)
}

// Matching returns the ids of the subscriptions whose patterns match typ
// ("deploy.*", "preview.requested", "*").
func Matching(subs []store.Subscription, typ string) []string {
	var ids []string
	for _, s := range subs {
		if slices.ContainsFunc(s.Events, func(p string) bool { ok, _ := path.Match(p, typ); return ok }) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}
