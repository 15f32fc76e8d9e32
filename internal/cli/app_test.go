package cli_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge"
)

const commit = "0123456789abcdef0123456789abcdef01234567"

func appView(name string) access.AppView {
	return access.AppView{ID: "app_" + name, Name: name, RepoURL: "https://github.com/acme/api", RepoFullName: "acme/api", Branch: "main",
		Token: "acme-ci", Binding: "prefix", Prefix: "https://github.com/acme/",
		Reason: "token acme-ci serves the longest matching prefix https://github.com/acme/", CreatedAt: now, UpdatedAt: now}
}

// archiveAPI serves web's archive; "broken" fails after its first bytes.
func archiveAPI(t *testing.T, payload string) *fakeAPI {
	api := newFakeAPI(t)
	api.handle("GET /api/v1/apps/{name}/archive", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/gzip")
		w.Header().Set("X-Gitaccess-Commit", commit)
		_, _ = io.WriteString(w, payload[:len(payload)/2])
		if r.PathValue("name") == "broken" {
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		_, _ = io.WriteString(w, payload[len(payload)/2:])
	})
	return api
}

// dirNames lists a directory, to see that no temporary file is left.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestAppArchiveWritesAtomically(t *testing.T) {
	payload := "\x1f\x8b" + strings.Repeat("build context ", 4000)
	api := archiveAPI(t, payload)
	h := newHarness(t).loggedIn(api)
	dir := t.TempDir()
	target := filepath.Join(dir, "ctx.tar.gz")

	r := h.run("", "app", "archive", "web", "--ref", "v1.4.0", "-o", target).ok(t)
	if r.stdout != commit+"\n" {
		t.Errorf("stdout = %q, want the commit", r.stdout)
	}
	if !strings.Contains(r.stderr, "ctx.tar.gz") || !strings.Contains(r.stderr, commit) {
		t.Errorf("stderr = %q", r.stderr)
	}
	got, err := os.ReadFile(target)
	if err != nil || string(got) != payload {
		t.Fatalf("file: %d bytes, %v", len(got), err)
	}
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, %v", fi.Mode(), err)
	}
	if q := api.requests()[0].Query; q != "ref=v1.4.0" {
		t.Errorf("query = %q", q)
	}

	// A download cut short leaves the previous file as it was, and no
	// temporary file.
	h.run("", "app", "archive", "broken", "-o", target).failed(t, "not written to "+target)
	if got, _ := os.ReadFile(target); string(got) != payload {
		t.Errorf("the failed download replaced the file (%d bytes)", len(got))
	}
	if d := cmp.Diff([]string{"ctx.tar.gz"}, dirNames(t, dir)); d != "" {
		t.Errorf("directory (-want +got):\n%s", d)
	}

	// -o - streams to stdout; the commit goes to stderr.
	r = h.run("", "app", "archive", "web", "-o", "-").ok(t)
	if r.stdout != payload || r.stderr != commit+"\n" {
		t.Errorf("-o -: %d bytes on stdout, stderr %q", len(r.stdout), r.stderr)
	}

	// Without -o: APP-<sha>.tar.gz here.
	t.Chdir(dir)
	h.run("", "app", "archive", "web").ok(t)
	if got, err := os.ReadFile(filepath.Join(dir, "web-0123456789ab.tar.gz")); err != nil || string(got) != payload {
		t.Errorf("default file: %d bytes, %v", len(got), err)
	}
}

func TestRepoFilePrintsRawBytes(t *testing.T) {
	file := "FROM scratch\r\n\x00\xff\x1b[31m"
	api := newFakeAPI(t)
	api.handle("GET /api/v1/repos/file", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.WriteString(w, file)
	})
	h := newHarness(t).loggedIn(api)
	r := h.run("", "repo", "file", "https://github.com/acme/api", "deploy/Dockerfile", "--ref", "v1", "--token", "acme-ci").ok(t)
	if r.stdout != file {
		t.Errorf("stdout = %q, want %q", r.stdout, file)
	}
	want := "path=deploy%2FDockerfile&ref=v1&token=acme-ci&url=https%3A%2F%2Fgithub.com%2Facme%2Fapi"
	if got := api.requests()[0].Query; got != want {
		t.Errorf("query = %q, want %q", got, want)
	}
}

func TestRepoListAndBranches(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("GET /api/v1/tokens/{name}/repos", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"items": []forge.Repo{{FullName: "acme/api", WebURL: "https://github.com/acme/api", DefaultBranch: "main", Private: true}}})
	})
	api.handle("GET /api/v1/repos/branches", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"items": []forge.Branch{{Name: "main", SHA: commit}}})
	})
	h := newHarness(t).loggedIn(api)
	h.run("", "repo", "list").failed(t, "--token is required")
	r := h.run("", "repo", "list", "--token", "acme-ci", "--search", "api").ok(t)
	for _, s := range []string{"REPOSITORY", "acme/api", "main", "yes"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("repo list lacks %q:\n%s", s, r.stdout)
		}
	}
	r = h.run("", "repo", "branches", "https://github.com/acme/api").ok(t)
	if !strings.Contains(r.stdout, "main") || !strings.Contains(r.stdout, commit) {
		t.Errorf("branches:\n%s", r.stdout)
	}
	var got []string
	for _, rq := range api.requests() {
		got = append(got, rq.Path+"?"+rq.Query)
	}
	want := []string{"/api/v1/tokens/acme-ci/repos?search=api", "/api/v1/repos/branches?url=https%3A%2F%2Fgithub.com%2Facme%2Fapi"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
}

func TestTokenPrefixes(t *testing.T) {
	tv := tokenView("acme-ci", access.StatusValid, nil)
	tv.Prefixes = []string{"https://github.com/acme/", "https://github.com/acme-tools/"}
	api := newFakeAPI(t)
	api.handle("POST /api/v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusCreated, access.TokenResult{Token: tv, Report: githubReport()})
	})
	api.handle("PATCH /api/v1/tokens/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, access.TokenResult{Token: tv, Report: githubReport()})
	})
	api.handle("GET /api/v1/tokens/{name}", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, tv) })
	h := newHarness(t).loggedIn(api)

	h.run(tokenValue, "token", "add", "acme-ci", "--provider", "github", "--prefix", "https://github.com/acme/", "--prefix", "https://github.com/acme-tools/").ok(t)
	h.run("", "token", "update", "acme-ci", "--prefix", "https://github.com/acme/").ok(t)
	h.run("", "token", "update", "acme-ci", "--description", "no prefix change").ok(t)
	r := h.run("", "token", "show", "acme-ci").ok(t)
	if !strings.Contains(r.stdout, "Prefixes:") || !strings.Contains(r.stdout, "https://github.com/acme/, https://github.com/acme-tools/") {
		t.Errorf("token show:\n%s", r.stdout)
	}
	reqs := api.requests()
	if got := decodeBody(t, reqs[0].Body)["prefixes"]; !cmp.Equal(got, []any{"https://github.com/acme/", "https://github.com/acme-tools/"}) {
		t.Errorf("add prefixes = %v", got)
	}
	if d := cmp.Diff(map[string]any{"prefixes": []any{"https://github.com/acme/"}}, decodeBody(t, reqs[1].Body)); d != "" {
		t.Errorf("update body (-want +got):\n%s", d)
	}
	if _, ok := decodeBody(t, reqs[2].Body)["prefixes"]; ok {
		t.Errorf("an update without --prefix sent prefixes: %s", reqs[2].Body)
	}
}

func TestAppVerbs(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("POST /api/v1/apps", func(w http.ResponseWriter, r *http.Request) { reply(w, http.StatusCreated, appView("web")) })
	api.handle("GET /api/v1/apps/{name}", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, appView(r.PathValue("name"))) })
	api.handle("PATCH /api/v1/apps/{name}", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, appView(r.PathValue("name"))) })
	api.handle("DELETE /api/v1/apps/{name}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := newHarness(t).loggedIn(api)

	h.run("", "app", "create", "web").failed(t, "--repo is required")
	r := h.run("", "app", "create", "web", "--repo", "https://github.com/acme/api", "--branch", "main", "--token", "acme-ci", "--path", "svc/web", "--auto-deploy").ok(t)
	if !strings.Contains(r.stdout, "Created application web.") {
		t.Errorf("create:\n%s", r.stdout)
	}
	r = h.run("", "app", "show", "web").ok(t)
	for _, s := range []string{"Token:", "acme-ci", "Why:", "token acme-ci serves the longest matching prefix https://github.com/acme/", "Branch:", "main"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("app show lacks %q:\n%s", s, r.stdout)
		}
	}
	h.run("", "app", "update", "web").failed(t, "nothing to change")
	h.run("", "app", "update", "web", "--auto-deploy=false", "--token", "", "--branch", "release").ok(t)

	h.run("", "app", "delete", "web").failed(t, "stdin is not a terminal", "--yes")
	h.terminal, h.prompter = true, &fakePrompter{line: "wbe"}
	h.run("", "app", "delete", "web").failed(t, "does not match", "nothing was deleted")
	p := &fakePrompter{line: "web"}
	h.prompter = p
	r = h.run("", "app", "delete", "web").ok(t)
	if len(p.prompts) != 1 || !strings.Contains(p.prompts[0], "Deleting application web cannot be undone. Type its name") || !strings.Contains(r.stdout, "Deleted application web.") {
		t.Errorf("prompts %q, stdout %q", p.prompts, r.stdout)
	}
	h.terminal = false
	h.run("", "app", "delete", "web", "--yes").ok(t)
	h.run("", "app", "delete", "web", "--yes", "--force").ok(t)

	var lines []string
	for _, rq := range api.requests() {
		line := rq.Method + " " + rq.Path
		if rq.Query != "" {
			line += "?" + rq.Query
		}
		if len(rq.Body) > 0 {
			line += " " + strings.TrimSpace(string(rq.Body))
		}
		lines = append(lines, line)
	}
	want := []string{
		`POST /api/v1/apps {"name":"web","repo_url":"https://github.com/acme/api","branch":"main","token":"acme-ci","path":"svc/web","auto_deploy":true}`,
		`GET /api/v1/apps/web`,
		`PATCH /api/v1/apps/web {"branch":"release","token":"","auto_deploy":false}`,
		`DELETE /api/v1/apps/web`,
		`DELETE /api/v1/apps/web`,
		`DELETE /api/v1/apps/web?force=true`,
	}
	if d := cmp.Diff(want, lines); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
}
