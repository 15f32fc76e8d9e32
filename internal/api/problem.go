package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
)

// ProblemTypePrefix starts every problem type URI; the slug after it is
// stable, so clients branch on it rather than on status codes or wording.
const ProblemTypePrefix = "urn:gitaccess:problem:"

// Problem slugs.
const (
	slugInvalidInput         = "invalid-input"
	slugNotFound             = "not-found"
	slugConflict             = "conflict"
	slugForbidden            = "forbidden"
	slugUnauthenticated      = "unauthenticated"
	slugMissingPermissions   = "missing-permissions"
	slugConfirmationRequired = "confirmation-required"
	slugBadCredentials       = "bad-credentials"
	slugRateLimited          = "rate-limited"
	slugProviderUnreachable  = "provider-unreachable"
	slugProviderError        = "provider-error"
	slugInternal             = "internal"
	slugNotReady             = "not-ready"
	slugRequestTooLarge      = "request-too-large"
	slugMethodNotAllowed     = "method-not-allowed"
	slugNotAcceptable        = "not-acceptable"
	slugUnsupportedMedia     = "unsupported-media-type"
	slugTimeout              = "request-timeout"
	slugBadSignature         = "bad-signature"
)

// Problem is an RFC 9457 problem detail, the body of every error response.
// Members past detail appear only for the problem types that use them.
type Problem struct {
	Type   string `json:"type" doc:"urn:gitaccess:problem:<slug>; stable, branch on it."`
	Title  string `json:"title" doc:"Short summary of the problem type."`
	Status int    `json:"status" doc:"HTTP status code."`
	Detail string `json:"detail" doc:"What went wrong in this occurrence and what to do about it."`
	// RequestID is also logged with the request, so an operator can find
	// the cause of an internal error.
	RequestID string `json:"request_id,omitempty" doc:"Identifies this request in the server log."`

	Errors  []FieldError  `json:"errors,omitempty" doc:"invalid-input: each field that is wrong."`
	Missing []string      `json:"missing,omitempty" doc:"missing-permissions: permissions the token lacks, in the provider's words."`
	Report  *forge.Report `json:"report,omitempty" doc:"missing-permissions: the inspection behind the refusal."`
	Reset   string        `json:"reset,omitempty" format:"date-time" doc:"rate-limited: when the provider lifts the limit (RFC 3339)."`
	Host    string        `json:"host,omitempty" doc:"Provider host, for provider problems."`
	Reason  string        `json:"reason,omitempty" doc:"provider-unreachable: why no answer came."`
	// ProviderStatus is absent when the provider's body, not its status,
	// was the problem.
	ProviderStatus int `json:"provider_status,omitempty" doc:"provider-error: the provider's HTTP status."`

	headers http.Header
}

// FieldError names one wrong input. It never echoes the value, which may be
// a token.
type FieldError struct {
	Location string `json:"location,omitempty" doc:"Where, e.g. body.name or query.limit."`
	Message  string `json:"message" doc:"What is wrong with it."`
}

func (p *Problem) Error() string { return p.Detail }

// GetStatus implements huma.StatusError.
func (p *Problem) GetStatus() int { return p.Status }

// GetHeaders implements huma.HeadersError (Retry-After, WWW-Authenticate).
func (p *Problem) GetHeaders() http.Header { return p.headers }

// ContentType implements huma.ContentTypeFilter.
func (p *Problem) ContentType(string) string { return "application/problem+json" }

func newProblem(status int, slug, detail string) *Problem {
	p := &Problem{Type: ProblemTypePrefix + slug, Title: problemTitle(slug), Status: status, Detail: detail}
	if status == http.StatusUnauthorized {
		p.headers = http.Header{"Www-Authenticate": {`Bearer realm="gitaccess"`}}
	}
	return p
}

func problemTitle(slug string) string {
	switch slug {
	case slugInvalidInput:
		return "Invalid input"
	case slugNotFound:
		return "Not found"
	case slugConflict:
		return "Conflict"
	case slugForbidden:
		return "Forbidden"
	case slugUnauthenticated:
		return "Authentication required"
	case slugMissingPermissions:
		return "Token lacks permissions"
	case slugConfirmationRequired:
		return "Confirmation required"
	case slugBadCredentials:
		return "Provider refused the token"
	case slugRateLimited:
		return "Provider rate limit"
	case slugProviderUnreachable:
		return "Provider unreachable"
	case slugProviderError:
		return "Provider error"
	case slugNotReady:
		return "Not ready"
	case slugRequestTooLarge:
		return "Request too large"
	case slugMethodNotAllowed:
		return "Method not allowed"
	case slugNotAcceptable:
		return "Not acceptable"
	case slugUnsupportedMedia:
		return "Unsupported media type"
	case slugTimeout:
		return "Request timeout"
	case slugBadSignature:
		return "Signature not valid"
	case slugInternal:
		return "Internal error"
	}
	return slug
}

// problemSlugs lists the problem types each status can carry, for the
// OpenAPI document.
func problemSlugs(status int) []string {
	switch status {
	case http.StatusBadRequest:
		return []string{slugInvalidInput, slugConfirmationRequired}
	case http.StatusUnauthorized:
		return []string{slugUnauthenticated}
	case http.StatusForbidden:
		return []string{slugForbidden}
	case http.StatusNotFound:
		return []string{slugNotFound}
	case http.StatusConflict:
		return []string{slugConflict}
	case http.StatusRequestEntityTooLarge:
		return []string{slugRequestTooLarge}
	case http.StatusUnprocessableEntity:
		return []string{slugMissingPermissions, slugBadCredentials}
	case http.StatusInternalServerError:
		return []string{slugInternal}
	case http.StatusBadGateway:
		return []string{slugProviderUnreachable, slugProviderError}
	case http.StatusServiceUnavailable:
		return []string{slugRateLimited, slugNotReady}
	}
	return nil
}

func internalProblem(requestID string) *Problem {
	detail := "gitaccess failed to handle this request. Try again; if it persists, ask the operator to look at the server log"
	if requestID != "" {
		detail += " for request id " + requestID
	}
	p := newProblem(http.StatusInternalServerError, slugInternal, detail+".")
	p.RequestID = requestID
	return p
}

// ProblemFor maps a use-case or provider error to a problem. ok is false
// when err is not one a user can act on: the caller logs it and answers
// internalProblem, so its text never reaches the client. The web console
// shows the same words, so a user reads one explanation wherever they are.
func ProblemFor(err error, now time.Time) (p *Problem, ok bool) {
	var ae *access.Error
	if errors.As(err, &ae) && ae.Kind != "" {
		if p := accessProblem(ae); p != nil {
			return p, true
		}
	}
	var (
		authErr  *forge.AuthError
		rateErr  *forge.RateLimitedError
		unreach  *forge.UnreachableError
		provErr  *forge.ProviderError
		inputErr *forge.InvalidInputError
		insecure *egress.InsecureURLError
		blocked  *egress.BlockedAddressError
		tooLarge *egress.ResponseTooLargeError
		permErr  *forge.PermissionError
	)
	switch {
	case errors.As(err, &permErr):
		p := newProblem(http.StatusUnprocessableEntity, slugMissingPermissions, permErr.Error())
		p.Host, p.Missing = permErr.Host, permErr.MissingPermissions()
		return p, true
	case errors.As(err, &authErr):
		p := newProblem(http.StatusUnprocessableEntity, slugBadCredentials, authErr.Error())
		p.Host = authErr.Host
		return p, true
	case errors.As(err, &rateErr):
		p := newProblem(http.StatusServiceUnavailable, slugRateLimited, rateErr.Error())
		p.Host = rateErr.Host
		p.headers = http.Header{"Retry-After": {retryAfter(rateErr.Reset, now)}}
		if !rateErr.Reset.IsZero() {
			p.Reset = rateErr.Reset.UTC().Format(time.RFC3339)
		}
		return p, true
	case errors.As(err, &unreach):
		p := newProblem(http.StatusBadGateway, slugProviderUnreachable, unreach.Error()+"; check the URL, the network path and any custom CA bundle.")
		p.Host, p.Reason = unreach.Host, unreach.Reason
		return p, true
	case errors.As(err, &provErr):
		p := newProblem(http.StatusBadGateway, slugProviderError, provErr.Error())
		p.Host, p.ProviderStatus = provErr.Host, provErr.Status
		return p, true
	case errors.As(err, &tooLarge):
		return newProblem(http.StatusBadGateway, slugProviderError, "The provider sent a larger answer than gitaccess accepts ("+tooLarge.Error()+"); check that the URL points at the provider's API."), true
	case errors.As(err, &inputErr):
		p := newProblem(http.StatusBadRequest, slugInvalidInput, inputErr.Error())
		p.Errors = []FieldError{{Location: "body." + inputErr.Field, Message: inputErr.Reason}}
		return p, true
	case errors.As(err, &insecure):
		// The URL is echoed without any userinfo it may carry.
		return newProblem(http.StatusBadRequest, slugInvalidInput, redactURL(insecure.URL)+" is plain http; use https, or ask the operator to start the server with --allow-insecure-http."), true
	case errors.As(err, &blocked):
		return newProblem(http.StatusBadRequest, slugInvalidInput, blocked.Error()), true
	}
	return nil, false
}

func accessProblem(e *access.Error) *Problem {
	detail := e.Error()
	switch e.Kind {
	case access.KindInvalid:
		return newProblem(http.StatusBadRequest, slugInvalidInput, detail)
	case access.KindNotFound:
		return newProblem(http.StatusNotFound, slugNotFound, detail)
	case access.KindConflict:
		return newProblem(http.StatusConflict, slugConflict, detail)
	case access.KindForbidden:
		return newProblem(http.StatusForbidden, slugForbidden, detail)
	case access.KindUnauthenticated:
		return newProblem(http.StatusUnauthorized, slugUnauthenticated, detail)
	case access.KindConfirmationRequired:
		return newProblem(http.StatusBadRequest, slugConfirmationRequired, detail)
	case access.KindMissingPermissions:
		p := newProblem(http.StatusUnprocessableEntity, slugMissingPermissions, detail)
		p.Missing, p.Report = e.Missing, e.Report
		return p
	}
	return nil
}

// retryAfter is whole seconds until reset, at least one; a minute when the
// provider did not say.
func retryAfter(reset, now time.Time) string {
	if reset.IsZero() {
		return "60"
	}
	s := math.Ceil(reset.Sub(now).Seconds())
	return strconv.Itoa(int(max(s, 1)))
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the URL"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	return u.String()
}

// fail turns a handler's error into the problem huma writes. Errors nobody
// can act on are logged here with the request id and replaced.
func (h *handlers) fail(ctx context.Context, err error) *Problem {
	ri := infoFrom(ctx)
	p, ok := ProblemFor(err, h.now())
	if !ok {
		h.log.ErrorContext(ctx, "request failed", "request_id", ri.id, "error", err)
		return internalProblem(ri.id)
	}
	p.RequestID = ri.id
	return p
}

// writeProblem writes p outside huma's response path (middleware, mux
// fallbacks, panics).
func writeProblem(w http.ResponseWriter, p *Problem) {
	for k, vs := range p.headers {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// Huma's error constructors are process-wide hooks, not per-API options;
// replacing them is how huma's own errors (validation, body limits, content
// negotiation) come out as our problems. They are set once here, before any
// goroutine can read them, and are pure functions of their arguments.
func init() {
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		return humaProblem(status, msg, errs...)
	}
	huma.NewErrorWithContext = func(ctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
		p := humaProblem(status, msg, errs...)
		ri := infoFrom(ctx.Context())
		if status >= 500 {
			ri.log.ErrorContext(ctx.Context(), "request failed", "request_id", ri.id, "error", errors.Join(append([]error{errors.New(msg)}, errs...)...))
			return internalProblem(ri.id)
		}
		p.RequestID = ri.id
		return p
	}
}

// humaProblem converts one of huma's errors. Huma reports validation
// failures as 422; here they are 400 invalid-input, so 422 stays reserved for
// what a provider said about a token.
func humaProblem(status int, msg string, errs ...error) *Problem {
	if status == 0 {
		// Huma asks for a zero-value error to document the schema.
		return &Problem{}
	}
	var p *Problem
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		p = newProblem(http.StatusBadRequest, slugInvalidInput, "The request is not valid: correct the fields listed in errors and send it again.")
		for _, err := range errs {
			if err == nil {
				continue
			}
			var d huma.ErrorDetailer
			if errors.As(err, &d) {
				ed := d.ErrorDetail()
				p.Errors = append(p.Errors, FieldError{Location: ed.Location, Message: ed.Message})
				continue
			}
			p.Errors = append(p.Errors, FieldError{Message: err.Error()})
		}
		if len(p.Errors) == 0 && msg != "" {
			p.Errors = []FieldError{{Message: msg}}
		}
	case http.StatusRequestEntityTooLarge:
		p = newProblem(status, slugRequestTooLarge, fmt.Sprintf("The request body is larger than %d bytes; send a smaller one.", MaxBodyBytes))
	case http.StatusRequestTimeout:
		p = newProblem(status, slugTimeout, "The request body did not arrive in time; send it again.")
	case http.StatusNotAcceptable:
		p = newProblem(status, slugNotAcceptable, "gitaccess answers in JSON: accept application/json or application/problem+json.")
	case http.StatusUnsupportedMediaType:
		p = newProblem(status, slugUnsupportedMedia, "Send the request body as application/json.")
	case http.StatusUnauthorized:
		p = newProblem(status, slugUnauthenticated, msg)
	case http.StatusForbidden:
		p = newProblem(status, slugForbidden, msg)
	case http.StatusNotFound:
		p = newProblem(status, slugNotFound, msg)
	case http.StatusConflict:
		p = newProblem(status, slugConflict, msg)
	default:
		if status >= 500 {
			return internalProblem("")
		}
		p = newProblem(status, "http-"+strconv.Itoa(status), msg)
	}
	return p
}

// describeProblems keeps only the error responses the route table declares
// and names the problem types each can carry.
func describeProblems(doc *huma.OpenAPI) {
	for _, item := range doc.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op == nil {
				continue
			}
			declared, _ := op.Metadata[metaErrors].([]int)
			for code, resp := range op.Responses {
				status, err := strconv.Atoi(code)
				if err != nil || status < 400 {
					continue
				}
				if !slices.Contains(declared, status) {
					delete(op.Responses, code)
					continue
				}
				slugs := problemSlugs(status)
				if over, ok := op.Metadata[metaSlugs].(map[int][]string); ok && over[status] != nil {
					slugs = over[status]
				}
				if len(slugs) > 0 {
					resp.Description = http.StatusText(status) + ": " + ProblemTypePrefix + strings.Join(slugs, ", "+ProblemTypePrefix)
				}
				switch status {
				case http.StatusUnauthorized:
					if len(op.Security) == 0 {
						continue // a signature, not an API key, was refused
					}
					resp.Headers = map[string]*huma.Param{"WWW-Authenticate": {Description: "Bearer: send an API key.", Schema: &huma.Schema{Type: huma.TypeString}}}
				case http.StatusServiceUnavailable:
					resp.Headers = map[string]*huma.Param{"Retry-After": {Description: "Seconds until it is worth trying again.", Schema: &huma.Schema{Type: huma.TypeInteger}}}
				}
			}
		}
	}
}
