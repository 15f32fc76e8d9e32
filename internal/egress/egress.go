// Package egress builds the HTTP clients gitaccess uses to talk to Git
// providers: bounded in time and response size, https-only unless the
// operator allows otherwise, with per-endpoint CA bundles, and never able to
// reach link-local or cloud-metadata addresses.
package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Policy is the operator's outbound policy. The zero value is safe.
type Policy struct {
	// AllowInsecureHTTP permits plain http:// endpoints (--allow-insecure-http).
	AllowInsecureHTTP bool
	// Timeout bounds a whole request including reading the body (default 30s).
	Timeout time.Duration
	// MaxResponseBytes caps any response body (default 16 MiB).
	MaxResponseBytes int64
	// RootCAs replaces the system roots (tests); nil means the system pool.
	RootCAs *x509.CertPool
	// DialOverride, when set, rewrites the "host:port" a connection dials.
	// Tests use it to send api.github.com to a local fake while TLS still
	// verifies the name.
	DialOverride func(addr string) string
	// UserAgent is sent on every request.
	UserAgent string
}

const (
	defaultTimeout  = 30 * time.Second
	defaultMaxBytes = 16 << 20
)

// BlockedAddressError means a connection would have reached an address
// gitaccess never talks to (link-local, cloud metadata).
type BlockedAddressError struct{ Addr string }

func (e *BlockedAddressError) Error() string {
	return fmt.Sprintf("address %s is link-local or a cloud metadata service; gitaccess never connects there", e.Addr)
}

// ResponseTooLargeError means a body exceeded MaxResponseBytes.
type ResponseTooLargeError struct{ Limit int64 }

func (e *ResponseTooLargeError) Error() string {
	return fmt.Sprintf("response larger than %d bytes", e.Limit)
}

// InsecureURLError means an http:// URL under a policy that forbids it.
type InsecureURLError struct{ URL string }

func (e *InsecureURLError) Error() string {
	return fmt.Sprintf("%s is plain http; use https, or start the server with --allow-insecure-http", e.URL)
}

// isMetadataHost reports names of cloud metadata services, refused before DNS.
func isMetadataHost(host string) bool {
	switch strings.ToLower(strings.TrimSuffix(host, ".")) {
	case "metadata.google.internal", "metadata", "instance-data":
		return true
	}
	return false
}

// CheckURL refuses URLs this policy will not fetch, before any connection.
// Errors never repeat a password given in the URL.
func (p Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the raw URL, password included
		}
		return fmt.Errorf("%q is not a URL: %w", redactRawUserinfo(raw), err)
	}
	return p.check(u)
}

func (p Policy) check(u *url.URL) error {
	shown := redactUserinfo(u)
	switch u.Scheme {
	case "https":
	case "http":
		if !p.AllowInsecureHTTP {
			return &InsecureURLError{URL: shown}
		}
	default:
		return fmt.Errorf("%q: only https URLs are supported", shown)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%q has no host", shown)
	}
	if u.User != nil {
		return fmt.Errorf("%q carries credentials in the URL; give the token separately", shown)
	}
	if isMetadataHost(host) || blockedHost(host) {
		return &BlockedAddressError{Addr: host}
	}
	return nil
}

func redactUserinfo(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	c := *u
	c.User = url.User("REDACTED")
	return c.String()
}

// redactRawUserinfo hides userinfo in a string url.Parse rejected, so the
// error about it cannot carry the password.
func redactRawUserinfo(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		if strings.Contains(raw, "@") {
			return "REDACTED@" + raw[strings.LastIndex(raw, "@")+1:]
		}
		return raw
	}
	rest := raw[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return raw
	}
	return raw[:i+3] + "REDACTED" + rest[at:]
}

// blockedHost reports whether host is an IP literal gitaccess never
// connects to; names are checked again on the resolved address at dial time.
func blockedHost(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && blockedAddr(a)
}

// blockedAddr reports link-local (which includes 169.254.169.254) and the
// well-known metadata addresses outside it. Zones and IPv4-mapped IPv6 forms
// are stripped first: fe80::1%eth0 and ::ffff:169.254.169.254 are the same
// places.
func blockedAddr(a netip.Addr) bool {
	a = a.WithZone("").Unmap()
	if a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified() {
		return true
	}
	return a == netip.MustParseAddr("fd00:ec2::254") || a == netip.MustParseAddr("100.100.100.200")
}

// Client returns an HTTP client under this policy that also trusts the PEM
// certificates in caBundle (added to the roots, never replacing them).
func (p Policy) Client(caBundle []byte) (*http.Client, error) {
	roots := p.RootCAs
	if roots == nil {
		sys, err := x509.SystemCertPool()
		if err != nil {
			sys = x509.NewCertPool()
		}
		roots = sys
	} else {
		roots = roots.Clone()
	}
	if len(caBundle) > 0 {
		roots = roots.Clone()
		if !roots.AppendCertsFromPEM(caBundle) {
			return nil, errors.New("the CA bundle holds no PEM certificate; give a file with -----BEGIN CERTIFICATE----- blocks")
		}
	}
	dialer := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		// Control sees the resolved address, so DNS cannot smuggle a
		// metadata address past CheckURL.
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if blockedHost(host) {
				return &BlockedAddressError{Addr: host}
			}
			return nil
		},
	}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if p.DialOverride != nil {
				addr = p.DialOverride(addr)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 20 * time.Second,
		ExpectContinueTimeout: time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	limit := p.MaxResponseBytes
	if limit <= 0 {
		limit = defaultMaxBytes
	}
	return &http.Client{
		Timeout:   timeout,
		Transport: &limitTransport{next: tr, limit: limit, ua: p.UserAgent, policy: p},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			return p.CheckURL(req.URL.String())
		},
	}, nil
}

type limitTransport struct {
	next   http.RoundTripper
	limit  int64
	ua     string
	policy Policy
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// Every request passes the policy, not only redirects: a caller that
	// forgot CheckURL must still not send a token over plain http.
	if err := t.policy.check(req.URL); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	if t.ua != "" && req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", t.ua)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.limit {
		resp.Body.Close()
		return nil, &ResponseTooLargeError{Limit: t.limit}
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.limit, limit: t.limit}
	return resp, nil
}

type limitedBody struct {
	rc    io.ReadCloser
	left  int64
	limit int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Probe one byte: exactly-at-limit bodies are fine.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, &ResponseTooLargeError{Limit: b.limit}
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
