package credproto_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gitaccess/gitaccess/internal/gitx/credproto"
	"github.com/gitaccess/gitaccess/internal/secret"
)

func TestParseRequest(t *testing.T) {
	t.Parallel()
	in := "protocol=https\nhost=git.example.test:8443\npath=org/app.git\nusername=bob\npassword=s3cret\ncapability[]=authtype\ncapability[]=state\nwwwauth[]=Basic realm=\"x\"\nfuture=1\n\nignored=after blank line\n"
	req, err := credproto.ParseRequest(strings.NewReader(in))
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
	req, err = credproto.ParseRequest(strings.NewReader("url=https://gitlab.test/group/sub%20dir/proj.git\n"))
	if err != nil || req.Host != "gitlab.test" || req.Path != "group/sub dir/proj.git" || req.Protocol != "https" {
		t.Fatalf("url=: %+v, %v", req, err)
	}
	if got := req.URL(); got != "https://gitlab.test/group/sub%20dir/proj.git" {
		t.Errorf("URL() re-escapes: %q", got)
	}
	// Without a path (useHttpPath off) the URL names the host.
	req, _ = credproto.ParseRequest(strings.NewReader("protocol=https\nhost=github.com\n"))
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
		if _, err := credproto.ParseRequest(strings.NewReader(bad)); !errors.Is(err, credproto.ErrProtocol) {
			t.Errorf("%s: err = %v, want ErrCredentialProtocol", name, err)
		}
	}
}

func TestResponseWriteTo(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if _, err := (credproto.Response{Username: "x-access-token", Password: secret.New("tok=with:odd/chars")}).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != "username=x-access-token\npassword=tok=with:odd/chars\n" {
		t.Errorf("got %q", b.String())
	}
	b.Reset()
	_, _ = credproto.Response{Quit: true}.WriteTo(&b)
	if b.String() != "quit=1\n" {
		t.Errorf("quit: %q", b.String())
	}
	// A newline would let a value inject attributes (e.g. a second host).
	for _, r := range []credproto.Response{
		{Username: "u", Password: secret.New("tok\nhost=evil.test")},
		{Username: "u\nquit=1", Password: secret.New("tok")},
		{Username: "u", Password: secret.New("tok\x00")},
		{Username: "u", Password: secret.New("tok\r")},
	} {
		b.Reset()
		if _, err := r.WriteTo(&b); !errors.Is(err, credproto.ErrProtocol) || b.Len() != 0 {
			t.Errorf("%q: err %v, wrote %q", r.Username, err, b.String())
		}
	}
}
