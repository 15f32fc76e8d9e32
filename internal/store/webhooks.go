package store

import (
	"context"
	"time"
)

// Hook is gitaccess's webhook on an application's repository; one per
// application. Its ID is the unguessable path segment of its URL.
type Hook struct {
	ID             string
	OrgID          string
	AppID          string
	Provider       string
	ProviderHookID string
	URL            string
	// Sealed is the signing secret, bound to ("hooks", ID).
	Sealed      []byte
	State       string // installed, missing, altered, error
	StateDetail string
	CheckedAt   *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Version     int64
}

// Delivery is one webhook delivery received on a hook.
type Delivery struct {
	ID     string
	OrgID  string
	HookID string
	AppID  string
	// Provider and DeliveryID (the provider's id) identify it: a second
	// delivery with the same id on the same hook is a duplicate.
	Provider   string
	DeliveryID string
	Event      string // the provider's event name
	ReceivedAt time.Time
	// Headers is JSON of the request headers worth keeping (never secrets).
	Headers []byte
	// Body is the raw body; empty when the signature failed.
	Body []byte
	// Verdict: pending (stored, not yet routed), accepted, duplicate,
	// bad-signature, ignored, failed.
	Verdict     string
	Detail      string
	Duplicates  int
	ProcessedAt *time.Time
	LeaseOwner  string
	LeaseUntil  *time.Time
}

// Subscription is a platform endpoint that receives outgoing events.
type Subscription struct {
	ID    string
	OrgID string
	URL   string
	// Events are patterns like "deploy.*" or "preview.requested".
	Events []string
	// Sealed is the Standard Webhooks signing secret, bound to
	// ("subscriptions", ID).
	Sealed    []byte
	CreatedAt time.Time
}

// Event is an outgoing event; Seq orders events within an organization.
type Event struct {
	ID        string
	OrgID     string
	AppID     string // empty for token events
	Type      string // deploy.requested, preview.requested, preview.closed, token.expiring, token.invalid
	Payload   []byte // JSON
	CreatedAt time.Time
	Seq       int64
}

// Outbox statuses.
const (
	OutboxPending   = "pending"
	OutboxDelivered = "delivered"
	OutboxFailed    = "failed"
)

// Outbox is one event's delivery to one subscription: the durable job.
type Outbox struct {
	ID             string
	EventID        string
	SubscriptionID string
	OrgID          string
	// AppKey orders deliveries: a subscription receives one application's
	// events (or one org's token events) strictly in Seq order.
	AppKey        string
	Seq           int64
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	LastStatus    int
	LeaseOwner    string
	LeaseUntil    *time.Time
	DeliveredAt   *time.Time
}

// OutboxItem is a claimed job with what sending it needs.
type OutboxItem struct {
	Outbox       Outbox
	Event        Event
	Subscription Subscription
}

// NewEvent is an event to enqueue and the subscriptions it goes to.
type NewEvent struct {
	Event         Event
	Subscriptions []string
}

// EventStatus is an event with the state of each of its deliveries.
type EventStatus struct {
	Event      Event
	Deliveries []Outbox
}

// OutboxResult is how one send attempt ended.
type OutboxResult struct {
	// Status becomes delivered, failed, or stays pending (retry at Next).
	Status     string
	Next       time.Time
	Error      string
	HTTPStatus int
	At         time.Time
}

// WebhookStore is the persistence of hooks, deliveries, subscriptions and
// the outgoing event queue. Claims are leases: a crashed worker's jobs
// come back when its lease ends, so delivery is at least once; on
// PostgreSQL, replicas claim with SKIP LOCKED and never share a job.
type WebhookStore interface {
	// CreateHook inserts h; ErrConflict when the app already has one.
	CreateHook(ctx context.Context, h Hook) error
	// GetHook finds a hook by its id alone: the receiving path knows no org.
	GetHook(ctx context.Context, id string) (Hook, error)
	GetHookByApp(ctx context.Context, orgID, appID string) (Hook, error)
	// UpdateHook is optimistic like UpdateToken; nil Sealed keeps the secret.
	UpdateHook(ctx context.Context, h Hook) (Hook, error)
	DeleteHook(ctx context.Context, orgID, id string) error

	// RecordDelivery durably stores d. When (HookID, DeliveryID) was seen
	// before (and DeliveryID is not empty), it counts a duplicate on the
	// stored delivery instead and returns it with dup true.
	RecordDelivery(ctx context.Context, d Delivery) (stored Delivery, dup bool, err error)
	// ClaimDeliveries leases up to n pending deliveries, oldest first.
	ClaimDeliveries(ctx context.Context, owner string, now, leaseUntil time.Time, n int) ([]Delivery, error)
	// CompleteDelivery records a delivery's verdict and enqueues the events
	// it produced, in one transaction; only the lease owner may.
	CompleteDelivery(ctx context.Context, id, owner, verdict, detail string, at time.Time, events []NewEvent) error
	// ListDeliveries pages an application's deliveries newest first,
	// without bodies.
	ListDeliveries(ctx context.Context, orgID, appID string, p Page) ([]Delivery, string, error)

	CreateSubscription(ctx context.Context, s Subscription) error
	ListSubscriptions(ctx context.Context, orgID string) ([]Subscription, error)
	DeleteSubscription(ctx context.Context, orgID, id string) error

	// EnqueueEvents stores events and their outbox rows in one transaction
	// (token warnings use it; deliveries use CompleteDelivery).
	EnqueueEvents(ctx context.Context, events []NewEvent) error
	// ClaimOutbox leases up to n due jobs whose earlier jobs for the same
	// subscription and AppKey are all delivered or failed.
	ClaimOutbox(ctx context.Context, owner string, now, leaseUntil time.Time, n int) ([]OutboxItem, error)
	// FinishOutbox records an attempt; only the lease owner may (ErrConflict).
	FinishOutbox(ctx context.Context, id, owner string, r OutboxResult) error
	// ListEvents pages an org's events newest first with their deliveries.
	ListEvents(ctx context.Context, orgID string, p Page) ([]EventStatus, string, error)
	// ReplayEvent makes every delivery of an event pending and due at now.
	ReplayEvent(ctx context.Context, orgID, eventID string, now time.Time) error

	// The batch forms below do what their one-row forms do for many rows
	// in one transaction: under load the receiver, the router and the
	// dispatcher pay one commit (one fsync on PostgreSQL, one turn of
	// SQLite's single writer) per batch instead of per row.

	// RecordDeliveries is RecordDelivery for each of ds, in order, in one
	// transaction: all are stored or none (error). A delivery id seen
	// earlier in the same batch makes the later one a duplicate, exactly
	// as in separate calls.
	RecordDeliveries(ctx context.Context, ds []Delivery) ([]Recorded, error)
	// CompleteDeliveries is CompleteDelivery for each of cs, in order (so
	// their events take seqs in that order), in one transaction.
	// Deliveries owner no longer holds are skipped, their events not
	// enqueued, and returned in lost; any other error rolls back all.
	CompleteDeliveries(ctx context.Context, owner string, cs []Completion) (lost []string, err error)
	// ClaimOutboxRuns is ClaimOutbox that takes, behind each claimable
	// chain head, up to perChain-1 of the chain's next pending jobs that
	// are due and unleased, in seq order without gaps: a dispatcher sends
	// a run one job after another, so per-chain order holds, and claims
	// once per run instead of once per job. Items come grouped by chain,
	// each run in seq order.
	ClaimOutboxRuns(ctx context.Context, owner string, now, leaseUntil time.Time, chains, perChain int) ([]OutboxItem, error)
	// FinishOutboxes is FinishOutbox for each of fs in one transaction;
	// a Release gives the job back untried (lease cleared, attempts kept).
	// Jobs owner no longer holds are skipped and returned in lost.
	FinishOutboxes(ctx context.Context, owner string, fs []OutboxFinish) (lost []string, err error)
}

// Recorded is how RecordDeliveries stored one delivery.
type Recorded struct {
	Stored Delivery
	Dup    bool
}

// Completion is a routed delivery's verdict and the events it produced.
type Completion struct {
	ID, Verdict, Detail string
	At                  time.Time
	Events              []NewEvent
}

// OutboxFinish is one claimed job's outcome for FinishOutboxes.
type OutboxFinish struct {
	ID     string
	Result OutboxResult
	// Release gives the job back without an attempt (Result unused): an
	// earlier job of its run did not go out, so it must wait.
	Release bool
}
