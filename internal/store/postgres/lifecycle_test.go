package postgres_test

import (
	"testing"

	"github.com/gitaccess/gitaccess/internal/store/storetest"
)

// TestJobReplicas: two replicas on one database race for a due periodic
// job (the revalidation sweep); exactly one runs it.
func TestJobReplicas(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	storetest.RunJobReplicas(t, open(t, dsn), open(t, dsn))
}
