package store

import (
	"context"
	"time"
)

// Token warning kinds.
const (
	// WarningExpiring is one expiry threshold (30, 14, 7 or 1 days before
	// the token's expires_at) crossed.
	WarningExpiring = "expiring"
	// WarningInvalid is one episode of a token refused by its provider:
	// open until the token is seen accepted again.
	WarningInvalid = "invalid"
)

// TokenWarning is a warning gitaccess gave about a token, or decided to
// pass over. Its key is (TokenID, Kind, ThresholdDays, RefAt): recording
// the same key twice is a no-op, which is what makes warnings go out
// exactly once, across restarts and replicas.
type TokenWarning struct {
	ID      string
	OrgID   string
	TokenID string
	Kind    string // WarningExpiring or WarningInvalid
	// ThresholdDays is 30, 14, 7 or 1 for an expiring warning, 0 for an
	// invalid one.
	ThresholdDays int
	// RefAt is the token's expires_at for an expiring warning (so a token
	// rotated to a new expiry warns again), and the time it was found
	// invalid for an invalid one.
	RefAt     time.Time
	CreatedAt time.Time
	// EventID is the token.expiring or token.invalid event emitted with it;
	// empty when the warning was recorded as passed without one (a more
	// urgent threshold was crossed at the same time).
	EventID string
	// Detail is what the warning said, for status pages and mail: the days
	// left, or the provider's words.
	Detail string
	// Payload is the event's data (JSON), kept for the mail.
	Payload []byte
	// ResolvedAt closes an invalid warning: the token was accepted again,
	// so a later refusal is a new episode and warns anew. At most one
	// invalid warning per token is open at a time.
	ResolvedAt *time.Time
	// Mail: a warning with an event is mailed once (when mail is
	// configured); MailedAt is set only after the server accepted it.
	MailedAt     *time.Time
	MailAttempts int
	MailError    string
	MailNextAt   time.Time
}

// NewWarning is a warning to record and, when it is new, the event to
// enqueue with it (nil for one recorded as passed).
type NewWarning struct {
	Warning TokenWarning
	Event   *NewEvent
}

// Job is a periodic job's schedule, shared by every replica.
type Job struct {
	Name string
	// Holder is the replica running it now (empty when none); its lease
	// ends at LeaseUntil.
	Holder     string
	LeaseUntil *time.Time
	LastRunAt  *time.Time
	NextRunAt  time.Time
}

// LifecycleStore persists token warnings and the schedule of periodic jobs
// (revalidation, mail), which run once across replicas.
type LifecycleStore interface {
	// RecordWarnings inserts each warning whose key is not recorded yet
	// (for an invalid one: while none of its token is open) and enqueues
	// the event paired with each inserted one, all in one transaction. It
	// returns the warnings it inserted. ErrNotFound when a token,
	// organization or subscription does not exist.
	RecordWarnings(ctx context.Context, ws []NewWarning) ([]TokenWarning, error)
	// ResolveInvalid closes the token's open invalid warning at at, if any.
	ResolveInvalid(ctx context.Context, orgID, tokenID string, at time.Time) error
	// ListWarnings lists an organization's warnings created at or after
	// since, newest first (at most MaxPageLimit).
	ListWarnings(ctx context.Context, orgID string, since time.Time) ([]TokenWarning, error)
	// ListTokenWarnings lists one token's warnings, newest first.
	ListTokenWarnings(ctx context.Context, orgID, tokenID string) ([]TokenWarning, error)
	// DueMails lists up to n warnings with an event, not yet mailed,
	// created at or after since and due (MailNextAt) at or before now,
	// oldest first.
	DueMails(ctx context.Context, since, now time.Time, n int) ([]TokenWarning, error)
	// FinishMail records a mail attempt: sent at at when errText is empty,
	// otherwise failed and due again at next. ErrNotFound when the warning
	// is gone.
	FinishMail(ctx context.Context, id string, at time.Time, errText string, next time.Time) error

	// TryRunJob starts a run of job name for holder when the job is due
	// (never run, or NextRunAt at or before now) and no other holder's
	// lease is live, leasing it until leaseUntil; it reports whether
	// holder got it. It is one statement, so of two replicas asking at
	// once exactly one gets it.
	TryRunJob(ctx context.Context, name, holder string, now, leaseUntil time.Time) (bool, error)
	// FinishJob ends holder's run: it records lastRun, when the job is
	// due next, and releases the lease. ErrConflict when holder does not
	// hold it (its lease ended and another replica took over).
	FinishJob(ctx context.Context, name, holder string, lastRun, next time.Time) error
	// GetJob returns a job's schedule; ErrNotFound before its first run.
	GetJob(ctx context.Context, name string) (Job, error)
}
