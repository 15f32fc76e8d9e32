package egress_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/egress"
)

func TestMain(m *testing.M) {
	// http.ProxyFromEnvironment reads these once per process; a proxy would
	// make the dialer see the proxy's address instead of the target's.
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"} {
		os.Unsetenv(k)
	}
	os.Exit(m.Run())
}

const password = "s3cretPW-do-not-echo"

func TestCheckURL(t *testing.T) {
	const (
		ok       = "ok"
		insecure = "insecure"
		blocked  = "blocked"
		refused  = "refused" // any other refusal
	)
	tests := []struct {
		url          string
		allowHTTP    bool
		want         string
		mustNotEcho  string
		wantInReason string
	}{
		{url: "https://github.com/org/repo", want: ok},
		{url: "https://ghe.example.com/api/v3", want: ok},
		{url: "https://127.0.0.1:8443/", want: ok},
		{url: "https://[::1]/", want: ok},
		{url: "https://localhost/", want: ok},
		{url: "http://gitlab.internal/", want: insecure, wantInReason: "--allow-insecure-http"},
		{url: "http://gitlab.internal/", allowHTTP: true, want: ok},
		{url: "ftp://github.com/", want: refused, wantInReason: "only https"},
		{url: "file:///etc/passwd", want: refused},
		{url: "ssh://git@github.com/org/repo", want: refused},
		{url: "git://github.com/org/repo", want: refused},
		{url: "https:///path", want: refused, wantInReason: "no host"},
		{url: "https://user:" + password + "@github.com/", want: refused, mustNotEcho: password, wantInReason: "credentials"},
		{url: "https://" + password + "@github.com/", want: refused, mustNotEcho: password},
		{url: "http://user:" + password + "@github.com/", want: insecure, mustNotEcho: password},
		{url: "http://user:" + password + "@github.com/", allowHTTP: true, want: refused, mustNotEcho: password},
		{url: "ftp://user:" + password + "@github.com/", want: refused, mustNotEcho: password},
		{url: "https://user:" + password + "@github.com:notaport/", want: refused, mustNotEcho: password},
		{url: "https://169.254.169.254/latest/meta-data/", want: blocked},
		{url: "http://169.254.169.254/", allowHTTP: true, want: blocked},
		{url: "https://169.254.1.1/", want: blocked},
		{url: "https://[fe80::1]/", want: blocked},
		{url: "https://[fe80::1%25eth0]/", want: blocked},
		{url: "https://[::ffff:169.254.169.254]/", want: blocked},
		{url: "https://metadata.google.internal/computeMetadata/v1/", want: blocked},
		{url: "https://METADATA.Google.Internal./", want: blocked},
		{url: "https://100.100.100.200/latest/meta-data/", want: blocked},
		{url: "https://[fd00:ec2::254]/", want: blocked},
		{url: "https://0.0.0.0/", want: blocked},
	}
	for _, tt := range tests {
		err := egress.Policy{AllowInsecureHTTP: tt.allowHTTP}.CheckURL(tt.url)
		var (
			ie  *egress.InsecureURLError
			be  *egress.BlockedAddressError
			got string
		)
		switch {
		case err == nil:
			got = ok
		case errors.As(err, &ie):
			got = insecure
		case errors.As(err, &be):
			got = blocked
		default:
			got = refused
		}
		if got != tt.want {
			t.Errorf("CheckURL(%q, allowHTTP=%v) = %v (%s), want %s", tt.url, tt.allowHTTP, err, got, tt.want)
			continue
		}
		if err == nil {
			continue
		}
		if tt.mustNotEcho != "" && strings.Contains(err.Error(), tt.mustNotEcho) {
			t.Errorf("CheckURL(%q): error %q echoes the password", tt.url, err)
		}
		if tt.wantInReason != "" && !strings.Contains(err.Error(), tt.wantInReason) {
			t.Errorf("CheckURL(%q): error %q does not mention %q", tt.url, err, tt.wantInReason)
		}
	}
}

// countingServer is a plain-http server that counts the requests it gets.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func client(t *testing.T, p egress.Policy, ca []byte) *http.Client {
	t.Helper()
	c, err := p.Client(ca)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestClientRefusesPlainHTTPEvenWithoutCheckURL(t *testing.T) {
	srv, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {})
	_, err := client(t, egress.Policy{}, nil).Get(srv.URL)
	var ie *egress.InsecureURLError
	if !errors.As(err, &ie) {
		t.Fatalf("GET %s under the default policy: err = %v, want *InsecureURLError", srv.URL, err)
	}
	if hits.Load() != 0 {
		t.Errorf("the server received %d requests; a refused URL must not be contacted", hits.Load())
	}

	resp, err := client(t, egress.Policy{AllowInsecureHTTP: true}, nil).Get(srv.URL)
	if err != nil {
		t.Fatalf("with AllowInsecureHTTP: %v", err)
	}
	resp.Body.Close()
}

func TestClientRefusesURLCredentials(t *testing.T) {
	srv, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {})
	u := strings.Replace(srv.URL, "http://", "http://user:"+password+"@", 1)
	_, err := client(t, egress.Policy{AllowInsecureHTTP: true}, nil).Get(u)
	if err == nil || hits.Load() != 0 {
		t.Fatalf("GET with credentials in the URL: err = %v, requests = %d; want a refusal before sending", err, hits.Load())
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("error %q echoes the password", err)
	}
}

func TestClientSendsUserAgent(t *testing.T) {
	var got atomic.Value
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) { got.Store(r.UserAgent()) })
	resp, err := client(t, egress.Policy{AllowInsecureHTTP: true, UserAgent: "gitaccess/test"}, nil).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got.Load() != "gitaccess/test" {
		t.Errorf("User-Agent = %q, want gitaccess/test", got.Load())
	}
}

func TestClientResponseSizeLimit(t *testing.T) {
	const limit = 1000
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		body := bytes.Repeat([]byte("x"), n)
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
			_, _ = w.Write(body)
			return
		}
		// Flushing before the end makes net/http send chunked encoding.
		_, _ = w.Write(body[:1])
		w.(http.Flusher).Flush()
		_, _ = w.Write(body[1:])
	})
	c := client(t, egress.Policy{AllowInsecureHTTP: true, MaxResponseBytes: limit}, nil)

	for _, chunked := range []bool{false, true} {
		for _, n := range []int{0, 1, limit - 1, limit, limit + 1, 10 * limit} {
			if chunked && n == 0 {
				continue // nothing to chunk
			}
			q := "?n=" + strconv.Itoa(n)
			if chunked {
				q += "&chunked=1"
			}
			body, err := fetch(c, srv.URL+q, chunked)
			var tl *egress.ResponseTooLargeError
			if n > limit {
				if !errors.As(err, &tl) {
					t.Errorf("chunked=%v n=%d: err = %v, want *ResponseTooLargeError", chunked, n, err)
				} else if tl.Limit != limit {
					t.Errorf("chunked=%v n=%d: Limit = %d, want %d", chunked, n, tl.Limit, limit)
				}
				continue
			}
			if err != nil || len(body) != n {
				t.Errorf("chunked=%v n=%d: got %d bytes, err %v; want the whole body", chunked, n, len(body), err)
			}
		}
	}
}

// fetch GETs u and reads the body; wantChunked asserts the server really
// sent no Content-Length, so the streaming limit is what is under test.
func fetch(c *http.Client, u string, wantChunked bool) ([]byte, error) {
	resp, err := c.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if wantChunked && resp.ContentLength != -1 {
		return nil, errors.New("test server sent a Content-Length; the chunked case is not exercised")
	}
	return io.ReadAll(resp.Body)
}

// blockingServer answers nothing (or only headers) until the test ends.
func blockingServer(t *testing.T, headersFirst bool) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headersFirst {
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
		}
		<-release
	}))
	t.Cleanup(srv.Close)                 // runs second: Close waits for handlers
	t.Cleanup(func() { close(release) }) // runs first
	return srv
}

func TestClientTimeoutBoundsASlowServer(t *testing.T) {
	p := egress.Policy{AllowInsecureHTTP: true, Timeout: 20 * time.Millisecond}

	t.Run("no answer", func(t *testing.T) {
		srv := blockingServer(t, false)
		_, err := client(t, p, nil).Get(srv.URL)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("err = %v, want a timeout", err)
		}
	})
	t.Run("slow body", func(t *testing.T) {
		// Timeout covers reading the body too, not just the headers.
		srv := blockingServer(t, true)
		_, err := fetch(client(t, p, nil), srv.URL, false)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("err = %v, want a timeout while reading the body", err)
		}
	})
}

func TestDialerRefusesLinkLocalResolvedAddresses(t *testing.T) {
	for _, target := range []string{
		"169.254.169.254:443",
		"169.254.0.1:443",
		"[fe80::1]:443",
		"[fe80::1%lo]:443",
		"0.0.0.0:443",
		"100.100.100.200:443",
		"[fd00:ec2::254]:443",
	} {
		// DialOverride stands in for DNS answering with a metadata address:
		// the URL's name passes CheckURL, only the dialer can catch it.
		p := egress.Policy{
			DialOverride: func(string) string { return target },
			Timeout:      5 * time.Second, // bounds a regression that would connect
		}
		_, err := client(t, p, nil).Get("https://innocent.example/")
		var be *egress.BlockedAddressError
		if !errors.As(err, &be) {
			t.Errorf("dial to %s: err = %v, want *BlockedAddressError", target, err)
		}
	}
}

func pemOf(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func TestClientCABundle(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)

	base := x509.NewCertPool()
	for name, p := range map[string]egress.Policy{
		"given roots":  {RootCAs: base},
		"system roots": {},
	} {
		resp, err := client(t, p, pemOf(srv)).Get(srv.URL)
		if err != nil {
			t.Errorf("%s + the server's CA bundle: %v", name, err)
			continue
		}
		resp.Body.Close()

		// The bundle belongs to one endpoint; the policy's pool is untouched.
		_, err = client(t, p, nil).Get(srv.URL)
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) {
			t.Errorf("%s without the bundle: err = %v, want an unknown-authority error", name, err)
		}
	}
	if !base.Equal(x509.NewCertPool()) {
		t.Error("Client added the bundle to the policy's RootCAs")
	}
}

func TestClientRejectsGarbageCABundle(t *testing.T) {
	for _, bundle := range []string{
		"not a certificate",
		"-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n",
		"-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----\n",
	} {
		_, err := egress.Policy{}.Client([]byte(bundle))
		if err == nil || !strings.Contains(err.Error(), "BEGIN CERTIFICATE") {
			t.Errorf("Client(%q): err = %v, want a clear error naming the PEM format", bundle, err)
		}
	}
}

func TestClientRedirects(t *testing.T) {
	var plainHits atomic.Int64
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { plainHits.Add(1) }))
	t.Cleanup(plain.Close)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-http":
			http.Redirect(w, r, plain.URL+"/", http.StatusFound)
		case "/to-metadata":
			http.Redirect(w, r, "https://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/to-gce-metadata":
			http.Redirect(w, r, "https://metadata.google.internal/computeMetadata/v1/", http.StatusFound)
		case "/to-same-host":
			http.Redirect(w, r, "/final", http.StatusFound)
		case "/final":
			_, _ = io.WriteString(w, "final")
		}
	}))
	t.Cleanup(srv.Close)
	c := client(t, egress.Policy{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}, nil)

	body, err := fetch(c, srv.URL+"/to-same-host", false)
	if err != nil || string(body) != "final" {
		t.Fatalf("https redirect on the same host: body %q, err %v", body, err)
	}

	_, err = c.Get(srv.URL + "/to-http")
	var ie *egress.InsecureURLError
	if !errors.As(err, &ie) {
		t.Errorf("redirect to http://: err = %v, want *InsecureURLError", err)
	}
	if plainHits.Load() != 0 {
		t.Error("the client followed a redirect to plain http")
	}
	for _, path := range []string{"/to-metadata", "/to-gce-metadata"} {
		_, err := c.Get(srv.URL + path)
		var be *egress.BlockedAddressError
		if !errors.As(err, &be) {
			t.Errorf("redirect %s: err = %v, want *BlockedAddressError", path, err)
		}
	}
}
