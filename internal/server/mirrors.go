package server

import (
	"context"
	"errors"
	"io"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/gitx"
)

// mirrorCache adapts gitx.Mirrors to the access.Mirrors port.
type mirrorCache struct{ m *gitx.Mirrors }

// Fetch passes the token's credential and CA bundle to git. A certificate
// git did not trust comes back as the provider being unreachable over
// TLS, the error the API already explains (502, naming the host), as it
// does when the provider's API refuses the certificate.
func (c mirrorCache) Fetch(ctx context.Context, repoURL string, o access.FetchOptions) (string, error) {
	p, err := c.m.Fetch(ctx, repoURL, gitx.FetchOptions{Credential: gitx.CredentialFunc(o.Credential), CABundle: o.CABundle})
	var ce *gitx.CertificateError
	if errors.As(err, &ce) {
		var ge *gitx.GitError
		detail := "git does not trust its certificate"
		if errors.As(err, &ge) {
			detail += " (" + ge.Error() + ")"
		}
		return "", &forge.UnreachableError{Host: ce.Host, Reason: "TLS: " + detail, Err: err}
	}
	return p, err
}

func (c mirrorCache) Lookup(ctx context.Context, repoURL, sha string) (string, bool) {
	return c.m.Lookup(ctx, repoURL, sha)
}

func (c mirrorCache) ResolveRef(ctx context.Context, mirror, ref string) (string, error) {
	return c.m.ResolveRef(ctx, mirror, ref)
}

func (c mirrorCache) Archive(ctx context.Context, mirror, sha, subdir string, w io.Writer) error {
	return c.m.Archive(ctx, mirror, sha, subdir, w)
}
