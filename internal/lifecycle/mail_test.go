package lifecycle_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/mail"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/lifecycle"
	"github.com/gitaccess/gitaccess/internal/lifecycle/lifecycletest"
	"github.com/gitaccess/gitaccess/internal/store"
)

func smtpConfig(t *testing.T, raw string) lifecycle.SMTPConfig {
	t.Helper()
	c, err := lifecycle.ParseSMTPURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestWarningMail: each warning is mailed once through the SMTP server;
// the subject names the token and the days left, the body the
// applications and how to rotate. A refused send is retried later, and
// only then marked sent.
func TestWarningMail(t *testing.T) {
	w := newWorld(t, openSQLite(t, filepath.Join(t.TempDir(), "db")))
	sk := lifecycletest.StartSink(t, nil)
	mailer := lifecycle.NewSMTP(smtpConfig(t, "smtp://"+sk.Addr+"?from=gitaccess@example.com&to=ops@example.com,oncall@example.com"))
	r := w.runner("a", w.svc, mailer)

	w.at(12 * day)
	r.Tick(t.Context()) // the sweep records the 14-day warning, then mail goes out
	msgs := sk.Received()
	if len(msgs) != 1 {
		t.Fatalf("sink received %d mails, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "gitaccess@example.com" || strings.Join(m.To, ",") != "ops@example.com,oncall@example.com" {
		t.Errorf("envelope from %q to %q", m.From, m.To)
	}
	msg, err := mail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(subject, "token ci") || !strings.Contains(subject, "12 days") {
		t.Errorf("subject %q, want the token's name and 12 days", subject)
	}
	body, _ := io.ReadAll(msg.Body)
	for _, want := range []string{"web: https://github.com/acme/web (branch main)", "api: https://github.com/acme/api (branch main)", "gitaccess token rotate ci"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(m.Data, w.value) {
		t.Error("the mail carries the token value")
	}

	// Nothing new: nothing sent again, however often the mailer runs.
	r.Tick(t.Context())
	w.clock.Set(w.clock.Now().Add(time.Minute))
	r.Tick(t.Context())
	if n := len(sk.Received()); n != 1 {
		t.Fatalf("sink has %d mails after more ticks, want still 1", n)
	}

	// The 7-day warning meets a refusing server: not marked sent, retried
	// after the backoff, then sent once.
	sk.Refuse(1)
	w.at(6 * day)
	r.Tick(t.Context())
	if n := len(sk.Received()); n != 1 {
		t.Fatalf("sink has %d mails after a refused send, want 1", n)
	}
	st, err := w.svc.Status(t.Context(), w.owner)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Warnings) == 0 || st.Warnings[0].ThresholdDays != 7 || !strings.Contains(st.Warnings[0].MailError, "try again later") || st.Warnings[0].MailedAt != nil {
		t.Fatalf("status warnings = %+v, want the 7-day one unsent with the server's words", st.Warnings)
	}
	w.clock.Set(w.clock.Now().Add(time.Minute))
	r.Tick(t.Context())
	if n := len(sk.Received()); n != 1 {
		t.Fatalf("retried before the backoff: %d mails", n)
	}
	w.clock.Set(w.clock.Now().Add(5 * time.Minute))
	r.Tick(t.Context())
	msgs = sk.Received()
	if len(msgs) != 2 || !strings.Contains(msgs[1].Data, "6 days") {
		t.Fatalf("after the backoff: %d mails, want the 7-day warning sent", len(msgs))
	}
	r.Tick(t.Context())
	if n := len(sk.Received()); n != 2 {
		t.Fatalf("sent again after success: %d mails", n)
	}
}

// TestSMTPStartTLS: a server offering STARTTLS gets the mail encrypted,
// even on loopback; over the network a server without it gets nothing.
func TestSMTPStartTLS(t *testing.T) {
	ca := forgetest.NewCA(t)
	cert := ca.ServerCert(t)
	tlsSink := lifecycletest.StartSink(t, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	c := smtpConfig(t, "smtp://"+strings.Replace(tlsSink.Addr, "127.0.0.1", "localhost", 1)+"?from=gitaccess@example.com&to=ops@example.com")
	c.RootCAs = ca.Pool
	if err := lifecycle.NewSMTP(c).Send(t.Context(), lifecycle.Message{Subject: "s", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	if got := tlsSink.Received(); len(got) != 1 || !got[0].TLS {
		t.Fatalf("STARTTLS sink got %+v, want one mail over TLS", got)
	}

	plain := lifecycletest.StartSink(t, nil)
	_, port, _ := net.SplitHostPort(plain.Addr)
	c = smtpConfig(t, "smtp://mail.example.com:"+port+"?from=gitaccess@example.com&to=ops@example.com")
	c.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, plain.Addr)
	}
	err := lifecycle.NewSMTP(c).Send(t.Context(), lifecycle.Message{Subject: "s", Body: "b"})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("sending over the network without STARTTLS: %v, want a refusal naming STARTTLS", err)
	}
	if n := len(plain.Received()); n != 0 {
		t.Errorf("the plain-text server got %d mails", n)
	}
}

// TestSMTPTimeout: a server that never answers does not hold the sender
// past its timeout.
func TestSMTPTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accept, then say nothing
		}
	}()
	c := smtpConfig(t, "smtp://"+ln.Addr().String()+"?from=gitaccess@example.com&to=ops@example.com")
	c.Timeout = 200 * time.Millisecond
	err = lifecycle.NewSMTP(c).Send(t.Context(), lifecycle.Message{Subject: "s", Body: "b"})
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("silent server: %v, want a timeout", err)
	}
}

// TestParseSMTPURL: what --smtp-url accepts and how it says no.
func TestParseSMTPURL(t *testing.T) {
	c := smtpConfig(t, "smtp://alerts@mail.example.com?from=gitaccess@example.com&to=ops@example.com,%20dev@example.com")
	if c.Host != "mail.example.com" || c.Port != "587" || c.ImplicitTLS || c.Username != "alerts" || !c.Password.IsZero() ||
		c.From != "gitaccess@example.com" || strings.Join(c.To, ",") != "ops@example.com,dev@example.com" {
		t.Errorf("parsed %+v", c)
	}
	if c := smtpConfig(t, "smtps://u:p@mail.example.com?from=a@example.com&to=b@example.com"); !c.ImplicitTLS || c.Port != "465" || c.Password.Reveal() != "p" {
		t.Errorf("smtps: %+v", c)
	}
	for raw, want := range map[string]string{
		"http://mail.example.com?from=a@example.com&to=b@example.com":        "scheme",
		"smtp://?from=a@example.com&to=b@example.com":                        "no host",
		"smtp://mail.example.com?to=b@example.com":                           "from=",
		"smtp://mail.example.com?from=a@example.com":                         "to=ADDRESS",
		"smtp://mail.example.com?from=a@example.com&to=nope":                 "to=",
		"smtp://mail.example.com?from=a@example.com&to=b@example.com&cc=x@y": "unknown parameter",
	} {
		_, err := lifecycle.ParseSMTPURL(raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error about %s", raw, err, want)
		}
	}
	_, err := lifecycle.ParseSMTPURL("smtp://u:s3cret@[::1:?from=a@example.com")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad URL: %v, want an error without the password", err)
	}
}

// TestComposeSubjects: the subject says how urgent it is in words.
func TestComposeSubjects(t *testing.T) {
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	warning := func(kind string, threshold, left int, expires time.Time, detail string) store.TokenWarning {
		ev := access.WarningEvent{Type: "token." + kind, Data: access.WarningData{Organization: "acme", ThresholdDays: threshold,
			Token:        access.WarningToken{Name: "ci", Host: "github.com", ExpiresAt: &expires, DaysLeft: &left, StatusDetail: detail},
			Applications: []access.WarningApp{{Name: "web", Repository: "https://github.com/acme/web", Branch: "main"}}}}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		return store.TokenWarning{ID: "twn_1", Kind: kind, ThresholdDays: threshold, CreatedAt: created, Payload: b}
	}
	for _, tc := range []struct {
		w       store.TokenWarning
		subject string
		body    string
	}{
		{warning(store.WarningExpiring, 30, 29, created.Add(29*day+time.Hour), ""), "[gitaccess] token ci expires in 29 days (acme)", "expires on 2026-03-30: 29 days left"},
		{warning(store.WarningExpiring, 1, 1, created.Add(day+time.Hour), ""), "[gitaccess] token ci expires in 1 day (acme)", "1 day left"},
		{warning(store.WarningExpiring, 1, 0, created.Add(time.Hour), ""), "[gitaccess] token ci expires within a day (acme)", "less than a day left"},
		{warning(store.WarningExpiring, 1, -2, created.Add(-2*day), ""), "[gitaccess] token ci has expired (acme)", "expired on 2026-02-27"},
		{warning(store.WarningInvalid, 0, 20, created.Add(20*day), "refused by GitHub on 2026-03-01T12:00:00Z: HTTP 401 Bad credentials"),
			"[gitaccess] token ci was refused by github.com (acme)", "HTTP 401 Bad credentials"},
	} {
		m, err := lifecycle.Compose(tc.w)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != tc.subject || !strings.Contains(m.Body, tc.body) || !strings.Contains(m.Body, "web: https://github.com/acme/web (branch main)") ||
			!strings.Contains(m.Body, "gitaccess token rotate ci") {
			t.Errorf("Compose = %q\n%s\nwant subject %q and %q in the body", m.Subject, m.Body, tc.subject, tc.body)
		}
	}
	if _, err := lifecycle.Compose(store.TokenWarning{ID: "twn_2", Payload: []byte("not json")}); err == nil {
		t.Error("Compose accepted a payload that is not an event")
	}
}
