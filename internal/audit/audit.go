// Package audit records who did what to which object, and whether it was
// allowed. Records are append-only: the store offers no way to change them.
package audit

import (
	"context"
	"log/slog"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

// Outcomes.
const (
	Success = "success"
	Denied  = "denied"
	Failure = "failure"
)

// Appender is the part of the store audit needs.
type Appender interface {
	AppendAudit(ctx context.Context, r store.AuditRecord) error
}

// Log appends audit records.
type Log struct {
	store Appender
	now   func() time.Time
	log   *slog.Logger
}

// New returns a Log writing to s.
func New(s Appender, now func() time.Time, logger *slog.Logger) *Log {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Log{store: s, now: now, log: logger}
}

// Entry is what a caller knows about an event; the Log adds id and time.
type Entry struct {
	OrgID   string
	Actor   string
	Action  string
	Target  string
	Outcome string
	Detail  string
}

// Record appends e. A record that cannot be written is logged at error
// level with everything but the detail, so the gap itself is visible; the
// action it describes has already happened and is not undone.
func (l *Log) Record(ctx context.Context, e Entry) {
	r := store.AuditRecord{
		ID:      store.NewID("aud"),
		OrgID:   e.OrgID,
		At:      l.now().UTC(),
		Actor:   e.Actor,
		Action:  e.Action,
		Target:  e.Target,
		Outcome: e.Outcome,
		Detail:  e.Detail,
	}
	// Audit must survive the caller's cancellation (a client hanging up).
	ctx = context.WithoutCancel(ctx)
	if err := l.store.AppendAudit(ctx, r); err != nil {
		l.log.Error("audit record lost", "action", e.Action, "target", e.Target, "outcome", e.Outcome, "org", e.OrgID, "err", err)
	}
}
