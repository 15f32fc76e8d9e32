package client_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/client"
	"github.com/gitaccess/gitaccess/internal/forge"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

func TestAppArchiveStreamsPastTheTimeoutAndSizeCap(t *testing.T) {
	payload := strings.Repeat("tar.gz bytes ", 500)
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"GET /api/v1/apps/web/archive": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/gzip")
			w.Header().Set("X-Gitaccess-Commit", sha)
			_, _ = io.WriteString(w, payload[:100])
			w.(http.Flusher).Flush()
			time.Sleep(300 * time.Millisecond)
			_, _ = io.WriteString(w, payload[100:])
		},
	}}
	c := newClient(t, rec, client.WithTimeout(100*time.Millisecond), client.WithMaxResponseBytes(1000))
	gotSHA, body, err := c.AppArchive(context.Background(), "web", "v1.2")
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	got, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if gotSHA != sha || string(got) != payload {
		t.Errorf("sha %q, %d bytes; want %q, %d bytes", gotSHA, len(got), sha, len(payload))
	}
	r := rec.requests()[0]
	if r.Query != "ref=v1.2" || r.Auth != "Bearer "+apiKey {
		t.Errorf("request query %q auth %q", r.Query, r.Auth)
	}
}

func TestAppArchiveRefusesWhatIsNotAnArchive(t *testing.T) {
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"GET /api/v1/apps/html/archive": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html>proxy login</html>")
		},
		"GET /api/v1/apps/nosha/archive": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/gzip")
		},
		"GET /api/v1/apps/gone/archive": func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, 404, `{"type":"urn:gitaccess:problem:not-found","title":"Not found","status":404,"detail":"no application named \"gone\""}`)
		},
	}}
	c := newClient(t, rec)
	for name, want := range map[string]string{"html": `"text/html", not application/gzip`, "nosha": "named no commit", "gone": `no application named "gone"`} {
		if _, _, err := c.AppArchive(context.Background(), name, ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", name, err, want)
		}
	}
	if q := rec.requests()[0].Query; q != "" {
		t.Errorf("query without a ref = %q", q)
	}
}

func TestReadFileReturnsRawBytes(t *testing.T) {
	file := "FROM scratch\n\x00\xff"
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"GET /api/v1/repos/file": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("path") == "missing" {
				writeProblem(w, 404, `{"type":"urn:gitaccess:problem:not-found","title":"Not found","status":404,"detail":"token ci cannot see missing of acme/api: GitHub answered 404"}`)
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = io.WriteString(w, file)
		},
	}}
	c := newClient(t, rec)
	got, err := c.ReadFile(context.Background(), "https://github.com/acme/api", "Dockerfile", "main", "ci")
	if err != nil || string(got) != file {
		t.Fatalf("ReadFile = %q, %v", got, err)
	}
	_, err = c.ReadFile(context.Background(), "https://github.com/acme/api", "missing", "", "")
	if client.ProblemSlug(err) != client.SlugNotFound || !strings.Contains(err.Error(), "GitHub answered 404") {
		t.Errorf("err = %v", err)
	}
	var queries []string
	for _, r := range rec.requests() {
		queries = append(queries, r.Query)
	}
	want := []string{"path=Dockerfile&ref=main&token=ci&url=https%3A%2F%2Fgithub.com%2Facme%2Fapi", "path=missing&url=https%3A%2F%2Fgithub.com%2Facme%2Fapi"}
	if d := cmp.Diff(want, queries); d != "" {
		t.Errorf("queries (-want +got):\n%s", d)
	}
}

func TestBrowseAndAppsRoundTrip(t *testing.T) {
	app := access.AppView{ID: "app_1", Name: "web", RepoURL: "https://github.com/acme/api", Branch: "main", Token: "ci", Binding: "explicit", Reason: "bound explicitly to token ci"}
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"GET /api/v1/tokens/team%2Fci/repos": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"items": []forge.Repo{{FullName: "acme/api"}}})
		},
		"GET /api/v1/repos/branches": func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]any{"items": nil}) },
		"POST /api/v1/apps":          func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 201, app) },
		"PATCH /api/v1/apps/web":     func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, app) },
		"DELETE /api/v1/apps/web":    func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) },
	}}
	c := newClient(t, rec)
	ctx := context.Background()
	repos, err := c.ListRepos(ctx, "team/ci", "api")
	if err != nil || len(repos) != 1 || repos[0].FullName != "acme/api" {
		t.Errorf("ListRepos = %v, %v", repos, err)
	}
	branches, err := c.ListBranches(ctx, "https://github.com/acme/api", "")
	if err != nil || branches == nil || len(branches) != 0 {
		t.Errorf("ListBranches = %#v, %v", branches, err)
	}
	if got, err := c.CreateApp(ctx, access.AppInput{Name: "web", RepoURL: app.RepoURL, Token: "ci", AutoDeploy: true}); err != nil || got.Reason != app.Reason {
		t.Errorf("CreateApp = %+v, %v", got, err)
	}
	previews := false
	if _, err := c.UpdateApp(ctx, "web", access.AppUpdate{Previews: &previews}); err != nil {
		t.Errorf("UpdateApp: %v", err)
	}
	if err := c.DeleteApp(ctx, "web", false); err != nil {
		t.Errorf("DeleteApp: %v", err)
	}
	reqs := rec.requests()
	if d := cmp.Diff(map[string]any{"name": "web", "repo_url": app.RepoURL, "token": "ci", "auto_deploy": true}, reqs[2].Body); d != "" {
		t.Errorf("create body (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]any{"previews": false}, reqs[3].Body); d != "" {
		t.Errorf("update body (-want +got):\n%s", d)
	}
	if reqs[0].Query != "search=api" || reqs[1].Query != "url=https%3A%2F%2Fgithub.com%2Facme%2Fapi" {
		t.Errorf("queries %q %q", reqs[0].Query, reqs[1].Query)
	}
}

func TestResolveCredentialKeepsThePasswordSecret(t *testing.T) {
	const password = "ghp_GitOnly0123456789abcdefABCDEF"
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"POST /api/v1/credentials": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]string{"username": "x-access-token", "password": password, "token": "ci", "reason": "bound explicitly to token ci"})
		},
		"POST /api/v1/credentials/reject": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, access.RejectResult{Token: "ci", Status: "invalid", Detail: "refused"})
		},
	}}
	c := newClient(t, rec)
	req := access.CredentialRequest{Protocol: "https", Host: "github.com", Path: "acme/api.git", App: "web"}
	cred, err := c.ResolveCredential(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if cred.Username != "x-access-token" || cred.Password.Reveal() != password || cred.Token != "ci" || cred.Reason == "" {
		t.Errorf("credential = %+v", cred)
	}
	if strings.Contains(cred.Password.String(), password) {
		t.Error("the password prints")
	}
	res, err := c.RejectCredential(context.Background(), req)
	if err != nil || res.Status != "invalid" {
		t.Errorf("RejectCredential = %+v, %v", res, err)
	}
	want := map[string]any{"protocol": "https", "host": "github.com", "path": "acme/api.git", "app": "web"}
	for _, r := range rec.requests() {
		if d := cmp.Diff(want, r.Body); d != "" {
			t.Errorf("%s body (-want +got):\n%s", r.Path, d)
		}
	}
}
