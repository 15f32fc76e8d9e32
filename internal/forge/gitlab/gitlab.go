// Package gitlab is gitaccess's adapter for GitLab (gitlab.com and
// self-managed instances, relative URL roots included), over GitLab's own Go
// client. It tells what a token is and what it may do in GitLab's words, at a
// cost of two API requests for a personal token and three for a group or
// project token.
package gitlab

import (
	"context"
	"log/slog"
	"net/http"
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
	}
	if f.policy.UserAgent != "" {
		opts = append(opts, gl.WithUserAgent(f.policy.UserAgent))
	}
	return gl.NewAuthSourceClient(privateToken{token}, opts...)
}
