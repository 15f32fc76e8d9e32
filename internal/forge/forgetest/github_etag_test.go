package forgetest_test

import (
	"io"
	"net/http"
	"strconv"
	"testing"
)

// TestGitHubConditionalRequests: the fake answers If-None-Match as GitHub
// does: an ETag on every 200, different for every token; a 304 with no
// body and the rate-limit headers, spending nothing, on the routes whose
// description lists a 304; a full answer elsewhere and on a stale ETag.
func TestGitHubConditionalRequests(t *testing.T) {
	e := newGHEnv(t)
	get := func(url, token, etag string) ghResp {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return ghResp{status: resp.StatusCode, header: resp.Header, body: b}
	}
	const user = "https://api.github.com/user"
	first := get(user, ghClassic, "")
	etag := first.header.Get("ETag")
	if first.status != 200 || len(etag) < 10 || etag[0] != '"' {
		t.Fatalf("first GET /user: %d, ETag %q", first.status, etag)
	}
	if other := get(user, ghPublicOnly, "").header.Get("ETag"); other == etag {
		t.Error("two tokens of the same user got the same ETag; GitHub's depends on the Authorization header")
	}
	spent := e.gh.Requests(ghClassic) - e.gh.NotModified(ghClassic)

	again := get(user, ghClassic, etag)
	if again.status != http.StatusNotModified || len(again.body) != 0 {
		t.Fatalf("GET /user with its ETag: %d, %d bytes; want 304 and no body", again.status, len(again.body))
	}
	if got := again.header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(5000-spent) {
		t.Errorf("304 X-RateLimit-Remaining = %q, want %d: a 304 spends nothing", got, 5000-spent)
	}
	if e.gh.NotModified(ghClassic) != 1 {
		t.Errorf("NotModified = %d, want 1", e.gh.NotModified(ghClassic))
	}
	if stale := get(user, ghClassic, `"not-it"`); stale.status != 200 {
		t.Errorf("a stale ETag got %d, want the full 200", stale.status)
	}
	// GitHub's description lists no 304 for a repository's hooks.
	hooks := "https://api.github.com/repos/octo/app/hooks"
	h := get(hooks, ghClassic, "")
	if again := get(hooks, ghClassic, h.header.Get("ETag")); again.status != 200 {
		t.Errorf("hooks with their ETag: %d, want 200", again.status)
	}
}
