package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/store"
	"github.com/gitaccess/gitaccess/internal/webhook"
)

// Webhooks in and events out: the provider-facing receiver, application
// hooks and their deliveries, subscriptions and outgoing events.

// hookReceipt is the receiver's answer to the provider; its delivery log
// shows it.
type hookReceipt struct {
	Verdict    string `json:"verdict" enum:"accepted,duplicate" doc:"accepted: stored for routing; duplicate: a redelivery of one already stored."`
	DeliveryID string `json:"delivery_id" doc:"The provider's delivery id; empty when the provider sends none."`
}

// receiveHook takes in one delivery: the raw body, never decoded here, up
// to webhook.MaxBody, then Receive (signature check and one insert).
// Nothing else happens before the answer, so providers see it fast.
func (h *handlers) receiveHook(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ri := infoFrom(ctx)
	fail := func(p *Problem) {
		p.RequestID = ri.id
		writeProblem(w, p)
	}
	tooLarge := func() {
		fail(newProblem(http.StatusRequestEntityTooLarge, slugRequestTooLarge,
			fmt.Sprintf("The delivery is larger than %d bytes (25 MB), the most gitaccess accepts.", webhook.MaxBody)))
	}
	// A declared length over the limit is refused before a byte is read.
	if r.ContentLength > webhook.MaxBody {
		tooLarge()
		return
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, webhook.MaxBody), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &mbe):
			tooLarge()
		case errors.As(err, &ne) && ne.Timeout():
			fail(newProblem(http.StatusRequestTimeout, slugTimeout, "The delivery's body did not arrive in time."))
		default:
			fail(newProblem(http.StatusBadRequest, slugInvalidInput, "The delivery's body could not be read: "+err.Error()))
		}
		return
	}
	hookID := r.PathValue("hook_id")
	var rc webhook.Receipt
	if h.hooks == nil {
		err = webhook.ErrUnknownHook
	} else {
		rc, err = h.hooks.Receive(ctx, hookID, r.Header, body)
	}
	switch {
	case err == nil:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(hookReceipt{Verdict: rc.Verdict, DeliveryID: rc.DeliveryID})
	case errors.Is(err, webhook.ErrUnknownHook):
		fail(newProblem(http.StatusNotFound, slugNotFound, "gitaccess has no hook "+hookID+"; the application it served may have been deleted. Remove this webhook from the repository."))
	case errors.Is(err, forge.ErrUnsigned), errors.Is(err, forge.ErrBadSignature):
		h.log.WarnContext(ctx, "webhook delivery refused", "request_id", ri.id, "hook", hookID, "delivery_id", rc.DeliveryID, "error", err)
		p := newProblem(http.StatusUnauthorized, slugBadSignature, "The delivery's signature does not verify with this hook's secret ("+
			err.Error()+"); it was recorded as bad-signature and not acted on. If the secret was changed on the provider, run: gitaccess hook repair APP")
		// The challenge newProblem adds is for API keys; no key is asked for here.
		p.headers = nil
		fail(p)
	default:
		// Not stored: a 5xx makes the provider deliver it again.
		h.log.ErrorContext(ctx, "receiving a webhook delivery failed", "request_id", ri.id, "hook", hookID, "error", err)
		fail(internalProblem(ri.id))
	}
}

type hookOutput struct{ Body access.HookView }

type deliveriesInput struct {
	Name   string `path:"name" doc:"The application's name."`
	Cursor string `query:"cursor" doc:"next_cursor from the previous page; empty for the first page."`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"Items per page."`
}

type deliveryList struct {
	Items      []access.DeliveryView `json:"items"`
	NextCursor string                `json:"next_cursor" doc:"Cursor for the next page; empty on the last page."`
}

type deliveryListOutput struct{ Body deliveryList }

type subscriptionList struct {
	Items []access.SubscriptionView `json:"items"`
}

type subscriptionListOutput struct{ Body subscriptionList }

type createSubscriptionInput struct{ Body access.SubscriptionInput }

// createdSubscription is the one response that carries a signing secret.
type createdSubscription struct {
	access.SubscriptionView
	Secret string `json:"secret" doc:"The Standard Webhooks signing secret (whsec_...). It is shown only in this response: store it now."`
}

type createdSubscriptionOutput struct{ Body createdSubscription }

type subscriptionIDInput struct {
	ID string `path:"id" doc:"The subscription's id."`
}

type eventList struct {
	Items      []access.EventView `json:"items"`
	NextCursor string             `json:"next_cursor" doc:"Cursor for the next page; empty on the last page."`
}

type eventListOutput struct{ Body eventList }

type eventIDInput struct {
	ID string `path:"id" doc:"The event's id."`
}

// presizeMax bounds the buffer a declared Content-Length reserves before
// the body arrives, so a client cannot hold much memory by declaring a
// large body and sending it slowly.
const presizeMax = 1 << 20

// readBody is io.ReadAll starting from a buffer of the declared length
// (up to presizeMax): growing from io.ReadAll's 512 bytes allocated and
// copied each delivery about twice over, the receiver's largest
// allocation under load.
func readBody(rd io.Reader, declared int64) ([]byte, error) {
	var buf bytes.Buffer
	if declared > 0 {
		// ReadFrom wants MinRead spare bytes before it reads at all.
		buf.Grow(int(min(declared, presizeMax)) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(rd)
	return buf.Bytes(), err
}

func (h *handlers) checkHook(ctx context.Context, p access.Principal, in *appNameInput) (*hookOutput, error) {
	v, err := h.svc.CheckHook(ctx, p, in.Name)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &hookOutput{Body: v}, nil
}

func (h *handlers) repairHook(ctx context.Context, p access.Principal, in *appNameInput) (*hookOutput, error) {
	v, err := h.svc.RepairHook(ctx, p, in.Name)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &hookOutput{Body: v}, nil
}

func (h *handlers) listDeliveries(ctx context.Context, p access.Principal, in *deliveriesInput) (*deliveryListOutput, error) {
	items, next, err := h.svc.ListDeliveries(ctx, p, in.Name, store.Page{After: in.Cursor, Limit: in.Limit})
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &deliveryListOutput{Body: deliveryList{Items: nonNil(items), NextCursor: next}}, nil
}

func (h *handlers) listSubscriptions(ctx context.Context, p access.Principal, _ *struct{}) (*subscriptionListOutput, error) {
	subs, err := h.svc.ListSubscriptions(ctx, p)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &subscriptionListOutput{Body: subscriptionList{Items: nonNil(subs)}}, nil
}

func (h *handlers) createSubscription(ctx context.Context, p access.Principal, in *createSubscriptionInput) (*createdSubscriptionOutput, error) {
	sub, err := h.svc.CreateSubscription(ctx, p, in.Body)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &createdSubscriptionOutput{Body: createdSubscription{SubscriptionView: sub.SubscriptionView, Secret: sub.Secret.Reveal()}}, nil
}

func (h *handlers) deleteSubscription(ctx context.Context, p access.Principal, in *subscriptionIDInput) (*struct{}, error) {
	if err := h.svc.DeleteSubscription(ctx, p, in.ID); err != nil {
		return nil, h.fail(ctx, err)
	}
	return &struct{}{}, nil
}

func (h *handlers) listEvents(ctx context.Context, p access.Principal, in *pageInput) (*eventListOutput, error) {
	items, next, err := h.svc.ListEvents(ctx, p, store.Page{After: in.Cursor, Limit: in.Limit})
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &eventListOutput{Body: eventList{Items: nonNil(items), NextCursor: next}}, nil
}

func (h *handlers) replayEvent(ctx context.Context, p access.Principal, in *eventIDInput) (*struct{}, error) {
	if err := h.svc.ReplayEvent(ctx, p, in.ID); err != nil {
		return nil, h.fail(ctx, err)
	}
	return &struct{}{}, nil
}
