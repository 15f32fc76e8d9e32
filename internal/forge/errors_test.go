package forge_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/forge"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Time{
		"":                              {},
		"120":                           now.Add(2 * time.Minute),
		" 0 ":                           now,
		"-5":                            {},
		"soon":                          {},
		"Sun, 22 Nov 2026 12:05:00 GMT": now.Add(5 * time.Minute),
	}
	for v, want := range cases {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		if got := forge.RetryAfter(h, now); !got.Equal(want) || (!got.IsZero() && got.Location() != time.UTC) {
			t.Errorf("Retry-After %q = %v, want %v in UTC", v, got, want)
		}
	}
}
