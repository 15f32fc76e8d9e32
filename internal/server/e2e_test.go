package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/gitaccess/gitaccess/internal/cli"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/gitx"
	"github.com/gitaccess/gitaccess/internal/server"
	"github.com/gitaccess/gitaccess/internal/store"
	"github.com/gitaccess/gitaccess/internal/store/storetest"
)

// providers runs fake GitHub, GitLab and Bitbucket behind the real
// hostnames, over TLS under a test CA.
type providers struct {
	gh  *forgetest.GitHub
	gl  *forgetest.GitLab
	bb  *forgetest.Bitbucket
	srv *forgetest.Server
}

func newProviders(t testing.TB) *providers {
	p := &providers{gh: forgetest.NewGitHub(), gl: forgetest.NewGitLab(), bb: forgetest.NewBitbucket()}
	p.srv = forgetest.NewServer(t, nil, forgetest.ByHost{
		"api.github.com": p.gh, "ghe.test": p.gh, "gitlab.com": p.gl, "gitlab.test": p.gl, "api.bitbucket.org": p.bb,
	})
	return p
}

// harness is a real gitaccess (store, keyring, adapters, API) served over
// HTTP, driven through the real CLI.
type harness struct {
	t        *testing.T
	cfg      server.Config
	app      *server.App
	url      string
	adminKey string
	logs     *forgetest.LogBuffer
	// gitEnv is extra environment for the git the CLI runs (the test CA).
	gitEnv []string
	// seen collects everything a user or an operator could read: CLI
	// output, HTTP response bodies and headers.
	seen bytes.Buffer
}

func start(t *testing.T, p *providers, databaseURL string) *harness {
	t.Helper()
	policy := p.srv.Policy()
	logs := &forgetest.LogBuffer{}
	h := &harness{t: t, logs: logs}
	h.cfg = server.Config{
		DataDir:     t.TempDir(),
		DatabaseURL: databaseURL,
		Logger:      slogJSON(logs),
		Egress:      &policy,
	}
	app, err := server.Open(context.Background(), h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.app = app
	h.url = newHTTPServer(t, app)
	key, err := os.ReadFile(filepath.Join(h.cfg.DataDir, server.AdminAPIKeyFile))
	if err != nil {
		t.Fatalf("bootstrap key file: %v", err)
	}
	h.adminKey = strings.TrimSpace(string(key))
	return h
}

// cli runs one CLI command with stdin and returns its exit code; its output
// is kept in h.seen and returned.
func (h *harness) cli(stdin string, args ...string) (int, string) {
	h.t.Helper()
	var out, errOut bytes.Buffer
	cfgDir := filepath.Join(h.cfg.DataDir, "cli-config")
	code := cli.Run(context.Background(), args, cli.Options{
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errOut,
		Env: func(k string) string {
			switch k {
			case "GITACCESS_SERVER":
				return h.url
			case "GITACCESS_API_KEY":
				return h.adminKey
			}
			return ""
		},
		IsTerminal: func() bool { return false },
		ConfigDir:  func() (string, error) { return cfgDir, nil },
		NewCloner: func(home string, env []string) (cli.Cloner, error) {
			r, err := gitx.NewRunner(home, nil)
			if err != nil {
				return nil, err
			}
			r.Env = append(append(r.Env, env...), h.gitEnv...)
			return r, nil
		},
	})
	h.seen.WriteString(out.String())
	h.seen.WriteString(errOut.String())
	return code, out.String() + errOut.String()
}

func (h *harness) mustCLI(stdin string, args ...string) string {
	h.t.Helper()
	code, out := h.cli(stdin, args...)
	if code != 0 {
		h.t.Fatalf("gitaccess %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// get fetches an API path with the admin key and records the response.
func (h *harness) get(path string) string {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+h.adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Fprintf(&h.seen, "%v\n%s\n", resp.Header, b)
	return string(b)
}

func slogJSON(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newHTTPServer serves app until the test ends and returns its URL.
func newHTTPServer(t *testing.T, app *server.App) string {
	ts := httptest.NewServer(app.Handler)
	t.Cleanup(func() { ts.Close(); app.Close() })
	return ts.URL
}

func canary(prefix string) string {
	return prefix + "CANARY" + store.RandomString(15)
}

// TestCanaryTokenNeverLeaks adds real-looking tokens for every provider and
// walks every user-visible path; the values must appear in no log line, no
// response, no CLI output and no byte of the database.
func TestCanaryTokenNeverLeaks(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { canaryRun(t, "") })
	t.Run("postgres", func(t *testing.T) { canaryRun(t, storetest.PostgresDSN(t)) })
}

func canaryRun(t *testing.T, databaseURL string) {
	p := newProviders(t)
	h := start(t, p, databaseURL)

	gh, gh2, ghWeak, ghWrong := canary("ghp_"), canary("ghp_"), canary("ghp_"), canary("ghp_")
	gl := canary("glpat-")
	bb := canary("ATCTT3xFfGN0")
	values := []string{gh, gh2, ghWeak, ghWrong, gl, bb}
	p.gh.AddToken(gh, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"repo", "admin:repo_hook"}, Repos: []string{"acme/api"}})
	p.gh.AddToken(gh2, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"repo"}, Repos: []string{"acme/api"}})
	p.gh.AddToken(ghWeak, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"public_repo"}})
	p.gl.AddToken(gl, forgetest.GitLabToken{Username: "dev", Scopes: []string{"api", "read_repository"}, AccessLevel: 40, Projects: []string{"acme/api"}})
	p.bb.AddToken(bb, forgetest.BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "api", Scopes: []string{"repository", "webhook", "pullrequest:write"}})

	out := h.mustCLI(gh+"\n", "token", "add", "gh-ci", "--provider", "github", "--description", "CI")
	if !strings.Contains(out, "octocat") || !strings.Contains(out, "github-classic-pat") {
		t.Errorf("token add output lacks the report:\n%s", out)
	}
	h.mustCLI(gl, "token", "add", "gl-ci", "--provider", "gitlab")
	h.mustCLI(bb, "token", "add", "bb-ci", "--provider", "bitbucket", "--workspace", "acme")

	// Refusals: missing permissions, and a value the provider rejects.
	if code, out := h.cli(ghWeak, "token", "add", "weak", "--provider", "github", "--prefix", "https://github.com/weak/"); code == 0 || !strings.Contains(out, "admin:repo_hook") {
		t.Errorf("weak token: exit %d\n%s", code, out)
	}
	if code, out := h.cli(ghWrong, "token", "add", "wrong", "--provider", "github", "--prefix", "https://github.com/wrong/"); code == 0 || !strings.Contains(out, "Bad credentials") {
		t.Errorf("wrong token: exit %d\n%s", code, out)
	}
	h.mustCLI(gh, "token", "test", "--provider", "github")
	for _, name := range []string{"gh-ci", "gl-ci", "bb-ci"} {
		h.mustCLI("", "token", "test", name)
		h.mustCLI("", "token", "show", name, "-o", "yaml")
		h.mustCLI("", "token", "show", name, "-o", "json")
	}
	h.mustCLI(gh2, "token", "update", "gh-ci", "--value", "--allow-missing")
	list := h.mustCLI("", "token", "list", "-o", "json")
	var listed []map[string]any
	if err := json.Unmarshal([]byte(list), &listed); err != nil || len(listed) != 3 {
		t.Fatalf("token list -o json: %v\n%s", err, list)
	}
	h.mustCLI("", "token", "list")
	h.mustCLI("", "token", "delete", "bb-ci", "--yes")
	h.mustCLI("", "audit", "list", "-o", "json")
	for _, path := range []string{"/api/v1/tokens", "/api/v1/tokens/gh-ci", "/api/v1/tokens/gl-ci", "/api/v1/tokens/bb-ci", "/api/v1/audit?limit=1000", "/api/v1/openapi.json"} {
		h.get(path)
	}

	// Close the store so SQLite checkpoints, then read every byte it wrote.
	h.app.Close()
	var dbBytes bytes.Buffer
	if databaseURL == "" {
		err := filepath.WalkDir(h.cfg.DataDir, func(path string, d fs.DirEntry, err error) error {
			// The database and its WAL and shared-memory files.
			if err != nil || d.IsDir() || !strings.HasPrefix(d.Name(), "gitaccess.db") {
				return err
			}
			b, err := os.ReadFile(path)
			dbBytes.Write(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	} else {
		dbBytes.Write(dumpPostgres(t, databaseURL))
	}
	if dbBytes.Len() == 0 {
		t.Fatal("read nothing of the database")
	}

	places := map[string]string{"logs": h.logs.String(), "responses and CLI output": h.seen.String(), "database": dbBytes.String()}
	for _, v := range values {
		for where, text := range places {
			for _, form := range []string{v, hex.EncodeToString([]byte(v))} {
				if strings.Contains(text, form) {
					t.Errorf("a token value appears in the %s", where)
				}
			}
		}
	}
	if strings.Contains(h.logs.String(), h.adminKey) || strings.Contains(dbBytes.String(), h.adminKey) {
		t.Error("the admin API key appears in the logs or the database")
	}
	// The walk really happened: the audit saw every step.
	for _, action := range []string{"token.create", "token.test", "token.update", "token.delete"} {
		if !strings.Contains(h.seen.String(), action) {
			t.Errorf("audit list lacks %s", action)
		}
	}
}

// dumpPostgres returns every row of every table as text (bytea as hex).
func dumpPostgres(t *testing.T, dsn string) []byte {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	var out bytes.Buffer
	for _, tbl := range tables {
		r, err := db.Query(fmt.Sprintf(`SELECT t::text FROM %q t`, tbl))
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var s string
			if err := r.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out.WriteString(s + "\n")
		}
		r.Close()
	}
	if !strings.Contains(out.String(), "gh-ci") {
		t.Fatalf("PostgreSQL dump of %v holds no token row", tables)
	}
	return out.Bytes()
}

// TestServeBootstrapRotateRestart runs `serve` as a user would: first start
// bootstraps, a master-key rotation from another process is picked up by
// the running server, and a restart keeps everything.
func TestServeBootstrapRotateRestart(t *testing.T) {
	p := newProviders(t)
	policy := p.srv.Policy()
	logs := &forgetest.LogBuffer{}
	cfg := server.Config{
		DataDir: filepath.Join(t.TempDir(), "data"),
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
		Egress:  &policy,
	}
	serve := func() (url string, stop func()) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.Listener = ln
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- server.Run(ctx, c) }()
		url = "http://" + ln.Addr().String()
		waitHealthy(t, url, done)
		return url, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve returned %v", err)
			}
		}
	}

	url, stop := serve()
	keyFile := filepath.Join(cfg.DataDir, server.AdminAPIKeyFile)
	for _, f := range []string{keyFile, filepath.Join(cfg.DataDir, "master.key"), filepath.Join(cfg.DataDir, "gitaccess.db")} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(f), st.Mode().Perm())
		}
	}
	key, _ := os.ReadFile(keyFile)
	if !strings.Contains(logs.String(), keyFile) || strings.Contains(logs.String(), strings.TrimSpace(string(key))) {
		t.Error("the bootstrap log line must name the key file and never the key")
	}
	h := &harness{t: t, cfg: cfg, url: url, adminKey: strings.TrimSpace(string(key)), logs: logs}
	value := canary("ghp_")
	p.gh.AddToken(value, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"repo"}})
	h.mustCLI(value, "token", "add", "ci", "--provider", "github")

	n, err := server.RotateMasterKey(context.Background(), cfg)
	if err != nil || n != 1 {
		t.Fatalf("rotate: %d values, %v", n, err)
	}
	// The running server opens the re-wrapped value (it reloads the keyring).
	h.mustCLI("", "token", "test", "ci")
	stop()

	url, stop = serve()
	defer stop()
	h.url = url
	if again, _ := os.ReadFile(keyFile); !bytes.Equal(again, key) {
		t.Error("a restart re-bootstrapped the store")
	}
	h.mustCLI("", "token", "test", "ci")
	if out := h.mustCLI("", "token", "list"); !strings.Contains(out, "ci") {
		t.Errorf("token gone after restart:\n%s", out)
	}
}

func waitHealthy(t *testing.T, url string, done <-chan error) {
	t.Helper()
	for i := 0; i < 500; i++ {
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v", err)
		default:
		}
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("server never became healthy")
}
