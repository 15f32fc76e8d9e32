package server_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/events"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/server"
)

// subscriber is a platform endpoint that records what it receives and
// checks every Standard Webhooks signature.
type subscriber struct {
	t      *testing.T
	secret secret.Value
	mu     sync.Mutex
	got    []map[string]any
	bad    int
	srv    *httptest.Server
	arrive chan struct{}
}

func newSubscriber(t *testing.T) *subscriber {
	s := &subscriber{t: t, arrive: make(chan struct{}, 1)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		var ts int64
		fmt.Sscan(r.Header.Get("webhook-timestamp"), &ts)
		if !events.Verify(s.secret, r.Header.Get("webhook-id"), time.Unix(ts, 0), body, r.Header.Get("webhook-signature")) {
			s.bad++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		ev["webhook-id"] = r.Header.Get("webhook-id")
		s.got = append(s.got, ev)
		select { // a wake-up, never a wait: await re-reads got anyway
		case s.arrive <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// await waits for n events in all; the deadline only bounds a broken run
// (it exceeds one job lease, which crash recovery waits out).
func (s *subscriber) await(n int) []map[string]any {
	s.t.Helper()
	deadline := time.After(events.Lease + 40*time.Second)
	for {
		s.mu.Lock()
		got := append([]map[string]any(nil), s.got...)
		s.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-s.arrive:
		case <-deadline:
			s.t.Fatalf("received %d events, want %d: %v", len(got), n, got)
		}
	}
}

// awaitAll waits until every key in want was received (keyed by key) and
// returns what was seen; the deadline only bounds a broken run.
func (s *subscriber) awaitAll(key func(map[string]any) string, want map[string]bool) map[string]bool {
	s.t.Helper()
	deadline := time.After(events.Lease + 40*time.Second)
	for {
		s.mu.Lock()
		seen := map[string]bool{}
		for _, e := range s.got {
			seen[key(e)] = true
		}
		s.mu.Unlock()
		missing := 0
		for k := range want {
			if !seen[k] {
				missing++
			}
		}
		if missing == 0 {
			return seen
		}
		select {
		case <-s.arrive:
		case <-deadline:
			return seen
		}
	}
}

// startPublic runs gitaccess on a listener known before it opens, so its
// public URL (the hooks' address) is its own.
func startPublic(t *testing.T, p *providers) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	policy := p.srv.Policy()
	logs := &forgetest.LogBuffer{}
	h := &harness{t: t, logs: logs, url: "http://" + ln.Addr().String()}
	h.cfg = server.Config{
		DataDir: t.TempDir(), Logger: slogJSON(logs), Egress: &policy,
		PublicURL: h.url,
		// The platform's subscriber listens on plain http on this host.
		AllowInsecureHTTP: true,
	}
	app, err := server.Open(context.Background(), h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.app = app
	ctx, cancel := context.WithCancel(context.Background())
	app.Start(ctx)
	ts := httptest.NewUnstartedServer(app.Handler)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(func() { cancel(); ts.Close(); app.Close() })
	key, err := os.ReadFile(filepath.Join(h.cfg.DataDir, server.AdminAPIKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	h.adminKey = strings.TrimSpace(string(key))
	return h
}

func contract(t *testing.T, rel string) []byte {
	t.Helper()
	for _, dir := range []string{"../../../shared/contracts", "../../shared/contracts"} {
		if b, err := os.ReadFile(filepath.Join(dir, rel)); err == nil {
			return b
		}
	}
	t.Fatalf("contract %s not found beside the repository", rel)
	return nil
}

// deliver posts a GitHub delivery signed with sec (empty: unsigned).
func deliver(t *testing.T, hookURL, event, id string, body []byte, sec string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, hookURL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	if sec != "" {
		req.Header.Set("X-Hub-Signature-256", "sha256="+hmacHex(sec, body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestWebhooksEndToEnd is issue 4 as a deployment platform lives it: an
// application with auto-deploy and previews gets a hook on GitHub; real
// GitHub payloads, signed, become deploy and preview events that reach the
// subscriber signed, once each, in order; forged, duplicate and unknown
// deliveries are refused or recorded with their verdicts; a hook deleted
// behind gitaccess's back is found and repaired; deleting the app removes
// its hook.
func TestWebhooksEndToEnd(t *testing.T) {
	p := newProviders(t)
	const repo = "Codertocat/Hello-World"
	p.gh.AddRepo(forgetest.GitHubRepo{FullName: repo, DefaultBranch: "master"})
	tok := canary("ghp_")
	p.gh.AddToken(tok, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"repo", "admin:repo_hook"}, Repos: []string{repo}})
	h := startPublic(t, p)
	h.mustCLI(tok, "token", "add", "gh", "--provider", "github")

	sub := newSubscriber(t)
	var created struct{ ID, Secret string }
	if err := json.Unmarshal([]byte(h.mustCLI("", "subscription", "add", sub.srv.URL+"/events", "--events", "deploy.*,preview.*", "-o", "json")), &created); err != nil || !strings.HasPrefix(created.Secret, "whsec_") {
		t.Fatalf("subscription add: %v %+v", err, created)
	}
	sub.secret = secret.New(created.Secret)

	h.mustCLI("", "app", "create", "hello", "--repo", "https://github.com/"+repo, "--auto-deploy", "--previews")
	hooks := p.gh.Hooks(repo)
	if len(hooks) != 1 || !strings.HasPrefix(hooks[0].URL, h.url+"/hooks/") || hooks[0].ContentType != "json" || !hooks[0].Active {
		t.Fatalf("installed hooks = %+v", hooks)
	}
	hookURL, hookSecret := hooks[0].URL, hooks[0].Secret
	// Creating it again (idempotent by URL) is repair's job; the app shows it.
	var shown struct {
		Hook struct{ URL, State string }
	}
	_ = json.Unmarshal([]byte(h.mustCLI("", "app", "show", "hello", "-o", "json")), &shown)
	if shown.Hook.URL != hookURL || shown.Hook.State != "installed" {
		t.Errorf("app show hook = %+v", shown.Hook)
	}

	push := contract(t, "github/webhooks/push/push.new-branch.json")
	opened := contract(t, "github/webhooks/pull_request/opened.json")
	synced := contract(t, "github/webhooks/pull_request/synchronize.json")
	closed := contract(t, "github/webhooks/pull_request/closed.json")
	steps := []struct {
		event, id string
		body      []byte
		sec       string
		status    int
	}{
		{"ping", "d-ping", contract(t, "github/webhooks/ping/ping.json"), hookSecret, 200},
		{"push", "d-1", push, hookSecret, 200},
		{"push", "d-1", push, hookSecret, 200}, // redelivery: stored once
		{"push", "d-forged", push, "not-the-secret", 401},
		{"push", "d-unsigned", push, "", 401},
		{"pull_request", "d-2", opened, hookSecret, 200},
		{"pull_request", "d-3", synced, hookSecret, 200},
		{"pull_request", "d-4", closed, hookSecret, 200},
		{"push", "d-tag", contract(t, "github/webhooks/push/push.json"), hookSecret, 200},
	}
	for _, s := range steps {
		if got := deliver(t, hookURL, s.event, s.id, s.body, s.sec); got != s.status {
			t.Errorf("%s %s: HTTP %d, want %d", s.event, s.id, got, s.status)
		}
	}
	if got := deliver(t, h.url+"/hooks/hk_doesnotexist", "push", "x", push, hookSecret); got != 404 {
		t.Errorf("unknown hook: HTTP %d", got)
	}

	got := sub.await(4)
	types := []string{}
	for _, e := range got {
		types = append(types, e["type"].(string))
	}
	if want := "deploy.requested,preview.requested,preview.requested,preview.closed"; strings.Join(types, ",") != want {
		t.Fatalf("subscriber received %v, want %s in this order", types, want)
	}
	d := got[0]["data"].(map[string]any)
	if d["app"] != "hello" || d["branch"] != "master" || d["sha"] == "" || d["repository"] != "https://github.com/Codertocat/Hello-World" {
		t.Errorf("deploy.requested data = %v", d)
	}
	if n := got[1]["data"].(map[string]any)["number"]; n != float64(2) {
		t.Errorf("preview.requested number = %v", n)
	}
	if sub.bad != 0 {
		t.Errorf("%d events arrived with a bad signature", sub.bad)
	}

	// The delivery log says why each delivery did or did not deploy.
	var log []struct {
		DeliveryID string `json:"delivery_id"`
		Verdict    string `json:"verdict"`
		Detail     string `json:"detail"`
	}
	_ = json.Unmarshal([]byte(h.mustCLI("", "hook", "deliveries", "hello", "-o", "json")), &log)
	verdicts := map[string]string{}
	for _, l := range log {
		verdicts[l.DeliveryID+"/"+l.Verdict] = l.Detail
	}
	for _, want := range []string{"d-1/accepted", "d-ping/ignored", "d-tag/ignored", "/bad-signature"} {
		if _, ok := verdicts[want]; !ok {
			t.Errorf("delivery log lacks %s: %v", want, verdicts)
		}
	}
	if out := h.mustCLI("", "events", "list", "-o", "json"); strings.Count(out, `"delivered"`) != 4 {
		t.Errorf("events list does not show 4 delivered events:\n%s", out)
	}

	// A hook deleted behind gitaccess's back is found and repaired.
	p.gh.RemoveHook(repo, hooks[0].ID)
	if out := h.mustCLI("", "hook", "check", "hello", "-o", "json"); !strings.Contains(out, `"missing"`) {
		t.Errorf("hook check after deletion:\n%s", out)
	}
	h.mustCLI("", "hook", "repair", "hello")
	if hs := p.gh.Hooks(repo); len(hs) != 1 || hs[0].URL != hookURL {
		t.Errorf("after repair: %+v", hs)
	}
	h.mustCLI("", "app", "delete", "hello", "--yes")
	if hs := p.gh.Hooks(repo); len(hs) != 0 {
		t.Errorf("deleting the app left its hook: %+v", hs)
	}
}

func hmacHex(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func secretOf(s string) secret.Value { return secret.New(s) }

// serverCfg is enough configuration for the CLI helpers of a harness
// whose server runs in another process.
func serverCfg(dataDir string) server.Config { return server.Config{DataDir: dataDir} }
