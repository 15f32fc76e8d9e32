package bitbucket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// maxErrorBody bounds how much of an error answer is read for its message.
const maxErrorBody = 64 << 10

// client speaks to the few Bitbucket Cloud REST endpoints gitaccess needs,
// as one access token. It is cheap and lives for one operation, so it can
// count the requests that operation made.
type client struct {
	http  *http.Client
	base  *url.URL // https://api.bitbucket.org/2.0
	host  string   // base.Host, for errors
	token secret.Value
	log   *slog.Logger
	now   func() time.Time
	// pagelen is asked of every list; 100 is Bitbucket's usual maximum.
	pagelen  int
	requests int
}

func newClient(policy egress.Policy, ep forge.Endpoint, token secret.Value, log *slog.Logger, now func() time.Time) (*client, error) {
	base, err := url.Parse(ep.APIURL)
	if err != nil {
		return nil, &forge.InvalidInputError{Field: "url", Reason: fmt.Sprintf("%q is not a URL: %v", ep.APIURL, err)}
	}
	if err := policy.CheckURL(ep.APIURL); err != nil {
		return nil, err
	}
	hc, err := policy.Client(ep.CABundle)
	if err != nil {
		return nil, &forge.InvalidInputError{Field: "ca_bundle", Reason: err.Error()}
	}
	return &client{http: hc, base: base, host: base.Host, token: token, log: log, now: now, pagelen: 100}, nil
}

// answer is a successful (2xx) response, body already read.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// statusError is a refusal callers may branch on (403, 404, other 4xx): its
// headers still say who the token is and what it holds.
type statusError struct {
	Status  int
	Message string
	Header  http.Header
	// Required lists the scopes a 403 says are missing; empty when the
	// refusal is about the resource, not the token's scopes.
	Required []string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("Bitbucket answered HTTP %d: %s", e.Status, e.Message)
}

// providerError turns a refusal nobody branched on into the forge error.
func (c *client) providerError(err error) error {
	var se *statusError
	if errors.As(err, &se) {
		return &forge.ProviderError{Provider: forge.Bitbucket, Host: c.host, Status: se.Status, Message: se.Message}
	}
	return err
}

// endpoint joins escaped path segments and a query onto the API root.
func (c *client) endpoint(query url.Values, segments ...string) string {
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(c.base.String(), "/"))
	for _, s := range segments {
		b.WriteString("/")
		b.WriteString(url.PathEscape(s))
	}
	if len(query) > 0 {
		b.WriteString("?")
		b.WriteString(query.Encode())
	}
	return b.String()
}

// do sends one JSON request and reads the whole 2xx answer (bounded by the
// egress policy). Refusals are sorted as send sorts them.
func (c *client) do(ctx context.Context, method, rawURL string, body io.Reader) (*answer, error) {
	resp, err := c.send(ctx, method, rawURL, body, "application/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, egress.Classify(c.host, err)
	}
	return &answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// tooLargeError means a 2xx body was longer than the caller's limit; the
// caller names what was too large.
type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string { return fmt.Sprintf("answer larger than %d bytes", e.limit) }

// fetch GETs rawURL accepting any media type and reads at most limit bytes
// of a 2xx answer; a longer one is a *tooLargeError, never a truncation.
func (c *client) fetch(ctx context.Context, rawURL string, limit int64) (*answer, error) {
	resp, err := c.send(ctx, http.MethodGet, rawURL, nil, "*/*")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > limit {
		return nil, &tooLargeError{limit: limit}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, egress.Classify(c.host, err)
	}
	if int64(len(b)) > limit {
		return nil, &tooLargeError{limit: limit}
	}
	return &answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// send makes one request and returns a 2xx response for the caller to read
// and close. Everything else is sorted: transport failures through
// egress.Classify, 401 into *forge.AuthError, 429 into
// *forge.RateLimitedError, 5xx into *forge.ProviderError, other non-2xx into
// *statusError.
func (c *client) send(ctx context.Context, method, rawURL string, body io.Reader, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, fmt.Errorf("bitbucket: building %s %s: %w", method, rawURL, err)
	}
	req.Header.Set("Accept", accept)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// Access tokens are Bearer-only (Atlassian, "Using access tokens").
	req.Header.Set("Authorization", "Bearer "+c.token.Reveal())

	c.requests++
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.log.DebugContext(ctx, "bitbucket request failed", "method", method, "path", req.URL.Path, "error", err)
		return nil, egress.Classify(c.host, err)
	}
	c.log.DebugContext(ctx, "bitbucket request", "method", method, "path", req.URL.Path,
		"status", resp.StatusCode, "duration", time.Since(start))

	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := c.token.Redact(errorMessage(raw, resp.StatusCode))
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, &forge.AuthError{Provider: forge.Bitbucket, Host: c.host, Status: resp.StatusCode, Message: msg}
	case resp.StatusCode == http.StatusTooManyRequests:
		// Bitbucket counts a rolling hour and documents no reset header,
		// so the reset is often unknown (zero).
		return nil, &forge.RateLimitedError{Provider: forge.Bitbucket, Host: c.host, Reset: forge.RetryAfter(resp.Header, c.now()), Message: msg}
	case resp.StatusCode >= 500:
		return nil, &forge.ProviderError{Provider: forge.Bitbucket, Host: c.host, Status: resp.StatusCode, Message: msg}
	}
	return nil, &statusError{Status: resp.StatusCode, Message: msg, Header: resp.Header, Required: requiredScopes(raw)}
}

// errorMessage reads Bitbucket's error envelope,
// {"type":"error","error":{"message":...,"detail":...}}, where detail is a
// string or, for missing scopes, {"granted":[...],"required":[...]}.
func errorMessage(raw []byte, status int) string {
	var env struct {
		Error struct {
			Message string          `json:"message"`
			Detail  json.RawMessage `json:"detail"`
		} `json:"error"`
	}
	msg := ""
	if json.Unmarshal(raw, &env) == nil {
		msg = strings.TrimSpace(env.Error.Message)
		var s string
		var scopes struct {
			Required []string `json:"required"`
		}
		switch {
		case json.Unmarshal(env.Error.Detail, &s) == nil && strings.TrimSpace(s) != "":
			msg += " " + strings.TrimSpace(s)
		case json.Unmarshal(env.Error.Detail, &scopes) == nil && len(scopes.Required) > 0:
			msg += " (required: " + strings.Join(scopes.Required, ", ") + ")"
		}
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	const limit = 300
	if len(msg) > limit {
		msg = msg[:limit] + "…"
	}
	return strings.TrimSpace(msg)
}

// requiredScopes reads error.detail.required, which Bitbucket sends only
// when the token lacks a scope.
func requiredScopes(raw []byte) []string {
	var env struct {
		Error struct {
			Detail json.RawMessage `json:"detail"`
		} `json:"error"`
	}
	var scopes struct {
		Required []string `json:"required"`
	}
	if json.Unmarshal(raw, &env) != nil || json.Unmarshal(env.Error.Detail, &scopes) != nil {
		return nil
	}
	return scopes.Required
}

// decode unmarshals a 2xx body, naming the endpoint when it cannot.
func (c *client) decode(a *answer, what string, v any) error {
	if err := json.Unmarshal(a.body, v); err != nil {
		return &forge.ProviderError{Provider: forge.Bitbucket, Host: c.host, Message: fmt.Sprintf("%s is not the JSON Bitbucket documents: %v", what, err)}
	}
	return nil
}

// page is Bitbucket's paginated list envelope.
type page[T any] struct {
	Pagelen int    `json:"pagelen"`
	Values  []T    `json:"values"`
	Page    int    `json:"page"`
	Size    int    `json:"size"`
	Next    string `json:"next"`
}

// list GETs a paginated collection with the query extra (may be nil),
// following next links until limit values (0: no limit) or the last page.
// Bitbucket's next link is absolute and carries every query parameter
// (API reference, "Pagination"), so it is followed as given once checkNext
// has kept it under the API root.
func list[T any](ctx context.Context, c *client, what string, limit int, extra url.Values, segments ...string) ([]T, error) {
	q := url.Values{"pagelen": {strconv.Itoa(c.pagelen)}}
	for k, v := range extra {
		q[k] = v
	}
	next := c.endpoint(q, segments...)
	var out []T
	seen := map[string]bool{}
	for next != "" {
		if err := c.checkNext(next); err != nil {
			return nil, err
		}
		if seen[next] {
			return nil, &forge.ProviderError{Provider: forge.Bitbucket, Host: c.host, Message: what + ": the next-page link repeats a page already read"}
		}
		seen[next] = true
		a, err := c.do(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, err
		}
		var p page[T]
		if err := c.decode(a, what, &p); err != nil {
			return nil, err
		}
		out = append(out, p.Values...)
		if limit > 0 && len(out) >= limit {
			return out[:limit], nil
		}
		next = p.Next
	}
	return out, nil
}

// checkNext refuses a next link that leaves the API root: following it
// would hand the token to whatever host the answer named.
func (c *client) checkNext(raw string) error {
	u, err := url.Parse(raw)
	if err == nil && u.Scheme == c.base.Scheme && u.Host == c.base.Host &&
		strings.HasPrefix(u.Path, strings.TrimSuffix(c.base.Path, "/")+"/") && u.User == nil {
		return nil
	}
	return &forge.ProviderError{Provider: forge.Bitbucket, Host: c.host,
		Message: "a next-page link points outside " + c.base.String() + "; gitaccess did not follow it"}
}

// repository is the part of a Bitbucket repository gitaccess reads.
type repository struct {
	Slug      string `json:"slug"`
	Name      string `json:"name"`
	FullName  string `json:"full_name"`
	IsPrivate bool   `json:"is_private"`
	Workspace struct {
		Slug string `json:"slug"`
		Name string `json:"name"`
	} `json:"workspace"`
	Project struct {
		Key  string `json:"key"`
		Name string `json:"name"`
	} `json:"project"`
	MainBranch *struct {
		Name string `json:"name"`
	} `json:"mainbranch"`
	Links struct {
		HTML struct {
			Href string `json:"href"`
		} `json:"html"`
		Clone []struct {
			Name string `json:"name"`
			Href string `json:"href"`
		} `json:"clone"`
	} `json:"links"`
}

// branch is the part of a Bitbucket branch gitaccess reads.
type branch struct {
	Name   string `json:"name"`
	Target struct {
		Hash string `json:"hash"`
		Date string `json:"date"`
	} `json:"target"`
}

// repositories lists the workspace's repositories this token can see.
func (c *client) repositories(ctx context.Context, workspace string, limit int) ([]repository, error) {
	return c.repositoriesWhere(ctx, workspace, "", limit)
}

// repositoriesWhere lists them narrowed by a BBQL expression (empty: all).
func (c *client) repositoriesWhere(ctx context.Context, workspace, bbql string, limit int) ([]repository, error) {
	var q url.Values
	if bbql != "" {
		q = url.Values{"q": {bbql}}
	}
	return list[repository](ctx, c, "the repository list", limit, q, "repositories", workspace)
}

// branches lists a repository's branches.
func (c *client) branches(ctx context.Context, workspace, slug string, limit int) ([]branch, error) {
	return list[branch](ctx, c, "the branch list", limit, nil, "repositories", workspace, slug, "refs", "branches")
}
