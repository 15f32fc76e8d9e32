package gitx_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/gitx"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// helperEnv names the config file of the credential helper this test
// binary becomes when git runs it (see TestMain).
const helperEnv = "GITX_TEST_HELPER"

type helperAnswer struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Quit     bool   `json:"quit"`
}

type helperConfig struct {
	// Answers by the path git sends ("org/app.git"); "" answers requests
	// without a path.
	Answers map[string]helperAnswer `json:"answers"`
	Log     string                  `json:"log"`
}

type loggedRequest struct {
	Args     []string `json:"args"`
	Action   string   `json:"action"`
	Protocol string   `json:"protocol"`
	Host     string   `json:"host"`
	Path     string   `json:"path"`
	URL      string   `json:"url"`
	Username string   `json:"username"`
}

// TestMain turns the test binary into a git credential helper when git
// runs it with GITX_TEST_HELPER set, so tests drive the real protocol
// through ParseRequest and Response from a real git.
func TestMain(m *testing.M) {
	if cfg := os.Getenv(helperEnv); cfg != "" {
		if err := runHelper(cfg, os.Args[len(os.Args)-1]); err != nil {
			fmt.Fprintln(os.Stderr, "test helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runHelper(cfgFile, action string) error {
	b, err := os.ReadFile(cfgFile)
	if err != nil {
		return err
	}
	var cfg helperConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return err
	}
	req, err := gitx.ParseRequest(os.Stdin)
	if err != nil {
		return err
	}
	line, _ := json.Marshal(loggedRequest{Args: os.Args[1:], Action: action, Protocol: req.Protocol, Host: req.Host, Path: req.Path, URL: req.URL(), Username: req.Username})
	f, err := os.OpenFile(cfg.Log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, _ = f.Write(append(line, '\n'))
	f.Close()
	if action != "get" {
		return nil
	}
	a, ok := cfg.Answers[req.Path]
	if !ok {
		return nil
	}
	_, err = gitx.Response{Username: a.Username, Password: secret.New(a.Password), Quit: a.Quit}.WriteTo(os.Stdout)
	return err
}

// fixture is a fake provider with a git server, a Runner that records
// every argv and traces every git process (GIT_TRACE logs the argv of
// git's own children too), and the test helper.
type fixture struct {
	t      testing.TB
	gs     *forgetest.GitServer
	runner *gitx.Runner
	logger *slog.Logger
	trace  string
	cfg    string
	log    string
	helper string

	mu   sync.Mutex
	argv [][]string
}

func newFixture(t testing.TB, conv forgetest.Convention) *fixture {
	t.Helper()
	tmp := t.TempDir()
	f := &fixture{
		t:     t,
		gs:    forgetest.NewGitServer(t, filepath.Join(tmp, "server"), conv),
		trace: filepath.Join(tmp, "git.trace"),
		cfg:   filepath.Join(tmp, "helper.json"),
		log:   filepath.Join(tmp, "helper.log"),
	}
	f.logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	r, err := gitx.NewRunner(filepath.Join(tmp, "home"), f.logger)
	if err != nil {
		t.Fatal(err)
	}
	r.Env = append(f.gs.Env(), helperEnv+"="+f.cfg, "GIT_TRACE="+f.trace,
		// A -race helper would otherwise sleep a second at exit.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	r.OnExec = func(argv []string) {
		f.mu.Lock()
		f.argv = append(f.argv, argv)
		f.mu.Unlock()
	}
	f.runner = r
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f.helper = gitx.HelperCommand(exe)
	f.answer(nil)
	return f
}

// answer sets what the helper answers, by repository path.
func (f *fixture) answer(answers map[string]helperAnswer) {
	f.t.Helper()
	b, _ := json.Marshal(helperConfig{Answers: answers, Log: f.log})
	if err := os.WriteFile(f.cfg, b, 0o600); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) helperRequests() []loggedRequest {
	f.t.Helper()
	b, err := os.ReadFile(f.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	var out []loggedRequest
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r loggedRequest
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// execs counts the git processes started for a subcommand.
func (f *fixture) execs(sub string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, a := range f.argv {
		for _, w := range a[1:] {
			if !strings.HasPrefix(w, "-") && !strings.Contains(w, "=") {
				if w == sub {
					n++
				}
				break
			}
		}
	}
	return n
}

// assertNoSecret checks every argv this test's git processes had, and the
// files given, for each secret.
func (f *fixture) assertNoSecret(files []string, secrets ...string) {
	f.t.Helper()
	f.mu.Lock()
	var all strings.Builder
	for _, a := range f.argv {
		all.WriteString(strings.Join(a, " ") + "\n")
	}
	f.mu.Unlock()
	trace, err := os.ReadFile(f.trace)
	if err != nil {
		f.t.Fatalf("no git trace: %v", err)
	}
	if !strings.Contains(string(trace), "trace: ") {
		f.t.Fatalf("git trace is empty")
	}
	sources := map[string]string{"recorded argv": all.String(), "GIT_TRACE (argv of git and its children)": string(trace)}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.t.Fatalf("read %s: %v", file, err)
		}
		sources[file] = string(b)
	}
	for name, text := range sources {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				f.t.Errorf("secret found in %s", name)
			}
		}
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
