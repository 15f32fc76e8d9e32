package access

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/audit"
	"github.com/gitaccess/gitaccess/internal/store"
)

// Token lifecycle: warnings before a token expires and when its provider
// refuses it, sent as token.expiring and token.invalid events (and mail)
// naming every application that depends on the token.

// ExpiryThresholds are the days before expiry at which a token warns, most
// distant first. Each is warned about once per expiry date.
var ExpiryThresholds = []int{30, 14, 7, 1}

// RevalidateJob names the periodic revalidation sweep in the store's job
// schedule (the status page reads its last and next run).
const RevalidateJob = "revalidate"

// systemActor is who the audit log names for what gitaccess does by itself.
const systemActor = "system"

// WarningEvent is the payload of a token.expiring or token.invalid event:
// the envelope every gitaccess event has, and the warning's data.
type WarningEvent struct {
	Type      string      `json:"type"`
	Timestamp string      `json:"timestamp"`
	Data      WarningData `json:"data"`
}

// WarningData says which token needs attention and what breaks with it.
type WarningData struct {
	Organization string       `json:"organization"`
	Token        WarningToken `json:"token"`
	Applications []WarningApp `json:"applications"`
	// ThresholdDays is the expiry threshold crossed (30, 14, 7 or 1);
	// absent for token.invalid.
	ThresholdDays int `json:"threshold_days,omitempty"`
}

// WarningToken is the token a warning is about (never its value).
type WarningToken struct {
	Name         string     `json:"name"`
	Provider     string     `json:"provider"`
	Host         string     `json:"host"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	DaysLeft     *int       `json:"days_left,omitempty"`
	Status       string     `json:"status"`
	StatusDetail string     `json:"status_detail,omitempty"`
}

// WarningApp is an application that depends on the token.
type WarningApp struct {
	Name       string `json:"name"`
	Repository string `json:"repository"`
	Branch     string `json:"branch"`
}

// daysLeft counts whole days until expiry, rounding down (negative once
// expired): 29.5 days left is 29, the number a user acts on.
func daysLeft(expires, now time.Time) int {
	return int(math.Floor(expires.Sub(now).Hours() / 24))
}

// tokenStatusChanged brings a token's warnings up to date after its status
// was recorded (a test, a provider's 401, a revalidation). It runs on its
// own context: a refusal found while serving a request must warn even if
// the request ends. Failures are logged; the next sweep catches up.
func (s *Service) tokenStatusChanged(ctx context.Context, t store.Token) {
	if err := s.syncWarnings(context.WithoutCancel(ctx), t); err != nil {
		s.log.Warn("recording token warnings failed; the next revalidation sweep retries", "token", t.ID, "err", err)
	}
}

// CheckWarnings brings one token's warnings up to date with the clock:
// crossing an expiry threshold needs no provider call.
func (s *Service) CheckWarnings(ctx context.Context, orgID, tokenID string) error {
	t, err := s.store.GetTokenByID(ctx, orgID, tokenID)
	if err != nil {
		return fmt.Errorf("reading token %s: %w", tokenID, err)
	}
	return s.syncWarnings(ctx, t)
}

// syncWarnings records the warnings t is due and enqueues their events, in
// one store transaction per token. Warnings are decided from state, not
// from transitions, so a crash between saving a status and warning about
// it is caught up by the next call:
//   - each expiry threshold crossed and not yet recorded for this expiry
//     date is recorded; only the most urgent new one emits an event, the
//     others are recorded as passed (after downtime, one mail, not four);
//   - an invalid token with no open invalid episode opens one, with an
//     event; a token accepted again closes its open episode.
func (s *Service) syncWarnings(ctx context.Context, t store.Token) error {
	now := s.now().UTC()
	existing, err := s.store.ListTokenWarnings(ctx, t.OrgID, t.ID)
	if err != nil {
		return fmt.Errorf("reading warnings of token %s: %w", t.Name, err)
	}
	openInvalid := slices.ContainsFunc(existing, func(w store.TokenWarning) bool {
		return w.Kind == store.WarningInvalid && w.ResolvedAt == nil
	})
	if t.Status != StatusInvalid && openInvalid {
		if err := s.store.ResolveInvalid(ctx, t.OrgID, t.ID, now); err != nil {
			return fmt.Errorf("closing the invalid warning of token %s: %w", t.Name, err)
		}
	}

	type due struct {
		kind string
		days int
		ref  time.Time
		emit bool
	}
	var todo []due
	if t.Status == StatusInvalid && !openInvalid {
		todo = append(todo, due{kind: store.WarningInvalid, ref: now, emit: true})
	}
	if t.ExpiresAt != nil {
		ref := t.ExpiresAt.UTC().Truncate(time.Microsecond)
		recorded := map[int]bool{}
		mostUrgentRecorded := math.MaxInt
		for _, w := range existing {
			if w.Kind == store.WarningExpiring && w.RefAt.Equal(ref) {
				recorded[w.ThresholdDays] = true
				mostUrgentRecorded = min(mostUrgentRecorded, w.ThresholdDays)
			}
		}
		var crossed []int
		for _, d := range ExpiryThresholds {
			if !recorded[d] && t.ExpiresAt.Sub(now) <= time.Duration(d)*24*time.Hour {
				crossed = append(crossed, d)
			}
		}
		if len(crossed) > 0 {
			urgent := slices.Min(crossed)
			for _, d := range crossed {
				todo = append(todo, due{kind: store.WarningExpiring, days: d, ref: ref, emit: d == urgent && d < mostUrgentRecorded})
			}
		}
	}
	if len(todo) == 0 {
		return nil
	}

	data, err := s.warningData(ctx, t, now)
	if err != nil {
		return err
	}
	subs, err := s.store.ListSubscriptions(ctx, t.OrgID)
	if err != nil {
		return fmt.Errorf("reading subscriptions: %w", err)
	}
	var batch []store.NewWarning
	for _, d := range todo {
		typ, detail := "token.expiring", ""
		wd := data
		if d.kind == store.WarningInvalid {
			typ, detail = "token.invalid", t.StatusDetail
		} else {
			wd.ThresholdDays = d.days
			detail = fmt.Sprintf("expires on %s (%d days left; the %d-day warning)", t.ExpiresAt.UTC().Format(time.DateOnly), daysLeft(*t.ExpiresAt, now), d.days)
		}
		payload, err := json.Marshal(WarningEvent{Type: typ, Timestamp: now.Format(time.RFC3339), Data: wd})
		if err != nil {
			return fmt.Errorf("encoding warning: %w", err)
		}
		w := store.TokenWarning{ID: store.NewID("twn"), OrgID: t.OrgID, TokenID: t.ID, Kind: d.kind, ThresholdDays: d.days,
			RefAt: d.ref, CreatedAt: now, Detail: detail, Payload: payload}
		nw := store.NewWarning{Warning: w}
		if d.emit {
			// Token events carry no application: a subscriber gets an
			// organization's token events in order.
			e := store.Event{ID: store.NewSortableID("evt", now), OrgID: t.OrgID, Type: typ, Payload: payload, CreatedAt: now}
			nw.Warning.EventID = e.ID
			nw.Event = &store.NewEvent{Event: e, Subscriptions: matchingSubscriptions(subs, typ)}
		} else {
			nw.Warning.Detail += " (passed over: a more urgent warning went out)"
		}
		batch = append(batch, nw)
	}
	inserted, err := s.store.RecordWarnings(ctx, batch)
	if err != nil {
		return fmt.Errorf("recording warnings of token %s: %w", t.Name, err)
	}
	emitted := false
	for _, w := range inserted {
		if w.EventID == "" {
			continue
		}
		emitted = true
		act := "token.expiring"
		if w.Kind == store.WarningInvalid {
			act = "token.invalid"
		}
		s.audit.Record(ctx, audit.Entry{OrgID: t.OrgID, Actor: systemActor, Action: "warn." + act, Target: "token/" + t.Name,
			Outcome: audit.Success, Detail: w.Detail + "; applications: " + AppNames(data.Applications)})
	}
	if emitted && s.wakeEvents != nil {
		s.wakeEvents()
	}
	return nil
}

// warningData describes t and the applications that depend on it.
func (s *Service) warningData(ctx context.Context, t store.Token, now time.Time) (WarningData, error) {
	org, err := s.store.GetOrg(ctx, t.OrgID)
	if err != nil {
		return WarningData{}, fmt.Errorf("reading organization %s: %w", t.OrgID, err)
	}
	apps, err := s.dependentApps(ctx, t)
	if err != nil {
		return WarningData{}, err
	}
	v := s.view(t, false)
	d := WarningData{Organization: org.Name, Applications: []WarningApp{},
		Token: WarningToken{Name: t.Name, Provider: t.Provider, Host: v.Host, ExpiresAt: t.ExpiresAt, Status: v.Status, StatusDetail: v.StatusDetail}}
	if t.ExpiresAt != nil {
		left := daysLeft(*t.ExpiresAt, now)
		d.Token.DaysLeft = &left
	}
	for _, a := range apps {
		d.Applications = append(d.Applications, WarningApp{Name: a.Name, Repository: a.RepoURL, Branch: a.Branch})
	}
	slices.SortFunc(d.Applications, func(a, b WarningApp) int { return strings.Compare(a.Name, b.Name) })
	return d, nil
}

// AppNames lists the applications' names for a sentence ("none" when
// there are none), as warnings, mails and the CLI say them.
func AppNames(apps []WarningApp) string {
	if len(apps) == 0 {
		return "none"
	}
	names := make([]string, len(apps))
	for i, a := range apps {
		names[i] = a.Name
	}
	return strings.Join(names, ", ")
}

// matchingSubscriptions returns the ids of the subscriptions whose event
// patterns match typ.
func matchingSubscriptions(subs []store.Subscription, typ string) []string {
	var ids []string
	for _, sub := range subs {
		if slices.ContainsFunc(sub.Events, func(p string) bool { ok, _ := path.Match(p, typ); return ok }) {
			ids = append(ids, sub.ID)
		}
	}
	return ids
}
