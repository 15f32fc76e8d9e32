package forgetest_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
)

// gitClient runs git as a client of gs with no user configuration; the
// credential goes in as an http.extraHeader through the environment.
type gitClient struct {
	t    *testing.T
	gs   *forgetest.GitServer
	home string
	env  []string
}

func newGitClient(t *testing.T, gs *forgetest.GitServer) *gitClient {
	return &gitClient{t: t, gs: gs, home: t.TempDir()}
}

func (c *gitClient) run(user, token string, args ...string) (string, error) {
	c.t.Helper()
	argv := []string{"-c", "protocol.version=2"}
	env := append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + c.home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
	}, c.gs.Env()...)
	env = append(env, c.env...)
	if token != "" {
		argv = append(argv, "--config-env=http.extraHeader=TEST_AUTH_HEADER")
		env = append(env, "TEST_AUTH_HEADER=Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+token)))
	}
	cmd := exec.Command("git", append(argv, args...)...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

func TestGitServerConventions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		conv     forgetest.Convention
		wrongUse string // a username the provider refuses, "" when any goes
		notFound string
	}{
		{forgetest.ConventionGitHub, "", "remote: Repository not found."},
		{forgetest.ConventionGitLab, "alice", "could not be found or you don't have permission"},
		{forgetest.ConventionBitbucket, "alice", "remote: Repository not found."},
	} {
		t.Run(string(tc.conv), func(t *testing.T) {
			gs := forgetest.NewGitServer(t, t.TempDir(), tc.conv)
			gs.CreateRepo("org/app")
			sha := gs.Commit("org/app", map[string]string{"README.md": "hello\n", "src/main.go": "package main\n"}, "first")
			gs.CreateRepo("org/secret")
			gs.Commit("org/secret", map[string]string{"x": "y"}, "first")
			gs.Grant("tok-app", "org/app")
			gs.Grant("tok-none")
			c := newGitClient(t, gs)
			user := tc.conv.Username()

			out, err := c.run(user, "tok-app", "ls-remote", gs.URL("org/app"))
			if err != nil || !strings.Contains(out, sha+"\tHEAD") {
				t.Fatalf("ls-remote with a granted token: %v\n%s", err, out)
			}
			// The path without .git serves the same repository.
			if out, err := c.run(user, "tok-app", "ls-remote", strings.TrimSuffix(gs.URL("org/app"), ".git")); err != nil || !strings.Contains(out, sha) {
				t.Fatalf("ls-remote without .git: %v\n%s", err, out)
			}

			for name, tok := range map[string]string{"wrong token": "tok-wrong", "no credentials": ""} {
				out, err := c.run(user, tok, "ls-remote", gs.URL("org/app"))
				if err == nil || !strings.Contains(out, "terminal prompts disabled") && !strings.Contains(out, "Authentication failed") {
					t.Errorf("%s: want an authentication failure, got %v\n%s", name, err, out)
				}
			}
			if tc.wrongUse != "" {
				if out, err := c.run(tc.wrongUse, "tok-app", "ls-remote", gs.URL("org/app")); err == nil {
					t.Errorf("username %q accepted, want refused\n%s", tc.wrongUse, out)
				}
			}
			for _, repo := range []string{"org/secret", "org/missing"} {
				out, err := c.run(user, "tok-app", "ls-remote", gs.URL(repo))
				if err == nil || !strings.Contains(out, tc.notFound) || !strings.Contains(out, "not found") {
					t.Errorf("%s with a token that cannot see it: want not found, got %v\n%s", repo, err, out)
				}
			}
			if out, err := c.run(user, "tok-none", "ls-remote", gs.URL("org/app")); err == nil || !strings.Contains(out, "not found") {
				t.Errorf("token with no grants: %v\n%s", err, out)
			}

			gs.Revoke("tok-app")
			if out, err := c.run(user, "tok-app", "ls-remote", gs.URL("org/app")); err == nil || !strings.Contains(out, "terminal prompts disabled") {
				t.Errorf("revoked token: want authentication failure, got %v\n%s", err, out)
			}
		})
	}
}

func TestGitServerChallengesAndRefusesPush(t *testing.T) {
	t.Parallel()
	gs := forgetest.NewGitServer(t, t.TempDir(), forgetest.ConventionGitHub)
	gs.CreateRepo("org/app")
	gs.Commit("org/app", map[string]string{"a": "b"}, "first")
	gs.Grant("tok", "org/app")
	client := gs.Client()

	resp, err := client.Get(gs.URL("org/app") + "/info/refs?service=git-upload-pack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="GitHub"` {
		t.Errorf("anonymous: status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/info/refs?service=git-receive-pack"},
		{http.MethodPost, "/git-receive-pack"},
		{http.MethodGet, "/HEAD"},
	} {
		req, _ := http.NewRequest(tc.method, gs.URL("org/app")+tc.path, nil)
		req.SetBasicAuth("x", "tok")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s: status %d, want refused", tc.method, tc.path, resp.StatusCode)
		}
	}
	// Path traversal never reaches the backend.
	req, _ := http.NewRequest(http.MethodGet, gs.URL("org/../../etc")+"/info/refs?service=git-upload-pack", nil)
	req.SetBasicAuth("x", "tok")
	req.URL.Path = "/org/../../etc.git/info/refs"
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("traversal: status %d, want 404", resp.StatusCode)
	}
}

func TestGitServerRepoHelpers(t *testing.T) {
	t.Parallel()
	gs := forgetest.NewGitServer(t, t.TempDir(), forgetest.ConventionGitHub)
	gs.CreateRepo("org/lib")
	libSHA := gs.Commit("org/lib", map[string]string{"lib.txt": "lib\n"}, "lib")
	gs.CreateRepo("org/app")
	first := gs.Commit("org/app", map[string]string{"a.txt": "1\n", "dir/b.txt": "2\n"}, "first")
	second := gs.Commit("org/app", map[string]string{"a.txt": "changed\n"}, "second")
	gs.Branch("org/app", "release", first)
	feature := gs.CommitTo("org/app", "feature", map[string]string{"f.txt": "f\n"}, "feature")
	gs.Tag("org/app", "v1.0.0", first)
	withSub := gs.AddSubmodule("org/app", "vendor/lib", "org/lib")
	gs.Grant("tok", "org/app", "org/lib")

	if gs.Head("org/app", "main") != withSub || gs.Head("org/app", "release") != first {
		t.Fatalf("heads: main %s release %s", gs.Head("org/app", "main"), gs.Head("org/app", "release"))
	}
	c := newGitClient(t, gs)
	out, err := c.run("x", "tok", "ls-remote", gs.URL("org/app"))
	if err != nil {
		t.Fatal(err, out)
	}
	for _, want := range []string{withSub + "\trefs/heads/main", first + "\trefs/heads/release", feature + "\trefs/heads/feature", first + "\trefs/tags/v1.0.0^{}"} {
		if !strings.Contains(out, want) {
			t.Errorf("ls-remote lacks %q:\n%s", want, out)
		}
	}
	dst := filepath.Join(t.TempDir(), "app")
	if out, err := c.run("x", "tok", "clone", "--quiet", gs.URL("org/app"), dst); err != nil {
		t.Fatal(err, out)
	}
	// A commit keeps earlier files and replaces changed ones.
	for file, want := range map[string]string{"a.txt": "changed\n", "dir/b.txt": "2\n"} {
		if b, err := os.ReadFile(filepath.Join(dst, file)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", file, b, err, want)
		}
	}
	gitmodules, _ := os.ReadFile(filepath.Join(dst, ".gitmodules"))
	if !strings.Contains(string(gitmodules), "url = "+gs.URL("org/lib")) {
		t.Errorf(".gitmodules:\n%s", gitmodules)
	}
	cmd := exec.Command("git", "-C", dst, "ls-tree", "HEAD", "vendor/lib")
	tree, _ := cmd.Output()
	if !strings.HasPrefix(string(tree), "160000 commit "+libSHA) {
		t.Errorf("gitlink: %s", tree)
	}
	if second == first {
		t.Error("commits not distinct")
	}
}

func TestGitServerSpeaksProtocolV2(t *testing.T) {
	t.Parallel()
	gs := forgetest.NewGitServer(t, t.TempDir(), forgetest.ConventionGitHub)
	gs.CreateRepo("org/app")
	gs.Commit("org/app", map[string]string{"a": "b"}, "first")
	gs.Grant("tok", "org/app")
	c := newGitClient(t, gs)
	trace := filepath.Join(t.TempDir(), "packet.trace")
	c.env = []string{"GIT_TRACE_PACKET=" + trace}
	if out, err := c.run("x", "tok", "ls-remote", gs.URL("org/app")); err != nil {
		t.Fatal(err, out)
	}
	b, _ := os.ReadFile(trace)
	if !strings.Contains(string(b), "version 2") || !strings.Contains(string(b), "command=ls-refs") {
		t.Errorf("protocol v2 not negotiated:\n%s", b)
	}
}
