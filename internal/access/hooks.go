package access

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/audit"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

const hooksTable = "hooks"

// Hook states.
const (
	HookInstalled = "installed"
	HookMissing   = "missing"
	HookAltered   = "altered"
	HookError     = "error"
)

// HookView is an application's webhook as gitaccess last saw it.
type HookView struct {
	URL            string     `json:"url"`
	State          string     `json:"state"`
	StateDetail    string     `json:"state_detail,omitempty"`
	ProviderHookID string     `json:"provider_hook_id,omitempty"`
	Drift          []string   `json:"drift,omitempty"`
	CheckedAt      *time.Time `json:"checked_at,omitempty"`
}

func hookView(h store.Hook) *HookView {
	return &HookView{URL: h.URL, State: h.State, StateDetail: h.StateDetail, ProviderHookID: h.ProviderHookID, CheckedAt: h.CheckedAt}
}

// DeliveryView is one received delivery and what became of it.
type DeliveryView struct {
	ID         string    `json:"id"`
	DeliveryID string    `json:"delivery_id,omitempty"`
	Event      string    `json:"event"`
	ReceivedAt time.Time `json:"received_at"`
	Verdict    string    `json:"verdict"`
	Detail     string    `json:"detail,omitempty"`
	Duplicates int       `json:"duplicates,omitempty"`
}

func newHookSecret() secret.Value {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return secret.New(hex.EncodeToString(b))
}

// wantsHook says whether an application needs a webhook.
func wantsHook(a store.App) bool { return a.AutoDeploy || a.Previews }

// installHook creates or repairs the application's hook with a fresh
// secret: the provider's hook is made to match exactly, then the row.
func (s *Service) installHook(ctx context.Context, p Principal, a store.App) (store.Hook, error) {
	if s.publicURL == "" {
		return store.Hook{}, errorf(KindInvalid, "auto-deploy and previews need webhooks, and webhooks need the address providers reach this server at: start gitaccess serve with --public-url https://HOST")
	}
	b, _, err := s.bindForApp(ctx, p, a.RepoURL, a.Name)
	if err != nil {
		return store.Hook{}, err
	}
	h, err := s.store.GetHookByApp(ctx, p.OrgID, a.ID)
	fresh := errors.Is(err, store.ErrNotFound)
	if err != nil && !fresh {
		return store.Hook{}, fmt.Errorf("reading the hook of %s: %w", a.Name, err)
	}
	if fresh {
		id := store.NewID("hk")
		h = store.Hook{ID: id, OrgID: p.OrgID, AppID: a.ID, Provider: b.token.Provider, URL: strings.TrimSuffix(s.publicURL, "/") + "/hooks/" + id, CreatedAt: s.now().UTC()}
	}
	sec := newHookSecret()
	ph, err := b.forge.EnsureHook(ctx, b.cred, a.RepoFullName, forge.HookSpec{URL: h.URL, Secret: sec})
	if err != nil {
		return store.Hook{}, s.explain(ctx, b, "the webhooks of "+a.RepoFullName, err)
	}
	if h.Sealed, err = s.sealer.Seal(sec, AssociatedData(hooksTable, h.ID)); err != nil {
		return store.Hook{}, fmt.Errorf("sealing hook secret: %w", err)
	}
	now := s.now().UTC()
	h.ProviderHookID, h.Provider, h.State, h.StateDetail, h.CheckedAt, h.UpdatedAt = ph.ID, b.token.Provider, HookInstalled, "", &now, now
	if fresh {
		err = s.store.CreateHook(ctx, h)
	} else {
		h, err = s.store.UpdateHook(ctx, h)
	}
	if err != nil {
		return store.Hook{}, fmt.Errorf("saving the hook of %s: %w", a.Name, err)
	}
	s.touchBoth(ctx, b.token.ID, a.ID)
	s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "hook.install", Target: "app/" + a.Name, Outcome: audit.Success, Detail: fmt.Sprintf("%s on %s (provider hook %s) via token %s", h.URL, a.RepoFullName, ph.ID, b.token.Name)})
	return h, nil
}

// removeHook deletes the application's hook at the provider and its row.
func (s *Service) removeHook(ctx context.Context, p Principal, a store.App) error {
	h, err := s.store.GetHookByApp(ctx, p.OrgID, a.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the hook of %s: %w", a.Name, err)
	}
	b, _, err := s.bindForApp(ctx, p, a.RepoURL, a.Name)
	if err == nil {
		err = b.forge.DeleteHook(ctx, b.cred, a.RepoFullName, h.URL)
		if err != nil {
			err = s.explain(ctx, b, "the webhooks of "+a.RepoFullName, err)
		}
	}
	if err != nil {
		return fmt.Errorf("deleting the webhook of %s at the provider (%s); the application is unchanged: %w", a.Name, h.URL, err)
	}
	if err := s.store.DeleteHook(ctx, p.OrgID, h.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("deleting the hook of %s: %w", a.Name, err)
	}
	s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "hook.delete", Target: "app/" + a.Name, Outcome: audit.Success, Detail: h.URL})
	return nil
}

// CheckHook compares the application's hook at the provider with what
// gitaccess installed: installed, missing (deleted on the provider's
// side) or altered (with how).
func (s *Service) CheckHook(ctx context.Context, p Principal, appName string) (HookView, error) {
	if err := s.authorize(ctx, p, actBrowse, "app/"+appName); err != nil {
		return HookView{}, err
	}
	a, err := s.getApp(ctx, p, appName)
	if err != nil {
		return HookView{}, err
	}
	h, err := s.store.GetHookByApp(ctx, p.OrgID, a.ID)
	if errors.Is(err, store.ErrNotFound) {
		return HookView{}, errorf(KindNotFound, "application %s has no webhook: turn on --auto-deploy or --previews (gitaccess app update %s --auto-deploy)", a.Name, a.Name)
	}
	if err != nil {
		return HookView{}, fmt.Errorf("reading the hook of %s: %w", a.Name, err)
	}
	b, _, err := s.bindForApp(ctx, p, a.RepoURL, a.Name)
	if err != nil {
		return HookView{}, err
	}
	ph, ok, ferr := b.forge.FindHook(ctx, b.cred, a.RepoFullName, h.URL)
	if ferr == nil {
		s.touchBoth(ctx, b.token.ID, a.ID)
	}
	now := s.now().UTC()
	h.CheckedAt = &now
	var drift []string
	switch {
	case ferr != nil:
		h.State, h.StateDetail = HookError, s.explain(ctx, b, "the webhooks of "+a.RepoFullName, ferr).Error()
	case !ok:
		h.State, h.StateDetail = HookMissing, "the hook is gone from "+a.RepoFullName+"; gitaccess hook repair "+a.Name+" restores it"
	case len(ph.Drift) > 0:
		drift = ph.Drift
		h.State, h.StateDetail = HookAltered, "changed on the provider: "+strings.Join(ph.Drift, ", ")+"; gitaccess hook repair "+a.Name+" restores it"
	default:
		h.State, h.StateDetail, h.ProviderHookID = HookInstalled, "", ph.ID
	}
	h.Sealed = nil
	saved, err := s.store.UpdateHook(ctx, h)
	if err != nil {
		return HookView{}, fmt.Errorf("saving the hook check of %s: %w", a.Name, err)
	}
	v := hookView(saved)
	v.Drift = drift
	return *v, nil
}

// RepairHook restores the application's hook exactly, with a new secret.
func (s *Service) RepairHook(ctx context.Context, p Principal, appName string) (HookView, error) {
	if err := s.authorize(ctx, p, actManageApps, "app/"+appName); err != nil {
		return HookView{}, err
	}
	a, err := s.getApp(ctx, p, appName)
	if err != nil {
		return HookView{}, err
	}
	if !wantsHook(a) {
		return HookView{}, errorf(KindInvalid, "application %s has neither auto-deploy nor previews on, so it needs no webhook", a.Name)
	}
	h, err := s.installHook(ctx, p, a)
	if err != nil {
		return HookView{}, err
	}
	return *hookView(h), nil
}

// ListDeliveries pages an application's received deliveries, newest
// first, with their verdicts: why a push did or did not deploy.
func (s *Service) ListDeliveries(ctx context.Context, p Principal, appName string, page store.Page) ([]DeliveryView, string, error) {
	if err := s.authorize(ctx, p, actBrowse, "app/"+appName); err != nil {
		return nil, "", err
	}
	a, err := s.getApp(ctx, p, appName)
	if err != nil {
		return nil, "", err
	}
	ds, next, err := s.store.ListDeliveries(ctx, p.OrgID, a.ID, page)
	if err != nil {
		return nil, "", fmt.Errorf("listing deliveries: %w", err)
	}
	out := make([]DeliveryView, 0, len(ds))
	for _, d := range ds {
		out = append(out, DeliveryView{ID: d.ID, DeliveryID: d.DeliveryID, Event: d.Event, ReceivedAt: d.ReceivedAt, Verdict: d.Verdict, Detail: d.Detail, Duplicates: d.Duplicates})
	}
	return out, next, nil
}
