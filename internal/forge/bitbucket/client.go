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

// do sends one request and sorts the outcome: transport failures through
// egress.Classify, 401 into *forge.AuthError, 429 into
// *forge.RateLimitedError, 5xx into *forge.ProviderError, other non-2xx into
// *statusError.
func (c *client) do(ctx context.Context, method, rawURL string, body io.Reader) (*answer, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, fmt.Errorf("bitbucket: building %s %s: %w", method, rawURL, err)
	}
	req.Header.Set("Accept", "application/json")
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
	defer resp.Body.Close()
	c.log.DebugContext(ctx, "bitbucket request", "method", method, "path", req.URL.Path,
		"status", resp.StatusCode, "duration", time.Since(start))

	if resp.StatusCode/100 == 2 {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, egress.Classify(c.host, err)
		}
		return &answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
	}

	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := c.token.Redact(errorMessage(raw, resp.StatusCode))
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, &forge.AuthError{Provider: forge.Bitbucket, Host: c.host, Status: resp.StatusCode, Message: msg}
	case resp.StatusCode == http.StatusTooManyRequests:
		return nil, &forge.RateLimitedError{Provider: forge.Bitbucket, Host: c.host, Reset: retryAfter(resp.Header, c.now()), Message: msg}
	case resp.StatusCode >= 500:
		return nil, &forge.ProviderError{Provider: forge.Bitbucket, Host: c.host, Status: resp.StatusCode, Message: msg}
	}
	return nil, &statusError{Status: resp.StatusCode, Message: msg, Header: resp.Header}
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

// retryAfter reads Retry-After (seconds or an HTTP date). Bitbucket counts
// a rolling hour and documents no reset header, so this is often zero.
func retryAfter(h http.Header, now time.Time) time.Time {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return time.Time{}
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return now.Add(time.Duration(secs) * time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return t
	}
	return time.Time{}
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

// list GETs a paginated collection, following next links until limit
// values (0: no limit) or the last page.
func list[T any](ctx context.Context, c *client, what string, limit int, segments ...string) ([]T, error) {
	q := url.Values{"pagelen": {strconv.Itoa(c.pagelen)}}
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
	return list[repository](ctx, c, "the repository list", limit, "repositories", workspace)
}

// branches lists a repository's branches.
func (c *client) branches(ctx context.Context, workspace, slug string, limit int) ([]branch, error) {
	return list[branch](ctx, c, "the branch list", limit, "repositories", workspace, slug, "refs", "branches")
}
