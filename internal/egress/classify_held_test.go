package egress_test

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
)

// TestClassifyKeepsHeldRequests: a request gitaccess held back itself
// (internal/forge/ratelimit), wrapped by the HTTP client, stays a rate
// limit with its reset, not an unreachable host.
func TestClassifyKeepsHeldRequests(t *testing.T) {
	held := &forge.RateLimitedError{Provider: forge.GitHub, Host: "api.github.com", Reset: time.Unix(1763780400, 0)}
	err := egress.Classify("api.github.com", &url.Error{Op: "Get", URL: "https://api.github.com/user", Err: held})
	var got *forge.RateLimitedError
	if !errors.As(err, &got) || !got.Reset.Equal(held.Reset) {
		t.Fatalf("Classify = %T %v, want the *forge.RateLimitedError", err, err)
	}
	var unreachable *forge.UnreachableError
	if errors.As(err, &unreachable) {
		t.Errorf("a held request was classified unreachable: %v", err)
	}
}
