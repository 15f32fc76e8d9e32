package bitbucket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/google/go-cmp/cmp"
)

// workspaceToken adds a workspace access token for acme that reads
// repositories.
func (h *harness) workspaceToken(t *testing.T, name string) (string, forge.Credential) {
	t.Helper()
	tok := token(name)
	h.bb.AddToken(tok, forgetest.BitbucketToken{Kind: "workspace", Workspace: "acme", Scopes: []string{"repository"}})
	return tok, h.cred(t, "acme", tok)
}

// listQueries returns the q parameter of every repository-list request the
// server saw, in order.
func (h *harness) listQueries() []string {
	var out []string
	for _, r := range h.srv.Requests() {
		if r.URL.Path == "/2.0/repositories/acme" {
			out = append(out, r.URL.Query().Get("q"))
		}
	}
	return out
}

func TestListReposFollowsEveryPage(t *testing.T) {
	h := newHarness(t)
	for i := range 150 {
		h.bb.AddRepo(forgetest.BitbucketRepo{Workspace: "acme", Slug: fmt.Sprintf("svc-%03d", i), Private: true})
	}
	tok, cred := h.workspaceToken(t, "list")

	repos, err := h.f.ListRepos(context.Background(), cred, "")
	h.noLeak(t, tok, err)
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 153 {
		t.Fatalf("%d repositories, want 153 (3 + 150)", len(repos))
	}
	if n := h.bb.Requests(tok); n != 2 {
		t.Errorf("%d requests for 153 repositories, want 2 pages of 100", n)
	}
	want := forge.Repo{FullName: "acme/app", CloneURL: "https://bitbucket.org/acme/app.git",
		WebURL: "https://bitbucket.org/acme/app", DefaultBranch: "main"}
	if d := cmp.Diff(want, repos[0]); d != "" {
		t.Errorf("first repository (-want +got):\n%s", d)
	}
	if last := repos[152]; last.FullName != "acme/svc-149" || !last.Private {
		t.Errorf("last repository = %+v, want private acme/svc-149", last)
	}
	if d := cmp.Diff([]string{"", ""}, h.listQueries()); d != "" {
		t.Errorf("q sent without a search (-want +got):\n%s", d)
	}
}

func TestListReposSearch(t *testing.T) {
	h := newHarness(t)
	for i := range 150 {
		h.bb.AddRepo(forgetest.BitbucketRepo{Workspace: "acme", Slug: fmt.Sprintf("svc-%03d", i)})
	}
	tok, cred := h.workspaceToken(t, "search")

	repos, err := h.f.ListRepos(context.Background(), cred, "  SVC-14 ")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range repos {
		names = append(names, r.FullName)
	}
	var want []string
	for i := 140; i < 150; i++ {
		want = append(want, fmt.Sprintf("acme/svc-%d", i))
	}
	if d := cmp.Diff(want, names); d != "" {
		t.Errorf("search svc-14 (-want +got):\n%s", d)
	}
	if n := h.bb.Requests(tok); n != 1 {
		t.Errorf("%d requests, want 1: the server filters", n)
	}

	// Text no full name can hold is never spliced into BBQL: everything is
	// listed and filtered here.
	repos, err = h.f.ListRepos(context.Background(), cred, `app" OR name ~ "`)
	if err != nil || len(repos) != 0 {
		t.Errorf("search with a quote: %v, %v; want nothing", repos, err)
	}
	if d := cmp.Diff([]string{`full_name ~ "svc-14"`, "", ""}, h.listQueries()); d != "" {
		t.Errorf("q sent (-want +got):\n%s", d)
	}
}

func TestListReposRepositoryTokenSeesItsRepository(t *testing.T) {
	h := newHarness(t)
	tok := token("one")
	h.bb.AddToken(tok, forgetest.BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "site", Scopes: []string{"repository"}})
	repos, err := h.f.ListRepos(context.Background(), h.cred(t, "acme", tok), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 1 || repos[0].FullName != "acme/site" {
		t.Errorf("repository token lists %+v, want acme/site alone", repos)
	}
}

func TestListBranchesFollowsEveryPage(t *testing.T) {
	h := newHarness(t)
	var branches []string
	for i := range 230 {
		branches = append(branches, fmt.Sprintf("feature/f%03d", i))
	}
	h.bb.AddRepo(forgetest.BitbucketRepo{Workspace: "acme", Slug: "big", Branches: branches})
	tok, cred := h.workspaceToken(t, "branches")

	got, err := h.f.ListBranches(context.Background(), cred, "acme/big")
	h.noLeak(t, tok, err)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 230 {
		t.Fatalf("%d branches, want 230", len(got))
	}
	if n := h.bb.Requests(tok); n != 3 {
		t.Errorf("%d requests for 230 branches, want 3 pages of 100", n)
	}
	if want := (forge.Branch{Name: "feature/f229", SHA: forgetest.BranchHash("acme", "big", "feature/f229")}); got[229] != want {
		t.Errorf("last branch = %+v, want %+v", got[229], want)
	}

	_, err = h.f.ListBranches(context.Background(), cred, "acme/nope")
	var nf *forge.NotFoundError
	if !errors.As(err, &nf) || nf.Resource != "acme/nope" {
		t.Errorf("branches of a missing repository: %v, want NotFoundError for acme/nope", err)
	}
}

func TestGetRepoAndBranch(t *testing.T) {
	h := newHarness(t)
	tok, cred := h.workspaceToken(t, "get")
	ctx := context.Background()

	r, err := h.f.GetRepo(ctx, cred, "acme/site")
	if err != nil {
		t.Fatal(err)
	}
	if r.FullName != "acme/site" || r.CloneURL != "https://bitbucket.org/acme/site.git" || r.DefaultBranch != "main" {
		t.Errorf("GetRepo = %+v", r)
	}
	b, err := h.f.GetBranch(ctx, cred, "acme/site", "release/1.0")
	if err != nil {
		t.Fatal(err)
	}
	if want := (forge.Branch{Name: "release/1.0", SHA: forgetest.BranchHash("acme", "site", "release/1.0")}); b != want {
		t.Errorf("GetBranch = %+v, want %+v", b, want)
	}

	cases := []struct {
		name     string
		call     func() error
		resource string
		status   int
	}{
		{"missing repository", func() error { _, err := h.f.GetRepo(ctx, cred, "acme/nope"); return err }, "acme/nope", 404},
		{"missing branch", func() error { _, err := h.f.GetBranch(ctx, cred, "acme/site", "nope"); return err }, "branch nope of acme/site", 404},
		{"403 for a private repository", func() error {
			h.bb.FailNext(http.StatusForbidden, nil)
			_, err := h.f.GetRepo(ctx, cred, "other/thing")
			return err
		}, "other/thing", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			h.noLeak(t, tok, err)
			var nf *forge.NotFoundError
			if !errors.As(err, &nf) || nf.Resource != tc.resource || nf.Status != tc.status || nf.Message == "" {
				t.Fatalf("err = %#v, want NotFoundError for %s, HTTP %d, with Bitbucket's message", err, tc.resource, tc.status)
			}
			if !strings.Contains(err.Error(), tc.resource) {
				t.Errorf("error %q does not name %s", err, tc.resource)
			}
		})
	}

	// A repository token does not see its workspace's other repositories.
	rat := token("rat")
	h.bb.AddToken(rat, forgetest.BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "app", Scopes: []string{"repository"}})
	var nf *forge.NotFoundError
	if _, err := h.f.GetRepo(ctx, h.cred(t, "acme", rat), "acme/site"); !errors.As(err, &nf) {
		t.Errorf("repository token reading another repository: %v, want NotFoundError", err)
	}

	if _, err := h.f.GetRepo(ctx, cred, "acme"); !isInvalid(err, "repository") {
		t.Errorf("GetRepo(acme) = %v, want InvalidInputError on repository", err)
	}
}

// TestBrowseErrorsAsInspect: refusals keep the types Inspect returns, a
// missing scope names it in Bitbucket's words, and the token is in none.
func TestBrowseErrorsAsInspect(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tok, cred := h.workspaceToken(t, "errs")
	hooks := token("hooks")
	h.bb.AddToken(hooks, forgetest.BitbucketToken{Kind: "workspace", Workspace: "acme", Scopes: []string{"webhook"}})

	_, err := h.f.GetRepo(ctx, h.cred(t, "acme", hooks), "acme/app")
	h.noLeak(t, hooks, err)
	var perm *forge.PermissionError
	if !errors.As(err, &perm) || perm.Status != 403 || perm.Needs != "Repositories: Read (repository)" || perm.Repo != "acme/app" ||
		!strings.Contains(perm.Fix, "Workspace settings > Access tokens") || !strings.Contains(err.Error(), "(required: repository)") {
		t.Errorf("missing scope: %v, want a 403 PermissionError naming the repository scope and the workspace token page", err)
	}
	// A 403 that lists no scope (Bitbucket's answer for a private
	// repository the caller cannot read) stays a NotFoundError.
	h.bb.FailNext(http.StatusForbidden, nil)
	_, err = h.f.GetRepo(ctx, cred, "acme/app")
	var nf *forge.NotFoundError
	if !errors.As(err, &nf) || nf.Status != 403 || errors.As(err, &perm) {
		t.Errorf("403 without scopes: %v (%T), want a NotFoundError", err, err)
	}

	h.bb.FailNext(http.StatusTooManyRequests, http.Header{"Retry-After": {"60"}})
	_, err = h.f.ListRepos(ctx, cred, "")
	var rl *forge.RateLimitedError
	if !errors.As(err, &rl) || rl.Reset.IsZero() {
		t.Errorf("429: %v, want RateLimitedError with a reset", err)
	}
	h.noLeak(t, tok, err)

	h.bb.FailNext(http.StatusBadGateway, nil)
	_, err = h.f.ListBranches(ctx, cred, "acme/app")
	var pe *forge.ProviderError
	if !errors.As(err, &pe) || pe.Status != 502 {
		t.Errorf("502: %v, want ProviderError 502", err)
	}
	h.noLeak(t, tok, err)

	h.bb.Revoke(tok)
	_, err = h.f.ReadFile(ctx, cred, "acme/app", "Dockerfile", "main")
	var ae *forge.AuthError
	if !errors.As(err, &ae) {
		t.Errorf("revoked: %v, want AuthError", err)
	}
	h.noLeak(t, tok, err)
}

func TestReadFile(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.bb.AddRepo(forgetest.BitbucketRepo{Workspace: "acme", Slug: "svc", MainBranch: "trunk"})
	h.bb.SetFile("acme", "svc", "trunk", "Dockerfile", []byte("FROM trunk\n"))
	h.bb.SetFile("acme", "svc", "trunk", "build/ci.yaml", []byte("ci: trunk\n"))
	h.bb.SetFile("acme", "svc", "develop", "Dockerfile", []byte("FROM develop\n"))
	h.bb.SetFile("acme", "svc", "release/2.0", "Dockerfile", []byte("FROM release\n"))
	// A JSON file shaped like a directory listing is still a file.
	listingLike := []byte(`{"pagelen":10,"values":[{"type":"commit_file","path":"x"}],"page":1,"size":1}`)
	h.bb.SetFile("acme", "svc", "trunk", "listing.json", listingLike)
	tok, cred := h.workspaceToken(t, "read")

	cases := []struct {
		name, path, ref string
		want            string
		requests        int
	}{
		{"default branch", "Dockerfile", "", "FROM trunk\n", 2},
		{"branch", "Dockerfile", "develop", "FROM develop\n", 1},
		{"nested path with slashes around it", "/build/ci.yaml", "trunk", "ci: trunk\n", 1},
		{"branch with a slash, via its head", "Dockerfile", "release/2.0", "FROM release\n", 2},
		{"commit", "Dockerfile", forgetest.BranchHash("acme", "svc", "develop"), "FROM develop\n", 1},
		{"json that looks like a listing", "listing.json", "trunk", string(listingLike), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.bb.Requests(tok)
			got, err := h.f.ReadFile(ctx, cred, "acme/svc", tc.path, tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("content %q, want %q", got, tc.want)
			}
			if n := h.bb.Requests(tok) - before; n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
		})
	}

	notFound := []struct{ name, path, ref, resource string }{
		{"missing file", "nope.txt", "trunk", "file nope.txt at trunk of acme/svc"},
		{"missing file on the default branch", "nope.txt", "", "file nope.txt at trunk of acme/svc"},
		{"missing ref", "Dockerfile", "v9", "file Dockerfile at v9 of acme/svc"},
		{"missing ref with a slash", "Dockerfile", "tags/v9", "file Dockerfile at tags/v9 of acme/svc"},
	}
	for _, tc := range notFound {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.f.ReadFile(ctx, cred, "acme/svc", tc.path, tc.ref)
			h.noLeak(t, tok, err)
			var nf *forge.NotFoundError
			if !errors.As(err, &nf) || nf.Resource != tc.resource || nf.Status != 404 {
				t.Fatalf("err = %v, want NotFoundError for %s", err, tc.resource)
			}
		})
	}
	if _, err := h.f.ReadFile(ctx, cred, "acme/gone", "Dockerfile", ""); !isNotFound(err, "acme/gone") {
		t.Errorf("default branch of a missing repository: %v, want NotFoundError for acme/gone", err)
	}

	refused := []struct{ name, path, field, says string }{
		{"directory", "build", "path", "build at trunk of acme/svc is a directory"},
		{"root", "/", "path", "root is a directory"},
		{"dot-dot", "build/../Dockerfile", "path", ".. segment"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.f.ReadFile(ctx, cred, "acme/svc", tc.path, "trunk")
			if !isInvalid(err, tc.field) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %v, want InvalidInputError on %s saying %q", err, tc.field, tc.says)
			}
		})
	}
}

func TestReadFileSizeCap(t *testing.T) {
	h := newHarness(t)
	h.bb.SetFile("acme", "app", "main", "exact.bin", bytes.Repeat([]byte("a"), forge.MaxFileBytes))
	h.bb.SetFile("acme", "app", "main", "big.bin", bytes.Repeat([]byte("a"), forge.MaxFileBytes+1))
	_, cred := h.workspaceToken(t, "cap")

	got, err := h.f.ReadFile(context.Background(), cred, "acme/app", "exact.bin", "main")
	if err != nil || len(got) != forge.MaxFileBytes {
		t.Errorf("file of exactly MaxFileBytes: %d bytes, %v", len(got), err)
	}
	got, err = h.f.ReadFile(context.Background(), cred, "acme/app", "big.bin", "main")
	if got != nil || !isInvalid(err, "path") || !strings.Contains(err.Error(), "larger than 1024 KiB") {
		t.Errorf("file over MaxFileBytes: %d bytes, %v; want a refusal, not a truncation", len(got), err)
	}
}

// TestReadFileEmptyRepository: no main branch means no default ref.
func TestReadFileEmptyRepository(t *testing.T) {
	srv := forgetest.NewServer(t, nil, forgetest.ByHost{"api.bitbucket.org": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"full_name":"acme/empty","mainbranch":null}`))
	})})
	h := &harness{srv: srv, f: New(srv.Policy(), nil), logs: &forgetest.LogBuffer{}}
	_, err := h.f.ReadFile(context.Background(), h.cred(t, "acme", token("empty")), "acme/empty", "Dockerfile", "")
	if !isInvalid(err, "ref") || !strings.Contains(err.Error(), "no main branch") {
		t.Errorf("err = %v, want InvalidInputError on ref", err)
	}
}

func isInvalid(err error, field string) bool {
	var ie *forge.InvalidInputError
	return errors.As(err, &ie) && ie.Field == field
}

func isNotFound(err error, resource string) bool {
	var nf *forge.NotFoundError
	return errors.As(err, &nf) && nf.Resource == resource
}
