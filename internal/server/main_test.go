package server_test

import (
	"context"
	"os"
	"testing"

	"github.com/gitaccess/gitaccess/internal/cli"
)

// TestMain lets git run this test binary as `gitaccess credential ...`:
// the clone tests exercise the real helper, in its own process, the way
// git runs it for a user.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "credential" {
		os.Exit(cli.Execute(context.Background()))
	}
	os.Exit(m.Run())
}
