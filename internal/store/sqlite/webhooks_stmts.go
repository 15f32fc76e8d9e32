package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmtCache holds the webhook hot path's statements, each prepared once
// per pool: modernc's SQLite parses a statement in Go, and parsing took a
// large share of every claim and completion when each was prepared anew.
// On the writer (one connection) a transaction runs a cached statement
// through tx.StmtContext without preparing it again.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// get returns q prepared on db. The lock is not held while preparing: on
// the writer that waits for its connection, which a transaction looking
// up its statements may hold.
func (c *stmtCache) get(ctx context.Context, db *sql.DB, q string) (*sql.Stmt, error) {
	if st, ok := c.lookup(q); ok {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if had, ok := c.m[q]; ok {
		_ = st.Close()
		return had, nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[q] = st
	return st, nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, st := range c.m {
		errs = append(errs, st.Close())
	}
	c.m = nil
	return errors.Join(errs...)
}

// lookup returns q if it is prepared.
func (c *stmtCache) lookup(q string) (*sql.Stmt, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.m[q]
	return st, ok
}

// prepare prepares qs on the writer, outside any transaction: the
// writer's one connection is the transaction's while it runs, so
// preparing on the pool from inside one would wait for itself.
func (s *Store) prepare(ctx context.Context, qs ...string) error {
	for _, q := range qs {
		if _, err := s.wstmts.get(ctx, s.w, q); err != nil {
			return err
		}
	}
	return nil
}

// txStmt is q for use in tx: the cached statement if prepare made it, else
// prepared in tx. The caller closes it (which leaves a cached statement
// prepared).
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	if st, ok := s.wstmts.lookup(q); ok {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, q)
}

// readStmt is q, prepared once per reader connection.
func (s *Store) readStmt(ctx context.Context, q string) (*sql.Stmt, error) {
	return s.rstmts.get(ctx, s.r, q)
}
