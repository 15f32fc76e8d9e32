package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/client"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

const apiKey = "gak_test_0123456789abcdefSECRET"

type request struct {
	Method, Path, RawPath, Query, Auth, ContentType string
	Body                                            map[string]any
}

// recorder is an httptest handler that records each request and answers
// from a per-route function.
type recorder struct {
	mu     sync.Mutex
	reqs   []request
	routes map[string]func(w http.ResponseWriter, r *http.Request)
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rq := request{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type")}
	if len(body) > 0 {
		_ = json.Unmarshal(body, &rq.Body)
	}
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, rq)
	rec.mu.Unlock()
	h, ok := rec.routes[r.Method+" "+r.URL.EscapedPath()]
	if !ok {
		http.Error(w, "no route "+r.Method+" "+r.URL.EscapedPath(), http.StatusNotFound)
		return
	}
	h(w, r)
}

func (rec *recorder) requests() []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]request(nil), rec.reqs...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func newClient(t *testing.T, rec *recorder, opts ...client.Option) *client.Client {
	t.Helper()
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL+"/", secret.New(apiKey), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestAddTokenSendsValueInBodyAndKeyOnlyInHeader(t *testing.T) {
	const value = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
	expires := time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC)
	want := access.TokenResult{
		Token:  access.TokenView{ID: "tok_1", Name: "ci", Provider: "github", Host: "github.com", Status: access.StatusValid, Scopes: []string{"repo"}, Uses: []string{"clone"}, Fingerprint: "sha256:00", Last4: "6789", ExpiresAt: &expires},
		Report: forge.Report{Provider: forge.GitHub, Host: "github.com", Kind: forge.KindGitHubClassicPAT, Identity: "octocat", Scopes: []string{"repo"}},
	}
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"POST /api/v1/tokens": func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusCreated, want) },
	}}
	c := newClient(t, rec)
	got, err := c.AddToken(context.Background(), access.AddTokenInput{
		Name: "ci", Provider: "github", Uses: []string{"clone"}, Value: secret.New(value), AllowMissing: true,
	})
	if err != nil {
		t.Fatalf("AddToken: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	wantBody := map[string]any{"name": "ci", "provider": "github", "uses": []any{"clone"}, "value": value, "allow_missing": true}
	if diff := cmp.Diff(wantBody, r.Body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if r.Auth != "Bearer "+apiKey {
		t.Errorf("Authorization = %q", r.Auth)
	}
	if r.ContentType != "application/json" {
		t.Errorf("Content-Type = %q", r.ContentType)
	}
	if strings.Contains(r.RawPath+r.Query, value) || strings.Contains(r.RawPath+r.Query, apiKey) {
		t.Errorf("secret in URL: %s?%s", r.RawPath, r.Query)
	}
}

func TestUpdateTokenSendsOnlySetFields(t *testing.T) {
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"PATCH /api/v1/tokens/ci": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, access.TokenResult{Token: access.TokenView{Name: "ci"}})
		},
	}}
	c := newClient(t, rec)
	desc := "new"
	v := secret.New("glpat-0123456789abcdefghij")
	if _, err := c.UpdateToken(context.Background(), "ci", access.UpdateTokenInput{Description: &desc, Value: &v}); err != nil {
		t.Fatalf("UpdateToken: %v", err)
	}
	want := map[string]any{"description": "new", "value": "glpat-0123456789abcdefghij"}
	if diff := cmp.Diff(want, rec.requests()[0].Body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if _, err := c.UpdateToken(context.Background(), "ci", access.UpdateTokenInput{Description: &desc}); err != nil {
		t.Fatalf("UpdateToken: %v", err)
	}
	if diff := cmp.Diff(map[string]any{"description": "new"}, rec.requests()[1].Body); diff != "" {
		t.Errorf("body without value (-want +got):\n%s", diff)
	}
}

func TestNamesAreEscapedAsOnePathSegment(t *testing.T) {
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"GET /api/v1/tokens/team%2Fci%20token%3F": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, access.TokenView{Name: "team/ci token?"})
		},
		"DELETE /api/v1/tokens/a%23b": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) },
	}}
	c := newClient(t, rec)
	got, err := c.GetToken(context.Background(), "team/ci token?")
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	if got.Name != "team/ci token?" {
		t.Errorf("name = %q", got.Name)
	}
	if err := c.DeleteToken(context.Background(), "a#b", access.DeleteTokenInput{Confirm: "a#b"}); err != nil {
		t.Fatalf("DeleteToken: %v", err)
	}
	if q := rec.requests()[1].Query; q != "confirm=a%23b" {
		t.Errorf("query = %q, want confirm=a%%23b", q)
	}
	for _, bad := range []string{"", ".", ".."} {
		if _, err := c.GetToken(context.Background(), bad); err == nil {
			t.Errorf("GetToken(%q) succeeded", bad)
		}
	}
	if n := len(rec.requests()); n != 2 {
		t.Errorf("%d requests, want 2 (invalid names must not be sent)", n)
	}
}

func TestListFollowsCursorsAndHonoursLimit(t *testing.T) {
	pages := map[string]string{"": "c1", "c1": "c2", "c2": ""}
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"GET /api/v1/audit": func(w http.ResponseWriter, r *http.Request) {
			cur := r.URL.Query().Get("cursor")
			next, ok := pages[cur]
			if !ok {
				http.Error(w, "bad cursor", http.StatusBadRequest)
				return
			}
			items := []access.AuditView{{ID: cur + "-a"}, {ID: cur + "-b"}}
			writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
		},
	}}
	c := newClient(t, rec)
	all, err := c.ListAudit(context.Background(), client.ListOptions{})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	var ids []string
	for _, a := range all {
		ids = append(ids, a.ID)
	}
	if diff := cmp.Diff([]string{"-a", "-b", "c1-a", "c1-b", "c2-a", "c2-b"}, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	var queries []string
	for _, r := range rec.requests() {
		queries = append(queries, r.Query)
	}
	if diff := cmp.Diff([]string{"limit=1000", "cursor=c1&limit=1000", "cursor=c2&limit=1000"}, queries); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}

	limited, err := c.ListAudit(context.Background(), client.ListOptions{Limit: 3})
	if err != nil {
		t.Fatalf("ListAudit limit 3: %v", err)
	}
	if len(limited) != 3 {
		t.Errorf("got %d items, want 3", len(limited))
	}
	queries = nil
	for _, r := range rec.requests()[3:] {
		queries = append(queries, r.Query)
	}
	if diff := cmp.Diff([]string{"limit=3", "cursor=c1&limit=1"}, queries); diff != "" {
		t.Errorf("limited queries (-want +got):\n%s", diff)
	}
}

func TestListRefusesARepeatedCursor(t *testing.T) {
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"GET /api/v1/tokens": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"items": []access.TokenView{{Name: "x"}}, "next_cursor": "same"})
		},
	}}
	c := newClient(t, rec)
	if _, err := c.ListTokens(context.Background(), client.ListOptions{}); err == nil || !strings.Contains(err.Error(), "same cursor") {
		t.Fatalf("err = %v, want a repeated-cursor error", err)
	}
}

func TestCreateAPIKeyKeepsTheKeySecret(t *testing.T) {
	const newKey = "gak_new_key_abcdefghijklmnop"
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"POST /api/v1/apikeys": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusCreated, map[string]any{"id": "key_2", "name": "ci", "role": "devops", "created_at": "2026-01-01T00:00:00Z", "org": "acme", "key": newKey})
		},
		"POST /api/v1/orgs": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusCreated, map[string]any{
				"org":     map[string]any{"id": "org_2", "name": "acme", "created_at": "2026-01-01T00:00:00Z"},
				"api_key": map[string]any{"id": "key_3", "name": "owner", "role": "owner", "created_at": "2026-01-01T00:00:00Z", "org": "acme", "key": newKey},
			})
		},
	}}
	c := newClient(t, rec)
	k, err := c.CreateAPIKey(context.Background(), "ci", store.RoleDevOps)
	if err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	if k.Key.Reveal() != newKey || k.ID != "key_2" || k.Org != "acme" || k.Role != store.RoleDevOps {
		t.Errorf("key = %+v (revealed %q)", k, k.Key.Reveal())
	}
	if s := fmt.Sprintf("%v %+v", k, k); strings.Contains(s, newKey) {
		t.Errorf("formatting a NewAPIKey printed its secret: %s", s)
	}
	if diff := cmp.Diff(map[string]any{"name": "ci", "role": "devops"}, rec.requests()[0].Body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	org, ok, err := c.CreateOrg(context.Background(), "acme")
	if err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	if org.ID != "org_2" || ok.Key.Reveal() != newKey || ok.Role != store.RoleOwner {
		t.Errorf("org = %+v, key = %+v", org, ok)
	}
}

func TestProblemsAreDecodedAndReadable(t *testing.T) {
	reset := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"POST /api/v1/tokens": func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, 422, `{"type":"urn:gitaccess:problem:missing-permissions","title":"Missing permissions","status":422,
				"detail":"the token lacks permissions for webhooks","missing":["admin:repo_hook","repo"],
				"report":{"provider":"github","host":"github.com","kind":"github-classic-pat","identity":"octocat","scopes":["read:org"],"checks":[{"use":"webhooks","status":"missing","needs":["admin:repo_hook"],"missing":["admin:repo_hook"]}],"requests":1}}`)
		},
		"POST /api/v1/tokens/test": func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, 503, `{"type":"urn:gitaccess:problem:rate-limited","title":"Rate limited","status":503,"detail":"GitHub rate-limited this token","reset":"`+reset.Format(time.RFC3339)+`"}`)
		},
		"GET /api/v1/tokens/x": func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, 400, `{"type":"urn:gitaccess:problem:invalid-input","title":"Invalid input","status":400,"detail":"the request is invalid","errors":[{"location":"body.url","message":"must be https","value":"http://leak"}]}`)
		},
		"GET /api/v1/tokens/y": func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, 502, `{"type":"urn:gitaccess:problem:provider-unreachable","title":"Provider unreachable","status":502,"detail":"cannot reach ghe.example.com","host":"ghe.example.com","reason":"TLS: certificate signed by unknown authority"}`)
		},
		"GET /api/v1/whoami": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html>proxy error echoing Authorization: "+r.Header.Get("Authorization")+"</html>")
		},
	}}
	c := newClient(t, rec)
	ctx := context.Background()

	_, err := c.AddToken(ctx, access.AddTokenInput{Name: "ci", Provider: "github", Value: secret.New("ghp_x")})
	var p *client.Problem
	if !errors.As(err, &p) {
		t.Fatalf("AddToken err = %v, want *Problem", err)
	}
	if p.Slug() != client.SlugMissingPermissions || p.Status != 422 || p.Report == nil || p.Report.Identity != "octocat" {
		t.Errorf("problem = %+v", p)
	}
	wantMsg := "the token lacks permissions for webhooks\n  missing: admin:repo_hook\n  missing: repo"
	if err.Error() != wantMsg {
		t.Errorf("Error() = %q, want %q", err.Error(), wantMsg)
	}

	_, err = c.TestValue(ctx, access.TestValueInput{Provider: "github", Value: secret.New("ghp_x")})
	if !errors.As(err, &p) || !p.Reset.Equal(reset) || client.ProblemSlug(err) != client.SlugRateLimited {
		t.Errorf("rate limited: err = %v", err)
	}
	if !strings.Contains(err.Error(), "try again after 2026-05-01T12:00:00Z") {
		t.Errorf("rate limited message = %q", err.Error())
	}

	_, err = c.GetToken(ctx, "x")
	if !errors.As(err, &p) {
		t.Fatalf("invalid input err = %v", err)
	}
	if diff := cmp.Diff([]client.FieldError{{Location: "body.url", Message: "must be https"}}, p.Errors); diff != "" {
		t.Errorf("field errors (-want +got):\n%s", diff)
	}
	if err.Error() != "the request is invalid\n  body.url: must be https" {
		t.Errorf("invalid input message = %q", err.Error())
	}

	_, err = c.GetToken(ctx, "y")
	if !errors.As(err, &p) || p.Host != "ghe.example.com" || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("unreachable: err = %v", err)
	}

	_, err = c.Whoami(ctx)
	if !errors.As(err, &p) || p.Status != http.StatusBadGateway {
		t.Fatalf("non-problem error = %v", err)
	}
	if strings.Contains(err.Error(), apiKey) || strings.Contains(err.Error(), "proxy error") {
		t.Errorf("error quotes the response body: %q", err.Error())
	}
}

func TestResponseSizeIsCapped(t *testing.T) {
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"GET /api/v1/whoami": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, access.Principal{OrgName: strings.Repeat("x", 2000)})
		},
	}}
	c := newClient(t, rec, client.WithMaxResponseBytes(1000))
	if _, err := c.Whoami(context.Background()); err == nil || !strings.Contains(err.Error(), "larger than 1000 bytes") {
		t.Fatalf("err = %v, want a size error", err)
	}
	c = newClient(t, rec, client.WithMaxResponseBytes(4000))
	if _, err := c.Whoami(context.Background()); err != nil {
		t.Fatalf("under the cap: %v", err)
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	other := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"GET /api/v1/whoami": func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, access.Principal{}) },
	}}
	otherSrv := httptest.NewServer(other)
	t.Cleanup(otherSrv.Close)
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"GET /api/v1/whoami": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, otherSrv.URL+"/api/v1/whoami", http.StatusFound)
		},
	}}
	c := newClient(t, rec)
	if _, err := c.Whoami(context.Background()); err == nil || !strings.Contains(err.Error(), "redirected") {
		t.Fatalf("err = %v, want a redirect error", err)
	}
	if n := len(other.requests()); n != 0 {
		t.Errorf("redirect target got %d requests", n)
	}
}

func TestTimeoutApplies(t *testing.T) {
	release := make(chan struct{})
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"GET /api/v1/whoami": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		},
	}}
	c := newClient(t, rec, client.WithTimeout(time.Millisecond))
	defer close(release)
	// The handler never answers, so only the client's timeout can end this.
	_, err := c.Whoami(context.Background())
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

func TestNewChecksTheServerURL(t *testing.T) {
	for _, tc := range []struct {
		url, wantErr string
		opts         []client.Option
	}{
		{url: "https://gitaccess.example.com/"},
		{url: "https://gitaccess.example.com/prefix/"},
		{url: "http://127.0.0.1:8080"},
		{url: "http://localhost:8080"},
		{url: "http://[::1]:8080"},
		{url: "http://gitaccess.example.com", opts: []client.Option{client.AllowInsecureHTTP()}},
		{url: "http://gitaccess.example.com", wantErr: "plain http"},
		{url: "ftp://gitaccess.example.com", wantErr: "https://"},
		{url: "https://user:pw@gitaccess.example.com", wantErr: "user name or password"},
		{url: "https://gitaccess.example.com/?k=v", wantErr: "query"},
		{url: "", wantErr: "empty"},
		{url: "https://", wantErr: "no host"},
	} {
		_, err := client.New(tc.url, secret.New(apiKey), tc.opts...)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("New(%q): %v", tc.url, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("New(%q) err = %v, want %q", tc.url, err, tc.wantErr)
		case err != nil && strings.Contains(err.Error(), "pw@"):
			t.Errorf("New(%q) error repeats the password: %v", tc.url, err)
		}
	}
	c, err := client.New("https://gitaccess.example.com/prefix/", secret.Value{})
	if err != nil || c.Server() != "https://gitaccess.example.com/prefix" {
		t.Errorf("Server() = %q, %v", c.Server(), err)
	}
}

func TestZeroKeySendsNoAuthorization(t *testing.T) {
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"GET /api/v1/whoami": func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, 401, `{"type":"urn:gitaccess:problem:unauthenticated","title":"Unauthorized","status":401,"detail":"an API key is required"}`)
		},
	}}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, secret.Value{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Whoami(context.Background()); client.ProblemSlug(err) != client.SlugUnauthenticated {
		t.Errorf("err = %v", err)
	}
	if a := rec.requests()[0].Auth; a != "" {
		t.Errorf("Authorization = %q, want none", a)
	}
}
