package server

import (
	"context"
	"io"

	"github.com/gitaccess/gitaccess/internal/gitx"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// mirrorCache adapts gitx.Mirrors to the access.Mirrors port.
type mirrorCache struct{ m *gitx.Mirrors }

func (c mirrorCache) Fetch(ctx context.Context, repoURL string, cred func(context.Context) (string, secret.Value, error)) (string, error) {
	return c.m.Fetch(ctx, repoURL, gitx.CredentialFunc(cred))
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
