package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gitaccess/gitaccess/internal/store"
)

// verdictPending is a delivery stored but not yet routed; the one verdict
// ClaimDeliveries picks.
const verdictPending = "pending"

// hookCols is every column of hooks, in scanHook's order.
const hookCols = `id, org_id, app_id, provider, provider_hook_id, url, sealed, state, state_detail,
	checked_at, created_at, updated_at, version`

// CreateHook inserts h; ErrConflict when its id is taken or its application
// has a hook, ErrNotFound when the application is not one of its
// organization's.
func (s *Store) CreateHook(ctx context.Context, h store.Hook) error {
	created := s.orNow(h.CreatedAt)
	updated := h.UpdatedAt
	if updated.IsZero() {
		updated = created
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO hooks (`+hookCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		h.ID, h.OrgID, h.AppID, h.Provider, h.ProviderHookID, h.URL, nullIfEmpty(h.Sealed), h.State,
		h.StateDetail, tsPtr(h.CheckedAt), ts(created), ts(updated), h.Version)
	return wrapRef("postgres: create hook", "organization or application", err)
}

// GetHook finds a hook by id in any organization.
func (s *Store) GetHook(ctx context.Context, id string) (store.Hook, error) {
	h, err := scanHook(s.pool.QueryRow(ctx, `SELECT `+hookCols+` FROM hooks WHERE id = $1`, id))
	return h, wrap("postgres: get hook", err)
}

// GetHookByApp finds an application's hook.
func (s *Store) GetHookByApp(ctx context.Context, orgID, appID string) (store.Hook, error) {
	h, err := scanHook(s.pool.QueryRow(ctx,
		`SELECT `+hookCols+` FROM hooks WHERE app_id = $1 AND org_id = $2`, appID, orgID))
	return h, wrap("postgres: get hook by app", err)
}

// UpdateHook writes h where its id, organization and version match, and
// bumps the version; ErrConflict when the version is stale, ErrNotFound
// when the hook is gone. The application and CreatedAt are kept; a nil
// Sealed keeps the secret.
func (s *Store) UpdateHook(ctx context.Context, h store.Hook) (store.Hook, error) {
	const op = "postgres: update hook"
	got, err := scanHook(s.pool.QueryRow(ctx, `UPDATE hooks SET
		provider = $1, provider_hook_id = $2, url = $3, sealed = coalesce($4, sealed), state = $5,
		state_detail = $6, checked_at = $7, updated_at = $8, version = version + 1
		WHERE id = $9 AND org_id = $10 AND version = $11
		RETURNING `+hookCols,
		h.Provider, h.ProviderHookID, h.URL, nullIfEmpty(h.Sealed), h.State, h.StateDetail,
		tsPtr(h.CheckedAt), ts(s.orNow(h.UpdatedAt)), h.ID, h.OrgID, h.Version))
	if err == nil {
		return got, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.Hook{}, wrap(op, err)
	}
	var v int64
	err = s.pool.QueryRow(ctx, `SELECT version FROM hooks WHERE id = $1 AND org_id = $2`, h.ID, h.OrgID).Scan(&v)
	if err != nil {
		return store.Hook{}, wrap(op, err)
	}
	return store.Hook{}, fmt.Errorf("%s: version %d is stale (now %d): %w", op, h.Version, v, store.ErrConflict)
}

// DeleteHook deletes a hook of orgID; its deliveries stay.
func (s *Store) DeleteHook(ctx context.Context, orgID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM hooks WHERE org_id = $1 AND id = $2`, orgID, id)
	if err != nil {
		return wrap("postgres: delete hook", err)
	}
	return mustAffect("postgres: delete hook", tag)
}

func scanHook(r pgx.Row) (store.Hook, error) {
	var h store.Hook
	if err := r.Scan(&h.ID, &h.OrgID, &h.AppID, &h.Provider, &h.ProviderHookID, &h.URL, &h.Sealed,
		&h.State, &h.StateDetail, &h.CheckedAt, &h.CreatedAt, &h.UpdatedAt, &h.Version); err != nil {
		return store.Hook{}, err
	}
	h.CheckedAt = utcPtr(h.CheckedAt)
	h.CreatedAt = h.CreatedAt.UTC()
	h.UpdatedAt = h.UpdatedAt.UTC()
	return h, nil
}

// deliveryCols is every column of deliveries but body, in scanDelivery's
// order (which reads a body expression after them).
const deliveryCols = `id, org_id, hook_id, app_id, provider, delivery_id, event, received_at, headers,
	verdict, detail, duplicates, processed_at, lease_owner, lease_until`

// RecordDelivery stores d in one statement, committed when it returns
// (durable as far as the server's synchronous_commit makes commits). A
// redelivery (same hook, same non-empty DeliveryID) only counts a
// duplicate on the stored row, which is returned with dup true. An empty
// Verdict is pending.
func (s *Store) RecordDelivery(ctx context.Context, d store.Delivery) (store.Delivery, bool, error) {
	const op = "postgres: record delivery"
	if d.Verdict == "" {
		d.Verdict = verdictPending
	}
	// The body is read back only for a duplicate: the caller has its own.
	got, err := scanDelivery(s.pool.QueryRow(ctx, recordDeliverySQL,
		d.ID, d.OrgID, d.HookID, nullString(d.AppID), d.Provider, d.DeliveryID, d.Event,
		ts(s.orNow(d.ReceivedAt)), nullIfEmpty(d.Headers), d.Verdict, d.Detail, d.Duplicates,
		tsPtr(d.ProcessedAt), d.LeaseOwner, tsPtr(d.LeaseUntil), nullIfEmpty(d.Body)))
	if err != nil {
		return store.Delivery{}, false, wrapRef(op, "organization or application", err)
	}
	dup := got.ID != d.ID
	if !dup && len(d.Body) > 0 {
		got.Body = d.Body
	}
	return got, dup, nil
}

// ClaimDeliveries leases up to n pending deliveries whose lease is free or
// ended at now, oldest first, to owner until leaseUntil. Rows another
// transaction is claiming are skipped (SKIP LOCKED), so concurrent
// claimers, on any replica, never get the same delivery.
func (s *Store) ClaimDeliveries(ctx context.Context, owner string, now, leaseUntil time.Time, n int) ([]store.Delivery, error) {
	const op = "postgres: claim deliveries"
	if owner == "" {
		return nil, fmt.Errorf("%s: no lease owner", op)
	}
	if n <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `WITH c AS (
			SELECT id AS claim_id FROM deliveries
			WHERE verdict = 'pending' AND (lease_until IS NULL OR lease_until <= $1)
			ORDER BY received_at, id LIMIT $2
			FOR UPDATE SKIP LOCKED)
		UPDATE deliveries SET lease_owner = $3, lease_until = $4 FROM c WHERE id = c.claim_id
		RETURNING `+deliveryCols+`, body`, ts(now), n, owner, ts(leaseUntil))
	if err != nil {
		return nil, wrap(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, wrap(op, err)
	}
	slices.SortFunc(out, func(a, b store.Delivery) int {
		if c := a.ReceivedAt.Compare(b.ReceivedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// CompleteDelivery records the verdict of a pending delivery leased to
// owner, releases the lease and enqueues events, in one transaction.
// ErrConflict when owner does not hold the lease (it was reclaimed, or the
// delivery is already complete), ErrNotFound when there is no such
// delivery. A lease that ended but was not reclaimed still counts.
func (s *Store) CompleteDelivery(ctx context.Context, id, owner, verdict, detail string, at time.Time, events []store.NewEvent) error {
	const op = "postgres: complete delivery"
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE deliveries SET verdict = $1, detail = $2, processed_at = $3,
			lease_owner = '', lease_until = NULL
			WHERE id = $4 AND verdict = 'pending' AND lease_owner = $5 AND lease_owner <> ''`,
			verdict, detail, ts(s.orNow(at)), id, owner)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return leaseLost(ctx, tx, "deliveries", id, owner)
		}
		return s.insertEvents(ctx, tx, events)
	})
	return wrapRef(op, "organization or subscription", err)
}

// queryRower is a pool or a transaction.
type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// leaseLost explains why a row of table (deliveries or outbox) was not
// changed for owner: ErrNotFound or ErrConflict.
func leaseLost(ctx context.Context, q queryRower, table, id, owner string) error {
	var holder string
	err := q.QueryRow(ctx, `SELECT lease_owner FROM `+table+` WHERE id = $1`, id).Scan(&holder)
	if err != nil {
		return err
	}
	if holder == "" {
		return fmt.Errorf("%s %s is not leased to %q (no lease, or already complete): %w", table, id, owner, store.ErrConflict)
	}
	return fmt.Errorf("%s %s is leased to %q, not %q: %w", table, id, holder, owner, store.ErrConflict)
}

// ListDeliveries pages an application's deliveries newest first by
// (received_at, id), without bodies; the cursor is the audit cursor's
// encoding.
func (s *Store) ListDeliveries(ctx context.Context, orgID, appID string, p store.Page) ([]store.Delivery, string, error) {
	const op = "postgres: list deliveries"
	limit := p.Size()
	q := `SELECT ` + deliveryCols + `, NULL FROM deliveries WHERE app_id = $1 AND org_id = $2`
	args := []any{appID, orgID, limit + 1}
	if p.After != "" {
		at, id, err := store.ParseAuditCursor(p.After)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", op, err)
		}
		q += ` AND (received_at, id) < ($4, $5)`
		args = append(args, at, id)
	}
	q += ` ORDER BY received_at DESC, id DESC LIMIT $3`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", wrap(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, "", wrap(op, err)
	}
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		return out, store.AuditCursor(last.ReceivedAt, last.ID), nil
	}
	if len(out) == 0 {
		out = nil
	}
	return out, "", nil
}

// scanDelivery reads deliveryCols and then a body.
func scanDelivery(r pgx.Row) (store.Delivery, error) {
	var d store.Delivery
	var app *string
	if err := r.Scan(&d.ID, &d.OrgID, &d.HookID, &app, &d.Provider, &d.DeliveryID, &d.Event, &d.ReceivedAt,
		&d.Headers, &d.Verdict, &d.Detail, &d.Duplicates, &d.ProcessedAt, &d.LeaseOwner, &d.LeaseUntil,
		&d.Body); err != nil {
		return store.Delivery{}, err
	}
	if app != nil {
		d.AppID = *app
	}
	if len(d.Body) == 0 {
		d.Body = nil
	}
	d.ReceivedAt = d.ReceivedAt.UTC()
	d.ProcessedAt = utcPtr(d.ProcessedAt)
	d.LeaseUntil = utcPtr(d.LeaseUntil)
	return d, nil
}

const subscriptionCols = `id, org_id, url, events, sealed, created_at`

// CreateSubscription inserts sub; ErrConflict when its id is taken,
// ErrNotFound when its organization does not exist.
func (s *Store) CreateSubscription(ctx context.Context, sub store.Subscription) error {
	events, err := encodeList(sub.Events)
	if err != nil {
		return fmt.Errorf("postgres: create subscription: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO subscriptions (`+subscriptionCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		sub.ID, sub.OrgID, sub.URL, events, nullIfEmpty(sub.Sealed), ts(s.orNow(sub.CreatedAt)))
	return wrap("postgres: create subscription", err)
}

// ListSubscriptions lists an organization's subscriptions, oldest first,
// with their sealed secrets.
func (s *Store) ListSubscriptions(ctx context.Context, orgID string) ([]store.Subscription, error) {
	const op = "postgres: list subscriptions"
	rows, err := s.pool.Query(ctx, `SELECT `+subscriptionCols+` FROM subscriptions
		WHERE org_id = $1 ORDER BY created_at, id`, orgID)
	if err != nil {
		return nil, wrap(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Subscription, error) {
		var x rawSubscription
		if err := r.Scan(x.dest()...); err != nil {
			return store.Subscription{}, err
		}
		return x.subscription()
	})
	if len(out) == 0 {
		out = nil
	}
	return out, wrap(op, err)
}

// DeleteSubscription deletes a subscription of orgID and its outbox jobs,
// delivered or not.
func (s *Store) DeleteSubscription(ctx context.Context, orgID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM subscriptions WHERE org_id = $1 AND id = $2`, orgID, id)
	if err != nil {
		return wrap("postgres: delete subscription", err)
	}
	return mustAffect("postgres: delete subscription", tag)
}

// rawSubscription receives subscriptionCols.
type rawSubscription struct {
	sub    store.Subscription
	events []byte
}

func (x *rawSubscription) dest() []any {
	return []any{&x.sub.ID, &x.sub.OrgID, &x.sub.URL, &x.events, &x.sub.Sealed, &x.sub.CreatedAt}
}

func (x *rawSubscription) subscription() (store.Subscription, error) {
	sub := x.sub
	var err error
	if sub.Events, err = decodeList(x.events); err != nil {
		return store.Subscription{}, err
	}
	sub.CreatedAt = sub.CreatedAt.UTC()
	return sub, nil
}

// EnqueueEvents stores events and one pending outbox job per listed
// subscription (duplicates ignored), due at the event's CreatedAt, in one
// transaction. Each event gets the next Seq of its organization, in slice
// order; Event.Seq is ignored. ErrNotFound when an organization or a
// subscription (of the event's organization) does not exist.
func (s *Store) EnqueueEvents(ctx context.Context, events []store.NewEvent) error {
	if len(events) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.insertEvents(ctx, tx, events) })
	return wrapRef("postgres: enqueue events", "organization or subscription", err)
}

// insertEvents is EnqueueEvents within tx. The sequence counters it bumps
// stay locked until tx ends, so a later seq of an organization never
// commits before an earlier one.
func (s *Store) insertEvents(ctx context.Context, tx pgx.Tx, events []store.NewEvent) error {
	if len(events) == 0 {
		return nil
	}
	next, err := allocSeqs(events, func(orgID string, n int64) (int64, error) {
		var top int64
		err := tx.QueryRow(ctx, `INSERT INTO event_seqs (org_id, seq) VALUES ($1, $2)
			ON CONFLICT (org_id) DO UPDATE SET seq = event_seqs.seq + excluded.seq RETURNING seq`,
			orgID, n).Scan(&top)
		return top, err
	})
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	for _, ne := range events {
		e := ne.Event
		seq := next[e.OrgID]
		next[e.OrgID]++
		created := ts(s.orNow(e.CreatedAt))
		b.Queue(`INSERT INTO events (`+eventCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			e.ID, e.OrgID, e.AppID, e.Type, nullIfEmpty(e.Payload), created, seq)
		for _, sub := range uniq(ne.Subscriptions) {
			b.Queue(`INSERT INTO outbox (id, event_id, subscription_id, org_id, app_key, seq, next_attempt_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				store.NewSortableID("obx", s.orNow(e.CreatedAt)), e.ID, sub, e.OrgID, e.AppID, seq, created)
		}
	}
	return tx.SendBatch(ctx, b).Close()
}

// allocSeqs reserves, with bump, a block of sequence numbers for each
// organization of events, in id order (so two transactions lock counters
// in one order and cannot deadlock), and returns the first of each block.
func allocSeqs(events []store.NewEvent, bump func(orgID string, n int64) (top int64, err error)) (map[string]int64, error) {
	count := map[string]int64{}
	for _, ne := range events {
		count[ne.Event.OrgID]++
	}
	next := make(map[string]int64, len(count))
	for _, org := range slices.Sorted(maps.Keys(count)) {
		top, err := bump(org, count[org])
		if err != nil {
			return nil, err
		}
		next[org] = top - count[org] + 1
	}
	return next, nil
}

// uniq drops repeated subscription ids, keeping the first.
func uniq(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

const eventCols = `id, org_id, app_id, type, payload, created_at, seq`

const outboxCols = `id, event_id, subscription_id, org_id, app_key, seq, status, attempts,
	next_attempt_at, last_error, last_status, lease_owner, lease_until, delivered_at`

// outboxItemCols is outboxCols, eventCols and subscriptionCols of outbox o
// joined with events e and subscriptions s.
const outboxItemCols = `o.id, o.event_id, o.subscription_id, o.org_id, o.app_key, o.seq, o.status,
	o.attempts, o.next_attempt_at, o.last_error, o.last_status, o.lease_owner, o.lease_until,
	o.delivered_at, e.id, e.org_id, e.app_id, e.type, e.payload, e.created_at, e.seq,
	s.id, s.org_id, s.url, s.events, s.sealed, s.created_at`

// ClaimOutbox leases to owner, until leaseUntil, up to n pending jobs due
// at now whose lease is free or ended, and whose subscription has no
// pending job of a lower seq for the same app_key (so only the head of
// each chain), in due order, with their events and subscriptions. Rows
// another transaction is claiming are skipped (SKIP LOCKED), so replicas
// never get the same job.
func (s *Store) ClaimOutbox(ctx context.Context, owner string, now, leaseUntil time.Time, n int) ([]store.OutboxItem, error) {
	const op = "postgres: claim outbox"
	if owner == "" {
		return nil, fmt.Errorf("%s: no lease owner", op)
	}
	if n <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `WITH c AS (
			SELECT o.id AS claim_id FROM outbox o
			WHERE o.status = 'pending' AND o.next_attempt_at <= $1
				AND (o.lease_until IS NULL OR o.lease_until <= $1)
				AND NOT EXISTS (SELECT 1 FROM outbox p
					WHERE p.status = 'pending' AND p.subscription_id = o.subscription_id
						AND p.app_key = o.app_key AND p.seq < o.seq)
			ORDER BY o.next_attempt_at, o.seq, o.id LIMIT $2
			FOR UPDATE OF o SKIP LOCKED)
		UPDATE outbox o SET lease_owner = $3, lease_until = $4
		FROM c, events e, subscriptions s
		WHERE o.id = c.claim_id AND e.id = o.event_id AND s.id = o.subscription_id
		RETURNING `+outboxItemCols, ts(now), n, owner, ts(leaseUntil))
	if err != nil {
		return nil, wrap(op, err)
	}
	out, err := pgx.CollectRows(rows, scanOutboxItem)
	if err != nil {
		return nil, wrap(op, err)
	}
	slices.SortFunc(out, func(a, b store.OutboxItem) int {
		if c := a.Outbox.NextAttemptAt.Compare(b.Outbox.NextAttemptAt); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Outbox.Seq, b.Outbox.Seq); c != 0 {
			return c
		}
		return strings.Compare(a.Outbox.ID, b.Outbox.ID)
	})
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// rawEvent receives eventCols.
type rawEvent struct{ e store.Event }

func (x *rawEvent) dest() []any {
	return []any{&x.e.ID, &x.e.OrgID, &x.e.AppID, &x.e.Type, &x.e.Payload, &x.e.CreatedAt, &x.e.Seq}
}

func (x *rawEvent) event() store.Event {
	e := x.e
	e.CreatedAt = e.CreatedAt.UTC()
	return e
}

// scanOutboxItem reads one row of outboxItemCols.
func scanOutboxItem(r pgx.CollectableRow) (store.OutboxItem, error) {
	var it store.OutboxItem
	var e rawEvent
	var sub rawSubscription
	var err error
	if it.Outbox, err = scanOutbox(r, append(e.dest(), sub.dest()...)...); err != nil {
		return store.OutboxItem{}, err
	}
	it.Event = e.event()
	if it.Subscription, err = sub.subscription(); err != nil {
		return store.OutboxItem{}, err
	}
	return it, nil
}

// scanOutbox reads outboxCols, then any more destinations.
func scanOutbox(r pgx.Row, more ...any) (store.Outbox, error) {
	var o store.Outbox
	dest := []any{&o.ID, &o.EventID, &o.SubscriptionID, &o.OrgID, &o.AppKey, &o.Seq, &o.Status,
		&o.Attempts, &o.NextAttemptAt, &o.LastError, &o.LastStatus, &o.LeaseOwner, &o.LeaseUntil, &o.DeliveredAt}
	if err := r.Scan(append(dest, more...)...); err != nil {
		return store.Outbox{}, err
	}
	o.NextAttemptAt = o.NextAttemptAt.UTC()
	o.LeaseUntil = utcPtr(o.LeaseUntil)
	o.DeliveredAt = utcPtr(o.DeliveredAt)
	return o, nil
}

// FinishOutbox records an attempt at a pending job leased to owner and
// releases the lease: delivered (DeliveredAt is r.At), failed, or pending
// again and due at r.Next (r.At when zero). ErrConflict when owner does
// not hold the lease, ErrNotFound when there is no such job.
func (s *Store) FinishOutbox(ctx context.Context, id, owner string, r store.OutboxResult) error {
	const op = "postgres: finish outbox"
	next, delivered, err := s.finishArgs(r)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	tag, err := s.pool.Exec(ctx, finishOutboxSQL, r.Status, r.Error, r.HTTPStatus, next, delivered, id, owner)
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	return wrap(op, leaseLost(ctx, s.pool, "outbox", id, owner))
}

// finishOutboxSQL records an attempt at a job leased to owner; its
// parameters are status, error, HTTP status, next attempt and delivery
// time (either may be NULL, keeping the column), id and owner.
const finishOutboxSQL = `UPDATE outbox SET status = $1, attempts = attempts + 1,
		last_error = $2, last_status = $3, next_attempt_at = coalesce($4, next_attempt_at),
		delivered_at = coalesce($5, delivered_at), lease_owner = '', lease_until = NULL
		WHERE id = $6 AND status = 'pending' AND lease_owner = $7 AND lease_owner <> ''`

// finishArgs is the next attempt and delivery time finishOutboxSQL sets
// for r: due at r.Next (r.At when zero) if pending, delivered at r.At.
func (s *Store) finishArgs(r store.OutboxResult) (next, delivered *time.Time, err error) {
	at := ts(s.orNow(r.At))
	switch r.Status {
	case store.OutboxPending:
		next = &at
		if !r.Next.IsZero() {
			next = new(ts(r.Next))
		}
	case store.OutboxDelivered:
		delivered = &at
	case store.OutboxFailed:
	default:
		return nil, nil, fmt.Errorf("unknown status %q", r.Status)
	}
	return next, delivered, nil
}

// ListEvents pages an organization's events newest first (by seq), each
// with its jobs by subscription id; the cursor is the last seq.
func (s *Store) ListEvents(ctx context.Context, orgID string, p store.Page) ([]store.EventStatus, string, error) {
	const op = "postgres: list events"
	limit := p.Size()
	before := int64(math.MaxInt64)
	if p.After != "" {
		n, err := strconv.ParseInt(p.After, 10, 64)
		if err != nil || n <= 0 {
			return nil, "", fmt.Errorf("%s: %w", op, store.ErrInvalidCursor)
		}
		before = n
	}
	rows, err := s.pool.Query(ctx, `SELECT `+eventCols+` FROM events
		WHERE org_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`, orgID, before, limit+1)
	if err != nil {
		return nil, "", wrap(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.EventStatus, error) {
		var x rawEvent
		err := r.Scan(x.dest()...)
		return store.EventStatus{Event: x.event()}, err
	})
	if err != nil {
		return nil, "", wrap(op, err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = strconv.FormatInt(out[limit-1].Event.Seq, 10)
	}
	if len(out) == 0 {
		return nil, "", nil
	}
	ids := make([]string, len(out))
	index := make(map[string]int, len(out))
	for i, es := range out {
		ids[i] = es.Event.ID
		index[es.Event.ID] = i
	}
	// An event's jobs are inserted with it, so none can be missing here.
	rows, err = s.pool.Query(ctx, `SELECT `+outboxCols+` FROM outbox
		WHERE event_id = ANY($1) ORDER BY event_id, subscription_id`, ids)
	if err != nil {
		return nil, "", wrap(op, err)
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Outbox, error) { return scanOutbox(r) })
	if err != nil {
		return nil, "", wrap(op, err)
	}
	for _, o := range jobs {
		i := index[o.EventID]
		out[i].Deliveries = append(out[i].Deliveries, o)
	}
	return out, next, nil
}

// ReplayEvent makes every job of an event of orgID pending, with no
// attempts, no lease and no delivery time, due at now; a worker sending
// one of them loses its lease. ErrNotFound when orgID has no such event.
func (s *Store) ReplayEvent(ctx context.Context, orgID, eventID string, now time.Time) error {
	var found int
	err := s.pool.QueryRow(ctx, `WITH e AS (SELECT id FROM events WHERE id = $1 AND org_id = $2),
			u AS (UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $3,
				lease_owner = '', lease_until = NULL, delivered_at = NULL
				WHERE event_id IN (SELECT id FROM e) RETURNING 1)
		SELECT count(*) FROM e`, eventID, orgID, ts(s.orNow(now))).Scan(&found)
	if err == nil && found == 0 {
		err = pgx.ErrNoRows
	}
	return wrap("postgres: replay event", err)
}
