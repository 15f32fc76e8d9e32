package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/access"
)

const archiveSHA = "0123456789abcdef0123456789abcdef01234567"

func TestArchiveStreamsWithItsCommit(t *testing.T) {
	h, f, _ := newFake(t)
	payload := "\x1f\x8b" + strings.Repeat("tar bytes ", 1000)
	f.archive = access.Archive{SHA: archiveSHA, Write: func(w io.Writer) error {
		for i := 0; i < len(payload); i += 1000 {
			if _, err := io.WriteString(w, payload[i:min(i+1000, len(payload))]); err != nil {
				return err
			}
		}
		return nil
	}}
	res := do(t, h, http.MethodGet, "/api/v1/apps/web/archive?ref=v1.2", fakeKey, nil)
	if res.status != http.StatusOK {
		t.Fatalf("status = %d: %s", res.status, res.body)
	}
	for k, want := range map[string]string{
		"Content-Type":        "application/gzip",
		"X-Gitaccess-Commit":  archiveSHA,
		"Content-Disposition": `attachment; filename="web-0123456789ab.tar.gz"`,
		"Cache-Control":       "no-store",
	} {
		if got := res.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if string(res.body) != payload {
		t.Errorf("body is %d bytes, want the %d written", len(res.body), len(payload))
	}
	if d := cmp.Diff([]string{"v1.2"}, f.refs); d != "" {
		t.Errorf("refs (-want +got):\n%s", d)
	}
}

func TestArchiveFailingBeforeItsFirstByteIsAProblem(t *testing.T) {
	h, f, _ := newFake(t)
	f.archive = access.Archive{SHA: archiveSHA, Write: func(io.Writer) error {
		return &access.Error{Kind: access.KindNotFound, Message: "path deploy/ is not in commit 0123456"}
	}}
	res := do(t, h, http.MethodGet, "/api/v1/apps/web/archive", fakeKey, nil)
	checkProblem(t, res, map[string]any{"type": "urn:gitaccess:problem:not-found", "title": "Not found", "status": float64(404),
		"detail": "path deploy/ is not in commit 0123456"})
	for _, k := range []string{"X-Gitaccess-Commit", "Content-Disposition"} {
		if got := res.header.Get(k); got != "" {
			t.Errorf("a problem carries %s: %q", k, got)
		}
	}

	f.err = &access.Error{Kind: access.KindNotFound, Message: `https://github.com/acme/api has no ref "nope"`}
	res = do(t, h, http.MethodGet, "/api/v1/apps/web/archive?ref=nope", fakeKey, nil)
	if res.status != http.StatusNotFound || res.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown ref: %d %s", res.status, res.header.Get("Content-Type"))
	}
}

func TestArchiveFailingMidwayCutsTheConnection(t *testing.T) {
	_, f, _ := newFake(t)
	log, logs := newTestLogger()
	srv := httptest.NewServer(New(Config{Service: f, Logger: log}))
	t.Cleanup(srv.Close)
	f.archive = access.Archive{SHA: archiveSHA, Write: func(w io.Writer) error {
		if _, err := w.Write([]byte(strings.Repeat("x", 64<<10))); err != nil {
			return err
		}
		return errors.New("git archive: exit 128")
	}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/v1/apps/web/archive", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+fakeKey)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("a half-written archive read as complete")
	}
	if !strings.Contains(logs.String(), "git archive: exit 128") || !strings.Contains(logs.String(), `"aborted":true`) {
		t.Errorf("log lacks the failure or the aborted request:\n%s", logs)
	}
}

func TestCredentialCarriesThePasswordOnceAndTheLogNever(t *testing.T) {
	h, f, logs := newFake(t)
	f.credential = "ghp_CredentialForGitOnly0123456789abcdef"
	req := map[string]any{"protocol": "https", "host": "github.com", "path": "acme/api.git", "app": "web"}
	res := do(t, h, http.MethodPost, "/api/v1/credentials", fakeKey, req)
	if res.status != http.StatusOK {
		t.Fatalf("status = %d: %s", res.status, res.body)
	}
	want := map[string]any{"username": "x-access-token", "password": f.credential, "token": "ci",
		"reason": "token ci serves the longest matching prefix https://github.com/acme/"}
	if d := cmp.Diff(want, res.json(t)); d != "" {
		t.Errorf("credential (-want +got):\n%s", d)
	}
	if n := strings.Count(string(res.body), f.credential); n != 1 {
		t.Errorf("the password appears %d times in the body", n)
	}
	if got := res.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q", got)
	}

	res = do(t, h, http.MethodPost, "/api/v1/credentials/reject", fakeKey, req)
	wantReject := map[string]any{"token": "ci", "status": "invalid", "detail": "GitHub at github.com refused the token (HTTP 401): Bad credentials"}
	if d := cmp.Diff(wantReject, res.json(t)); d != "" {
		t.Errorf("reject (-want +got):\n%s", d)
	}
	if strings.Contains(string(res.body), f.credential) {
		t.Errorf("reject shows the password: %s", res.body)
	}
	wantReq := access.CredentialRequest{Protocol: "https", Host: "github.com", Path: "acme/api.git", App: "web"}
	if d := cmp.Diff([]access.CredentialRequest{wantReq, wantReq}, f.creds); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
	if !strings.Contains(logs.String(), `"path":"/api/v1/credentials"`) {
		t.Fatalf("no access log line:\n%s", logs)
	}
	if strings.Contains(logs.String(), f.credential) {
		t.Errorf("the password reached the log:\n%s", logs)
	}
}

func TestBrowseRoutes(t *testing.T) {
	h, f, _ := newFake(t)
	f.file = []byte("FROM golang:1.26\n\x00binary-safe")

	res := do(t, h, http.MethodGet, "/api/v1/tokens/acme-ci/repos?search=api", fakeKey, nil)
	wantRepos := map[string]any{"items": []any{map[string]any{"full_name": "acme/api", "clone_url": "https://github.com/acme/api.git",
		"web_url": "https://github.com/acme/api", "default_branch": "main", "private": true}}}
	if d := cmp.Diff(wantRepos, res.json(t)); d != "" {
		t.Errorf("repos (-want +got):\n%s", d)
	}
	res = do(t, h, http.MethodGet, "/api/v1/repos/branches?url=https://github.com/acme/api", fakeKey, nil)
	if string(res.body) != `{"items":[]}`+"\n" {
		t.Errorf("branches: %d %s", res.status, res.body)
	}
	res = do(t, h, http.MethodGet, "/api/v1/repos/file?url=https://github.com/acme/api&path=Dockerfile&ref=main&token=acme-ci", fakeKey, nil)
	if res.status != http.StatusOK || res.header.Get("Content-Type") != "application/octet-stream" || string(res.body) != string(f.file) {
		t.Errorf("file: %d %q %q", res.status, res.header.Get("Content-Type"), res.body)
	}
	want := []string{"repos acme-ci api", "branches https://github.com/acme/api ", "file https://github.com/acme/api Dockerfile main acme-ci"}
	if d := cmp.Diff(want, f.browsed); d != "" {
		t.Errorf("service calls (-want +got):\n%s", d)
	}

	res = do(t, h, http.MethodGet, "/api/v1/repos/file?url=https://github.com/acme/api", fakeKey, nil)
	checkProblem(t, res, map[string]any{"type": "urn:gitaccess:problem:invalid-input", "title": "Invalid input", "status": float64(400),
		"detail": "The request is not valid: correct the fields listed in errors and send it again.",
		"errors": []any{map[string]any{"location": "query.path", "message": "required query parameter is missing"}}})

	f.err = &access.Error{Kind: access.KindNotFound, Message: "token acme-ci cannot see acme/api: GitHub answered 404"}
	res = do(t, h, http.MethodGet, "/api/v1/repos/branches?url=https://github.com/acme/api&token=acme-ci", fakeKey, nil)
	checkProblem(t, res, map[string]any{"type": "urn:gitaccess:problem:not-found", "title": "Not found", "status": float64(404),
		"detail": "token acme-ci cannot see acme/api: GitHub answered 404"})
}

func TestAppRoutes(t *testing.T) {
	h, f, _ := newFake(t)
	res := do(t, h, http.MethodPost, "/api/v1/apps", fakeKey, map[string]any{"name": "web", "repo_url": "https://github.com/acme/api", "auto_deploy": true})
	if res.status != http.StatusCreated || res.json(t)["reason"] == "" {
		t.Errorf("create: %d %s", res.status, res.body)
	}
	res = do(t, h, http.MethodPost, "/api/v1/apps", fakeKey, map[string]any{"name": "web", "repo": "https://github.com/acme/api"})
	if res.status != http.StatusBadRequest {
		t.Errorf("create with a misspelt field: %d %s", res.status, res.body)
	}
	res = do(t, h, http.MethodGet, "/api/v1/apps?limit=10", fakeKey, nil)
	if got := res.json(t)["items"].([]any); len(got) != 1 {
		t.Errorf("list: %s", res.body)
	}
	if res := do(t, h, http.MethodPatch, "/api/v1/apps/web", fakeKey, map[string]any{"previews": true}); res.status != http.StatusOK {
		t.Errorf("update: %d %s", res.status, res.body)
	}
	if res := do(t, h, http.MethodDelete, "/api/v1/apps/web", fakeKey, nil); res.status != http.StatusNoContent || len(res.body) != 0 {
		t.Errorf("delete: %d %q", res.status, res.body)
	}
	if len(f.pages) != 1 || f.pages[0].Limit != 10 {
		t.Errorf("pages = %+v", f.pages)
	}
}

func TestOpenAPIDocumentsRawResponses(t *testing.T) {
	h, _, _ := newFake(t)
	res := do(t, h, http.MethodGet, "/api/v1/openapi.json", "", nil)
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Headers map[string]json.RawMessage `json:"headers"`
				Content map[string]struct {
					Schema map[string]any `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(res.body, &doc); err != nil {
		t.Fatal(err)
	}
	archive := doc.Paths["/api/v1/apps/{name}/archive"]["get"].Responses["200"]
	if _, ok := archive.Content["application/gzip"]; !ok || len(archive.Content) != 1 {
		t.Errorf("archive 200 content = %v, want application/gzip only", archive.Content)
	}
	for _, hdr := range []string{"X-Gitaccess-Commit", "Content-Disposition"} {
		if _, ok := archive.Headers[hdr]; !ok {
			t.Errorf("archive 200 does not document %s", hdr)
		}
	}
	file := doc.Paths["/api/v1/repos/file"]["get"].Responses["200"]
	if s, ok := file.Content["application/octet-stream"]; !ok || len(file.Content) != 1 || s.Schema["format"] != "binary" {
		t.Errorf("file 200 content = %v, want application/octet-stream only", file.Content)
	}
	cred := doc.Paths["/api/v1/credentials"]["post"].Responses["200"]
	if _, ok := cred.Content["application/json"]; !ok {
		t.Errorf("credentials 200 content = %v", cred.Content)
	}
}

// The typed client asks for raw bodies with these Accept headers; errors
// must still come back as problems.
func TestRawRoutesAnswerProblemsToRawAccept(t *testing.T) {
	h, f, _ := newFake(t)
	f.err = &access.Error{Kind: access.KindNotFound, Message: "gone"}
	for path, accept := range map[string]string{
		"/api/v1/repos/file?url=https://github.com/acme/api&path=x": "application/octet-stream, application/problem+json",
		"/api/v1/apps/web/archive":                                  "application/gzip, application/problem+json",
	} {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+fakeKey)
		req.Header.Set("Accept", accept)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %q %s", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
}
