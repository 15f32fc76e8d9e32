package forge

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// AuthError means the provider refused the token: wrong, revoked or expired.
type AuthError struct {
	Provider Provider
	Host     string
	Status   int
	// Message is what the provider said, verbatim and trimmed.
	Message string
}

func (e *AuthError) Error() string {
	msg := fmt.Sprintf("%s at %s refused the token (HTTP %d)", Title(e.Provider), e.Host, e.Status)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg + "; check that the token is correct, not revoked and not expired"
}

// RateLimitedError means the provider throttled us until Reset.
type RateLimitedError struct {
	Provider Provider
	Host     string
	Reset    time.Time
	Message  string
}

func (e *RateLimitedError) Error() string {
	msg := fmt.Sprintf("%s at %s rate-limited this token", Title(e.Provider), e.Host)
	if !e.Reset.IsZero() {
		msg += " until " + e.Reset.UTC().Format(time.RFC3339)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// UnreachableError means no HTTP answer came: DNS, connection, TLS or timeout.
type UnreachableError struct {
	Host string
	// Reason is short and specific: "TLS: certificate signed by unknown
	// authority", "connection refused", "timed out after 15s".
	Reason string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach %s: %s", e.Host, e.Reason)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// ProviderError is any other failed answer: a 5xx, or something we could not
// understand. Status is 0 when the body, not the status, was the problem.
type ProviderError struct {
	Provider Provider
	Host     string
	Status   int
	Message  string
}

func (e *ProviderError) Error() string {
	if e.Status >= 500 {
		return fmt.Sprintf("%s at %s failed (HTTP %d): %s; try again later", Title(e.Provider), e.Host, e.Status, e.Message)
	}
	if e.Status == 0 {
		return fmt.Sprintf("%s at %s gave an answer gitaccess cannot read: %s", Title(e.Provider), e.Host, e.Message)
	}
	return fmt.Sprintf("%s at %s answered HTTP %d: %s", Title(e.Provider), e.Host, e.Status, e.Message)
}

// InvalidInputError is a value a user gave that cannot be right.
type InvalidInputError struct {
	Field  string
	Reason string
}

func (e *InvalidInputError) Error() string { return e.Field + ": " + e.Reason }

// Title is the provider's name as users write it.
func Title(p Provider) string {
	switch p {
	case GitHub:
		return "GitHub"
	case GitLab:
		return "GitLab"
	case Bitbucket:
		return "Bitbucket"
	case Gitea:
		return "Gitea"
	}
	return string(p)
}

// RetryAfter reads an HTTP Retry-After header (RFC 9110: delay seconds or
// an HTTP date) as the instant a throttled client may retry; zero when the
// header is absent or unreadable.
func RetryAfter(h http.Header, now time.Time) time.Time {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return now.Add(time.Duration(secs) * time.Second).UTC()
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.UTC()
	}
	return time.Time{}
}

// PermissionError means the provider refused an action because the token
// lacks a permission. Needs names it in the provider's words, so the user
// fixes the token instead of retrying.
type PermissionError struct {
	Provider Provider
	Host     string
	// Action is what was refused, e.g. "manage the webhooks of".
	Action string
	// Repo is the repository's or project's full name.
	Repo   string
	Status int
	// Needs is the missing permission: "admin:repo_hook", "Webhooks: Read
	// and write", "api", "Maintainer role"...
	Needs string
	// Fix says what is missing and what to do, in the provider's terms.
	Fix string
	// Message is the provider's own.
	Message string
}

func (e *PermissionError) Error() string {
	msg := fmt.Sprintf("%s at %s refused to %s %s (HTTP %d): %s", Title(e.Provider), e.Host, e.Action, e.Repo, e.Status, e.Fix)
	if e.Message != "" {
		msg += " (" + Title(e.Provider) + " said: " + e.Message + ")"
	}
	return msg
}

// MissingPermissions lists what the token lacks, in the provider's words.
func (e *PermissionError) MissingPermissions() []string { return []string{e.Needs} }
