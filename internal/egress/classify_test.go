package egress_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
)

// unreachable asserts err classifies as unreachable at host and returns it.
func unreachable(t *testing.T, host string, err error) *forge.UnreachableError {
	t.Helper()
	if err == nil {
		t.Fatal("the request succeeded; want a transport failure")
	}
	got := egress.Classify(host, err)
	var ue *forge.UnreachableError
	if !errors.As(got, &ue) {
		t.Fatalf("Classify(%v) = %#v, want *forge.UnreachableError", err, got)
	}
	if ue.Host != host {
		t.Errorf("Host = %q, want %q", ue.Host, host)
	}
	if !errors.Is(got, ue.Err) || ue.Err == nil {
		t.Errorf("UnreachableError does not wrap the cause")
	}
	return ue
}

func TestClassifyUnknownAuthority(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	_, err := client(t, egress.Policy{RootCAs: x509.NewCertPool()}, nil).Get(srv.URL)
	ue := unreachable(t, "ghe.test", err)
	if !strings.Contains(ue.Reason, "certificate") || !strings.Contains(ue.Reason, "--ca-file") {
		t.Errorf("Reason = %q, want it to name the certificate problem and --ca-file", ue.Reason)
	}
	var ua x509.UnknownAuthorityError
	if !errors.As(ue, &ua) {
		t.Error("the x509 error is no longer reachable with errors.As")
	}
}

func TestClassifyPlainHTTPServerOnHTTPS(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	_, err := client(t, egress.Policy{}, nil).Get(strings.Replace(srv.URL, "http://", "https://", 1))
	if ue := unreachable(t, "h", err); !strings.Contains(ue.Reason, "plain http") {
		t.Errorf("Reason = %q, want it to say the server speaks plain http", ue.Reason)
	}
}

func TestClassifyConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = client(t, egress.Policy{AllowInsecureHTTP: true}, nil).Get("http://" + addr + "/")
	if ue := unreachable(t, addr, err); ue.Reason != "connection refused" {
		t.Errorf("Reason = %q, want \"connection refused\"", ue.Reason)
	}
}

func TestClassifyDNSFailure(t *testing.T) {
	// .invalid is reserved (RFC 2606): no resolver may answer it.
	_, err := client(t, egress.Policy{}, nil).Get("https://gitaccess-test.invalid/")
	if ue := unreachable(t, "gitaccess-test.invalid", err); ue.Reason != "DNS: no such host" {
		t.Errorf("Reason = %q, want \"DNS: no such host\"", ue.Reason)
	}
}

func TestClassifyTimeout(t *testing.T) {
	srv := blockingServer(t, false)
	_, err := client(t, egress.Policy{AllowInsecureHTTP: true, Timeout: 20 * time.Millisecond}, nil).Get(srv.URL)
	if ue := unreachable(t, "h", err); ue.Reason != "timed out" {
		t.Errorf("Reason = %q, want \"timed out\"", ue.Reason)
	}
}

func TestClassifyTooLarge(t *testing.T) {
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(make([]byte, 100)) })
	_, err := client(t, egress.Policy{AllowInsecureHTTP: true, MaxResponseBytes: 10}, nil).Get(srv.URL)
	if ue := unreachable(t, "h", err); !strings.Contains(ue.Reason, "larger") {
		t.Errorf("Reason = %q, want it to say the answer was too large", ue.Reason)
	}
}

func TestClassifyPassesThrough(t *testing.T) {
	if egress.Classify("h", nil) != nil {
		t.Error("Classify(nil) is not nil")
	}

	boom := errors.New("boom")
	auth := &forge.AuthError{Provider: "github", Host: "github.com", Status: 401}
	for _, err := range []error{boom, auth, context.Canceled} {
		if got := egress.Classify("h", err); got != err {
			t.Errorf("Classify(%v) = %v, want it unchanged", err, got)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://gitaccess-test.invalid/", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client(t, egress.Policy{}, nil).Do(req)
	got := egress.Classify("h", err)
	var ue *forge.UnreachableError
	if !errors.Is(got, context.Canceled) || errors.As(got, &ue) {
		t.Errorf("a cancelled request classified as %#v, want context.Canceled unchanged", got)
	}

	// Policy refusals are already clear; they are not "unreachable".
	p := egress.Policy{DialOverride: func(string) string { return "169.254.169.254:443" }}
	_, err = client(t, p, nil).Get("https://innocent.example/")
	got = egress.Classify("innocent.example", err)
	var be *egress.BlockedAddressError
	if !errors.As(got, &be) || errors.As(got, &ue) {
		t.Errorf("a blocked dial classified as %#v, want *BlockedAddressError unchanged", got)
	}
	_, err = client(t, egress.Policy{}, nil).Get("http://github.com/")
	got = egress.Classify("github.com", err)
	var ie *egress.InsecureURLError
	if !errors.As(got, &ie) || errors.As(got, &ue) {
		t.Errorf("an insecure URL classified as %#v, want *InsecureURLError unchanged", got)
	}
}
