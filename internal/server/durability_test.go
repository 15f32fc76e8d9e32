package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/store/storetest"
)

var buildOnce struct {
	sync.Once
	path string
	err  error
}

// gitaccessBinary builds cmd/gitaccess once per test run: these tests kill
// and restart real server processes.
func gitaccessBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gitaccess-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "gitaccess")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, "../../cmd/gitaccess").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// proc is a `gitaccess serve` process.
type proc struct {
	cmd  *exec.Cmd
	url  string
	args []string
	t    *testing.T
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func serveProc(t *testing.T, dataDir, addr string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"serve", "--data-dir", dataDir, "--listen", addr, "--public-url", "http://" + addr, "--allow-insecure-http"}, extra...)
	p := &proc{url: "http://" + addr, args: args, t: t}
	p.start()
	t.Cleanup(p.kill)
	return p
}

func (p *proc) start() {
	p.t.Helper()
	p.cmd = exec.Command(gitaccessBinary(p.t), p.args...)
	logf, err := os.CreateTemp(p.t.TempDir(), "serve-*.log")
	if err != nil {
		p.t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	waitHealthy(p.t, p.url, done)
}

func (p *proc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_, _ = p.cmd.Process.Wait()
	}
}

// pushBody is GitHub's real push to master with its "after" SHA replaced,
// so each delivery's deploy event names it.
func pushBody(t *testing.T, sha string) []byte {
	b := contract(t, "github/webhooks/push/push.new-branch.json")
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["after"] = sha
	out, _ := json.Marshal(m)
	return out
}

// ghesWorld is a GitHub Enterprise fake reachable from other processes.
func ghesWorld(t *testing.T) (*forgetest.GitHub, *forgetest.Server, string) {
	gh := forgetest.NewGitHub()
	srv := forgetest.NewServer(t, nil, gh)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, srv.CA.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return gh, srv, caFile
}

// setupApp adds a token and an auto-deploy application on the GHES fake
// and a subscriber, through the CLI against a running server.
func setupApp(t *testing.T, h *harness, gh *forgetest.GitHub, srv *forgetest.Server, caFile string, sub *subscriber) (hookURL, hookSecret string) {
	const repo = "Codertocat/Hello-World"
	gh.AddRepo(forgetest.GitHubRepo{FullName: repo, DefaultBranch: "master"})
	tok := canary("ghp_")
	gh.AddToken(tok, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"repo", "admin:repo_hook"}, Repos: []string{repo}})
	h.mustCLI(tok, "token", "add", "ghe", "--provider", "github", "--url", srv.URL, "--ca-file", caFile)
	var created struct{ Secret string }
	_ = json.Unmarshal([]byte(h.mustCLI("", "subscription", "add", sub.srv.URL, "--events", "deploy.*", "-o", "json")), &created)
	sub.secret = secretOf(created.Secret)
	h.mustCLI("", "app", "create", "hello", "--repo", srv.URL+"/"+repo, "--auto-deploy")
	hooks := gh.Hooks(repo)
	if len(hooks) != 1 {
		t.Fatalf("hooks = %+v", hooks)
	}
	return hooks[0].URL, hooks[0].Secret
}

func adminKeyOf(t *testing.T, dataDir string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, "admin-api-key"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestSIGKILLLosesNoAcceptedDelivery sends a burst of signed pushes and
// kills the server with SIGKILL in the middle of it. After a restart,
// every delivery that got a 2xx reaches the subscriber as its deploy
// event: nothing acknowledged is lost.
func TestSIGKILLLosesNoAcceptedDelivery(t *testing.T) {
	gh, srv, caFile := ghesWorld(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	p := serveProc(t, dataDir, freeAddr(t))
	h := &harness{t: t, url: p.url, adminKey: adminKeyOf(t, dataDir), logs: &forgetest.LogBuffer{}, cfg: serverCfg(dataDir)}
	sub := newSubscriber(t)
	hookURL, hookSecret := setupApp(t, h, gh, srv, caFile, sub)

	const n = 400
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				sha := fmt.Sprintf("%040x", i+1)
				if deliverQuiet(hookURL, fmt.Sprintf("d-%d", i), pushBody(t, sha), hookSecret) == 200 {
					mu.Lock()
					acked[sha] = true
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		if i == n/2 {
			p.kill()
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if len(acked) == 0 || len(acked) == n {
		t.Fatalf("%d of %d deliveries acknowledged; the kill did not land mid-burst", len(acked), n)
	}
	p.start()

	// At least once: a job sent just before the kill may come again, so
	// wait for every acknowledged delivery, not for a count.
	seen := sub.awaitAll(func(e map[string]any) string { return e["data"].(map[string]any)["sha"].(string) }, acked)
	for sha := range acked {
		if !seen[sha] {
			t.Errorf("delivery %s got a 2xx but its deploy event never arrived", sha)
		}
	}
	t.Logf("%d deliveries acknowledged around the kill; all reached the subscriber", len(acked))
}

// TestTwoReplicasShareTheQueue runs two `serve` processes on one
// PostgreSQL database; deliveries go to either; every event reaches the
// subscriber exactly once.
func TestTwoReplicasShareTheQueue(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	gh, srv, caFile := ghesWorld(t)
	dir1, dir2 := filepath.Join(t.TempDir(), "r1"), filepath.Join(t.TempDir(), "r2")
	env := []string{"GITACCESS_DATABASE_URL=" + dsn}
	p1 := serveProcEnv(t, env, dir1, freeAddr(t))
	p2 := serveProcEnv(t, env, dir2, freeAddr(t), "--master-key-file", filepath.Join(dir1, "master.key"))
	h := &harness{t: t, url: p1.url, adminKey: adminKeyOf(t, dir1), logs: &forgetest.LogBuffer{}, cfg: serverCfg(dir1)}
	sub := newSubscriber(t)
	hookURL, hookSecret := setupApp(t, h, gh, srv, caFile, sub)
	other := strings.Replace(hookURL, p1.url, p2.url, 1)

	const n = 200
	for i := 0; i < n; i++ {
		target := hookURL
		if i%2 == 1 {
			target = other
		}
		if code := deliverQuiet(target, fmt.Sprintf("r-%d", i), pushBody(t, fmt.Sprintf("%040x", i+1)), hookSecret); code != 200 {
			t.Fatalf("delivery %d: HTTP %d", i, code)
		}
	}
	sub.await(n)
	// Every event arrived; give a double delivery the time to surface
	// before counting (a sleep, not a bound on anything measured).
	time.Sleep(2 * time.Second)
	got := sub.await(n)
	count := map[string]int{}
	for _, e := range got {
		count[e["data"].(map[string]any)["sha"].(string)]++
	}
	if len(got) != n || len(count) != n {
		t.Errorf("subscriber received %d events for %d distinct deliveries, want exactly %d each once", len(got), len(count), n)
	}
}

func serveProcEnv(t *testing.T, env []string, dataDir, addr string, extra ...string) *proc {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v) // the child process inherits it
	}
	return serveProc(t, dataDir, addr, extra...)
}

func deliverQuiet(hookURL, id string, body []byte, sec string) int {
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, hookURL, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hmacHex(sec, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = bufio.NewReader(resp.Body).Discard(1 << 20)
	return resp.StatusCode
}
