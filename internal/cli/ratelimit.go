package cli

import (
	"fmt"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
)

// fmtRateLimit renders a token's provider budget for `token show`:
// "4987/5000 (core), resets at 2026-11-22 04:00:00 UTC". A reset already
// past means the provider has refilled the budget since it was seen.
func fmtRateLimit(rl *access.TokenRateLimit, now time.Time) string {
	s := fmt.Sprintf("limit %d, remaining not reported", rl.Limit)
	if rl.Remaining != nil {
		s = fmt.Sprintf("%d/%d", *rl.Remaining, rl.Limit)
	}
	if rl.Resource != "" {
		s += " (" + rl.Resource + ")"
	}
	switch {
	case rl.Reset == nil:
		s += ", rolling window"
	case rl.Reset.After(now):
		s += ", resets at " + fmtTime(rl.Reset, "-")
	default:
		s += ", reset since " + fmtTime(rl.Reset, "-")
	}
	return s + "; seen " + fmtTime(&rl.ObservedAt, "-")
}
