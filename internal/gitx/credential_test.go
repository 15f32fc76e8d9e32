package gitx_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/gitx"
	"github.com/gitaccess/gitaccess/internal/secret"
)

func TestParseRequest(t *testing.T) {
	t.Parallel()
	in := "protocol=https\nhost=git.example.test:8443\npath=org/app.git\nusername=bob\npassword=s3cret\ncapability[]=authtype\ncapability[]=state\nwwwauth[]=Basic realm=\"x\"\nfuture=1\n\nignored=after blank line\n"
	req, err := gitx.ParseRequest(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if req.Protocol != "https" || req.Host != "git.example.test:8443" || req.Path != "org/app.git" || req.Username != "bob" {
		t.Errorf("parsed %+v", req)
	}
	if req.Password.Reveal() != "s3cret" {
		t.Errorf("password not parsed")
	}
	if fmt.Sprint(req.Password) == "s3cret" || strings.Contains(fmt.Sprintf("%+v", req), "s3cret") {
		t.Errorf("password printable")
	}
	if strings.Join(req.Capabilities, ",") != "authtype,state" || len(req.WWWAuth) != 1 || req.Unknown["future"] != "1" {
		t.Errorf("arrays/unknown: %+v", req)
	}
	if _, ok := req.Unknown["ignored"]; ok {
		t.Errorf("read past the blank line")
	}
	if got := req.URL(); got != "https://git.example.test:8443/org/app.git" {
		t.Errorf("URL() = %q", got)
	}

	// url= sets the parts, as git's own parser does.
	req, err = gitx.ParseRequest(strings.NewReader("url=https://gitlab.test/group/sub%20dir/proj.git\n"))
	if err != nil || req.Host != "gitlab.test" || req.Path != "group/sub dir/proj.git" || req.Protocol != "https" {
		t.Fatalf("url=: %+v, %v", req, err)
	}
	if got := req.URL(); got != "https://gitlab.test/group/sub%20dir/proj.git" {
		t.Errorf("URL() re-escapes: %q", got)
	}
	// Without a path (useHttpPath off) the URL names the host.
	req, _ = gitx.ParseRequest(strings.NewReader("protocol=https\nhost=github.com\n"))
	if got := req.URL(); got != "https://github.com" {
		t.Errorf("URL() = %q", got)
	}

	for name, bad := range map[string]string{
		"NUL in value":  "protocol=https\nhost=evil.test\x00\npath=x\n",
		"CR in value":   "protocol=https\nhost=evil.test\rpath=x\n",
		"CRLF":          "protocol=https\r\nhost=x\r\n",
		"no equals":     "protocol=https\nhost\n",
		"empty key":     "=value\n",
		"huge line":     "host=" + strings.Repeat("a", 9<<10) + "\n",
		"too many":      strings.Repeat("x=1\n", 300),
		"url not a URL": "url=::nope\n",
	} {
		if _, err := gitx.ParseRequest(strings.NewReader(bad)); !errors.Is(err, gitx.ErrCredentialProtocol) {
			t.Errorf("%s: err = %v, want ErrCredentialProtocol", name, err)
		}
	}
}

func TestResponseWriteTo(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if _, err := (gitx.Response{Username: "x-access-token", Password: secret.New("tok=with:odd/chars")}).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != "username=x-access-token\npassword=tok=with:odd/chars\n" {
		t.Errorf("got %q", b.String())
	}
	b.Reset()
	_, _ = gitx.Response{Quit: true}.WriteTo(&b)
	if b.String() != "quit=1\n" {
		t.Errorf("quit: %q", b.String())
	}
	// A newline would let a value inject attributes (e.g. a second host).
	for _, r := range []gitx.Response{
		{Username: "u", Password: secret.New("tok\nhost=evil.test")},
		{Username: "u\nquit=1", Password: secret.New("tok")},
		{Username: "u", Password: secret.New("tok\x00")},
		{Username: "u", Password: secret.New("tok\r")},
	} {
		b.Reset()
		if _, err := r.WriteTo(&b); !errors.Is(err, gitx.ErrCredentialProtocol) || b.Len() != 0 {
			t.Errorf("%q: err %v, wrote %q", r.Username, err, b.String())
		}
	}
}

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
