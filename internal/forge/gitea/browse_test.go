package gitea

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/forge"
)

// browseEnv adds to newEnv: 120 repositories alice/r000..r119, acme/web
// with 130 branches (default develop) and files, other/secret (private,
// no member among the tokens) and other/open (public).
func browseEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	for i := range 120 {
		e.g.SetPrivate(fmt.Sprintf("alice/r%03d", i), i%2 == 0)
	}
	e.g.SetPrivate("other/secret", true)
	e.g.SetPrivate("other/open", false)
	for i := range 127 { // with main, develop and feature/x/y: 130
		e.g.SetBranch("acme/web", fmt.Sprintf("b%03d", i), fmt.Sprintf("%040x", i+1))
	}
	e.g.SetDefaultBranch("acme/web", "develop")
	e.g.SetBranch("acme/web", "develop", strings.Repeat("d", 40))
	e.g.SetBranch("acme/web", "feature/x/y", strings.Repeat("f", 40))
	e.g.SetFile("acme/web", "develop", "Dockerfile", "FROM scratch\n")
	e.g.SetFile("acme/web", "develop", "deploy/app 1.yaml", "replicas: 3\n")
	e.g.SetFile("acme/web", "main", "deploy/app 1.yaml", "replicas: 1\n")
	e.g.SetFile("acme/web", "feature/x/y", "Dockerfile", "FROM feature\n")
	e.g.SetFile("acme/web", "main", "big/exact.bin", strings.Repeat("x", forge.MaxFileBytes))
	e.g.SetFile("acme/web", "main", "big/over.bin", strings.Repeat("x", forge.MaxFileBytes+1))
	return e
}

func names(repos []forge.Repo) []string {
	out := []string{}
	for _, r := range repos {
		out = append(out, r.FullName)
	}
	return out
}

func TestListReposFollowsEveryPage(t *testing.T) {
	e := browseEnv(t)
	repos, err := e.f.ListRepos(t.Context(), cred(tokAll), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 122 { // alice/app, acme/web, 120 more
		t.Fatalf("%d repositories, want 122: %v", len(repos), names(repos))
	}
	if n := len(e.srv.Requests()); n != 3 {
		t.Errorf("%d requests for 122 repositories in pages of 50, want 3", n)
	}
	var web forge.Repo
	for _, r := range repos {
		if r.FullName == "acme/web" {
			web = r
		}
	}
	want := forge.Repo{FullName: "acme/web", CloneURL: "https://gitea.test/acme/web.git", WebURL: "https://gitea.test/acme/web",
		DefaultBranch: "develop", Private: true}
	if diff := cmp.Diff(want, web); diff != "" {
		t.Errorf("acme/web (-want +got):\n%s", diff)
	}
}

// A server with a smaller MAX_RESPONSE_ITEMS answers fewer per page; the
// Link header still leads on, and the Link URLs (from a ROOT_URL that
// names another host over plain http) are never followed.
func TestListReposSmallPagesAndAForeignRootURL(t *testing.T) {
	e := browseEnv(t)
	e.g.SetMaxResponseItems(20)
	e.g.SetAppURL("http://gitea.internal:3000/")
	repos, err := e.f.ListRepos(t.Context(), cred(tokAll), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 122 {
		t.Fatalf("%d repositories, want 122", len(repos))
	}
	for _, r := range e.srv.Requests() {
		if r.Host != "gitea.test" {
			t.Errorf("a request went to %s", r.Host)
		}
	}
	if n := len(e.srv.Requests()); n != 7 {
		t.Errorf("%d requests, want 7 pages of 20", n)
	}
}

func TestListReposSearch(t *testing.T) {
	e := browseEnv(t)
	repos, err := e.f.ListRepos(t.Context(), cred(tokAll), "  ACME/ ")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"acme/web"}, names(repos)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// bob sees acme/web as a collaborator, not other/open (public, but
	// not his).
	repos, err = e.f.ListRepos(t.Context(), cred(tokRead), "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"acme/web"}, names(repos)); diff != "" {
		t.Errorf("bob (-want +got):\n%s", diff)
	}
}

func TestListReposScopeErrors(t *testing.T) {
	e := browseEnv(t)
	for _, tc := range []struct{ token, scope string }{
		{tokNoUser, "read:user"},            // /user/repos needs read:user too
		{tokIssues, "read:repository"},      // and read:repository
		{tokRevoked, "token is required"},   // not a scope: an AuthError
		{tokProhibited, "prohibited"},       // nor this
		{tokUnknown, "token is required"},   // nor this
		{tokAll + "x", "token is required"}, // nor this
	} {
		_, err := e.f.ListRepos(t.Context(), cred(tc.token), "")
		noToken(t, err)
		if err == nil || !strings.Contains(err.Error(), tc.scope) {
			t.Errorf("%s: err = %v, want it to name %q", tc.token[:4], err, tc.scope)
		}
	}
	_, err := e.f.ListRepos(t.Context(), cred(tokIssues), "")
	var pe *forge.PermissionError
	if !errors.As(err, &pe) || pe.Status != http.StatusForbidden || pe.Needs != "read:repository" || pe.Provider != forge.Gitea ||
		!strings.Contains(pe.Fix, "Settings > Applications") {
		t.Errorf("scope refusal: %#v, want a PermissionError 403 needing read:repository", err)
	}
}

func TestGetRepo(t *testing.T) {
	e := browseEnv(t)
	r, err := e.f.GetRepo(t.Context(), cred(tokAll), "other/open")
	if err != nil {
		t.Fatal(err)
	}
	if r.Private || r.DefaultBranch != "main" || r.WebURL != "https://gitea.test/other/open" {
		t.Errorf("other/open: %+v", r)
	}
	for _, name := range []string{"other/secret", "other/none", "nobody/none"} {
		_, err := e.f.GetRepo(t.Context(), cred(tokAll), name)
		var nf *forge.NotFoundError
		if !errors.As(err, &nf) || nf.Resource != name || nf.Status != 404 || nf.Provider != Provider {
			t.Errorf("%s: err = %#v, want a NotFoundError for it", name, err)
		}
	}
	for _, name := range []string{"", "acme", "acme/web/extra", "/web", "acme/..", "../x"} {
		_, err := e.f.GetRepo(t.Context(), cred(tokAll), name)
		var ie *forge.InvalidInputError
		if !errors.As(err, &ie) || ie.Field != "repository" {
			t.Errorf("%q: err = %v, want an InvalidInputError", name, err)
		}
	}
}

func TestListBranchesFollowsEveryPage(t *testing.T) {
	e := browseEnv(t)
	brs, err := e.f.ListBranches(t.Context(), cred(tokRead), "acme/web")
	if err != nil {
		t.Fatal(err)
	}
	if len(brs) != 130 {
		t.Fatalf("%d branches, want 130", len(brs))
	}
	seen := map[string]string{}
	for _, b := range brs {
		seen[b.Name] = b.SHA
	}
	if seen["develop"] != strings.Repeat("d", 40) || seen["feature/x/y"] != strings.Repeat("f", 40) || seen["b126"] != fmt.Sprintf("%040x", 127) {
		t.Errorf("branches: develop %q feature/x/y %q b126 %q", seen["develop"], seen["feature/x/y"], seen["b126"])
	}
	if n := len(e.srv.Requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	_, err = e.f.ListBranches(t.Context(), cred(tokAll), "other/secret")
	var nf *forge.NotFoundError
	if !errors.As(err, &nf) || nf.Resource != "other/secret" {
		t.Errorf("invisible repository: %v", err)
	}
}

func TestGetBranch(t *testing.T) {
	e := browseEnv(t)
	b, err := e.f.GetBranch(t.Context(), cred(tokRead), "acme/web", "feature/x/y")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(forge.Branch{Name: "feature/x/y", SHA: strings.Repeat("f", 40)}, b); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	_, err = e.f.GetBranch(t.Context(), cred(tokRead), "acme/web", "nope")
	var nf *forge.NotFoundError
	if !errors.As(err, &nf) || nf.Resource != "branch nope of acme/web" || !strings.Contains(nf.Message, "branch does not exist") {
		t.Errorf("missing branch: %#v", err)
	}
	_, err = e.f.GetBranch(t.Context(), cred(tokRead), "other/secret", "main")
	if !errors.As(err, &nf) || nf.Resource != "other/secret" {
		t.Errorf("invisible repository: %#v", err)
	}
	// A name cannot climb out of its route or add a query.
	_, err = e.f.GetBranch(t.Context(), cred(tokRead), "acme/web", "a?b=1#c")
	if !errors.As(err, &nf) || nf.Resource != "branch a?b=1#c of acme/web" {
		t.Errorf("name with ? and #: %#v", err)
	}
	var ie *forge.InvalidInputError
	for _, name := range []string{"../../../user", "a//b", "a/./b", "/a"} {
		if _, err = e.f.GetBranch(t.Context(), cred(tokRead), "acme/web", name); !errors.As(err, &ie) {
			t.Errorf("%q: %#v, want an InvalidInputError", name, err)
		}
	}
	if _, err := e.f.GetBranch(t.Context(), cred(tokRead), "acme/web", " "); err == nil {
		t.Error("an empty branch name was accepted")
	}
}

func TestReadFile(t *testing.T) {
	e := browseEnv(t)
	for _, tc := range []struct{ path, ref, want string }{
		{"Dockerfile", "", "FROM scratch\n"}, // the default branch, develop
		{"/deploy/app 1.yaml", "", "replicas: 3\n"},
		{"deploy/app 1.yaml", "main", "replicas: 1\n"},
		{"Dockerfile", "feature/x/y", "FROM feature\n"},
		{"Dockerfile", strings.Repeat("d", 40), "FROM scratch\n"}, // develop's sha
	} {
		got, err := e.f.ReadFile(t.Context(), cred(tokRead), "acme/web", tc.path, tc.ref)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s at %q: %q, %v; want %q", tc.path, tc.ref, got, err, tc.want)
		}
	}
	got, err := e.f.ReadFile(t.Context(), cred(tokRead), "acme/web", "big/exact.bin", "main")
	if err != nil || len(got) != forge.MaxFileBytes {
		t.Errorf("a file of exactly MaxFileBytes: %d bytes, %v", len(got), err)
	}
	_, err = e.f.ReadFile(t.Context(), cred(tokRead), "acme/web", "big/over.bin", "main")
	var ie *forge.InvalidInputError
	if !errors.As(err, &ie) || !strings.Contains(ie.Reason, "larger than") {
		t.Errorf("a file over MaxFileBytes: %v", err)
	}
	var nf *forge.NotFoundError
	_, err = e.f.ReadFile(t.Context(), cred(tokRead), "acme/web", "missing.txt", "main")
	if !errors.As(err, &nf) || nf.Resource != "file missing.txt at main of acme/web" {
		t.Errorf("missing file: %#v", err)
	}
	_, err = e.f.ReadFile(t.Context(), cred(tokRead), "acme/web", "Dockerfile", "no-such-ref")
	if !errors.As(err, &nf) {
		t.Errorf("unknown ref: %#v", err)
	}
	for _, p := range []string{"", "a//b", "../etc/passwd", "a/./b", "dir/"} {
		_, err := e.f.ReadFile(t.Context(), cred(tokRead), "acme/web", p, "")
		if !errors.As(err, &ie) || ie.Field != "path" {
			t.Errorf("path %q: %v", p, err)
		}
	}
	_, err = e.f.ReadFile(t.Context(), cred(tokIssues), "acme/web", "Dockerfile", "")
	var pe *forge.PermissionError
	if !errors.As(err, &pe) || pe.Status != 403 || pe.Needs != "read:repository" || pe.Repo != "file Dockerfile of acme/web" {
		t.Errorf("without read:repository: %#v, want a PermissionError needing read:repository", err)
	}
}
