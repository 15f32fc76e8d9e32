package bitbucket

import (
	"context"
	"encoding/json"
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
	"github.com/gitaccess/gitaccess/internal/forge/restapi"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// client speaks to the few Bitbucket Cloud REST endpoints gitaccess needs,
// as one access token. It is cheap and lives for one operation, so it can
// count the requests that operation made (Requests).
type client struct {
	restapi.Client
	base *url.URL // https://api.bitbucket.org/2.0
	// pagelen is asked of every list; 100 is Bitbucket's usual maximum.
	pagelen int
}

// answer and statusError are the shared client's; tooLargeError is its
// *restapi.TooLargeError.
type (
	answer        = restapi.Answer
	statusError   = restapi.StatusError
	tooLargeError = restapi.TooLargeError
)

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
	return &client{
		Client: restapi.Client{HTTP: hc, Provider: forge.Bitbucket, Host: base.Host,
			// Access tokens are Bearer-only (Atlassian, "Using access tokens").
			Scheme: "Bearer", Token: token, Log: log, Now: now, ReadError: readError},
		base: base, pagelen: 100,
	}, nil
}

// providerError turns a refusal nobody branched on into the forge error.
func (c *client) providerError(err error) error { return c.ProviderError("", err) }

// endpoint joins escaped path segments and a query onto the API root.
func (c *client) endpoint(query url.Values, segments ...string) string {
	u := restapi.JoinPath(c.base.String(), segments...)
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return u
}

// do sends one JSON request and reads the whole 2xx answer (bounded by the
// egress policy). Refusals are sorted as restapi.Client.Send sorts them.
func (c *client) do(ctx context.Context, method, rawURL string, body io.Reader) (*answer, error) {
	return c.Do(ctx, method, rawURL, body)
}

// fetch GETs rawURL accepting any media type and reads at most limit bytes
// of a 2xx answer; a longer one is a *tooLargeError, never a truncation.
func (c *client) fetch(ctx context.Context, rawURL string, limit int64) (*answer, error) {
	return c.Fetch(ctx, http.MethodGet, rawURL, nil, "*/*", limit)
}

// readError reads a refusal: Bitbucket's message, and the scopes a 403
// says are missing.
func readError(raw []byte, status int) restapi.Refusal {
	return restapi.Refusal{Message: errorMessage(raw, status), Required: requiredScopes(raw)}
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
	if err := json.Unmarshal(a.Body, v); err != nil {
		return &forge.ProviderError{Provider: forge.Bitbucket, Host: c.Host, Message: fmt.Sprintf("%s is not the JSON Bitbucket documents: %v", what, err)}
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
			return nil, &forge.ProviderError{Provider: forge.Bitbucket, Host: c.Host, Message: what + ": the next-page link repeats a page already read"}
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
	return &forge.ProviderError{Provider: forge.Bitbucket, Host: c.Host,
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
