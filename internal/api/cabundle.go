package api

import (
	"context"

	"github.com/gitaccess/gitaccess/internal/access"
)

// caBundleOutput is the CA bundle git needs for a repository's host; it
// carries no token value.
type caBundleOutput struct{ Body access.CABundle }

// resolveCABundle lets `gitaccess clone` make the git it runs trust the
// private CA of a self-hosted provider. It is a route of its own, not a
// field of the credential answer, so the credential helper git runs for
// every request stays as small and fast as it is.
func (h *handlers) resolveCABundle(ctx context.Context, p access.Principal, in *credentialInput) (*caBundleOutput, error) {
	b, err := h.svc.ResolveCABundle(ctx, p, in.Body)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &caBundleOutput{Body: b}, nil
}
