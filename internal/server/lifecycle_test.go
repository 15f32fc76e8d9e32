package server_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/lifecycle"
	"github.com/gitaccess/gitaccess/internal/lifecycle/lifecycletest"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/server"
	"github.com/gitaccess/gitaccess/internal/store"
)

// openLifecycle opens the server on dataDir with the fake clock and mail to
// sink, serving HTTP on ln, and runs the event dispatcher; the lifecycle
// runner is ticked by the test (its own loop would tick on the real clock).
func openLifecycle(t *testing.T, h *harness, ln net.Listener) func() {
	t.Helper()
	app, err := server.Open(context.Background(), h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.app = app
	ctx, cancel := context.WithCancel(context.Background())
	go app.Events.Run(ctx)
	ts := httptest.NewUnstartedServer(app.Handler)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	stop := func() { cancel(); ts.Close(); app.Close() }
	return stop
}

// TestTokenLifecycleEndToEnd is issue 5 as an operator lives it: a token
// expiring in 40 days warns once at 30 days, to the subscriber and by mail,
// naming its application; `gitaccess status` and `token list` show it; a
// revoked token is found by the next sweep and warned about once; a
// restart warns about nothing again.
func TestTokenLifecycleEndToEnd(t *testing.T) {
	p := newProviders(t)
	clk := lifecycletest.NewClock(time.Now().UTC().Truncate(time.Second))
	expires := clk.Now().Add(40 * 24 * time.Hour)
	value := canary("ghp_")
	p.gh.AddToken(value, forgetest.GitHubToken{Login: "ci-bot", Kind: forgetest.GitHubClassic, Scopes: []string{"repo", "admin:repo_hook"},
		ExpiresAt: &expires, Repos: []string{"acme/web"}})
	sink := lifecycletest.StartSink(t, nil)
	smtpCfg, err := lifecycle.ParseSMTPURL("smtp://" + sink.Addr + "?from=gitaccess@example.com&to=ops@example.com")
	if err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	policy := p.srv.Policy()
	logs := &forgetest.LogBuffer{}
	h := &harness{t: t, logs: logs, url: "http://" + ln.Addr().String()}
	h.cfg = server.Config{DataDir: t.TempDir(), Logger: slogJSON(logs), Egress: &policy, PublicURL: h.url,
		AllowInsecureHTTP: true, Now: clk.Now, SMTP: &smtpCfg}
	stop := openLifecycle(t, h, ln)
	key, err := os.ReadFile(filepath.Join(h.cfg.DataDir, server.AdminAPIKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	h.adminKey = strings.TrimSpace(string(key))

	h.mustCLI(value, "token", "add", "ci", "--provider", "github")
	h.mustCLI("", "app", "create", "web", "--repo", "https://github.com/acme/web", "--token", "ci")
	sub := newSubscriber(t)
	var created struct{ ID, Secret string }
	if err := json.Unmarshal([]byte(h.mustCLI("", "subscription", "add", sub.srv.URL+"/events", "--events", "token.*", "-o", "json")), &created); err != nil {
		t.Fatal(err)
	}
	sub.secret = secret.New(created.Secret)

	ctx := t.Context()
	h.app.Lifecycle.Tick(ctx) // first sweep at start: 40 days left, nothing to say
	if out := h.mustCLI("", "status"); !strings.Contains(out, "1 valid") || !strings.Contains(out, "last swept") {
		t.Errorf("status at start:\n%s", out)
	}

	clk.Set(expires.Add(-29*24*time.Hour - time.Hour))
	h.app.Lifecycle.Tick(ctx)
	got := sub.await(1)
	if got[0]["type"] != "token.expiring" {
		t.Fatalf("subscriber got %v, want token.expiring", got[0])
	}
	d := got[0]["data"].(map[string]any)
	tok := d["token"].(map[string]any)
	apps := d["applications"].([]any)
	if tok["name"] != "ci" || tok["days_left"] != float64(29) || d["threshold_days"] != float64(30) || len(apps) != 1 ||
		apps[0].(map[string]any)["name"] != "web" || apps[0].(map[string]any)["repository"] != "https://github.com/acme/web" {
		t.Errorf("token.expiring data = %v", d)
	}
	if mails := mailTexts(sink); len(mails) != 1 || !strings.Contains(mails[0], "token ci expires in 29 days") || !strings.Contains(mails[0], "gitaccess token rotate ci") {
		t.Errorf("mails = %q, want one naming ci and 29 days", mails)
	}
	out := h.mustCLI("", "status")
	for _, want := range []string{"1 expiring", "Expiring within 30 days", "ci", "(29 days left)", "web", "expiring (30-day)", "event + mail"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if out := h.mustCLI("", "token", "list"); !strings.Contains(out, "expiring") || !strings.Contains(out, ": rotate") {
		t.Errorf("token list does not mark the expiring token:\n%s", out)
	}

	// Revoked at GitHub: the next sweep finds it.
	p.gh.Revoke(value)
	clk.Set(clk.Now().Add(7 * time.Hour))
	h.app.Lifecycle.Tick(ctx)
	got = sub.await(2)
	if got[1]["type"] != "token.invalid" {
		t.Fatalf("second event %v, want token.invalid", got[1])
	}
	if detail := got[1]["data"].(map[string]any)["token"].(map[string]any)["status_detail"]; !strings.Contains(detail.(string), "Bad credentials") {
		t.Errorf("token.invalid status_detail = %v, want GitHub's words", detail)
	}
	out = h.mustCLI("", "status")
	if !strings.Contains(out, "Refused by their provider") || !strings.Contains(out, "Bad credentials") {
		t.Errorf("status after revocation:\n%s", out)
	}

	// Restart: the same data directory, later; nothing is warned again.
	stop()
	ln, err = net.Listen("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	stop = openLifecycle(t, h, ln)
	defer stop()
	clk.Set(clk.Now().Add(7 * time.Hour))
	h.app.Lifecycle.Tick(ctx)
	evs, _, err := h.app.Store.ListEvents(ctx, orgOf(t, h), store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Errorf("%d events after a restart and another sweep, want still 2", len(evs))
	}
	if n := len(mailTexts(sink)); n != 2 {
		t.Errorf("%d mails, want 2 (one per warning)", n)
	}
	if strings.Contains(h.seen.String(), value) || strings.Contains(logs.String(), value) || strings.Contains(strings.Join(mailTexts(sink), ""), value) {
		t.Error("the token value leaked into output, logs or mail")
	}
}

func orgOf(t *testing.T, h *harness) string {
	t.Helper()
	var who struct {
		OrgID string `json:"org_id"`
	}
	if err := json.Unmarshal([]byte(h.get("/api/v1/whoami")), &who); err != nil || who.OrgID == "" {
		t.Fatalf("whoami: %v %+v", err, who)
	}
	return who.OrgID
}

// mailTexts is what the sink received, message by message.
func mailTexts(s *lifecycletest.Sink) []string {
	var out []string
	for _, m := range s.Received() {
		out = append(out, m.Data)
	}
	return out
}
