// Package bench holds the end-to-end benchmarks: gitaccess against
// plain git doing the same work, on the same machine, in the same run, so
// each figure is a ratio against its baseline rather than an absolute time.
// It has no tests; run it with -bench (see README.md).
package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		_ = os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// bins are gitaccess and git-credential-gitaccess built as released
// (CGO_ENABLED=0, which also spares every start the dynamic loader), side
// by side as installed, once per run.
var bins struct {
	once sync.Once
	dir  string
	err  error
	out  []byte
}

// binaries builds them (once) and returns their directory.
func binaries(b *testing.B) string {
	b.Helper()
	bins.once.Do(func() {
		bins.dir, bins.err = os.MkdirTemp("", "gitaccess-bench-bin-")
		if bins.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", bins.dir+string(filepath.Separator),
			"github.com/gitaccess/gitaccess/cmd/gitaccess", "github.com/gitaccess/gitaccess/cmd/git-credential-gitaccess")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		bins.out, bins.err = cmd.CombinedOutput()
	})
	if bins.err != nil {
		b.Fatalf("building gitaccess and git-credential-gitaccess: %v\n%s", bins.err, bins.out)
	}
	return bins.dir
}
