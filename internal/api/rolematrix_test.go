package api

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
	"github.com/gitaccess/gitaccess/internal/store/sqlite"
)

// okForge accepts every token on github.com and proves every use.
type okForge struct{}

func (okForge) Provider() forge.Provider { return forge.GitHub }

func (okForge) ResolveEndpoint(rawURL, _ string) (forge.Endpoint, error) {
	if rawURL != "" && rawURL != "https://github.com" {
		return forge.Endpoint{}, &forge.InvalidInputError{Field: "url", Reason: "only github.com in this test"}
	}
	return forge.Endpoint{Provider: forge.GitHub, WebURL: "https://github.com", APIURL: "https://api.github.com"}, nil
}

func (okForge) Inspect(_ context.Context, _ forge.Credential, uses []forge.Use) (forge.Report, error) {
	r := forge.Report{Provider: forge.GitHub, Host: "github.com", Kind: forge.KindGitHubClassicPAT, Identity: "octocat",
		Scopes: []string{"repo", "admin:repo_hook"}, Requests: 1}
	for _, u := range uses {
		r.Checks = append(r.Checks, forge.UseCheck{Use: u, Status: forge.CheckOK, Needs: []string{"repo"}, Proven: []string{"repo"}})
	}
	return r, nil
}

type caller struct {
	name string
	key  string // "" sends no key
	p    access.Principal
}

// world is one gitaccess over a real SQLite store: the "default"
// organization with a key per role and a token, and a second organization.
type world struct {
	st      *sqlite.Store
	svc     *access.Service
	h       http.Handler
	logs    *logBuffer
	owner   access.Principal
	callers []caller
	// values are every token value and API key string handed in; none may
	// appear in a log line, and none but a fresh key in a response.
	values []string
	// victim holds identifiers of the default organization that another
	// organization's caller must never see.
	victim []string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := t.Context()
	log, logs := newTestLogger()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gitaccess.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	kr, err := secret.GenerateKeyring()
	if err != nil {
		t.Fatal(err)
	}
	svc := access.New(access.Config{Store: st, Sealer: kr, Forges: access.ForgeMap{forge.GitHub: okForge{}}, Logger: log})
	w := &world{st: st, svc: svc, logs: logs, h: New(Config{Service: svc, Logger: log})}

	ownerKey, created, err := svc.Bootstrap(ctx)
	if err != nil || !created {
		t.Fatalf("bootstrap: created %v, %v", created, err)
	}
	w.owner = w.authenticate(t, ownerKey)
	w.callers = append(w.callers, caller{"owner", ownerKey.Reveal(), w.owner})
	w.values = append(w.values, ownerKey.Reveal())
	w.victim = append(w.victim, w.owner.OrgID)
	for _, role := range []store.Role{store.RoleAdmin, store.RoleDevOps, store.RoleMember} {
		k, err := svc.CreateAPIKey(ctx, w.owner, string(role), role)
		if err != nil {
			t.Fatal(err)
		}
		w.callers = append(w.callers, caller{string(role), k.Key.Reveal(), w.authenticate(t, k.Key)})
		w.values = append(w.values, k.Key.Reveal())
		w.victim = append(w.victim, k.ID)
	}
	_, other, err := svc.CreateOrg(ctx, w.owner, "other")
	if err != nil {
		t.Fatal(err)
	}
	w.callers = append(w.callers, caller{"other-owner", other.Key.Reveal(), w.authenticate(t, other.Key)}, caller{name: "no-key"})
	w.values = append(w.values, other.Key.Reveal())

	prod := w.addToken(t, "prod")
	w.victim = append(w.victim, prod.Token.ID, prod.Token.Fingerprint)
	return w
}

func (w *world) authenticate(t *testing.T, key secret.Value) access.Principal {
	t.Helper()
	p, err := w.svc.Authenticate(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// addToken saves a token in the default organization, as its Owner.
func (w *world) addToken(t *testing.T, name string) access.TokenResult {
	t.Helper()
	value := "ghp_" + strings.Repeat("Z", 20) + "value" + name
	w.values = append(w.values, value)
	res, err := w.svc.AddToken(t.Context(), w.owner, access.AddTokenInput{Name: name, Provider: "github", Value: secret.New(value)})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (w *world) denials(t *testing.T, p access.Principal) int {
	t.Helper()
	n, page := 0, store.Page{Limit: 500}
	for {
		recs, next, err := w.st.ListAudit(t.Context(), p.OrgID, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Action == "authz.denied" && strings.HasPrefix(r.Actor, p.KeyID+" ") {
				n++
			}
		}
		if next == "" {
			return n
		}
		page.After = next
	}
}

// outcomes lists the status each caller gets, in the order of
// newWorld's callers: owner, admin, devops, member, other-owner, no key.
type outcomes [6]int

type matrixCase struct {
	// request builds the request for one caller, preparing what it acts on.
	request func(t *testing.T, w *world, c caller) (path string, body any)
	want    outcomes
}

func fixed(path string, body any) func(*testing.T, *world, caller) (string, any) {
	return func(*testing.T, *world, caller) (string, any) { return path, body }
}

func matrix() map[string]matrixCase {
	const ok, created, gone, denied, unknown, unauth = 200, 201, 204, 403, 404, 401
	everyone := outcomes{ok, ok, ok, ok, ok, ok}
	readers := outcomes{ok, ok, ok, ok, ok, unauth}
	tokenWriters := func(status int, otherOrg int) outcomes {
		return outcomes{status, status, status, denied, otherOrg, unauth}
	}
	return map[string]matrixCase{
		"GET /healthz":             {fixed("/healthz", nil), everyone},
		"GET /readyz":              {fixed("/readyz", nil), everyone},
		"GET /api/v1/openapi.json": {fixed("/api/v1/openapi.json", nil), everyone},
		"GET /api/v1/whoami":       {fixed("/api/v1/whoami", nil), readers},
		"GET /api/v1/tokens":       {fixed("/api/v1/tokens", nil), readers},
		"POST /api/v1/tokens": {func(_ *testing.T, w *world, c caller) (string, any) {
			value := "ghp_NewTokenValueFor_" + c.name
			w.values = append(w.values, value)
			return "/api/v1/tokens", map[string]any{"name": "new-" + c.name, "provider": "github", "value": value}
		}, tokenWriters(created, created)},
		"POST /api/v1/tokens/test": {func(_ *testing.T, w *world, c caller) (string, any) {
			value := "ghp_TestedValueFor_" + c.name
			w.values = append(w.values, value)
			return "/api/v1/tokens/test", map[string]any{"provider": "github", "value": value, "uses": []string{"clone"}}
		}, tokenWriters(ok, ok)},
		"GET /api/v1/tokens/{name}": {fixed("/api/v1/tokens/prod", nil), outcomes{ok, ok, ok, ok, unknown, unauth}},
		"PATCH /api/v1/tokens/{name}": {func(t *testing.T, w *world, c caller) (string, any) {
			w.addToken(t, "patch-"+c.name)
			return "/api/v1/tokens/patch-" + c.name, map[string]any{"description": "changed by " + c.name}
		}, tokenWriters(ok, unknown)},
		"DELETE /api/v1/tokens/{name}": {func(t *testing.T, w *world, c caller) (string, any) {
			w.addToken(t, "del-"+c.name)
			return "/api/v1/tokens/del-" + c.name + "?confirm=del-" + c.name, nil
		}, tokenWriters(gone, unknown)},
		"POST /api/v1/tokens/{name}/test": {fixed("/api/v1/tokens/prod/test", nil), tokenWriters(ok, unknown)},
		"GET /api/v1/orgs":                {fixed("/api/v1/orgs", nil), readers},
		"POST /api/v1/orgs": {func(_ *testing.T, _ *world, c caller) (string, any) {
			return "/api/v1/orgs", map[string]any{"name": "org-" + c.name}
		}, outcomes{created, denied, denied, denied, denied, unauth}},
		"GET /api/v1/apikeys": {fixed("/api/v1/apikeys", nil), outcomes{ok, ok, denied, denied, ok, unauth}},
		"POST /api/v1/apikeys": {func(_ *testing.T, _ *world, c caller) (string, any) {
			return "/api/v1/apikeys", map[string]any{"name": "k-" + c.name, "role": "member"}
		}, outcomes{created, created, denied, denied, created, unauth}},
		"DELETE /api/v1/apikeys/{id}": {func(t *testing.T, w *world, c caller) (string, any) {
			k, err := w.svc.CreateAPIKey(t.Context(), w.owner, "victim-"+c.name, store.RoleMember)
			if err != nil {
				t.Fatal(err)
			}
			w.values = append(w.values, k.Key.Reveal())
			return "/api/v1/apikeys/" + k.ID, nil
		}, outcomes{gone, gone, denied, denied, unknown, unauth}},
		"GET /api/v1/audit": {fixed("/api/v1/audit", nil), outcomes{ok, ok, ok, denied, ok, unauth}},
	}
}

func TestRoleMatrix(t *testing.T) {
	w := newWorld(t)
	cases := matrix()

	var table, covered []string
	for _, r := range tableRoutes() {
		table = append(table, routeKey(r))
	}
	for k := range cases {
		covered = append(covered, k)
	}
	slices.Sort(table)
	slices.Sort(covered)
	if d := cmp.Diff(table, covered); d != "" {
		t.Fatalf("the matrix does not cover exactly the route table (-table +matrix):\n%s", d)
	}

	slugs := map[int]string{401: "unauthenticated", 403: "forbidden", 404: "not-found"}
	for _, r := range tableRoutes() {
		key := routeKey(r)
		tc := cases[key]
		for i, c := range w.callers {
			t.Run(key+"/"+c.name, func(t *testing.T) {
				path, body := tc.request(t, w, c)
				var before int
				if c.key != "" {
					before = w.denials(t, c.p)
				}
				res := do(t, w.h, r.op.Method, path, c.key, body)
				want := tc.want[i]
				if res.status != want {
					t.Fatalf("status = %d, want %d: %s", res.status, want, res.body)
				}
				if want >= 400 {
					if got := res.json(t)["type"]; got != ProblemTypePrefix+slugs[want] {
						t.Errorf("type = %v, want %s", got, slugs[want])
					}
				}
				if c.key != "" {
					wantDenials := before
					if want == http.StatusForbidden {
						wantDenials++
					}
					if got := w.denials(t, c.p); got != wantDenials {
						t.Errorf("authz.denied records for %s went from %d to %d, want %d", c.name, before, got, wantDenials)
					}
				}
				if key == "GET /api/v1/whoami" && want == http.StatusOK {
					if got := res.json(t)["role"]; got != string(c.p.Role) {
						t.Errorf("whoami role = %v, want %s", got, c.p.Role)
					}
				}
				for _, v := range w.values {
					if strings.Contains(string(res.body), v) {
						t.Errorf("response shows a secret handed in earlier: %s", res.body)
					}
				}
				if c.name == "other-owner" {
					for _, v := range w.victim {
						if strings.Contains(string(res.body), v) {
							t.Errorf("another organization's key sees %q: %s", v, res.body)
						}
					}
				}
			})
		}
	}

	logs := w.logs.String()
	for _, v := range w.values {
		if strings.Contains(logs, v) {
			t.Errorf("a secret reached the log: …%s", v[len(v)-6:])
		}
	}
}
