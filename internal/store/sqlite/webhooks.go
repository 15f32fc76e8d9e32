package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

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
	_, err := s.w.ExecContext(ctx, `INSERT INTO hooks (`+hookCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		h.ID, h.OrgID, h.AppID, h.Provider, h.ProviderHookID, h.URL, blob(h.Sealed), h.State,
		h.StateDetail, fmtTimePtr(h.CheckedAt), fmtTime(created), fmtTime(updated), h.Version)
	return wrapRef("sqlite: create hook", "organization or application", err)
}

// GetHook finds a hook by id in any organization.
func (s *Store) GetHook(ctx context.Context, id string) (store.Hook, error) {
	h, err := scanHook(s.r.QueryRowContext(ctx, `SELECT `+hookCols+` FROM hooks WHERE id = ?`, id))
	return h, wrap("sqlite: get hook", err)
}

// GetHookByApp finds an application's hook.
func (s *Store) GetHookByApp(ctx context.Context, orgID, appID string) (store.Hook, error) {
	h, err := scanHook(s.r.QueryRowContext(ctx,
		`SELECT `+hookCols+` FROM hooks WHERE app_id = ? AND org_id = ?`, appID, orgID))
	return h, wrap("sqlite: get hook by app", err)
}

// UpdateHook writes h where its id, organization and version match, and
// bumps the version; ErrConflict when the version is stale, ErrNotFound
// when the hook is gone. The application and CreatedAt are kept; a nil
// Sealed keeps the secret.
func (s *Store) UpdateHook(ctx context.Context, h store.Hook) (store.Hook, error) {
	const op = "sqlite: update hook"
	got, err := scanHook(s.w.QueryRowContext(ctx, `UPDATE hooks SET
		provider = ?, provider_hook_id = ?, url = ?, sealed = coalesce(?, sealed), state = ?,
		state_detail = ?, checked_at = ?, updated_at = ?, version = version + 1
		WHERE id = ? AND org_id = ? AND version = ?
		RETURNING `+hookCols,
		h.Provider, h.ProviderHookID, h.URL, blob(h.Sealed), h.State, h.StateDetail,
		fmtTimePtr(h.CheckedAt), fmtTime(s.orNow(h.UpdatedAt)), h.ID, h.OrgID, h.Version))
	if err == nil {
		return got, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return store.Hook{}, wrap(op, err)
	}
	var v int64
	err = s.r.QueryRowContext(ctx, `SELECT version FROM hooks WHERE id = ? AND org_id = ?`, h.ID, h.OrgID).Scan(&v)
	if err != nil {
		return store.Hook{}, wrap(op, err)
	}
	return store.Hook{}, fmt.Errorf("%s: version %d is stale (now %d): %w", op, h.Version, v, store.ErrConflict)
}

// DeleteHook deletes a hook of orgID; its deliveries stay.
func (s *Store) DeleteHook(ctx context.Context, orgID, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM hooks WHERE org_id = ? AND id = ?`, orgID, id)
	if err != nil {
		return wrap("sqlite: delete hook", err)
	}
	return mustAffect("sqlite: delete hook", res)
}

func scanHook(r scanner) (store.Hook, error) {
	var h store.Hook
	var checked sql.NullString
	var created, updated string
	if err := r.Scan(&h.ID, &h.OrgID, &h.AppID, &h.Provider, &h.ProviderHookID, &h.URL, &h.Sealed,
		&h.State, &h.StateDetail, &checked, &created, &updated, &h.Version); err != nil {
		return store.Hook{}, err
	}
	var err error
	if h.CheckedAt, err = parseTimePtr(checked); err != nil {
		return store.Hook{}, err
	}
	if h.CreatedAt, err = parseTime(created); err != nil {
		return store.Hook{}, err
	}
	if h.UpdatedAt, err = parseTime(updated); err != nil {
		return store.Hook{}, err
	}
	return h, nil
}

// deliveryCols is every column of deliveries but body, in scanDelivery's
// order (which reads a body expression after them).
const deliveryCols = `id, org_id, hook_id, app_id, provider, delivery_id, event, received_at, headers,
	verdict, detail, duplicates, processed_at, lease_owner, lease_until`

// recordDeliverySQL inserts a delivery unless its hook already has one
// with its non-empty provider id; recordDupSQL then counts a duplicate on
// that one and returns it, body included. The new row is not read back:
// a RETURNING on every insert (SQLite gathers its rows apart, and each
// was scanned and its times parsed) cost a large share of a receipt,
// for a row the caller already has. The body goes to delivery_bodies
// (recordBodySQL), in the same transaction.
const (
	recordDeliverySQL = `INSERT INTO deliveries (` + deliveryCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (hook_id, delivery_id) WHERE delivery_id <> '' DO NOTHING`
	recordDupSQL = `UPDATE deliveries SET duplicates = duplicates + 1
	WHERE hook_id = ? AND delivery_id = ? AND delivery_id <> ''
	RETURNING ` + deliveryCols + `, ` + bodyOf
)

// recordBodySQL stores a new delivery's body.
const recordBodySQL = `INSERT INTO delivery_bodies (id, body) VALUES (?, ?)`

// bodyOf is the body of the deliveries row in scope.
const bodyOf = `(SELECT body FROM delivery_bodies b WHERE b.id = deliveries.id)`

// RecordDelivery stores d in one transaction, committed (to the WAL) when
// it returns. With synchronous=NORMAL a committed delivery survives the
// process being killed, not a power loss. A redelivery (same hook, same
// non-empty DeliveryID) only counts a duplicate on the stored row, which
// is returned with dup true. An empty Verdict is pending.
func (s *Store) RecordDelivery(ctx context.Context, d store.Delivery) (store.Delivery, bool, error) {
	const op = "sqlite: record delivery"
	var got store.Recorded
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rec, body := tx.StmtContext(ctx, s.record), tx.StmtContext(ctx, s.recordBody)
		defer rec.Close()
		defer body.Close()
		var err error
		got, err = s.recordIn(ctx, tx, rec, body, d)
		return err
	})
	if err != nil {
		return store.Delivery{}, false, wrapRef(op, "organization or application", err)
	}
	return got.Stored, got.Dup, nil
}

// recordIn is RecordDelivery on the statements of transaction tx.
func (s *Store) recordIn(ctx context.Context, tx *sql.Tx, rec, body *sql.Stmt, d store.Delivery) (store.Recorded, error) {
	if d.Verdict == "" {
		d.Verdict = verdictPending
	}
	received := fmtTime(s.orNow(d.ReceivedAt))
	res, err := rec.ExecContext(ctx,
		d.ID, d.OrgID, d.HookID, nullString(d.AppID), d.Provider, d.DeliveryID, d.Event,
		received, jsonText(d.Headers), d.Verdict, d.Detail, d.Duplicates,
		fmtTimePtr(d.ProcessedAt), d.LeaseOwner, fmtTimePtr(d.LeaseUntil))
	if err != nil {
		return store.Recorded{}, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return store.Recorded{}, err
	}
	if n == 0 {
		got, err := scanDelivery(tx.QueryRowContext(ctx, recordDupSQL, d.HookID, d.DeliveryID))
		if err != nil {
			return store.Recorded{}, err
		}
		return store.Recorded{Stored: got, Dup: true}, nil
	}
	if len(d.Body) > 0 {
		if _, err := body.ExecContext(ctx, d.ID, d.Body); err != nil {
			return store.Recorded{}, err
		}
	}
	// The row as stored and as scanDelivery would read it back.
	got := d
	if got.ReceivedAt, err = parseTime(received); err != nil {
		return store.Recorded{}, err
	}
	if len(got.Headers) == 0 {
		got.Headers = nil
	}
	if len(got.Body) == 0 {
		got.Body = nil
	}
	for _, t := range []**time.Time{&got.ProcessedAt, &got.LeaseUntil} {
		if *t != nil {
			u, err := parseTime(fmtTime(**t))
			if err != nil {
				return store.Recorded{}, err
			}
			*t = &u
		}
	}
	return store.Recorded{Stored: got}, nil
}

// ClaimDeliveries leases up to n pending deliveries whose lease is free or
// ended at now, oldest first, to owner until leaseUntil. The claim is one
// statement on the single writer; the rows, bodies included, are read
// after it through the readers, so large bodies do not hold up writers.
func (s *Store) ClaimDeliveries(ctx context.Context, owner string, now, leaseUntil time.Time, n int) ([]store.Delivery, error) {
	const op = "sqlite: claim deliveries"
	if owner == "" {
		return nil, fmt.Errorf("%s: no lease owner", op)
	}
	if n <= 0 {
		return nil, nil
	}
	ids, err := s.claimIDs(ctx, `UPDATE deliveries SET lease_owner = ?, lease_until = ?
		WHERE id IN (SELECT id FROM deliveries
			WHERE verdict = 'pending' AND (lease_until IS NULL OR lease_until <= ?)
			ORDER BY received_at, id LIMIT ?)
		RETURNING id`, owner, fmtTime(leaseUntil), fmtTime(now), n)
	if err != nil || len(ids) == 0 {
		return nil, wrap(op, err)
	}
	read, err := s.readStmt(ctx, `SELECT `+deliveryCols+`, `+bodyOf+` FROM deliveries
		WHERE id IN (SELECT value FROM json_each(?)) AND lease_owner = ?
		ORDER BY received_at, id`)
	if err != nil {
		return nil, wrap(op, err)
	}
	rows, err := read.QueryContext(ctx, ids, owner)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []store.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, d)
	}
	return out, wrap(op, rows.Err())
}

// claimIDs runs a claiming UPDATE ... RETURNING id and returns the ids as
// a JSON array for json_each ("" when none).
func (s *Store) claimIDs(ctx context.Context, q string, args ...any) (string, error) {
	st, err := s.wstmts.get(ctx, s.w, q)
	if err != nil {
		return "", err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return "", err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return "", err
	}
	return encodeList(ids)
}

// CompleteDelivery records the verdict of a pending delivery leased to
// owner, releases the lease and enqueues events, in one transaction.
// ErrConflict when owner does not hold the lease (it was reclaimed, or the
// delivery is already complete), ErrNotFound when there is no such
// delivery. A lease that ended but was not reclaimed still counts.
func (s *Store) CompleteDelivery(ctx context.Context, id, owner, verdict, detail string, at time.Time, events []store.NewEvent) error {
	const op = "sqlite: complete delivery"
	if err := s.prepare(ctx, insertEventSQL, insertJobSQL); err != nil {
		return wrap(op, err)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET verdict = ?, detail = ?, processed_at = ?,
			lease_owner = '', lease_until = NULL
			WHERE id = ? AND verdict = 'pending' AND lease_owner = ? AND lease_owner <> ''`,
			verdict, detail, fmtTime(s.orNow(at)), id, owner)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			return leaseLost(ctx, tx, "deliveries", id, owner)
		}
		return s.insertEvents(ctx, tx, events)
	})
	return wrapRef(op, "organization or subscription", err)
}

// queryRower is a *sql.DB or a *sql.Tx.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// leaseLost explains why a row of table (deliveries or outbox) was not
// changed for owner: ErrNotFound or ErrConflict.
func leaseLost(ctx context.Context, q queryRower, table, id, owner string) error {
	var holder string
	err := q.QueryRowContext(ctx, `SELECT lease_owner FROM `+table+` WHERE id = ?`, id).Scan(&holder)
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
	const op = "sqlite: list deliveries"
	limit := p.Size()
	q := `SELECT ` + deliveryCols + `, NULL FROM deliveries WHERE app_id = ? AND org_id = ?`
	args := []any{appID, orgID}
	if p.After != "" {
		at, id, err := store.ParseAuditCursor(p.After)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", op, err)
		}
		q += ` AND (received_at, id) < (?, ?)`
		args = append(args, fmtTime(at), id)
	}
	q += ` ORDER BY received_at DESC, id DESC LIMIT ?`
	rows, err := s.r.QueryContext(ctx, q, append(args, limit+1)...)
	if err != nil {
		return nil, "", wrap(op, err)
	}
	defer rows.Close()
	var out []store.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, "", wrap(op, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", wrap(op, err)
	}
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		return out, store.AuditCursor(last.ReceivedAt, last.ID), nil
	}
	return out, "", nil
}

// scanDelivery reads deliveryCols and then a body.
func scanDelivery(r scanner) (store.Delivery, error) {
	var d store.Delivery
	var app, headers, processed, until sql.NullString
	var received string
	if err := r.Scan(&d.ID, &d.OrgID, &d.HookID, &app, &d.Provider, &d.DeliveryID, &d.Event, &received,
		&headers, &d.Verdict, &d.Detail, &d.Duplicates, &processed, &d.LeaseOwner, &until, &d.Body); err != nil {
		return store.Delivery{}, err
	}
	d.AppID = app.String
	if headers.Valid {
		d.Headers = []byte(headers.String)
	}
	var err error
	if d.ReceivedAt, err = parseTime(received); err != nil {
		return store.Delivery{}, err
	}
	if d.ProcessedAt, err = parseTimePtr(processed); err != nil {
		return store.Delivery{}, err
	}
	if d.LeaseUntil, err = parseTimePtr(until); err != nil {
		return store.Delivery{}, err
	}
	return d, nil
}

const subscriptionCols = `id, org_id, url, events, sealed, created_at`

// CreateSubscription inserts sub; ErrConflict when its id is taken,
// ErrNotFound when its organization does not exist.
func (s *Store) CreateSubscription(ctx context.Context, sub store.Subscription) error {
	events, err := encodeList(sub.Events)
	if err != nil {
		return fmt.Errorf("sqlite: create subscription: %w", err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO subscriptions (`+subscriptionCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		sub.ID, sub.OrgID, sub.URL, events, blob(sub.Sealed), fmtTime(s.orNow(sub.CreatedAt)))
	return wrap("sqlite: create subscription", err)
}

// ListSubscriptions lists an organization's subscriptions, oldest first,
// with their sealed secrets.
func (s *Store) ListSubscriptions(ctx context.Context, orgID string) ([]store.Subscription, error) {
	const op = "sqlite: list subscriptions"
	rows, err := s.r.QueryContext(ctx, `SELECT `+subscriptionCols+` FROM subscriptions
		WHERE org_id = ? ORDER BY created_at, id`, orgID)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []store.Subscription
	for rows.Next() {
		sub, err := scanSubscription(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, sub)
	}
	return out, wrap(op, rows.Err())
}

// DeleteSubscription deletes a subscription of orgID and its outbox jobs,
// delivered or not.
func (s *Store) DeleteSubscription(ctx context.Context, orgID, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM subscriptions WHERE org_id = ? AND id = ?`, orgID, id)
	if err != nil {
		return wrap("sqlite: delete subscription", err)
	}
	return mustAffect("sqlite: delete subscription", res)
}

func scanSubscription(r scanner) (store.Subscription, error) {
	var x rawSubscription
	if err := r.Scan(x.dest()...); err != nil {
		return store.Subscription{}, err
	}
	return x.subscription()
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
	if err := s.prepare(ctx, insertEventSQL, insertJobSQL); err != nil {
		return wrap("sqlite: enqueue events", err)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error { return s.insertEvents(ctx, tx, events) })
	return wrapRef("sqlite: enqueue events", "organization or subscription", err)
}

// insertEvents is EnqueueEvents within tx.
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, events []store.NewEvent) error {
	if len(events) == 0 {
		return nil
	}
	next, err := allocSeqs(events, func(orgID string, n int64) (int64, error) {
		var top int64
		err := tx.QueryRowContext(ctx, `INSERT INTO event_seqs (org_id, seq) VALUES (?, ?)
			ON CONFLICT (org_id) DO UPDATE SET seq = seq + excluded.seq RETURNING seq`, orgID, n).Scan(&top)
		return top, err
	})
	if err != nil {
		return err
	}
	// Parsed once, however many events and transactions.
	insEvent, err := s.txStmt(ctx, tx, insertEventSQL)
	if err != nil {
		return err
	}
	defer insEvent.Close()
	insJob, err := s.txStmt(ctx, tx, insertJobSQL)
	if err != nil {
		return err
	}
	defer insJob.Close()
	for _, ne := range events {
		e := ne.Event
		seq := next[e.OrgID]
		next[e.OrgID]++
		created := fmtTime(s.orNow(e.CreatedAt))
		if _, err := insEvent.ExecContext(ctx, e.ID, e.OrgID, e.AppID, e.Type, jsonText(e.Payload), created, seq); err != nil {
			return err
		}
		for _, sub := range uniq(ne.Subscriptions) {
			if _, err := insJob.ExecContext(ctx, store.NewSortableID("obx", s.orNow(e.CreatedAt)), e.ID, sub, e.OrgID, e.AppID, seq, created); err != nil {
				return err
			}
		}
	}
	return nil
}

// insertEventSQL and insertJobSQL insert an event and one of its jobs.
const (
	insertEventSQL = `INSERT INTO events (` + eventCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)`
	insertJobSQL   = `INSERT INTO outbox
		(id, event_id, subscription_id, org_id, app_key, seq, next_attempt_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`
)

// allocSeqs reserves, with bump, a block of sequence numbers for each
// organization of events, in id order, and returns the first of each block.
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
// each chain), in due order, with their events and subscriptions.
func (s *Store) ClaimOutbox(ctx context.Context, owner string, now, leaseUntil time.Time, n int) ([]store.OutboxItem, error) {
	const op = "sqlite: claim outbox"
	if owner == "" {
		return nil, fmt.Errorf("%s: no lease owner", op)
	}
	if n <= 0 {
		return nil, nil
	}
	// Only a chain's head (its lowest pending seq) may go out. Finding the
	// heads by grouping the pending chain index costs one index pass; the
	// former per-row NOT EXISTS probe cost a probe per pending row on
	// every claim, on the single writer, and dominated under a backlog.
	ids, err := s.claimIDs(ctx, `UPDATE outbox SET lease_owner = ?, lease_until = ?
		WHERE id IN (SELECT o.id FROM
				(SELECT subscription_id, app_key, MIN(seq) AS seq FROM outbox
					WHERE status = 'pending' GROUP BY subscription_id, app_key) h
				JOIN outbox o ON o.subscription_id = h.subscription_id AND o.app_key = h.app_key
					AND o.seq = h.seq AND o.status = 'pending'
			WHERE o.next_attempt_at <= ? AND (o.lease_until IS NULL OR o.lease_until <= ?)
			ORDER BY o.next_attempt_at, o.seq, o.id LIMIT ?)
		RETURNING id`, owner, fmtTime(leaseUntil), fmtTime(now), fmtTime(now), n)
	if err != nil || len(ids) == 0 {
		return nil, wrap(op, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+outboxItemCols+`
		FROM outbox o JOIN events e ON e.id = o.event_id JOIN subscriptions s ON s.id = o.subscription_id
		WHERE o.id IN (SELECT value FROM json_each(?)) AND o.lease_owner = ?
		ORDER BY o.next_attempt_at, o.seq, o.id`, ids, owner)
	if err != nil {
		return nil, wrap(op, err)
	}
	out, err := scanOutboxItems(rows)
	return out, wrap(op, err)
}

// rawEvent receives eventCols.
type rawEvent struct {
	e                store.Event
	payload, created string
}

func (x *rawEvent) dest() []any {
	return []any{&x.e.ID, &x.e.OrgID, &x.e.AppID, &x.e.Type, &x.payload, &x.created, &x.e.Seq}
}

func (x *rawEvent) event() (store.Event, error) {
	e := x.e
	e.Payload = []byte(x.payload)
	var err error
	e.CreatedAt, err = parseTime(x.created)
	return e, err
}

// rawSubscription receives subscriptionCols.
type rawSubscription struct {
	sub             store.Subscription
	events, created string
}

func (x *rawSubscription) dest() []any {
	return []any{&x.sub.ID, &x.sub.OrgID, &x.sub.URL, &x.events, &x.sub.Sealed, &x.created}
}

func (x *rawSubscription) subscription() (store.Subscription, error) {
	sub := x.sub
	var err error
	if sub.Events, err = decodeList(x.events); err != nil {
		return store.Subscription{}, err
	}
	sub.CreatedAt, err = parseTime(x.created)
	return sub, err
}

// scanOutbox reads outboxCols, then any more destinations.
func scanOutbox(r scanner, more ...any) (store.Outbox, error) {
	var o store.Outbox
	var next string
	var until, delivered sql.NullString
	dest := []any{&o.ID, &o.EventID, &o.SubscriptionID, &o.OrgID, &o.AppKey, &o.Seq, &o.Status,
		&o.Attempts, &next, &o.LastError, &o.LastStatus, &o.LeaseOwner, &until, &delivered}
	if err := r.Scan(append(dest, more...)...); err != nil {
		return store.Outbox{}, err
	}
	var err error
	if o.NextAttemptAt, err = parseTime(next); err != nil {
		return store.Outbox{}, err
	}
	if o.LeaseUntil, err = parseTimePtr(until); err != nil {
		return store.Outbox{}, err
	}
	if o.DeliveredAt, err = parseTimePtr(delivered); err != nil {
		return store.Outbox{}, err
	}
	return o, nil
}

// FinishOutbox records an attempt at a pending job leased to owner and
// releases the lease: delivered (DeliveredAt is r.At), failed, or pending
// again and due at r.Next (r.At when zero). ErrConflict when owner does
// not hold the lease, ErrNotFound when there is no such job.
func (s *Store) FinishOutbox(ctx context.Context, id, owner string, r store.OutboxResult) error {
	const op = "sqlite: finish outbox"
	next, delivered, err := s.finishArgs(r)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	res, err := s.w.ExecContext(ctx, finishOutboxSQL, r.Status, r.Error, r.HTTPStatus, next, delivered, id, owner)
	if err != nil {
		return wrap(op, err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return wrap(op, err)
	}
	return wrap(op, leaseLost(ctx, s.r, "outbox", id, owner))
}

// finishOutboxSQL records an attempt at a job leased to owner; its
// parameters are status, error, HTTP status, next attempt and delivery
// time (either may be NULL, keeping the column), id and owner.
const finishOutboxSQL = `UPDATE outbox SET status = ?, attempts = attempts + 1,
		last_error = ?, last_status = ?, next_attempt_at = coalesce(?, next_attempt_at),
		delivered_at = coalesce(?, delivered_at), lease_owner = '', lease_until = NULL
		WHERE id = ? AND status = 'pending' AND lease_owner = ? AND lease_owner <> ''`

// finishArgs is the next attempt and delivery time finishOutboxSQL sets
// for r: due at r.Next (r.At when zero) if pending, delivered at r.At.
func (s *Store) finishArgs(r store.OutboxResult) (next, delivered any, err error) {
	at := s.orNow(r.At)
	switch r.Status {
	case store.OutboxPending:
		next = fmtTime(at)
		if !r.Next.IsZero() {
			next = fmtTime(r.Next)
		}
	case store.OutboxDelivered:
		delivered = fmtTime(at)
	case store.OutboxFailed:
	default:
		return nil, nil, fmt.Errorf("unknown status %q", r.Status)
	}
	return next, delivered, nil
}

// ListEvents pages an organization's events newest first (by seq), each
// with its jobs by subscription id; the cursor is the last seq.
func (s *Store) ListEvents(ctx context.Context, orgID string, p store.Page) ([]store.EventStatus, string, error) {
	const op = "sqlite: list events"
	limit := p.Size()
	before := int64(math.MaxInt64)
	if p.After != "" {
		n, err := strconv.ParseInt(p.After, 10, 64)
		if err != nil || n <= 0 {
			return nil, "", fmt.Errorf("%s: %w", op, store.ErrInvalidCursor)
		}
		before = n
	}
	// One read transaction: the jobs are those of the events read.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, "", wrap(op, err)
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, `SELECT `+eventCols+` FROM events
		WHERE org_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`, orgID, before, limit+1)
	if err != nil {
		return nil, "", wrap(op, err)
	}
	var out []store.EventStatus
	index := map[string]int{}
	for rows.Next() {
		var x rawEvent
		if err := rows.Scan(x.dest()...); err != nil {
			rows.Close()
			return nil, "", wrap(op, err)
		}
		e, err := x.event()
		if err != nil {
			rows.Close()
			return nil, "", wrap(op, err)
		}
		index[e.ID] = len(out)
		out = append(out, store.EventStatus{Event: e})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", wrap(op, err)
	}
	next := ""
	if len(out) > limit {
		delete(index, out[limit].Event.ID)
		out = out[:limit]
		next = strconv.FormatInt(out[limit-1].Event.Seq, 10)
	}
	if len(out) == 0 {
		return nil, "", nil
	}
	ids := make([]string, 0, len(out))
	for _, es := range out {
		ids = append(ids, es.Event.ID)
	}
	list, err := encodeList(ids)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	rows, err = tx.QueryContext(ctx, `SELECT `+outboxCols+` FROM outbox
		WHERE event_id IN (SELECT value FROM json_each(?)) ORDER BY event_id, subscription_id`, list)
	if err != nil {
		return nil, "", wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		o, err := scanOutbox(rows)
		if err != nil {
			return nil, "", wrap(op, err)
		}
		i := index[o.EventID]
		out[i].Deliveries = append(out[i].Deliveries, o)
	}
	if err := rows.Err(); err != nil {
		return nil, "", wrap(op, err)
	}
	return out, next, nil
}

// ReplayEvent makes every job of an event of orgID pending, with no
// attempts, no lease and no delivery time, due at now; a worker sending
// one of them loses its lease. ErrNotFound when orgID has no such event.
func (s *Store) ReplayEvent(ctx context.Context, orgID, eventID string, now time.Time) error {
	const op = "sqlite: replay event"
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM events WHERE id = ? AND org_id = ?`, eventID, orgID).Scan(&one)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE outbox SET status = 'pending', attempts = 0,
			next_attempt_at = ?, lease_owner = '', lease_until = NULL, delivered_at = NULL
			WHERE event_id = ?`, fmtTime(s.orNow(now)), eventID)
		return err
	})
	return wrap(op, err)
}

// scanOutboxItems reads the rows of a SELECT of outboxItemCols and closes
// them.
func scanOutboxItems(rows *sql.Rows) ([]store.OutboxItem, error) {
	defer rows.Close()
	var out []store.OutboxItem
	for rows.Next() {
		var it store.OutboxItem
		var e rawEvent
		var sub rawSubscription
		var err error
		if it.Outbox, err = scanOutbox(rows, append(e.dest(), sub.dest()...)...); err != nil {
			return nil, err
		}
		if it.Event, err = e.event(); err != nil {
			return nil, err
		}
		if it.Subscription, err = sub.subscription(); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}
