package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/audit"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

const subscriptionsTable = "subscriptions"

// EventTypes are the events gitaccess emits.
var EventTypes = []string{"deploy.requested", "preview.requested", "preview.closed", "token.expiring", "token.invalid"}

// SubscriptionInput adds a subscriber.
type SubscriptionInput struct {
	URL string `json:"url"`
	// Events are patterns: "deploy.*", "preview.requested", "*".
	Events []string `json:"events"`
}

// SubscriptionView is a subscriber without its secret.
type SubscriptionView struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	CreatedAt time.Time `json:"created_at"`
}

// NewSubscription is a fresh subscriber: the only time its signing secret
// (Standard Webhooks "whsec_...") is shown.
type NewSubscription struct {
	SubscriptionView
	Secret secret.Value `json:"-"`
}

// EventView is an outgoing event and how its deliveries went.
type EventView struct {
	ID         string              `json:"id"`
	Type       string              `json:"type"`
	AppID      string              `json:"app_id,omitempty"`
	CreatedAt  time.Time           `json:"created_at"`
	Payload    json.RawMessage     `json:"payload"`
	Deliveries []EventDeliveryView `json:"deliveries"`
}

// EventDeliveryView is one event's delivery to one subscriber.
type EventDeliveryView struct {
	Subscription  string     `json:"subscription"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	LastStatus    int        `json:"last_status,omitempty"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
}

func validPatterns(ps []string) ([]string, error) {
	if len(ps) == 0 {
		return nil, errorf(KindInvalid, "events: give at least one pattern, e.g. 'deploy.*,preview.*'")
	}
	var out []string
	for _, p := range ps {
		p = strings.TrimSpace(p)
		matched := false
		for _, t := range EventTypes {
			if ok, err := path.Match(p, t); err != nil {
				return nil, errorf(KindInvalid, "events: %q is not a valid pattern", p)
			} else if ok {
				matched = true
			}
		}
		if !matched {
			return nil, errorf(KindInvalid, "events: %q matches none of %s", p, strings.Join(EventTypes, ", "))
		}
		out = append(out, p)
	}
	return out, nil
}

// CreateSubscription adds a subscriber and makes its signing secret.
func (s *Service) CreateSubscription(ctx context.Context, p Principal, in SubscriptionInput) (NewSubscription, error) {
	if err := s.authorize(ctx, p, actManageApps, "subscription/"+in.URL); err != nil {
		return NewSubscription{}, err
	}
	if s.checkURL != nil {
		if err := s.checkURL(in.URL); err != nil {
			return NewSubscription{}, &Error{Kind: KindInvalid, Message: "url: " + err.Error(), Err: err}
		}
	}
	patterns, err := validPatterns(in.Events)
	if err != nil {
		return NewSubscription{}, err
	}
	sec := s.newSigningSecret()
	sub := store.Subscription{ID: store.NewID("sub"), OrgID: p.OrgID, URL: in.URL, Events: patterns, CreatedAt: s.now().UTC()}
	if sub.Sealed, err = s.sealer.Seal(sec, AssociatedData(subscriptionsTable, sub.ID)); err != nil {
		return NewSubscription{}, fmt.Errorf("sealing the signing secret: %w", err)
	}
	if err := s.store.CreateSubscription(ctx, sub); err != nil {
		return NewSubscription{}, fmt.Errorf("saving subscription: %w", err)
	}
	s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "subscription.create", Target: "subscription/" + sub.ID, Outcome: audit.Success, Detail: in.URL + " " + strings.Join(patterns, ",")})
	return NewSubscription{SubscriptionView: SubscriptionView{ID: sub.ID, URL: sub.URL, Events: sub.Events, CreatedAt: sub.CreatedAt}, Secret: sec}, nil
}

// ListSubscriptions lists the organization's subscribers.
func (s *Service) ListSubscriptions(ctx context.Context, p Principal) ([]SubscriptionView, error) {
	if err := s.authorize(ctx, p, actReadTokens, "subscriptions"); err != nil {
		return nil, err
	}
	subs, err := s.store.ListSubscriptions(ctx, p.OrgID)
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions: %w", err)
	}
	out := make([]SubscriptionView, 0, len(subs))
	for _, sub := range subs {
		out = append(out, SubscriptionView{ID: sub.ID, URL: sub.URL, Events: sub.Events, CreatedAt: sub.CreatedAt})
	}
	return out, nil
}

// DeleteSubscription removes a subscriber.
func (s *Service) DeleteSubscription(ctx context.Context, p Principal, id string) error {
	if err := s.authorize(ctx, p, actManageApps, "subscription/"+id); err != nil {
		return err
	}
	if err := s.store.DeleteSubscription(ctx, p.OrgID, id); errors.Is(err, store.ErrNotFound) {
		return errorf(KindNotFound, "no subscription %q in organization %s", id, p.OrgName)
	} else if err != nil {
		return fmt.Errorf("deleting subscription: %w", err)
	}
	s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "subscription.delete", Target: "subscription/" + id, Outcome: audit.Success})
	return nil
}

// ListEvents pages the organization's outgoing events, newest first.
func (s *Service) ListEvents(ctx context.Context, p Principal, page store.Page) ([]EventView, string, error) {
	if err := s.authorize(ctx, p, actReadTokens, "events"); err != nil {
		return nil, "", err
	}
	evs, next, err := s.store.ListEvents(ctx, p.OrgID, page)
	if err != nil {
		return nil, "", fmt.Errorf("listing events: %w", err)
	}
	out := make([]EventView, 0, len(evs))
	for _, e := range evs {
		v := EventView{ID: e.Event.ID, Type: e.Event.Type, AppID: e.Event.AppID, CreatedAt: e.Event.CreatedAt, Payload: e.Event.Payload, Deliveries: []EventDeliveryView{}}
		for _, o := range e.Deliveries {
			dv := EventDeliveryView{Subscription: o.SubscriptionID, Status: o.Status, Attempts: o.Attempts, LastError: o.LastError, LastStatus: o.LastStatus, DeliveredAt: o.DeliveredAt}
			if o.Status == store.OutboxPending {
				t := o.NextAttemptAt
				dv.NextAttemptAt = &t
			}
			v.Deliveries = append(v.Deliveries, dv)
		}
		out = append(out, v)
	}
	return out, next, nil
}

// ReplayEvent sends an event again to all its subscribers.
func (s *Service) ReplayEvent(ctx context.Context, p Principal, id string) error {
	if err := s.authorize(ctx, p, actManageApps, "event/"+id); err != nil {
		return err
	}
	if err := s.store.ReplayEvent(ctx, p.OrgID, id, s.now().UTC()); errors.Is(err, store.ErrNotFound) {
		return errorf(KindNotFound, "no event %q in organization %s", id, p.OrgName)
	} else if err != nil {
		return fmt.Errorf("replaying event: %w", err)
	}
	if s.wakeEvents != nil {
		s.wakeEvents()
	}
	s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "event.replay", Target: "event/" + id, Outcome: audit.Success})
	return nil
}
