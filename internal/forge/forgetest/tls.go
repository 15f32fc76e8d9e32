// Package forgetest runs fake provider servers for tests: GitHub (cloud and
// Enterprise Server), GitLab and Bitbucket Cloud, built from the shapes in
// shared/contracts and served over TLS under a throwaway test CA, so the
// adapters' real HTTP and TLS code paths run unchanged.
package forgetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/egress"
)

// Hosts the test CA issues a certificate for. Cloud names are real so the
// adapters' default endpoints are exercised; *.test names stand for
// self-hosted servers.
var Hosts = []string{
	"github.com", "api.github.com",
	"gitlab.com",
	"bitbucket.org", "api.bitbucket.org",
	"ghe.test", "gitlab.test", "gitea.test",
	"localhost",
}

// CA is a throwaway certificate authority.
type CA struct {
	PEM  []byte
	Pool *x509.CertPool
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA valid for an hour.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gitaccess test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Pool: pool, cert: cert, key: key}
}

// ServerCert issues a leaf for Hosts and 127.0.0.1.
func (ca *CA) ServerCert(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "fake provider"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     Hosts,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Server is a TLS server that every name in Hosts dials to.
type Server struct {
	*httptest.Server
	CA *CA
	// Addr is host:port of the listener.
	Addr string

	mu       sync.Mutex
	requests []*http.Request
}

// NewServer serves h over TLS with a certificate from a fresh CA (or from ca
// when given) and records every request it receives.
func NewServer(t testing.TB, ca *CA, h http.Handler) *Server {
	t.Helper()
	if ca == nil {
		ca = NewCA(t)
	}
	s := &Server{CA: ca}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Clone(r.Context()))
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{ca.ServerCert(t)}}
	s.StartTLS()
	t.Cleanup(s.Close)
	s.Addr = strings.TrimPrefix(s.URL, "https://")
	return s
}

// Requests returns the requests received so far.
func (s *Server) Requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.requests...)
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	s.requests = nil
	s.mu.Unlock()
}

// Policy is an egress policy that trusts the test CA and sends every name in
// Hosts to this server, so production endpoints hit the fake.
func (s *Server) Policy() egress.Policy {
	return egress.Policy{
		RootCAs: s.CA.Pool,
		DialOverride: func(addr string) string {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return addr
			}
			for _, h := range Hosts {
				if strings.EqualFold(host, h) {
					return s.Addr
				}
			}
			return addr
		},
	}
}

// ByHost routes a request to the handler for its Host (port ignored), so one
// Server can play several providers at once.
type ByHost map[string]http.Handler

func (m ByHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if h, ok := m[strings.ToLower(host)]; ok {
		h.ServeHTTP(w, r)
		return
	}
	http.Error(w, "forgetest: no fake for host "+host, http.StatusMisdirectedRequest)
}

// PolicyWithoutCA is Policy with the system roots instead of the test CA, so
// only a per-token CA bundle (--ca-file) makes the fake trusted.
func (s *Server) PolicyWithoutCA() egress.Policy {
	p := s.Policy()
	p.RootCAs = nil
	return p
}
