package gitx_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/gitx"
)

func TestHelperCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		exe  string
		args []string
		want string
	}{
		{"/usr/bin/gitaccess", []string{"credential"}, "/usr/bin/gitaccess credential"},
		{"/opt/my tools/gitaccess", []string{"credential"}, `!'/opt/my tools/gitaccess' 'credential'`},
		{"gitaccess", []string{"credential"}, `!'gitaccess' 'credential'`},
		{"/x/it's", nil, `!'/x/it'\''s'`},
	} {
		if got := gitx.HelperCommand(tc.exe, tc.args...); got != tc.want {
			t.Errorf("HelperCommand(%q, %q) = %q, want %q", tc.exe, tc.args, got, tc.want)
		}
	}
}

// credentialFill runs the real "git credential fill" with the test helper.
func credentialFill(t *testing.T, f *fixture, helper, useHTTPPath, input string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := f.runner.Run(context.Background(), gitx.Cmd{
		Op:   "credential fill",
		Args: []string{"credential", "fill"},
		Config: []gitx.Config{
			{Key: "credential.helper", Value: helper},
			{Key: "credential.useHttpPath", Value: useHTTPPath},
		},
		Stdin:  strings.NewReader(input),
		Stdout: &out,
	})
	return out.String(), err
}

func TestCredentialRoundTripThroughGit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, forgetest.ConventionGitHub)
	f.answer(map[string]helperAnswer{
		"org/app.git": {Username: "x-access-token", Password: "tok-app=/:+"},
		"org/lib.git": {Username: "x-access-token", Password: "tok-lib"},
		"":            {Username: "host-wide", Password: "tok-host"},
	})

	out, err := credentialFill(t, f, f.helper, "true", "protocol=https\nhost=git.example.test\npath=org/app.git\n\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "protocol=https\nhost=git.example.test\npath=org/app.git\nusername=x-access-token\npassword=tok-app=/:+\n"
	if out != want {
		t.Errorf("fill with useHttpPath=true:\n got %q\nwant %q", out, want)
	}
	// git drops the path before asking when useHttpPath is off.
	out, err = credentialFill(t, f, f.helper, "false", "protocol=https\nhost=git.example.test\npath=org/app.git\n\n")
	if err != nil || !strings.Contains(out, "username=host-wide\npassword=tok-host\n") {
		t.Errorf("fill with useHttpPath=false: %v\n%s", err, out)
	}
	reqs := f.helperRequests()
	if len(reqs) != 2 || reqs[0].Action != "get" || reqs[0].Path != "org/app.git" || reqs[0].URL != "https://git.example.test/org/app.git" || reqs[1].Path != "" {
		t.Errorf("helper saw %+v", reqs)
	}

	// quit=1 stops git outright: no further helper, no prompt.
	f.answer(map[string]helperAnswer{"org/app.git": {Quit: true}})
	_, err = credentialFill(t, f, f.helper, "true", "protocol=https\nhost=git.example.test\npath=org/app.git\n\n")
	var ge *gitx.GitError
	if !errors.As(err, &ge) || !strings.Contains(ge.Stderr, "told us to quit") {
		t.Errorf("quit: %v", err)
	}
	// No answer: git would prompt, but prompts are off.
	_, err = credentialFill(t, f, f.helper, "true", "protocol=https\nhost=git.example.test\npath=org/other.git\n\n")
	if !errors.Is(err, gitx.ErrAuthFailed) {
		t.Errorf("no answer: %v, want ErrAuthFailed", err)
	}
	f.assertNoSecret(nil, "tok-app", "tok-host", "tok-lib")
}

// credentialOp runs "git credential ACTION" (fill, approve, reject) with
// one helper, paths on.
func credentialOp(t *testing.T, f *fixture, helper, action, input string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := f.runner.Run(context.Background(), gitx.Cmd{
		Op:   "credential " + action,
		Args: []string{"credential", action},
		Config: []gitx.Config{
			{Key: "credential.helper", Value: helper},
			{Key: "credential.useHttpPath", Value: "true"},
		},
		Stdin:  strings.NewReader(input),
		Stdout: &out,
	})
	return out.String(), err
}

func TestHelperCommandSkippingStoreThroughGit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, forgetest.ConventionGitHub)
	f.answer(map[string]helperAnswer{"org/app.git": {Username: "x-access-token", Password: "tok-app"}})
	// A path and arguments the shell must keep whole: spaces, quotes, $.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), `my "tools" it's $HOME`)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "git-credential-x")
	if err := os.Symlink(exe, link); err != nil {
		t.Fatal(err)
	}
	helper := gitx.HelperCommandSkippingStore(link, "--app", `we b's "$1"`)

	const req = "protocol=https\nhost=git.example.test\npath=org/app.git\n\n"
	out, err := credentialOp(t, f, helper, "fill", req)
	if err != nil || !strings.Contains(out, "username=x-access-token\npassword=tok-app\n") {
		t.Fatalf("fill: %v\n%s", err, out)
	}
	withCred := strings.TrimSuffix(req, "\n") + "username=x-access-token\npassword=tok-app\n\n"
	if _, err := credentialOp(t, f, helper, "approve", withCred); err != nil {
		t.Fatalf("approve: %v", err)
	}
	if _, err := credentialOp(t, f, helper, "reject", withCred); err != nil {
		t.Fatalf("reject: %v", err)
	}
	// git ran the helper for get and erase, with its arguments whole, and
	// never for store.
	var got [][]string
	for _, r := range f.helperRequests() {
		got = append(got, r.Args)
		if r.Path != "org/app.git" || r.Host != "git.example.test" {
			t.Errorf("helper saw %+v", r)
		}
	}
	want := [][]string{{"--app", `we b's "$1"`, "get"}, {"--app", `we b's "$1"`, "erase"}}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 2 {
		t.Errorf("helper runs: %q, want %q", got, want)
	}
	f.assertNoSecret(nil, "tok-app")
}
