package gitlab

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// browseEnv is a fake GitLab with:
//   - tokPersonal: alice, read_api, Developer on acme/web, acme/platform/tools/api
//     and 150 projects acme/bulk/pNNN;
//   - tokRepoOnly: bob, read_repository only, Developer on acme/web;
//   - tokGuest: a group token, Guest on group guests;
//   - tokRevoked: revoked.
//
// acme/web has 230 branches, default develop, and files; other/open is
// public and other/corp internal, neither with alice as a member.
func browseEnv(t *testing.T) *env {
	t.Helper()
	gl := forgetest.NewGitLab()
	projects := []string{"acme/web", "acme/platform/tools/api"}
	for i := range 150 {
		projects = append(projects, fmt.Sprintf("acme/bulk/p%03d", i))
	}
	gl.AddToken(tokPersonal, forgetest.GitLabToken{Username: "alice", Scopes: []string{"read_api"}, AccessLevel: 30, Projects: projects})
	gl.AddToken(tokRepoOnly, forgetest.GitLabToken{Username: "bob", Scopes: []string{"read_repository"}, AccessLevel: 30, Projects: []string{"acme/web"}})
	gl.AddToken(tokGuest, forgetest.GitLabToken{Kind: "group", Scopes: []string{"read_api"}, AccessLevel: 10, Projects: []string{"guests/site"}})
	gl.AddToken(tokRevoked, forgetest.GitLabToken{Username: "dave", Scopes: []string{"api"}, Projects: []string{"acme/web"}})
	gl.Revoke(tokRevoked)
	gl.AddToken(tokUnknown+"-other", forgetest.GitLabToken{Username: "eve", Scopes: []string{"api"}, AccessLevel: 50, Projects: []string{"other/open", "other/corp"}})
	gl.SetVisibility("other/open", "public")
	gl.SetVisibility("other/corp", "internal")

	for i := range 228 { // with main and develop: 230
		gl.SetBranch("acme/web", fmt.Sprintf("feature/b%03d", i), fmt.Sprintf("%040x", i+1))
	}
	gl.SetDefaultBranch("acme/web", "develop")
	gl.SetBranch("acme/web", "develop", strings.Repeat("d", 40))
	gl.SetFile("acme/web", "develop", "Dockerfile", "FROM scratch\n")
	gl.SetFile("acme/web", "develop", "deploy/app.yaml", "replicas: 3\n")
	gl.SetFile("acme/web", "main", "deploy/app.yaml", "replicas: 1\n")
	gl.SetFile("acme/web", "main", "big/exact.bin", strings.Repeat("x", forge.MaxFileBytes))
	gl.SetFile("acme/web", "main", "big/over.bin", strings.Repeat("x", forge.MaxFileBytes+1))
	gl.SetBranch("acme/platform/tools/api", "release/1.0", strings.Repeat("e", 40))

	srv := forgetest.NewServer(t, nil, forgetest.ByHost{"gitlab.com": gl, "gitlab.test": gl})
	return &env{gl: gl, srv: srv, f: newForge(t, srv.Policy())}
}

func cred(token string) forge.Credential {
	return forge.Credential{Endpoint: cloud(), Token: secret.New(token)}
}

// noToken fails when err shows any test token, however it is printed.
func noToken(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, tok := range allTokens {
			if strings.Contains(s, tok) {
				t.Errorf("the error holds token %s: %s", tok, s)
			}
		}
	}
}

func TestListReposFollowsEveryPage(t *testing.T) {
	e := browseEnv(t)
	repos, err := e.f.ListRepos(t.Context(), cred(tokPersonal), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 152 {
		t.Fatalf("%d repositories, want 152 (public and internal projects of others are not listed)", len(repos))
	}
	seen := map[string]bool{}
	for _, r := range repos {
		if seen[r.FullName] {
			t.Errorf("%s listed twice", r.FullName)
		}
		seen[r.FullName] = true
	}
	want := forge.Repo{FullName: "acme/platform/tools/api", CloneURL: "https://gitlab.com/acme/platform/tools/api.git",
		WebURL: "https://gitlab.com/acme/platform/tools/api", DefaultBranch: "main", Private: true}
	if diff := cmp.Diff(want, repos[1]); diff != "" {
		t.Errorf("repos[1] (-want +got):\n%s", diff)
	}
	// Keyset pages of 100: 100, 52, then an empty page ends the list.
	if n := e.gl.Requests(tokPersonal); n != 3 {
		t.Errorf("GitLab saw %d requests, want 3", n)
	}
	for _, r := range e.srv.Requests() {
		q := r.URL.Query()
		if q.Get("membership") != "true" || q.Get("pagination") != "keyset" || q.Get("order_by") != "id" || q.Get("per_page") != "100" {
			t.Errorf("request %s is not a keyset membership listing", r.URL)
		}
		if r.Header.Get("PRIVATE-TOKEN") != tokPersonal || strings.Contains(r.URL.String(), tokPersonal) {
			t.Errorf("%s: token not in PRIVATE-TOKEN alone", r.URL)
		}
	}
}

func TestListReposSearch(t *testing.T) {
	e := browseEnv(t)
	tests := []struct {
		search string
		want   []string
		// sent is the search GitLab received, "" for none.
		sent string
	}{
		// The full path matches, through search_namespaces.
		{"Platform", []string{"acme/platform/tools/api"}, "platform"},
		{"acme/web", []string{"acme/web"}, "acme/web"},
		{"bulk/p14", []string{"acme/bulk/p140", "acme/bulk/p141", "acme/bulk/p142", "acme/bulk/p143", "acme/bulk/p144",
			"acme/bulk/p145", "acme/bulk/p146", "acme/bulk/p147", "acme/bulk/p148", "acme/bulk/p149"}, "bulk/p14"},
		// GitLab matches under three characters exactly, so gitaccess
		// filters those itself.
		{"eb", []string{"acme/web"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.search, func(t *testing.T) {
			e.srv.ResetRequests()
			repos, err := e.f.ListRepos(t.Context(), cred(tokPersonal), tc.search)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range repos {
				got = append(got, r.FullName)
			}
			if diff := cmp.Diff(tc.want, got, cmpSorted); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			q := e.srv.Requests()[0].URL.Query()
			if q.Get("search") != tc.sent || (tc.sent != "") != (q.Get("search_namespaces") == "true") {
				t.Errorf("sent search=%q search_namespaces=%q, want %q", q.Get("search"), q.Get("search_namespaces"), tc.sent)
			}
		})
	}
}

var cmpSorted = cmpopts.SortSlices(func(a, b string) bool { return a < b })

func TestGetRepo(t *testing.T) {
	e := browseEnv(t)
	repo, err := e.f.GetRepo(t.Context(), cred(tokPersonal), "acme/platform/tools/api")
	if err != nil {
		t.Fatal(err)
	}
	if repo.FullName != "acme/platform/tools/api" || repo.CloneURL != "https://gitlab.com/acme/platform/tools/api.git" {
		t.Errorf("repo %+v", repo)
	}
	if got := e.srv.Requests()[0].URL.EscapedPath(); got != "/api/v4/projects/acme%2Fplatform%2Ftools%2Fapi" {
		t.Errorf("path %s, want the full path URL-encoded as one segment", got)
	}

	// Visibility: internal is private to the world, public is not.
	for name, private := range map[string]bool{"other/open": false, "other/corp": true} {
		repo, err := e.f.GetRepo(t.Context(), cred(tokPersonal), name)
		if err != nil || repo.Private != private {
			t.Errorf("%s: private %v err %v, want %v", name, repo.Private, err, private)
		}
	}

	_, err = e.f.GetRepo(t.Context(), cred(tokPersonal), "acme/nope")
	noToken(t, err)
	var nf *forge.NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("err = %v, want NotFoundError", err)
	}
	want := forge.NotFoundError{Provider: forge.GitLab, Host: "gitlab.com", Resource: "acme/nope", Status: 404, Message: "404 Project Not Found"}
	if diff := cmp.Diff(want, *nf); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// A bare number would be a project id to GitLab: refused before asking.
	before := e.gl.Requests(tokPersonal)
	var ie *forge.InvalidInputError
	if _, err := e.f.GetRepo(t.Context(), cred(tokPersonal), "42"); !errors.As(err, &ie) {
		t.Errorf("err = %v, want InvalidInputError", err)
	}
	if e.gl.Requests(tokPersonal) != before {
		t.Error("a refused name reached GitLab")
	}
}

func TestListBranchesFollowsEveryPage(t *testing.T) {
	e := browseEnv(t)
	branches, err := e.f.ListBranches(t.Context(), cred(tokPersonal), "acme/web")
	if err != nil {
		t.Fatal(err)
	}
	if len(branches) != 230 {
		t.Fatalf("%d branches, want 230", len(branches))
	}
	if diff := cmp.Diff(forge.Branch{Name: "develop", SHA: strings.Repeat("d", 40)}, branches[0]); diff != "" {
		t.Errorf("branches[0] (-want +got):\n%s", diff)
	}
	if b := branches[229]; b.Name != "main" {
		t.Errorf("last branch %+v, want main", b)
	}
	// Offset pages of 100: 100, 100, 30.
	if n := e.gl.Requests(tokPersonal); n != 3 {
		t.Errorf("GitLab saw %d requests, want 3", n)
	}
	for i, r := range e.srv.Requests() {
		if got := r.URL.Query().Get("page"); i > 0 && got != fmt.Sprint(i+1) {
			t.Errorf("request %d asked page %q", i+1, got)
		}
	}

	_, err = e.f.ListBranches(t.Context(), cred(tokPersonal), "acme/nope")
	var nf *forge.NotFoundError
	if !errors.As(err, &nf) || nf.Resource != "acme/nope" {
		t.Errorf("err = %v, want NotFoundError for acme/nope", err)
	}
}

func TestGetBranch(t *testing.T) {
	e := browseEnv(t)
	b, err := e.f.GetBranch(t.Context(), cred(tokPersonal), "acme/platform/tools/api", "release/1.0")
	if err != nil {
		t.Fatal(err)
	}
	if b != (forge.Branch{Name: "release/1.0", SHA: strings.Repeat("e", 40)}) {
		t.Errorf("branch %+v", b)
	}
	if got := e.srv.Requests()[0].URL.EscapedPath(); got != "/api/v4/projects/acme%2Fplatform%2Ftools%2Fapi/repository/branches/release%2F1%2E0" {
		t.Errorf("path %s", got)
	}

	tests := []struct {
		project, branch string
		want            forge.NotFoundError
	}{
		{"acme/web", "nope", forge.NotFoundError{Resource: "branch nope of acme/web", Message: "404 Branch Not Found"}},
		{"acme/nope", "main", forge.NotFoundError{Resource: "acme/nope", Message: "404 Project Not Found"}},
	}
	for _, tc := range tests {
		_, err := e.f.GetBranch(t.Context(), cred(tokPersonal), tc.project, tc.branch)
		noToken(t, err)
		var nf *forge.NotFoundError
		if !errors.As(err, &nf) {
			t.Fatalf("err = %v, want NotFoundError", err)
		}
		tc.want.Provider, tc.want.Host, tc.want.Status = forge.GitLab, "gitlab.com", 404
		if diff := cmp.Diff(tc.want, *nf); diff != "" {
			t.Errorf("%s %s (-want +got):\n%s", tc.project, tc.branch, diff)
		}
	}
}

func TestReadFile(t *testing.T) {
	e := browseEnv(t)
	tests := []struct {
		name, path, ref, want string
		requests              int
	}{
		{"at a branch", "deploy/app.yaml", "main", "replicas: 1\n", 1},
		{"at a commit", "deploy/app.yaml", strings.Repeat("d", 40), "replicas: 3\n", 1},
		// An empty ref is the default branch, looked up first.
		{"default branch", "deploy/app.yaml", "", "replicas: 3\n", 2},
		{"leading slash", "/Dockerfile", "develop", "FROM scratch\n", 1},
		{"exactly the cap", "big/exact.bin", "main", strings.Repeat("x", forge.MaxFileBytes), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.srv.ResetRequests()
			got, err := e.f.ReadFile(t.Context(), cred(tokPersonal), "acme/web", tc.path, tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("read %d bytes %.40q, want %.40q", len(got), got, tc.want)
			}
			reqs := e.srv.Requests()
			if len(reqs) != tc.requests {
				t.Fatalf("%d requests, want %d", len(reqs), tc.requests)
			}
			last := reqs[len(reqs)-1]
			wantRef := tc.ref
			if wantRef == "" {
				wantRef = "develop"
			}
			if last.URL.Query().Get("ref") != wantRef || !strings.HasPrefix(last.URL.EscapedPath(), "/api/v4/projects/acme%2Fweb/repository/files/") {
				t.Errorf("asked %s", last.URL)
			}
		})
	}
	if got := e.srv.Requests()[0].URL.EscapedPath(); got != "/api/v4/projects/acme%2Fweb/repository/files/big%2Fexact%2Ebin/raw" {
		t.Errorf("path %s, want the file path URL-encoded", got)
	}

	t.Run("over the cap", func(t *testing.T) {
		_, err := e.f.ReadFile(t.Context(), cred(tokPersonal), "acme/web", "big/over.bin", "main")
		var ie *forge.InvalidInputError
		if !errors.As(err, &ie) || !strings.Contains(ie.Reason, "larger than 1048576 bytes") || !strings.Contains(ie.Reason, "big/over.bin at main of acme/web") {
			t.Errorf("err = %v, want InvalidInputError saying the file is too large", err)
		}
	})

	notFound := []struct {
		name, path, ref string
		want            forge.NotFoundError
	}{
		{"missing file", "nope.txt", "", forge.NotFoundError{Resource: "file nope.txt at develop of acme/web", Status: 404, Message: "404 File Not Found"}},
		{"missing ref", "Dockerfile", "v9", forge.NotFoundError{Resource: "file Dockerfile at v9 of acme/web", Status: 404, Message: "404 Commit Not Found"}},
	}
	for _, tc := range notFound {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.f.ReadFile(t.Context(), cred(tokPersonal), "acme/web", tc.path, tc.ref)
			noToken(t, err)
			var nf *forge.NotFoundError
			if !errors.As(err, &nf) {
				t.Fatalf("err = %v, want NotFoundError", err)
			}
			tc.want.Provider, tc.want.Host = forge.GitLab, "gitlab.com"
			if diff := cmp.Diff(tc.want, *nf); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	t.Run("bad paths", func(t *testing.T) {
		before := e.gl.Requests(tokPersonal)
		for _, p := range []string{"", "/", "deploy/", "../etc/passwd", "a//b"} {
			var ie *forge.InvalidInputError
			if _, err := e.f.ReadFile(t.Context(), cred(tokPersonal), "acme/web", p, "main"); !errors.As(err, &ie) || ie.Field != "path" {
				t.Errorf("%q: err = %v, want InvalidInputError on path", p, err)
			}
		}
		if e.gl.Requests(tokPersonal) != before {
			t.Error("a refused path reached GitLab")
		}
	})

	t.Run("empty repository", func(t *testing.T) {
		e.gl.SetDefaultBranch("acme/bulk/p000", "")
		_, err := e.f.ReadFile(t.Context(), cred(tokPersonal), "acme/bulk/p000", "Dockerfile", "")
		var nf *forge.NotFoundError
		if !errors.As(err, &nf) || !strings.Contains(nf.Message, "empty") {
			t.Errorf("err = %v, want NotFoundError saying the repository is empty", err)
		}
	})

	// GitLab lets read_repository read files (lib/api/files.rb) but not
	// look up the default branch.
	t.Run("read_repository", func(t *testing.T) {
		got, err := e.f.ReadFile(t.Context(), cred(tokRepoOnly), "acme/web", "Dockerfile", "develop")
		if err != nil || string(got) != "FROM scratch\n" {
			t.Errorf("with a ref: %q %v", got, err)
		}
		_, err = e.f.ReadFile(t.Context(), cred(tokRepoOnly), "acme/web", "Dockerfile", "")
		var pe *forge.ProviderError
		if !errors.As(err, &pe) || pe.Status != 403 || !strings.Contains(pe.Message, "lacks read_api or api") {
			t.Errorf("without a ref: err = %v, want ProviderError naming read_api", err)
		}
		noToken(t, err)
	})
}

func TestBrowseErrors(t *testing.T) {
	type call func(f *Forge, c forge.Credential) error
	list := func(f *Forge, c forge.Credential) error { _, err := f.ListRepos(t.Context(), c, ""); return err }
	branches := func(f *Forge, c forge.Credential) error {
		_, err := f.ListBranches(t.Context(), c, "acme/web")
		return err
	}
	file := func(f *Forge, c forge.Credential) error {
		_, err := f.ReadFile(t.Context(), c, "acme/web", "Dockerfile", "develop")
		return err
	}
	tests := []struct {
		name  string
		token string
		fail  int // status the fake answers first, 0 for none
		call  call
		check func(t *testing.T, err error)
	}{
		{"revoked", tokRevoked, 0, list, func(t *testing.T, err error) {
			var ae *forge.AuthError
			if !errors.As(err, &ae) || ae.Status != 401 || !strings.Contains(ae.Message, "revoked") {
				t.Errorf("err = %v, want AuthError 401", err)
			}
		}},
		{"429", tokPersonal, 429, branches, func(t *testing.T, err error) {
			var re *forge.RateLimitedError
			if !errors.As(err, &re) {
				t.Errorf("err = %v, want RateLimitedError", err)
			}
		}},
		{"503", tokPersonal, 503, file, func(t *testing.T, err error) {
			var pe *forge.ProviderError
			if !errors.As(err, &pe) || pe.Status != 503 {
				t.Errorf("err = %v, want ProviderError 503", err)
			}
		}},
		{"read_repository lists", tokRepoOnly, 0, list, func(t *testing.T, err error) {
			var pe *forge.ProviderError
			if !errors.As(err, &pe) || pe.Status != 403 || !strings.Contains(pe.Message, "the token lacks read_api or api, which browsing needs") {
				t.Errorf("err = %v, want ProviderError naming read_api", err)
			}
		}},
		{"Guest reads code", tokGuest, 0, func(f *Forge, c forge.Credential) error {
			_, err := f.ListBranches(t.Context(), c, "guests/site")
			return err
		}, func(t *testing.T, err error) {
			var pe *forge.ProviderError
			if !errors.As(err, &pe) || pe.Status != 403 || !strings.Contains(pe.Message, "Reporter") {
				t.Errorf("err = %v, want ProviderError naming the Reporter role", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := browseEnv(t)
			if tc.fail != 0 {
				e.gl.FailNext(tc.fail, http.Header{"Retry-After": {"60"}})
			}
			err := tc.call(e.f, cred(tc.token))
			tc.check(t, err)
			noToken(t, err)
			if n := e.gl.Requests(tc.token); n != 1 {
				t.Errorf("GitLab saw %d requests, want 1 (no retries)", n)
			}
		})
	}
}

func TestBrowseSelfManagedRelativeRoot(t *testing.T) {
	gl := forgetest.NewGitLab()
	gl.SetRelativeRoot("/gitlab")
	var projects []string
	for i := range 120 {
		projects = append(projects, fmt.Sprintf("corp/team/svc%03d", i))
	}
	gl.AddToken(tokPersonal, forgetest.GitLabToken{Username: "alice", Scopes: []string{"read_api"}, AccessLevel: 20, Projects: projects})
	gl.SetFile("corp/team/svc007", "main", "Dockerfile", "FROM alpine\n")
	srv := forgetest.NewServer(t, nil, forgetest.ByHost{"gitlab.test": gl})
	f := newForge(t, srv.Policy())
	ep, err := f.ResolveEndpoint("https://gitlab.test/gitlab", "")
	if err != nil {
		t.Fatal(err)
	}
	c := forge.Credential{Endpoint: ep, Token: secret.New(tokPersonal)}

	repos, err := f.ListRepos(t.Context(), c, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 120 || repos[7].CloneURL != "https://gitlab.test/gitlab/corp/team/svc007.git" {
		t.Errorf("%d repos, repos[7] %+v", len(repos), repos[7])
	}
	got, err := f.ReadFile(t.Context(), c, "corp/team/svc007", "Dockerfile", "")
	if err != nil || string(got) != "FROM alpine\n" {
		t.Errorf("ReadFile: %q %v", got, err)
	}
	for _, r := range srv.Requests() {
		if !strings.HasPrefix(r.URL.Path, "/gitlab/api/v4/") {
			t.Errorf("request %s outside the relative root", r.URL.Path)
		}
	}
}

// A server that names a next page forever is asked a bounded number of
// times; an empty page ends a list even if a next page is named.
func TestPagesAreBounded(t *testing.T) {
	var calls atomic.Int32
	endless := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Next-Page", fmt.Sprint(n+1))
		if strings.Contains(r.URL.EscapedPath(), "acme%2Fempty") {
			fmt.Fprint(w, `[]`)
			return
		}
		fmt.Fprintf(w, `[{"name":"b%d","commit":{"id":"%040d"}}]`, n, n)
	})
	srv := forgetest.NewServer(t, nil, forgetest.ByHost{"gitlab.test": endless})
	f := newForge(t, srv.Policy())
	c := forge.Credential{Endpoint: forge.Endpoint{Provider: forge.GitLab, WebURL: "https://gitlab.test", APIURL: "https://gitlab.test/api/v4"},
		Token: secret.New(tokPersonal)}

	_, err := f.ListBranches(t.Context(), c, "acme/web")
	var pe *forge.ProviderError
	if !errors.As(err, &pe) || !strings.Contains(pe.Message, "pages") {
		t.Errorf("err = %v, want ProviderError about too many pages", err)
	}
	if n := calls.Load(); n != maxPages {
		t.Errorf("%d requests, want %d", n, maxPages)
	}

	calls.Store(0)
	got, err := f.ListBranches(t.Context(), c, "acme/empty")
	if err != nil || len(got) != 0 || calls.Load() != 1 {
		t.Errorf("empty page: %d branches, %d requests, err %v; want none after 1 request", len(got), calls.Load(), err)
	}
}

// GitLab's words reach errors with the token scrubbed, should a server
// echo it.
func TestBrowseErrorsScrubEchoedToken(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		status := http.StatusNotFound
		if strings.Contains(r.URL.Path, "/repository/") {
			status = http.StatusInternalServerError
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"message":"%d no project for token %s"}`, status, r.Header.Get("PRIVATE-TOKEN"))
	})
	srv := forgetest.NewServer(t, nil, forgetest.ByHost{"gitlab.test": echo})
	f := newForge(t, srv.Policy())
	c := forge.Credential{Endpoint: forge.Endpoint{Provider: forge.GitLab, WebURL: "https://gitlab.test", APIURL: "https://gitlab.test/api/v4"},
		Token: secret.New(tokPersonal)}

	_, err := f.GetRepo(t.Context(), c, "acme/web")
	var nf *forge.NotFoundError
	if !errors.As(err, &nf) || !strings.Contains(nf.Message, "no project for token") {
		t.Errorf("err = %v, want NotFoundError with GitLab's words", err)
	}
	noToken(t, err)
	_, err = f.ListBranches(t.Context(), c, "acme/web")
	var pe *forge.ProviderError
	if !errors.As(err, &pe) || pe.Status != 500 {
		t.Errorf("err = %v, want ProviderError 500", err)
	}
	noToken(t, err)
}
