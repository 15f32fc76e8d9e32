// Package gitlab is gitaccess's adapter for GitLab (gitlab.com and
// self-managed instances, relative URL roots included), over GitLab's own Go
// client. It tells what a token is and what it may do in GitLab's words, at a
// cost of two API requests for a personal token and three for a group or
// project token.
package gitlab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// Forge talks to GitLab under an egress policy.
type Forge struct {
	policy egress.Policy
	logger *slog.Logger
	now    func() time.Time
	wrap   forge.WrapTransport
}

// WithTransport installs w on every client the adapter builds (the
// server's rate-limit tracker). Call it before the adapter is used.
func (f *Forge) WithTransport(w forge.WrapTransport) *Forge {
	f.wrap = w
	return f
}

var _ forge.Forge = (*Forge)(nil)

// New returns the GitLab adapter. Every request it makes goes through a
// client built by policy.
func New(policy egress.Policy, logger *slog.Logger) *Forge {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Forge{policy: policy, logger: logger, now: time.Now}
}

// Provider is forge.GitLab.
func (f *Forge) Provider() forge.Provider { return forge.GitLab }

// privateToken hands the token to GitLab's client only as it writes the
// PRIVATE-TOKEN header, so the value never sits in a string elsewhere.
type privateToken struct{ v secret.Value }

func (privateToken) Init(context.Context, *gl.Client) error { return nil }

func (t privateToken) Header(context.Context) (string, string, error) {
	return "PRIVATE-TOKEN", t.v.Reveal(), nil
}

// unlimited replaces the client's own rate limiter, which would otherwise
// size itself from the first answer's headers; gitaccess reports GitLab's
// limits instead of waiting on them.
type unlimited struct{}

func (unlimited) Wait(ctx context.Context) error { return ctx.Err() }

// client builds a GitLab client for one credential. Retries are off: a test
// of a token must cost a known number of requests and surface a 429 or 5xx
// instead of waiting it out.
func (f *Forge) client(hc *http.Client, apiURL string, token secret.Value) (*gl.Client, error) {
	opts := []gl.ClientOptionFunc{
		gl.WithURLWarningLogger(f.logger),
		gl.WithHTTPClient(hc),
		gl.WithBaseURL(apiURL),
		gl.WithoutRetries(),
		gl.WithCustomLimiter(unlimited{}),
		gl.WithInterceptor(keepNotFound),
	}
	if f.policy.UserAgent != "" {
		opts = append(opts, gl.WithUserAgent(f.policy.UserAgent))
	}
	return gl.NewAuthSourceClient(privateToken{token}, opts...)
}

// connect builds the client for one credential (gitlab.com when the
// endpoint is unset) and returns the host its errors name. It refuses an
// empty token and an API URL the egress policy forbids before any request.
func (f *Forge) connect(cred forge.Credential) (*gl.Client, string, error) {
	if cred.Token.IsZero() {
		return nil, "", &forge.InvalidInputError{Field: "token", Reason: "the token is empty; paste the GitLab access token"}
	}
	ep := cred.Endpoint
	if ep.APIURL == "" {
		cloud, err := f.ResolveEndpoint("", "")
		if err != nil {
			return nil, "", err
		}
		ep.WebURL, ep.APIURL = cloud.WebURL, cloud.APIURL
	}
	u, err := url.Parse(ep.APIURL)
	if err != nil || u.Host == "" {
		return nil, "", &forge.InvalidInputError{Field: "url", Reason: "the stored GitLab API URL is not a URL; test the token again with GitLab's address"}
	}
	if err := f.policy.CheckURL(ep.APIURL); err != nil {
		return nil, "", fmt.Errorf("GitLab at %s: %w", u.Host, err)
	}
	hc, err := f.policy.Client(ep.CABundle)
	if err != nil {
		return nil, "", &forge.InvalidInputError{Field: "ca_file", Reason: err.Error()}
	}
	hc.Transport = f.wrap.Wrap(forge.GitLab, cred, hc.Transport)
	c, err := f.client(hc, ep.APIURL, cred.Token)
	if err != nil {
		return nil, "", fmt.Errorf("building the GitLab client for %s: %w", u.Host, err)
	}
	return c, u.Host, nil
}

// notFoundKey marks a context whose 404 bodies are kept. GitLab's client
// answers a 404 with gl.ErrNotFound and never reads the body
// (CheckResponse), yet the body holds GitLab's words, "404 Project Not
// Found" or "404 File Not Found", which tell what is missing.
type notFoundKey struct{}

// notFoundBody holds the last 404 body of requests under its context.
type notFoundBody struct{ body atomic.Pointer[[]byte] }

func (nf *notFoundBody) watch(ctx context.Context) context.Context {
	return context.WithValue(ctx, notFoundKey{}, nf)
}

// last is the last 404 body kept, nil if none.
func (nf *notFoundBody) last() []byte {
	if p := nf.body.Load(); p != nil {
		return *p
	}
	return nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// keepNotFound copies a 404's body (GitLab's are one short JSON line; at
// most 4 KiB is kept) into the request context's notFoundBody.
func keepNotFound(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		nf, ok := req.Context().Value(notFoundKey{}).(*notFoundBody)
		if err != nil || !ok || resp.StatusCode != http.StatusNotFound {
			return resp, err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
		nf.body.Store(&body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	})
}
