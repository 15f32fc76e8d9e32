package bitbucket

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/google/go-cmp/cmp"
)

func (h *harness) client(t *testing.T, value string) *client {
	t.Helper()
	ep, err := h.f.ResolveEndpoint("", "acme")
	if err != nil {
		t.Fatal(err)
	}
	c, err := newClient(h.f.policy, ep, secret.New(value), h.f.logger, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestListFollowsNextLinks(t *testing.T) {
	h := newHarness(t)
	tok := token("list")
	h.bb.AddRepo(forgetest.BitbucketRepo{Workspace: "acme", Slug: "docs"})
	h.bb.AddRepo(forgetest.BitbucketRepo{Workspace: "acme", Slug: "infra"})
	h.bb.AddToken(tok, forgetest.BitbucketToken{Kind: "workspace", Workspace: "acme", Scopes: []string{"repository"}})

	c := h.client(t, tok)
	c.pagelen = 2
	repos, err := c.repositories(context.Background(), "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range repos {
		names = append(names, r.FullName)
	}
	if d := cmp.Diff([]string{"acme/app", "acme/lib", "acme/site", "acme/docs", "acme/infra"}, names); d != "" {
		t.Errorf("repositories across pages (-want +got):\n%s", d)
	}
	if c.Requests != 3 {
		t.Errorf("%d requests for 5 repositories in pages of 2, want 3", c.Requests)
	}

	c = h.client(t, tok)
	c.pagelen = 2
	if repos, err := c.repositories(context.Background(), "acme", 3); err != nil || len(repos) != 3 || c.Requests != 2 {
		t.Errorf("limit 3: %d repositories, %d requests, %v; want 3 in 2 requests", len(repos), c.Requests, err)
	}

	c = h.client(t, tok)
	c.pagelen = 2
	branches, err := c.branches(context.Background(), "acme", "site", 0)
	if err != nil {
		t.Fatal(err)
	}
	var bnames []string
	for _, b := range branches {
		bnames = append(bnames, b.Name)
		if len(b.Target.Hash) != 40 {
			t.Errorf("branch %s: target hash %q", b.Name, b.Target.Hash)
		}
	}
	if d := cmp.Diff([]string{"main", "develop", "release/1.0"}, bnames); d != "" {
		t.Errorf("branches (-want +got):\n%s", d)
	}
}

// TestListRefusesForeignNextLinks: the token goes wherever a followed link
// points, so a link off the API root must stop the listing.
func TestListRefusesForeignNextLinks(t *testing.T) {
	for _, next := range []string{
		"https://evil.test/2.0/repositories/acme?page=2",
		"http://api.bitbucket.org/2.0/repositories/acme?page=2",
		"https://api.bitbucket.org/internal/repositories/acme?page=2",
		"https://someone@api.bitbucket.org/2.0/repositories/acme?page=2",
	} {
		t.Run(next, func(t *testing.T) {
			var served int
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served++
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(map[string]any{"pagelen": 1, "page": 1, "size": 2,
					"values": []any{map[string]any{"full_name": "acme/app"}}, "next": next})
			})
			srv := forgetest.NewServer(t, nil, forgetest.ByHost{"api.bitbucket.org": handler})
			logs := &forgetest.LogBuffer{}
			h := &harness{srv: srv, f: New(srv.Policy(), slog.New(slog.NewTextHandler(logs, nil))), logs: logs}
			tok := token("next")
			_, err := h.client(t, tok).repositories(context.Background(), "acme", 0)
			h.noLeak(t, tok, err)
			var pe *forge.ProviderError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), "outside https://api.bitbucket.org/2.0") {
				t.Fatalf("err = %v, want a ProviderError refusing the link", err)
			}
			if served != 1 {
				t.Errorf("%d requests served, want only the first page", served)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	cases := []struct {
		body   string
		status int
		want   string
	}{
		{`{"type":"error","error":{"message":"Token is invalid, expired, or not supported for this endpoint."}}`, 401,
			"Token is invalid, expired, or not supported for this endpoint."},
		{`{"type":"error","error":{"message":"Your credentials lack one or more required privilege scopes.","detail":{"granted":["webhook"],"required":["repository"]}}}`, 403,
			"Your credentials lack one or more required privilege scopes. (required: repository)"},
		{`{"type":"error","error":{"message":"Bad request","detail":"url: Enter a valid URL."}}`, 400, "Bad request url: Enter a valid URL."},
		{`<html>Service Unavailable</html>`, 503, "Service Unavailable"},
		{``, 502, "Bad Gateway"},
	}
	for _, tc := range cases {
		if got := errorMessage([]byte(tc.body), tc.status); got != tc.want {
			t.Errorf("errorMessage(%s) = %q, want %q", tc.body, got, tc.want)
		}
	}
}
