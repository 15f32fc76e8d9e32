package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gitaccess/gitaccess/internal/gitx"
)

// runEnv makes this test binary the helper when git runs it (see
// TestMain); logEnv names a file it appends its arguments to first.
const (
	runEnv = "GIT_CREDENTIAL_GITACCESS_TEST_RUN"
	logEnv = "GIT_CREDENTIAL_GITACCESS_TEST_LOG"
)

func TestMain(m *testing.M) {
	if os.Getenv(runEnv) == "1" {
		if f, err := os.OpenFile(os.Getenv(logEnv), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
			b, _ := json.Marshal(os.Args[1:])
			_, _ = f.Write(append(b, '\n'))
			_ = f.Close()
		}
		main()
	}
	os.Exit(m.Run())
}

const (
	apiKey   = "gak_helper_0123456789abcdefSECRET"
	password = "ghp_ForGitOnly0123456789abcdefABCDEF"
	request  = "protocol=https\nhost=github.com\npath=acme/api.git\n\n"
)

// fakeAPI is a gitaccess server's credential endpoints.
type fakeAPI struct {
	srv *httptest.Server
	// reject is what POST /credentials/reject answers.
	reject any

	mu   sync.Mutex
	reqs []seen
}

type seen struct {
	Method, Path, Auth, Agent string
	Body                      map[string]any
}

func newFakeAPI(t *testing.T) *fakeAPI {
	api := &fakeAPI{reject: map[string]string{"token": "acme-ci", "status": "invalid",
		"detail": "GitHub at github.com refused the token (HTTP 401): Bad credentials; check that the token is correct, not revoked and not expired"}}
	api.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		api.mu.Lock()
		api.reqs = append(api.reqs, seen{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("User-Agent"), body})
		api.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+apiKey {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(401)
			_, _ = io.WriteString(w, `{"type":"urn:gitaccess:problem:unauthenticated","title":"Unauthorized","status":401,"detail":"the API key is not valid"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/v1/credentials" && body["path"] == "other/missing.git":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(404)
			_, _ = io.WriteString(w, `{"type":"urn:gitaccess:problem:not-found","title":"Not found","status":404,"detail":"no token of organization default serves https://github.com/other/missing: add one\n  or name one with --token"}`)
		case r.Method == http.MethodPost && r.URL.Path == "/api/v1/credentials":
			_ = json.NewEncoder(w).Encode(map[string]string{"username": "x-access-token", "password": password, "token": "acme-ci", "reason": "prefix"})
		case r.Method == http.MethodPost && r.URL.Path == "/api/v1/credentials/reject":
			_ = json.NewEncoder(w).Encode(api.reject)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(api.srv.Close)
	return api
}

func (api *fakeAPI) requests() []seen {
	api.mu.Lock()
	defer api.mu.Unlock()
	return append([]seen(nil), api.reqs...)
}

// helperRun runs the helper in this process with the given environment.
func helperRun(t *testing.T, vars map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, env{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		getenv:    func(k string) string { return vars[k] },
		configDir: func() (string, error) { return filepath.Join(t.TempDir(), "no-config"), nil },
	})
	return code, out.String(), errOut.String()
}

// gitEnv is a git environment with no user configuration, no prompts, and
// what the helper needs to find the server.
func gitEnv(t *testing.T, log string, vars ...string) []string {
	home := t.TempDir()
	return append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + os.DevNull, "GIT_TERMINAL_PROMPT=0", "LC_ALL=C",
		runEnv + "=1", logEnv + "=" + log,
		"GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"),
	}, vars...)
}

func git(t *testing.T, env []string, helper, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "credential.helper=" + helper, "-c", "credential.useHttpPath=true", "credential"}, args...)...)
	cmd.Env, cmd.Dir, cmd.Stdin = env, t.TempDir(), strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

func helperRuns(t *testing.T, log string) [][]string {
	t.Helper()
	b, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var runs [][]string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var args []string
		if err := json.Unmarshal([]byte(l), &args); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, args)
	}
	return runs
}

// TestRoundTripThroughGit: git itself runs the helper, as an absolute
// path, by name on PATH (credential.helper=gitaccess), and behind the
// store-skipping shell function gitaccess clone uses.
func TestRoundTripThroughGit(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(bin, name)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, helper string
		onPath       bool
		// git runs the helper for store too.
		store bool
	}{
		{"absolute path", filepath.Join(bin, name) + " --app web", false, true},
		{"by name on PATH", "gitaccess --app web", true, true},
		{"store skipped", gitx.HelperCommandSkippingStore(filepath.Join(bin, name), "--app", "web"), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t)
			log := filepath.Join(t.TempDir(), "runs.log")
			env := gitEnv(t, log, "GITACCESS_SERVER="+api.srv.URL, "GITACCESS_API_KEY="+apiKey, "GITACCESS_CONFIG_DIR="+t.TempDir())
			if tc.onPath {
				env[0] = "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")
			}
			out, errOut, err := git(t, env, tc.helper, request, "fill")
			want := "protocol=https\nhost=github.com\npath=acme/api.git\nusername=x-access-token\npassword=" + password + "\n"
			if err != nil || out != want {
				t.Fatalf("fill: %v\nstdout %q\nwant   %q\nstderr %s", err, out, want, errOut)
			}
			withCred := strings.TrimSuffix(request, "\n") + "username=x-access-token\npassword=" + password + "\n\n"
			if _, errOut, err := git(t, env, tc.helper, withCred, "approve"); err != nil || errOut != "" {
				t.Fatalf("approve: %v\n%s", err, errOut)
			}
			_, errOut, err = git(t, env, tc.helper, withCred, "reject")
			if err != nil || !strings.Contains(errOut, "gitaccess: token acme-ci was refused and is now marked invalid: GitHub at github.com refused the token (HTTP 401)") {
				t.Fatalf("reject: %v\n%s", err, errOut)
			}
			if strings.Contains(errOut, password) || strings.Contains(errOut, apiKey) {
				t.Errorf("a secret on stderr: %s", errOut)
			}

			reqs := api.requests()
			if len(reqs) != 2 || reqs[0].Path != "/api/v1/credentials" || reqs[1].Path != "/api/v1/credentials/reject" {
				t.Fatalf("server saw %+v", reqs)
			}
			for _, r := range reqs {
				wantBody := map[string]any{"protocol": "https", "host": "github.com", "path": "acme/api.git", "app": "web"}
				if r.Method != http.MethodPost || !strings.HasPrefix(r.Agent, name+"/") || len(r.Body) != len(wantBody) {
					t.Errorf("request %+v", r)
				}
				for k, v := range wantBody {
					if r.Body[k] != v {
						t.Errorf("%s: body[%s] = %v, want %v", r.Path, k, r.Body[k], v)
					}
				}
			}
			want2 := [][]string{{"--app", "web", "get"}, {"--app", "web", "erase"}}
			if tc.store {
				want2 = [][]string{{"--app", "web", "get"}, {"--app", "web", "store"}, {"--app", "web", "erase"}}
			}
			if got := helperRuns(t, log); !equalRuns(got, want2) {
				t.Errorf("helper runs %q, want %q", got, want2)
			}
		})
	}
}

func equalRuns(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], "\x00") != strings.Join(b[i], "\x00") {
			return false
		}
	}
	return true
}

// TestConfigPrecedence: the environment over the saved login, as gitaccess
// itself resolves it, and a saved key is never sent to another server.
func TestConfigPrecedence(t *testing.T) {
	saved, other := newFakeAPI(t), newFakeAPI(t)
	dir := t.TempDir()
	cfg, err := json.Marshal(map[string]any{"server": saved.srv.URL + "/", "api_key": apiKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		vars map[string]string
		// via is the server asked, nil when the helper must refuse.
		via     *fakeAPI
		wantErr string
	}{
		{"saved login", map[string]string{}, saved, ""},
		{"environment over the saved login", map[string]string{"GITACCESS_SERVER": other.srv.URL, "GITACCESS_API_KEY": apiKey}, other, ""},
		{"environment key, saved server", map[string]string{"GITACCESS_API_KEY": apiKey}, saved, ""},
		{"saved server spelled otherwise", map[string]string{"GITACCESS_SERVER": saved.srv.URL}, saved, ""},
		{"another server without a key", map[string]string{"GITACCESS_SERVER": other.srv.URL}, nil,
			"gitaccess: no credential for https://github.com/acme/api.git: GITACCESS_SERVER is set, but you have no saved login for that server: set GITACCESS_API_KEY too, or run gitaccess login --server URL\n"},
		{"wrong environment key", map[string]string{"GITACCESS_API_KEY": "gak_wrong_key_0123456789"}, saved,
			"gitaccess: no credential for https://github.com/acme/api.git: the API key is not valid\n"},
		{"plain http elsewhere", map[string]string{"GITACCESS_SERVER": "http://gitaccess.example.test", "GITACCESS_API_KEY": apiKey}, nil,
			"gitaccess: no credential for https://github.com/acme/api.git: server URL \"http://gitaccess.example.test\": plain http to a non-local host; the API key would travel unencrypted (use https) (on a trusted network, log in with --allow-insecure-http or set GITACCESS_ALLOW_INSECURE_HTTP=1)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{"GITACCESS_CONFIG_DIR": dir}
			for k, v := range tc.vars {
				vars[k] = v
			}
			nSaved, nOther := len(saved.requests()), len(other.requests())
			code, out, errOut := helperRun(t, vars, request, "get")
			if code != 0 {
				t.Errorf("exit %d", code)
			}
			if tc.wantErr == "" && (out != "username=x-access-token\npassword="+password+"\n" || errOut != "") {
				t.Errorf("stdout %q\nstderr %q", out, errOut)
			}
			if tc.wantErr != "" && (out != "" || errOut != tc.wantErr) {
				t.Errorf("stdout %q\nstderr %q\nwant   %q", out, errOut, tc.wantErr)
			}
			gotSaved, gotOther := len(saved.requests())-nSaved, len(other.requests())-nOther
			switch tc.via {
			case saved:
				if gotSaved != 1 || gotOther != 0 {
					t.Errorf("asked the saved server %d times, the other %d", gotSaved, gotOther)
				}
			case other:
				if gotSaved != 0 || gotOther != 1 {
					t.Errorf("asked the saved server %d times, the other %d", gotSaved, gotOther)
				}
			default:
				if gotSaved+gotOther != 0 {
					t.Errorf("asked a server it must not: %d, %d", gotSaved, gotOther)
				}
			}
		})
	}

	// No login at all, and a login file others can read.
	_, _, errOut := helperRun(t, map[string]string{"GITACCESS_CONFIG_DIR": t.TempDir()}, request, "get")
	if want := "gitaccess: no credential for https://github.com/acme/api.git: not logged in: run gitaccess login --server URL (or set GITACCESS_SERVER and GITACCESS_API_KEY)\n"; errOut != want {
		t.Errorf("stderr %q\nwant   %q", errOut, want)
	}
	if err := os.Chmod(filepath.Join(dir, "config.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, out, errOut := helperRun(t, map[string]string{"GITACCESS_CONFIG_DIR": dir}, request, "get")
	if !strings.Contains(out, "password="+password) || !strings.HasPrefix(errOut, "warning: "+filepath.Join(dir, "config.json")+" is readable by other users") {
		t.Errorf("world-readable login: stdout %q stderr %q", out, errOut)
	}
}

func TestEraseSaysWhatTheServerFound(t *testing.T) {
	api := newFakeAPI(t)
	vars := map[string]string{"GITACCESS_SERVER": api.srv.URL, "GITACCESS_API_KEY": apiKey}
	refusal := strings.TrimSuffix(request, "\n") + "username=x-access-token\npassword=" + password + "\n\n"

	_, out, errOut := helperRun(t, vars, refusal, "erase")
	want := "gitaccess: token acme-ci was refused and is now marked invalid: GitHub at github.com refused the token (HTTP 401): Bad credentials; " +
		"check that the token is correct, not revoked and not expired; update it with gitaccess token update acme-ci --value\n"
	if out != "" || errOut != want {
		t.Errorf("stdout %q\nstderr %q\nwant   %q", out, errOut, want)
	}

	// The server echoing the password back: it is scrubbed.
	api.reject = map[string]string{"token": "acme-ci", "status": "valid", "detail": "still authenticates (" + password + ")"}
	_, _, errOut = helperRun(t, vars, refusal, "erase")
	if want := "gitaccess: git was refused with token acme-ci (status valid): still authenticates ([REDACTED])\n"; errOut != want {
		t.Errorf("stderr %q\nwant   %q", errOut, want)
	}

	api.srv.Close()
	_, _, errOut = helperRun(t, vars, refusal, "erase")
	if !strings.HasPrefix(errOut, "gitaccess: git was refused for https://github.com/acme/api.git, and reporting it failed: POST /api/v1/credentials/reject: ") ||
		strings.Count(errOut, "\n") != 1 {
		t.Errorf("stderr %q", errOut)
	}
}

func TestGetFailsWithOneLineAndNoAnswer(t *testing.T) {
	api := newFakeAPI(t)
	vars := map[string]string{"GITACCESS_SERVER": api.srv.URL, "GITACCESS_API_KEY": apiKey}
	for _, tc := range []struct{ name, stdin, want string }{
		{"no token serves it", "protocol=https\nhost=github.com\npath=other/missing.git\n\n",
			"gitaccess: no credential for https://github.com/other/missing.git: no token of organization default serves https://github.com/other/missing: add one; or name one with --token\n"},
		{"broken request", "protocol=https\nhost github.com\n\n",
			"gitaccess: cannot answer git: reading git's request: git credential protocol violation: line 2 is not key=value\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := helperRun(t, vars, tc.stdin, "get")
			if code != 0 || out != "" || errOut != tc.want {
				t.Errorf("exit %d\nstdout %q\nstderr %q\nwant   %q", code, out, errOut, tc.want)
			}
		})
	}
	// store (and any action a newer git adds) reads git's message and
	// does nothing.
	for _, action := range []string{"store", "capability"} {
		n := len(api.requests())
		if code, out, errOut := helperRun(t, vars, request, action); code != 0 || out != "" || errOut != "" || len(api.requests()) != n {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", action, code, out, errOut)
		}
	}
}

func TestCommandLine(t *testing.T) {
	api := newFakeAPI(t)
	vars := map[string]string{"GITACCESS_SERVER": api.srv.URL, "GITACCESS_API_KEY": apiKey}
	for _, args := range [][]string{{"--app", "web", "get"}, {"get", "--app", "web"}, {"--app=web", "get"}, {"--app", "web", "--", "get"}} {
		code, out, errOut := helperRun(t, vars, request, args...)
		reqs := api.requests()
		if code != 0 || !strings.Contains(out, "password=") || errOut != "" || reqs[len(reqs)-1].Body["app"] != "web" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q, body %v", args, code, out, errOut, reqs[len(reqs)-1].Body)
		}
	}
	for args, want := range map[string]string{
		"":                       "error: git-credential-gitaccess needs the ACTION git asks for: get, store or erase (got 0 arguments); see 'git-credential-gitaccess --help'\n",
		"get erase":              "error: git-credential-gitaccess needs the ACTION git asks for: get, store or erase (got 2 arguments); see 'git-credential-gitaccess --help'\n",
		"get --app":              "error: flag needs an argument: --app; see 'git-credential-gitaccess --help'\n",
		"--token=ghp_secret get": "error: unknown flag: --token; see 'git-credential-gitaccess --help'\n",
		"--ghp_x/y+z get":        "error: unknown flag; see 'git-credential-gitaccess --help'\n",
	} {
		code, out, errOut := helperRun(t, vars, request, strings.Fields(args)...)
		if code != 1 || out != "" || errOut != want {
			t.Errorf("%q: exit %d, stdout %q\nstderr %q\nwant   %q", args, code, out, errOut, want)
		}
	}
	if code, out, _ := helperRun(t, vars, "", "--help"); code != 0 || !strings.HasPrefix(out, "usage: git-credential-gitaccess [--app APP] get|store|erase\n") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
}

// TestLinksNoMoreThanItNeeds guards the start-up time: the helper links
// the standard library and a few small internal packages, never cobra,
// the server, its stores or tink.
func TestLinksNoMoreThanItNeeds(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := map[string]bool{
		"github.com/gitaccess/gitaccess/cmd/git-credential-gitaccess": true,
		"github.com/gitaccess/gitaccess/internal/credhelper":          true,
		"github.com/gitaccess/gitaccess/internal/client/wire":         true,
		"github.com/gitaccess/gitaccess/internal/gitx/credproto":      true,
		"github.com/gitaccess/gitaccess/internal/login":               true,
		"github.com/gitaccess/gitaccess/internal/secret":              true,
		"github.com/gitaccess/gitaccess/internal/forge":               true,
	}
	for _, p := range strings.Fields(string(out)) {
		if !allowed[p] {
			t.Errorf("links %s", p)
		}
	}
}
