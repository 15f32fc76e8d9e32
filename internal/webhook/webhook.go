// Package webhook receives provider deliveries on the hooks gitaccess
// installed: it verifies each one's signature over the raw bytes, stores
// it durably (deduplicated by the provider's delivery id) before anyone
// answers 2xx, and routes it to its application as outgoing events
// (deploy.requested, preview.requested, preview.closed).
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
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
	ClaimDeliveries(ctx context.Context, owner string, now, leaseUntil time.Time, n int) ([]store.Delivery, error)
	CompleteDelivery(ctx context.Context, id, owner, verdict, detail string, at time.Time, events []store.NewEvent) error
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

// Service receives and routes deliveries.
type Service struct {
	store   Store
	opener  Opener
	parsers Parsers
	refresh Refresher
	log     *slog.Logger
	now     func() time.Time
	owner   string
	wake    chan struct{}
	notify  func()
	// AD binds a hook's sealed secret to its row (access.AssociatedData).
	ad func(table, id string) []byte
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
}

// New returns a Service.
func New(c Config) *Service {
	s := &Service{store: c.Store, opener: c.Opener, parsers: c.Parsers, refresh: c.Refresh, log: c.Logger, now: c.Now,
		owner: c.Owner, wake: make(chan struct{}, 1), ad: c.AssociatedData, notify: c.Notify}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
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
	hook, err := s.store.GetHook(ctx, hookID)
	if errors.Is(err, store.ErrNotFound) {
		return Receipt{}, ErrUnknownHook
	}
	if err != nil {
		return Receipt{}, fmt.Errorf("reading hook: %w", err)
	}
	parser, ok := s.parsers.Webhooks(forge.Provider(hook.Provider))
	if !ok {
		return Receipt{}, fmt.Errorf("hook %s: provider %q has no delivery parser", hook.ID, hook.Provider)
	}
	sec, err := s.opener.Open(hook.Sealed, s.ad("hooks", hook.ID))
	if err != nil {
		return Receipt{}, fmt.Errorf("opening hook secret: %w", err)
	}
	kept := http.Header{}
	for _, k := range keptHeaders {
		for _, v := range h.Values(k) {
			kept.Add(k, v)
		}
	}
	headers, _ := json.Marshal(kept)
	d := store.Delivery{
		ID: store.NewID("dlv"), OrgID: hook.OrgID, HookID: hook.ID, AppID: hook.AppID, Provider: hook.Provider,
		DeliveryID: parser.DeliveryID(h), Event: eventName(h), ReceivedAt: s.now().UTC(), Headers: headers,
	}
	rc := Receipt{DeliveryID: d.DeliveryID, Event: d.Event}
	if verr := parser.VerifyDelivery(h, body, sec); verr != nil {
		d.Verdict, d.Detail = VerdictBadSignature, verr.Error()
		// A forged delivery's id must not block the real one: record it
		// without the provider's id, and without its body.
		d.DeliveryID = ""
		if _, _, err := s.store.RecordDelivery(ctx, d); err != nil {
			s.log.Warn("recording a refused delivery failed", "hook", hook.ID, "err", err)
		}
		return rc, fmt.Errorf("hook %s: %w", hook.ID, verr)
	}
	d.Body, d.Verdict = body, VerdictPending
	_, dup, err := s.store.RecordDelivery(ctx, d)
	if err != nil {
		return Receipt{}, fmt.Errorf("storing delivery: %w", err)
	}
	if dup {
		rc.Verdict = VerdictDuplicate
		return rc, nil
	}
	rc.Verdict = VerdictAccepted
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return rc, nil
}

// Run routes stored deliveries until ctx ends. Deliveries a crashed
// replica leased come back when the lease ends.
func (s *Service) Run(ctx context.Context) {
	// Routing takes milliseconds; a crashed replica's claims come back
	// after this long.
	const lease = 10 * time.Second
	for {
		now := s.now()
		batch, err := s.store.ClaimDeliveries(ctx, s.owner, now, now.Add(lease), 64)
		if err != nil && ctx.Err() == nil {
			s.log.Error("claiming deliveries failed", "err", err)
		}
		// One at a time, oldest first: routing assigns the events' order,
		// so concurrent routing would reorder one application's events.
		for _, d := range batch {
			s.process(ctx, d)
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (s *Service) process(ctx context.Context, d store.Delivery) {
	verdict, detail, events := s.route(ctx, d)
	if err := s.store.CompleteDelivery(ctx, d.ID, s.owner, verdict, detail, s.now().UTC(), events); err != nil {
		if ctx.Err() == nil {
			s.log.Error("completing delivery failed", "delivery", d.ID, "err", err)
		}
		return
	}
	if len(events) > 0 && s.notify != nil {
		s.notify()
	}
}

// route decides what a delivery means for its application.
func (s *Service) route(ctx context.Context, d store.Delivery) (string, string, []store.NewEvent) {
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
	app, err := s.store.GetAppByID(ctx, d.OrgID, d.AppID)
	if errors.Is(err, store.ErrNotFound) {
		return VerdictIgnored, "the application was deleted", nil
	}
	if err != nil {
		return VerdictFailed, "reading the application: " + err.Error(), nil
	}
	subs, err := s.store.ListSubscriptions(ctx, d.OrgID)
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
		e := store.Event{ID: store.NewID("evt"), OrgID: d.OrgID, AppID: app.ID, Type: typ, Payload: payload, CreatedAt: s.now().UTC()}
		out = append(out, store.NewEvent{Event: e, Subscriptions: Matching(subs, typ)})
		reasons = append(reasons, typ)
	}
	if pushed && s.refresh != nil {
		s.refresh.RefreshMirror(context.WithoutCancel(ctx), app)
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
