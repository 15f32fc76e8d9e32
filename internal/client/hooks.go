package client

import (
	"context"
	"errors"
	"net/http"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// Webhooks in, events out: application hooks and their deliveries,
// event subscribers, outgoing events.

func (c *Client) hookAction(ctx context.Context, app, action string) (access.HookView, error) {
	var out access.HookView
	seg, err := pathSeg("application name", app)
	if err != nil {
		return out, err
	}
	err = c.do(ctx, http.MethodPost, "/api/v1/apps/"+seg+"/hook/"+action, nil, nil, &out)
	return out, err
}

// CheckHook compares an application's webhook at the provider with what
// gitaccess installed: installed, missing, altered (Drift says how) or
// error.
func (c *Client) CheckHook(ctx context.Context, app string) (access.HookView, error) {
	return c.hookAction(ctx, app, "check")
}

// RepairHook restores an application's webhook exactly, with a new
// secret.
func (c *Client) RepairHook(ctx context.Context, app string) (access.HookView, error) {
	return c.hookAction(ctx, app, "repair")
}

// ListDeliveries lists an application's received webhook deliveries,
// newest first, with their verdicts.
func (c *Client) ListDeliveries(ctx context.Context, app string, opts ListOptions) ([]access.DeliveryView, error) {
	seg, err := pathSeg("application name", app)
	if err != nil {
		return nil, err
	}
	return listAll[access.DeliveryView](ctx, c, "/api/v1/apps/"+seg+"/deliveries", opts.Limit)
}

// newSubscriptionWire is how a fresh subscription arrives;
// access.NewSubscription does not decode its secret from JSON.
type newSubscriptionWire struct {
	access.SubscriptionView
	Secret string `json:"secret"`
}

// CreateSubscription adds an event subscriber. Its signing secret is in
// the answer and nowhere else, ever.
func (c *Client) CreateSubscription(ctx context.Context, in access.SubscriptionInput) (access.NewSubscription, error) {
	var out newSubscriptionWire
	if err := c.do(ctx, http.MethodPost, "/api/v1/subscriptions", nil, in, &out); err != nil {
		return access.NewSubscription{}, err
	}
	if out.Secret == "" {
		return access.NewSubscription{}, errors.New("POST /api/v1/subscriptions: server returned no signing secret")
	}
	return access.NewSubscription{SubscriptionView: out.SubscriptionView, Secret: secret.New(out.Secret)}, nil
}

// ListSubscriptions lists the organization's event subscribers, without
// their secrets.
func (c *Client) ListSubscriptions(ctx context.Context) ([]access.SubscriptionView, error) {
	var out page[access.SubscriptionView]
	if err := c.do(ctx, http.MethodGet, "/api/v1/subscriptions", nil, nil, &out); err != nil {
		return nil, err
	}
	return nonNil(out.Items), nil
}

// DeleteSubscription removes an event subscriber by id.
func (c *Client) DeleteSubscription(ctx context.Context, id string) error {
	seg, err := pathSeg("subscription id", id)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, "/api/v1/subscriptions/"+seg, nil, nil, nil)
}

// ListEvents lists the organization's outgoing events, newest first,
// with each subscriber's delivery status.
func (c *Client) ListEvents(ctx context.Context, opts ListOptions) ([]access.EventView, error) {
	return listAll[access.EventView](ctx, c, "/api/v1/events", opts.Limit)
}

// ReplayEvent sends an event again to all its subscribers; the server
// queues it (202) and delivers it in the background.
func (c *Client) ReplayEvent(ctx context.Context, id string) error {
	seg, err := pathSeg("event id", id)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, "/api/v1/events/"+seg+"/replay", nil, nil, nil)
}
