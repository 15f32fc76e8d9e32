package gitx_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/gitx"
	"github.com/gitaccess/gitaccess/internal/secret"
)

func staticCred(user, token string) gitx.CredentialFunc {
	return func(context.Context) (string, secret.Value, error) { return user, secret.New(token), nil }
}

func newMirrors(t testing.TB, f *fixture, maxBytes int64) (*gitx.Mirrors, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mirrors")
	m, err := gitx.NewMirrors(dir, maxBytes, f.runner, f.logger)
	if err != nil {
		t.Fatal(err)
	}
	return m, dir
}

// untar reads a tar.gz into name → content (directories as "<dir>/" → "").
func untar(t testing.TB, b []byte) map[string]string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		c, _ := io.ReadAll(tr)
		out[h.Name] = string(c)
	}
}

func gitIn(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestMirrorCloneFetchResolveArchive(t *testing.T) {
	t.Parallel()
	f := newFixture(t, forgetest.ConventionGitLab)
	gs := f.gs
	gs.CreateRepo("group/app")
	first := gs.Commit("group/app", map[string]string{"README.md": "v1\n", "svc/api/main.go": "package main\n", "svc/api/Dockerfile": "FROM scratch\n", "docs/x.md": "x\n"}, "first")
	gs.Tag("group/app", "v1.0.0", first)
	gs.Branch("group/app", "release", first)
	gs.Grant("glpat-app-token", "group/app")
	cred := staticCred("oauth2", "glpat-app-token")
	m, dir := newMirrors(t, f, 0)
	ctx := context.Background()

	p, err := m.Fetch(ctx, gs.URL("group/app"), gitx.FetchOptions{Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(p) != dir || !strings.HasSuffix(p, ".git") || strings.Contains(p, "group") {
		t.Errorf("mirror path %q does not derive from a hash", p)
	}
	if gitIn(t, p, "rev-parse", "--is-bare-repository") != "true" || gitIn(t, p, "config", "remote.origin.mirror") != "true" {
		t.Errorf("not a bare mirror")
	}
	if f.execs("clone") != 1 || f.execs("fetch") != 0 {
		t.Errorf("first use: %d clones, %d fetches", f.execs("clone"), f.execs("fetch"))
	}

	// Resolve every kind of ref.
	for ref, want := range map[string]string{"": first, "HEAD": first, "main": first, "release": first, "v1.0.0": first, first: first, first[:8]: first} {
		got, err := m.ResolveRef(ctx, p, ref)
		if err != nil || got != want {
			t.Errorf("ResolveRef(%q) = %q, %v; want %s", ref, got, err, want)
		}
	}
	for ref, want := range map[string]error{"nope": gitx.ErrRefNotFound, "deadbeef": gitx.ErrRefNotFound, "--output=/tmp/x": gitx.ErrInvalidRef, "main~1": gitx.ErrInvalidRef, "main^{tree}": gitx.ErrInvalidRef, "a..b": gitx.ErrInvalidRef, "@{-1}": gitx.ErrInvalidRef, "main:README.md": gitx.ErrInvalidRef} {
		if _, err := m.ResolveRef(ctx, p, ref); !errors.Is(err, want) {
			t.Errorf("ResolveRef(%q) err = %v, want %v", ref, err, want)
		}
	}

	// A new commit is there after the next Fetch, which fetches rather
	// than clones, whatever spelling of the URL is used.
	second := gs.Commit("group/app", map[string]string{"README.md": "v2\n"}, "second")
	p2, err := m.Fetch(ctx, strings.TrimSuffix(gs.URL("group/app"), ".git")+"/", gitx.FetchOptions{Credential: cred})
	if err != nil || p2 != p {
		t.Fatalf("second fetch: %q, %v (want same mirror %q)", p2, err, p)
	}
	if f.execs("clone") != 1 || f.execs("fetch") != 1 {
		t.Errorf("second use: %d clones, %d fetches", f.execs("clone"), f.execs("fetch"))
	}
	if got, _ := m.ResolveRef(ctx, p, "main"); got != second {
		t.Errorf("main after fetch = %s, want %s", got, second)
	}
	if got, _ := m.ResolveRef(ctx, p, "v1.0.0"); got != first {
		t.Errorf("tag moved: %s", got)
	}

	// Archives: the whole tree at a commit, and a subdirectory relative to it.
	var buf bytes.Buffer
	if err := m.Archive(ctx, p, first, "", &buf); err != nil {
		t.Fatal(err)
	}
	files := untar(t, buf.Bytes())
	if files["README.md"] != "v1\n" || files["svc/api/main.go"] != "package main\n" || files["docs/x.md"] != "x\n" {
		t.Errorf("archive at first: %v", keys(files))
	}
	buf.Reset()
	if err := m.Archive(ctx, p, second, "svc/api", &buf); err != nil {
		t.Fatal(err)
	}
	files = untar(t, buf.Bytes())
	if len(files) != 2 || files["main.go"] != "package main\n" || files["Dockerfile"] != "FROM scratch\n" {
		t.Errorf("archive of svc/api: %v", keys(files))
	}
	buf.Reset()
	if err := m.Archive(ctx, p, second, "./svc/../svc/api/", &buf); err != nil || len(untar(t, buf.Bytes())) != 2 {
		t.Errorf("a subdir that cleans inside the tree: %v", err)
	}
	for sub, want := range map[string]error{
		"../":                  gitx.ErrPathEscapes,
		"..":                   gitx.ErrPathEscapes,
		"svc/../../etc":        gitx.ErrPathEscapes,
		"/etc":                 gitx.ErrPathEscapes,
		"svc\x00":              gitx.ErrPathEscapes,
		"nope":                 gitx.ErrPathNotFound,
		"README.md":            gitx.ErrPathNotFound,
		"svc/api/Dockerfile/x": gitx.ErrPathNotFound,
	} {
		buf.Reset()
		if err := m.Archive(ctx, p, second, sub, &buf); !errors.Is(err, want) || buf.Len() != 0 {
			t.Errorf("Archive(subdir %q) = %v with %d bytes; want %v and nothing written", sub, err, buf.Len(), want)
		}
	}
	if err := m.Archive(ctx, p, first[:12], "", &buf); !errors.Is(err, gitx.ErrInvalidRef) {
		t.Errorf("short SHA: %v", err)
	}
	if err := m.Archive(ctx, t.TempDir(), first, "", &buf); !errors.Is(err, gitx.ErrUnknownMirror) {
		t.Errorf("a path outside the cache: %v", err)
	}
	if _, err := m.ResolveRef(ctx, filepath.Join(dir, "..", filepath.Base(p)), "main"); !errors.Is(err, gitx.ErrUnknownMirror) {
		t.Errorf("a path beside the cache: %v", err)
	}

	// The token was sent (the server demands it) yet is nowhere on disk,
	// in any argv, or in the trace of git and its children.
	b64 := base64.StdEncoding.EncodeToString([]byte("oauth2:glpat-app-token"))
	f.assertNoSecret([]string{filepath.Join(p, "config")}, "glpat-app-token", b64)
	cfg, _ := os.ReadFile(filepath.Join(p, "config"))
	if strings.Contains(strings.ToLower(string(cfg)), "extraheader") || strings.Contains(string(cfg), "@") {
		t.Errorf("mirror config:\n%s", cfg)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestMirrorRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, forgetest.ConventionGitHub)
	gs := f.gs
	gs.CreateRepo("org/app")
	gs.Commit("org/app", map[string]string{"a": "b"}, "first")
	gs.CreateRepo("org/secret")
	gs.Commit("org/secret", map[string]string{"a": "b"}, "first")
	gs.Grant("ghp_good", "org/app")
	m, dir := newMirrors(t, f, 0)
	ctx := context.Background()

	for name, tc := range map[string]struct {
		url  string
		cred gitx.CredentialFunc
		want error
	}{
		"wrong token":      {gs.URL("org/app"), staticCred("x", "ghp_wrong_token"), gitx.ErrAuthFailed},
		"anonymous":        {gs.URL("org/app"), nil, gitx.ErrAuthFailed},
		"cannot see":       {gs.URL("org/secret"), staticCred("x", "ghp_good"), gitx.ErrRepoNotFound},
		"does not exist":   {gs.URL("org/missing"), staticCred("x", "ghp_good"), gitx.ErrRepoNotFound},
		"token in URL":     {strings.Replace(gs.URL("org/app"), "https://", "https://x:ghp_good@", 1), nil, gitx.ErrInvalidURL},
		"plain http":       {strings.Replace(gs.URL("org/app"), "https://", "http://", 1), nil, gitx.ErrInvalidURL},
		"file URL":         {"file://" + gs.RepoDir("org/app"), nil, gitx.ErrInvalidURL},
		"dot segments":     {gs.Server.URL + "/org/../org/app.git", nil, gitx.ErrInvalidURL},
		"query":            {gs.URL("org/app") + "?x=1", nil, gitx.ErrInvalidURL},
		"local path":       {gs.RepoDir("org/app"), nil, gitx.ErrInvalidURL},
		"option injection": {"-uhttps://x/y", nil, gitx.ErrInvalidURL},
	} {
		_, err := m.Fetch(ctx, tc.url, gitx.FetchOptions{Credential: tc.cred})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "ghp_") || strings.Contains(err.Error(), "Authorization")) {
			t.Errorf("%s: error leaks a credential: %v", name, err)
		}
	}
	if errors.Is(errors.New("x"), gitx.ErrAuthFailed) {
		t.Fatal("sanity")
	}
	_, err := m.Fetch(ctx, gs.URL("org/app"), gitx.FetchOptions{Credential: staticCred("x", "ghp_wrong_token")})
	if msg := err.Error(); !strings.Contains(msg, "authentication failed") {
		t.Errorf("message does not say authentication: %s", msg)
	}
	// Failed fetches leave nothing behind.
	if des, _ := os.ReadDir(dir); len(des) != 0 {
		t.Errorf("cache not empty after failures: %v", des)
	}
	f.assertNoSecret(nil, "ghp_wrong_token", "ghp_good")
}

func TestMirrorConcurrentFetchRunsGitOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, forgetest.ConventionBitbucket)
	gs := f.gs
	gs.CreateRepo("ws/app")
	gs.Commit("ws/app", map[string]string{"a": "b"}, "first")
	gs.Grant("bb-token", "ws/app")
	m, _ := newMirrors(t, f, 0)
	url := gs.URL("ws/app")

	// The credential is asked for once per git run; holding it back until
	// all eight callers have joined makes the overlap certain.
	var calls atomic.Int32
	release := make(chan struct{})
	cred := func(ctx context.Context) (string, secret.Value, error) {
		calls.Add(1)
		<-release
		return "x-token-auth", secret.New("bb-token"), nil
	}
	const n = 8
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { paths[i], errs[i] = m.Fetch(context.Background(), url, gitx.FetchOptions{Credential: cred}) })
	}
	for m.FetchWaiters(url) < n {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Fatalf("caller %d: %q, %v", i, paths[i], errs[i])
		}
	}
	if calls.Load() != 1 || f.execs("clone") != 1 || f.execs("fetch") != 0 {
		t.Errorf("credential asked %d times, %d clones, %d fetches; want one git run", calls.Load(), f.execs("clone"), f.execs("fetch"))
	}
	if got := gs.UploadPackRequests("ws/app"); got != 1 {
		t.Errorf("server saw %d upload-pack sessions, want 1", got)
	}
}

func TestMirrorFetchSurvivesOneCallerLeaving(t *testing.T) {
	t.Parallel()
	f := newFixture(t, forgetest.ConventionGitHub)
	gs := f.gs
	gs.CreateRepo("org/app")
	gs.Commit("org/app", map[string]string{"a": "b"}, "first")
	gs.Grant("tok", "org/app")
	m, _ := newMirrors(t, f, 0)
	url := gs.URL("org/app")
	release := make(chan struct{})
	cred := func(context.Context) (string, secret.Value, error) {
		<-release
		return "x", secret.New("tok"), nil
	}
	impatient, cancel := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() { _, err := m.Fetch(impatient, url, gitx.FetchOptions{Credential: cred}); leaderErr <- err }()
	for m.FetchWaiters(url) < 1 {
		runtime.Gosched()
	}
	patientErr := make(chan error, 1)
	go func() {
		_, err := m.Fetch(context.Background(), url, gitx.FetchOptions{Credential: cred})
		patientErr <- err
	}()
	for m.FetchWaiters(url) < 2 {
		runtime.Gosched()
	}
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
	close(release)
	if err := <-patientErr; err != nil {
		t.Errorf("the other caller's fetch failed with the first one's cancellation: %v", err)
	}
}

// randomFiles makes incompressible content, so mirror sizes are predictable.
func randomFiles(n, size int) map[string]string {
	files := map[string]string{}
	for i := range n {
		b := make([]byte, size)
		_, _ = rand.Read(b)
		files["blob"+string(rune('a'+i))+".bin"] = string(b)
	}
	return files
}

func TestMirrorLRUEviction(t *testing.T) {
	t.Parallel()
	f := newFixture(t, forgetest.ConventionGitHub)
	gs := f.gs
	for _, r := range []string{"org/a", "org/b", "org/c"} {
		gs.CreateRepo(r)
		gs.Commit(r, randomFiles(1, 300<<10), "big")
		gs.Grant("tok", r)
	}
	cred := staticCred("x", "tok")
	ctx := context.Background()

	probe, _ := newMirrors(t, f, 0)
	if _, err := probe.Fetch(ctx, gs.URL("org/a"), gitx.FetchOptions{Credential: cred}); err != nil {
		t.Fatal(err)
	}
	one := probe.Usage()
	if one < 300<<10 {
		t.Fatalf("mirror size %d smaller than its content", one)
	}

	// Room for two and a half mirrors.
	m, _ := newMirrors(t, f, one*5/2)
	fetch := func(r string) string {
		p, err := m.Fetch(ctx, gs.URL(r), gitx.FetchOptions{Credential: cred})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := fetch("org/a"), fetch("org/b")
	fetch("org/a") // a is now more recent than b
	c := fetch("org/c")
	for p, want := range map[string]bool{a: true, b: false, c: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s exists=%v, want %v", filepath.Base(p), err == nil, want)
		}
	}
	if m.Usage() > one*5/2 {
		t.Errorf("usage %d over the bound %d", m.Usage(), one*5/2)
	}
	if _, err := m.ResolveRef(ctx, b, "main"); !errors.Is(err, gitx.ErrUnknownMirror) {
		t.Errorf("evicted mirror still served: %v", err)
	}
	// An evicted mirror comes back on demand, pushing out the now least
	// recently used one.
	if got := fetch("org/b"); got != b {
		t.Errorf("refetched b at %s", got)
	}
	if _, err := os.Stat(a); err == nil {
		t.Errorf("a should have been evicted for b")
	}
	// Reopening the cache adopts what is on disk.
	m2, err := gitx.NewMirrors(filepath.Dir(a), one*5/2, f.runner, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Usage() != m.Usage() {
		t.Errorf("reopened usage %d, want %d", m2.Usage(), m.Usage())
	}
	if _, err := m2.ResolveRef(ctx, c, "main"); err != nil {
		t.Errorf("adopted mirror: %v", err)
	}
}

// blockingWriter stops an archive in the middle, to hold its mirror in use.
type blockingWriter struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.started) })
	<-w.release
	return len(p), nil
}

func TestMirrorInUseIsNeverEvicted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, forgetest.ConventionGitHub)
	gs := f.gs
	for _, r := range []string{"org/a", "org/b", "org/c"} {
		gs.CreateRepo(r)
		gs.Commit(r, randomFiles(1, 200<<10), "big")
		gs.Grant("tok", r)
	}
	cred := staticCred("x", "tok")
	ctx := context.Background()
	m, _ := newMirrors(t, f, 1) // every mirror is over budget

	a, err := m.Fetch(ctx, gs.URL("org/a"), gitx.FetchOptions{Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a); err != nil {
		t.Fatalf("the mirror just fetched was evicted: %v", err)
	}
	sha, err := m.ResolveRef(ctx, a, "main")
	if err != nil {
		t.Fatal(err)
	}
	w := &blockingWriter{started: make(chan struct{}), release: make(chan struct{})}
	archived := make(chan error, 1)
	go func() { archived <- m.Archive(ctx, a, sha, "", w) }()
	<-w.started

	b, err := m.Fetch(ctx, gs.URL("org/b"), gitx.FetchOptions{Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a); err != nil {
		t.Fatalf("a mirror being archived was evicted")
	}
	close(w.release)
	if err := <-archived; err != nil {
		t.Fatal(err)
	}
	c, err := m.Fetch(ctx, gs.URL("org/c"), gitx.FetchOptions{Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{a: false, b: false, c: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s exists=%v, want %v", filepath.Base(p), err == nil, want)
		}
	}
}

func TestMirrorHealsTruncatedPack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, forgetest.ConventionGitHub)
	gs := f.gs
	gs.CreateRepo("org/app")
	gs.Commit("org/app", randomFiles(3, 20<<10), "first")
	gs.Grant("tok", "org/app")
	cred := staticCred("x", "tok")
	ctx := context.Background()
	m, _ := newMirrors(t, f, 0)
	p, err := m.Fetch(ctx, gs.URL("org/app"), gitx.FetchOptions{Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	packs, _ := filepath.Glob(filepath.Join(p, "objects", "pack", "*.pack"))
	if len(packs) != 1 {
		t.Fatalf("packs: %v", packs)
	}
	info, _ := os.Stat(packs[0])
	if err := os.Truncate(packs[0], info.Size()/2); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ResolveRef(ctx, p, "main"); err == nil {
		t.Fatal("a truncated pack still resolves main; the test corrupts nothing")
	}
	head := gs.Commit("org/app", map[string]string{"new.txt": "new\n"}, "second")

	if _, err := m.Fetch(ctx, gs.URL("org/app"), gitx.FetchOptions{Credential: cred}); err != nil {
		t.Fatalf("fetch did not heal: %v", err)
	}
	if _, err := os.Stat(packs[0]); err == nil {
		t.Errorf("the truncated pack is still there")
	}
	if got, err := m.ResolveRef(ctx, p, "main"); err != nil || got != head {
		t.Errorf("after healing: %s, %v", got, err)
	}
	gitIn(t, p, "fsck", "--connectivity-only")
	if f.execs("clone") != 2 {
		t.Errorf("%d clones, want 2 (first, healing)", f.execs("clone"))
	}
}

func TestMirrorHealsMissingObject(t *testing.T) {
	t.Parallel()
	f := newFixture(t, forgetest.ConventionGitHub)
	gs := f.gs
	gs.CreateRepo("org/app")
	gs.Commit("org/app", map[string]string{"a.txt": "a\n"}, "first")
	gs.Grant("tok", "org/app")
	cred := staticCred("x", "tok")
	ctx := context.Background()
	m, _ := newMirrors(t, f, 0)
	p, err := m.Fetch(ctx, gs.URL("org/app"), gitx.FetchOptions{Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	// A small fetch leaves loose objects; delete the new blob's file.
	head := gs.Commit("org/app", map[string]string{"b.txt": "only here\n"}, "second")
	if _, err := m.Fetch(ctx, gs.URL("org/app"), gitx.FetchOptions{Credential: cred}); err != nil {
		t.Fatal(err)
	}
	blob := gitIn(t, p, "rev-parse", head+":b.txt")
	if err := os.Remove(filepath.Join(p, "objects", blob[:2], blob[2:])); err != nil {
		t.Fatalf("blob not loose: %v", err)
	}

	// Nothing changed upstream, so a fetch alone would not notice; the
	// archive does, and the next fetch checks and heals.
	err = m.Archive(ctx, p, head, "", io.Discard)
	if !errors.Is(err, gitx.ErrCorrupt) {
		t.Fatalf("archive of a damaged mirror: %v, want ErrCorrupt", err)
	}
	if _, err := m.Fetch(ctx, gs.URL("org/app"), gitx.FetchOptions{Credential: cred}); err != nil {
		t.Fatalf("fetch did not heal: %v", err)
	}
	var buf bytes.Buffer
	if err := m.Archive(ctx, p, head, "", &buf); err != nil || untar(t, buf.Bytes())["b.txt"] != "only here\n" {
		t.Errorf("archive after healing: %v", err)
	}
	if f.execs("fsck") != 1 || f.execs("clone") != 2 {
		t.Errorf("%d fsck, %d clones; want 1 and 2", f.execs("fsck"), f.execs("clone"))
	}

	// A healthy mirror is not checked again.
	if _, err := m.Fetch(ctx, gs.URL("org/app"), gitx.FetchOptions{Credential: cred}); err != nil || f.execs("fsck") != 1 {
		t.Errorf("fsck ran on a healthy mirror (%d), %v", f.execs("fsck"), err)
	}
}

func TestMirrorHealsMissingTipCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, forgetest.ConventionGitHub)
	gs := f.gs
	gs.CreateRepo("org/app")
	gs.Commit("org/app", map[string]string{"a.txt": "a\n"}, "first")
	gs.Grant("tok", "org/app")
	cred := staticCred("x", "tok")
	ctx := context.Background()
	m, _ := newMirrors(t, f, 0)
	p, err := m.Fetch(ctx, gs.URL("org/app"), gitx.FetchOptions{Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	head := gs.Commit("org/app", map[string]string{"b.txt": "b\n"}, "second")
	if _, err := m.Fetch(ctx, gs.URL("org/app"), gitx.FetchOptions{Credential: cred}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(p, "objects", head[:2], head[2:])); err != nil {
		t.Fatalf("commit not loose: %v", err)
	}
	if _, err := m.ResolveRef(ctx, p, "main"); !errors.Is(err, gitx.ErrCorrupt) {
		t.Fatalf("resolve main with its commit gone: %v, want ErrCorrupt", err)
	}
	if _, err := m.Fetch(ctx, gs.URL("org/app"), gitx.FetchOptions{Credential: cred}); err != nil {
		t.Fatal(err)
	}
	if got, err := m.ResolveRef(ctx, p, "main"); err != nil || got != head {
		t.Errorf("after healing: %s, %v", got, err)
	}
	gitIn(t, p, "fsck", "--connectivity-only")
}

func benchMirror(b *testing.B) (*gitx.Mirrors, string, string, *fixture) {
	b.Helper()
	f := newFixture(b, forgetest.ConventionGitHub)
	gs := f.gs
	gs.CreateRepo("org/app")
	files := map[string]string{}
	for i := range 200 {
		files["src/pkg"+string(rune('a'+i%26))+"/file"+strings.Repeat("x", i%7)+string(rune('a'+i/26))+".go"] = strings.Repeat("package main // some source text\n", 40)
	}
	gs.Commit("org/app", files, "many files")
	gs.Grant("tok", "org/app")
	m, _ := newMirrors(b, f, 0)
	ctx := context.Background()
	p, err := m.Fetch(ctx, gs.URL("org/app"), gitx.FetchOptions{Credential: staticCred("x", "tok")})
	if err != nil {
		b.Fatal(err)
	}
	sha, err := m.ResolveRef(ctx, p, "main")
	if err != nil {
		b.Fatal(err)
	}
	return m, p, sha, f
}

func BenchmarkArchiveWarmMirror(b *testing.B) {
	m, p, sha, _ := benchMirror(b)
	ctx := context.Background()
	var buf bytes.Buffer
	if err := m.Archive(ctx, p, sha, "", &buf); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for b.Loop() {
		if err := m.Archive(ctx, p, sha, "", io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGitArchiveDirect is plain git archive on the same mirror: the
// floor Archive's checks and bookkeeping add to.
func BenchmarkGitArchiveDirect(b *testing.B) {
	m, p, sha, _ := benchMirror(b)
	var buf bytes.Buffer
	if err := m.Archive(context.Background(), p, sha, "", &buf); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for b.Loop() {
		cmd := exec.Command("git", "-c", "protocol.version=2", "archive", "--format=tar.gz", sha)
		cmd.Dir = p
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + p, "GIT_CONFIG_NOSYSTEM=1"}
		cmd.Stdout = io.Discard
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMirrorLookupFindsWithoutFetching(t *testing.T) {
	t.Parallel()
	f := newFixture(t, forgetest.ConventionGitHub)
	gs := f.gs
	gs.CreateRepo("org/app")
	gs.Grant("tok", "org/app")
	cred := staticCred("x", "tok")
	ctx := context.Background()
	m, _ := newMirrors(t, f, 0)

	head := gs.Commit("org/app", map[string]string{"a.txt": "a\n"}, "first")
	for _, u := range []string{gs.URL("org/app"), "not a URL", "http://git.example.test/org/app"} {
		if p, ok := m.Lookup(ctx, u, head); ok || p != "" {
			t.Errorf("Lookup(%q) before any fetch = %q, %v", u, p, ok)
		}
	}
	p, err := m.Fetch(ctx, gs.URL("org/app"), gitx.FetchOptions{Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	// A small fetch leaves loose objects, to damage below.
	first := head
	head = gs.Commit("org/app", map[string]string{"b.txt": "only here\n"}, "second")
	if _, err := m.Fetch(ctx, gs.URL("org/app"), gitx.FetchOptions{Credential: cred}); err != nil {
		t.Fatal(err)
	}
	execs := func() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.argv) }
	// Any spelling of the repository finds its mirror, with either
	// commit, by one git run each and no fetch.
	before := execs()
	for _, u := range []string{gs.URL("org/app"), strings.TrimSuffix(gs.URL("org/app"), ".git") + "/"} {
		for _, sha := range []string{first, head} {
			if got, ok := m.Lookup(ctx, u, sha); !ok || got != p {
				t.Errorf("Lookup(%q, %s) = %q, %v; want %q", u, sha, got, ok, p)
			}
		}
	}
	if n := execs() - before; n != 4 || f.execs("fetch") != 1 {
		t.Errorf("4 lookups ran git %d times, %d fetches in all", n, f.execs("fetch"))
	}
	// A commit the mirror lacks is not offered, and is no sign of damage.
	absent := strings.Repeat("0123456789abcdef", 3)[:40]
	if got, ok := m.Lookup(ctx, gs.URL("org/app"), absent); ok {
		t.Errorf("Lookup of an absent commit = %q", got)
	}
	if _, err := m.ResolveRef(ctx, p, absent); !errors.Is(err, gitx.ErrRefNotFound) {
		t.Errorf("ResolveRef of an absent commit: %v, want ErrRefNotFound", err)
	}
	// Nor is a tree, a blob, or anything but a full SHA.
	tree := gitIn(t, p, "rev-parse", head+"^{tree}")
	before = execs()
	for _, sha := range []string{tree, head[:12], "main", "HEAD", strings.ToUpper(head)} {
		if got, ok := m.Lookup(ctx, gs.URL("org/app"), sha); ok {
			t.Errorf("Lookup(%q) = %q", sha, got)
		}
	}
	if n := execs() - before; n != 1 {
		t.Errorf("%d git runs where only the tree needed one", n)
	}
	if _, err := m.Fetch(ctx, gs.URL("org/app"), gitx.FetchOptions{Credential: cred}); err != nil || f.execs("fsck") != 0 {
		t.Fatalf("fetch after looking up absent objects: %v, %d fsck", err, f.execs("fsck"))
	}

	// A mirror found damaged is not offered: the next Fetch checks it.
	blob := gitIn(t, p, "rev-parse", head+":b.txt")
	if err := os.Remove(filepath.Join(p, "objects", blob[:2], blob[2:])); err != nil {
		t.Fatalf("blob not loose: %v", err)
	}
	if err := m.Archive(ctx, p, head, "", io.Discard); !errors.Is(err, gitx.ErrCorrupt) {
		t.Fatalf("archive of a damaged mirror: %v, want ErrCorrupt", err)
	}
	if _, ok := m.Lookup(ctx, gs.URL("org/app"), head); ok {
		t.Error("Lookup offers a mirror found damaged")
	}
	if _, err := m.Fetch(ctx, gs.URL("org/app"), gitx.FetchOptions{Credential: cred}); err != nil {
		t.Fatal(err)
	}
	if got, ok := m.Lookup(ctx, gs.URL("org/app"), head); !ok || got != p {
		t.Errorf("after healing: Lookup = %q, %v", got, ok)
	}
}
