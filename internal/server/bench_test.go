package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/client"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/server"
	"github.com/gitaccess/gitaccess/internal/store"
	"github.com/gitaccess/gitaccess/internal/store/storetest"
)

// BenchmarkTestAndSave adds tokens through the whole service against the
// fake providers and reports the provider requests each test-and-save made
// (the budget: at most 2 for a GitHub classic or GitLab token).
func BenchmarkTestAndSave(b *testing.B) {
	for _, provider := range []string{"github-classic", "gitlab-personal"} {
		b.Run(provider, func(b *testing.B) {
			p := newProviders(b)
			app := openB(b, p, "")
			owner := ownerB(b, app)
			requests := 0
			i := 0
			for b.Loop() {
				i++
				value := fmt.Sprintf("%s%040d", map[string]string{"github-classic": "ghp_", "gitlab-personal": "glpat-"}[provider], i)
				in := access.AddTokenInput{Name: fmt.Sprintf("t%d", i), Value: secret.New(value)}
				switch provider {
				case "github-classic":
					p.gh.AddToken(value, forgetest.GitHubToken{Login: "octocat", Kind: forgetest.GitHubClassic, Scopes: []string{"repo", "admin:repo_hook"}})
					in.Provider = "github"
				case "gitlab-personal":
					p.gl.AddToken(value, forgetest.GitLabToken{Username: "dev", Scopes: []string{"api", "read_repository"}, AccessLevel: 40})
					in.Provider = "gitlab"
				}
				res, err := app.Service.AddToken(context.Background(), owner, in)
				if err != nil {
					b.Fatal(err)
				}
				requests += res.Report.Requests
			}
			b.ReportMetric(float64(requests)/float64(i), "provider-requests/op")
		})
	}
}

// BenchmarkTokenList10k lists an organization holding 10,000 tokens through
// the HTTP API, as `gitaccess token list` does, beside the same reads made
// on the store directly in the same process (the baseline).
func BenchmarkTokenList10k(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			dsn := ""
			if engine == "postgres" {
				dsn = storetest.PostgresDSN(b)
			}
			p := newProviders(b)
			app := openB(b, p, dsn)
			owner := ownerB(b, app)
			storetest.SeedTokens(b, app.Store, owner.OrgID, 10_000)
			url, key := serveB(b, app)

			get := func(path string) {
				req, _ := http.NewRequest(http.MethodGet, url+path, nil)
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("GET %s: %d", path, resp.StatusCode)
				}
			}
			b.Run("store-first-page-100", func(b *testing.B) {
				var lat storetest.Latencies
				for b.Loop() {
					start := time.Now()
					if _, _, err := app.Store.ListTokens(context.Background(), owner.OrgID, store.Page{Limit: 100}); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(start))
				}
				lat.Report(b)
			})
			b.Run("api-first-page-100", func(b *testing.B) {
				var lat storetest.Latencies
				for b.Loop() {
					start := time.Now()
					get("/api/v1/tokens?limit=100")
					lat = append(lat, time.Since(start))
				}
				lat.Report(b)
			})
			b.Run("api-all-10000", func(b *testing.B) {
				c, err := client.New(url, secret.New(key))
				if err != nil {
					b.Fatal(err)
				}
				var lat storetest.Latencies
				for b.Loop() {
					start := time.Now()
					ts, err := c.ListTokens(context.Background(), client.ListOptions{})
					if err != nil || len(ts) != 10_000 {
						b.Fatalf("listed %d: %v", len(ts), err)
					}
					lat = append(lat, time.Since(start))
				}
				lat.Report(b)
			})
		})
	}
}

func openB(b *testing.B, p *providers, databaseURL string) *server.App {
	b.Helper()
	policy := p.srv.Policy()
	app, err := server.Open(context.Background(), server.Config{
		DataDir: b.TempDir(), DatabaseURL: databaseURL, Egress: &policy,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { app.Close() })
	return app
}

// ownerB authenticates with the bootstrap Owner key.
func ownerB(b *testing.B, app *server.App) access.Principal {
	b.Helper()
	key, err := os.ReadFile(filepath.Join(app.DataDir(), server.AdminAPIKeyFile))
	if err != nil {
		b.Fatal(err)
	}
	p, err := app.Service.Authenticate(context.Background(), secret.New(strings.TrimSpace(string(key))))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func serveB(b *testing.B, app *server.App) (url, key string) {
	b.Helper()
	ts := httptest.NewServer(app.Handler)
	b.Cleanup(ts.Close)
	k, err := os.ReadFile(filepath.Join(app.DataDir(), server.AdminAPIKeyFile))
	if err != nil {
		b.Fatal(err)
	}
	return ts.URL, strings.TrimSpace(string(k))
}
