package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/server"
)

// scrape fetches /metrics without any credential and returns each sample
// by its name and labels, and the raw text.
func scrape(t *testing.T, url string) (map[string]float64, string) {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out, string(b)
}

// TestMetricsAndRateLimits drives a real server through the CLI: adding a
// token and testing it twice records its rate limit (the second test
// revalidated with an ETag, spending nothing), `token show` prints it, and
// an unauthenticated scrape of /metrics shows every token family with
// plausible values and no token name or value.
func TestMetricsAndRateLimits(t *testing.T) {
	p := newProviders(t)
	h := start(t, p, "")
	value := canary("ghp_")
	exp := time.Now().Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
	p.gh.AddToken(value, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic,
		Scopes: []string{"repo", "admin:repo_hook"}, ExpiresAt: &exp, Repos: []string{"acme/api"}})

	h.mustCLI(value, "token", "add", "secret-name-ci", "--provider", "github")
	// A user's test asks GitHub afresh; the background revalidation after
	// it sends the ETag of that answer and gets a 304.
	h.mustCLI("", "token", "test", "secret-name-ci")
	org, err := h.app.Store.GetOrgByName(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	saved, err := h.app.Store.GetToken(context.Background(), org.ID, "secret-name-ci")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.app.Service.Revalidate(context.Background(), org.ID, saved.ID); err != nil {
		t.Fatal(err)
	}
	if got := p.gh.NotModified(value); got != 1 {
		t.Errorf("revalidating the saved token got %d 304s from GitHub, want 1 (revalidated with its ETag)", got)
	}
	// Add and the test spent one request each; the 304 nothing.
	remaining := 5000 - 2
	out := h.mustCLI("", "token", "show", "secret-name-ci")
	if want := "Rate limit:"; !strings.Contains(out, want) || !strings.Contains(out, strconv.Itoa(remaining)+"/5000 (core), resets at ") {
		t.Errorf("token show lacks %q with %d/5000 (core):\n%s", want, remaining, out)
	}
	var view struct {
		ID        string `json:"id"`
		RateLimit struct {
			Limit     int    `json:"limit"`
			Remaining *int   `json:"remaining"`
			Resource  string `json:"resource"`
		} `json:"rate_limit"`
	}
	if err := json.Unmarshal([]byte(h.get("/api/v1/tokens/secret-name-ci")), &view); err != nil {
		t.Fatal(err)
	}
	if view.RateLimit.Limit != 5000 || view.RateLimit.Remaining == nil || *view.RateLimit.Remaining != remaining || view.RateLimit.Resource != "core" {
		t.Errorf("API rate_limit = %+v, want 5000 limit, %d remaining, core", view.RateLimit, remaining)
	}

	got, text := scrape(t, h.url)
	want := map[string]float64{
		`gitaccess_tokens{status="expiring"}`:                                                1,
		`gitaccess_tokens{status="valid"}`:                                                   0,
		`gitaccess_tokens{status="invalid"}`:                                                 0,
		`gitaccess_provider_requests_total{code="200",provider="github"}`:                    2,
		`gitaccess_provider_requests_total{code="304",provider="github"}`:                    1,
		`gitaccess_token_rate_limit_remaining{provider="github",token_id="` + view.ID + `"}`: float64(remaining),
		`gitaccess_token_rate_limit_limit{provider="github",token_id="` + view.ID + `"}`:     5000,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	left := time.Until(exp).Seconds()
	if v := got["gitaccess_token_expiry_seconds"]; v <= left-300 || v > left+1 {
		t.Errorf("gitaccess_token_expiry_seconds = %v, want about %v", v, left)
	}
	for _, family := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := got[family]; !ok {
			t.Errorf("%s missing: the Go and process collectors are not registered", family)
		}
	}
	for _, secret := range []string{value, "secret-name-ci", "octocat"} {
		if strings.Contains(text, secret) {
			t.Errorf("/metrics shows %q", secret)
		}
	}

	// A user's test asks GitHub afresh, never answered from the cache.
	h.mustCLI("", "token", "test", "secret-name-ci")
	if got := p.gh.NotModified(value); got != 1 {
		t.Errorf("a user's test was answered 304 (%d in all): it must ask GitHub afresh", got)
	}

	// GitHub says the budget is spent until its reset an hour away: the
	// next test is refused by gitaccess without asking GitHub (503 with
	// Retry-After through the API), and counted as held.
	p.gh.FailNext(http.StatusForbidden, http.Header{"X-Ratelimit-Remaining": {"0"}})
	if code, out := h.cli("", "token", "test", "secret-name-ci"); code == 0 || !strings.Contains(out, "rate-limited") {
		t.Errorf("test against GitHub's rate limit: exit %d\n%s", code, out)
	}
	asked := p.gh.Requests(value)
	code, out := h.cli("", "token", "test", "secret-name-ci")
	if code == 0 || !strings.Contains(out, "gitaccess keeps the rest for deploys") {
		t.Errorf("test with the budget spent: exit %d, want refused by gitaccess\n%s", code, out)
	}
	if p.gh.Requests(value) != asked {
		t.Errorf("GitHub was asked %d more times with the budget spent", p.gh.Requests(value)-asked)
	}
	got, _ = scrape(t, h.url)
	for k, v := range map[string]float64{
		`gitaccess_provider_errors_total{kind="rate_limited",provider="github"}`:             1,
		`gitaccess_provider_errors_total{kind="held",provider="github"}`:                     1,
		`gitaccess_token_rate_limit_remaining{provider="github",token_id="` + view.ID + `"}`: 0,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

// TestMetricsListenMovesMetrics: with --metrics-listen, the main listener
// no longer answers /metrics with metrics.
func TestMetricsListenMovesMetrics(t *testing.T) {
	p := newProviders(t)
	policy := p.srv.Policy()
	app, err := server.Open(context.Background(), server.Config{
		DataDir: t.TempDir(), Logger: slogJSON(io.Discard), Egress: &policy, MetricsListen: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	url := newHTTPServer(t, app)
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(b), "gitaccess_provider_requests_total") || strings.Contains(string(b), "go_goroutines") {
		t.Errorf("the main listener still serves metrics with --metrics-listen set:\n%.300s", b)
	}
	// They are still counted, for the other listener.
	if app.Metrics == nil {
		t.Fatal("no metrics with --metrics-listen set")
	}
}

// TestMetricsWebhooksAndEvents: deliveries are counted by verdict and
// event sends by outcome, with their lag, as a scrape shows them.
func TestMetricsWebhooksAndEvents(t *testing.T) {
	p := newProviders(t)
	const repo = "Codertocat/Hello-World"
	p.gh.AddRepo(forgetest.GitHubRepo{FullName: repo, DefaultBranch: "master"})
	tok := canary("ghp_")
	p.gh.AddToken(tok, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"repo", "admin:repo_hook"}, Repos: []string{repo}})
	h := startPublic(t, p)
	h.mustCLI(tok, "token", "add", "gh", "--provider", "github")
	sub := newSubscriber(t)
	var created struct{ Secret string }
	if err := json.Unmarshal([]byte(h.mustCLI("", "subscription", "add", sub.srv.URL+"/events", "--events", "deploy.*,preview.*", "-o", "json")), &created); err != nil {
		t.Fatal(err)
	}
	sub.secret = secret.New(created.Secret)
	h.mustCLI("", "app", "create", "hello", "--repo", "https://github.com/"+repo, "--auto-deploy", "--previews")
	hooks := p.gh.Hooks(repo)
	if len(hooks) != 1 {
		t.Fatalf("installed hooks = %+v", hooks)
	}
	hookURL, hookSecret := hooks[0].URL, hooks[0].Secret
	// Pull requests only: a push would start a mirror refresh that
	// outlives the test.
	opened := contract(t, "github/webhooks/pull_request/opened.json")
	closed := contract(t, "github/webhooks/pull_request/closed.json")
	for _, s := range []struct {
		id, sec string
		body    []byte
	}{
		{"d-1", hookSecret, opened},
		{"d-1", hookSecret, opened}, // duplicate
		{"d-forged", "not-the-secret", opened},
		{"d-2", hookSecret, closed},
	} {
		deliver(t, hookURL, "pull_request", s.id, s.body, s.sec)
	}
	deliver(t, h.url+"/hooks/hk_doesnotexist", "pull_request", "x", opened, hookSecret)
	n := len(sub.await(1))

	// The subscriber has the events; the attempt is counted once the
	// dispatcher has its answer, so wait for the count to catch up.
	var got map[string]float64
	for deadline := time.Now().Add(30 * time.Second); ; {
		got, _ = scrape(t, h.url)
		if got[`gitaccess_event_delivery_attempts_total{outcome="delivered"}`] >= float64(n) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for k, v := range map[string]float64{
		`gitaccess_webhook_deliveries_total{provider="github",verdict="accepted"}`:      2,
		`gitaccess_webhook_deliveries_total{provider="github",verdict="duplicate"}`:     1,
		`gitaccess_webhook_deliveries_total{provider="github",verdict="bad-signature"}`: 1,
		`gitaccess_webhook_deliveries_total{provider="",verdict="unknown-hook"}`:        1,
	} {
		if g := got[k]; g != v {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	delivered := got[`gitaccess_event_delivery_attempts_total{outcome="delivered"}`]
	if delivered < float64(n) {
		t.Errorf("event deliveries counted %v, the subscriber received %d", delivered, n)
	}
	if c := got["gitaccess_event_delivery_lag_seconds_count"]; c < delivered {
		t.Errorf("lag observed %v times for %v deliveries", c, delivered)
	}
	if s := got["gitaccess_event_delivery_lag_seconds_sum"]; s < 0 || s > 60*delivered {
		t.Errorf("lag sum %vs for %v deliveries is implausible", s, delivered)
	}
}
