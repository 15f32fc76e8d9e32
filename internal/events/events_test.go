package events_test

import (
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/events"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// The Standard Webhooks reference vector: a subscriber's existing library
// must verify what gitaccess sends.
func TestSignMatchesStandardWebhooksVector(t *testing.T) {
	sec := secret.New("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	got, err := events.Sign(sec, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	sec := events.NewSecret()
	ts := time.Unix(1700000000, 0)
	body := []byte(`{"type":"deploy.requested"}`)
	sig, err := events.Sign(sec, "evt_1", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if !events.Verify(sec, "evt_1", ts, body, "v1,bm9wZQ== "+sig) {
		t.Error("a valid signature among several was refused")
	}
	for name, c := range map[string]struct {
		id   string
		ts   time.Time
		body []byte
		sec  secret.Value
	}{
		"other id":     {"evt_2", ts, body, sec},
		"other time":   {"evt_1", ts.Add(time.Second), body, sec},
		"other body":   {"evt_1", ts, []byte(`{}`), sec},
		"other secret": {"evt_1", ts, body, events.NewSecret()},
	} {
		if events.Verify(c.sec, c.id, c.ts, c.body, sig) {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestBackoffDoublesToAnHour(t *testing.T) {
	none := func() float64 { return 0 }
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second}
	for i, w := range want {
		if got := events.Backoff(i+1, none); got != w {
			t.Errorf("Backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := events.Backoff(30, none); got != time.Hour {
		t.Errorf("Backoff(30) = %v, want the 1h cap", got)
	}
	if got := events.Backoff(1, func() float64 { return 0.999 }); got <= 5*time.Second || got > 6*time.Second {
		t.Errorf("jittered Backoff(1) = %v, want within 20%% above 5s", got)
	}
	// Attempts spaced by this backoff keep retrying for the whole day
	// before RetryFor ends them: at least 24 attempts.
	total, n := time.Duration(0), 0
	for total < events.RetryFor {
		n++
		total += events.Backoff(n, none)
	}
	if n < 24 {
		t.Errorf("only %d attempts fit in a day", n)
	}
}
