package access

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// A token for a self-hosted provider may carry a CA bundle. The provider
// API calls trust it through the egress policy; git trusts it through
// the options below (the server's mirror fetches) and ResolveCABundle
// (`gitaccess clone` on the user's machine).

// fetchOptions hands a mirror fetch the binding's credential and CA
// bundle.
func (b binding) fetchOptions() FetchOptions {
	return FetchOptions{
		Credential: func(context.Context) (string, secret.Value, error) {
			user, pass := forge.GitAuth(b.cred.Endpoint.Provider, b.cred.Token)
			return user, pass, nil
		},
		CABundle: b.token.CABundle,
	}
}

// fetchError names the token a fetch used and, when git did not trust the
// provider's certificate, what to give that token.
func fetchError(b binding, repoURL string, err error) error {
	var ue *forge.UnreachableError
	if errors.As(err, &ue) && strings.HasPrefix(ue.Reason, "TLS") {
		hint := fmt.Sprintf("; if a private CA issued it, give token %s that CA's PEM bundle: gitaccess token update %s --ca-file FILE", b.token.Name, b.token.Name)
		if len(b.token.CABundle) > 0 {
			hint = fmt.Sprintf("; the CA bundle of token %s does not vouch for it: check that it holds the CA that issued the certificate (gitaccess token update %s --ca-file FILE)", b.token.Name, b.token.Name)
		}
		return &forge.UnreachableError{Host: ue.Host, Reason: ue.Reason + hint, Err: err}
	}
	return fmt.Errorf("fetching %s with token %s: %w", repoURL, b.token.Name, err)
}

// CABundle is what git on a user's machine must trust to reach a
// repository: the CA bundle of the token that serves it, if it has one.
type CABundle struct {
	// Token is the token that serves the repository.
	Token string `json:"token"`
	// Host is the repository's host[:port], the one git trusts the bundle
	// for.
	Host string `json:"host"`
	// CABundle is PEM; empty when the token has none (the system roots
	// apply).
	CABundle string `json:"ca_bundle,omitempty"`
}

// ResolveCABundle answers which CA bundle git needs for a repository,
// choosing the token exactly as ResolveCredential would, but handing out
// no token value: a bundle is public, so the answer is neither audited nor
// counted as a use of the token.
func (s *Service) ResolveCABundle(ctx context.Context, p Principal, req CredentialRequest) (CABundle, error) {
	repoURL, err := credentialURL(req)
	if err != nil {
		return CABundle{}, err
	}
	if err := s.authorize(ctx, p, actResolve, "repo/"+repoURL); err != nil {
		return CABundle{}, err
	}
	b, _, err := s.bindForApp(ctx, p, repoURL, req.App)
	if err != nil {
		return CABundle{}, err
	}
	u, err := url.Parse(repoURL)
	if err != nil {
		return CABundle{}, errorf(KindInvalid, "repository %s: %v", repoURL, err)
	}
	return CABundle{Token: b.token.Name, Host: u.Host, CABundle: string(b.token.CABundle)}, nil
}
