package gitlab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
)

// apiError is GitLab's error body. Grape errors carry "message" (a string,
// or an object of field errors) or "error"; OAuth2 token errors carry
// "error" and "error_description" (lib/api/api_guard.rb).
type apiError struct {
	Message          json.RawMessage `json:"message"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
	Scope            string          `json:"scope"`
}

// failure is one answer that was not a success, or no answer at all.
type failure struct {
	status int // 0: no HTTP answer
	header http.Header
	body   apiError
	text   string // GitLab's words, trimmed
	err    error
}

// classify reads what went wrong with one request.
func classify(resp *gl.Response, err error) failure {
	if resp == nil || resp.Response == nil {
		return failure{err: err}
	}
	f := failure{status: resp.StatusCode, header: resp.Header, err: err}
	var er *gl.ErrorResponse
	if errors.As(err, &er) {
		f.read(er.Body)
	}
	if f.text == "" {
		f.text = fmt.Sprintf("%d %s", f.status, http.StatusText(f.status))
	}
	return f
}

// read takes GitLab's words from an error body.
func (f *failure) read(body []byte) {
	if len(bytes.TrimSpace(body)) == 0 {
		return
	}
	if json.Unmarshal(body, &f.body) == nil {
		f.text = f.body.words()
	} else {
		f.text = oneLine(string(body))
	}
}

// insufficientScope is GitLab's 403 for a token whose scopes the endpoint
// does not accept (InsufficientScopeError), as opposed to a 403 for the
// user's role or state.
func (f failure) insufficientScope() bool {
	return f.status == http.StatusForbidden && f.body.Error == "insufficient_scope"
}

func (b apiError) words() string {
	if b.ErrorDescription != "" {
		return oneLine(b.ErrorDescription)
	}
	var s string
	if json.Unmarshal(b.Message, &s) == nil && s != "" {
		return oneLine(s)
	}
	var fields map[string]any
	if json.Unmarshal(b.Message, &fields) == nil && len(fields) > 0 {
		var parts []string
		for k, v := range fields {
			parts = append(parts, fmt.Sprintf("%s: %v", k, v))
		}
		sort.Strings(parts)
		return oneLine(strings.Join(parts, "; "))
	}
	return oneLine(b.Error)
}

// oneLine trims provider text to one short line for an error message.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// toError turns a failure into the typed error callers branch on. what
// names the request for messages ("GET /user").
func (f *Forge) toError(host, what string, fl failure) error {
	switch {
	case fl.status == 0:
		return egress.Classify(host, fl.err)
	case fl.status == http.StatusUnauthorized:
		return &forge.AuthError{Provider: forge.GitLab, Host: host, Status: fl.status, Message: fl.text}
	case fl.status == http.StatusTooManyRequests:
		return &forge.RateLimitedError{Provider: forge.GitLab, Host: host, Reset: resetTime(fl.header, f.now()), Message: fl.text}
	case fl.status >= 500:
		return &forge.ProviderError{Provider: forge.GitLab, Host: host, Status: fl.status, Message: what + ": " + fl.text}
	case fl.status == http.StatusForbidden && !fl.insufficientScope():
		// A 403 for a request every token may make: GitLab refuses the
		// token's user (blocked, deactivated, IP-restricted).
		return &forge.AuthError{Provider: forge.GitLab, Host: host, Status: fl.status, Message: fl.text}
	case fl.status >= 200 && fl.status < 300:
		// The answer came but its body could not be read.
		var tooLarge *egress.ResponseTooLargeError
		var netErr net.Error
		if errors.As(fl.err, &tooLarge) || errors.As(fl.err, &netErr) {
			return egress.Classify(host, fl.err)
		}
		return &forge.ProviderError{Provider: forge.GitLab, Host: host,
			Message: what + " did not answer GitLab API JSON (" + oneLine(fl.err.Error()) + "); check that the URL is GitLab's address"}
	}
	return &forge.ProviderError{Provider: forge.GitLab, Host: host, Status: fl.status, Message: what + ": " + fl.text}
}

// resetTime says when GitLab lets the token in again: RateLimit-Reset (Unix
// seconds), else RateLimit-ResetTime (HTTP date), else Retry-After
// (seconds or HTTP date). GitLab.com sends all three on a 429 when it can.
func resetTime(h http.Header, now time.Time) time.Time {
	if n, err := strconv.ParseInt(strings.TrimSpace(h.Get("RateLimit-Reset")), 10, 64); err == nil && n > 0 {
		return time.Unix(n, 0).UTC()
	}
	if t, err := http.ParseTime(h.Get("RateLimit-ResetTime")); err == nil {
		return t.UTC()
	}
	return forge.RetryAfter(h, now)
}

// rateLimit reads GitLab's RateLimit-* headers, nil when absent (GitLab
// sends them only where its rate limits are on).
func rateLimit(h http.Header) *forge.RateLimit {
	limit, err1 := strconv.Atoi(strings.TrimSpace(h.Get("RateLimit-Limit")))
	remaining, err2 := strconv.Atoi(strings.TrimSpace(h.Get("RateLimit-Remaining")))
	if err1 != nil || err2 != nil {
		return nil
	}
	rl := &forge.RateLimit{Limit: limit, Remaining: remaining}
	if n, err := strconv.ParseInt(strings.TrimSpace(h.Get("RateLimit-Reset")), 10, 64); err == nil && n > 0 {
		rl.Reset = time.Unix(n, 0).UTC()
	} else if t, err := http.ParseTime(h.Get("RateLimit-ResetTime")); err == nil {
		rl.Reset = t.UTC()
	}
	return rl
}
