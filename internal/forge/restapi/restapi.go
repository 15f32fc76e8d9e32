// Package restapi is the small JSON-over-HTTP client the hand-written
// adapters (Bitbucket Cloud, Gitea) share. GitHub and GitLab come with
// their own client libraries; these two providers do not, and their
// clients differ only in how the token is presented, how an error body is
// read and how a list is paged. Everything else lives here once: the
// egress client, the request count an operation reports, bounded reads,
// and the sorting of every non-2xx answer into forge's typed errors, so
// that both adapters refuse the same way and never echo a secret.
package restapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// MaxErrorBody bounds how much of a refusal is read for its message.
const MaxErrorBody = 64 << 10

// Refusal is what a provider's error body says, in its own words. Each
// adapter reads its provider's envelope into one.
type Refusal struct {
	Message string
	// Errors is a list of causes the provider gave beside the message
	// (Gitea's "errors"); empty when it gave none.
	Errors []string
	// Required lists the scopes a 403 says the token lacks; empty when
	// the refusal is about something else.
	Required []string
}

// Client speaks to one provider API as one token. It is cheap and lives
// for one operation, so Requests counts what that operation cost.
type Client struct {
	HTTP     *http.Client
	Provider forge.Provider
	// Host names the provider in errors.
	Host string
	// Scheme goes before the token in the Authorization header ("Bearer",
	// "token"). The token never goes in a URL.
	Scheme string
	Token  secret.Value
	// Scrub are further secrets a refusal must not echo (a hook secret).
	Scrub []secret.Value
	Log   *slog.Logger
	Now   func() time.Time
	// ReadError reads a non-2xx body (at most MaxErrorBody bytes).
	ReadError func(raw []byte, status int) Refusal
	// Requests counts the requests sent.
	Requests int
}

// Answer is a successful (2xx) response, body already read.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// StatusError is a refusal callers branch on (403, 404, 422, other 4xx):
// its headers still say what the provider thinks of the token.
type StatusError struct {
	Provider forge.Provider
	Status   int
	// Message is the provider's words, trimmed and scrubbed of secrets.
	Message  string
	Header   http.Header
	Errors   []string
	Required []string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s answered HTTP %d: %s", forge.Title(e.Provider), e.Status, e.Message)
}

// ScopeRefusal reports a 403 for a scope the token lacks.
func (e *StatusError) ScopeRefusal() bool {
	return e.Status == http.StatusForbidden && len(e.Required) > 0
}

// TooLargeError means a 2xx body was longer than the caller's limit; the
// caller names what was too large.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string { return fmt.Sprintf("answer larger than %d bytes", e.Limit) }

// JoinPath joins segments onto base, each escaped on its own, so a branch
// or file name can neither leave its route nor add a query.
func JoinPath(base string, segments ...string) string {
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(base, "/"))
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// Do sends one request with an optional JSON body and reads the whole 2xx
// answer (bounded by the egress policy).
func (c *Client) Do(ctx context.Context, method, rawURL string, body io.Reader) (*Answer, error) {
	return c.Fetch(ctx, method, rawURL, body, "application/json", -1)
}

// Fetch sends one request and reads a 2xx answer; with limit >= 0 a longer
// answer is a *TooLargeError, never a truncation. Everything else is
// sorted by Send.
func (c *Client) Fetch(ctx context.Context, method, rawURL string, body io.Reader, accept string, limit int64) (*Answer, error) {
	resp, err := c.Send(ctx, method, rawURL, body, accept)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	r := io.Reader(resp.Body)
	if limit >= 0 {
		if resp.ContentLength > limit {
			return nil, &TooLargeError{Limit: limit}
		}
		r = io.LimitReader(resp.Body, limit+1)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, egress.Classify(c.Host, err)
	}
	if limit >= 0 && int64(len(b)) > limit {
		return nil, &TooLargeError{Limit: limit}
	}
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Send makes one request and returns a 2xx response for the caller to read
// and close. Everything else is sorted: transport failures through
// egress.Classify, 401 into *forge.AuthError, 429 into
// *forge.RateLimitedError, 5xx into *forge.ProviderError, any other non-2xx
// into *StatusError. A body is sent as JSON.
func (c *Client) Send(ctx context.Context, method, rawURL string, body io.Reader, accept string) (*http.Response, error) {
	name := string(c.Provider)
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, fmt.Errorf("%s: building %s request to %s: %w", name, method, c.Host, err)
	}
	req.Header.Set("Accept", accept)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", c.Scheme+" "+c.Token.Reveal())

	c.Requests++
	start := time.Now()
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.Log.DebugContext(ctx, name+" request failed", "method", method, "path", req.URL.Path, "error", err)
		return nil, egress.Classify(c.Host, err)
	}
	c.Log.DebugContext(ctx, name+" request", "method", method, "path", req.URL.Path,
		"status", resp.StatusCode, "duration", time.Since(start))
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBody))
	ref := c.ReadError(raw, resp.StatusCode)
	for _, v := range append([]secret.Value{c.Token}, c.Scrub...) {
		ref.Message = v.Redact(ref.Message)
		for _, list := range [][]string{ref.Errors, ref.Required} {
			for i := range list {
				list[i] = v.Redact(list[i])
			}
		}
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, &forge.AuthError{Provider: c.Provider, Host: c.Host, Status: resp.StatusCode, Message: ref.Message}
	case resp.StatusCode == http.StatusTooManyRequests:
		// Neither provider promises a reset header, so the reset is often
		// unknown (zero).
		return nil, &forge.RateLimitedError{Provider: c.Provider, Host: c.Host, Reset: forge.RetryAfter(resp.Header, c.Now()), Message: ref.Message}
	case resp.StatusCode >= 500:
		return nil, &forge.ProviderError{Provider: c.Provider, Host: c.Host, Status: resp.StatusCode, Message: ref.Message}
	}
	return nil, &StatusError{Provider: c.Provider, Status: resp.StatusCode, Message: ref.Message, Header: resp.Header,
		Errors: ref.Errors, Required: ref.Required}
}

// ProviderError turns a refusal nobody branched on into the forge error,
// its message prefixed with what when what is not empty; other errors
// pass through.
func (c *Client) ProviderError(what string, err error) error {
	var se *StatusError
	if !errors.As(err, &se) {
		return err
	}
	msg := se.Message
	if what != "" {
		msg = what + ": " + msg
	}
	return &forge.ProviderError{Provider: c.Provider, Host: c.Host, Status: se.Status, Message: msg}
}

// HasRel reports whether a Link header value (RFC 8288) names relation
// rel.
func HasRel(link, rel string) bool {
	for _, part := range strings.Split(link, ",") {
		for _, param := range strings.Split(part, ";")[1:] {
			k, v, ok := strings.Cut(strings.TrimSpace(param), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "rel") {
				for _, r := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
					if strings.EqualFold(r, rel) {
						return true
					}
				}
			}
		}
	}
	return false
}
