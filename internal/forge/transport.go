package forge

import (
	"context"
	"net/http"
)

// WrapTransport wraps the HTTP transport an adapter builds for one
// credential. Adapters call it once per client, inside their own
// authentication layer, so what it installs sees every request that goes
// out for that credential and every answer that comes back: the server
// uses it to keep each token's rate limit, hold requests back when the
// budget is nearly spent, revalidate with ETags, and count requests for
// metrics. A nil WrapTransport changes nothing.
type WrapTransport func(p Provider, cred Credential, next http.RoundTripper) http.RoundTripper

// Wrap applies w, or returns next unchanged when w is nil.
func (w WrapTransport) Wrap(p Provider, cred Credential, next http.RoundTripper) http.RoundTripper {
	if w == nil {
		return next
	}
	return w(p, cred, next)
}

type freshKey struct{}

// Fresh marks ctx so that the requests made under it get full answers,
// never a cached answer revalidated with an ETag: a user testing a token
// wants what the provider says now, scopes included, even if that costs a
// request. Background revalidation leaves ctx unmarked and spends nothing
// when nothing changed.
func Fresh(ctx context.Context) context.Context { return context.WithValue(ctx, freshKey{}, true) }

// IsFresh reports whether ctx was marked by Fresh.
func IsFresh(ctx context.Context) bool {
	v, _ := ctx.Value(freshKey{}).(bool)
	return v
}
