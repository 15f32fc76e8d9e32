// Package credproto is git's credential-helper protocol (git help
// credential): the request git writes on a helper's stdin and the answer
// the helper writes back. It links only the standard library and package
// secret, so a credential helper that git starts for every clone can start
// fast.
package credproto

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/gitaccess/gitaccess/internal/secret"
)

// Limits on what a helper accepts from git: a request is a handful of short
// lines, so anything bigger is a mistake or an attack on the helper.
const (
	maxCredentialLine  = 8 << 10
	maxCredentialLines = 256
)

// ErrProtocol means a credential request or response broke the
// protocol (git help credential): a line without "=", an oversized request,
// or a NUL, carriage return or newline inside a value.
var ErrProtocol = errors.New("git credential protocol violation")

// Request is what git asks a credential helper on stdin. Protocol, Host and
// Path identify the repository; Path is present only when git runs with
// credential.useHttpPath=true, which is how one host's repositories get
// different tokens.
type Request struct {
	Protocol string
	// Host includes the port when the URL has one ("git.example.com:8443").
	Host string
	// Path is the repository path without a leading slash ("org/repo.git").
	Path     string
	Username string
	// Password is set on "store" and "erase", when git reports back the
	// credential it used.
	Password secret.Value
	// Capabilities are the capability[] lines newer git sends (e.g. "authtype").
	Capabilities []string
	// WWWAuth are the server's WWW-Authenticate headers (wwwauth[]).
	WWWAuth []string
	// Unknown keeps attributes this package does not interpret, last value
	// wins, so a helper can log what a newer git sends.
	Unknown map[string]string
}

// ParseRequest reads key=value lines until a blank line or EOF. It refuses
// NUL bytes, carriage returns, lines without "=", and requests beyond a
// few KiB, so a confused or hostile caller cannot smuggle attributes in or
// exhaust memory.
// A "url=" attribute sets protocol, host, path and username as git does.
func ParseRequest(r io.Reader) (*Request, error) {
	req := &Request{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), maxCredentialLine)
	sc.Split(scanLF)
	for n := 0; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			return req, nil
		}
		if n >= maxCredentialLines {
			return nil, fmt.Errorf("%w: more than %d lines", ErrProtocol, maxCredentialLines)
		}
		// A carriage return can end a value early for a helper that reads
		// lines differently (CVE-2024-52006); git itself now refuses it.
		if strings.ContainsAny(line, "\x00\r") {
			return nil, fmt.Errorf("%w: NUL or carriage return in line %d", ErrProtocol, n+1)
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("%w: line %d is not key=value", ErrProtocol, n+1)
		}
		if err := req.set(key, val); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: line longer than %d bytes", ErrProtocol, maxCredentialLine)
		}
		return nil, fmt.Errorf("read credential request: %w", err)
	}
	return req, nil
}

// scanLF splits on "\n" alone; bufio.ScanLines would silently drop a
// carriage return that must be refused.
func scanLF(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

func (q *Request) set(key, val string) error {
	switch key {
	case "protocol":
		q.Protocol = val
	case "host":
		q.Host = val
	case "path":
		q.Path = val
	case "username":
		q.Username = val
	case "password":
		q.Password = secret.New(val)
	case "capability[]":
		q.Capabilities = append(q.Capabilities, val)
	case "wwwauth[]":
		q.WWWAuth = append(q.WWWAuth, val)
	case "url":
		u, err := url.Parse(val)
		if err != nil || u.Scheme == "" {
			return fmt.Errorf("%w: url attribute is not a URL", ErrProtocol)
		}
		// Like git's credential_from_url: a url resets what it names.
		q.Protocol, q.Host, q.Path, q.Username = u.Scheme, u.Host, strings.TrimPrefix(u.Path, "/"), ""
		if u.User != nil {
			q.Username = u.User.Username()
			if p, ok := u.User.Password(); ok {
				q.Password = secret.New(p)
			}
		}
	default:
		if q.Unknown == nil {
			q.Unknown = map[string]string{}
		}
		q.Unknown[key] = val
	}
	return nil
}

// URL is the repository the request is about, "https://host/path" (no
// credentials). Without a path (useHttpPath off) it names the host only.
func (q *Request) URL() string {
	scheme := q.Protocol
	if scheme == "" {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: q.Host}
	if q.Path != "" {
		u.Path = "/" + strings.TrimPrefix(q.Path, "/")
	}
	return u.String()
}

// Response is a helper's answer to "get". An empty Response (no password,
// no Quit) tells git this helper has nothing, and git tries the next one.
type Response struct {
	Username string
	Password secret.Value
	// Quit stops git from asking any other helper or prompting: the answer
	// for a repository gitaccess is responsible for, when it has no token,
	// so a build fails fast instead of hanging or trying stray helpers.
	Quit bool
}

// WriteTo writes the response in git's format. Values containing a newline,
// carriage return or NUL are refused: git would read the remainder as
// further attributes.
func (r Response) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	for _, kv := range [][2]string{{"username", r.Username}, {"password", r.Password.Reveal()}} {
		if kv[1] == "" {
			continue
		}
		if strings.ContainsAny(kv[1], "\n\r\x00") {
			return 0, fmt.Errorf("%w: %s contains a newline or NUL", ErrProtocol, kv[0])
		}
		b.WriteString(kv[0] + "=" + kv[1] + "\n")
	}
	if r.Quit {
		b.WriteString("quit=1\n")
	}
	n, err := io.WriteString(w, b.String())
	if err != nil {
		return int64(n), fmt.Errorf("write credential response: %w", err)
	}
	return int64(n), nil
}
