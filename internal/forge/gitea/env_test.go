package gitea

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/egress"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/secret"
)

// Token values look like Gitea's (40 hex digits) so a leak would be
// recognisable.
const (
	tokAll        = "a11a11a11a11a11a11a11a11a11a11a11a110001" // alice: write:repository, read:user
	tokRead       = "b22b22b22b22b22b22b22b22b22b22b22b220002" // bob: read:repository, read:user
	tokNoUser     = "c33c33c33c33c33c33c33c33c33c33c33c330003" // carol: write:repository
	tokIssues     = "d44d44d44d44d44d44d44d44d44d44d44d440004" // dave: read:issue, read:user
	tokEverything = "e55e55e55e55e55e55e55e55e55e55e55e550005" // erin: all
	tokRevoked    = "f66f66f66f66f66f66f66f66f66f66f66f660006"
	tokUnknown    = "0770770770770770770770770770770770770007"
	tokProhibited = "0880880880880880880880880880880880880008" // frank: prohibited from signing in
)

var allTokens = []string{tokAll, tokRead, tokNoUser, tokIssues, tokEverything, tokRevoked, tokUnknown, tokProhibited}

// fixedNow is the adapter's clock in tests, for Retry-After arithmetic.
var fixedNow = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	g   *forgetest.Gitea
	srv *forgetest.Server
	f   *Forge
}

// newForge is the adapter under policy, logging at debug level into a
// buffer that must never hold a token or any of extra.
func newForge(t *testing.T, policy egress.Policy, extra ...string) *Forge {
	t.Helper()
	logs := &forgetest.LogBuffer{}
	f := New(policy, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	f.now = func() time.Time { return fixedNow }
	t.Cleanup(func() {
		for _, tok := range append(extra, allTokens...) {
			if strings.Contains(logs.String(), tok) {
				t.Errorf("a log line holds secret %s:\n%s", tok, logs)
			}
		}
	})
	return f
}

// newEnv serves one fake Gitea as gitea.test with the tokens every test
// uses; alice owns alice/app and is an admin of acme/web, bob may write to
// acme/web, carol owns carol/site.
func newEnv(t *testing.T, extra ...string) *env {
	t.Helper()
	g := forgetest.NewGitea()
	g.AddToken(tokAll, forgetest.GiteaToken{Username: "alice", FullName: "Alice Liddell",
		Scopes: []string{"write:repository", "read:user"}, Repos: []string{"alice/app", "acme/web"}})
	g.AddToken(tokRead, forgetest.GiteaToken{Username: "bob", Scopes: []string{"read:repository", "read:user"},
		Repos: []string{"acme/web"}, Access: "write"})
	g.AddToken(tokNoUser, forgetest.GiteaToken{Username: "carol", Scopes: []string{"write:repository"}, Repos: []string{"carol/site"}})
	g.AddToken(tokIssues, forgetest.GiteaToken{Username: "dave", Scopes: []string{"read:issue", "read:user"}, Repos: []string{"acme/web"}})
	g.AddToken(tokEverything, forgetest.GiteaToken{Username: "erin", Scopes: []string{"all"}, Repos: []string{"acme/web"}})
	g.AddToken(tokRevoked, forgetest.GiteaToken{Username: "gina", Scopes: []string{"all"}})
	g.Revoke(tokRevoked)
	g.AddToken(tokProhibited, forgetest.GiteaToken{Username: "frank", Scopes: []string{"all"}, Prohibited: true})
	srv := forgetest.NewServer(t, nil, forgetest.ByHost{"gitea.test": g})
	return &env{g: g, srv: srv, f: newForge(t, srv.Policy(), extra...)}
}

func endpoint() forge.Endpoint {
	return forge.Endpoint{Provider: Provider, WebURL: "https://gitea.test", APIURL: "https://gitea.test/api/v1"}
}

func cred(token string) forge.Credential {
	return forge.Credential{Endpoint: endpoint(), Token: secret.New(token)}
}

// noToken fails when err shows any test token, however it is printed.
func noToken(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, tok := range allTokens {
			if strings.Contains(s, tok) {
				t.Errorf("the error holds token %s: %s", tok, s)
			}
		}
	}
}

// calls lists the method and path of each request the fake received.
func calls(srv *forgetest.Server) []string {
	var out []string
	for _, r := range srv.Requests() {
		out = append(out, r.Method+" "+r.URL.EscapedPath())
	}
	return out
}
