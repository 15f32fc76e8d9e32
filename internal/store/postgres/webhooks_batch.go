package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gitaccess/gitaccess/internal/store"
)

// The batch forms of the webhook hot path: many rows per transaction, sent
// as one pgx batch (one round trip) and committed with one WAL flush.

// recordDeliverySQL inserts a delivery or counts a duplicate on the one
// its hook already has with its non-empty provider id, returning the
// stored row (its body only for a duplicate).
const recordDeliverySQL = `INSERT INTO deliveries (` + deliveryCols + `, body)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
	ON CONFLICT (hook_id, delivery_id) WHERE delivery_id <> ''
	DO UPDATE SET duplicates = deliveries.duplicates + 1
	RETURNING ` + deliveryCols + `, CASE WHEN id = $1 THEN NULL ELSE body END`

// RecordDeliveries stores each of ds as RecordDelivery does, in order, in
// one transaction. The statements run one after another, so a later
// delivery with an earlier one's (hook, delivery id) counts a duplicate
// on it.
func (s *Store) RecordDeliveries(ctx context.Context, ds []store.Delivery) ([]store.Recorded, error) {
	const op = "postgres: record deliveries"
	if len(ds) == 0 {
		return nil, nil
	}
	b := &pgx.Batch{}
	for _, d := range ds {
		if d.Verdict == "" {
			d.Verdict = verdictPending
		}
		b.Queue(recordDeliverySQL,
			d.ID, d.OrgID, d.HookID, nullString(d.AppID), d.Provider, d.DeliveryID, d.Event,
			ts(s.orNow(d.ReceivedAt)), nullIfEmpty(d.Headers), d.Verdict, d.Detail, d.Duplicates,
			tsPtr(d.ProcessedAt), d.LeaseOwner, tsPtr(d.LeaseUntil), nullIfEmpty(d.Body))
	}
	// A batch outside a transaction runs as one implicit transaction,
	// committed at its end: atomic, in one round trip.
	out := make([]store.Recorded, 0, len(ds))
	br := s.pool.SendBatch(ctx, b)
	var err error
	for _, d := range ds {
		var got store.Delivery
		if got, err = scanDelivery(br.QueryRow()); err != nil {
			break
		}
		dup := got.ID != d.ID
		if !dup && len(d.Body) > 0 {
			got.Body = d.Body
		}
		out = append(out, store.Recorded{Stored: got, Dup: dup})
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, wrapRef(op, "organization or application", err)
	}
	return out, nil
}

// CompleteDeliveries records each verdict as CompleteDelivery does and
// enqueues the events of those still leased to owner, in order, in one
// transaction; the others are returned in lost.
func (s *Store) CompleteDeliveries(ctx context.Context, owner string, cs []store.Completion) ([]string, error) {
	const op = "postgres: complete deliveries"
	if owner == "" {
		return nil, fmt.Errorf("%s: no lease owner", op)
	}
	if len(cs) == 0 {
		return nil, nil
	}
	var lost []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		lost = nil
		b := &pgx.Batch{}
		for _, c := range cs {
			b.Queue(`UPDATE deliveries SET verdict = $1, detail = $2, processed_at = $3,
				lease_owner = '', lease_until = NULL
				WHERE id = $4 AND verdict = 'pending' AND lease_owner = $5`,
				c.Verdict, c.Detail, ts(s.orNow(c.At)), c.ID, owner)
		}
		br := tx.SendBatch(ctx, b)
		var events []store.NewEvent
		for _, c := range cs {
			tag, err := br.Exec()
			if err != nil {
				_ = br.Close()
				return err
			}
			if tag.RowsAffected() == 0 {
				lost = append(lost, c.ID)
				continue
			}
			events = append(events, c.Events...)
		}
		if err := br.Close(); err != nil {
			return err
		}
		return s.insertEvents(ctx, tx, events)
	})
	if err != nil {
		return nil, wrapRef(op, "organization or subscription", err)
	}
	return lost, nil
}

// ClaimOutboxRuns leases up to chains chain heads, picked as ClaimOutbox
// picks them (SKIP LOCKED, so replicas never share one), each with the next
// perChain-1 pending jobs of its chain while they are due and unleased, in
// one transaction. Only the holder of a head's row lock takes the jobs
// behind it, so those are locked in seq order without skipping, and two
// claimers never split a run.
func (s *Store) ClaimOutboxRuns(ctx context.Context, owner string, now, leaseUntil time.Time, chains, perChain int) ([]store.OutboxItem, error) {
	const op = "postgres: claim outbox runs"
	if owner == "" {
		return nil, fmt.Errorf("%s: no lease owner", op)
	}
	if chains <= 0 || perChain <= 0 {
		return nil, nil
	}
	var out []store.OutboxItem
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		type head struct {
			id, sub, key string
			seq          int64
		}
		// The heads come from one pass over the pending chain index
		// (DISTINCT ON), not a probe for an earlier job per pending job:
		// under a backlog of one chain that probe made each claim walk
		// every pending job. The outer conditions are checked again on a
		// row another claimer changed meanwhile, so a head leased or
		// finished since this statement's snapshot is not taken.
		rows, err := tx.Query(ctx, `SELECT o.id, o.subscription_id, o.app_key, o.seq FROM outbox o
			WHERE o.id IN (SELECT h.id FROM
					(SELECT DISTINCT ON (subscription_id, app_key) id, seq, next_attempt_at, lease_until
						FROM outbox WHERE status = 'pending'
						ORDER BY subscription_id, app_key, seq) h
					WHERE h.next_attempt_at <= $1 AND (h.lease_until IS NULL OR h.lease_until <= $1)
					ORDER BY h.next_attempt_at, h.seq, h.id LIMIT $2)
				AND o.status = 'pending' AND o.next_attempt_at <= $1
				AND (o.lease_until IS NULL OR o.lease_until <= $1)
			FOR UPDATE OF o SKIP LOCKED`, ts(now), chains)
		if err != nil {
			return err
		}
		heads, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (head, error) {
			var h head
			err := r.Scan(&h.id, &h.sub, &h.key, &h.seq)
			return h, err
		})
		if err != nil || len(heads) == 0 {
			return err
		}
		ids := make([]string, 0, len(heads)*perChain)
		for _, h := range heads {
			ids = append(ids, h.id)
		}
		if perChain > 1 {
			b := &pgx.Batch{}
			for _, h := range heads {
				b.Queue(`SELECT id, next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
					FROM outbox WHERE subscription_id = $2 AND app_key = $3 AND status = 'pending' AND seq > $4
					ORDER BY seq LIMIT $5 FOR UPDATE`, ts(now), h.sub, h.key, h.seq, perChain-1)
			}
			br := tx.SendBatch(ctx, b)
			for range heads {
				rows, err := br.Query()
				if err != nil {
					_ = br.Close()
					return err
				}
				for rows.Next() {
					var id string
					var ready bool
					if err := rows.Scan(&id, &ready); err != nil {
						rows.Close()
						_ = br.Close()
						return err
					}
					if !ready {
						break // a gap would reorder the chain
					}
					ids = append(ids, id)
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					_ = br.Close()
					return err
				}
			}
			if err := br.Close(); err != nil {
				return err
			}
		}
		rows, err = tx.Query(ctx, `UPDATE outbox o SET lease_owner = $1, lease_until = $2
			FROM events e, subscriptions s
			WHERE o.id = ANY($3) AND e.id = o.event_id AND s.id = o.subscription_id
			RETURNING `+outboxItemCols, owner, ts(leaseUntil), ids)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanOutboxItem)
		return err
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	slices.SortFunc(out, func(a, b store.OutboxItem) int {
		if c := strings.Compare(a.Outbox.SubscriptionID, b.Outbox.SubscriptionID); c != 0 {
			return c
		}
		if c := strings.Compare(a.Outbox.AppKey, b.Outbox.AppKey); c != 0 {
			return c
		}
		return cmp.Compare(a.Outbox.Seq, b.Outbox.Seq)
	})
	return out, nil
}

// FinishOutboxes records each attempt as FinishOutbox does, or releases
// the job, in one transaction; jobs owner does not hold are returned in
// lost.
func (s *Store) FinishOutboxes(ctx context.Context, owner string, fs []store.OutboxFinish) ([]string, error) {
	const op = "postgres: finish outboxes"
	if owner == "" {
		return nil, fmt.Errorf("%s: no lease owner", op)
	}
	if len(fs) == 0 {
		return nil, nil
	}
	b := &pgx.Batch{}
	for _, f := range fs {
		if f.Release {
			b.Queue(`UPDATE outbox SET lease_owner = '', lease_until = NULL
				WHERE id = $1 AND status = 'pending' AND lease_owner = $2 AND lease_owner <> ''`, f.ID, owner)
			continue
		}
		next, delivered, err := s.finishArgs(f.Result)
		if err != nil {
			return nil, fmt.Errorf("%s: job %s: %w", op, f.ID, err)
		}
		r := f.Result
		b.Queue(finishOutboxSQL, r.Status, r.Error, r.HTTPStatus, next, delivered, f.ID, owner)
	}
	// One implicit transaction, one round trip.
	var lost []string
	br := s.pool.SendBatch(ctx, b)
	var err error
	for _, f := range fs {
		var tag pgconn.CommandTag
		if tag, err = br.Exec(); err != nil {
			break
		}
		if tag.RowsAffected() == 0 {
			lost = append(lost, f.ID)
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, wrap(op, err)
	}
	return lost, nil
}

// WriteConcurrency is how many batches of deliveries the receiver should
// commit at once: PostgreSQL flushes concurrent commits together, and the
// pool has the connections.
func (s *Store) WriteConcurrency() int {
	return max(2, int(s.pool.Config().MaxConns)/4)
}
