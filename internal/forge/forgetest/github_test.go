package forgetest_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
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
)

// ghEnv is a fake GitHub behind the contract validator, over TLS.
type ghEnv struct {
	gh       *forgetest.GitHub
	contract *forgetest.GitHubContract
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
	gh.AddToken(ghInstall, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubApp,
		FineGrained: map[string]string{"contents": "read", "metadata": "read", "repository_hooks": "write"}, Repos: []string{"octo/app"}})
	return &ghEnv{gh: gh, contract: contract, client: client}
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
		{"root contents", "GET", api + "/repos/octo/app/contents/", ghClassic, "", 200},
		{"dir contents", "GET", api + "/repos/octo/app/contents/docs?ref=dev", ghClassic, "", 200},
		{"file contents", "GET", api + "/repos/octo/app/contents/docs/guide.md", ghFineGrained, "", 200},
		{"missing file", "GET", api + "/repos/octo/app/contents/nope.txt", ghClassic, "", 404},
		{"unknown ref", "GET", api + "/repos/octo/app/contents/README.md?ref=nope", ghClassic, "", 404},
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
	if c.Checked() != 0 {
		t.Errorf("Checked() = %d after only violations", c.Checked())
	}
}
