package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

const (
	soonValue = "ghp_SOONvalue0123456789abcdefghijklmnopq"
	oldValue  = "ghp_OLDXvalue0123456789abcdefghijklmnopq"
)

// item is the panel's entry for a token, or "" when it has none.
func item(page, token string) string {
	m := regexp.MustCompile(`(?s)<li[^>]*id="attention-` + regexp.QuoteMeta(token) + `">(.*?)</li>`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return m[1]
}

// text strips tags, so assertions read what a user reads.
func text(html string) string {
	return strings.Join(strings.Fields(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(html, "")), " ")
}

// addToken saves a GitHub token serving the repositories under
// https://github.com/<prefix>/ (tokens on one prefix would tie).
func (e *env) addToken(name, value, prefix string) {
	e.t.Helper()
	if _, err := e.svc.AddToken(context.Background(), e.ownerP, access.AddTokenInput{Name: name, Provider: "github", Value: secret.New(value),
		Prefixes: []string{"https://github.com/" + prefix + "/"}}); err != nil {
		e.t.Fatalf("adding token %s: %v", name, err)
	}
}

func (e *env) app(name, repo, token string) {
	e.t.Helper()
	if _, err := e.svc.CreateApp(context.Background(), e.ownerP, access.AppInput{Name: name, RepoURL: "https://github.com/" + repo, Branch: "main", Token: token}); err != nil {
		e.t.Fatalf("creating application %s: %v", name, err)
	}
}

// TestNeedsAttention: a token expiring in 10 days and one GitHub refused
// are listed with the applications that break with them and what to do;
// their warnings are listed newest first; each token's page says the
// same in a sentence. A Member sees it all without the actions.
func TestNeedsAttention(t *testing.T) {
	e := newEnv(t, envOpts{})
	// Half a day past the tenth day, so "10 days left" holds whatever
	// second the fake rounds the expiry to.
	expires := e.clock.Now().Add(10*24*time.Hour + 12*time.Hour)
	e.gh.AddToken(soonValue, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"repo", "admin:repo_hook"},
		ExpiresAt: &expires, Repos: []string{"acme/api", "acme/web"}})
	e.gh.AddToken(oldValue, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"repo", "admin:repo_hook"}, Repos: []string{"acme/old"}})
	b := e.browser()
	b.signIn(e.owner)
	e.addToken("soon", soonValue, "acme")
	e.addToken("old", oldValue, "acme/old")
	e.addToken("fine", goodValue, "other")
	e.app("web", "acme/web", "soon")
	e.app("api", "acme/api", "soon")
	e.app("legacy", "acme/old", "old")

	// Testing the expiring token records its warnings (30 and 14 days);
	// an hour later GitHub refuses the other one.
	if a := b.post("/console/tokens/soon/test", url.Values{"csrf": {b.csrf()}}); a.status != http.StatusSeeOther {
		t.Fatalf("testing soon: HTTP %d\n%s", a.status, a.body)
	}
	e.clock.Add(time.Hour)
	e.gh.Revoke(oldValue)
	if a := b.post("/console/tokens/old/test", url.Values{"csrf": {b.csrf()}}); a.status < 400 {
		t.Fatalf("testing a revoked token: HTTP %d, want a refusal", a.status)
	}

	list := b.get("/")
	if list.status != http.StatusOK || !strings.Contains(list.body, `<h2 id="att-h">Needs attention</h2>`) {
		t.Fatalf("the token list has no Needs attention panel: HTTP %d\n%s", list.status, list.body)
	}
	date := expires.UTC().Format(time.DateOnly)
	soon := text(item(list.body, "soon"))
	for _, want := range []string{"soon", "Expiring", "10 days left", "expires " + date, "Applications that break with it: api, web."} {
		if !strings.Contains(soon, want) {
			t.Errorf("the panel's entry for soon lacks %q: %q", want, soon)
		}
	}
	if !strings.Contains(item(list.body, "soon"), `href="/console/tokens/soon#rotate-h"`) {
		t.Error("an owner's panel entry for soon has no Rotate link to the token's rotate form")
	}
	old := item(list.body, "old")
	for _, want := range []string{"Invalid", "GitHub's answer", "refused by GitHub", "401", "Applications that break with it: legacy."} {
		if !strings.Contains(text(old), want) {
			t.Errorf("the panel's entry for old lacks %q: %q", want, text(old))
		}
	}
	if !strings.Contains(old, `href="/console/tokens/old#test-again"`) || !strings.Contains(old, `href="/console/tokens/old#rotate-h"`) {
		t.Errorf("the entry for an invalid token lacks its Rotate and Test again links:\n%s", old)
	}
	if item(list.body, "fine") != "" {
		t.Error("a valid token without expiry is listed as needing attention")
	}
	// Only the refused token is an alert; the expiring one is a status.
	alert := regexp.MustCompile(`(?s)<div role="alert">(.*?)</div>`).FindStringSubmatch(list.body)
	if alert == nil || !strings.Contains(alert[1], `id="attention-old"`) || strings.Contains(alert[1], `id="attention-soon"`) {
		t.Errorf("the alert region should hold the invalid token alone: %v", alert)
	}

	// Recent warnings, newest first: old's refusal, then soon's 14- and
	// 30-day warnings (the 30-day one passed over for the more urgent).
	warnings := regexp.MustCompile(`(?s)<details class="att-warnings">(.*?)</details>`).FindStringSubmatch(list.body)
	if warnings == nil {
		t.Fatalf("no Recent warnings list:\n%s", list.body)
	}
	w := text(warnings[1])
	iOld, i14, i30 := strings.Index(w, "old: invalid"), strings.Index(w, "soon: expiring (14-day warning)"), strings.Index(w, "soon: expiring (30-day warning)")
	if iOld < 0 || i14 < 0 || i30 < 0 || iOld > i14 {
		t.Errorf("recent warnings (newest first) read: %q", w)
	}
	for _, want := range []string{"Recent warnings (3 in the last 30 days)", "event token.invalid sent to subscribers", "event token.expiring sent to subscribers",
		"no event: a more urgent warning went out instead", "not mailed"} {
		if !strings.Contains(w, want) {
			t.Errorf("recent warnings lack %q: %q", want, w)
		}
	}
	if !strings.Contains(text(list.body), "The periodic check with the providers has not run yet.") {
		t.Error("the panel does not say the revalidation sweep has not run yet")
	}

	// Each token's page says it in a sentence.
	page := b.get("/console/tokens/soon")
	banner := regexp.MustCompile(`(?s)<div class="banner banner-expiring" id="token-banner" role="status">(.*?)</div>`).FindStringSubmatch(page.body)
	if banner == nil {
		t.Fatalf("the page of an expiring token has no status banner:\n%s", page.body)
	}
	if want := "Expires in 10 days (" + date + "). 2 applications depend on it: api, web. Rotate it before then."; !strings.Contains(text(banner[1]), want) {
		t.Errorf("banner = %q, want it to say %q", text(banner[1]), want)
	}
	if !strings.Contains(text(banner[1]), ": expiring (14-day warning); event token.expiring sent to subscribers") {
		t.Errorf("the banner does not say which warning went out: %q", text(banner[1]))
	}
	page = b.get("/console/tokens/old")
	if !strings.Contains(page.body, `role="alert"`) || !strings.Contains(text(page.body), "Invalid: Its provider refused it: refused by GitHub") ||
		!strings.Contains(text(page.body), "1 application depends on it: legacy.") {
		t.Errorf("the page of a refused token lacks its alert banner:\n%s", text(page.body))
	}
	if page := b.get("/console/tokens/fine"); strings.Contains(page.body, "token-banner") {
		t.Error("a token needing nothing has a banner")
	}

	// A Member reads the same, without the actions.
	key, _ := e.apiKey(store.RoleMember)
	m := e.browser()
	m.signIn(key)
	list = m.get("/")
	if got := text(item(list.body, "soon")); !strings.Contains(got, "10 days left") || !strings.Contains(got, "api, web") {
		t.Errorf("a member's panel entry for soon: %q", got)
	}
	if !strings.Contains(text(item(list.body, "old")), "legacy") {
		t.Error("a member's panel does not list the invalid token's application")
	}
	for _, action := range []string{"#rotate-h", "#test-again"} {
		if strings.Contains(list.body, action) {
			t.Errorf("a member's panel links to %s", action)
		}
	}
	if page := m.get("/console/tokens/soon"); !strings.Contains(text(page.body), "Ask someone who manages tokens to rotate it.") || strings.Contains(text(page.body), "Rotate it before then") {
		t.Errorf("a member's banner should point to someone who can rotate:\n%s", text(page.body))
	}
}

// TestNothingNeedsAttention: without an expiry in sight or a refusal, the
// panel is a single line; the injected clock bringing an expiry within 30
// days brings the panel.
func TestNothingNeedsAttention(t *testing.T) {
	e := newEnv(t, envOpts{})
	b := e.browser()
	b.signIn(e.owner)
	if list := b.get("/"); strings.Contains(list.body, "Needs attention") || strings.Contains(list.body, "Nothing needs attention") {
		t.Error("with no token at all, the list speaks of attention")
	}
	expires := e.clock.Now().Add(40*24*time.Hour + 12*time.Hour)
	e.gh.AddToken(soonValue, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"repo", "admin:repo_hook"},
		ExpiresAt: &expires, Repos: []string{"acme/api"}})
	e.addToken("later", soonValue, "acme")
	e.addToken("fine", goodValue, "other")
	list := b.get("/")
	if strings.Contains(list.body, `id="att-h"`) || strings.Contains(list.body, "attention-") {
		t.Errorf("the panel shows with nothing to report:\n%s", list.body)
	}
	if got := text(list.body); !strings.Contains(got, "Nothing needs attention: none of the 2 tokens expires within 30 days or was refused by its provider.") {
		t.Errorf("the all-clear line is missing:\n%s", got)
	}
	if strings.Contains(list.body, "Recent warnings") {
		t.Error("a Recent warnings list shows with no warning given")
	}
	if page := b.get("/console/tokens/later"); strings.Contains(page.body, "token-banner") {
		t.Error("a token 40 days from expiry has a banner")
	}

	e.clock.Add(15 * 24 * time.Hour)
	b = e.browser() // the session ended meanwhile
	b.signIn(e.owner)
	list = b.get("/")
	if got := text(item(list.body, "later")); !strings.Contains(got, "25 days left") || !strings.Contains(got, "No application depends on it.") {
		t.Errorf("15 days later the panel's entry for later reads %q", got)
	}
	if strings.Contains(list.body, "Nothing needs attention") {
		t.Error("the all-clear line shows beside the panel")
	}
}
