// Package wire is the core of gitaccess's API client: the server URL
// check, one request carrying the API key in the Authorization header (and
// nowhere else), size and time limits, and problem answers. It links only
// the standard library and small internal packages, so the git credential
// helper, which git starts for every clone, can use it and start fast;
// package client builds the typed API on it.
package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/secret"
)

// Defaults. Adding a token waits for the provider's inspection (several
// provider calls), so the overall timeout is generous; the connection-level
// timeouts stay short so an unreachable server fails fast.
const (
	DefaultTimeout          = 60 * time.Second
	DefaultMaxResponseBytes = 8 << 20
	dialTimeout             = 10 * time.Second
	tlsHandshakeTimeout     = 10 * time.Second
)

// ErrInsecureHTTP refuses a plain-http server that is not on this machine.
var ErrInsecureHTTP = errors.New("plain http to a non-local host")

// Conn calls one gitaccess server with one API key. It is safe for
// concurrent use.
type Conn struct {
	base string // scheme://host[:port][/prefix] without a trailing slash
	key  secret.Value
	http *http.Client
	// stream is http without the overall timeout, for bodies of any
	// length (archives); the context bounds them.
	stream    *http.Client
	maxBody   int64
	userAgent string
}

// Option configures a Conn.
type Option func(*settings)

type settings struct {
	httpClient   *http.Client
	timeout      time.Duration
	maxBody      int64
	userAgent    string
	insecureHTTP bool
}

// WithHTTPClient replaces the HTTP client (custom TLS roots, tests). Its
// redirect policy is replaced so the key never follows a redirect; its
// timeout is kept unless it is zero or WithTimeout is also given.
func WithHTTPClient(c *http.Client) Option {
	return func(s *settings) { s.httpClient = c }
}

// WithTimeout bounds each request from dial to the last byte of the body.
func WithTimeout(d time.Duration) Option {
	return func(s *settings) { s.timeout = d }
}

// WithMaxResponseBytes caps how much of a response body is read, so a
// misbehaving server or proxy cannot exhaust memory.
func WithMaxResponseBytes(n int64) Option {
	return func(s *settings) { s.maxBody = n }
}

// WithUserAgent names the caller in the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(s *settings) { s.userAgent = ua }
}

// AllowInsecureHTTP permits a plain-http server that is not on a loopback
// address. Without it such a URL is refused, because the API key would cross
// the network in clear text.
func AllowInsecureHTTP() Option {
	return func(s *settings) { s.insecureHTTP = true }
}

// New returns a Conn for the server at baseURL (e.g.
// https://gitaccess.example.com). The key is sent as a bearer token; a zero
// key sends no Authorization header.
func New(baseURL string, key secret.Value, opts ...Option) (*Conn, error) {
	s := settings{maxBody: DefaultMaxResponseBytes, userAgent: "gitaccess-client"}
	for _, o := range opts {
		o(&s)
	}
	base, err := NormalizeServerURL(baseURL, s.insecureHTTP)
	if err != nil {
		return nil, err
	}
	if s.maxBody <= 0 {
		return nil, errors.New("client: maximum response size must be positive")
	}
	hc := &http.Client{Timeout: DefaultTimeout, Transport: newTransport()}
	if s.httpClient != nil {
		cp := *s.httpClient
		hc = &cp
	}
	if s.timeout > 0 {
		hc.Timeout = s.timeout
	}
	if hc.Timeout <= 0 {
		hc.Timeout = DefaultTimeout
	}
	// An API does not redirect; following one would resend the key and the
	// body (which may carry a token value) somewhere the user never named.
	hc.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		return fmt.Errorf("server redirected to %s; use that URL as the server instead", redactURL(req.URL))
	}
	stream := *hc
	stream.Timeout = 0
	return &Conn{base: base, key: key, http: hc, stream: &stream, maxBody: s.maxBody, userAgent: s.userAgent}, nil
}

// streamHeaderTimeout bounds the wait for a response's headers. Ordinary
// requests are bounded tighter by the client's timeout; an archive waits
// here while the server brings its mirror up to date.
const streamHeaderTimeout = 10 * time.Minute

func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = tlsHandshakeTimeout
	t.ResponseHeaderTimeout = streamHeaderTimeout
	return t
}

// NormalizeServerURL checks a server URL the way New does and returns it
// without a trailing slash, so callers can store the form New will use.
func NormalizeServerURL(raw string, allowInsecureHTTP bool) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("server URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("server URL: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("server URL %q must start with https://", redactURL(u))
	}
	if u.Host == "" {
		return "", fmt.Errorf("server URL %q has no host", redactURL(u))
	}
	if u.User != nil {
		return "", errors.New("server URL must not contain a user name or password; the API key is read separately")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("server URL %q must not have a query or fragment", redactURL(u))
	}
	if u.Scheme == "http" && !allowInsecureHTTP && !isLoopback(u.Hostname()) {
		return "", fmt.Errorf("server URL %q: %w; the API key would travel unencrypted (use https)", redactURL(u), ErrInsecureHTTP)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactURL drops anything in a URL that could be a credential.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.Fragment = ""
	return c.String()
}

// Server returns the normalized server URL.
func (c *Conn) Server() string { return c.base }

// Accept headers: JSON answers, and raw ones whose errors are problems.
const (
	acceptJSON = "application/json, application/problem+json"
	acceptRaw  = "application/octet-stream, application/problem+json"
	// AcceptGzip asks for a gzip body (an archive) or a problem.
	AcceptGzip = "application/gzip, application/problem+json"
)

// Do sends one request. in (if not nil) is sent as JSON; a 2xx answer is
// decoded into out (if not nil); anything else becomes a *Problem.
func (c *Conn) Do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	resp, err := c.send(ctx, c.http, method, path, query, in, acceptJSON)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := c.readBody(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if !isJSON(resp.Header.Get("Content-Type")) {
		return fmt.Errorf("%s %s: server answered %q, not JSON; is %s a gitaccess server?", method, path, resp.Header.Get("Content-Type"), c.base)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

// Raw GETs a body of the given media type, at most the response size cap.
func (c *Conn) Raw(ctx context.Context, path string, query url.Values, mediaType string) ([]byte, error) {
	resp, err := c.send(ctx, c.http, http.MethodGet, path, query, nil, acceptRaw)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if err := CheckMediaType(resp, mediaType); err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	data, err := c.readBody(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return data, nil
}

// CheckMediaType fails when resp's Content-Type is not want.
func CheckMediaType(resp *http.Response, want string) error {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != want {
		return fmt.Errorf("server answered %q, not %s", resp.Header.Get("Content-Type"), want)
	}
	return nil
}

// Stream sends one request without the overall timeout, for a body of
// any length (ctx bounds it), and returns a 2xx response for the caller
// to read and close; any other answer becomes a *Problem.
func (c *Conn) Stream(ctx context.Context, method, path string, query url.Values, in any, accept string) (*http.Response, error) {
	return c.send(ctx, c.stream, method, path, query, in, accept)
}

// send sends one request with hc and returns a 2xx response for the
// caller to read and close; any other answer becomes a *Problem.
func (c *Conn) send(ctx context.Context, hc *http.Client, method, path string, query url.Values, in any, accept string) (*http.Response, error) {
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", accept)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if !c.key.IsZero() {
		req.Header.Set("Authorization", "Bearer "+c.key.Reveal())
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resp, nil
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := c.readBody(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil, decodeProblem(resp.StatusCode, resp.Header.Get("Content-Type"), data)
}

func (c *Conn) readBody(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, c.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if int64(len(data)) > c.maxBody {
		return nil, fmt.Errorf("response is larger than %d bytes", c.maxBody)
	}
	return data, nil
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}
