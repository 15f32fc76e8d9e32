package github

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	gh "github.com/google/go-github/v92/github"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/secret"
)

const manyRepos = "ghp_manyReposKKKKKKKKKKKKKKKKKKKKKKKKKKKKK"

// browseEnv adds to env what browsing needs: a token reaching 150
// repositories (two pages of 100), octo/app with 230 branches (three
// pages), files that differ per branch, and a file just over the cap.
func browseEnv(t *testing.T) (*env, []string) {
	t.Helper()
	e := newEnv(t)
	var repos []string
	for i := range 150 {
		repos = append(repos, fmt.Sprintf("Many/r%03d", i))
	}
	e.fake.AddToken(manyRepos, forgetest.GitHubToken{Login: "many", Kind: forgetest.GitHubClassic, Scopes: []string{"repo"}, Repos: repos})
	branches := []string{"dev", "feature/login"}
	for i := range 227 {
		branches = append(branches, fmt.Sprintf("b%03d", i))
	}
	e.fake.AddRepo(forgetest.GitHubRepo{
		FullName: "octo/app", Branches: branches,
		Files: map[string]string{
			"README.md":        "hello\n",
			"docs/my guide.md": "guide\n",
			"exact.bin":        strings.Repeat("e", forge.MaxFileBytes),
			"big.bin":          strings.Repeat("x", forge.MaxFileBytes+1),
		},
		BranchFiles: map[string]map[string]string{"dev": {"README.md": "hello from dev\n"}},
	})
	return e, repos
}

func (e *env) cred(t *testing.T, rawURL, token string) forge.Credential {
	t.Helper()
	ep, err := e.forge().ResolveEndpoint(rawURL, "")
	if err != nil {
		t.Fatal(err)
	}
	return forge.Credential{Endpoint: ep, Token: secret.New(token)}
}

// checkAll fails unless every exchange went through GitHub's contract and
// no request carried a token in its URL.
func (e *env) checkAll(t *testing.T) {
	t.Helper()
	reqs := e.srv.Requests()
	if got := e.contract.Checked(); got != len(reqs) {
		t.Errorf("contract validated %d of %d exchanges", got, len(reqs))
	}
	for _, r := range reqs {
		for _, tok := range []string{classicFull, manyRepos, fineContents, fineNoRepo, installation} {
			if strings.Contains(r.URL.String(), tok) {
				t.Errorf("a token is in the URL %s", r.URL)
			}
		}
	}
}

func TestListReposFollowsEveryPage(t *testing.T) {
	e, repos := browseEnv(t)
	got, err := e.forge().ListRepos(context.Background(), e.cred(t, "", manyRepos), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(repos) {
		t.Fatalf("%d repositories, want %d", len(got), len(repos))
	}
	for i, r := range got {
		want := forge.Repo{FullName: repos[i], CloneURL: "https://github.com/" + repos[i] + ".git",
			WebURL: "https://github.com/" + repos[i], DefaultBranch: "main", Private: true}
		if r != want {
			t.Fatalf("repository %d = %+v, want %+v", i, r, want)
		}
	}
	reqs := e.srv.Requests()
	if len(reqs) != 2 || e.fake.Requests(manyRepos) != 2 {
		t.Fatalf("%d requests, want 2 (150 repositories at 100 a page)", len(reqs))
	}
	for i, r := range reqs {
		q := r.URL.Query()
		if r.URL.Path != "/user/repos" || q.Get("per_page") != "100" || (i == 1) != (q.Get("page") == "2") {
			t.Errorf("request %d: %s", i, r.URL)
		}
	}
	e.checkAll(t)
}

func TestListReposSearch(t *testing.T) {
	e, repos := browseEnv(t)
	got, err := e.forge().ListRepos(context.Background(), e.cred(t, "", manyRepos), " mANY/R14 ")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range got {
		names = append(names, r.FullName)
	}
	want := repos[140:150]
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("search (-want +got):\n%s", diff)
	}
	// The filter is on our side: GitHub's listing has no name filter, so
	// every page is still read.
	if n := len(e.srv.Requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	e.checkAll(t)
}

func TestListReposEnterpriseAndInstallation(t *testing.T) {
	e, _ := browseEnv(t)
	got, err := e.forge().ListRepos(context.Background(), e.cred(t, "https://ghe.test", classicFull), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []forge.Repo{{FullName: "octo/app", CloneURL: "https://ghe.test/octo/app.git", WebURL: "https://ghe.test/octo/app", DefaultBranch: "main", Private: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GHES repositories (-want +got):\n%s", diff)
	}
	if r := e.srv.Requests()[0]; r.Host != "ghe.test" || r.URL.Path != "/api/v3/user/repos" {
		t.Errorf("asked %s%s, want ghe.test/api/v3/user/repos", r.Host, r.URL.Path)
	}

	got, err = e.forge().ListRepos(context.Background(), e.cred(t, "", installation), "")
	if err != nil || len(got) != 1 || got[0].FullName != "octo/app" {
		t.Fatalf("installation token: %+v, %v", got, err)
	}
	if r := e.srv.Requests()[1]; r.URL.Path != "/installation/repositories" {
		t.Errorf("installation token asked %s, want /installation/repositories", r.URL.Path)
	}
	e.checkAll(t)
}

func TestGetRepo(t *testing.T) {
	e, _ := browseEnv(t)
	f := e.forge()
	got, err := f.GetRepo(context.Background(), e.cred(t, "", classicFull), "octo/app")
	want := forge.Repo{FullName: "octo/app", CloneURL: "https://github.com/octo/app.git", WebURL: "https://github.com/octo/app", DefaultBranch: "main", Private: true}
	if err != nil || got != want {
		t.Errorf("GetRepo = %+v, %v; want %+v", got, err, want)
	}
	public, err := f.GetRepo(context.Background(), e.cred(t, "", classicPublic), "octo/site")
	if err != nil || public.Private {
		t.Errorf("public repository: %+v, %v", public, err)
	}

	// GitHub hides a private repository the token cannot see behind 404.
	_, err = f.GetRepo(context.Background(), e.cred(t, "", classicPublic), "octo/app")
	var nf *forge.NotFoundError
	if !errors.As(err, &nf) || nf.Resource != "octo/app" || nf.Status != 404 || nf.Message != "Not Found" || nf.Host != "github.com" {
		t.Errorf("hidden repository: %#v", err)
	}
	e.checkAll(t)
}

func TestBranches(t *testing.T) {
	e, _ := browseEnv(t)
	f := e.forge()
	cred := e.cred(t, "", classicFull)
	got, err := f.ListBranches(context.Background(), cred, "octo/app")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 230 || e.fake.Requests(classicFull) != 3 {
		t.Fatalf("%d branches in %d requests, want 230 in 3", len(got), e.fake.Requests(classicFull))
	}
	seen := map[string]string{}
	for _, b := range got {
		seen[b.Name] = b.SHA
	}
	for _, name := range []string{"main", "dev", "feature/login", "b000", "b226"} {
		if len(seen[name]) != 40 {
			t.Errorf("branch %s missing or without a commit SHA: %q", name, seen[name])
		}
	}

	b, err := f.GetBranch(context.Background(), cred, "octo/app", "feature/login")
	if err != nil || b.Name != "feature/login" || b.SHA != seen["feature/login"] {
		t.Errorf("GetBranch(feature/login) = %+v, %v; want the SHA the listing gave", b, err)
	}
	if last := e.srv.Requests()[3]; last.URL.EscapedPath() != "/repos/octo/app/branches/feature%2Flogin" {
		t.Errorf("branch asked as %s, want the slash escaped", last.URL.EscapedPath())
	}

	_, err = f.GetBranch(context.Background(), cred, "octo/app", "nope")
	var nf *forge.NotFoundError
	if !errors.As(err, &nf) || nf.Resource != "branch nope of octo/app" || nf.Message != "Branch not found" {
		t.Errorf("missing branch: %v", err)
	}
	_, err = f.ListBranches(context.Background(), e.cred(t, "", classicPublic), "octo/app")
	if !errors.As(err, &nf) || nf.Resource != "octo/app" {
		t.Errorf("branches of a hidden repository: %v", err)
	}
	e.checkAll(t)
}

func TestReadFile(t *testing.T) {
	e, _ := browseEnv(t)
	f := e.forge()
	cred := e.cred(t, "https://ghe.test", classicFull)
	read := func(p, ref string) ([]byte, error) {
		return f.ReadFile(context.Background(), cred, "octo/app", p, ref)
	}
	cases := []struct{ path, ref, want string }{
		{"README.md", "", "hello\n"},
		{"/README.md", "main", "hello\n"},
		{"README.md", "dev", "hello from dev\n"},
		{"docs/my guide.md", "feature/login", "guide\n"},
	}
	for _, c := range cases {
		got, err := read(c.path, c.ref)
		if err != nil || string(got) != c.want {
			t.Errorf("ReadFile(%q, %q) = %q, %v; want %q", c.path, c.ref, got, err, c.want)
		}
	}
	reqs := e.srv.Requests()
	if len(reqs) != len(cases) {
		t.Fatalf("%d requests for %d files", len(reqs), len(cases))
	}
	for i, r := range reqs {
		if r.Header.Get("Accept") != rawMediaType || r.URL.Query().Get("ref") != cases[i].ref || !strings.HasPrefix(r.URL.Path, "/api/v3/repos/octo/app/contents/") {
			t.Errorf("request %d: %s Accept %q", i, r.URL, r.Header.Get("Accept"))
		}
	}

	exact, err := read("exact.bin", "")
	if err != nil || len(exact) != forge.MaxFileBytes {
		t.Errorf("a file of exactly MaxFileBytes: %d bytes, %v", len(exact), err)
	}
	got, err := read("big.bin", "")
	var inv *forge.InvalidInputError
	if !errors.As(err, &inv) || inv.Field != "path" || !strings.Contains(err.Error(), "big.bin of octo/app is 1048577 bytes") || got != nil {
		t.Errorf("a file over the cap: %d bytes, %v; want no bytes and an error on path", len(got), err)
	}
	if _, err := read("docs", "feature/login"); !errors.As(err, &inv) || !strings.Contains(err.Error(), "docs at feature/login of octo/app is a directory") {
		t.Errorf("a directory: %v", err)
	}

	var nf *forge.NotFoundError
	if _, err := read("nope.txt", ""); !errors.As(err, &nf) || nf.Resource != "file nope.txt of octo/app" || nf.Host != "ghe.test" {
		t.Errorf("missing file: %v", err)
	}
	if _, err := read("README.md", "gone"); !errors.As(err, &nf) || nf.Resource != "file README.md at gone of octo/app" || nf.Message != "No commit found for the ref gone" {
		t.Errorf("unknown ref: %v", err)
	}

	// Paths that could leave the contents API are refused before asking.
	before := len(e.srv.Requests())
	for _, p := range []string{"", "/", "../hooks", "docs/../../hooks", "a//b", "x/./y", "bad\nname"} {
		if _, err := read(p, ""); !errors.As(err, &inv) || inv.Field != "path" {
			t.Errorf("path %q: %v, want *forge.InvalidInputError on path", p, err)
		}
	}
	if _, err := f.ReadFile(context.Background(), cred, "octo/../x", "README.md", ""); !errors.As(err, &inv) || inv.Field != "repository" {
		t.Errorf("bad repository name: %v", err)
	}
	if n := len(e.srv.Requests()) - before; n != 0 {
		t.Errorf("%d requests for refused paths", n)
	}
	e.checkAll(t)
}

// egress refuses a body whose Content-Length is over its own cap before
// reading it; that is the same "too large" for the caller.
func TestReadFileOverEgressCap(t *testing.T) {
	e, _ := browseEnv(t)
	policy := e.srv.Policy()
	policy.MaxResponseBytes = 1024
	_, err := New(policy, nil).ReadFile(context.Background(), e.cred(t, "", classicFull), "octo/app", "exact.bin", "")
	var inv *forge.InvalidInputError
	if !errors.As(err, &inv) || inv.Field != "path" || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("over the egress cap: %v", err)
	}
}

func TestBrowseErrors(t *testing.T) {
	e, _ := browseEnv(t)
	f := e.forge()
	ctx := context.Background()
	var errs []error

	_, err := f.ListRepos(ctx, e.cred(t, "", "ghp_unknownNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN"), "")
	var auth *forge.AuthError
	if !errors.As(err, &auth) || auth.Status != 401 {
		t.Errorf("unknown token: %v, want *forge.AuthError", err)
	}
	errs = append(errs, err)

	e.fake.FailNextOn("/user/repos", http.StatusForbidden, http.Header{"X-Ratelimit-Remaining": {"0"}})
	_, err = f.ListRepos(ctx, e.cred(t, "", manyRepos), "")
	var rl *forge.RateLimitedError
	if !errors.As(err, &rl) || rl.Reset.IsZero() {
		t.Errorf("rate limited: %v, want *forge.RateLimitedError with a reset", err)
	}
	errs = append(errs, err)

	e.fake.FailNextOn("/repos/octo/app/branches", http.StatusTooManyRequests, http.Header{"Retry-After": {"30"}})
	_, err = f.ListBranches(ctx, e.cred(t, "", classicFull), "octo/app")
	if !errors.As(err, &rl) {
		t.Errorf("secondary rate limit: %v, want *forge.RateLimitedError", err)
	}
	errs = append(errs, err)

	e.fake.FailNextOn("/repos/octo/app/contents", http.StatusBadGateway, nil)
	_, err = f.ReadFile(ctx, e.cred(t, "", classicFull), "octo/app", "README.md", "")
	var pe *forge.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusBadGateway {
		t.Errorf("502: %v, want *forge.ProviderError", err)
	}
	errs = append(errs, err)

	e.fake.FailNextOn("/repos/octo/app/branches/main", http.StatusInternalServerError, nil)
	_, err = f.GetBranch(ctx, e.cred(t, "", classicFull), "octo/app", "main")
	if !errors.As(err, &pe) || pe.Status != http.StatusInternalServerError {
		t.Errorf("500: %v, want *forge.ProviderError", err)
	}
	errs = append(errs, err)

	// A fine-grained token without Contents is told which permission.
	const noContents = "github_pat_11AAAAAAA0noContentsOOOOOOOOOOOOOOOOOOOOOOO"
	e.fake.AddToken(noContents, forgetest.GitHubToken{Login: "octo", Kind: forgetest.GitHubFineGrained,
		FineGrained: map[string]string{"metadata": "read"}, Repos: []string{"octo/app"}})
	_, err = f.ReadFile(ctx, e.cred(t, "", noContents), "octo/app", "README.md", "")
	if !errors.As(err, &pe) || pe.Status != 403 || !strings.Contains(err.Error(), "Contents: Read-only") {
		t.Errorf("fine-grained without contents: %v", err)
	}
	errs = append(errs, err)

	e.fake.Revoke(classicFull)
	_, err = f.GetRepo(ctx, e.cred(t, "", classicFull), "octo/app")
	if !errors.As(err, &auth) {
		t.Errorf("revoked: %v, want *forge.AuthError", err)
	}
	errs = append(errs, err)

	for _, err := range errs {
		for _, tok := range []string{classicFull, manyRepos, noContents, "ghp_unknownNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN"} {
			if err != nil && strings.Contains(err.Error(), tok) {
				t.Errorf("error reveals a token: %v", err)
			}
		}
	}
	e.checkAll(t)
}

// everyPage stops with an error, not a loop, when GitHub's Link header
// goes backwards or never ends.
func TestEveryPageRefusesEndlessLinks(t *testing.T) {
	c := &conn{host: "github.com", apiHost: "api.github.com", token: secret.New(classicFull)}
	var pe *forge.ProviderError
	calls := 0
	err := c.everyPage("listing", "", func(page int) (*gh.Response, error) {
		calls++
		return &gh.Response{NextPage: 1}, nil
	})
	if !errors.As(err, &pe) || calls != 2 {
		t.Errorf("next page 1 from page 1: %v after %d calls", err, calls)
	}
	calls = 0
	err = c.everyPage("listing", "", func(page int) (*gh.Response, error) {
		calls++
		return &gh.Response{NextPage: page + 1}, nil
	})
	if !errors.As(err, &pe) || calls != maxPages {
		t.Errorf("endless pages: %v after %d calls", err, calls)
	}
}

// A server that ignores the raw media type answers in JSON: a file comes
// base64-encoded (or without content past 1 MB), a submodule as an object.
func TestFileBodyFromJSON(t *testing.T) {
	c := &conn{host: "github.com", apiHost: "api.github.com", token: secret.New(classicFull)}
	answer := func(body string) *http.Response {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}, Body: io.NopCloser(strings.NewReader(body))}
	}
	got, err := c.fileBody(answer(`{"type":"file","encoding":"base64","size":6,"content":"aGVs\nbG8K\n"}`), "README.md of octo/app")
	if err != nil || string(got) != "hello\n" {
		t.Errorf("base64 file: %q, %v", got, err)
	}
	var inv *forge.InvalidInputError
	if _, err := c.fileBody(answer(`{"type":"file","encoding":"none","size":5000000,"content":""}`), "big of octo/app"); !errors.As(err, &inv) || !strings.Contains(err.Error(), "5000000 bytes") {
		t.Errorf("file over 1 MB in JSON: %v", err)
	}
	if _, err := c.fileBody(answer(`{"type":"submodule","submodule_git_url":"git://x"}`), "lib of octo/app"); !errors.As(err, &inv) || !strings.Contains(err.Error(), "is a submodule") {
		t.Errorf("submodule: %v", err)
	}
	var pe *forge.ProviderError
	if _, err := c.fileBody(answer(`{"type":"file","encoding":"base64","size":3,"content":"!!!"}`), "x of octo/app"); !errors.As(err, &pe) {
		t.Errorf("undecodable content: %v", err)
	}
}
