package forgetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// bbSetup serves a fake with workspace acme: app and lib in project PROJ,
// site in project WEB (with branches main, develop and release/1.0).
func bbSetup(t *testing.T) (*Bitbucket, *http.Client) {
	t.Helper()
	bb := NewBitbucket()
	bb.AddRepo(BitbucketRepo{Workspace: "acme", Slug: "app", Name: "App", Project: "PROJ"})
	bb.AddRepo(BitbucketRepo{Workspace: "acme", Slug: "lib", Project: "PROJ"})
	bb.AddRepo(BitbucketRepo{Workspace: "acme", Slug: "site", Project: "WEB", Branches: []string{"main", "develop", "release/1.0"}})
	bb.AddRepo(BitbucketRepo{Workspace: "other", Slug: "secret"})
	srv := NewServer(t, nil, ByHost{"api.bitbucket.org": bb})
	c, err := srv.Policy().Client(nil)
	if err != nil {
		t.Fatal(err)
	}
	return bb, c
}

type bbAnswer struct {
	status int
	header http.Header
	body   any
}

func bbDo(t *testing.T, c *http.Client, method, path, token string, body any) bbAnswer {
	t.Helper()
	u := path
	if !strings.HasPrefix(u, "https://") {
		u = "https://api.bitbucket.org/2.0" + path
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := bbAnswer{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v\n%s", method, path, err, raw)
		}
	}
	return a
}

func (a bbAnswer) obj(t *testing.T) map[string]any {
	t.Helper()
	m, ok := a.body.(map[string]any)
	if !ok {
		t.Fatalf("body is %T, want an object", a.body)
	}
	return m
}

func (a bbAnswer) errorMessage(t *testing.T) string {
	t.Helper()
	m := a.obj(t)
	if m["type"] != "error" {
		t.Fatalf("error body type = %v, want \"error\"", m["type"])
	}
	e, _ := m["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

func bbFullNames(t *testing.T, a bbAnswer) []string {
	t.Helper()
	var out []string
	for _, v := range a.obj(t)["values"].([]any) {
		out = append(out, v.(map[string]any)["full_name"].(string))
	}
	return out
}

// bbContractsDir finds shared/contracts/bitbucket/api above the module, where
// the repository layout and CI put shared/ beside the checkout.
func bbContractsDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "contracts", "bitbucket", "api")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("shared/contracts/bitbucket/api not found above the working directory; the contract test needs shared/ beside the checkout")
		}
		dir = parent
	}
}

func bbExample(t *testing.T, name string) any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(bbContractsDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func bbJSONType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

// bbShapeDiff lists where got differs from the example in keys or JSON types,
// recursively. Array elements are checked against the example's first
// element; a non-empty example array needs a non-empty answer, so every
// nested shape is really compared.
func bbShapeDiff(path string, want, got any) []string {
	if bbJSONType(want) != bbJSONType(got) {
		return []string{fmt.Sprintf("%s: %s in the example, %s from the fake", path, bbJSONType(want), bbJSONType(got))}
	}
	var out []string
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		for k := range w {
			if _, ok := g[k]; !ok {
				out = append(out, path+"."+k+": missing from the fake")
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				out = append(out, path+"."+k+": not in the example")
			}
		}
		for k, wv := range w {
			if gv, ok := g[k]; ok {
				out = append(out, bbShapeDiff(path+"."+k, wv, gv)...)
			}
		}
	case []any:
		g := got.([]any)
		if len(w) == 0 {
			return nil
		}
		if len(g) == 0 {
			return []string{path + ": empty from the fake, so its elements go unchecked"}
		}
		for i, gv := range g {
			out = append(out, bbShapeDiff(fmt.Sprintf("%s[%d]", path, i), w[0], gv)...)
		}
	}
	slices.Sort(out)
	return out
}

func TestBBShapeDiffCatchesDrift(t *testing.T) {
	want := map[string]any{"a": "x", "b": map[string]any{"c": 1.0}, "l": []any{map[string]any{"d": true}}}
	got := map[string]any{"a": 1.0, "b": map[string]any{"e": 1.0}, "l": []any{map[string]any{"d": "no"}}, "z": nil}
	diff := bbShapeDiff("$", want, got)
	wantDiff := []string{
		"$.a: string in the example, number from the fake",
		"$.b.c: missing from the fake",
		"$.b.e: not in the example",
		"$.l[0].d: boolean in the example, string from the fake",
		"$.z: not in the example",
	}
	slices.Sort(wantDiff)
	if d := cmp.Diff(wantDiff, diff); d != "" {
		t.Errorf("shapeDiff (-want +got):\n%s", d)
	}
}

// TestBitbucketContract holds every fake answer that has an example in
// shared/contracts/bitbucket/api to exactly the example's keys and JSON
// types. Items are compared with the newest single-object example of their
// type: repository.get.2.json (post-GDPR owner) and hooks.get.json (which
// adds secret_set to the 2019 hooks.list.json items).
func TestBitbucketContract(t *testing.T) {
	bb, c := bbSetup(t)
	// Subscribing to pullrequest:* events needs the pullrequest scope.
	bb.AddToken("wat", BitbucketToken{Kind: "workspace", Workspace: "acme", Scopes: []string{"pullrequest", "webhook"}})

	created := bbDo(t, c, "POST", "/repositories/acme/site/hooks", "wat", map[string]any{
		"description": "gitaccess", "url": "https://gitaccess.example.com/hooks/1",
		"active": true, "events": []string{"repo:push", "pullrequest:created"}, "secret": "s3cret",
	})
	if created.status != http.StatusCreated {
		t.Fatalf("POST hooks: HTTP %d %v", created.status, created.body)
	}
	uid, _ := created.obj(t)["uuid"].(string)
	updated := bbDo(t, c, "PUT", "/repositories/acme/site/hooks/"+url.PathEscape(uid), "wat", map[string]any{
		"description": "gitaccess", "url": "https://gitaccess.example.com/hooks/1",
		"active": true, "events": []string{"repo:push"}, "secret": "s3cret2",
	})

	repoItem := bbExample(t, "repository.get.2.json")
	hookItem := bbExample(t, "hooks.get.json")
	branchItem := bbExample(t, "refs_branches.get.json")
	envelope := func(name string) map[string]any {
		e := bbExample(t, name).(map[string]any)
		delete(e, "values")
		return e
	}

	type pageCase struct {
		name, path     string
		envelope, item any
	}
	for _, pc := range []pageCase{
		// No licensed example of GET /2.0/repositories/{workspace} exists
		// (see SOURCES.md); its page envelope is Bitbucket's common one.
		{"list repositories", "/repositories/acme?pagelen=100", envelope("refs_branches.list.json"), repoItem},
		{"list branches", "/repositories/acme/site/refs/branches?pagelen=100", envelope("refs_branches.list.json"), branchItem},
		{"list hooks", "/repositories/acme/site/hooks?pagelen=100", envelope("hooks.list.json"), hookItem},
	} {
		t.Run(pc.name, func(t *testing.T) {
			a := bbDo(t, c, "GET", pc.path, "wat", nil)
			if a.status != http.StatusOK {
				t.Fatalf("HTTP %d %v", a.status, a.body)
			}
			page := a.obj(t)
			vals, _ := page["values"].([]any)
			if len(vals) == 0 {
				t.Fatal("no values, so item shapes go unchecked")
			}
			env := map[string]any{}
			for k, v := range page {
				if k != "values" {
					env[k] = v
				}
			}
			for _, d := range bbShapeDiff("$", pc.envelope, env) {
				t.Error(d)
			}
			for i, v := range vals {
				for _, d := range bbShapeDiff(fmt.Sprintf("$.values[%d]", i), pc.item, v) {
					t.Error(d)
				}
			}
		})
	}

	type oneCase struct {
		name, path string
		answer     *bbAnswer
		example    any
	}
	for _, oc := range []oneCase{
		{name: "get repository", path: "/repositories/acme/site", example: repoItem},
		{name: "get branch", path: "/repositories/acme/site/refs/branches/release/1.0", example: branchItem},
		{name: "get hook", path: "/repositories/acme/site/hooks/" + uid, example: hookItem},
		{name: "create hook", answer: &created, example: hookItem},
		{name: "update hook", answer: &updated, example: hookItem},
	} {
		t.Run(oc.name, func(t *testing.T) {
			a := oc.answer
			if a == nil {
				got := bbDo(t, c, "GET", oc.path, "wat", nil)
				a = &got
			}
			if a.status/100 != 2 {
				t.Fatalf("HTTP %d %v", a.status, a.body)
			}
			for _, d := range bbShapeDiff("$", oc.example, a.body) {
				t.Error(d)
			}
		})
	}
}

func TestBitbucketAuthentication(t *testing.T) {
	bb, c := bbSetup(t)
	bb.AddToken("rat", BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "app", Scopes: []string{"repository"}})

	for name, token := range map[string]string{"none": "", "unknown": "nope"} {
		a := bbDo(t, c, "GET", "/repositories/acme", token, nil)
		if a.status != http.StatusUnauthorized {
			t.Errorf("%s token: HTTP %d, want 401", name, a.status)
		}
		if msg := a.errorMessage(t); msg != "Token is invalid, expired, or not supported for this endpoint." {
			t.Errorf("%s token: message %q", name, msg)
		}
		if h := a.header.Get("X-Credential-Type"); h != "" {
			t.Errorf("%s token: X-Credential-Type %q on a refused request", name, h)
		}
	}

	if a := bbDo(t, c, "GET", "/repositories/acme", "rat", nil); a.status != http.StatusOK {
		t.Fatalf("valid token: HTTP %d", a.status)
	}
	bb.Revoke("rat")
	if a := bbDo(t, c, "GET", "/repositories/acme", "rat", nil); a.status != http.StatusUnauthorized {
		t.Errorf("revoked token: HTTP %d, want 401", a.status)
	}
	if n := bb.Requests("rat"); n != 2 {
		t.Errorf("Requests = %d, want 2 (one accepted, one refused)", n)
	}
}

func TestBitbucketVisibilityByTokenKind(t *testing.T) {
	bb, c := bbSetup(t)
	bb.AddToken("rat", BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "app", Scopes: []string{"repository"}})
	bb.AddToken("pat", BitbucketToken{Kind: "project", Workspace: "acme", Project: "PROJ", Scopes: []string{"repository"}})
	bb.AddToken("wat", BitbucketToken{Kind: "workspace", Workspace: "acme", Scopes: []string{"repository"}})

	cases := []struct {
		token, credType string
		want            []string
	}{
		{"rat", "repo_access_token", []string{"acme/app"}},
		{"pat", "project_access_token", []string{"acme/app", "acme/lib"}},
		{"wat", "workspace_access_token", []string{"acme/app", "acme/lib", "acme/site"}},
	}
	for _, tc := range cases {
		a := bbDo(t, c, "GET", "/repositories/acme", tc.token, nil)
		if a.status != http.StatusOK {
			t.Fatalf("%s: HTTP %d", tc.token, a.status)
		}
		if d := cmp.Diff(tc.want, bbFullNames(t, a)); d != "" {
			t.Errorf("%s sees (-want +got):\n%s", tc.token, d)
		}
		if got := a.header.Get("X-Credential-Type"); got != tc.credType {
			t.Errorf("%s: X-Credential-Type %q, want %q", tc.token, got, tc.credType)
		}
	}
	if a := bbDo(t, c, "GET", "/repositories/acme/site", "rat", nil); a.status != http.StatusNotFound {
		t.Errorf("repository token reading another repository: HTTP %d, want 404", a.status)
	}
	if a := bbDo(t, c, "GET", "/repositories/other", "wat", nil); a.status != http.StatusOK || len(bbFullNames(t, a)) != 0 {
		t.Errorf("workspace token listing another workspace: HTTP %d, %v; want nothing", a.status, a.body)
	}
}

func TestBitbucketScopes(t *testing.T) {
	bb, c := bbSetup(t)
	bb.AddToken("hooks-only", BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "app", Scopes: []string{"webhook"}})
	bb.AddToken("pr-write", BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "app", Scopes: []string{"pullrequest:write"}})
	bb.AddToken("admin", BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "app", Scopes: []string{"repository:admin"}})

	a := bbDo(t, c, "GET", "/repositories/acme", "hooks-only", nil)
	if a.status != http.StatusForbidden {
		t.Fatalf("listing without repository scope: HTTP %d, want 403", a.status)
	}
	if msg := a.errorMessage(t); msg != "Your credentials lack one or more required privilege scopes." {
		t.Errorf("403 message %q", msg)
	}
	detail := a.obj(t)["error"].(map[string]any)["detail"]
	if d := cmp.Diff(map[string]any{"granted": []any{"webhook"}, "required": []any{"repository"}}, detail); d != "" {
		t.Errorf("403 detail (-want +got):\n%s", d)
	}
	// Scopes are readable even on a refusal: that is how a token with too
	// little can still be told what it lacks.
	if got := a.header.Get("X-OAuth-Scopes"); got != "webhook" {
		t.Errorf("X-OAuth-Scopes on 403 = %q", got)
	}
	if got := a.header.Get("X-Accepted-OAuth-Scopes"); got != "repository" {
		t.Errorf("X-Accepted-OAuth-Scopes = %q", got)
	}
	if a := bbDo(t, c, "GET", "/repositories/acme/app/hooks", "hooks-only", nil); a.status != http.StatusOK {
		t.Errorf("webhook scope listing hooks: HTTP %d", a.status)
	}
	// pullrequest:write implies pullrequest, which implies repository.
	if a := bbDo(t, c, "GET", "/repositories/acme/app", "pr-write", nil); a.status != http.StatusOK {
		t.Errorf("pullrequest:write reading the repository: HTTP %d, want 200", a.status)
	}
	// repository:admin implies neither read nor write.
	if a := bbDo(t, c, "GET", "/repositories/acme/app", "admin", nil); a.status != http.StatusForbidden {
		t.Errorf("repository:admin reading the repository: HTTP %d, want 403", a.status)
	}
}

func TestBitbucketFailNext(t *testing.T) {
	bb, c := bbSetup(t)
	bb.AddToken("wat", BitbucketToken{Kind: "workspace", Workspace: "acme", Scopes: []string{"repository"}})
	bb.FailNext(http.StatusServiceUnavailable, nil)
	bb.FailNext(http.StatusTooManyRequests, http.Header{"Retry-After": {"30"}})

	if a := bbDo(t, c, "GET", "/repositories/acme", "wat", nil); a.status != http.StatusServiceUnavailable {
		t.Errorf("first: HTTP %d, want 503", a.status)
	}
	a := bbDo(t, c, "GET", "/repositories/acme", "wat", nil)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "30" {
		t.Errorf("second: HTTP %d Retry-After %q, want 429 and 30", a.status, a.header.Get("Retry-After"))
	}
	if msg := a.errorMessage(t); msg != "Rate limit for this resource has been exceeded." {
		t.Errorf("429 message %q", msg)
	}
	if a := bbDo(t, c, "GET", "/repositories/acme", "wat", nil); a.status != http.StatusOK {
		t.Errorf("third: HTTP %d, want 200 once the failures are used up", a.status)
	}
	if n := bb.Requests("wat"); n != 3 {
		t.Errorf("Requests = %d, want 3", n)
	}
}

func TestBitbucketRateLimit(t *testing.T) {
	bb, c := bbSetup(t)
	bb.AddToken("wat", BitbucketToken{Kind: "workspace", Workspace: "acme", Scopes: []string{"repository"}, RateLimit: 5})
	var near []string
	for range 5 {
		a := bbDo(t, c, "GET", "/repositories/acme", "wat", nil)
		if a.status != http.StatusOK {
			t.Fatalf("HTTP %d within the limit", a.status)
		}
		if a.header.Get("X-RateLimit-Limit") != "5" || a.header.Get("X-RateLimit-Resource") == "" {
			t.Errorf("rate headers: %v", a.header)
		}
		if a.header.Get("X-RateLimit-Remaining") != "" {
			t.Error("Bitbucket does not report a remaining count; the fake must not either")
		}
		near = append(near, a.header.Get("X-RateLimit-NearLimit"))
	}
	if d := cmp.Diff([]string{"false", "false", "false", "true", "true"}, near); d != "" {
		t.Errorf("X-RateLimit-NearLimit (-want +got):\n%s", d)
	}
	if a := bbDo(t, c, "GET", "/repositories/acme", "wat", nil); a.status != http.StatusTooManyRequests {
		t.Errorf("past the limit: HTTP %d, want 429", a.status)
	}
}

func TestBitbucketPagination(t *testing.T) {
	bb, c := bbSetup(t)
	bb.AddToken("wat", BitbucketToken{Kind: "workspace", Workspace: "acme", Scopes: []string{"repository"}})

	var got []string
	next := "/repositories/acme?pagelen=2"
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("next links never end")
		}
		a := bbDo(t, c, "GET", next, "wat", nil)
		if a.status != http.StatusOK {
			t.Fatalf("HTTP %d", a.status)
		}
		got = append(got, bbFullNames(t, a)...)
		if size := a.obj(t)["size"]; size != 3.0 {
			t.Errorf("size = %v, want 3", size)
		}
		next, _ = a.obj(t)["next"].(string)
		if next != "" && !strings.HasPrefix(next, "https://api.bitbucket.org/2.0/repositories/acme?") {
			t.Fatalf("next = %q, want an absolute API link", next)
		}
	}
	if d := cmp.Diff([]string{"acme/app", "acme/lib", "acme/site"}, got); d != "" {
		t.Errorf("pages (-want +got):\n%s", d)
	}
	a := bbDo(t, c, "GET", "/repositories/acme?pagelen=101", "wat", nil)
	if a.status != http.StatusBadRequest || a.errorMessage(t) != "Invalid pagelen" {
		t.Errorf("pagelen=101: HTTP %d %v, want 400 Invalid pagelen", a.status, a.body)
	}
}

func TestBitbucketHooks(t *testing.T) {
	bb, c := bbSetup(t)
	bb.AddToken("rat", BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "app", Scopes: []string{"repository", "webhook"}})

	bad := bbDo(t, c, "POST", "/repositories/acme/app/hooks", "rat", map[string]any{"url": "https://x.example/h"})
	if bad.status != http.StatusBadRequest {
		t.Errorf("hook without events: HTTP %d, want 400", bad.status)
	}
	a := bbDo(t, c, "POST", "/repositories/acme/app/hooks", "rat", map[string]any{
		"description": "d", "url": "https://x.example/h", "events": []string{"repo:push"},
	})
	if a.status != http.StatusCreated {
		t.Fatalf("create: HTTP %d %v", a.status, a.body)
	}
	h := a.obj(t)
	if h["active"] != true || h["secret_set"] != false {
		t.Errorf("created hook: active %v secret_set %v, want true and false", h["active"], h["secret_set"])
	}
	if d := cmp.Diff([]string{"https://x.example/h"}, bb.HookURLs("acme", "app")); d != "" {
		t.Errorf("HookURLs (-want +got):\n%s", d)
	}
	// The self link is how callers address the hook later.
	self := h["links"].(map[string]any)["self"].(map[string]any)["href"].(string)
	if got := bbDo(t, c, "GET", self, "rat", nil); got.status != http.StatusOK || got.obj(t)["uuid"] != h["uuid"] {
		t.Errorf("GET self link: HTTP %d %v", got.status, got.body)
	}
	if got := bbDo(t, c, "DELETE", self, "rat", nil); got.status != http.StatusNoContent {
		t.Errorf("DELETE: HTTP %d, want 204", got.status)
	}
	if urls := bb.HookURLs("acme", "app"); len(urls) != 0 {
		t.Errorf("hooks after delete: %v", urls)
	}
}

// TestBitbucketHookScopes: subscribing needs the scope of every event
// besides webhook, on POST and PUT alike.
func TestBitbucketHookScopes(t *testing.T) {
	bb, c := bbSetup(t)
	bb.AddToken("push-only", BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "app", Scopes: []string{"repository", "webhook"}})
	bb.AddToken("no-hooks", BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "app", Scopes: []string{"pullrequest:write"}})
	body := map[string]any{"url": "https://x.example/h", "events": []string{"repo:push", "pullrequest:created"}, "secret": "s"}

	a := bbDo(t, c, "POST", "/repositories/acme/app/hooks", "push-only", body)
	if a.status != http.StatusForbidden {
		t.Fatalf("pullrequest event without pullrequest scope: HTTP %d, want 403", a.status)
	}
	detail := a.obj(t)["error"].(map[string]any)["detail"]
	if d := cmp.Diff(map[string]any{"granted": []any{"repository", "webhook"}, "required": []any{"pullrequest"}}, detail); d != "" {
		t.Errorf("403 detail (-want +got):\n%s", d)
	}
	if a := bbDo(t, c, "GET", "/repositories/acme/app/hooks", "no-hooks", nil); a.status != http.StatusForbidden {
		t.Errorf("listing hooks without webhook: HTTP %d, want 403", a.status)
	}

	uid := bb.AddHook("acme", "app", BitbucketHook{URL: "https://x.example/h", Active: true, Events: []string{"repo:push"}})
	a = bbDo(t, c, "PUT", "/repositories/acme/app/hooks/"+url.PathEscape(uid), "push-only", body)
	if a.status != http.StatusForbidden {
		t.Errorf("PUT with a pullrequest event without pullrequest scope: HTTP %d, want 403", a.status)
	}
	if a := bbDo(t, c, "POST", "/repositories/acme/app/hooks", "push-only",
		map[string]any{"url": "https://x.example/h", "events": []string{"repo:push", "repo:push"}}); a.status != http.StatusBadRequest {
		t.Errorf("repeated event: HTTP %d, want 400", a.status)
	}
}

// TestBitbucketHookUpdate: PUT changes what it is given; an absent secret
// stays, null removes it. The secret is never in an answer.
func TestBitbucketHookUpdate(t *testing.T) {
	bb, c := bbSetup(t)
	bb.AddToken("rat", BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "app", Scopes: []string{"pullrequest", "webhook"}})
	a := bbDo(t, c, "POST", "/repositories/acme/app/hooks", "rat", map[string]any{
		"description": "d", "url": "https://x.example/h", "active": false, "events": []string{"repo:push"}, "secret": "first-secret",
	})
	if a.status != http.StatusCreated || a.obj(t)["secret_set"] != true || a.obj(t)["active"] != false {
		t.Fatalf("create: HTTP %d %v", a.status, a.body)
	}
	uid := a.obj(t)["uuid"].(string)
	path := "/repositories/acme/app/hooks/" + url.PathEscape(uid)

	a = bbDo(t, c, "PUT", path, "rat", map[string]any{"active": true, "events": []string{"repo:push", "pullrequest:fulfilled"}})
	if a.status != http.StatusOK {
		t.Fatalf("PUT: HTTP %d %v", a.status, a.body)
	}
	want := []BitbucketHook{{UUID: uid, Description: "d", URL: "https://x.example/h", Active: true,
		Events: []string{"repo:push", "pullrequest:fulfilled"}, Secret: "first-secret"}}
	if d := cmp.Diff(want, bb.Hooks("acme", "app")); d != "" {
		t.Errorf("after PUT without secret (-want +got):\n%s", d)
	}
	if a := bbDo(t, c, "PUT", path, "rat", map[string]any{"secret": "second-secret"}); a.status != http.StatusOK || a.obj(t)["secret_set"] != true {
		t.Errorf("PUT secret: HTTP %d %v", a.status, a.body)
	}
	if got := bb.Hooks("acme", "app")[0].Secret; got != "second-secret" {
		t.Errorf("secret after PUT = %q", got)
	}
	a = bbDo(t, c, "PUT", path, "rat", map[string]any{"secret": nil})
	if a.status != http.StatusOK || a.obj(t)["secret_set"] != false {
		t.Errorf("PUT null secret: HTTP %d %v, want secret_set false", a.status, a.body)
	}
	for _, raw := range []string{"first-secret", "second-secret"} {
		if _, _, body := bbRaw(t, c, "/repositories/acme/app/hooks", "rat"); bytes.Contains(body, []byte(raw)) {
			t.Errorf("a hook listing carries the secret %q", raw)
		}
	}
	if a := bbDo(t, c, "PUT", "/repositories/acme/app/hooks/%7Bnope%7D", "rat", map[string]any{"active": true}); a.status != http.StatusNotFound {
		t.Errorf("PUT unknown hook: HTTP %d, want 404", a.status)
	}
}

// TestBitbucketHookHelpers: what tests use to change hooks behind
// gitaccess's back.
func TestBitbucketHookHelpers(t *testing.T) {
	bb, c := bbSetup(t)
	bb.AddToken("rat", BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "app", Scopes: []string{"webhook"}})
	u1 := bb.AddHook("acme", "app", BitbucketHook{Description: "x", URL: "https://x.example/h", Active: true, Events: []string{"repo:push"}, Secret: "s"})
	u2 := bb.AddHook("acme", "app", BitbucketHook{URL: "https://x.example/h", Events: []string{"repo:push"}})
	bb.AddHook("acme", "app", BitbucketHook{URL: "https://other.example/", Active: true, Events: []string{"issue:created"}})
	if u1 == u2 {
		t.Fatalf("AddHook gave two hooks the UUID %s", u1)
	}
	if n := bb.EditHook("acme", "app", "https://x.example/h", func(h *BitbucketHook) { h.Active, h.Secret = false, "" }); n != 2 {
		t.Errorf("EditHook changed %d hooks, want 2", n)
	}
	a := bbDo(t, c, "GET", "/repositories/acme/app/hooks/"+url.PathEscape(u1), "rat", nil)
	if h := a.obj(t); h["active"] != false || h["secret_set"] != false || h["description"] != "x" {
		t.Errorf("edited hook as served: %v", h)
	}
	if n := bb.RemoveHook("acme", "app", "https://x.example/h"); n != 2 {
		t.Errorf("RemoveHook removed %d, want 2", n)
	}
	if d := cmp.Diff([]string{"https://other.example/"}, bb.HookURLs("acme", "app")); d != "" {
		t.Errorf("left (-want +got):\n%s", d)
	}
	if n := bb.EditHook("acme", "nope", "https://x.example/h", func(*BitbucketHook) {}); n != 0 {
		t.Errorf("EditHook on an unknown repository changed %d", n)
	}
}

func bbRaw(t *testing.T, c *http.Client, path, token string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", "https://api.bitbucket.org/2.0"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func TestBitbucketRepositoryQuery(t *testing.T) {
	bb, c := bbSetup(t)
	for i := range 12 {
		bb.AddRepo(BitbucketRepo{Workspace: "acme", Slug: fmt.Sprintf("svc-%02d", i)})
	}
	bb.AddToken("wat", BitbucketToken{Kind: "workspace", Workspace: "acme", Scopes: []string{"repository"}})

	// The next link keeps q, so every page is filtered.
	var got []string
	next := `/repositories/acme?pagelen=2&q=` + url.QueryEscape(`full_name ~ "ACME/SVC-0"`)
	for next != "" {
		a := bbDo(t, c, "GET", next, "wat", nil)
		if a.status != http.StatusOK {
			t.Fatalf("HTTP %d %v", a.status, a.body)
		}
		got = append(got, bbFullNames(t, a)...)
		next, _ = a.obj(t)["next"].(string)
	}
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprintf("acme/svc-%02d", i))
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("full_name ~ (-want +got):\n%s", d)
	}

	a := bbDo(t, c, "GET", "/repositories/acme?q="+url.QueryEscape(`full_name ~ "a\"b"`), "wat", nil)
	if a.status != http.StatusOK || len(bbFullNames(t, a)) != 0 {
		t.Errorf("escaped quote: HTTP %d %v, want an empty page", a.status, a.body)
	}
	for _, q := range []string{`name ~ "app"`, `full_name ~ "app`, `full_name ~ "app" OR x`} {
		if a := bbDo(t, c, "GET", "/repositories/acme?q="+url.QueryEscape(q), "wat", nil); a.status != http.StatusBadRequest {
			t.Errorf("q=%s: HTTP %d, want 400", q, a.status)
		}
	}

	// Clone links name a user, as Bitbucket's do.
	a = bbDo(t, c, "GET", "/repositories/acme/app", "wat", nil)
	clone := a.obj(t)["links"].(map[string]any)["clone"].([]any)[0].(map[string]any)
	if clone["name"] != "https" || clone["href"] != "https://acme@bitbucket.org/acme/app.git" {
		t.Errorf("https clone link = %v", clone)
	}
}

func TestBitbucketSource(t *testing.T) {
	bb, c := bbSetup(t)
	bb.AddToken("rat", BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "site", Scopes: []string{"repository"}})
	bb.AddToken("hooks", BitbucketToken{Kind: "repository", Workspace: "acme", Repository: "site", Scopes: []string{"webhook"}})
	bb.SetFile("acme", "site", "main", "Dockerfile", []byte("FROM main\n"))
	bb.SetFile("acme", "site", "main", "deploy/app.yaml", []byte("app: 1\n"))
	bb.SetFile("acme", "site", "main", "deploy/k8s/svc.yaml", []byte("svc: 1\n"))
	bb.SetFile("acme", "site", "release/1.0", "Dockerfile", []byte("FROM release\n"))
	for i := range 12 {
		bb.SetFile("acme", "site", "main", fmt.Sprintf("many/f%02d.txt", i), []byte("x"))
	}

	status, h, body := bbRaw(t, c, "/repositories/acme/site/src/main/deploy/app.yaml", "rat")
	if status != http.StatusOK || string(body) != "app: 1\n" {
		t.Fatalf("file: HTTP %d %q", status, body)
	}
	if h.Get("Content-Type") != mime.TypeByExtension(".yaml") || !strings.HasPrefix(h.Get("Content-Disposition"), "attachment") {
		t.Errorf("file headers: Content-Type %q, Content-Disposition %q", h.Get("Content-Type"), h.Get("Content-Disposition"))
	}

	// A commit is a branch name or a (possibly abbreviated) head hash; a
	// branch name with a slash is not one segment, so it is not found.
	hash := BranchHash("acme", "site", "release/1.0")
	for path, want := range map[string]int{
		"/repositories/acme/site/src/" + hash + "/Dockerfile":     http.StatusOK,
		"/repositories/acme/site/src/" + hash[:7] + "/Dockerfile": http.StatusOK,
		"/repositories/acme/site/src/release/1.0/Dockerfile":      http.StatusNotFound,
		"/repositories/acme/site/src/release%2F1.0/Dockerfile":    http.StatusNotFound,
		"/repositories/acme/site/src/main/nope":                   http.StatusNotFound,
		"/repositories/acme/site/src/main":                        http.StatusNotFound,
		"/repositories/acme/app/src/main/Dockerfile":              http.StatusNotFound,
		"/repositories/acme/site/src/main/Dockerfile?format=meta": http.StatusNotImplemented,
		"/repositories/acme/site/src/0000000000/Dockerfile":       http.StatusNotFound,
	} {
		if status, _, body := bbRaw(t, c, path, "rat"); status != want {
			t.Errorf("%s: HTTP %d %s, want %d", path, status, body, want)
		}
	}
	if status, _, _ := bbRaw(t, c, "/repositories/acme/site/src/main/Dockerfile", "hooks"); status != http.StatusForbidden {
		t.Errorf("without the repository scope: HTTP %d, want 403", status)
	}

	type entry struct{ Path, Type string }
	entries := func(a bbAnswer) []entry {
		var out []entry
		for _, v := range a.obj(t)["values"].([]any) {
			m := v.(map[string]any)
			out = append(out, entry{m["path"].(string), m["type"].(string)})
		}
		return out
	}
	a := bbDo(t, c, "GET", "/repositories/acme/site/src/main/", "rat", nil)
	if d := cmp.Diff([]entry{{"Dockerfile", "commit_file"}, {"deploy", "commit_directory"}, {"many", "commit_directory"}}, entries(a)); d != "" {
		t.Errorf("root listing (-want +got):\n%s", d)
	}
	a = bbDo(t, c, "GET", "/repositories/acme/site/src/main/deploy", "rat", nil)
	if d := cmp.Diff([]entry{{"deploy/app.yaml", "commit_file"}, {"deploy/k8s", "commit_directory"}}, entries(a)); d != "" {
		t.Errorf("deploy listing (-want +got):\n%s", d)
	}
	file := a.obj(t)["values"].([]any)[0].(map[string]any)
	if file["size"] != 7.0 || file["attributes"] == nil || file["commit"].(map[string]any)["hash"] != BranchHash("acme", "site", "main") {
		t.Errorf("file entry = %v", file)
	}
	// Listings are pages like any other (default pagelen 10).
	a = bbDo(t, c, "GET", "/repositories/acme/site/src/main/many", "rat", nil)
	if n := len(entries(a)); n != 10 || a.obj(t)["size"] != 12.0 || a.obj(t)["next"] == nil {
		t.Errorf("first page of 12 entries: %d entries, size %v, next %v", n, a.obj(t)["size"], a.obj(t)["next"])
	}
}
