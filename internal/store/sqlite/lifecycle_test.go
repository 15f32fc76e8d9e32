package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/gitaccess/gitaccess/internal/store/storetest"
)

// TestJobReplicas: two processes on one database file race for a due
// periodic job (the revalidation sweep); exactly one runs it.
func TestJobReplicas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gitaccess.db")
	storetest.RunJobReplicas(t, open(t, path), open(t, path))
}
