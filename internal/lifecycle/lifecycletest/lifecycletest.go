// Package lifecycletest holds what tests of token lifecycles share: a
// clock they move by hand, and a local SMTP server that keeps the warning
// mails it receives.
package lifecycletest

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Clock is an injectable clock: tests move it; nothing sleeps.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time; pass it as a Config.Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Mail is one message the sink accepted.
type Mail struct {
	From string
	To   []string
	Data string
	// TLS says whether the session had switched to TLS (STARTTLS).
	TLS bool
}

// Sink is a local SMTP server that keeps what it receives.
type Sink struct {
	// Addr is host:port on 127.0.0.1.
	Addr   string
	mu     sync.Mutex
	msgs   []Mail
	refuse int
}

// StartSink serves SMTP on 127.0.0.1 until the test ends, offering
// STARTTLS when tlsConfig is set.
func StartSink(t *testing.T, tlsConfig *tls.Config) *Sink {
	t.Helper()
	s := &Sink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = tlsConfig
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// Refuse makes the next n DATA commands fail with a temporary error.
func (s *Sink) Refuse(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = n
}

// Received is what the sink accepted so far, oldest first.
func (s *Sink) Received() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.msgs...)
}

type session struct {
	s    *Sink
	conn *smtp.Conn
	cur  Mail
}

func (x *session) Reset()        { x.cur = Mail{} }
func (x *session) Logout() error { return nil }
func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.cur.From = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.cur.To = append(x.cur.To, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	if x.s.refuse > 0 {
		x.s.refuse--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	x.cur.Data = string(b)
	_, x.cur.TLS = x.conn.TLSConnectionState()
	x.s.msgs = append(x.s.msgs, x.cur)
	return nil
}
