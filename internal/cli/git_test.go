package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/cli"
	"github.com/gitaccess/gitaccess/internal/gitx"
)

// gitPassword is what the server hands git: the one secret that may, and
// must, reach stdout, and only from credential get.
const gitPassword = "ghp_ForGitOnly0123456789abcdefABCDEF"

const gitRequest = "protocol=https\nhost=github.com\npath=acme/api.git\n\n"

func credentialAPI(t *testing.T) *fakeAPI {
	api := newFakeAPI(t)
	api.handle("POST /api/v1/credentials", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), `"path":"other/missing.git"`) {
			problem(w, 404, `{"type":"urn:gitaccess:problem:not-found","title":"Not found","status":404,
				"detail":"no token of organization default serves https://github.com/other/missing: add one (gitaccess token add NAME --provider P --prefix URL)\n  or name one with --token"}`)
			return
		}
		reply(w, 200, map[string]string{"username": "x-access-token", "password": gitPassword, "token": "acme-ci",
			"reason": "token acme-ci serves the longest matching prefix https://github.com/acme/"})
	})
	api.handle("POST /api/v1/credentials/reject", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, access.RejectResult{Token: "acme-ci", Status: access.StatusInvalid,
			Detail: "GitHub at github.com refused the token (HTTP 401): Bad credentials; check that the token is correct, not revoked and not expired"})
	})
	return api
}

func TestCredentialGetSpeaksGitsProtocol(t *testing.T) {
	api := credentialAPI(t)
	h := newHarness(t).loggedIn(api)

	r := h.run(gitRequest, "credential", "get").ok(t)
	if want := "username=x-access-token\npassword=" + gitPassword + "\n"; r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
	if r.stderr != "" {
		t.Errorf("stderr = %q", r.stderr)
	}
	r = h.run(gitRequest, "credential", "--app", "web", "get").ok(t)
	if !strings.HasPrefix(r.stdout, "username=x-access-token\n") {
		t.Errorf("stdout with --app = %q", r.stdout)
	}

	reqs := api.requests()
	for i, want := range []map[string]any{
		{"protocol": "https", "host": "github.com", "path": "acme/api.git"},
		{"protocol": "https", "host": "github.com", "path": "acme/api.git", "app": "web"},
	} {
		if d := cmp.Diff(want, decodeBody(t, reqs[i].Body)); d != "" {
			t.Errorf("request %d (-want +got):\n%s", i, d)
		}
		if reqs[i].Method != http.MethodPost || reqs[i].Path != "/api/v1/credentials" {
			t.Errorf("request %d = %s %s", i, reqs[i].Method, reqs[i].Path)
		}
	}
}

func TestCredentialGetFailsWithOneLineAndNoAnswer(t *testing.T) {
	api := credentialAPI(t)
	h := newHarness(t).loggedIn(api)
	for _, tc := range []struct {
		name, stdin string
		env         map[string]string
		want        string
	}{
		{"no token serves it", "protocol=https\nhost=github.com\npath=other/missing.git\n\n", nil,
			"gitaccess: no credential for https://github.com/other/missing.git: no token of organization default serves https://github.com/other/missing: " +
				"add one (gitaccess token add NAME --provider P --prefix URL); or name one with --token\n"},
		{"not logged in", gitRequest, map[string]string{},
			"gitaccess: no credential for https://github.com/acme/api.git: not logged in: run gitaccess login --server URL (or set GITACCESS_SERVER and GITACCESS_API_KEY)\n"},
		{"broken request", "protocol=https\nhost github.com\n\n", nil,
			"gitaccess: cannot answer git: reading git's request: git credential protocol violation: line 2 is not key=value\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := h.env
			if tc.env != nil {
				h.env = tc.env
			}
			defer func() { h.env = saved }()
			r := h.run(tc.stdin, "credential", "get")
			if r.code != 0 || r.stdout != "" || r.stderr != tc.want {
				t.Errorf("exit %d\nstdout %q\nstderr %q\nwant   %q", r.code, r.stdout, r.stderr, tc.want)
			}
		})
	}
}

func TestCredentialEraseReportsWhyAndStoreDoesNothing(t *testing.T) {
	api := credentialAPI(t)
	h := newHarness(t).loggedIn(api)
	h.secrets = append(h.secrets, gitPassword)

	r := h.run(strings.TrimSuffix(gitRequest, "\n")+"username=x-access-token\npassword="+gitPassword+"\n\n", "credential", "erase").ok(t)
	want := "gitaccess: token acme-ci was refused and is now marked invalid: GitHub at github.com refused the token (HTTP 401): Bad credentials; " +
		"check that the token is correct, not revoked and not expired; update it with gitaccess token update acme-ci --value\n"
	if r.stdout != "" || r.stderr != want {
		t.Errorf("stdout %q\nstderr %q\nwant   %q", r.stdout, r.stderr, want)
	}
	reqs := api.requests()
	if len(reqs) != 1 || reqs[0].Path != "/api/v1/credentials/reject" {
		t.Fatalf("requests = %+v", reqs)
	}
	if d := cmp.Diff(map[string]any{"protocol": "https", "host": "github.com", "path": "acme/api.git"}, decodeBody(t, reqs[0].Body)); d != "" {
		t.Errorf("reject body (-want +got):\n%s", d)
	}

	r = h.run(strings.TrimSuffix(gitRequest, "\n")+"username=x-access-token\npassword="+gitPassword+"\n\n", "credential", "store").ok(t)
	if r.stdout != "" || r.stderr != "" || len(api.requests()) != 1 {
		t.Errorf("store: stdout %q stderr %q, %d requests", r.stdout, r.stderr, len(api.requests()))
	}
	h.run(gitRequest, "credential", "capability").ok(t)
	h.run(gitRequest, "credential").failed(t, "needs the ACTION git asks for")
}

func TestCredentialHelperFindsTheLoginThroughConfigDir(t *testing.T) {
	api := credentialAPI(t)
	api.handle("GET /api/v1/whoami", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, access.Principal{KeyName: "ci"}) })
	h := newHarness(t)
	h.run(apiKey, "login", "--server", api.srv.URL).ok(t)
	dir := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "gitaccess")

	// As git runs it: another HOME, and only what gitaccess clone passes.
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	h.run(gitRequest, "credential", "get").ok(t) // finds nothing: a failure line
	h.env = map[string]string{"GITACCESS_SERVER": api.srv.URL, "GITACCESS_CONFIG_DIR": dir}
	r := h.run(gitRequest, "credential", "get").ok(t)
	if !strings.Contains(r.stdout, "password="+gitPassword+"\n") {
		t.Errorf("stdout = %q, stderr = %q", r.stdout, r.stderr)
	}
}

// fakeCloner stands in for git: it records what it was asked and shows a
// progress line.
type fakeCloner struct {
	mu      sync.Mutex
	home    string
	homeDir bool
	env     []string
	opts    gitx.CloneOptions
	err     error
}

func (f *fakeCloner) newCloner(home string, env []string) (cli.Cloner, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.home, f.env = home, env
	return f, nil
}

func (f *fakeCloner) Clone(_ context.Context, o gitx.CloneOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.home)
	f.homeDir = err == nil && fi.IsDir()
	f.opts = o
	if o.Progress != nil {
		o.Progress("Receiving objects: 100% (3/3), done.")
	}
	return f.err
}

func cloneHarness(t *testing.T, api *fakeAPI, git *fakeCloner) *harness {
	h := newHarness(t)
	h.opts = func(o *cli.Options) {
		o.NewCloner = git.newCloner
		o.Executable = func() (string, error) { return "/opt/gitaccess/bin/gitaccess", nil }
	}
	api.handle("GET /api/v1/whoami", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, access.Principal{KeyName: "ci"}) })
	api.handle("GET /api/v1/apps/{name}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") == "ghost" {
			problem(w, 404, `{"type":"urn:gitaccess:problem:not-found","title":"Not found","status":404,"detail":"no application named \"ghost\""}`)
			return
		}
		reply(w, 200, access.AppView{Name: r.PathValue("name"), RepoURL: "https://github.com/acme/api", Branch: "release", Token: "acme-ci"})
	})
	// ghe.example.com has a private CA; nobody.example is served by no
	// token; denied.example refuses the key.
	api.handle("POST /api/v1/credentials/ca-bundle", func(w http.ResponseWriter, r *http.Request) {
		var req access.CredentialRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("ca-bundle request: %v", err)
		}
		switch req.Host {
		case "ghe.example.com":
			reply(w, 200, access.CABundle{Token: "ghe", Host: req.Host, CABundle: testBundle})
		case "nobody.example":
			problem(w, 404, `{"type":"urn:gitaccess:problem:not-found","title":"Not found","status":404,"detail":"no token of organization acme serves it"}`)
		case "denied.example":
			problem(w, 403, `{"type":"urn:gitaccess:problem:forbidden","title":"Forbidden","status":403,"detail":"role member may not resolve clone credentials"}`)
		default:
			reply(w, 200, access.CABundle{Token: "acme-ci", Host: req.Host})
		}
	})
	return h
}

const testBundle = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"

func TestCloneAnApplicationThroughTheHelper(t *testing.T) {
	api := newFakeAPI(t)
	git := &fakeCloner{}
	h := cloneHarness(t, api, git)
	h.run(apiKey, "login", "--server", api.srv.URL).ok(t) // a saved login: no key in the environment

	r := h.run("", "clone", "web").ok(t)
	if !strings.Contains(r.stderr, "Receiving objects: 100% (3/3), done.\n") {
		t.Errorf("git's progress is not on stderr: %q", r.stderr)
	}
	if !strings.Contains(r.stdout, "Cloned https://github.com/acme/api.git at release into api.") {
		t.Errorf("stdout = %q", r.stdout)
	}
	got := git.opts
	if got.Progress == nil {
		t.Error("no progress callback")
	}
	got.Progress = nil
	want := gitx.CloneOptions{URL: "https://github.com/acme/api.git", Dir: "api", Ref: "release",
		HelperCommand: gitx.HelperCommandSkippingStore("/opt/gitaccess/bin/gitaccess", "credential", "--app", "web")}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("clone options (-want +got):\n%s", d)
	}
	wantEnv := []string{"GITACCESS_SERVER=" + api.srv.URL, "GITACCESS_CONFIG_DIR=" + filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "gitaccess")}
	if d := cmp.Diff(wantEnv, git.env); d != "" {
		t.Errorf("git's environment (-want +got):\n%s", d)
	}
	if !git.homeDir {
		t.Error("git's HOME did not exist during the clone")
	}
	if _, err := os.Stat(git.home); !os.IsNotExist(err) {
		t.Errorf("git's HOME %s is still there: %v", git.home, err)
	}
	if s := fmt.Sprintf("%+v %v", got, git.env); strings.Contains(s, apiKey) {
		t.Errorf("the API key reaches git: %s", s)
	}
}

func TestCloneAURLPassesOnlyAnEnvironmentKey(t *testing.T) {
	api := newFakeAPI(t)
	git := &fakeCloner{}
	h := cloneHarness(t, api, git).loggedIn(api)
	h.run("", "clone", "https://github.com/acme/tools", "src/tools", "--ref", "v2", "--depth", "1", "--recurse-submodules").ok(t)
	got := git.opts
	got.Progress = nil
	want := gitx.CloneOptions{URL: "https://github.com/acme/tools", Dir: "src/tools", Ref: "v2", Depth: 1, RecurseSubmodules: true,
		HelperCommand: gitx.HelperCommandSkippingStore("/opt/gitaccess/bin/gitaccess", "credential")}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("clone options (-want +got):\n%s", d)
	}
	// The key the user gave in the environment goes on in git's
	// environment, never into an argument.
	if !slices.Contains(git.env, "GITACCESS_API_KEY="+apiKey) || strings.Contains(got.HelperCommand, apiKey) {
		t.Errorf("env %v, helper %q", git.env, got.HelperCommand)
	}
	// The server is asked only which CA bundle git needs.
	if paths := requestPaths(api.requests()); !slices.Equal(paths, []string{"POST /api/v1/credentials/ca-bundle"}) {
		t.Errorf("a URL clone asked the server %v", paths)
	}

	git.err = errors.New("git clone failed: authentication failed (exit 128): fatal: could not read Username for 'https://github.com': terminal prompts disabled")
	if r := h.run("", "clone", "https://github.com/acme/tools"); r.code == 0 || !strings.HasSuffix(r.stderr, "\nerror: "+git.err.Error()+"\n") {
		t.Errorf("failed clone: exit %d, stderr %q", r.code, r.stderr)
	}
	h.run("", "clone", "https://bob:pw@github.com/acme/tools").failed(t, "credentials in a URL are refused")
	h.run("", "clone", "ghost").failed(t, `no application named "ghost"`)
}

// TestCloneUsesTheLeanHelperBesideGitaccess: with git-credential-gitaccess
// installed beside gitaccess, git runs it instead of "gitaccess
// credential"; one that is not executable is passed over.
func TestCloneUsesTheLeanHelperBesideGitaccess(t *testing.T) {
	api := newFakeAPI(t)
	git := &fakeCloner{}
	h := cloneHarness(t, api, git).loggedIn(api)
	bin := filepath.Join(t.TempDir(), "my bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	exe, lean := filepath.Join(bin, "gitaccess"), filepath.Join(bin, "git-credential-gitaccess")
	h.opts = func(o *cli.Options) {
		o.NewCloner = git.newCloner
		o.Executable = func() (string, error) { return exe, nil }
	}
	if err := os.WriteFile(lean, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.run("", "clone", "web", filepath.Join(t.TempDir(), "a")).ok(t)
	if want := gitx.HelperCommandSkippingStore(exe, "credential", "--app", "web"); git.opts.HelperCommand != want {
		t.Errorf("with a lean helper that is not executable: %q, want %q", git.opts.HelperCommand, want)
	}
	if err := os.Chmod(lean, 0o755); err != nil {
		t.Fatal(err)
	}
	h.run("", "clone", "web", filepath.Join(t.TempDir(), "b")).ok(t)
	if want := gitx.HelperCommandSkippingStore(lean, "--app", "web"); git.opts.HelperCommand != want {
		t.Errorf("helper %q, want %q", git.opts.HelperCommand, want)
	}
	h.run("", "clone", "https://github.com/acme/tools", filepath.Join(t.TempDir(), "c")).ok(t)
	if want := gitx.HelperCommandSkippingStore(lean); git.opts.HelperCommand != want {
		t.Errorf("helper %q, want %q", git.opts.HelperCommand, want)
	}
}

func requestPaths(reqs []request) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// TestCloneHandsGitTheTokensCABundle: the CA bundle of the token that
// serves the repository (the application's own for an application) goes
// to git with the clone; no bundle, or no token at all, means none; a
// certificate git still refuses is explained with the token's name.
func TestCloneHandsGitTheTokensCABundle(t *testing.T) {
	api := newFakeAPI(t)
	git := &fakeCloner{}
	h := cloneHarness(t, api, git).loggedIn(api)

	h.run("", "clone", "https://ghe.example.com/acme/api", filepath.Join(t.TempDir(), "a")).ok(t)
	if string(git.opts.CABundle) != testBundle {
		t.Errorf("CA bundle handed to git = %q, want the token's", git.opts.CABundle)
	}
	reqs := api.requests()
	var got access.CredentialRequest
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &got); err != nil {
		t.Fatal(err)
	}
	if want := (access.CredentialRequest{Protocol: "https", Host: "ghe.example.com", Path: "acme/api"}); got != want {
		t.Errorf("ca-bundle request = %+v, want %+v", got, want)
	}

	// An application asks with its name, so its bound token answers.
	h.run("", "clone", "web", filepath.Join(t.TempDir(), "b")).ok(t)
	reqs = api.requests()
	got = access.CredentialRequest{}
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &got); err != nil {
		t.Fatal(err)
	}
	if want := (access.CredentialRequest{Protocol: "https", Host: "github.com", Path: "acme/api.git", App: "web"}); got != want {
		t.Errorf("ca-bundle request for an application = %+v, want %+v", got, want)
	}
	if git.opts.CABundle != nil {
		t.Errorf("a token without a bundle handed git %q", git.opts.CABundle)
	}

	// No token serves it: git clones as it can (a public repository).
	h.run("", "clone", "https://nobody.example/pub/lib", filepath.Join(t.TempDir(), "c")).ok(t)
	if git.opts.CABundle != nil || git.opts.URL != "https://nobody.example/pub/lib" {
		t.Errorf("clone without a serving token: %+v", git.opts)
	}

	// Refused: the server's reason, and git never runs.
	git.opts = gitx.CloneOptions{}
	h.run("", "clone", "https://denied.example/acme/api", filepath.Join(t.TempDir(), "d")).failed(t, "may not resolve clone credentials")
	if git.opts.URL != "" {
		t.Error("git ran after the server refused the key")
	}

	git.err = &gitx.CertificateError{Host: "ghe.example.com", WithBundle: true,
		Err: errors.New("git clone failed: TLS certificate not trusted (exit 128): fatal: unable to access 'https://ghe.example.com/acme/api/': server certificate verification failed")}
	r := h.run("", "clone", "https://ghe.example.com/acme/api", filepath.Join(t.TempDir(), "e"))
	if r.code == 0 || !strings.Contains(r.stderr, "error: git does not trust the TLS certificate of ghe.example.com even with the CA bundle of token ghe") ||
		!strings.Contains(r.stderr, "gitaccess token update ghe --ca-file FILE") {
		t.Errorf("untrusted certificate: exit %d, stderr %q", r.code, r.stderr)
	}
}
