package server_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/server"
)

// gitWorld is a self-hosted GitHub Enterprise on one host: its API (the
// fake, under /api/v3) and its git smart-HTTP (the real git http-backend).
type gitWorld struct {
	gs   *forgetest.GitServer
	gh   *forgetest.GitHub
	base string // https://127.0.0.1:PORT
}

func newGitWorld(t *testing.T) *gitWorld {
	w := &gitWorld{gh: forgetest.NewGitHub()}
	w.gs = forgetest.NewGitServer(t, t.TempDir(), forgetest.ConventionGitHub)
	w.gs.Mount("/api/v3/", w.gh)
	w.base = w.gs.Server.URL
	return w
}

// repo creates a repository with files on main, in git and in the API.
func (w *gitWorld) repo(name string, files map[string]string, branches ...string) {
	w.gs.CreateRepo(name)
	w.gs.Commit(name, files, "initial")
	for _, b := range branches {
		w.gs.Branch(name, b, "main")
	}
	w.gh.AddRepo(forgetest.GitHubRepo{FullName: name, DefaultBranch: "main", Branches: branches, Files: files})
}

// token registers a classic token that sees repos, in git and in the API.
func (w *gitWorld) token(value string, repos ...string) {
	w.gh.AddToken(value, forgetest.GitHubToken{Login: "ci-bot", Kind: forgetest.GitHubClassic, Scopes: []string{"repo", "admin:repo_hook"}, Repos: repos})
	w.gs.Grant(value, repos...)
}

func startWithGit(t *testing.T, w *gitWorld) *harness {
	t.Helper()
	policy := w.gs.Policy()
	logs := &forgetest.LogBuffer{}
	h := &harness{t: t, logs: logs}
	h.cfg = server.Config{
		DataDir: t.TempDir(),
		Logger:  slogJSON(logs),
		Egress:  &policy,
		GitEnv:  w.gs.Env(),
	}
	app, err := server.Open(context.Background(), h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.app = app
	h.url = newHTTPServer(t, app)
	key, err := os.ReadFile(filepath.Join(h.cfg.DataDir, server.AdminAPIKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	h.adminKey = strings.TrimSpace(string(key))
	// The CLI's git trusts the test CA like a user's would trust theirs.
	h.gitEnv = w.gs.Env()
	return h
}

func readTarGz(t *testing.T, b []byte) map[string]string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string]string{}
	for {
		hd, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if hd.Typeflag == tar.TypeReg {
			data, _ := io.ReadAll(tr)
			out[hd.Name] = string(data)
		}
	}
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// noSecretIn fails when any of values appears in any file under dir.
func noSecretIn(t *testing.T, dir string, values ...string) {
	t.Helper()
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds a token value", p)
			}
		}
		return nil
	})
}

// TestCloneThroughCredentialHelper is issue 3 as a build worker lives it:
// apps bound by prefix and by name, browsing, clones (full, branch,
// shallow, submodules across two tokens) through `gitaccess credential`
// with a Builder key, archives from the mirror, and refusals that say why.
func TestCloneThroughCredentialHelper(t *testing.T) {
	w := newGitWorld(t)
	w.repo("acme/lib", map[string]string{"lib.txt": "library v1\n"})
	w.repo("acme/api", map[string]string{"Dockerfile": "FROM scratch\n", "svc/main.go": "package main\n"}, "feature")
	w.gs.AddSubmodule("acme/api", "vendor/lib", "acme/lib")
	w.repo("acme/secret", map[string]string{"x": "y"})
	apiTok, libTok := canary("ghp_"), canary("ghp_")
	w.token(apiTok, "acme/api")
	w.token(libTok, "acme/lib")
	h := startWithGit(t, w)

	// Two tokens: the api token serves acme/api only, the lib token the rest of acme.
	h.mustCLI(apiTok, "token", "add", "api-tok", "--provider", "github", "--url", w.base, "--prefix", w.base+"/acme/api/")
	h.mustCLI(libTok, "token", "add", "lib-tok", "--provider", "github", "--url", w.base, "--prefix", w.base+"/acme/")
	if code, out := h.cli(canary("ghp_"), "token", "add", "tie", "--provider", "github", "--url", w.base, "--prefix", w.base+"/acme/"); code == 0 || !strings.Contains(out, "already served by token lib-tok") {
		t.Errorf("a tied prefix was accepted or unexplained: %d\n%s", code, out)
	}

	// Applications: by prefix, and one the token cannot see.
	out := h.mustCLI("", "app", "create", "api", "--repo", w.base+"/acme/api", "--path", "svc")
	if !strings.Contains(out, "api-tok") {
		t.Errorf("app create does not say which token serves it:\n%s", out)
	}
	var shown map[string]any
	if err := json.Unmarshal([]byte(h.mustCLI("", "app", "show", "api", "-o", "json")), &shown); err != nil {
		t.Fatal(err)
	}
	if shown["token"] != "api-tok" || shown["binding"] != "prefix" || shown["branch"] != "main" || !strings.Contains(shown["reason"].(string), w.base+"/acme/api/") {
		t.Errorf("app show = %v", shown)
	}
	code, out := h.cli("", "app", "create", "secret", "--repo", w.base+"/acme/secret.git")
	if code == 0 || !strings.Contains(out, "token lib-tok cannot see acme/secret: GitHub answered 404") {
		t.Errorf("app on an invisible repository: exit %d\n%s", code, out)
	}
	if code, out := h.cli("", "app", "create", "nobranch", "--repo", w.base+"/acme/api", "--branch", "nope"); code == 0 || !strings.Contains(out, "branch nope of acme/api") {
		t.Errorf("app on a missing branch: exit %d\n%s", code, out)
	}

	// Browsing.
	if out := h.mustCLI("", "repo", "file", w.base+"/acme/api", "Dockerfile"); out != "FROM scratch\n" {
		t.Errorf("repo file = %q", out)
	}
	if out := h.mustCLI("", "repo", "branches", w.base+"/acme/api"); !strings.Contains(out, "feature") {
		t.Errorf("repo branches:\n%s", out)
	}
	if out := h.mustCLI("", "repo", "list", "--token", "lib-tok"); !strings.Contains(out, "acme/lib") || strings.Contains(out, "acme/api") {
		t.Errorf("repo list:\n%s", out)
	}

	// A Builder key clones; it can do nothing else.
	var key struct{ Key string }
	if err := json.Unmarshal([]byte(h.mustCLI("", "apikey", "create", "build-worker", "--role", "builder", "-o", "json")), &key); err != nil || key.Key == "" {
		t.Fatalf("builder key: %v", err)
	}
	builder := *h
	builder.adminKey = key.Key
	if code, _ := builder.cli("", "token", "list"); code == 0 {
		t.Error("a Builder key listed tokens")
	}

	work := t.TempDir()
	full := filepath.Join(work, "full")
	builder.mustCLI("", "clone", "api", full, "--recurse-submodules")
	if b, _ := os.ReadFile(filepath.Join(full, "vendor/lib/lib.txt")); string(b) != "library v1\n" {
		t.Errorf("submodule through the second token: %q", b)
	}
	if gitOut(t, full, "rev-parse", "HEAD") != w.gs.Head("acme/api", "main") {
		t.Error("clone is not at main's head")
	}
	shallow := filepath.Join(work, "shallow")
	builder.mustCLI("", "clone", w.base+"/acme/api", shallow, "--depth", "1", "--ref", "feature")
	if n := gitOut(t, shallow, "rev-list", "--count", "HEAD"); n != "1" {
		t.Errorf("shallow clone has %s commits", n)
	}
	if b := gitOut(t, shallow, "rev-parse", "--abbrev-ref", "HEAD"); b != "feature" {
		t.Errorf("clone --ref feature is on %s", b)
	}
	noSecretIn(t, work, apiTok, libTok, key.Key)

	// Every resolution is audited with its repository, and marks use.
	audit := h.mustCLI("", "audit", "list", "--limit", "200", "-o", "json")
	for _, repo := range []string{"/acme/api", "/acme/lib"} {
		if !strings.Contains(audit, `credential.resolve`) || !strings.Contains(audit, repo) {
			t.Errorf("audit lacks the resolution of %s", repo)
		}
	}
	if out := h.mustCLI("", "token", "show", "lib-tok", "-o", "json"); !strings.Contains(out, `"last_used_at"`) {
		t.Errorf("lib-tok has no last-used time after serving a submodule:\n%s", out)
	}

	// Archive from the warm mirror: the build context under --path, at the
	// resolved commit.
	ctxFile := filepath.Join(work, "ctx.tar.gz")
	out = builder.mustCLI("", "app", "archive", "api", "-o", ctxFile)
	if !strings.Contains(out, w.gs.Head("acme/api", "main")) {
		t.Errorf("archive does not report the commit:\n%s", out)
	}
	b, _ := os.ReadFile(ctxFile)
	if files := readTarGz(t, b); files["main.go"] != "package main\n" || len(files) != 1 {
		t.Errorf("archive of svc/ = %v", files)
	}
	// A corrupted mirror heals on the next archive.
	corruptMirrors(t, filepath.Join(h.cfg.DataDir, "mirrors"))
	builder.mustCLI("", "app", "archive", "api", "-o", ctxFile)

	// A revoked token: the clone fails, says why, leaves no directory,
	// and the token is marked invalid by the helper's erase.
	w.gs.Revoke(libTok)
	w.gh.Revoke(libTok)
	dead := filepath.Join(work, "dead")
	code, out = builder.cli("", "clone", w.base+"/acme/lib", dead)
	if code == 0 || !strings.Contains(strings.ToLower(out), "authentication") {
		t.Errorf("clone with a revoked token: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Error("a failed clone left its directory")
	}
	var tok map[string]any
	_ = json.Unmarshal([]byte(h.mustCLI("", "token", "show", "lib-tok", "-o", "json")), &tok)
	if tok["status"] != "invalid" {
		t.Errorf("revoked token status = %v, want invalid", tok["status"])
	}
}

// corruptMirrors truncates every pack file of every mirror.
func corruptMirrors(t *testing.T, dir string) {
	t.Helper()
	n := 0
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".pack") {
			n++
			return os.Truncate(p, info.Size()/2)
		}
		return err
	})
	if n == 0 {
		t.Fatal("no mirror pack to corrupt")
	}
}
