package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// chromiumPath is Debian's Chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// page drives one headless Chromium tab against a running gitaccess and
// keeps screenshots as test artifacts.
type page struct {
	t         *testing.T
	ctx       context.Context
	base      string
	artifacts string
}

// newBrowser starts Chromium with a fresh profile. Without Chromium the
// test is skipped, except under CI, where a skipped browser test would
// pass unnoticed.
func newBrowser(t *testing.T, base string) *page {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Chromium is required under CI (CI=%q) but %s is missing: .ci/run installs Debian's chromium package", os.Getenv("CI"), chromiumPath)
		}
		t.Skipf("%s not found; install Debian's chromium package to run the console's browser tests", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
	}
	for _, f := range []string{"headless", "no-sandbox", "disable-gpu", "disable-quic", "no-first-run",
		"disable-background-networking", "disable-component-update", "disable-sync", "disable-dev-shm-usage",
		// Screenshots show the page, not a scrollbar eating its right edge.
		"hide-scrollbars"} {
		opts = append(opts, chromedp.Flag(f, true))
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser, which lives as long as the
	// context of that call: it gets the test's, without a timeout.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return &page{t: t, ctx: ctx, base: base, artifacts: artifactsDir(t)}
}

// artifactsDir is where screenshots go: $GITACCESS_TEST_ARTIFACTS (CI
// keeps it), else a fixed directory under the system's temp dir, so the
// last run's pictures are easy to find.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("GITACCESS_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "gitaccess-console-artifacts")
	}
	dir = filepath.Join(dir, t.Name())
	// Only this run's pictures: a stale failure shot would mislead.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("artifacts directory: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts directory: %v", err)
	}
	t.Logf("console screenshots: %s", dir)
	return dir
}

// do runs steps, each bounded so a broken page fails instead of hanging.
func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.failureShot()
		p.t.Fatalf("browser: %v", err)
	}
}

func (p *page) open(path string) { p.t.Helper(); p.do(chromedp.Navigate(p.base + path)) }

func (p *page) eval(js string, out any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", js, err)
	}
	if out != nil {
		if err := json.Unmarshal(v, out); err != nil {
			p.t.Fatalf("evaluating %s: %v (got %s)", js, err, v)
		}
	}
}

// waitFor waits until the expression is true on the current page, across
// navigations; the deadline only bounds a broken run.
func (p *page) waitFor(what, js string) {
	p.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+js+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.failureShot()
			ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			cancel()
			p.t.Fatalf("waiting for %s: not seen (last error %v); the page says:\n%s", what, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *page) text(sel string) string {
	p.t.Helper()
	var s string
	p.eval(fmt.Sprintf(`(document.querySelector(%q) || {innerText: ""}).innerText`, sel), &s)
	return s
}

// clear empties a text field.
func (p *page) clear(id string) {
	p.t.Helper()
	p.eval(fmt.Sprintf(`(() => { document.getElementById(%q).value = ""; return true; })()`, id), nil)
}

// choose picks an option of a select as a user does, firing change.
func (p *page) choose(sel, value string) {
	p.t.Helper()
	p.eval(fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event("change", {bubbles: true})); return s.value; })()`, sel, value), nil)
}

// shot saves full-page screenshots at a desktop and a phone width, and
// checks the page does not scroll sideways at either and that every
// visible form control has a label.
func (p *page) shot(name string) {
	p.t.Helper()
	for _, w := range []int64{1280, 390} {
		ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
		png, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
			if _, err := chromedp.EmulateViewport(w, 900)(ctx, t); err != nil {
				return nil, err
			}
			return chromedp.FullScreenshot(100)(ctx, t)
		})
		cancel()
		if err != nil {
			p.t.Errorf("screenshot %s at %d px: %v", name, w, err)
			continue
		}
		file := filepath.Join(p.artifacts, fmt.Sprintf("%s-%d.png", name, w))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			p.t.Errorf("writing %s: %v", file, err)
		}
		var overflow int
		p.eval(`document.documentElement.scrollWidth - document.documentElement.clientWidth`, &overflow)
		if overflow > 0 {
			p.t.Errorf("%s at %d px scrolls sideways by %d px", name, w, overflow)
		}
	}
	p.do(chromedp.EmulateViewport(1280, 900))
	var unlabelled []string
	p.eval(`[...document.querySelectorAll("input, select, textarea")]
		.filter(e => e.type !== "hidden" && e.offsetParent !== null && !(e.labels && e.labels.length) && !e.getAttribute("aria-label"))
		.map(e => e.outerHTML)`, &unlabelled)
	if len(unlabelled) > 0 {
		p.t.Errorf("%s: form controls without a label: %v", name, unlabelled)
	}
}

// failureShot keeps what the page looked like when a step failed; it
// never fails the test itself.
func (p *page) failureShot() {
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Logf("no failure screenshot: %v", err)
		return
	}
	file := filepath.Join(p.artifacts, "failure.png")
	if err := os.WriteFile(file, png, 0o644); err == nil {
		p.t.Logf("failure screenshot: %s", file)
	}
}

// signIn signs in with the keyboard alone: the key field has focus, Enter
// submits.
func (p *page) signIn(key string) {
	p.t.Helper()
	p.open("/")
	p.waitFor("the sign-in page", `location.pathname === "/console/sign-in" && document.activeElement && document.activeElement.id === "api_key"`)
	p.do(chromedp.KeyEvent(key), chromedp.KeyEvent("\r"))
	p.waitFor("the token list", `location.pathname === "/" && document.querySelector("h1") && document.querySelector("h1").innerText === "Tokens"`)
}

// TestConsoleInBrowser is issue 6 as a user lives it, in real Chromium
// against a real gitaccess and the fake GitHub: sign in, test a token
// missing a permission and see it named, save a good one and see it in
// the list and on the timeline, create an application from the provider's
// repository list (searching it) and a branch, see its hook and the
// deliveries' verdicts, delete a token through its confirmation dialog,
// and as a Member see no controls and have a forged post refused.
func TestConsoleInBrowser(t *testing.T) {
	p := newProviders(t)
	const repo = "Codertocat/Hello-World"
	p.gh.AddRepo(forgetest.GitHubRepo{FullName: repo, DefaultBranch: "master", Branches: []string{"develop", "release"}})
	p.gh.AddRepo(forgetest.GitHubRepo{FullName: "Codertocat/website"})
	p.gh.AddRepo(forgetest.GitHubRepo{FullName: "Codertocat/docs"})
	soon, later := time.Now().Add(20*24*time.Hour), time.Now().Add(70*24*time.Hour)
	weak, good, legacy := canary("ghp_"), canary("ghp_"), canary("ghp_")
	p.gh.AddToken(weak, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"public_repo", "write:repo_hook"}, Repos: []string{repo}})
	p.gh.AddToken(good, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"repo", "admin:repo_hook"}, ExpiresAt: &soon,
		Repos: []string{repo, "Codertocat/website", "Codertocat/docs"}})
	p.gh.AddToken(legacy, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"repo", "admin:repo_hook"}, ExpiresAt: &later, Repos: []string{"legacy/app"}})
	h := startPublic(t, p)
	h.mustCLI(legacy, "token", "add", "legacy", "--provider", "github", "--prefix", "https://github.com/legacy/", "--description", "old CI token")

	b := newBrowser(t, h.url)
	b.signIn(h.adminKey)
	b.shot("tokens-before")

	// Add a token: "Test" shows the report, naming what is missing in
	// GitHub's words, without leaving the page.
	b.do(chromedp.Click(chromedp.CSS(`a[href="/console/tokens/new"]`)))
	b.waitFor("the add-token form", `document.getElementById("token-form")`)
	b.do(
		chromedp.SendKeys(chromedp.ID("name"), "acme-ci"),
		chromedp.SendKeys(chromedp.ID("description"), "CI for acme"),
		chromedp.SendKeys(chromedp.ID("value"), weak),
		chromedp.Click(chromedp.CSS(`button[data-test-button]`)),
	)
	b.waitFor("the inspection report", `document.getElementById("report-body")`)
	if got := b.text("#report-body .missing"); !strings.Contains(got, "admin:repo_hook") {
		t.Errorf("the report's missing permissions read %q, want admin:repo_hook", got)
	}
	if got := b.text("#report-body"); !strings.Contains(got, "octocat") || !strings.Contains(got, "github-classic-pat") {
		t.Errorf("the report lacks the identity or kind:\n%s", got)
	}
	// The guide beside the form is GitHub's, with its token page.
	if got := b.text(`[data-guide="github"]`); !strings.Contains(got, "admin:repo_hook") {
		t.Errorf("the GitHub guide reads %q", got)
	}
	var guides int
	b.eval(`[...document.querySelectorAll("[data-guide]")].filter(e => e.offsetParent !== null).length`, &guides)
	if guides != 1 {
		t.Errorf("%d provider guides are visible, want only the chosen one", guides)
	}
	b.shot("add-token-report")

	// Save a good value instead.
	b.clear("value")
	b.do(chromedp.SendKeys(chromedp.ID("value"), good), chromedp.Click(chromedp.CSS(`button[value="save"]`)))
	b.waitFor("the saved token in the list", `location.pathname === "/" && document.getElementById("token-acme-ci")`)
	if got := b.text(".notice"); !strings.Contains(got, "acme-ci") {
		t.Errorf("notice after saving: %q", got)
	}
	row := b.text("#token-acme-ci")
	for _, want := range []string{"GitHub", "github.com", "github-classic-pat", "Expiring", "days left"} {
		if !strings.Contains(row, want) {
			t.Errorf("the list row lacks %q: %q", want, row)
		}
	}
	var markers []string
	b.eval(`[...document.querySelectorAll("svg.timeline-svg .tl-marker")].map(g => g.getAttribute("class") + ":" + g.querySelector("text").textContent)`, &markers)
	if !slices.Contains(markers, "tl-marker status-expiring:acme-ci") || !slices.Contains(markers, "tl-marker status-valid:legacy") {
		t.Errorf("timeline markers = %v", markers)
	}
	// Expiring within 30 days, it needs attention: the panel says so and
	// offers to rotate it.
	if got := b.text("#attention-acme-ci"); !strings.Contains(got, "Expiring") || !strings.Contains(got, "days left") || !strings.Contains(got, "Rotate acme-ci") {
		t.Errorf("the Needs attention panel's entry for acme-ci reads %q", got)
	}
	b.shot("tokens")

	// Create an application from the provider's list, searching it.
	b.open("/console/apps")
	b.do(chromedp.Click(chromedp.CSS(`a[href="/console/apps/new"]`)))
	b.waitFor("the create form", `document.getElementById("token")`)
	b.choose("#token", "acme-ci")
	b.waitFor("the repository list", `document.getElementById("repo-list")`)
	b.do(chromedp.SendKeys(chromedp.ID("repo-search"), "hello"))
	var shown []string
	b.eval(`[...document.querySelectorAll("#repo-list li")].filter(li => li.offsetParent !== null).map(li => li.innerText.trim())`, &shown)
	if len(shown) != 1 || !strings.HasPrefix(shown[0], repo) {
		t.Errorf("after searching \"hello\" the list shows %v, want only %s", shown, repo)
	}
	b.shot("app-new-search")
	b.do(chromedp.Click(chromedp.CSS(`#repo-list input[value="https://github.com/` + repo + `"]`)))
	b.waitFor("the branch list", `document.getElementById("branch")`)
	var branches []string
	b.eval(`[...document.querySelectorAll("#branch option")].map(o => o.value)`, &branches)
	if !slices.Equal(branches, []string{"develop", "master", "release"}) && !slices.Equal(branches, []string{"master", "develop", "release"}) {
		t.Errorf("branches offered = %v", branches)
	}
	b.choose("#branch", "master")
	b.clear("app-name")
	b.do(chromedp.SendKeys(chromedp.ID("app-name"), "hello"), chromedp.Click(chromedp.ID("auto_deploy")))
	b.shot("app-new-branch")
	b.do(chromedp.Click(chromedp.CSS(`#create-form button[type="submit"]`)))
	b.waitFor("the application page", `location.pathname === "/console/apps/hello"`)
	if got := b.text("#hook-state"); got != "installed" {
		t.Errorf("hook state = %q, want installed", got)
	}
	hooks := p.gh.Hooks(repo)
	if len(hooks) != 1 {
		t.Fatalf("hooks on %s: %+v", repo, hooks)
	}
	// Deliveries and their verdicts: a push to master deploys, a forged one
	// is recorded as such.
	push := contract(t, "github/webhooks/push/push.new-branch.json")
	if got := deliver(t, hooks[0].URL, "push", "d-browser-1", push, hooks[0].Secret); got != 200 {
		t.Fatalf("push delivery: HTTP %d", got)
	}
	if got := deliver(t, hooks[0].URL, "push", "d-forged", push, "not-the-secret"); got != 401 {
		t.Fatalf("forged delivery: HTTP %d", got)
	}
	deadline := time.Now().Add(40 * time.Second)
	for !strings.Contains(b.text("table.deliveries"), "accepted") {
		if time.Now().After(deadline) {
			t.Fatalf("the delivery was not shown accepted:\n%s", b.text("main"))
		}
		time.Sleep(200 * time.Millisecond)
		b.open("/console/apps/hello")
	}
	if got := b.text("table.deliveries"); !strings.Contains(got, "d-browser-1") || !strings.Contains(got, "bad-signature") {
		t.Errorf("deliveries table:\n%s", got)
	}
	b.shot("app")

	// Now the panel names the application that breaks with acme-ci.
	b.open("/")
	b.waitFor("the Needs attention panel", `document.getElementById("attention-acme-ci")`)
	if got := b.text("#attention-acme-ci"); !strings.Contains(got, "Applications that break with it: hello.") {
		t.Errorf("the panel's entry for acme-ci reads %q", got)
	}
	b.shot("tokens-attention")

	// The delete dialog of a token in use names what depends on it; Escape
	// closes it and gives the focus back to the button that opened it.
	b.open("/console/tokens/acme-ci")
	if got := b.text("#token-banner"); !strings.Contains(got, "1 application depends on it: hello. Rotate it before then.") {
		t.Errorf("the banner of acme-ci reads %q", got)
	}
	b.do(chromedp.Click(chromedp.CSS(`a[data-dialog="delete-dialog"]`)))
	b.waitFor("the open dialog", `document.getElementById("delete-dialog").open`)
	if got := b.text("#delete-dialog"); !strings.Contains(got, "hello") || !strings.Contains(got, "Codertocat/Hello-World") || !strings.Contains(got, "Unbind them") {
		t.Errorf("the delete dialog of a token in use reads:\n%s", got)
	}
	b.shot("delete-dialog-in-use")
	b.do(chromedp.KeyEvent("\x1b"))
	b.waitFor("the dialog to close", `!document.getElementById("delete-dialog").open && document.activeElement.getAttribute("data-dialog") === "delete-dialog"`)

	// Delete a token through its dialog: the button waits for the word.
	b.open("/console/tokens/legacy")
	b.do(chromedp.Click(chromedp.CSS(`a[data-dialog="delete-dialog"]`)))
	b.waitFor("the open dialog", `document.getElementById("delete-dialog").open && document.activeElement.name === "confirm"`)
	var disabled bool
	b.eval(`document.querySelector("#delete-dialog [data-confirm-submit]").disabled`, &disabled)
	if !disabled {
		t.Error("the Delete button is enabled before the word is typed")
	}
	b.do(chromedp.KeyEvent("delete"))
	b.eval(`document.querySelector("#delete-dialog [data-confirm-submit]").disabled`, &disabled)
	if disabled {
		t.Error("the Delete button stays disabled after typing delete")
	}
	b.shot("delete-dialog")
	b.do(chromedp.Click(chromedp.CSS(`#delete-dialog [data-confirm-submit]`)))
	b.waitFor("the list after deleting", `location.pathname === "/" && document.querySelector(".notice")`)
	if got := b.text(".notice"); !strings.Contains(got, "legacy was deleted") {
		t.Errorf("notice after deleting: %q", got)
	}
	if got := b.text("main"); strings.Contains(got, "old CI token") {
		t.Error("the deleted token is still listed")
	}

	// A Member sees everything read-only, and a forged post is refused.
	ctx := context.Background()
	owner, err := h.app.Service.Authenticate(ctx, secret.New(h.adminKey))
	if err != nil {
		t.Fatal(err)
	}
	member, err := h.app.Service.CreateAPIKey(ctx, owner, "viewer", store.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Click(chromedp.CSS(`form[action="/console/sign-out"] button`)))
	b.waitFor("the signed-out page", `location.pathname === "/console/sign-in"`)
	b.signIn(member.Key.Reveal())
	for _, path := range []string{"/", "/console/tokens/acme-ci", "/console/apps", "/console/apps/hello"} {
		b.open(path)
		b.waitFor(path, `document.querySelector("main h1")`)
		// Checking a hook with the provider only reads; members may.
		var controls []string
		b.eval(`[...document.querySelectorAll('a[href$="/new"], a[data-dialog], form[method="post"]:not([action="/console/sign-out"]):not([action$="/check-hook"]), input[type="password"]')].map(e => e.outerHTML.slice(0, 80))`, &controls)
		if len(controls) > 0 {
			t.Errorf("a member sees controls on %s: %v", path, controls)
		}
		if !strings.Contains(b.text("main"), "Read-only") {
			t.Errorf("%s does not tell a member it is read-only", path)
		}
	}
	b.open("/")
	b.shot("member-tokens")
	var status int
	b.eval(`(async () => {
		const csrf = document.querySelector('input[name="csrf"]').value;
		const r = await fetch("/console/tokens/acme-ci/delete", {method: "POST", body: new URLSearchParams({csrf, confirm: "delete", then: "force"})});
		return r.status;
	})()`, &status)
	if status != 403 {
		t.Errorf("a member's forged delete: HTTP %d, want 403", status)
	}
	if _, err := h.app.Service.GetToken(ctx, owner, "acme-ci"); err != nil {
		t.Errorf("a member's forged delete removed the token: %v", err)
	}
	if k := access.ErrorKind(func() error { _, err := h.app.Service.GetToken(ctx, owner, "legacy"); return err }()); k != access.KindNotFound {
		t.Errorf("the token deleted in the dialog: %v", k)
	}

	// Nothing a browser saw carries a token value.
	var html string
	b.eval(`document.documentElement.outerHTML`, &html)
	for _, v := range []string{weak, good, legacy} {
		if strings.Contains(html, v) || strings.Contains(h.logs.String(), v) {
			t.Error("a token value reached the page or the log")
		}
	}
}
