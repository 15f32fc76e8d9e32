package storetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresEnv names the variable holding a DSN to a PostgreSQL database
// whose user may create databases.
const PostgresEnv = "GITACCESS_TEST_POSTGRES_URL"

// PostgresDSN creates an empty database for one test (dropped when it ends)
// and returns its DSN. Without PostgresEnv the test is skipped, except under
// CI, where a skipped engine would pass unnoticed, so it fails.
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	admin := os.Getenv(PostgresEnv)
	if admin == "" {
		if os.Getenv("CI") != "" {
			tb.Fatalf("PostgreSQL is required under CI (CI=%q) but %s is not set; "+
				"run `eval \"$(.ci/postgres.sh)\"` first: it installs and starts a throwaway server and exports %s",
				os.Getenv("CI"), PostgresEnv, PostgresEnv)
		}
		tb.Skipf("set %s to a PostgreSQL DSN that may create databases to run the PostgreSQL tests "+
			"(`eval \"$(.ci/postgres.sh)\"` starts a throwaway server)", PostgresEnv)
	}
	name := "gitaccess_test_" + strings.ToLower(rand.Text()[:16])
	if err := adminExec(admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		// FORCE ends sessions a failed test left open.
		if err := adminExec(admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(admin, name)
	if err != nil {
		tb.Fatal(err)
	}
	return dsn
}

// adminExec runs one statement on the admin database. It has its own
// deadline: cleanups run after the test's context is cancelled.
func adminExec(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase points a URL or keyword/value DSN at database name.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("%s is not a valid URL", PostgresEnv) // the error would echo the password
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// In keyword/value form the last setting of a keyword wins.
	return dsn + " dbname=" + name, nil
}
