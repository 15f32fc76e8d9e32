package gitx_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/gitx"
)

// cloneFixture has org/app (a branch, a tag, a submodule on org/lib) and
// org/lib, each visible to its own token only.
func cloneFixture(t *testing.T) (f *fixture, first, head string) {
	f = newFixture(t, forgetest.ConventionGitHub)
	gs := f.gs
	gs.CreateRepo("org/lib")
	gs.Commit("org/lib", map[string]string{"lib.txt": "library\n"}, "lib")
	gs.CreateRepo("org/app")
	first = gs.Commit("org/app", map[string]string{"README.md": "v1\n"}, "first")
	gs.Commit("org/app", map[string]string{"README.md": "v2\n"}, "second")
	gs.Branch("org/app", "release", first)
	gs.Tag("org/app", "v1.0.0", first)
	head = gs.AddSubmodule("org/app", "vendor/lib", "org/lib")
	gs.Grant("ghp_app_token", "org/app")
	gs.Grant("ghp_lib_token", "org/lib")
	f.answer(map[string]helperAnswer{
		"org/app.git": {Username: "x-access-token", Password: "ghp_app_token"},
		"org/lib.git": {Username: "x-access-token", Password: "ghp_lib_token"},
	})
	return f, first, head
}

// assertCleanClone checks what every clone must satisfy: no token in any
// git config of the clone, in any argv, or in the trace of git's children.
func assertCleanClone(t *testing.T, f *fixture, dir string) {
	t.Helper()
	configs := []string{filepath.Join(dir, ".git", "config")}
	more, _ := filepath.Glob(filepath.Join(dir, ".git", "modules", "*", "config"))
	f.assertNoSecret(append(configs, more...), "ghp_app_token", "ghp_lib_token", "ghp_wrong")
}

// assertNothingLeft checks a failed clone left neither Dir nor a
// temporary sibling.
func assertNothingLeft(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists after a failed clone", dir)
	}
	des, _ := os.ReadDir(filepath.Dir(dir))
	for _, de := range des {
		t.Errorf("left behind: %s", de.Name())
	}
}

func TestCloneBranchThroughHelper(t *testing.T) {
	t.Parallel()
	f, first, _ := cloneFixture(t)
	dir := filepath.Join(t.TempDir(), "work", "app")
	var mu sync.Mutex
	var progress []string
	err := f.runner.Clone(context.Background(), gitx.CloneOptions{
		URL: f.gs.URL("org/app"), Dir: dir, Ref: "release", HelperCommand: f.helper,
		Progress: func(l string) { mu.Lock(); progress = append(progress, l); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := gitIn(t, dir, "rev-parse", "HEAD"); got != first {
		t.Errorf("HEAD = %s, want release %s", got, first)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "README.md")); string(b) != "v1\n" {
		t.Errorf("README = %q", b)
	}
	if len(progress) == 0 || !strings.Contains(strings.Join(progress, "\n"), "Cloning into") {
		t.Errorf("no progress lines: %q", progress)
	}
	reqs := f.helperRequests()
	if len(reqs) == 0 || reqs[0].Action != "get" || reqs[0].Path != "org/app.git" || reqs[0].Host != f.gs.Addr {
		t.Errorf("helper requests: %+v", reqs)
	}
	// The helper is not recorded in the clone either.
	if cfg, _ := os.ReadFile(filepath.Join(dir, ".git", "config")); strings.Contains(string(cfg), "helper") {
		t.Errorf(".git/config names a helper:\n%s", cfg)
	}
	assertCleanClone(t, f, dir)
}

func TestCloneShallow(t *testing.T) {
	t.Parallel()
	f, _, head := cloneFixture(t)
	dir := filepath.Join(t.TempDir(), "app")
	if err := f.runner.Clone(context.Background(), gitx.CloneOptions{URL: f.gs.URL("org/app"), Dir: dir, Depth: 1, HelperCommand: f.helper}); err != nil {
		t.Fatal(err)
	}
	if n := gitIn(t, dir, "rev-list", "--count", "HEAD"); n != "1" {
		t.Errorf("depth 1 clone has %s commits", n)
	}
	if got := gitIn(t, dir, "rev-parse", "HEAD"); got != head {
		t.Errorf("HEAD = %s, want %s", got, head)
	}
	assertCleanClone(t, f, dir)
}

func TestCloneTagAndCommit(t *testing.T) {
	t.Parallel()
	f, first, _ := cloneFixture(t)
	for _, ref := range []string{"v1.0.0", first} {
		dir := filepath.Join(t.TempDir(), "app")
		if err := f.runner.Clone(context.Background(), gitx.CloneOptions{URL: f.gs.URL("org/app"), Dir: dir, Ref: ref, HelperCommand: f.helper}); err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if got := gitIn(t, dir, "rev-parse", "HEAD"); got != first {
			t.Errorf("%s: HEAD = %s", ref, got)
		}
		assertCleanClone(t, f, dir)
	}
	err := f.runner.Clone(context.Background(), gitx.CloneOptions{URL: f.gs.URL("org/app"), Dir: filepath.Join(t.TempDir(), "x"), Ref: first, Depth: 1, HelperCommand: f.helper})
	if !errors.Is(err, gitx.ErrInvalidRef) {
		t.Errorf("shallow clone at a SHA: %v", err)
	}
}

func TestCloneSubmodulesEachWithItsOwnToken(t *testing.T) {
	t.Parallel()
	f, _, head := cloneFixture(t)
	dir := filepath.Join(t.TempDir(), "app")
	err := f.runner.Clone(context.Background(), gitx.CloneOptions{URL: f.gs.URL("org/app"), Dir: dir, RecurseSubmodules: true, HelperCommand: f.helper})
	if err != nil {
		t.Fatal(err)
	}
	if got := gitIn(t, dir, "rev-parse", "HEAD"); got != head {
		t.Errorf("HEAD = %s", got)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "vendor", "lib", "lib.txt")); err != nil || string(b) != "library\n" {
		t.Errorf("submodule content: %q, %v", b, err)
	}
	paths := map[string]bool{}
	for _, r := range f.helperRequests() {
		if r.Action == "get" {
			paths[r.Path] = true
		}
		if r.Action == "erase" {
			t.Errorf("git rejected a credential the helper gave for %s", r.Path)
		}
	}
	if !paths["org/app.git"] || !paths["org/lib.git"] {
		t.Errorf("helper asked for %v, want both repositories", paths)
	}
	assertCleanClone(t, f, dir)

	// Same with a commit SHA, which checks out and updates submodules in
	// separate steps.
	dir2 := filepath.Join(t.TempDir(), "app")
	if err := f.runner.Clone(context.Background(), gitx.CloneOptions{URL: f.gs.URL("org/app"), Dir: dir2, Ref: head, RecurseSubmodules: true, HelperCommand: f.helper}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir2, "vendor", "lib", "lib.txt")); err != nil {
		t.Errorf("submodule at SHA: %v", err)
	}
	assertCleanClone(t, f, dir2)
}

func TestCloneRefused(t *testing.T) {
	t.Parallel()
	f, _, _ := cloneFixture(t)
	ctx := context.Background()

	// A wrong token: git asks, is refused, tells the helper to erase.
	f.answer(map[string]helperAnswer{"org/app.git": {Username: "x-access-token", Password: "ghp_wrong"}})
	dir := filepath.Join(t.TempDir(), "app")
	err := f.runner.Clone(ctx, gitx.CloneOptions{URL: f.gs.URL("org/app"), Dir: dir, HelperCommand: f.helper})
	if !errors.Is(err, gitx.ErrAuthFailed) || !strings.Contains(strings.ToLower(err.Error()), "authentication") {
		t.Errorf("wrong token: %v", err)
	}
	if strings.Contains(err.Error(), "ghp_") {
		t.Errorf("error leaks the token: %v", err)
	}
	assertNothingLeft(t, dir)
	var erased bool
	for _, r := range f.helperRequests() {
		erased = erased || r.Action == "erase"
	}
	if !erased {
		t.Errorf("git did not report the refused credential to the helper")
	}

	// A token that cannot see the repository gets "not found", as from
	// the providers.
	f.answer(map[string]helperAnswer{"org/app.git": {Username: "x-access-token", Password: "ghp_lib_token"}})
	dir = filepath.Join(t.TempDir(), "app")
	err = f.runner.Clone(ctx, gitx.CloneOptions{URL: f.gs.URL("org/app"), Dir: dir, HelperCommand: f.helper})
	if !errors.Is(err, gitx.ErrRepoNotFound) {
		t.Errorf("invisible repository: %v", err)
	}
	assertNothingLeft(t, dir)

	// The helper has nothing and says quit.
	f.answer(map[string]helperAnswer{"org/app.git": {Quit: true}})
	dir = filepath.Join(t.TempDir(), "app")
	if err := f.runner.Clone(ctx, gitx.CloneOptions{URL: f.gs.URL("org/app"), Dir: dir, HelperCommand: f.helper}); err == nil {
		t.Errorf("clone succeeded without a credential")
	}
	assertNothingLeft(t, dir)

	// An unknown branch.
	f.answer(map[string]helperAnswer{"org/app.git": {Username: "x-access-token", Password: "ghp_app_token"}})
	dir = filepath.Join(t.TempDir(), "app")
	err = f.runner.Clone(ctx, gitx.CloneOptions{URL: f.gs.URL("org/app"), Dir: dir, Ref: "nope", HelperCommand: f.helper})
	if !errors.Is(err, gitx.ErrRefNotFound) {
		t.Errorf("unknown branch: %v", err)
	}
	assertNothingLeft(t, dir)

	// A non-empty target is refused and left alone; an empty one is used.
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keep"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.runner.Clone(ctx, gitx.CloneOptions{URL: f.gs.URL("org/app"), Dir: dir, HelperCommand: f.helper}); !errors.Is(err, gitx.ErrDirNotEmpty) {
		t.Errorf("non-empty dir: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "keep")); string(b) != "mine" {
		t.Errorf("existing content touched")
	}
	empty := t.TempDir()
	if err := f.runner.Clone(ctx, gitx.CloneOptions{URL: f.gs.URL("org/app"), Dir: empty, HelperCommand: f.helper}); err != nil {
		t.Errorf("empty dir: %v", err)
	}

	for name, u := range map[string]string{
		"token in URL": strings.Replace(f.gs.URL("org/app"), "https://", "https://x:ghp_app_token@", 1),
		"file URL":     "file://" + f.gs.RepoDir("org/app"),
		"ext helper":   "ext::sh -c touch% /tmp/pwned",
	} {
		dir := filepath.Join(t.TempDir(), "app")
		err := f.runner.Clone(ctx, gitx.CloneOptions{URL: u, Dir: dir, HelperCommand: f.helper})
		if !errors.Is(err, gitx.ErrInvalidURL) || strings.Contains(err.Error(), "ghp_") {
			t.Errorf("%s: %v", name, err)
		}
	}
	f.assertNoSecret(nil, "ghp_app_token", "ghp_lib_token", "ghp_wrong")
}

func TestCloneInterruptedLeavesNothing(t *testing.T) {
	t.Parallel()
	f, _, _ := cloneFixture(t)
	gs := f.gs
	gs.CreateRepo("org/big")
	gs.Commit("org/big", randomFiles(8, 256<<10), "2 MiB of noise")
	gs.Grant("ghp_app_token", "org/big")
	f.answer(map[string]helperAnswer{"org/big.git": {Username: "x-access-token", Password: "ghp_app_token"}})

	reached, release := gs.HoldPack("org/big")
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-reached; cancel() }()
	dir := filepath.Join(t.TempDir(), "big")
	err := f.runner.Clone(ctx, gitx.CloneOptions{URL: gs.URL("org/big"), Dir: dir, HelperCommand: f.helper})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted clone: %v, want context.Canceled", err)
	}
	select {
	case <-reached:
	default:
		t.Fatal("the clone ended before the pack was held; nothing was interrupted")
	}
	assertNothingLeft(t, dir)

	// The same clone completes once the server lets it.
	release()
	if err := f.runner.Clone(context.Background(), gitx.CloneOptions{URL: gs.URL("org/big"), Dir: dir, HelperCommand: f.helper}); err != nil {
		t.Fatal(err)
	}
	assertCleanClone(t, f, dir)
}
