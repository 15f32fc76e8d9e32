package access_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// TestResolveCABundle: `gitaccess clone` learns the CA bundle of the token
// that would serve a repository, chosen as the credential helper's token
// is (longest prefix), without a token value, an audit record of a
// resolution, or a use of the token.
func TestResolveCABundle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ca := forgetest.NewCA(t)
	const gheValue, plainValue = "ghp_gheVALUEcanary0000000000000000000001", "ghp_plainVALUEcanary00000000000000000002"
	e.forge.set(gheValue, fullReport(nil))
	e.forge.set(plainValue, fullReport(nil))
	if _, err := e.svc.AddToken(ctx, e.owner, access.AddTokenInput{Name: "ghe", Provider: "github", URL: "https://ghe.test", CABundle: string(ca.PEM),
		Prefixes: []string{"https://ghe.test/acme/"}, Value: secret.New(gheValue)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AddToken(ctx, e.owner, access.AddTokenInput{Name: "plain", Provider: "github", URL: "https://ghe.test",
		Prefixes: []string{"https://ghe.test/acme/public/"}, Value: secret.New(plainValue)}); err != nil {
		t.Fatal(err)
	}
	builder := e.principal(t, store.RoleBuilder)

	got, err := e.svc.ResolveCABundle(ctx, builder, access.CredentialRequest{Protocol: "https", Host: "ghe.test", Path: "acme/api.git"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Token != "ghe" || got.Host != "ghe.test" || got.CABundle != string(ca.PEM) {
		t.Errorf("ResolveCABundle(acme/api) = %+v, want token ghe with its bundle", got)
	}
	got, err = e.svc.ResolveCABundle(ctx, builder, access.CredentialRequest{Protocol: "https", Host: "ghe.test", Path: "acme/public/docs"})
	if err != nil || got.Token != "plain" || got.CABundle != "" {
		t.Errorf("ResolveCABundle(acme/public/docs) = %+v, %v; want token plain without a bundle", got, err)
	}
	if _, err := e.svc.ResolveCABundle(ctx, builder, access.CredentialRequest{Protocol: "https", Host: "other.test", Path: "x/y"}); kindOf(err) != access.KindNotFound {
		t.Errorf("a repository no token serves: %v, want not found", err)
	}
	if _, err := e.svc.ResolveCABundle(ctx, builder, access.CredentialRequest{Protocol: "https", Host: "ghe.test"}); kindOf(err) != access.KindInvalid {
		t.Errorf("a request without a path: %v, want invalid", err)
	}

	for _, a := range e.audit(t, e.owner) {
		if strings.HasPrefix(a.Action, "credential.") {
			t.Errorf("asking for a CA bundle was audited as %s", a.Action)
		}
	}
	tok, err := e.svc.GetToken(ctx, e.owner, "ghe")
	if err != nil {
		t.Fatal(err)
	}
	if tok.LastUsedAt != nil {
		t.Error("asking for a CA bundle counted as a use of the token")
	}
}
