package forgetest_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
)

const (
	ghClassic     = "ghp_classicAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	ghPublicOnly  = "ghp_publicBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
	ghFineGrained = "github_pat_11AAAAAAA0fineGrainedCCCCCCCCCCCCCCCCCCCCCC"
	ghInstall     = "ghs_installationDDDDDDDDDDDDDDDDDDDDDDDDDD"

	ghFineGrainedNoContents = "github_pat_11AAAAAAA0noContentsMMMMMMMMMMMMMMMMMMMMMMM"
)

// ghEnv is a fake GitHub behind the contract validator, over TLS.
type ghEnv struct {
	gh       *forgetest.GitHub
	contract *forgetest.GitHubContract
	srv      *forgetest.Server
	client   *http.Client
}

func newGHEnv(t *testing.T) *ghEnv {
	t.Helper()
	gh := forgetest.NewGitHub()
	contract := forgetest.GitHubContractValidator(t)
	srv := forgetest.NewServer(t, nil, contract.Wrap(forgetest.ByHost{"api.github.com": gh, "ghe.test": gh}))
	client, err := srv.Policy().Client(nil)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	gh.AddRepo(forgetest.GitHubRepo{
		FullName: "octo/app", Branches: []string{"dev"},
		Files: map[string]string{"README.md": "hello\n", "docs/guide.md": strings.Repeat("long line of text ", 10)},
	})
	gh.AddRepo(forgetest.GitHubRepo{FullName: "octo/site", Public: true})
	gh.AddToken(ghClassic, forgetest.GitHubToken{Login: "octo", Name: "Octo Cat", Kind: forgetest.GitHubClassic,
		Scopes: []string{"repo", "admin:repo_hook"}, ExpiresAt: &exp, Repos: []string{"octo/app", "octo/site"}})
	gh.AddToken(ghPublicOnly, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubClassic,
		Scopes: []string{"public_repo"}, Repos: []string{"octo/app", "octo/site"}})
	gh.AddToken(ghFineGrained, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubFineGrained,
		FineGrained: map[string]string{"contents": "read", "metadata": "read"}, Repos: []string{"octo/app"}})
	gh.AddToken(ghFineGrainedNoContents, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubFineGrained,
		FineGrained: map[string]string{"metadata": "read"}, Repos: []string{"octo/app"}})
	gh.AddToken(ghInstall, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubApp,
		FineGrained: map[string]string{"contents": "read", "metadata": "read", "repository_hooks": "write"}, Repos: []string{"octo/app"}})
	return &ghEnv{gh: gh, contract: contract, srv: srv, client: client}
}

type ghResp struct {
	status int
	header http.Header
	body   []byte
}

func (e *ghEnv) do(t *testing.T, method, url, token, body string) ghResp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return ghResp{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestGitHubFakeHonoursContract drives every endpoint of the fake through
// success and failure and checks each exchange against GitHub's OpenAPI
// description, so the fake other tests rely on answers like GitHub.
func TestGitHubFakeHonoursContract(t *testing.T) {
	e := newGHEnv(t)
	const api, ghes = "https://api.github.com", "https://ghe.test/api/v3"
	hook := `{"name":"web","active":true,"events":["push","pull_request"],"config":{"url":"https://ci.example/hooks/1","content_type":"json","secret":"s3cret","insecure_ssl":"0"}}`
	cases := []struct {
		name, method, url, token, body string
		want                           int
	}{
		{"user", "GET", api + "/user", ghClassic, "", 200},
		{"user on GHES", "GET", ghes + "/user", ghClassic, "", 200},
		{"user fine-grained", "GET", api + "/user", ghFineGrained, "", 200},
		{"user as installation", "GET", api + "/user", ghInstall, "", 403},
		{"bad credentials", "GET", api + "/user", "ghp_unknown", "", 401},
		{"no credentials", "GET", api + "/user", "", "", 401},
		{"bad credentials elsewhere", "GET", api + "/repos/octo/app", "ghp_unknown", "", 401},
		{"repos", "GET", api + "/user/repos?per_page=1", ghClassic, "", 200},
		{"repos page 2", "GET", api + "/user/repos?per_page=1&page=2", ghClassic, "", 200},
		{"repos GHES", "GET", ghes + "/user/repos?per_page=100", ghFineGrained, "", 200},
		{"installation repos", "GET", api + "/installation/repositories?per_page=1", ghInstall, "", 200},
		{"installation repos as PAT", "GET", api + "/installation/repositories", ghClassic, "", 403},
		{"repo", "GET", api + "/repos/octo/app", ghClassic, "", 200},
		{"private repo, public_repo scope", "GET", api + "/repos/octo/app", ghPublicOnly, "", 404},
		{"branches", "GET", api + "/repos/octo/app/branches?per_page=100", ghClassic, "", 200},
		{"branch", "GET", api + "/repos/octo/app/branches/dev", ghClassic, "", 200},
		{"branch on GHES", "GET", ghes + "/repos/octo/app/branches/main", ghFineGrained, "", 200},
		{"missing branch", "GET", api + "/repos/octo/app/branches/nope", ghClassic, "", 404},
		{"branch of hidden repo", "GET", api + "/repos/octo/app/branches/main", ghPublicOnly, "", 404},
		{"root contents", "GET", api + "/repos/octo/app/contents/", ghClassic, "", 200},
		{"dir contents", "GET", api + "/repos/octo/app/contents/docs?ref=dev", ghClassic, "", 200},
		{"file contents", "GET", api + "/repos/octo/app/contents/docs/guide.md", ghFineGrained, "", 200},
		{"missing file", "GET", api + "/repos/octo/app/contents/nope.txt", ghClassic, "", 404},
		{"unknown ref", "GET", api + "/repos/octo/app/contents/README.md?ref=nope", ghClassic, "", 404},
		{"contents without permission", "GET", api + "/repos/octo/app/contents/README.md", ghFineGrainedNoContents, "", 403},
		{"hooks", "GET", api + "/repos/octo/app/hooks?per_page=1", ghClassic, "", 200},
		{"hooks without permission", "GET", api + "/repos/octo/app/hooks?per_page=1", ghFineGrained, "", 403},
		{"hooks without scope", "GET", api + "/repos/octo/site/hooks", ghPublicOnly, "", 404},
		{"create hook", "POST", api + "/repos/octo/app/hooks", ghClassic, hook, 201},
		{"create duplicate hook", "POST", api + "/repos/octo/app/hooks", ghInstall, hook, 422},
		{"list created hook", "GET", ghes + "/repos/octo/app/hooks", ghInstall, "", 200},
		{"rate limit", "GET", api + "/rate_limit", ghClassic, "", 200},
		{"rate limit anonymous", "GET", api + "/rate_limit", "", "", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := e.do(t, c.method, c.url, c.token, c.body); got.status != c.want {
				t.Errorf("%s %s = %d %s, want %d", c.method, c.url, got.status, got.body, c.want)
			}
		})
	}
	// Forced failures are GitHub-shaped too.
	for _, f := range []struct {
		status int
		header http.Header
	}{
		{502, nil},
		{403, http.Header{"X-Ratelimit-Remaining": {"0"}}},
		{429, http.Header{"Retry-After": {"60"}}},
	} {
		e.gh.FailNext(f.status, f.header)
		if got := e.do(t, "GET", api+"/user", ghClassic, ""); got.status != f.status {
			t.Errorf("after FailNext(%d): status %d", f.status, got.status)
		}
	}
	if got, want := e.contract.Checked(), len(cases)+3; got != want {
		t.Errorf("contract checked %d exchanges, want %d", got, want)
	}
}

// TestGitHubFakeTellsTokensApart checks the headers and bodies the GitHub
// adapter reads to classify a token.
func TestGitHubFakeTellsTokensApart(t *testing.T) {
	e := newGHEnv(t)
	classic := e.do(t, "GET", "https://api.github.com/user", ghClassic, "")
	if got := classic.header.Get("X-OAuth-Scopes"); got != "repo, admin:repo_hook" {
		t.Errorf("classic X-OAuth-Scopes = %q", got)
	}
	if got := classic.header.Get("GitHub-Authentication-Token-Expiration"); got != "2031-05-06 07:08:09 UTC" {
		t.Errorf("expiration header = %q, want GitHub's \"2031-05-06 07:08:09 UTC\" form", got)
	}
	var user struct {
		Login string `json:"login"`
		Name  string `json:"name"`
	}
	if err := json.Unmarshal(classic.body, &user); err != nil || user.Login != "octo" || user.Name != "Octo Cat" {
		t.Errorf("user = %+v, %v", user, err)
	}
	for h, want := range map[string]string{"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999", "X-RateLimit-Used": "1"} {
		if got := classic.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}

	fine := e.do(t, "GET", "https://api.github.com/user", ghFineGrained, "")
	if _, ok := fine.header["X-Oauth-Scopes"]; ok {
		t.Errorf("a fine-grained token must not get X-OAuth-Scopes, got %q", fine.header.Get("X-OAuth-Scopes"))
	}
	denied := e.do(t, "GET", "https://api.github.com/repos/octo/app/hooks", ghFineGrained, "")
	if got := denied.header.Get("X-Accepted-GitHub-Permissions"); got != "repository_hooks=read" {
		t.Errorf("X-Accepted-GitHub-Permissions = %q", got)
	}
	if !strings.Contains(string(denied.body), "Resource not accessible by personal access token") {
		t.Errorf("403 body = %s", denied.body)
	}

	bad := e.do(t, "GET", "https://api.github.com/user", "ghp_wrong", "")
	var basic map[string]string
	if err := json.Unmarshal(bad.body, &basic); err != nil {
		t.Fatal(err)
	}
	if basic["message"] != "Bad credentials" || basic["status"] != "401" {
		t.Errorf("401 body = %s", bad.body)
	}

	if got, want := e.gh.Requests(ghClassic), 1; got != want {
		t.Errorf("Requests(classic) = %d, want %d", got, want)
	}
	e.gh.Revoke(ghClassic)
	if got := e.do(t, "GET", "https://api.github.com/user", ghClassic, ""); got.status != 401 {
		t.Errorf("revoked token: status %d", got.status)
	}
}

func TestGitHubFakeServesRepositories(t *testing.T) {
	e := newGHEnv(t)
	repos := e.do(t, "GET", "https://api.github.com/user/repos?per_page=1", ghClassic, "")
	if !strings.Contains(repos.header.Get("Link"), `rel="next"`) {
		t.Errorf("Link = %q, want a next page", repos.header.Get("Link"))
	}
	public := e.do(t, "GET", "https://api.github.com/user/repos", ghPublicOnly, "")
	var names []struct {
		FullName string `json:"full_name"`
	}
	if err := json.Unmarshal(public.body, &names); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]struct {
		FullName string `json:"full_name"`
	}{{"octo/site"}}, names); diff != "" {
		t.Errorf("public_repo token sees (-want +got):\n%s", diff)
	}

	file := e.do(t, "GET", "https://ghe.test/api/v3/repos/octo/app/contents/docs/guide.md", ghClassic, "")
	var raw map[string]any
	if err := json.Unmarshal(file.body, &raw); err != nil {
		t.Fatal(err)
	}
	encoded, _ := raw["content"].(string)
	// GitHub wraps base64 at 60 columns; Go's decoder skips the newlines.
	decoded, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || string(decoded) != strings.Repeat("long line of text ", 10) || !strings.Contains(encoded, "\n") {
		t.Errorf("content %q decodes to %q, %v", encoded, decoded, err)
	}
	if got := raw["html_url"]; got != "https://ghe.test/octo/app/blob/main/docs/guide.md" {
		t.Errorf("GHES html_url = %v", got)
	}

	hook := `{"config":{"url":"https://ci.example/h","secret":"s3cret"},"events":["push"]}`
	created := e.do(t, "POST", "https://api.github.com/repos/octo/app/hooks", ghClassic, hook)
	if created.status != 201 || strings.Contains(string(created.body), "s3cret") {
		t.Errorf("create hook = %d %s; the secret must never come back", created.status, created.body)
	}
	hooks := e.gh.Hooks("octo/app")
	if len(hooks) != 1 || hooks[0].Secret != "s3cret" || hooks[0].URL != "https://ci.example/h" {
		t.Errorf("Hooks = %+v", hooks)
	}
}

// TestGitHubContractCatchesViolations proves the validator can fail: a
// response or request GitHub would never produce is reported.
func TestGitHubContractCatchesViolations(t *testing.T) {
	c := forgetest.GitHubContractValidator(t)
	get := func(url string) *http.Request {
		r, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	jsonHeader := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	cases := []struct {
		name   string
		req    *http.Request
		body   string
		status int
		resp   string
	}{
		{"user without login", get("https://api.github.com/user"), "", 200, `{"id":1}`},
		{"unknown path", get("https://api.github.com/user/secrets"), "", 200, `{}`},
		{"GHES outside /api/v3", get("https://ghe.test/user"), "", 200, `{}`},
		{"undocumented success status", get("https://api.github.com/user"), "", 203, `{}`},
		{"error not basic-error", get("https://api.github.com/user/repos"), "", 500, `"boom"`},
		{"bad query type", get("https://api.github.com/user/repos?per_page=many"), "", 200, `[]`},
		{"branches not an array", get("https://api.github.com/repos/o/r/branches"), "", 200, `{"name":"main"}`},
	}
	post, err := http.NewRequest("POST", "https://api.github.com/repos/o/r/hooks", strings.NewReader(`{"url":"https://x"}`))
	if err != nil {
		t.Fatal(err)
	}
	post.Header.Set("Content-Type", "application/json")
	cases = append(cases, struct {
		name   string
		req    *http.Request
		body   string
		status int
		resp   string
	}{"hook body with unknown field", post, `{"url":"https://x"}`, 201, `{}`})
	for _, tc := range cases {
		if err := c.Check(tc.req, []byte(tc.body), tc.status, jsonHeader, []byte(tc.resp)); err == nil {
			t.Errorf("%s: no contract violation reported", tc.name)
		}
	}
	// A raw body is GitHub's answer to a raw Accept on get-content only.
	rawHeader := http.Header{"Content-Type": {"application/vnd.github.raw; charset=utf-8"}}
	rawFile := get("https://api.github.com/repos/o/r/contents/README.md")
	if err := c.Check(rawFile, nil, 200, rawHeader, []byte("hello")); err == nil {
		t.Error("raw body without a raw Accept: no contract violation reported")
	}
	rawBranch := get("https://api.github.com/repos/o/r/branches/main")
	rawBranch.Header.Set("Accept", "application/vnd.github.raw")
	if err := c.Check(rawBranch, nil, 200, rawHeader, []byte("hello")); err == nil {
		t.Error("raw body for a branch: no contract violation reported")
	}
	if c.Checked() != 0 {
		t.Errorf("Checked() = %d after only violations", c.Checked())
	}
}

// getWith is do with an Accept header.
func (e *ghEnv) getWith(t *testing.T, url, token, accept string) ghResp {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return ghResp{status: resp.StatusCode, header: resp.Header, body: b}
}

// nextLink is the rel="next" URL of a Link header, or "".
func nextLink(link string) string {
	for _, part := range strings.Split(link, ",") {
		u, rel, ok := strings.Cut(strings.TrimSpace(part), ";")
		if ok && strings.TrimSpace(rel) == `rel="next"` {
			return strings.Trim(u, "<>")
		}
	}
	return ""
}

// TestGitHubFakePaginates walks the Link headers as a client would: every
// item comes exactly once, pages hold per_page items (at most 100), and
// the last page names no next.
func TestGitHubFakePaginates(t *testing.T) {
	e := newGHEnv(t)
	var repos []string
	for i := range 150 {
		repos = append(repos, fmt.Sprintf("many/r%03d", i))
	}
	e.gh.AddToken("ghp_manyKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK", forgetest.GitHubToken{Login: "many", Kind: forgetest.GitHubClassic, Scopes: []string{"repo"}, Repos: repos})
	var branches []string
	for i := range 229 {
		branches = append(branches, fmt.Sprintf("b%03d", i))
	}
	e.gh.AddRepo(forgetest.GitHubRepo{FullName: "octo/app", Branches: branches})

	walk := func(url, token string) (names []string, pages []int) {
		for url != "" {
			r := e.do(t, "GET", url, token, "")
			if r.status != 200 {
				t.Fatalf("GET %s = %d %s", url, r.status, r.body)
			}
			var items []struct {
				Name     string `json:"name"`
				FullName string `json:"full_name"`
			}
			if err := json.Unmarshal(r.body, &items); err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				if it.FullName == "" { // a branch
					it.FullName = it.Name
				}
				names = append(names, it.FullName)
			}
			pages = append(pages, len(items))
			url = nextLink(r.header.Get("Link"))
		}
		return names, pages
	}
	got, pages := walk("https://api.github.com/user/repos?per_page=100", "ghp_manyKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK")
	if diff := cmp.Diff(repos, got); diff != "" {
		t.Errorf("repositories over every page (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{100, 50}, pages); diff != "" {
		t.Errorf("repository page sizes (-want +got):\n%s", diff)
	}
	got, pages = walk("https://ghe.test/api/v3/repos/octo/app/branches?per_page=100", ghClassic)
	if len(got) != 230 || got[0] != "b000" || got[229] != "main" {
		t.Errorf("%d branches from %q to %q, want 230 from b000 to main", len(got), got[0], got[len(got)-1])
	}
	if diff := cmp.Diff([]int{100, 100, 30}, pages); diff != "" {
		t.Errorf("branch page sizes (-want +got):\n%s", diff)
	}
	// Without per_page GitHub gives 30; above 100 it gives 100.
	if _, pages := walk("https://api.github.com/user/repos", "ghp_manyKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK"); len(pages) != 5 || pages[0] != 30 {
		t.Errorf("default page sizes %v, want five pages of 30", pages)
	}
	if _, pages := walk("https://api.github.com/user/repos?per_page=500", "ghp_manyKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK"); len(pages) != 2 {
		t.Errorf("per_page=500 page sizes %v, want 100 and 50", pages)
	}
	if link := e.do(t, "GET", "https://api.github.com/user/repos?per_page=100&page=2", "ghp_manyKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK", "").header.Get("Link"); !strings.Contains(link, `page=1&per_page=100>; rel="prev"`) || nextLink(link) != "" {
		t.Errorf("last page Link = %q, want a prev and no next", link)
	}
	e.allChecked(t)
}

// allChecked fails the test unless every exchange went through the contract.
func (e *ghEnv) allChecked(t *testing.T) {
	t.Helper()
	if got, want := e.contract.Checked(), len(e.srv.Requests()); got != want || want == 0 {
		t.Errorf("contract validated %d of %d exchanges", got, want)
	}
}

// TestGitHubFakeBrowses covers what the browsing adapter relies on:
// branches one by one (slashes included), raw file bytes per ref,
// directories staying JSON, large files, hidden private repositories and
// fine-grained tokens without Contents.
func TestGitHubFakeBrowses(t *testing.T) {
	e := newGHEnv(t)
	big := strings.Repeat("x", 1<<20+1)
	e.gh.AddRepo(forgetest.GitHubRepo{
		FullName: "octo/app", Branches: []string{"dev", "feature/login"},
		Files:       map[string]string{"README.md": "hello\n", "docs/guide.md": "guide\n", "big.bin": big},
		BranchFiles: map[string]map[string]string{"dev": {"README.md": "hello from dev\n"}},
	})
	e.gh.AddRepo(forgetest.GitHubRepo{FullName: "other/secret"})
	const metaOnly = "github_pat_11AAAAAAA0metadataOnlyLLLLLLLLLLLLLLLLLLLLL"
	e.gh.AddToken(metaOnly, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubFineGrained,
		FineGrained: map[string]string{"metadata": "read"}, Repos: []string{"octo/app"}})
	const api = "https://api.github.com/repos/"
	const raw = "application/vnd.github.raw+json"

	var branch struct {
		Name   string `json:"name"`
		Commit struct {
			SHA string `json:"sha"`
		} `json:"commit"`
	}
	for _, u := range []string{api + "octo/app/branches/feature%2Flogin", api + "octo/app/branches/feature/login"} {
		r := e.do(t, "GET", u, ghClassic, "")
		if err := json.Unmarshal(r.body, &branch); err != nil || r.status != 200 || branch.Name != "feature/login" || len(branch.Commit.SHA) != 40 {
			t.Errorf("GET %s = %d %+v %v", u, r.status, branch, err)
		}
	}
	if r := e.do(t, "GET", api+"octo/app/branches/nope", ghClassic, ""); r.status != 404 || !strings.Contains(string(r.body), "Branch not found") {
		t.Errorf("missing branch = %d %s", r.status, r.body)
	}

	for _, c := range []struct{ url, accept, want string }{
		{api + "octo/app/contents/README.md", raw, "hello\n"},
		{api + "octo/app/contents/README.md?ref=dev", "application/vnd.github.raw", "hello from dev\n"},
		{api + "octo/app/contents/README.md?ref=feature%2Flogin", "application/vnd.github.v3.raw", "hello\n"},
	} {
		r := e.getWith(t, c.url, ghClassic, c.accept)
		if r.status != 200 || string(r.body) != c.want || r.header.Get("Content-Type") != "application/vnd.github.raw; charset=utf-8" {
			t.Errorf("GET %s (Accept %s) = %d %q %q, want %q raw", c.url, c.accept, r.status, r.header.Get("Content-Type"), r.body, c.want)
		}
	}
	if r := e.getWith(t, api+"octo/app/contents/docs", ghClassic, raw); r.status != 200 || !strings.HasPrefix(string(r.body), "[") {
		t.Errorf("raw request for a directory = %d %s, want the JSON listing", r.status, r.body)
	}
	if r := e.getWith(t, api+"octo/app/contents/big.bin", ghClassic, raw); len(r.body) != len(big) {
		t.Errorf("raw large file: %d bytes, want %d", len(r.body), len(big))
	}
	var large map[string]any
	if r := e.do(t, "GET", api+"octo/app/contents/big.bin", ghClassic, ""); json.Unmarshal(r.body, &large) != nil || large["encoding"] != "none" || large["content"] != "" {
		t.Errorf("JSON for a file over 1 MB: encoding %v, want none and no content", large["encoding"])
	}

	// A private repository the token was not given is not there at all.
	if r := e.do(t, "GET", api+"other/secret", ghClassic, ""); r.status != 404 {
		t.Errorf("unlisted private repository = %d, want 404", r.status)
	}
	denied := e.getWith(t, api+"octo/app/contents/README.md", metaOnly, raw)
	if denied.status != 403 || denied.header.Get("X-Accepted-GitHub-Permissions") != "contents=read" {
		t.Errorf("fine-grained without contents = %d %q", denied.status, denied.header.Get("X-Accepted-GitHub-Permissions"))
	}
	if r := e.do(t, "GET", api+"octo/app", metaOnly, ""); r.status != 200 {
		t.Errorf("metadata is enough for the repository itself: %d", r.status)
	}
	e.allChecked(t)
}

// TestGitHubFakeManagesHooks drives the repository webhook endpoints the
// hook adapter uses (list, create, get, update, delete) through GitHub's
// contract: GitHub's PATCH semantics (config replaces the whole config, so
// a missing secret removes it), the scope and permission each call needs,
// and the test-side changes made behind a client's back.
func TestGitHubFakeManagesHooks(t *testing.T) {
	e := newGHEnv(t)
	const (
		api       = "https://api.github.com/repos/octo/app/hooks"
		writeOnly = "ghp_writeHookWWWWWWWWWWWWWWWWWWWWWWWWWWWW"
		readOnly  = "ghp_readHookRRRRRRRRRRRRRRRRRRRRRRRRRRRRR"
		fineRead  = "github_pat_11AAAAAAA0hooksReadOnlyZZZZZZZZZZZZZZZZZZZZ"
	)
	e.gh.AddToken(writeOnly, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubClassic, Scopes: []string{"write:repo_hook"}, Repos: []string{"octo/app"}})
	e.gh.AddToken(readOnly, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubClassic, Scopes: []string{"read:repo_hook"}, Repos: []string{"octo/app"}})
	e.gh.AddToken(fineRead, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubFineGrained,
		FineGrained: map[string]string{"metadata": "read", "repository_hooks": "read"}, Repos: []string{"octo/app"}})

	created := e.do(t, "POST", api, ghClassic, `{"name":"web","active":true,"events":["push","pull_request"],"config":{"url":"https://ci.example/hooks/a","content_type":"json","secret":"s3cret","insecure_ssl":"0"}}`)
	if created.status != 201 {
		t.Fatalf("create = %d %s", created.status, created.body)
	}
	var h struct {
		ID     int64    `json:"id"`
		Active bool     `json:"active"`
		Events []string `json:"events"`
		Config struct {
			URL, ContentType, Secret, InsecureSSL string
		} `json:"config"`
	}
	decode := func(r ghResp) {
		t.Helper()
		h.Config.ContentType, h.Config.Secret, h.Config.InsecureSSL = "", "", ""
		var raw struct {
			ID     int64             `json:"id"`
			Active bool              `json:"active"`
			Events []string          `json:"events"`
			Config map[string]string `json:"config"`
		}
		if err := json.Unmarshal(r.body, &raw); err != nil {
			t.Fatalf("%s: %v", r.body, err)
		}
		h.ID, h.Active, h.Events = raw.ID, raw.Active, raw.Events
		h.Config.URL, h.Config.ContentType, h.Config.Secret, h.Config.InsecureSSL = raw.Config["url"], raw.Config["content_type"], raw.Config["secret"], raw.Config["insecure_ssl"]
	}
	decode(created)
	one := fmt.Sprintf("%s/%d", api, h.ID)
	if h.Config.Secret != "********" {
		t.Errorf("created hook's secret answered as %q, want GitHub's ********", h.Config.Secret)
	}

	if r := e.do(t, "GET", one, ghInstall, ""); r.status != 200 {
		t.Errorf("get = %d %s", r.status, r.body)
	}
	// events and active change; config replaced without a secret drops it.
	r := e.do(t, "PATCH", one, ghClassic, `{"active":false,"events":["push"],"config":{"url":"https://ci.example/hooks/a","content_type":"form"}}`)
	if r.status != 200 {
		t.Fatalf("patch = %d %s", r.status, r.body)
	}
	decode(r)
	if h.Active || !slices.Equal(h.Events, []string{"push"}) || h.Config.ContentType != "form" || h.Config.Secret != "" {
		t.Errorf("after PATCH: %+v, want inactive, [push], form, no secret", h)
	}
	if got := e.gh.Hooks("octo/app")[0]; got.Secret != "" || got.Active {
		t.Errorf("fake kept %+v after PATCH", got)
	}
	r = e.do(t, "PATCH", one, writeOnly, `{"add_events":["pull_request","push"],"remove_events":["push"]}`)
	decode(r)
	if r.status != 200 || !slices.Equal(h.Events, []string{"pull_request"}) || h.Config.ContentType != "form" {
		t.Errorf("add/remove events = %d %+v, want [pull_request] and config untouched", r.status, h)
	}

	// A second hook cannot take the first one's URL.
	other := e.gh.AddHook("octo/app", forgetest.GitHubHook{URL: "https://other.example/hook", Active: true})
	if r := e.do(t, "PATCH", fmt.Sprintf("%s/%d", api, other.ID), ghClassic, `{"config":{"url":"https://ci.example/hooks/a"}}`); r.status != 422 {
		t.Errorf("patch onto a taken URL = %d %s, want 422", r.status, r.body)
	}
	if r := e.do(t, "PATCH", one, ghClassic, `{"config":{"content_type":"json"}}`); r.status != 422 {
		t.Errorf("patch config without url = %d, want 422", r.status)
	}

	// Behind the client's back.
	if !e.gh.AlterHook("octo/app", h.ID, func(g *forgetest.GitHubHook) { g.ContentType = "json"; g.Events = []string{"*"} }) {
		t.Fatal("AlterHook found no hook")
	}
	decode(e.do(t, "GET", one, ghClassic, ""))
	if h.Config.ContentType != "json" || !slices.Equal(h.Events, []string{"*"}) {
		t.Errorf("altered hook reads %+v", h)
	}

	// Permissions: write:repo_hook cannot delete, read:repo_hook cannot
	// write, fine-grained read cannot write.
	for _, c := range []struct {
		name, method, token, body string
		want                      int
		header, value             string
	}{
		{"delete with write:repo_hook", "DELETE", writeOnly, "", 404, "X-Accepted-OAuth-Scopes", "admin:repo_hook, repo"},
		{"patch with read:repo_hook", "PATCH", readOnly, `{"active":true}`, 404, "X-Accepted-OAuth-Scopes", "admin:repo_hook, repo, write:repo_hook"},
		{"get with read:repo_hook", "GET", readOnly, "", 200, "X-Accepted-OAuth-Scopes", "admin:repo_hook, read:repo_hook, repo, write:repo_hook"},
		{"patch with Webhooks read", "PATCH", fineRead, `{"active":true}`, 403, "X-Accepted-GitHub-Permissions", "repository_hooks=write"},
		{"delete with Webhooks read", "DELETE", fineRead, "", 403, "X-Accepted-GitHub-Permissions", "repository_hooks=write"},
		{"get with Webhooks read", "GET", fineRead, "", 200, "X-Accepted-GitHub-Permissions", "repository_hooks=read"},
		{"get without Webhooks", "GET", ghFineGrained, "", 403, "X-Accepted-GitHub-Permissions", "repository_hooks=read"},
	} {
		r := e.do(t, c.method, one, c.token, c.body)
		if r.status != c.want || r.header.Get(c.header) != c.value {
			t.Errorf("%s = %d %s=%q, want %d %q", c.name, r.status, c.header, r.header.Get(c.header), c.want, c.value)
		}
	}

	if r := e.do(t, "DELETE", one, ghInstall, ""); r.status != 204 || len(r.body) != 0 {
		t.Errorf("delete = %d %q, want 204 and no body", r.status, r.body)
	}
	for _, m := range []string{"GET", "DELETE"} {
		if r := e.do(t, m, one, ghClassic, ""); r.status != 404 {
			t.Errorf("%s deleted hook = %d, want 404", m, r.status)
		}
	}
	if r := e.do(t, "PATCH", api+"/999999", ghClassic, `{"active":true}`); r.status != 404 {
		t.Errorf("PATCH unknown hook id = %d, want 404", r.status)
	}
	if !e.gh.RemoveHook("octo/app", other.ID) || e.gh.RemoveHook("octo/app", other.ID) || len(e.gh.Hooks("octo/app")) != 0 {
		t.Errorf("RemoveHook: hooks left %+v", e.gh.Hooks("octo/app"))
	}
	e.allChecked(t)
}

// TestGitHubFakePaginatesHooks: a repository's hooks page like any list.
func TestGitHubFakePaginatesHooks(t *testing.T) {
	e := newGHEnv(t)
	for i := range 130 {
		e.gh.AddHook("octo/app", forgetest.GitHubHook{URL: fmt.Sprintf("https://ci.example/h/%d", i)})
	}
	var sizes []int
	for url := "https://api.github.com/repos/octo/app/hooks?per_page=100"; url != ""; {
		r := e.do(t, "GET", url, ghClassic, "")
		var items []json.RawMessage
		if err := json.Unmarshal(r.body, &items); err != nil || r.status != 200 {
			t.Fatalf("GET %s = %d %v", url, r.status, err)
		}
		sizes = append(sizes, len(items))
		url = nextLink(r.header.Get("Link"))
	}
	if !slices.Equal(sizes, []int{100, 30}) {
		t.Errorf("hook pages %v, want [100 30]", sizes)
	}
	e.allChecked(t)
}
