// Package github is gitaccess's adapter for GitHub: github.com, GitHub
// Enterprise Cloud with data residency (*.ghe.com) and GitHub Enterprise
// Server, over go-github. It tells what a token is and whether it can do
// what gitaccess needs, spending as few API requests as GitHub allows.
package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	gh "github.com/google/go-github/v92/github"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
)

const (
	cloudWebURL = "https://github.com"
	cloudAPIURL = "https://api.github.com"
)

// Forge is the GitHub adapter. It holds no per-token state, so one value
// serves every request.
type Forge struct {
	policy egress.Policy
	log    *slog.Logger
	wrap   forge.WrapTransport
}

var _ forge.Forge = (*Forge)(nil)

// New returns the GitHub adapter; every HTTP client it makes comes from
// policy. A nil logger discards.
func New(policy egress.Policy, logger *slog.Logger) *Forge {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Forge{policy: policy, log: logger}
}

// WithTransport installs w on every client the adapter builds (the
// server's rate-limit tracker). Call it before the adapter is used.
func (f *Forge) WithTransport(w forge.WrapTransport) *Forge {
	f.wrap = w
	return f
}

// Provider implements forge.Forge.
func (f *Forge) Provider() forge.Provider { return forge.GitHub }

// ResolveEndpoint accepts "" or https://github.com for GitHub.com,
// https://SUBDOMAIN.ghe.com for GitHub Enterprise Cloud with data
// residency (API at https://api.SUBDOMAIN.ghe.com), and https://HOST or
// https://HOST/api/v3 for GitHub Enterprise Server.
func (f *Forge) ResolveEndpoint(rawURL, workspace string) (forge.Endpoint, error) {
	if strings.TrimSpace(workspace) != "" {
		return forge.Endpoint{}, &forge.InvalidInputError{Field: "workspace", Reason: "GitHub has no workspaces; leave the workspace empty"}
	}
	raw := strings.TrimSpace(rawURL)
	if raw == "" {
		return forge.Endpoint{Provider: forge.GitHub, WebURL: cloudWebURL, APIURL: cloudAPIURL}, nil
	}
	const example = "give the server's address alone, e.g. https://github.example.com"
	u, err := url.Parse(raw)
	// The raw value is not echoed: it may carry a password.
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return forge.Endpoint{}, &forge.InvalidInputError{Field: "url", Reason: "not an http(s) URL; " + example}
	}
	if u.User != nil {
		return forge.Endpoint{}, &forge.InvalidInputError{Field: "url", Reason: "the URL carries credentials (user:password@); " + example + ", and give the token separately"}
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return forge.Endpoint{}, &forge.InvalidInputError{Field: "url", Reason: "the URL has a query or fragment; " + example}
	}
	host := strings.ToLower(u.Host)
	hostname := strings.ToLower(u.Hostname())
	p := strings.TrimSuffix(u.EscapedPath(), "/")

	var ep forge.Endpoint
	switch {
	case hostname == "github.com" || hostname == "www.github.com" || hostname == "api.github.com":
		if p != "" {
			return forge.Endpoint{}, &forge.InvalidInputError{Field: "url", Reason: "for GitHub.com give https://github.com without a path (or leave the URL empty)"}
		}
		ep = forge.Endpoint{WebURL: cloudWebURL, APIURL: cloudAPIURL}
	case strings.HasSuffix(hostname, ".ghe.com"):
		// GHE.com serves its API from an api. subdomain, without /api/v3.
		if p != "" {
			return forge.Endpoint{}, &forge.InvalidInputError{Field: "url", Reason: "for GHE.com give https://SUBDOMAIN.ghe.com without a path"}
		}
		web := strings.TrimPrefix(host, "api.")
		ep = forge.Endpoint{WebURL: "https://" + web, APIURL: "https://api." + web}
	default:
		if p != "" && p != "/api/v3" {
			return forge.Endpoint{}, &forge.InvalidInputError{Field: "url", Reason: "the URL has a path; " + example + " (or its API root, https://HOST/api/v3)"}
		}
		web := u.Scheme + "://" + host
		ep = forge.Endpoint{WebURL: web, APIURL: web + "/api/v3"}
	}
	ep.Provider = forge.GitHub
	if err := f.policy.CheckURL(ep.APIURL); err != nil {
		return forge.Endpoint{}, &forge.InvalidInputError{Field: "url", Reason: err.Error()}
	}
	return ep, nil
}

// Inspect implements forge.Forge. A classic or OAuth token costs one
// request (GET /user: identity, scopes, expiry and rate limit all come in
// its headers). Fine-grained and app tokens do not reveal their
// permissions, so Inspect proves what it can with harmless reads.
func (f *Forge) Inspect(ctx context.Context, cred forge.Credential, uses []forge.Use) (forge.Report, error) {
	if len(uses) == 0 {
		uses = forge.AllUses
	}
	for _, u := range uses {
		if !slices.Contains(forge.AllUses, u) {
			return forge.Report{}, &forge.InvalidInputError{Field: "use", Reason: fmt.Sprintf("unknown use %q; choose from clone, webhooks, pull-requests", u)}
		}
	}
	c, err := f.connect(cred)
	if err != nil {
		return forge.Report{}, err
	}
	in := &inspection{
		conn: c,
		uses: uses,
		report: forge.Report{
			Provider: forge.GitHub,
			Host:     c.host,
			Kind:     kindByPrefix(cred.Token.Reveal()),
			Scopes:   []string{},
		},
	}
	err = in.run(ctx)
	in.report.Requests = c.requests()
	if err != nil {
		f.log.DebugContext(ctx, "GitHub token inspection failed", "host", in.host, "requests", in.report.Requests, "error", err)
		return forge.Report{}, err
	}
	f.log.DebugContext(ctx, "GitHub token inspected", "host", in.host, "kind", in.report.Kind,
		"fingerprint", cred.Token.Fingerprint(), "requests", in.report.Requests)
	return in.report, nil
}

// conn is a go-github client for one credential, with what turning its
// failures into forge errors needs.
type conn struct {
	gh      *gh.Client
	host    string // web host, what users know the provider by
	apiHost string // where connections go
	token   secret.Value
	counter *countingTransport
}

// connect checks the credential and builds its client from the egress
// policy, so every GitHub call shares the same TLS, size and redirect rules.
func (f *Forge) connect(cred forge.Credential) (*conn, error) {
	ep := cred.Endpoint
	if err := checkToken(cred.Token); err != nil {
		return nil, err
	}
	if err := f.policy.CheckURL(ep.APIURL); err != nil {
		return nil, &forge.InvalidInputError{Field: "url", Reason: err.Error()}
	}
	hc, err := f.policy.Client(ep.CABundle)
	if err != nil {
		return nil, &forge.InvalidInputError{Field: "ca_bundle", Reason: err.Error()}
	}
	hc.Transport = f.wrap.Wrap(forge.GitHub, cred, hc.Transport)
	counter := &countingTransport{next: hc.Transport}
	hc.Transport = counter
	client, err := newClient(hc, ep, cred.Token, f.policy.UserAgent)
	if err != nil {
		return nil, &forge.InvalidInputError{Field: "url", Reason: err.Error()}
	}
	return &conn{gh: client, host: hostOf(ep.WebURL), apiHost: hostOf(ep.APIURL), token: cred.Token, counter: counter}, nil
}

// requests is how many requests went out on this connection.
func (c *conn) requests() int { return int(c.counter.n.Load()) }

func newClient(hc *http.Client, ep forge.Endpoint, token secret.Value, userAgent string) (*gh.Client, error) {
	api, err := url.Parse(ep.APIURL)
	if err != nil {
		return nil, err
	}
	// go-github's WithAuthToken would add the header to every round trip,
	// a redirect to another host included; this sends it to the API only.
	hc.Transport = &authTransport{next: hc.Transport, scheme: api.Scheme, host: api.Host, token: token}
	opts := []gh.ClientOptionsFunc{gh.WithHTTPClient(hc)}
	if userAgent != "" {
		opts = append(opts, gh.WithUserAgent(userAgent))
	}
	if ep.APIURL != cloudAPIURL {
		opts = append(opts, gh.WithEnterpriseURLs(ep.APIURL+"/", ep.WebURL+"/api/uploads/"))
	}
	return gh.NewClient(opts...)
}

// authTransport puts the token in the Authorization header of requests to
// the API host, and nowhere else.
type authTransport struct {
	next         http.RoundTripper
	scheme, host string
	token        secret.Value
}

func (t *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.EqualFold(r.URL.Host, t.host) || r.URL.Scheme != t.scheme {
		return t.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.token.Reveal())
	return t.next.RoundTrip(r)
}

// checkToken refuses values that cannot be a GitHub token before any of it
// reaches a header; the value itself is never quoted.
func checkToken(v secret.Value) error {
	if v.IsZero() {
		return &forge.InvalidInputError{Field: "token", Reason: "the token is empty; paste the token GitHub showed when it was created"}
	}
	for _, r := range v.Reveal() {
		if r <= ' ' || r >= 0x7f {
			return &forge.InvalidInputError{Field: "token", Reason: "the token contains spaces, line breaks or other characters no GitHub token has; paste it again without them"}
		}
	}
	return nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Host
}

// countingTransport counts the requests that actually go out.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(r)
}

// errorFor turns what go-github returned into gitaccess's typed errors.
// Messages are GitHub's, with the token redacted should a server ever
// echo it; doing ("listing repositories") names the caller's step when
// the caller cancelled it.
func (c *conn) errorFor(doing string, resp *gh.Response, err error) error {
	var (
		rl    *gh.RateLimitError
		abuse *gh.AbuseRateLimitError
		er    *gh.ErrorResponse
	)
	switch {
	case errors.As(err, &rl):
		return &forge.RateLimitedError{Provider: forge.GitHub, Host: c.host, Reset: rl.Rate.Reset.UTC(), Message: c.redact(rl.Message)}
	case errors.As(err, &abuse):
		e := &forge.RateLimitedError{Provider: forge.GitHub, Host: c.host, Message: c.redact(abuse.Message)}
		if abuse.RetryAfter != nil {
			e.Reset = time.Now().Add(*abuse.RetryAfter).UTC()
		}
		return e
	case errors.As(err, &er) && er.Response != nil:
		status := er.Response.StatusCode
		msg := c.redact(er.Message)
		if msg == "" {
			msg = http.StatusText(status)
		}
		switch {
		case status == http.StatusUnauthorized:
			return &forge.AuthError{Provider: forge.GitHub, Host: c.host, Status: status, Message: msg}
		case status == http.StatusTooManyRequests || (status == http.StatusForbidden && er.Response.Header.Get("Retry-After") != ""):
			return &forge.RateLimitedError{Provider: forge.GitHub, Host: c.host, Reset: resetFrom(er.Response.Header), Message: msg}
		default:
			if accepted := describeAccepted(er.Response.Header.Get("X-Accepted-GitHub-Permissions")); status == http.StatusForbidden && accepted != "" {
				// A fine-grained or app token lacking a permission: say which.
				msg += "; the token needs " + accepted
			}
			return &forge.ProviderError{Provider: forge.GitHub, Host: c.host, Status: status, Message: msg}
		}
	}
	var tooLarge *egress.ResponseTooLargeError
	if resp != nil && resp.Response != nil && resp.StatusCode/100 == 2 && !errors.As(err, &tooLarge) {
		// An answer came but its body did not decode.
		return &forge.ProviderError{Provider: forge.GitHub, Host: c.host, Message: c.redact(err.Error())}
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s at %s: %w", doing, c.host, err)
	}
	return egress.Classify(c.apiHost, err)
}

func (c *conn) redact(s string) string { return c.token.Redact(s) }
