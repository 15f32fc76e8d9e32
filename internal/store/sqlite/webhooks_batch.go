package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

// The batch forms of the webhook hot path. SQLite has one writer: every
// transaction the receiver, the router and the dispatcher start queues
// for it, so doing many rows per transaction, with each statement parsed
// once per batch, is what lets them keep up with each other.

// RecordDeliveries stores each of ds as RecordDelivery does, in order, in
// one transaction on the prepared statement. A later delivery with an
// earlier one's (hook, delivery id) counts a duplicate on it.
func (s *Store) RecordDeliveries(ctx context.Context, ds []store.Delivery) ([]store.Recorded, error) {
	const op = "sqlite: record deliveries"
	if len(ds) == 0 {
		return nil, nil
	}
	out := make([]store.Recorded, 0, len(ds))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		rec, body := tx.StmtContext(ctx, s.record), tx.StmtContext(ctx, s.recordBody)
		defer rec.Close()
		defer body.Close()
		for _, d := range ds {
			r, err := s.recordIn(ctx, tx, rec, body, d)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, wrapRef(op, "organization or application", err)
	}
	return out, nil
}

// CompleteDeliveries records each verdict as CompleteDelivery does and
// enqueues the events of those still leased to owner, in order, in one
// transaction; the others are returned in lost.
func (s *Store) CompleteDeliveries(ctx context.Context, owner string, cs []store.Completion) ([]string, error) {
	const op = "sqlite: complete deliveries"
	if owner == "" {
		return nil, fmt.Errorf("%s: no lease owner", op)
	}
	if err := s.prepare(ctx, completeSQL, insertEventSQL, insertJobSQL); err != nil {
		return nil, wrap(op, err)
	}
	var lost []string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		lost = nil
		stmt, err := s.txStmt(ctx, tx, completeSQL)
		if err != nil {
			return err
		}
		defer stmt.Close()
		var events []store.NewEvent
		for _, c := range cs {
			res, err := stmt.ExecContext(ctx, c.Verdict, c.Detail, fmtTime(s.orNow(c.At)), c.ID, owner)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if n == 0 {
				lost = append(lost, c.ID)
				continue
			}
			events = append(events, c.Events...)
		}
		return s.insertEvents(ctx, tx, events)
	})
	if err != nil {
		return nil, wrapRef(op, "organization or subscription", err)
	}
	return lost, nil
}

// ClaimOutboxRuns leases up to chains chain heads, as ClaimOutbox picks
// them, each with the next perChain-1 pending jobs of its chain while they
// are due and unleased, in one transaction; then reads them through the
// readers, grouped by chain in seq order.
func (s *Store) ClaimOutboxRuns(ctx context.Context, owner string, now, leaseUntil time.Time, chains, perChain int) ([]store.OutboxItem, error) {
	const op = "sqlite: claim outbox runs"
	if owner == "" {
		return nil, fmt.Errorf("%s: no lease owner", op)
	}
	if chains <= 0 || perChain <= 0 {
		return nil, nil
	}
	type head struct {
		id, sub, key string
		seq          int64
	}
	if err := s.prepare(ctx, headsSQL, runNextSQL, leaseRunSQL); err != nil {
		return nil, wrap(op, err)
	}
	var ids []string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ids = nil
		heads, err := s.txStmt(ctx, tx, headsSQL)
		if err != nil {
			return err
		}
		defer heads.Close()
		rows, err := heads.QueryContext(ctx, fmtTime(now), fmtTime(now), chains)
		if err != nil {
			return err
		}
		var hs []head
		for rows.Next() {
			var h head
			if err := rows.Scan(&h.id, &h.sub, &h.key, &h.seq); err != nil {
				rows.Close()
				return err
			}
			hs = append(hs, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(hs) == 0 {
			return err
		}
		next, err := s.txStmt(ctx, tx, runNextSQL)
		if err != nil {
			return err
		}
		defer next.Close()
		for _, h := range hs {
			ids = append(ids, h.id)
			if perChain == 1 {
				continue
			}
			rows, err := next.QueryContext(ctx, fmtTime(now), fmtTime(now), h.sub, h.key, h.seq, perChain-1)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id string
				var ready bool
				if err := rows.Scan(&id, &ready); err != nil {
					rows.Close()
					return err
				}
				if !ready {
					break // a gap would reorder the chain
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		list, err := encodeList(ids)
		if err != nil {
			return err
		}
		lease, err := s.txStmt(ctx, tx, leaseRunSQL)
		if err != nil {
			return err
		}
		defer lease.Close()
		_, err = lease.ExecContext(ctx, owner, fmtTime(leaseUntil), list)
		return err
	})
	if err != nil || len(ids) == 0 {
		return nil, wrap(op, err)
	}
	list, err := encodeList(ids)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	read, err := s.readStmt(ctx, `SELECT `+outboxItemCols+`
		FROM outbox o JOIN events e ON e.id = o.event_id JOIN subscriptions s ON s.id = o.subscription_id
		WHERE o.id IN (SELECT value FROM json_each(?)) AND o.lease_owner = ?
		ORDER BY o.subscription_id, o.app_key, o.seq`)
	if err != nil {
		return nil, wrap(op, err)
	}
	rows, err := read.QueryContext(ctx, list, owner)
	if err != nil {
		return nil, wrap(op, err)
	}
	out, err := scanOutboxItems(rows)
	return out, wrap(op, err)
}

// FinishOutboxes records each attempt as FinishOutbox does, or releases
// the job, in one transaction; jobs owner does not hold are returned in
// lost.
func (s *Store) FinishOutboxes(ctx context.Context, owner string, fs []store.OutboxFinish) ([]string, error) {
	const op = "sqlite: finish outboxes"
	if owner == "" {
		return nil, fmt.Errorf("%s: no lease owner", op)
	}
	args := make([][]any, len(fs))
	for i, f := range fs {
		if f.Release {
			continue
		}
		next, delivered, err := s.finishArgs(f.Result)
		if err != nil {
			return nil, fmt.Errorf("%s: job %s: %w", op, f.ID, err)
		}
		r := f.Result
		args[i] = []any{r.Status, r.Error, r.HTTPStatus, next, delivered, f.ID, owner}
	}
	if err := s.prepare(ctx, finishOutboxSQL, releaseSQL); err != nil {
		return nil, wrap(op, err)
	}
	var lost []string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		lost = nil
		finish, err := s.txStmt(ctx, tx, finishOutboxSQL)
		if err != nil {
			return err
		}
		defer finish.Close()
		release, err := s.txStmt(ctx, tx, releaseSQL)
		if err != nil {
			return err
		}
		defer release.Close()
		for i, f := range fs {
			var res sql.Result
			if f.Release {
				res, err = release.ExecContext(ctx, f.ID, owner)
			} else {
				res, err = finish.ExecContext(ctx, args[i]...)
			}
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if n == 0 {
				lost = append(lost, f.ID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return lost, nil
}

// completeSQL records the verdict of a delivery leased to an owner.
const completeSQL = `UPDATE deliveries SET verdict = ?, detail = ?, processed_at = ?,
			lease_owner = '', lease_until = NULL
			WHERE id = ? AND verdict = 'pending' AND lease_owner = ?`

// headsSQL finds the due, unleased chain heads of the outbox: each
// chain's lowest pending seq, found by grouping the pending chain index.
const headsSQL = `SELECT o.id, o.subscription_id, o.app_key, o.seq FROM
				(SELECT subscription_id, app_key, MIN(seq) AS seq FROM outbox
					WHERE status = 'pending' GROUP BY subscription_id, app_key) h
				JOIN outbox o ON o.subscription_id = h.subscription_id AND o.app_key = h.app_key
					AND o.seq = h.seq AND o.status = 'pending'
			WHERE o.next_attempt_at <= ? AND (o.lease_until IS NULL OR o.lease_until <= ?)
			ORDER BY o.next_attempt_at, o.seq, o.id LIMIT ?`

// runNextSQL lists the pending jobs behind a chain head, each with
// whether it is due and unleased.
const runNextSQL = `SELECT id, next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
			FROM outbox WHERE subscription_id = ? AND app_key = ? AND status = 'pending' AND seq > ?
			ORDER BY seq LIMIT ?`

// leaseRunSQL leases the jobs of a JSON array of ids.
const leaseRunSQL = `UPDATE outbox SET lease_owner = ?, lease_until = ?
			WHERE id IN (SELECT value FROM json_each(?))`

// releaseSQL gives a job leased to an owner back untried.
const releaseSQL = `UPDATE outbox SET lease_owner = '', lease_until = NULL
			WHERE id = ? AND status = 'pending' AND lease_owner = ? AND lease_owner <> ''`
