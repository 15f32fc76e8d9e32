package lifecycle

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// Mail retry policy: a failed send is tried again after mailBackoff,
// doubling up to mailMaxBackoff, for as long as the warning is younger
// than mailGiveUp (an SMTP server down for a week gets no flood of stale
// mail when it returns).
const (
	mailBackoff    = 5 * time.Minute
	mailMaxBackoff = 6 * time.Hour
	mailGiveUp     = 7 * 24 * time.Hour
	mailLease      = 5 * time.Minute
	mailBatch      = 20
	mailTimeout    = 30 * time.Second
)

// Message is one mail.
type Message struct {
	Subject string
	Body    string
}

// MailResult counts what a mail run did.
type MailResult struct {
	Ran    bool
	Sent   int
	Failed int
}

// MailIfDue sends the warnings not mailed yet, when this replica wins the
// mail lease (so two replicas never send the same warning). A warning is
// marked sent only after the server accepted it; a failure is logged and
// retried later with backoff.
func (r *Runner) MailIfDue(ctx context.Context) (MailResult, error) {
	if r.cfg.Mailer == nil {
		return MailResult{}, nil
	}
	now := r.cfg.Now().UTC()
	ok, err := r.cfg.Store.TryRunJob(ctx, MailJob, r.cfg.Holder, now, now.Add(mailLease))
	if err != nil || !ok {
		return MailResult{}, err
	}
	res := MailResult{Ran: true}
	defer func() {
		// Due again at once: whoever polls next sends what came in since.
		if err := r.cfg.Store.FinishJob(context.WithoutCancel(ctx), MailJob, r.cfg.Holder, now, now); err != nil {
			r.log.Warn("releasing the mail lease failed", "err", err)
		}
	}()
	due, err := r.cfg.Store.DueMails(ctx, now.Add(-mailGiveUp), now, mailBatch)
	if err != nil {
		return res, fmt.Errorf("reading unsent warnings: %w", err)
	}
	for _, w := range due {
		msg, err := Compose(w)
		if err == nil {
			sctx, cancel := context.WithTimeout(ctx, mailTimeout)
			err = r.cfg.Mailer.Send(sctx, msg)
			cancel()
		}
		at := r.cfg.Now().UTC()
		if err != nil {
			res.Failed++
			backoff := min(mailBackoff<<min(w.MailAttempts, 10), mailMaxBackoff)
			r.log.Warn("mailing a token warning failed; retrying later", "warning", w.ID, "attempt", w.MailAttempts+1, "retry_in", backoff, "err", err)
			if ferr := r.cfg.Store.FinishMail(ctx, w.ID, at, err.Error(), at.Add(backoff)); ferr != nil {
				return res, fmt.Errorf("recording a failed mail: %w", ferr)
			}
			continue
		}
		res.Sent++
		if ferr := r.cfg.Store.FinishMail(ctx, w.ID, at, "", time.Time{}); ferr != nil {
			return res, fmt.Errorf("recording a sent mail: %w", ferr)
		}
	}
	return res, nil
}

// Compose writes the mail for a warning from the event it emitted: the
// subject names the token and the days left, the body the applications
// that break and how to rotate.
func Compose(w store.TokenWarning) (Message, error) {
	var ev access.WarningEvent
	if err := json.Unmarshal(w.Payload, &ev); err != nil {
		return Message{}, fmt.Errorf("warning %s: reading its event: %w", w.ID, err)
	}
	d := ev.Data
	var subject, what string
	switch w.Kind {
	case store.WarningInvalid:
		subject = fmt.Sprintf("[gitaccess] token %s was refused by %s (%s)", d.Token.Name, d.Token.Host, d.Organization)
		what = fmt.Sprintf("%s no longer accepts token %s: %s.", d.Token.Host, d.Token.Name, d.Token.StatusDetail)
	default:
		left := w.ThresholdDays
		if d.Token.DaysLeft != nil {
			left = *d.Token.DaysLeft
		}
		when := ""
		if d.Token.ExpiresAt != nil {
			when = " on " + d.Token.ExpiresAt.UTC().Format(time.DateOnly)
		}
		switch {
		case left == 0 && (d.Token.ExpiresAt == nil || d.Token.ExpiresAt.After(w.CreatedAt)):
			subject = fmt.Sprintf("[gitaccess] token %s expires within a day (%s)", d.Token.Name, d.Organization)
			what = fmt.Sprintf("Token %s (%s) expires%s: less than a day left.", d.Token.Name, d.Token.Host, when)
		case left < 0 || d.Token.ExpiresAt != nil && !d.Token.ExpiresAt.After(w.CreatedAt):
			subject = fmt.Sprintf("[gitaccess] token %s has expired (%s)", d.Token.Name, d.Organization)
			what = fmt.Sprintf("Token %s (%s) expired%s.", d.Token.Name, d.Token.Host, when)
		default:
			subject = fmt.Sprintf("[gitaccess] token %s expires in %s (%s)", d.Token.Name, plural(left, "day"), d.Organization)
			what = fmt.Sprintf("Token %s (%s) expires%s: %s left.", d.Token.Name, d.Token.Host, when, plural(left, "day"))
		}
	}
	var b strings.Builder
	b.WriteString(what + "\n\n")
	if len(d.Applications) == 0 {
		b.WriteString("No application depends on it.\n")
	} else {
		b.WriteString("Applications that depend on it:\n")
		for _, a := range d.Applications {
			fmt.Fprintf(&b, "  - %s: %s (branch %s)\n", a.Name, a.Repository, a.Branch)
		}
	}
	fmt.Fprintf(&b, "\nMake a new token at %s, then replace the value (every application keeps working):\n\n    gitaccess token rotate %s\n\n", d.Token.Host, d.Token.Name)
	fmt.Fprintf(&b, "Organization: %s\nSent by gitaccess; `gitaccess status` lists every token that needs attention.\n", d.Organization)
	return Message{Subject: subject, Body: b.String()}, nil
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// SMTPConfig is where and how warnings are mailed.
type SMTPConfig struct {
	Host string
	Port string
	// ImplicitTLS is smtps:// (TLS from the first byte, port 465);
	// otherwise STARTTLS is used when offered, and required unless Host
	// is a loopback address.
	ImplicitTLS bool
	Username    string
	Password    secret.Value
	From        string
	To          []string
	// RootCAs verifies the server (nil: the system's roots).
	RootCAs *x509.CertPool
	// Timeout bounds a whole send (default 30s).
	Timeout time.Duration
	// Dial connects (default net.Dialer); tests aim it at a sink.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now stamps the Date header (default time.Now).
	Now func() time.Time
}

// ParseSMTPURL reads smtp://[user[:password]@]host[:port]?from=ADDR&to=ADDR[,ADDR]
// (port 587 by default; smtps:// for TLS from the first byte, port 465).
func ParseSMTPURL(raw string) (SMTPConfig, error) {
	const form = "smtp://[USER@]HOST[:PORT]?from=ADDRESS&to=ADDRESS[,ADDRESS]"
	u, err := url.Parse(raw)
	if err != nil {
		return SMTPConfig{}, fmt.Errorf("SMTP URL is not a URL; use %s", form) // the error would echo a password
	}
	c := SMTPConfig{Host: u.Hostname(), Port: u.Port()}
	switch u.Scheme {
	case "smtp":
		if c.Port == "" {
			c.Port = "587"
		}
	case "smtps":
		c.ImplicitTLS = true
		if c.Port == "" {
			c.Port = "465"
		}
	default:
		return SMTPConfig{}, fmt.Errorf("SMTP URL scheme %q: use smtp:// (STARTTLS) or smtps:// (TLS), e.g. %s", u.Scheme, form)
	}
	if c.Host == "" {
		return SMTPConfig{}, fmt.Errorf("SMTP URL names no host; use %s", form)
	}
	if u.User != nil {
		c.Username = u.User.Username()
		if p, ok := u.User.Password(); ok {
			c.Password = secret.New(p)
		}
	}
	q := u.Query()
	for k := range q {
		if k != "from" && k != "to" {
			return SMTPConfig{}, fmt.Errorf("SMTP URL: unknown parameter %q; only from and to are read", k)
		}
	}
	from, err := mail.ParseAddress(q.Get("from"))
	if err != nil {
		return SMTPConfig{}, fmt.Errorf("SMTP URL: from=%q is not a mail address (%v); e.g. from=gitaccess@example.com", q.Get("from"), err)
	}
	c.From = from.Address
	for _, v := range q["to"] {
		for _, a := range strings.Split(v, ",") {
			addr, err := mail.ParseAddress(strings.TrimSpace(a))
			if err != nil {
				return SMTPConfig{}, fmt.Errorf("SMTP URL: to=%q is not a mail address (%v); e.g. to=ops@example.com,oncall@example.com", a, err)
			}
			c.To = append(c.To, addr.Address)
		}
	}
	if len(c.To) == 0 {
		return SMTPConfig{}, fmt.Errorf("SMTP URL: give the recipients with to=ADDRESS[,ADDRESS]; use %s", form)
	}
	return c, nil
}

// SMTP sends mail through an SMTP server with go-smtp's client.
type SMTP struct{ cfg SMTPConfig }

// NewSMTP returns a mailer for c.
func NewSMTP(c SMTPConfig) *SMTP {
	if c.Timeout <= 0 {
		c.Timeout = mailTimeout
	}
	if c.Dial == nil {
		d := &net.Dialer{Timeout: c.Timeout}
		c.Dial = d.DialContext
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &SMTP{cfg: c}
}

// loopback reports whether host is this machine, where a plain-text
// connection crosses no network.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send delivers m to every recipient. The whole exchange is bounded by the
// timeout and by ctx.
func (m *SMTP) Send(ctx context.Context, msg Message) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	c, err := m.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if m.cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", m.cfg.Username, m.cfg.Password.Reveal())); err != nil {
			return fmt.Errorf("SMTP authentication as %s failed: %w", m.cfg.Username, err)
		}
	}
	if err := c.SendMail(m.cfg.From, m.cfg.To, bytes.NewReader(m.render(msg))); err != nil {
		return fmt.Errorf("SMTP server %s refused the mail: %w", m.cfg.Host, err)
	}
	return c.Quit()
}

// connect dials and secures the connection: TLS from the start for
// smtps, STARTTLS when the server offers it, and plain text only on
// loopback.
func (m *SMTP) connect(ctx context.Context) (*smtp.Client, error) {
	tlsConfig := &tls.Config{ServerName: m.cfg.Host, RootCAs: m.cfg.RootCAs, MinVersion: tls.VersionTLS12}
	dial := func() (net.Conn, error) {
		conn, err := m.cfg.Dial(ctx, "tcp", net.JoinHostPort(m.cfg.Host, m.cfg.Port))
		if err != nil {
			return nil, fmt.Errorf("connecting to SMTP server %s: %w", net.JoinHostPort(m.cfg.Host, m.cfg.Port), err)
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		// A cancelled ctx cuts the connection, so no read blocks on it.
		context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
		return conn, nil
	}
	conn, err := dial()
	if err != nil {
		return nil, err
	}
	if m.cfg.ImplicitTLS {
		return smtp.NewClient(tls.Client(conn, tlsConfig)), nil
	}
	if !loopback(m.cfg.Host) {
		c, err := smtp.NewClientStartTLS(conn, tlsConfig)
		if err != nil {
			return nil, fmt.Errorf("SMTP server %s: STARTTLS failed (%w); gitaccess sends mail over the network only encrypted: enable STARTTLS on the server or use smtps://", m.cfg.Host, err)
		}
		return c, nil
	}
	// Loopback: use STARTTLS if offered. go-smtp upgrades only a fresh
	// client, so ask first and reconnect when it is offered.
	probe := smtp.NewClient(conn)
	offered, _ := probe.Extension("STARTTLS")
	if !offered {
		return probe, nil
	}
	_ = probe.Quit()
	if conn, err = dial(); err != nil {
		return nil, err
	}
	c, err := smtp.NewClientStartTLS(conn, tlsConfig)
	if err != nil {
		return nil, fmt.Errorf("SMTP server %s: STARTTLS failed: %w", m.cfg.Host, err)
	}
	return c, nil
}

// render writes the RFC 5322 message: CRLF lines, an encoded subject, and
// no header value that could smuggle in another header.
func (m *SMTP) render(msg Message) []byte {
	clean := func(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + clean(v) + "\r\n") }
	h("From", m.cfg.From)
	h("To", strings.Join(m.cfg.To, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", msg.Subject))
	h("Date", m.cfg.Now().Format(time.RFC1123Z))
	h("Message-ID", "<"+store.NewID("mail")+"@gitaccess>")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	body := strings.ReplaceAll(msg.Body, "\r\n", "\n")
	for line := range strings.SplitSeq(body, "\n") {
		b.WriteString(line + "\r\n")
	}
	return b.Bytes()
}
