// Package client is the typed Go client for gitaccess's REST API. The CLI is
// built on it; it is the one place an API key is put on the wire, and only in
// the Authorization header. The wire itself (server URLs, requests, limits,
// problems) is package wire, which the credential helper uses alone.
package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gitaccess/gitaccess/internal/client/wire"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// Defaults. Adding a token waits for the provider's inspection (several
// provider calls), so the overall timeout is generous; the connection-level
// timeouts stay short so an unreachable server fails fast.
const (
	DefaultTimeout          = wire.DefaultTimeout
	DefaultMaxResponseBytes = wire.DefaultMaxResponseBytes
)

// ErrInsecureHTTP refuses a plain-http server that is not on this machine.
var ErrInsecureHTTP = wire.ErrInsecureHTTP

// Client calls one gitaccess server with one API key. It is safe for
// concurrent use.
type Client struct {
	conn *wire.Conn
}

// Option configures a Client.
type Option = wire.Option

// WithHTTPClient replaces the HTTP client (custom TLS roots, tests). Its
// redirect policy is replaced so the key never follows a redirect; its
// timeout is kept unless it is zero or WithTimeout is also given.
func WithHTTPClient(c *http.Client) Option { return wire.WithHTTPClient(c) }

// WithTimeout bounds each request from dial to the last byte of the body.
func WithTimeout(d time.Duration) Option { return wire.WithTimeout(d) }

// WithMaxResponseBytes caps how much of a response body is read, so a
// misbehaving server or proxy cannot exhaust memory.
func WithMaxResponseBytes(n int64) Option { return wire.WithMaxResponseBytes(n) }

// WithUserAgent names the caller in the User-Agent header.
func WithUserAgent(ua string) Option { return wire.WithUserAgent(ua) }

// AllowInsecureHTTP permits a plain-http server that is not on a loopback
// address. Without it such a URL is refused, because the API key would cross
// the network in clear text.
func AllowInsecureHTTP() Option { return wire.AllowInsecureHTTP() }

// New returns a Client for the server at baseURL (e.g.
// https://gitaccess.example.com). The key is sent as a bearer token; a zero
// key sends no Authorization header.
func New(baseURL string, key secret.Value, opts ...Option) (*Client, error) {
	conn, err := wire.New(baseURL, key, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn}, nil
}

// FromConn returns a Client that calls the server through conn.
func FromConn(conn *wire.Conn) *Client { return &Client{conn: conn} }

// NormalizeServerURL checks a server URL the way New does and returns it
// without a trailing slash, so callers can store the form New will use.
func NormalizeServerURL(raw string, allowInsecureHTTP bool) (string, error) {
	return wire.NormalizeServerURL(raw, allowInsecureHTTP)
}

// Server returns the normalized server URL.
func (c *Client) Server() string { return c.conn.Server() }

// pathSeg escapes one path segment (a token name, a key id) so that "/",
// "?", "#" and "%" in it stay inside the segment. "." and ".." would be
// collapsed by any router, so they are refused.
func pathSeg(what, s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("%s is empty", what)
	}
	if s == "." || s == ".." {
		return "", fmt.Errorf("%s %q is not a valid name", what, s)
	}
	return url.PathEscape(s), nil
}

// do sends one request (see wire.Conn.Do).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	return c.conn.Do(ctx, method, path, query, in, out)
}

// raw GETs a body of the given media type (see wire.Conn.Raw).
func (c *Client) raw(ctx context.Context, path string, query url.Values, mediaType string) ([]byte, error) {
	return c.conn.Raw(ctx, path, query, mediaType)
}
