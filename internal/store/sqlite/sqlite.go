// Package sqlite is the embedded store engine: one database file in the data
// directory, pure Go (modernc.org/sqlite, no cgo), for single-instance
// installs.
//
// SQLite allows one writer at a time, so the Store keeps two pools: a single
// writer connection, whose transactions begin IMMEDIATE, so that concurrent
// writers queue in Go instead of failing with SQLITE_BUSY, and a pool of
// read-only connections that WAL lets run beside the writer. The file and
// its WAL and shared-memory files are mode 0600: they hold sealed values.
//
// Required timestamps left zero (CreatedAt, UpdatedAt, At) are stamped with
// the current time; all timestamps are stored in UTC at microsecond
// precision.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gitaccess/gitaccess/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the SQLite implementation of store.Store.
type Store struct {
	w   *sql.DB // exactly one connection: SQLite's one writer
	r   *sql.DB // query_only connections
	log *slog.Logger
	now func() time.Time
	// record and recordBody are RecordDelivery's statements, prepared
	// once on the writer: parsing took a third of the hot path.
	record, recordBody *sql.Stmt
	// wstmts and rstmts cache the webhook hot path's other statements.
	wstmts, rstmts stmtCache
}

var _ store.Store = (*Store)(nil)

// busyTimeout bounds how long a connection waits on another process's lock
// (a CLI command beside the server); writers inside one process never wait
// on SQLite because they share the single writer connection.
const busyTimeout = 10 * time.Second

// Open opens (creating if needed) the database at path and migrates it to
// the current schema.
func Open(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.Default()
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create data directory: %w", err)
	}
	// SQLite creates the WAL and shared-memory files with the database
	// file's mode, so making the database private first covers all three.
	if err := makePrivate(abs, logger); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}

	w, err := sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open writer: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	if err := migrate(ctx, w, logger); err != nil {
		_ = w.Close()
		return nil, err
	}

	r, err := sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open readers: %w", err)
	}
	n := max(4, runtime.NumCPU())
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open readers: %w", err)
	}
	for _, f := range []string{abs + "-wal", abs + "-shm"} {
		if err := os.Chmod(f, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			_ = r.Close()
			_ = w.Close()
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	record, err := w.PrepareContext(ctx, recordDeliverySQL)
	if err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: prepare: %w", err)
	}
	recordBody, err := w.PrepareContext(ctx, recordBodySQL)
	if err != nil {
		_ = record.Close()
		_ = r.Close()
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: prepare: %w", err)
	}
	return &Store{w: w, r: r, log: logger, now: time.Now, record: record, recordBody: recordBody}, nil
}

// makePrivate creates path with mode 0600, or narrows an existing file to it.
func makePrivate(path string, logger *slog.Logger) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	fi, err := f.Stat()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("stat database file: %w", err)
	}
	if fi.Mode().Perm() != 0o600 {
		logger.Warn("database file was readable by others; restricting it to its owner",
			"path", path, "mode", fi.Mode().Perm().String())
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("restrict database file: %w", err)
		}
	}
	return nil
}

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		// Applied after the _pragma list, so it cannot block them.
		q.Set("_query_only", "1")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		// A read-then-write transaction that began DEFERRED could fail
		// to upgrade its lock; IMMEDIATE takes the write lock up front.
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

func migrate(ctx context.Context, db *sql.DB, logger *slog.Logger) error {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys,
		goose.WithSlog(logger), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes both pools; the writer last, so SQLite can checkpoint the WAL
// into the database file when the final connection goes.
func (s *Store) Close() error {
	return errors.Join(s.record.Close(), s.recordBody.Close(), s.wstmts.close(), s.rstmts.close(), s.r.Close(), s.w.Close())
}

// wrap maps constraint violations onto the store's sentinel errors, keeping
// the driver's message for logs.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%s: %w: %w", op, store.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%s: organization %w: %w", op, store.ErrNotFound, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// wrapRef is wrap with the rows a foreign key names, for tables that refer
// to more than the organization.
func wrapRef(op, ref string, err error) error {
	if isForeignKey(err) {
		return fmt.Errorf("%s: %s %w: %w", op, ref, store.ErrNotFound, err)
	}
	return wrap(op, err)
}

func isForeignKey(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

func isConstraintTrigger(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_TRIGGER
}

func isUnique(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE ||
		se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// inTx runs fn in a write transaction, committed when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// mustAffect turns "no row matched" into ErrNotFound.
func mustAffect(op string, res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}
