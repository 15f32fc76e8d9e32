package cli_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/cli"
	"github.com/gitaccess/gitaccess/internal/server"
)

// TestStatusShowsWhatNeedsAttention: `gitaccess status` leads with what
// breaks: refused tokens in the provider's words, expiring ones with the
// days left and their applications, the warnings sent, and the sweep.
func TestStatusShowsWhatNeedsAttention(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("GET /api/v1/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{
  "organization": "acme",
  "tokens_by_status": {"valid": 3, "expiring": 1, "invalid": 1},
  "total": 5,
  "expiring": [{"name": "ci", "provider": "github", "host": "github.com", "status": "expiring",
    "expires_at": "2026-01-22T00:00:00Z", "days_left": 11,
    "applications": [{"name": "api", "repository": "https://github.com/acme/api", "branch": "main"},
                     {"name": "web", "repository": "https://github.com/acme/web", "branch": "main"}]}],
  "invalid": [{"name": "old", "provider": "gitlab", "host": "gitlab.com", "status": "invalid",
    "status_detail": "refused by GitLab on 2026-01-09T08:00:00Z: HTTP 401 401 Unauthorized", "applications": []}],
  "warnings": [
    {"token": "ci", "kind": "expiring", "threshold_days": 14, "detail": "expires on 2026-01-22 (11 days left; the 14-day warning)",
     "created_at": "2026-01-10T06:00:00Z", "event_id": "evt_1", "mailed_at": "2026-01-10T06:01:00Z"},
    {"token": "old", "kind": "invalid", "detail": "refused by GitLab", "created_at": "2026-01-09T08:00:00Z", "event_id": "evt_0",
     "mail_error": "dial tcp: connection refused"}],
  "revalidation": {"last_run_at": "2026-01-10T10:00:00Z", "next_run_at": "2026-01-10T16:12:00Z", "running": false}
}`))
	})
	h := newHarness(t).loggedIn(api)
	out := h.run("", "status").ok(t).stdout
	for _, want := range []string{
		"Organization acme: 5 tokens: 1 invalid, 1 expiring, 3 valid",
		"Refused by their provider", "old", "HTTP 401 401 Unauthorized", "none",
		"Expiring within 30 days", "2026-01-22 (11 days left)", "api, web",
		"expiring (14-day)", "event + mail", "event; mail failed: dial tcp: connection refused",
		"last swept 2026-01-10 10:00 UTC (2h 0m ago), next 2026-01-10 16:12 UTC (in 4h 12m)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "Refused") > strings.Index(out, "Expiring") {
		t.Errorf("refused tokens should come first:\n%s", out)
	}
}

// TestServeLifecycleFlags: serve takes the revalidation interval and the
// SMTP server, never an SMTP password on the command line.
func TestServeLifecycleFlags(t *testing.T) {
	var (
		got    server.Config
		called int
		unset  []string
	)
	h := newHarness(t)
	h.opts = func(o *cli.Options) {
		o.Unsetenv = func(k string) error { unset = append(unset, k); return nil }
		o.Serve = func(_ context.Context, cfg server.Config) error { got = cfg; called++; return nil }
	}
	const password = "smtp-S3cretPassw0rd"
	h.secrets = append(h.secrets, password)

	h.run("", "serve", "--smtp-url", "smtp://alerts:"+password+"@mail.example.com?from=g@example.com&to=ops@example.com").
		failed(t, "--smtp-url must not contain a password", "--smtp-password-file", "GITACCESS_SMTP_URL")
	h.run("", "serve", "--revalidate-every", "10s").failed(t, "--revalidate-every", "at least 1m")
	h.run("", "serve", "--smtp-url", "smtp://mail.example.com").failed(t, "--smtp-url", "from=")
	h.run("", "serve", "--smtp-password-file", "/nonexistent").failed(t, "no SMTP server")
	if called != 0 {
		t.Fatalf("Serve ran %d times on bad flags", called)
	}

	pwFile := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.run("", "serve", "--revalidate-every", "2h", "--smtp-url", "smtp://alerts@mail.example.com:2525?from=g@example.com&to=ops@example.com",
		"--smtp-password-file", pwFile).ok(t)
	if got.RevalidateEvery != 2*time.Hour || got.SMTP == nil || got.SMTP.Host != "mail.example.com" || got.SMTP.Port != "2525" ||
		got.SMTP.Username != "alerts" || got.SMTP.Password.Reveal() != password || got.SMTP.To[0] != "ops@example.com" {
		t.Fatalf("config = every %v, smtp %+v", got.RevalidateEvery, got.SMTP)
	}

	// The whole URL, password included, may come from the environment,
	// which is then cleared so git processes do not inherit it.
	h.env["GITACCESS_SMTP_URL"] = "smtps://alerts:" + password + "@mail.example.com?from=g@example.com&to=ops@example.com"
	unset = nil
	h.run("", "serve").ok(t)
	if got.SMTP == nil || !got.SMTP.ImplicitTLS || got.SMTP.Password.Reveal() != password || got.RevalidateEvery != 0 {
		t.Fatalf("from the environment: every %v, smtp %+v", got.RevalidateEvery, got.SMTP)
	}
	if !strings.Contains(strings.Join(unset, ","), "GITACCESS_SMTP_URL") {
		t.Errorf("GITACCESS_SMTP_URL was not cleared: unset %v", unset)
	}
	if r := h.run("", "serve", "--help"); !strings.Contains(r.stdout, "--smtp-password-file") || !strings.Contains(r.stdout, "never read from a flag") {
		t.Errorf("serve --help does not explain where the SMTP password goes:\n%s", r.stdout)
	}
}

// TestTokenListWarnColumn: `token list` says which tokens need rotating.
func TestTokenListWarnColumn(t *testing.T) {
	tokens := []access.TokenView{
		tokenView("deploy", access.StatusExpiring, ptr(now.Add(12*24*time.Hour+time.Hour))),
		tokenView("revoked", access.StatusInvalid, nil),
		tokenView("forever", access.StatusValid, nil),
	}
	api := newFakeAPI(t)
	api.handle("GET /api/v1/tokens", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, 200, map[string]any{"items": tokens, "next_cursor": ""})
	})
	out := newHarness(t).loggedIn(api).run("", "token", "list").ok(t).stdout
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 4 || !strings.HasSuffix(strings.TrimSpace(lines[0]), "WARN") {
		t.Fatalf("want a header ending in WARN and 3 rows:\n%s", out)
	}
	for i, want := range []string{"expires in 12 days: rotate", "refused by provider: rotate", "  -"} {
		if !strings.HasSuffix(lines[i+1], want) {
			t.Errorf("row %d ends %q, want %q", i+1, lines[i+1], want)
		}
	}
}
