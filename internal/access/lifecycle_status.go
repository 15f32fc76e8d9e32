package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

// StatusView is an organization's token health at a glance: what
// `gitaccess status` and the console show.
type StatusView struct {
	Organization string `json:"organization"`
	// Tokens counts the organization's tokens by status (valid, limited,
	// expiring, expired, invalid).
	Tokens map[string]int `json:"tokens_by_status"`
	Total  int            `json:"total"`
	// Expiring lists tokens expiring within 30 days, or expired, soonest
	// first, with the applications that break with them.
	Expiring []StatusToken `json:"expiring"`
	// Invalid lists tokens their provider refused, with its words.
	Invalid []StatusToken `json:"invalid"`
	// Warnings are those given in the last 30 days, newest first.
	Warnings []StatusWarning `json:"warnings"`
	// Revalidation is the periodic sweep's schedule.
	Revalidation StatusSweep `json:"revalidation"`
}

// StatusToken is a token that needs attention.
type StatusToken struct {
	Name            string       `json:"name"`
	Provider        string       `json:"provider"`
	Host            string       `json:"host"`
	Status          string       `json:"status"`
	StatusDetail    string       `json:"status_detail,omitempty"`
	ExpiresAt       *time.Time   `json:"expires_at,omitempty"`
	DaysLeft        *int         `json:"days_left,omitempty"`
	LastValidatedAt *time.Time   `json:"last_validated_at,omitempty"`
	Applications    []WarningApp `json:"applications"`
}

// StatusWarning is one warning gitaccess gave.
type StatusWarning struct {
	Token         string     `json:"token"`
	Kind          string     `json:"kind" enum:"expiring,invalid"`
	ThresholdDays int        `json:"threshold_days,omitempty"`
	Detail        string     `json:"detail"`
	CreatedAt     time.Time  `json:"created_at"`
	EventID       string     `json:"event_id,omitempty" doc:"The token.* event sent; empty when passed over for a more urgent one."`
	ResolvedAt    *time.Time `json:"resolved_at,omitempty"`
	MailedAt      *time.Time `json:"mailed_at,omitempty"`
	MailError     string     `json:"mail_error,omitempty"`
}

// StatusSweep is when tokens were and will be revalidated.
type StatusSweep struct {
	LastRunAt *time.Time `json:"last_run_at,omitempty" doc:"Absent before the first sweep."`
	NextRunAt *time.Time `json:"next_run_at,omitempty" doc:"Absent before the first sweep, which starts when the server does."`
	Running   bool       `json:"running"`
}

// warningsWindow is how far back the status page lists warnings.
const warningsWindow = 30 * 24 * time.Hour

// Status reports the organization's token health. Members may read it.
func (s *Service) Status(ctx context.Context, p Principal) (StatusView, error) {
	if err := s.authorize(ctx, p, actReadTokens, "status"); err != nil {
		return StatusView{}, err
	}
	now := s.now().UTC()
	v := StatusView{Organization: p.OrgName, Tokens: map[string]int{}, Expiring: []StatusToken{}, Invalid: []StatusToken{}, Warnings: []StatusWarning{}}
	names := map[string]string{}
	page := store.Page{Limit: store.MaxPageLimit}
	for {
		ts, next, err := s.store.ListTokens(ctx, p.OrgID, page)
		if err != nil {
			return StatusView{}, fmt.Errorf("listing tokens: %w", err)
		}
		for _, t := range ts {
			names[t.ID] = t.Name
			tv := s.view(t, false)
			v.Tokens[tv.Status]++
			v.Total++
			if tv.Status != StatusExpiring && tv.Status != StatusExpired && tv.Status != StatusInvalid &&
				(t.ExpiresAt == nil || t.ExpiresAt.Sub(now) > ExpiringWithin) {
				continue
			}
			st, err := s.statusToken(ctx, t, tv, now)
			if err != nil {
				return StatusView{}, err
			}
			if tv.Status == StatusInvalid {
				v.Invalid = append(v.Invalid, st)
			} else {
				v.Expiring = append(v.Expiring, st)
			}
		}
		if next == "" {
			break
		}
		page.After = next
	}
	// Soonest first; a token without an expiry (limited, say) last.
	slices.SortFunc(v.Expiring, func(a, b StatusToken) int {
		switch {
		case a.ExpiresAt == nil || b.ExpiresAt == nil:
			return boolCmp(a.ExpiresAt == nil, b.ExpiresAt == nil)
		}
		return a.ExpiresAt.Compare(*b.ExpiresAt)
	})
	ws, err := s.store.ListWarnings(ctx, p.OrgID, now.Add(-warningsWindow))
	if err != nil {
		return StatusView{}, fmt.Errorf("listing warnings: %w", err)
	}
	for _, w := range ws {
		name := names[w.TokenID]
		if name == "" {
			continue
		}
		v.Warnings = append(v.Warnings, StatusWarning{Token: name, Kind: w.Kind, ThresholdDays: w.ThresholdDays, Detail: w.Detail,
			CreatedAt: w.CreatedAt, EventID: w.EventID, ResolvedAt: w.ResolvedAt, MailedAt: w.MailedAt, MailError: w.MailError})
	}
	job, err := s.store.GetJob(ctx, RevalidateJob)
	switch {
	case err == nil:
		v.Revalidation = StatusSweep{LastRunAt: job.LastRunAt, NextRunAt: &job.NextRunAt,
			Running: job.Holder != "" && job.LeaseUntil != nil && job.LeaseUntil.After(now)}
	case !errors.Is(err, store.ErrNotFound):
		return StatusView{}, fmt.Errorf("reading the revalidation schedule: %w", err)
	}
	return v, nil
}

func (s *Service) statusToken(ctx context.Context, t store.Token, tv TokenView, now time.Time) (StatusToken, error) {
	st := StatusToken{Name: t.Name, Provider: t.Provider, Host: tv.Host, Status: tv.Status, StatusDetail: tv.StatusDetail,
		ExpiresAt: t.ExpiresAt, LastValidatedAt: t.LastValidatedAt, Applications: []WarningApp{}}
	if t.ExpiresAt != nil {
		left := daysLeft(*t.ExpiresAt, now)
		st.DaysLeft = &left
	}
	apps, err := s.dependentApps(ctx, t)
	if err != nil {
		return StatusToken{}, err
	}
	for _, a := range apps {
		st.Applications = append(st.Applications, WarningApp{Name: a.Name, Repository: a.RepoURL, Branch: a.Branch})
	}
	slices.SortFunc(st.Applications, func(a, b WarningApp) int { return strings.Compare(a.Name, b.Name) })
	return st, nil
}

// boolCmp orders false before true.
func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
