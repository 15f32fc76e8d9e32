package forgetest

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Convention is how a provider expects git to present a token over smart
// HTTP basic auth, and how it answers when it will not.
type Convention string

const (
	// ConventionGitHub accepts any username; the token is the password
	// (apps use "x-access-token").
	ConventionGitHub Convention = "github"
	// ConventionGitLab wants username "oauth2" and the token as password.
	ConventionGitLab Convention = "gitlab"
	// ConventionBitbucket wants username "x-token-auth" and the token as
	// password (repository, project and workspace access tokens).
	ConventionBitbucket Convention = "bitbucket"
)

// Username is the basic-auth username a client should send with a token.
func (c Convention) Username() string {
	switch c {
	case ConventionGitLab:
		return "oauth2"
	case ConventionBitbucket:
		return "x-token-auth"
	default:
		return "x-access-token"
	}
}

func (c Convention) acceptsUser(u string) bool {
	if c == ConventionGitHub {
		return u != ""
	}
	return u == c.Username()
}

func (c Convention) realm() string {
	switch c {
	case ConventionGitLab:
		return "GitLab"
	case ConventionBitbucket:
		return "Bitbucket.org HTTP"
	default:
		return "GitHub"
	}
}

// Messages git prints as "remote: ..." (it shows text/plain error bodies).
// GitHub's and GitLab's are their own words.
func (c Convention) unauthorized() string {
	switch c {
	case ConventionGitLab:
		return "HTTP Basic: Access denied. If a password was provided for Git authentication, the password was incorrect or you're required to use a token instead of a password."
	case ConventionBitbucket:
		return "Invalid credentials"
	default:
		return "Invalid username or token. Password authentication is not supported for Git operations."
	}
}

func (c Convention) notFound() string {
	if c == ConventionGitLab {
		return "The project you were looking for could not be found or you don't have permission to view it."
	}
	return "Repository not found."
}

// GitServer is a real smart-HTTP git server (git http-backend behind
// net/http/cgi) over TLS under a test CA. Like the providers, it demands
// basic auth on every repository, answers 401 to missing or wrong
// credentials and 404 to a valid token that cannot see the repository, so a
// private repository's existence never leaks. Only fetching is served.
//
// Repository paths look like "org/repo"; clients use URL(path), which adds
// ".git" (the path without it works too).
type GitServer struct {
	*Server
	t      testing.TB
	root   string
	conv   Convention
	caFile string
	home   string

	mu     sync.Mutex
	grants map[string][]string // token → repository paths it sees
	holds  map[string]*packHold
	mounts map[string]http.Handler // path prefix → handler served instead of git
}

// Mount serves every path under prefix with h instead of git, so one host
// can be both a provider's API (GitHub Enterprise's /api/v3, GitLab's
// /api/v4) and its git server, as real self-hosted servers are.
func (gs *GitServer) Mount(prefix string, h http.Handler) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.mounts == nil {
		gs.mounts = map[string]http.Handler{}
	}
	gs.mounts[prefix] = h
}

// NewGitServer serves the bare repositories under dir (created as needed)
// with the given provider convention.
func NewGitServer(t testing.TB, dir string, conv Convention) *GitServer {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	gs := &GitServer{
		t:      t,
		root:   dir,
		conv:   conv,
		home:   t.TempDir(),
		grants: map[string][]string{},
		holds:  map[string]*packHold{},
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	gs.Server = NewServer(t, nil, http.HandlerFunc(gs.serve))
	gs.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(gs.caFile, gs.CA.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gs.releaseHolds)
	return gs
}

// CAFile is a PEM file of the test CA, for GIT_SSL_CAINFO.
func (gs *GitServer) CAFile() string { return gs.caFile }

// Env is what a git client needs in its environment to trust the server.
func (gs *GitServer) Env() []string { return []string{"GIT_SSL_CAINFO=" + gs.caFile} }

// URL is the clone URL of a repository.
func (gs *GitServer) URL(repo string) string { return gs.Server.URL + "/" + repo + ".git" }

// RepoDir is where a repository lives on disk.
func (gs *GitServer) RepoDir(repo string) string {
	return filepath.Join(gs.root, filepath.FromSlash(repo)+".git")
}

// Grant lets token see the given repositories (in addition to earlier grants).
func (gs *GitServer) Grant(token string, repos ...string) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.grants[token] == nil {
		gs.grants[token] = []string{}
	}
	for _, r := range repos {
		if !slices.Contains(gs.grants[token], r) {
			gs.grants[token] = append(gs.grants[token], r)
		}
	}
}

// Revoke makes token unknown: it gets 401 from then on.
func (gs *GitServer) Revoke(token string) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	delete(gs.grants, token)
}

// UploadPackRequests counts the requests that asked for repo's ref
// advertisement (GET info/refs?service=git-upload-pack). Every git fetch or
// clone makes one, plus one more when it first had to be challenged for
// credentials.
func (gs *GitServer) UploadPackRequests(repo string) int {
	n := 0
	for _, r := range gs.Requests() {
		name, rest, ok := splitGitPath(r.URL.Path)
		if ok && name == repo && rest == "/info/refs" && r.URL.Query().Get("service") == "git-upload-pack" {
			n++
		}
	}
	return n
}

type packHold struct {
	reached chan struct{}
	release chan struct{}
	once    sync.Once // closes reached
	free    sync.Once // closes release
}

// holdAfter is how much of a pack passes before a hold stops it: more than
// any ls-refs answer, less than the packs the tests hold.
const holdAfter = 256 << 10

// HoldPack stops every pack sent for repo after its first 256 KiB until
// release is called (or the client goes away); reached is closed when the
// first pack is stopped, so a test can interrupt a transfer midway without
// timing. Test cleanup releases holds.
func (gs *GitServer) HoldPack(repo string) (reached <-chan struct{}, release func()) {
	h := &packHold{reached: make(chan struct{}), release: make(chan struct{})}
	gs.mu.Lock()
	gs.holds[repo] = h
	gs.mu.Unlock()
	return h.reached, func() { h.free.Do(func() { close(h.release) }) }
}

func (gs *GitServer) releaseHolds() {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	for _, h := range gs.holds {
		h.free.Do(func() { close(h.release) })
	}
}

var (
	repoPathRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$`)
	protoRE    = regexp.MustCompile(`^[A-Za-z0-9=:._-]*$`)
)

// splitGitPath splits "/org/repo.git/info/refs" into "org/repo" and
// "/info/refs".
func splitGitPath(p string) (repo, rest string, ok bool) {
	for _, suffix := range []string{"/info/refs", "/git-upload-pack", "/git-receive-pack"} {
		if base, found := strings.CutSuffix(p, suffix); found {
			repo = strings.TrimSuffix(strings.TrimPrefix(base, "/"), ".git")
			if !repoPathRE.MatchString(repo) || strings.Contains(repo, "..") {
				return "", "", false
			}
			return repo, suffix, true
		}
	}
	return "", "", false
}

func (gs *GitServer) serve(w http.ResponseWriter, r *http.Request) {
	gs.mu.Lock()
	for prefix, h := range gs.mounts {
		if strings.HasPrefix(r.URL.Path, prefix) {
			gs.mu.Unlock()
			h.ServeHTTP(w, r)
			return
		}
	}
	gs.mu.Unlock()
	repo, rest, ok := splitGitPath(r.URL.Path)
	if !ok {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	fetchAdvert := r.Method == http.MethodGet && rest == "/info/refs" && r.URL.Query().Get("service") == "git-upload-pack"
	fetchPack := r.Method == http.MethodPost && rest == "/git-upload-pack"
	if !fetchAdvert && !fetchPack {
		http.Error(w, "forgetest: only smart-HTTP fetches are served", http.StatusForbidden)
		return
	}
	user, token, hasAuth := r.BasicAuth()
	gs.mu.Lock()
	repos, known := gs.grants[token]
	sees := slices.Contains(repos, repo)
	hold := gs.holds[repo]
	gs.mu.Unlock()
	if !hasAuth || !known || token == "" || !gs.conv.acceptsUser(user) {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+gs.conv.realm()+`"`)
		msg := "Unauthorized"
		if hasAuth {
			msg = gs.conv.unauthorized()
		}
		http.Error(w, msg, http.StatusUnauthorized)
		return
	}
	if _, err := os.Stat(gs.RepoDir(repo)); !sees || err != nil {
		http.Error(w, gs.conv.notFound(), http.StatusNotFound)
		return
	}
	env := []string{
		"GIT_PROJECT_ROOT=" + gs.root,
		"GIT_HTTP_EXPORT_ALL=1",
		"REMOTE_USER=" + user,
		"HOME=" + gs.home,
		"XDG_CONFIG_HOME=" + gs.home,
		"GIT_CONFIG_NOSYSTEM=1",
	}
	// Apache and nginx setups pass Git-Protocol on like this; it is what
	// turns protocol v2 on in upload-pack.
	if p := r.Header.Get("Git-Protocol"); p != "" && protoRE.MatchString(p) {
		env = append(env, "GIT_PROTOCOL="+p)
	}
	logw := &testLogWriter{t: gs.t}
	h := &cgi.Handler{
		Path:   mustGit(gs.t),
		Args:   []string{"http-backend"},
		Dir:    gs.root,
		Env:    env,
		Stderr: logw,
		Logger: log.New(logw, "git http-backend: ", 0),
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + repo + ".git" + rest
	r2.URL.RawPath = ""
	if fetchPack && hold != nil {
		w = &holdWriter{ResponseWriter: w, hold: hold, done: r.Context().Done()}
	}
	h.ServeHTTP(w, r2)
}

type holdWriter struct {
	http.ResponseWriter
	hold    *packHold
	done    <-chan struct{}
	written int
}

func (hw *holdWriter) Write(p []byte) (int, error) {
	if hw.written >= holdAfter {
		hw.hold.once.Do(func() { close(hw.hold.reached) })
		select {
		case <-hw.hold.release:
		case <-hw.done:
			return 0, fmt.Errorf("forgetest: client went away during a held pack")
		}
	}
	n, err := hw.ResponseWriter.Write(p)
	hw.written += n
	if f, ok := hw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	return n, err
}

// testLogWriter sends the backend's complaints to the test log while the
// test runs, and drops them after (t.Log then panics).
type testLogWriter struct{ t testing.TB }

func (lw *testLogWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }()
	lw.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

func mustGit(t testing.TB) string {
	p, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// git runs git in a repository with no user or system configuration and a
// fixed identity, failing the test on error.
func (gs *GitServer) git(dir string, stdin io.Reader, extraEnv []string, args ...string) string {
	gs.t.Helper()
	cmd := exec.Command(mustGit(gs.t), args...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + gs.home,
		"XDG_CONFIG_HOME=" + gs.home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_AUTHOR_NAME=Test Author", "GIT_AUTHOR_EMAIL=author@example.test",
		"GIT_COMMITTER_NAME=Test Committer", "GIT_COMMITTER_EMAIL=committer@example.test",
		"LC_ALL=C",
	}, extraEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		gs.t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func (gs *GitServer) checkRepoPath(repo string) {
	gs.t.Helper()
	if !repoPathRE.MatchString(repo) || strings.Contains(repo, "..") || strings.HasSuffix(repo, ".git") {
		gs.t.Fatalf("forgetest: bad repository path %q (want org/repo, no .git)", repo)
	}
}

// CreateRepo makes an empty bare repository whose default branch is main.
func (gs *GitServer) CreateRepo(repo string) {
	gs.t.Helper()
	gs.checkRepoPath(repo)
	dir := gs.RepoDir(repo)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		gs.t.Fatal(err)
	}
	gs.git(dir, nil, nil, "init", "--quiet", "--bare", "--initial-branch=main")
}

// Commit adds or replaces files (path → content) on main and returns the
// new commit's SHA.
func (gs *GitServer) Commit(repo string, files map[string]string, msg string) string {
	gs.t.Helper()
	return gs.CommitTo(repo, "main", files, msg)
}

// CommitTo is Commit on branch, which is created if it does not exist.
func (gs *GitServer) CommitTo(repo, branch string, files map[string]string, msg string) string {
	gs.t.Helper()
	return gs.commit(repo, branch, files, nil, msg)
}

// Branch creates branch at rev (a branch, tag or SHA).
func (gs *GitServer) Branch(repo, branch, rev string) {
	gs.t.Helper()
	gs.git(gs.RepoDir(repo), nil, nil, "branch", "--", branch, rev)
}

// Tag creates an annotated tag at rev.
func (gs *GitServer) Tag(repo, tag, rev string) {
	gs.t.Helper()
	gs.git(gs.RepoDir(repo), nil, nil, "tag", "-a", "-m", "tag "+tag, "--", tag, rev)
}

// Head returns the SHA a branch points at.
func (gs *GitServer) Head(repo, branch string) string {
	gs.t.Helper()
	return gs.git(gs.RepoDir(repo), nil, nil, "rev-parse", "--verify", "refs/heads/"+branch)
}

// AddSubmodule commits, on main of repo, a submodule at subPath pointing at
// the current main of subRepo on this server, and returns the commit SHA.
func (gs *GitServer) AddSubmodule(repo, subPath, subRepo string) string {
	gs.t.Helper()
	dir := gs.RepoDir(repo)
	modules := ""
	if gs.hasRef(dir, "refs/heads/main") {
		if out, err := gs.tryGit(dir, "cat-file", "blob", "refs/heads/main:.gitmodules"); err == nil {
			modules = out + "\n"
		}
	}
	modules += fmt.Sprintf("[submodule %q]\n\tpath = %s\n\turl = %s\n", subPath, subPath, gs.URL(subRepo))
	return gs.commit(repo, "main", map[string]string{".gitmodules": modules},
		map[string]string{subPath: gs.Head(subRepo, "main")}, "add submodule "+subPath)
}

func (gs *GitServer) tryGit(dir string, args ...string) (string, error) {
	cmd := exec.Command(mustGit(gs.t), args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + gs.home, "GIT_CONFIG_NOSYSTEM=1"}
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

func (gs *GitServer) hasRef(dir, ref string) bool {
	_, err := gs.tryGit(dir, "rev-parse", "--verify", "--quiet", ref)
	return err == nil
}

// commit builds a commit on branch from its current tree plus files and
// gitlinks (path → commit SHA), using a throwaway index and work tree so
// the bare repository stays bare.
func (gs *GitServer) commit(repo, branch string, files, gitlinks map[string]string, msg string) string {
	gs.t.Helper()
	dir := gs.RepoDir(repo)
	tmp := gs.t.TempDir()
	wt := filepath.Join(tmp, "wt")
	env := []string{"GIT_INDEX_FILE=" + filepath.Join(tmp, "index"), "GIT_DIR=" + dir, "GIT_WORK_TREE=" + wt}
	ref := "refs/heads/" + branch
	parent := ""
	if gs.hasRef(dir, ref) {
		parent = gs.git(dir, nil, env, "rev-parse", "--verify", ref)
		gs.git(dir, nil, env, "read-tree", parent)
	}
	var paths []string
	for p, content := range files {
		if filepath.IsAbs(p) || strings.Contains(p, "..") {
			gs.t.Fatalf("forgetest: bad file path %q", p)
		}
		full := filepath.Join(wt, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			gs.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			gs.t.Fatal(err)
		}
		paths = append(paths, p)
	}
	if len(paths) > 0 {
		gs.git(wt, strings.NewReader(strings.Join(paths, "\x00")), env,
			"add", "--force", "--pathspec-from-file=-", "--pathspec-file-nul")
	}
	for p, sha := range gitlinks {
		gs.git(wt, nil, env, "update-index", "--add", "--cacheinfo", "160000,"+sha+","+p)
	}
	tree := gs.git(dir, nil, env, "write-tree")
	args := []string{"commit-tree", tree, "-m", msg}
	if parent != "" {
		args = append(args, "-p", parent)
	}
	sha := gs.git(dir, nil, env, args...)
	gs.git(dir, nil, env, "update-ref", ref, sha)
	return sha
}
