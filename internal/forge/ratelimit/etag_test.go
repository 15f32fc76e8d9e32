package ratelimit_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/forge/github"
	"github.com/gitaccess/gitaccess/internal/forge/ratelimit"
	"github.com/gitaccess/gitaccess/internal/secret"
)

const (
	etClassic = "ghp_etagClassicAAAAAAAAAAAAAAAAAAAAAAAAAA"
	etFine    = "github_pat_11AAAAAAA0etagFineGrainedCCCCCCCCCCCCCCCCCC"
)

// ghEnv is the GitHub adapter with a tracker installed, against the fake
// GitHub behind its contract validator.
type ghEnv struct {
	fake *forgetest.GitHub
	gh   *github.Forge
	tr   *ratelimit.Tracker
	clk  *clock
}

func newGHEnv(t *testing.T) *ghEnv {
	t.Helper()
	fake := forgetest.NewGitHub()
	contract := forgetest.GitHubContractValidator(t)
	srv := forgetest.NewServer(t, nil, contract.Wrap(forgetest.ByHost{"api.github.com": fake}))
	exp := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	fake.AddToken(etClassic, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubClassic,
		Scopes: []string{"repo", "admin:repo_hook"}, ExpiresAt: &exp, Repos: []string{"octo/app"}})
	fake.AddToken(etFine, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubFineGrained,
		FineGrained: map[string]string{"contents": "read", "metadata": "read", "repository_hooks": "read"}, Repos: []string{"octo/app"}})
	clk := newClock()
	tr := ratelimit.New(ratelimit.Config{Store: newMemStore(), Now: clk.Now, Sleep: clk.Sleep})
	return &ghEnv{fake: fake, gh: github.New(srv.Policy(), nil).WithTransport(tr.Wrap), tr: tr, clk: clk}
}

func (e *ghEnv) inspect(t *testing.T, value, tokenID string) forge.Report {
	t.Helper()
	ep, err := e.gh.ResolveEndpoint("", "")
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.gh.Inspect(context.Background(), forge.Credential{Endpoint: ep, Token: secret.New(value), TokenID: tokenID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRevalidationSpendsNothing: re-inspecting a saved token sends
// If-None-Match; GitHub's 304 spends no rate limit and the report is the
// same as the first one, scopes and expiry included.
func TestRevalidationSpendsNothing(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		requests    int // what one inspection asks
		// revalidated is how many of them GitHub answers 304: its
		// description lists no 304 for the hook list.
		revalidated int
	}{
		{"classic token: GET /user", etClassic, 1, 1},
		{"fine-grained token: /user, a repository list and two probes", etFine, 4, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newGHEnv(t)
			first := e.inspect(t, tc.value, "tok_1")
			spent := first.RateLimit.Limit - first.RateLimit.Remaining
			if e.fake.Requests(tc.value) != tc.requests || spent != tc.requests {
				t.Fatalf("first inspection: %d requests, %d spent; want %d of each", e.fake.Requests(tc.value), spent, tc.requests)
			}
			second := e.inspect(t, tc.value, "tok_1")
			if got := e.fake.NotModified(tc.value); got != tc.revalidated {
				t.Errorf("second inspection: %d answers were 304, want %d", got, tc.revalidated)
			}
			wantSpent := 2*tc.requests - tc.revalidated
			if rl, ok := e.tr.Budget("tok_1"); !ok || rl.Limit-rl.Remaining != wantSpent {
				t.Errorf("budget after revalidating = %+v; want %d spent", rl, wantSpent)
			}
			first.RateLimit, second.RateLimit = nil, nil
			if d := cmp.Diff(first, second); d != "" {
				t.Errorf("revalidated report differs (-first +second):\n%s", d)
			}

			// Past CacheMaxAge the answers are fetched in full again.
			e.clk.Advance(ratelimit.DefaultCacheMaxAge + time.Minute)
			third := e.inspect(t, tc.value, "tok_1")
			if got := e.fake.NotModified(tc.value); got != tc.revalidated {
				t.Errorf("after the cache's max age: %d answers were 304, want no new one", got)
			}
			if spent := third.RateLimit.Limit - third.RateLimit.Remaining; spent != wantSpent+tc.requests {
				t.Errorf("after the cache's max age, %d spent; want %d", spent, wantSpent+tc.requests)
			}
		})
	}
}

// TestNoRevalidationForUnsavedValues: a value being tested before it is
// saved has no token id: nothing is cached for it.
func TestNoRevalidationForUnsavedValues(t *testing.T) {
	e := newGHEnv(t)
	e.inspect(t, etClassic, "")
	e.inspect(t, etClassic, "")
	if got := e.fake.NotModified(etClassic); got != 0 {
		t.Errorf("%d answers to an unsaved value were 304", got)
	}
}

// TestNotModifiedMerge: GitHub documents the rate-limit headers on a 304
// but not the scopes or the expiry. What the 304 carries wins; what it
// leaves out is kept from the stored answer. A new value for the same
// token never sends the old value's ETag.
func TestNotModifiedMerge(t *testing.T) {
	var mu sync.Mutex
	var inm []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inm = append(inm, r.Header.Get("If-None-Match"))
		mu.Unlock()
		h := w.Header()
		h.Set("ETag", `"abc"`)
		h.Set("X-RateLimit-Limit", "5000")
		h.Set("X-RateLimit-Used", "1")
		h.Set("X-RateLimit-Remaining", "4999")
		if r.Header.Get("If-None-Match") == `"abc"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("X-OAuth-Scopes", "repo, admin:repo_hook")
		h.Set("GitHub-Authentication-Token-Expiration", "2031-05-06 07:08:09 UTC")
		h.Set("X-RateLimit-Remaining", "4990")
		_, _ = io.WriteString(w, `{"login":"octo"}`)
	}))
	t.Cleanup(srv.Close)
	tr := ratelimit.New(ratelimit.Config{})
	c := forge.Credential{Token: secret.New("ghp_one"), TokenID: "tok_m"}
	rt := tr.Wrap(forge.GitHub, c, http.DefaultTransport)

	read := func(rt http.RoundTripper) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/user", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	read(rt)
	resp, body := read(rt)
	if resp.StatusCode != http.StatusOK || body != `{"login":"octo"}` {
		t.Fatalf("revalidated answer: %d %q; want the stored 200 and body", resp.StatusCode, body)
	}
	for h, want := range map[string]string{
		"X-OAuth-Scopes":                         "repo, admin:repo_hook",
		"GitHub-Authentication-Token-Expiration": "2031-05-06 07:08:09 UTC",
		"X-RateLimit-Remaining":                  "4999", // the 304's, fresher
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	c.Token = secret.New("ghp_two")
	read(tr.Wrap(forge.GitHub, c, http.DefaultTransport))
	mu.Lock()
	defer mu.Unlock()
	if d := cmp.Diff([]string{"", `"abc"`, ""}, inm); d != "" {
		t.Errorf("If-None-Match sent (-want +got):\n%s", d)
	}
	if strings.Contains(strings.Join(inm, ""), "ghp_") {
		t.Error("a token value reached If-None-Match")
	}
}

// TestCacheBounds: the cache keeps CacheEntries answers, least recently
// used out first, and passes a body too large to keep through whole.
func TestCacheBounds(t *testing.T) {
	var mu sync.Mutex
	sent := map[string][]string{}
	big := strings.Repeat("x", 300<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent[r.URL.Path] = append(sent[r.URL.Path], r.Header.Get("If-None-Match"))
		mu.Unlock()
		w.Header().Set("ETag", `"`+r.URL.Path+`"`)
		if r.Header.Get("If-None-Match") != "" {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if r.URL.Path == "/big" {
			_, _ = io.WriteString(w, big)
			return
		}
		_, _ = io.WriteString(w, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	tr := ratelimit.New(ratelimit.Config{CacheEntries: 2})
	rt := tr.Wrap(forge.GitHub, forge.Credential{Token: secret.New("ghp_x"), TokenID: "tok_c"}, http.DefaultTransport)
	read := func(path string) string {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, p := range []string{"/a", "/b", "/c", "/a", "/c"} {
		if got := read(p); got != p {
			t.Fatalf("GET %s read %q", p, got)
		}
	}
	if got := read("/big"); got != big {
		t.Errorf("a body too large to cache came back as %d bytes, want %d", len(got), len(big))
	}
	read("/big")
	mu.Lock()
	defer mu.Unlock()
	want := map[string][]string{
		"/a":   {"", ""}, // pushed out by /c, fetched in full again
		"/b":   {""},
		"/c":   {"", `"/c"`}, // still kept: revalidated
		"/big": {"", ""},     // never kept
	}
	if d := cmp.Diff(want, sent); d != "" {
		t.Errorf("If-None-Match by path (-want +got):\n%s", d)
	}
}

// TestFreshAsksAfresh: a user's test (forge.Fresh) is never answered from
// the cache, but its answer refreshes the cache for the next background
// revalidation.
func TestFreshAsksAfresh(t *testing.T) {
	e := newGHEnv(t)
	ep, err := e.gh.ResolveEndpoint("", "")
	if err != nil {
		t.Fatal(err)
	}
	c := forge.Credential{Endpoint: ep, Token: secret.New(etClassic), TokenID: "tok_f"}
	for range 2 {
		if _, err := e.gh.Inspect(forge.Fresh(context.Background()), c, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.fake.NotModified(etClassic); got != 0 {
		t.Fatalf("fresh inspections got %d 304s, want none", got)
	}
	e.inspect(t, etClassic, "tok_f")
	if got := e.fake.NotModified(etClassic); got != 1 {
		t.Errorf("background inspection after fresh ones got %d 304s, want 1", got)
	}
}
