// Package lifecycle runs gitaccess's periodic token work: it revalidates
// every token on a schedule (default every 6 hours, jittered, once across
// replicas) so that expiry and revocation are found before a deploy fails,
// and mails the warnings that revalidation records. The domain rules
// (what a revalidation records, which warnings are due) live in
// internal/access; this package decides when they run and on which
// replica.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/store"
)

// Defaults.
const (
	// DefaultEvery is how often tokens are revalidated.
	DefaultEvery = 6 * time.Hour
	// DefaultPoll is how often a replica asks whether a job is due; it
	// bounds how late a sweep or a mail starts.
	DefaultPoll = time.Minute
	// tokenTimeout bounds one token's revalidation: a hanging provider
	// must not stall the sweep.
	tokenTimeout = time.Minute
	// sweepLease is how long a replica holds the sweep before another may
	// take over (it renews it while it works): a crashed replica's sweep
	// is resumed after at most this long.
	sweepLease = 15 * time.Minute
)

// MailJob names the mail sender in the job schedule.
const MailJob = "mail"

// Store is what the scheduler reads and leases.
type Store interface {
	ListOrgs(ctx context.Context) ([]store.Org, error)
	ListTokens(ctx context.Context, orgID string, p store.Page) ([]store.Token, string, error)
	TryRunJob(ctx context.Context, name, holder string, now, leaseUntil time.Time) (bool, error)
	FinishJob(ctx context.Context, name, holder string, lastRun, next time.Time) error
	DueMails(ctx context.Context, since, now time.Time, n int) ([]store.TokenWarning, error)
	FinishMail(ctx context.Context, id string, at time.Time, errText string, next time.Time) error
}

// Tokens revalidates one token; *access.Service is one.
type Tokens interface {
	Revalidate(ctx context.Context, orgID, tokenID string) (access.TokenView, error)
}

// Mailer sends one message to the configured recipients; *SMTP is one.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// Config assembles a Runner.
type Config struct {
	Store  Store
	Tokens Tokens
	// Mailer sends warnings by mail; nil sends none.
	Mailer Mailer
	// Every is the sweep interval (default DefaultEvery); each run is
	// scheduled Every ±10% after the previous one started, so replicas
	// started together drift apart and providers see no thundering herd.
	Every time.Duration
	// Poll is how often Run checks for due work (default DefaultPoll).
	Poll time.Duration
	// Jitter returns a number in [0, 1) (default math/rand/v2.Float64).
	Jitter func() float64
	// Holder names this replica's leases.
	Holder string
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Runner runs the sweep and the mailer.
type Runner struct {
	cfg Config
	log *slog.Logger
}

// New returns a Runner.
func New(c Config) *Runner {
	if c.Every <= 0 {
		c.Every = DefaultEvery
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.Jitter == nil {
		c.Jitter = rand.Float64
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Holder == "" {
		c.Holder = "lifecycle-" + store.RandomString(6)
	}
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Runner{cfg: c, log: log}
}

// Run does due work at once and then every Poll until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	for {
		r.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick runs the sweep if it is due and no other replica runs it, then
// sends due mail. Tests call it after moving the clock.
func (r *Runner) Tick(ctx context.Context) {
	if _, err := r.SweepIfDue(ctx); err != nil && ctx.Err() == nil {
		r.log.Error("token revalidation sweep failed", "err", err)
	}
	if r.cfg.Mailer != nil {
		if _, err := r.MailIfDue(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("sending warning mail failed", "err", err)
		}
	}
}

// SweepResult counts what a sweep did.
type SweepResult struct {
	Ran     bool // false: not due, or another replica holds it
	Checked int
	Failed  int
}

// SweepIfDue runs the revalidation sweep when it is due and this replica
// wins its lease. The next run is scheduled Every ±10% after this one
// started, and stored, so a restart does not sweep again early.
func (r *Runner) SweepIfDue(ctx context.Context) (SweepResult, error) {
	start := r.cfg.Now().UTC()
	ok, err := r.cfg.Store.TryRunJob(ctx, access.RevalidateJob, r.cfg.Holder, start, start.Add(sweepLease))
	if err != nil || !ok {
		return SweepResult{}, err
	}
	res, err := r.sweep(ctx, start)
	res.Ran = true
	next := start.Add(r.jittered())
	if ferr := r.cfg.Store.FinishJob(context.WithoutCancel(ctx), access.RevalidateJob, r.cfg.Holder, start, next); ferr != nil {
		err = errors.Join(err, fmt.Errorf("scheduling the next sweep: %w", ferr))
	}
	r.log.Info("token revalidation sweep done", "checked", res.Checked, "failed", res.Failed, "next", next)
	return res, err
}

// jittered is Every ±10%.
func (r *Runner) jittered() time.Duration {
	return time.Duration(float64(r.cfg.Every) * (0.9 + 0.2*r.cfg.Jitter()))
}

// sweep revalidates every token of every organization. One token's
// failure (a provider down) is logged and the sweep goes on.
func (r *Runner) sweep(ctx context.Context, start time.Time) (SweepResult, error) {
	var res SweepResult
	renewed := start
	orgs, err := r.cfg.Store.ListOrgs(ctx)
	if err != nil {
		return res, fmt.Errorf("listing organizations: %w", err)
	}
	for _, org := range orgs {
		page := store.Page{Limit: store.MaxPageLimit}
		for {
			tokens, next, err := r.cfg.Store.ListTokens(ctx, org.ID, page)
			if err != nil {
				return res, fmt.Errorf("listing tokens of organization %s: %w", org.Name, err)
			}
			for _, t := range tokens {
				if err := ctx.Err(); err != nil {
					return res, err
				}
				// Keep the lease while working, so no other replica starts
				// a second sweep beside a long one.
				if now := r.cfg.Now(); now.Sub(renewed) > sweepLease/3 {
					if ok, err := r.cfg.Store.TryRunJob(ctx, access.RevalidateJob, r.cfg.Holder, now, now.Add(sweepLease)); err != nil || !ok {
						return res, fmt.Errorf("the sweep's lease was lost (ok=%v): %w", ok, err)
					}
					renewed = now
				}
				res.Checked++
				tctx, cancel := context.WithTimeout(ctx, tokenTimeout)
				_, err := r.cfg.Tokens.Revalidate(tctx, org.ID, t.ID)
				cancel()
				if err != nil && !errors.Is(err, access.ErrTokenGone) {
					res.Failed++
					r.log.Warn("revalidating a token failed; its status is unchanged", "org", org.Name, "token", t.Name, "err", err)
				}
			}
			if next == "" {
				break
			}
			page.After = next
		}
	}
	return res, nil
}
