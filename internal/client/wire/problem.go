package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/forge"
)

// ProblemTypePrefix starts every problem type gitaccess defines.
const ProblemTypePrefix = "urn:gitaccess:problem:"

// Problem slugs callers branch on (the part of Type after ProblemTypePrefix).
const (
	SlugInvalidInput         = "invalid-input"
	SlugNotFound             = "not-found"
	SlugConflict             = "conflict"
	SlugForbidden            = "forbidden"
	SlugUnauthenticated      = "unauthenticated"
	SlugMissingPermissions   = "missing-permissions"
	SlugConfirmationRequired = "confirmation-required"
	SlugRateLimited          = "rate-limited"
	SlugProviderUnreachable  = "provider-unreachable"
)

// Problem is an RFC 9457 problem answer from the server, or a stand-in for a
// failed answer that was not one (a proxy's HTML error page).
type Problem struct {
	Type     string
	Title    string
	Status   int
	Detail   string
	Instance string
	// Missing lists missing permissions in the provider's words
	// (missing-permissions).
	Missing []string
	// Report is the inspection behind a refusal (missing-permissions).
	Report *forge.Report
	// Reset is when a rate-limited provider accepts calls again (zero when
	// unknown).
	Reset time.Time
	// Host and Reason say which provider could not be reached and why
	// (provider-unreachable).
	Host   string
	Reason string
	// Errors lists what was wrong with each invalid field (invalid-input).
	Errors []FieldError
}

// FieldError is one invalid input. The server's echo of the offending value
// is deliberately not decoded: it may be a secret.
type FieldError struct {
	Location string `json:"location"`
	Message  string `json:"message"`
}

// Slug is the problem's type without ProblemTypePrefix, or "" for a problem
// gitaccess did not define.
func (p *Problem) Slug() string {
	s, ok := strings.CutPrefix(p.Type, ProblemTypePrefix)
	if !ok {
		return ""
	}
	return s
}

// Error reads as a message for a person: the detail first, then one line per
// invalid field or missing permission.
func (p *Problem) Error() string {
	var b strings.Builder
	switch {
	case p.Detail != "":
		b.WriteString(p.Detail)
	case p.Title != "":
		b.WriteString(p.Title)
	default:
		fmt.Fprintf(&b, "server answered HTTP %d %s", p.Status, http.StatusText(p.Status))
	}
	if p.Host != "" && p.Reason != "" && !strings.Contains(p.Detail, p.Reason) {
		fmt.Fprintf(&b, "\n  %s: %s", p.Host, p.Reason)
	}
	if !p.Reset.IsZero() {
		fmt.Fprintf(&b, "\n  try again after %s", p.Reset.UTC().Format(time.RFC3339))
	}
	for _, e := range p.Errors {
		if e.Location != "" {
			fmt.Fprintf(&b, "\n  %s: %s", e.Location, e.Message)
		} else {
			fmt.Fprintf(&b, "\n  %s", e.Message)
		}
	}
	for _, m := range p.Missing {
		fmt.Fprintf(&b, "\n  missing: %s", m)
	}
	return b.String()
}

// ProblemSlug returns the slug of the *Problem in err's chain, or "".
func ProblemSlug(err error) string {
	var p *Problem
	if errors.As(err, &p) {
		return p.Slug()
	}
	return ""
}

type problemWire struct {
	Type     string          `json:"type"`
	Title    string          `json:"title"`
	Status   int             `json:"status"`
	Detail   string          `json:"detail"`
	Instance string          `json:"instance"`
	Missing  []string        `json:"missing"`
	Report   *forge.Report   `json:"report"`
	Reset    json.RawMessage `json:"reset"`
	Host     string          `json:"host"`
	Reason   string          `json:"reason"`
	Errors   []FieldError    `json:"errors"`
}

// decodeProblem turns a failed answer into a *Problem. A body that is not a
// problem is not quoted back: it could be anything, including a reflection
// of what was sent.
func decodeProblem(status int, contentType string, body []byte) *Problem {
	fallback := &Problem{
		Type:   "about:blank",
		Title:  http.StatusText(status),
		Status: status,
		Detail: fmt.Sprintf("server answered HTTP %d %s", status, http.StatusText(status)),
	}
	if status == http.StatusUnauthorized {
		fallback.Detail = "the server did not accept the API key (HTTP 401)"
	}
	if !isJSON(contentType) {
		return fallback
	}
	var w problemWire
	if err := json.Unmarshal(body, &w); err != nil || (w.Type == "" && w.Title == "" && w.Detail == "") {
		return fallback
	}
	p := &Problem{
		Type: w.Type, Title: w.Title, Status: w.Status, Detail: w.Detail, Instance: w.Instance,
		Missing: w.Missing, Report: w.Report, Host: w.Host, Reason: w.Reason, Errors: w.Errors,
		Reset: parseReset(w.Reset),
	}
	if p.Status == 0 {
		p.Status = status
	}
	if p.Type == "" {
		p.Type = "about:blank"
	}
	return p
}

// parseReset accepts an RFC 3339 time or Unix seconds; anything else is
// treated as unknown rather than failing the whole problem.
func parseReset(raw json.RawMessage) time.Time {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t
		}
		return time.Time{}
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil && n > 0 {
		return time.Unix(n, 0).UTC()
	}
	return time.Time{}
}
