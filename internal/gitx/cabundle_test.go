package gitx_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/gitx"
)

// withoutTestCA makes f's git trust only the system roots, as on a machine
// that does not know the provider's private CA: the git server's
// certificate is then trusted only through a CA bundle handed to Fetch
// or Clone.
func withoutTestCA(f *fixture) {
	f.runner.Env = slices.DeleteFunc(slices.Clone(f.runner.Env), func(kv string) bool {
		return strings.HasPrefix(kv, "GIT_SSL_CAINFO=")
	})
}

// assertNoCAConfig fails when a git config file names a CA file or turns
// verification off: the bundle reaches git through its environment only.
func assertNoCAConfig(t *testing.T, files ...string) {
	t.Helper()
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if s := strings.ToLower(string(b)); strings.Contains(s, "sslcainfo") || strings.Contains(s, "sslverify") || strings.Contains(s, "begin certificate") {
			t.Errorf("%s configures TLS:\n%s", file, b)
		}
	}
}

// assertNoWeakenedTLS checks every git process this fixture ran (and,
// through GIT_TRACE, their children) for a setting that skips
// verification or a CA file given in argv.
func (f *fixture) assertNoWeakenedTLS() {
	f.t.Helper()
	trace, _ := os.ReadFile(f.trace)
	f.mu.Lock()
	all := strings.ToLower(string(trace))
	for _, a := range f.argv {
		all += strings.ToLower(strings.Join(a, " ")) + "\n"
	}
	f.mu.Unlock()
	for _, bad := range []string{"sslverify", "sslcainfo", "ssl_no_verify", "git_ssl_cainfo"} {
		if strings.Contains(all, bad) {
			f.t.Errorf("a git argv holds %q", bad)
		}
	}
}

func TestMirrorTrustsTheTokensCABundleForItsHost(t *testing.T) {
	t.Parallel()
	f := newFixture(t, forgetest.ConventionGitHub)
	withoutTestCA(f)
	gs := f.gs
	gs.CreateRepo("org/app")
	first := gs.Commit("org/app", map[string]string{"Dockerfile": "FROM scratch\n"}, "first")
	gs.CreateRepo("org/lib")
	gs.Commit("org/lib", map[string]string{"lib.txt": "lib\n"}, "lib")
	gs.Grant("ghp_ca_token", "org/app", "org/lib")
	cred := staticCred("x-access-token", "ghp_ca_token")
	m, dir := newMirrors(t, f, 0)
	ctx := context.Background()

	// Without the bundle git refuses the certificate, and says which host
	// and what to do; a network failure is no reason to fsck anything.
	_, err := m.Fetch(ctx, gs.URL("org/app"), gitx.FetchOptions{Credential: cred})
	var ce *gitx.CertificateError
	if !errors.As(err, &ce) || ce.Host != gs.Addr || ce.WithBundle || !errors.Is(err, gitx.ErrCertificate) {
		t.Fatalf("fetch without the CA bundle: %v (want a certificate error for %s)", err, gs.Addr)
	}
	if msg := err.Error(); !strings.Contains(msg, "TLS certificate of "+gs.Addr) || !strings.Contains(msg, "--ca-file") || strings.Contains(msg, "ghp_ca_token") {
		t.Errorf("message does not name the host and --ca-file: %s", msg)
	}

	// A bundle of another CA does not help, and the message says the
	// bundle is the suspect.
	other := forgetest.NewCA(t)
	_, err = m.Fetch(ctx, gs.URL("org/app"), gitx.FetchOptions{Credential: cred, CABundle: other.PEM})
	if !errors.As(err, &ce) || !ce.WithBundle || !strings.Contains(err.Error(), "even with the CA bundle") {
		t.Fatalf("fetch with another CA's bundle: %v", err)
	}

	// With the token's bundle: clone, archive, then a fetch.
	withCA := gitx.FetchOptions{Credential: cred, CABundle: gs.CA.PEM}
	p, err := m.Fetch(ctx, gs.URL("org/app"), withCA)
	if err != nil {
		t.Fatalf("fetch with the CA bundle: %v", err)
	}
	sha, err := m.ResolveRef(ctx, p, "main")
	if err != nil || sha != first {
		t.Fatalf("main = %s, %v; want %s", sha, err, first)
	}
	var arc strings.Builder
	if err := m.Archive(ctx, p, sha, "", &arc); err != nil {
		t.Fatal(err)
	}
	if files := untar(t, []byte(arc.String())); files["Dockerfile"] != "FROM scratch\n" {
		t.Errorf("archive = %v", files)
	}
	second := gs.Commit("org/app", map[string]string{"Dockerfile": "FROM busybox\n"}, "second")
	if _, err := m.Fetch(ctx, gs.URL("org/app"), withCA); err != nil {
		t.Fatalf("fetch into the existing mirror: %v", err)
	}
	if got, _ := m.ResolveRef(ctx, p, "main"); got != second {
		t.Errorf("main after fetch = %s, want %s", got, second)
	}
	if f.execs("clone") != 3 || f.execs("fetch") != 1 || f.execs("fsck") != 0 {
		t.Errorf("%d clones, %d fetches, %d fscks; want 3, 1, 0", f.execs("clone"), f.execs("fetch"), f.execs("fsck"))
	}

	// Concurrent fetches of other repositories with the same bundle share
	// one file, named by its SHA-256.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = m.Fetch(ctx, gs.URL([]string{"org/app", "org/lib"}[i%2]), withCA)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	lib, _ := m.Fetch(ctx, gs.URL("org/lib"), withCA)
	sum := sha256.Sum256(gs.CA.PEM)
	caFile := filepath.Join(dir, "ca-bundles", hex.EncodeToString(sum[:])+".pem")
	if b, err := os.ReadFile(caFile); err != nil || string(b) != string(gs.CA.PEM) {
		t.Errorf("CA file %s: %q, %v", caFile, b, err)
	}
	des, _ := os.ReadDir(filepath.Join(dir, "ca-bundles"))
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	otherSum := sha256.Sum256(other.PEM)
	want := []string{hex.EncodeToString(sum[:]) + ".pem", hex.EncodeToString(otherSum[:]) + ".pem"}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("ca-bundles holds %v, want one file per bundle %v", names, want)
	}

	assertNoCAConfig(t, filepath.Join(p, "config"), filepath.Join(lib, "config"))
	f.assertNoWeakenedTLS()
	f.assertNoSecret([]string{filepath.Join(p, "config")}, "ghp_ca_token")

	// A restarted cache adopts the mirrors and still has the bundle.
	m2, err := gitx.NewMirrors(dir, 0, f.runner, f.logger)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m2.Fetch(ctx, gs.URL("org/app"), withCA); err != nil {
		t.Errorf("fetch after a restart: %v", err)
	}
}

func TestMirrorRefusesABundleThatIsNotPEM(t *testing.T) {
	t.Parallel()
	f := newFixture(t, forgetest.ConventionGitHub)
	withoutTestCA(f)
	f.gs.CreateRepo("org/app")
	f.gs.Commit("org/app", map[string]string{"a": "b"}, "first")
	m, _ := newMirrors(t, f, 0)
	_, err := m.Fetch(context.Background(), f.gs.URL("org/app"), gitx.FetchOptions{CABundle: []byte("not a certificate")})
	if err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("fetch with a non-PEM bundle: %v", err)
	}
	if f.execs("clone") != 0 {
		t.Error("git ran with a bundle that is not PEM")
	}
}

// TestCloneTrustsTheCABundleForTheRunOnly: a working-tree clone (with a
// submodule on the same host) trusts the bundle through a temporary file
// that is gone afterwards and named in no .git/config.
func TestCloneTrustsTheCABundleForTheRunOnly(t *testing.T) {
	f, _, head := cloneFixture(t)
	withoutTestCA(f)
	work := t.TempDir()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the temporary CA file goes
	ctx := context.Background()

	bare := filepath.Join(work, "bare")
	err := f.runner.Clone(ctx, gitx.CloneOptions{URL: f.gs.URL("org/app"), Dir: bare, HelperCommand: f.helper})
	var ce *gitx.CertificateError
	if !errors.As(err, &ce) || ce.Host != f.gs.Addr || !strings.Contains(err.Error(), "--ca-file") {
		t.Fatalf("clone without the CA bundle: %v", err)
	}
	assertNothingLeft(t, bare)

	dir := filepath.Join(work, "app")
	err = f.runner.Clone(ctx, gitx.CloneOptions{URL: f.gs.URL("org/app"), Dir: dir, HelperCommand: f.helper,
		RecurseSubmodules: true, CABundle: f.gs.CA.PEM})
	if err != nil {
		t.Fatalf("clone with the CA bundle: %v", err)
	}
	if got := gitIn(t, dir, "rev-parse", "HEAD"); got != head {
		t.Errorf("HEAD = %s, want %s", got, head)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "vendor/lib/lib.txt")); string(b) != "library\n" {
		t.Errorf("submodule on the same host: %q", b)
	}
	configs, _ := filepath.Glob(filepath.Join(dir, ".git", "modules", "*", "config"))
	assertNoCAConfig(t, append(configs, filepath.Join(dir, ".git", "config"))...)
	assertCleanClone(t, f, dir)
	f.assertNoWeakenedTLS()
	des, _ := os.ReadDir(tmp)
	for _, de := range des {
		if strings.HasPrefix(de.Name(), "gitaccess-ca-") {
			t.Errorf("temporary CA file %s left behind", de.Name())
		}
	}

	// A commit SHA takes the checkout path, which fetches submodules in a
	// second git run: it gets the bundle too.
	sha := filepath.Join(work, "sha")
	if err := f.runner.Clone(ctx, gitx.CloneOptions{URL: f.gs.URL("org/app"), Dir: sha, Ref: head, HelperCommand: f.helper,
		RecurseSubmodules: true, CABundle: f.gs.CA.PEM}); err != nil {
		t.Fatalf("clone at a SHA with the CA bundle: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(sha, "vendor/lib/lib.txt")); string(b) != "library\n" {
		t.Errorf("submodule at a SHA: %q", b)
	}
}
