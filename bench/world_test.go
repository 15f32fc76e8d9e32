package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/cli"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/gitx"
	"github.com/gitaccess/gitaccess/internal/server"
)

// world is a self-hosted GitHub Enterprise on one host (the fake API under
// /api/v3 beside a real git http-backend, over TLS under a test CA) and a
// real gitaccess server in this process, holding one GitHub token that
// serves every repository under <host>/acme/.
type world struct {
	b       *testing.B
	gs      *forgetest.GitServer
	gh      *forgetest.GitHub
	base    string // https://127.0.0.1:PORT, the GitHub host
	token   string // the GitHub token, known to git and to the fake API
	repos   []string
	dataDir string
	cfgDir  string // the CLI's config directory (empty: no saved login)
	url     string // the gitaccess API
	builder string // a Builder API key: what a build worker holds
	// exe is the gitaccess program the CLI reports as itself, so
	// gitaccess clone has git run the git-credential-gitaccess beside it
	// (see binaries); empty: this test binary.
	exe string
}

// tokenUser is the basic-auth user git sends with a GitHub token.
const tokenUser = "x-access-token"

func newWorld(b *testing.B) *world {
	b.Helper()
	w := &world{b: b, gh: forgetest.NewGitHub(), token: "ghp_" + strings.Repeat("B3nch", 7) + "x"}
	w.gs = forgetest.NewGitServer(b, b.TempDir(), forgetest.ConventionGitHub)
	w.gs.Mount("/api/v3/", w.gh)
	w.base = w.gs.Server.URL
	return w
}

// repo creates a repository from commits (each maps paths to contents,
// applied in order on main), in git and in the API, and packs it as a
// hosting service keeps its repositories.
func (w *world) repo(name string, commits []map[string]string) {
	w.b.Helper()
	w.gs.CreateRepo(name)
	for i, files := range commits {
		w.gs.Commit(name, files, fmt.Sprintf("commit %d", i+1))
	}
	w.gitIn(w.gs.RepoDir(name), "repack", "-a", "-d", "-q")
	// The API needs to know the repository, not its contents.
	w.gh.AddRepo(forgetest.GitHubRepo{FullName: name, DefaultBranch: "main"})
	w.repos = append(w.repos, name)
}

// start opens gitaccess, adds the token through the CLI (gitaccess tests it
// against the fake API) for every repository of acme, and creates a
// Builder key.
func (w *world) start() {
	b := w.b
	b.Helper()
	w.gh.AddToken(w.token, forgetest.GitHubToken{Login: "ci-bot", Kind: forgetest.GitHubClassic, Scopes: []string{"repo", "admin:repo_hook"}, Repos: w.repos})
	w.gs.Grant(w.token, w.repos...)

	policy := w.gs.Policy()
	w.dataDir = b.TempDir()
	w.cfgDir = b.TempDir()
	app, err := server.Open(context.Background(), server.Config{
		DataDir: w.dataDir,
		Logger:  slog.New(slog.DiscardHandler),
		Egress:  &policy,
		GitEnv:  w.gs.Env(),
	})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(app.Handler)
	b.Cleanup(func() { ts.Close(); app.Close() })
	w.url = ts.URL
	admin, err := os.ReadFile(filepath.Join(w.dataDir, server.AdminAPIKeyFile))
	if err != nil {
		b.Fatal(err)
	}
	owner := strings.TrimSpace(string(admin))
	w.mustCLI(owner, w.token, "token", "add", "acme", "--provider", "github", "--url", w.base, "--prefix", w.base+"/acme/")
	var key struct{ Key string }
	if err := json.Unmarshal([]byte(w.mustCLI(owner, "", "apikey", "create", "build-worker", "--role", "builder", "-o", "json")), &key); err != nil || key.Key == "" {
		b.Fatalf("builder key: %v", err)
	}
	w.builder = key.Key
}

// app creates an application on repo (as the Owner would; the Builder key
// cannot).
func (w *world) app(name, repo string) {
	w.b.Helper()
	admin, err := os.ReadFile(filepath.Join(w.dataDir, server.AdminAPIKeyFile))
	if err != nil {
		w.b.Fatal(err)
	}
	w.mustCLI(strings.TrimSpace(string(admin)), "", "app", "create", name, "--repo", w.base+"/"+repo)
}

// host is the GitHub host as git names it in a credential request.
func (w *world) host() string {
	u, err := url.Parse(w.base)
	if err != nil {
		w.b.Fatal(err)
	}
	return u.Host
}

// cli runs the real CLI in this process with key as GITACCESS_API_KEY and
// returns its exit code. Its git is a real gitx.Runner that trusts the
// test CA; the credential helper git runs is the git-credential-gitaccess
// beside w.exe.
func (w *world) cli(key, stdin string, stdout, stderr io.Writer, args ...string) int {
	var executable func() (string, error)
	if w.exe != "" {
		executable = func() (string, error) { return w.exe, nil }
	}
	return cli.Run(context.Background(), args, cli.Options{
		Stdin:  strings.NewReader(stdin),
		Stdout: stdout,
		Stderr: stderr,
		Env: func(k string) string {
			switch k {
			case "GITACCESS_SERVER":
				return w.url
			case "GITACCESS_API_KEY":
				return key
			}
			return ""
		},
		IsTerminal: func() bool { return false },
		ConfigDir:  func() (string, error) { return w.cfgDir, nil },
		Executable: executable,
		NewCloner: func(home string, env []string) (cli.Cloner, error) {
			r, err := gitx.NewRunner(home, nil)
			if err != nil {
				return nil, err
			}
			r.Env = append(append(r.Env, env...), w.gs.Env()...)
			return r, nil
		},
	})
}

func (w *world) mustCLI(key, stdin string, args ...string) string {
	w.b.Helper()
	var out bytes.Buffer
	if code := w.cli(key, stdin, &out, &out, args...); code != 0 {
		w.b.Fatalf("gitaccess %s: exit %d\n%s", strings.Join(args, " "), code, out.String())
	}
	return out.String()
}

// gitEnv is the environment of the baseline git processes: no user or
// system configuration, no prompts, C locale, the test CA; what
// gitx.Runner gives gitaccess's own git.
func (w *world) gitEnv(home string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
	}, w.gs.Env()...)
}

// gitIn runs git in dir with the baseline environment and returns its
// trimmed stdout.
func (w *world) gitIn(dir string, args ...string) string {
	w.b.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = w.gitEnv(w.b.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		w.b.Fatalf("git %v: %v\n%s", args, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// storeFile writes a git credential-store file holding the token for the
// host (and, when repo is set, for that repository path only).
func (w *world) storeFile(repo string) string {
	w.b.Helper()
	u, _ := url.Parse(w.base)
	u.User = url.UserPassword(tokenUser, w.token)
	if repo != "" {
		u.Path = "/" + repo + ".git"
	}
	f := filepath.Join(w.b.TempDir(), "git-credentials")
	if err := os.WriteFile(f, []byte(u.String()+"\n"), 0o600); err != nil {
		w.b.Fatal(err)
	}
	return f
}

// randomCommits is about total bytes of incompressible files spread over
// n commits of files of fileSize bytes, plus a small text file per commit,
// the same bytes on every run (a fixed seed).
func randomCommits(total, fileSize, n int) []map[string]string {
	rng := rand.New(rand.NewChaCha8([32]byte{'g', 'i', 't', 'a', 'c', 'c', 'e', 's', 's'}))
	files := total / fileSize
	commits := make([]map[string]string, n)
	buf := make([]byte, fileSize)
	for i := range files {
		c := i * n / files
		if commits[c] == nil {
			commits[c] = map[string]string{fmt.Sprintf("NOTES-%d.md", c): fmt.Sprintf("# commit %d\n", c)}
		}
		for j := 0; j < len(buf); j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8 && j+k < len(buf); k++ {
				buf[j+k] = byte(v >> (8 * k))
			}
		}
		commits[c][fmt.Sprintf("data/%02d/blob-%03d.bin", c, i)] = string(buf)
	}
	return commits
}

// sourceCommits is a source tree of roughly total bytes of text (Go-like
// files of about 4 KiB in a few directories, so they compress as code
// does), in one commit.
func sourceCommits(total int) []map[string]string {
	rng := rand.New(rand.NewChaCha8([32]byte{'s', 'r', 'c'}))
	words := []string{"func", "return", "err", "if", "nil", "ctx", "for", "range", "type", "struct", "string", "int", ":=", "{", "}", "(", ")", "\n\t", "\n"}
	files := map[string]string{}
	for i, size := 0, 0; size < total; i++ {
		var sb strings.Builder
		fmt.Fprintf(&sb, "package p%d\n\n", i%16)
		for sb.Len() < 4096 {
			sb.WriteString(words[rng.IntN(len(words))])
			sb.WriteByte(' ')
			fmt.Fprintf(&sb, "v%d ", rng.IntN(1000))
		}
		files[fmt.Sprintf("pkg/p%d/f%04d.go", i%16, i)] = sb.String()
		size += sb.Len()
	}
	return []map[string]string{files}
}

// durations are per-operation times.
type durations []time.Duration

func (d durations) pct(q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}

func (d durations) mean() time.Duration {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(len(d))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// reportPercentiles adds p50 and p99 metrics, in milliseconds, prefixed.
func reportPercentiles(b *testing.B, prefix string, d durations) {
	b.ReportMetric(ms(d.pct(0.50)), prefix+"p50-ms")
	b.ReportMetric(ms(d.pct(0.99)), prefix+"p99-ms")
}

// interleave runs gitaccess and baseline alternately b.N times each,
// swapping which goes first every iteration so neither always runs on a
// cache the other warmed, and returns each one's times. after, when set,
// runs untimed after every operation (cleaning up a clone, say).
func interleave(b *testing.B, gitaccess, baseline, after func(b *testing.B)) (ga, base durations) {
	b.Helper()
	run := func(f func(*testing.B), into *durations) {
		start := time.Now()
		f(b)
		*into = append(*into, time.Since(start))
		if after != nil {
			b.StopTimer()
			after(b)
			b.StartTimer()
		}
	}
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			run(gitaccess, &ga)
			run(baseline, &base)
		} else {
			run(baseline, &base)
			run(gitaccess, &ga)
		}
	}
	return ga, base
}

// loop runs op b.N times, after untimed after each, and returns the times.
func loop(b *testing.B, op, after func(b *testing.B)) durations {
	b.Helper()
	var d durations
	for b.Loop() {
		start := time.Now()
		op(b)
		d = append(d, time.Since(start))
		if after != nil {
			b.StopTimer()
			after(b)
			b.StartTimer()
		}
	}
	return d
}
