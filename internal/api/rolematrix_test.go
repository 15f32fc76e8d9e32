package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/events"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/secret/keyring"
	"github.com/gitaccess/gitaccess/internal/store"
	"github.com/gitaccess/gitaccess/internal/store/sqlite"
	"github.com/gitaccess/gitaccess/internal/webhook"
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

func (okForge) ListRepos(context.Context, forge.Credential, string) ([]forge.Repo, error) {
	return []forge.Repo{{FullName: "acme/api", CloneURL: "https://github.com/acme/api.git", WebURL: "https://github.com/acme/api", DefaultBranch: "main", Private: true}}, nil
}

func (okForge) GetRepo(_ context.Context, _ forge.Credential, full string) (forge.Repo, error) {
	return forge.Repo{FullName: full, CloneURL: "https://github.com/" + full + ".git", WebURL: "https://github.com/" + full, DefaultBranch: "main"}, nil
}

func (okForge) ListBranches(context.Context, forge.Credential, string) ([]forge.Branch, error) {
	return []forge.Branch{{Name: "main", SHA: strings.Repeat("a", 40)}}, nil
}

func (okForge) GetBranch(_ context.Context, _ forge.Credential, _, branch string) (forge.Branch, error) {
	return forge.Branch{Name: branch, SHA: strings.Repeat("a", 40)}, nil
}

func (okForge) ReadFile(context.Context, forge.Credential, string, string, string) ([]byte, error) {
	return []byte("FROM scratch\n"), nil
}

// okForge's hooks: installing always succeeds, and the hook is always
// there as installed.
func (okForge) EnsureHook(_ context.Context, _ forge.Credential, _ string, spec forge.HookSpec) (forge.Hook, error) {
	return forge.Hook{ID: "4711", URL: spec.URL, Active: true, Events: []string{"push", "pull_request"}}, nil
}

func (okForge) FindHook(_ context.Context, _ forge.Credential, _, hookURL string) (forge.Hook, bool, error) {
	return forge.Hook{ID: "4711", URL: hookURL, Active: true, Events: []string{"push", "pull_request"}}, true, nil
}

func (okForge) DeleteHook(context.Context, forge.Credential, string, string) error { return nil }

// okForge's deliveries are "signed" with the hook secret itself in
// X-Test-Signature.
func (okForge) VerifyDelivery(h http.Header, _ []byte, sec secret.Value) error {
	sig := h.Get("X-Test-Signature")
	if sig == "" {
		return forge.ErrUnsigned
	}
	if !sec.Equal(secret.New(sig)) {
		return fmt.Errorf("X-Test-Signature: %w", forge.ErrBadSignature)
	}
	return nil
}

// okParsers reads every provider's deliveries with okForge.
type okParsers struct{}

func (okParsers) Webhooks(forge.Provider) (forge.Webhooks, bool) { return okForge{}, true }

func (okForge) DeliveryID(h http.Header) string { return h.Get("X-GitHub-Delivery") }

func (okForge) ParseDelivery(http.Header, []byte) ([]forge.Event, error) { return nil, nil }

// okMirrors is a mirror cache whose every repository has one commit.
type okMirrors struct{}

func (okMirrors) Fetch(ctx context.Context, _ string, o access.FetchOptions) (string, error) {
	if _, _, err := o.Credential(ctx); err != nil {
		return "", err
	}
	return "/mirrors/acme-api.git", nil
}

func (okMirrors) Lookup(context.Context, string, string) (string, bool) { return "", false }

func (okMirrors) ResolveRef(context.Context, string, string) (string, error) {
	return strings.Repeat("c", 40), nil
}

func (okMirrors) Archive(_ context.Context, _, _, _ string, w io.Writer) error {
	_, err := w.Write([]byte("\x1f\x8barchive"))
	return err
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
	kr      *keyring.Keyring
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
	// prodValue is the value of token prod, which serves github.com: the
	// one secret POST /credentials may answer with.
	prodValue string
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
	kr, err := keyring.GenerateKeyring()
	if err != nil {
		t.Fatal(err)
	}
	svc := access.New(access.Config{Store: st, Sealer: kr, Forges: access.ForgeMap{forge.GitHub: okForge{}}, Mirrors: okMirrors{}, Logger: log,
		PublicURL: "https://gitaccess.example.com", NewSigningSecret: events.NewSecret})
	hooks := webhook.New(webhook.Config{Store: st, Opener: kr, Parsers: okParsers{}, Logger: log, AssociatedData: access.AssociatedData})
	w := &world{st: st, kr: kr, svc: svc, logs: logs, h: New(Config{Service: svc, Webhooks: hooks, Logger: log})}

	ownerKey, created, err := svc.Bootstrap(ctx)
	if err != nil || !created {
		t.Fatalf("bootstrap: created %v, %v", created, err)
	}
	w.owner = w.authenticate(t, ownerKey)
	w.callers = append(w.callers, caller{"owner", ownerKey.Reveal(), w.owner})
	w.values = append(w.values, ownerKey.Reveal())
	w.victim = append(w.victim, w.owner.OrgID)
	for _, role := range []store.Role{store.RoleAdmin, store.RoleDevOps, store.RoleMember, store.RoleBuilder} {
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

	// prod serves all of github.com (its default prefix); web is bound to
	// it by that prefix.
	prod := w.addToken(t, "prod")
	w.prodValue = w.values[len(w.values)-1]
	w.victim = append(w.victim, prod.Token.ID, prod.Token.Fingerprint)
	web := w.addApp(t, "web")
	w.victim = append(w.victim, web.ID)
	// hooked has a webhook; its URL names the hook, which only its
	// organization may see.
	hooked := w.addHookedApp(t, "hooked")
	if hooked.Hook == nil || hooked.Hook.URL == "" {
		t.Fatalf("hooked has no hook: %+v", hooked)
	}
	w.victim = append(w.victim, hooked.ID, hooked.Hook.URL)
	return w
}

// addHookedApp binds an application with auto-deploy, so it has a
// webhook.
func (w *world) addHookedApp(t *testing.T, name string) access.AppView {
	t.Helper()
	v, err := w.svc.CreateApp(t.Context(), w.owner, access.AppInput{Name: name, RepoURL: "https://github.com/acme/api", AutoDeploy: true})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// addSubscription adds a subscriber in the default organization; its
// secret joins the values no response or log may show.
func (w *world) addSubscription(t *testing.T, url string) access.NewSubscription {
	t.Helper()
	sub, err := w.svc.CreateSubscription(t.Context(), w.owner, access.SubscriptionInput{URL: url, Events: []string{"deploy.*"}})
	if err != nil {
		t.Fatal(err)
	}
	w.values = append(w.values, sub.Secret.Reveal())
	return sub
}

// addEvent enqueues a deploy.requested event for sub in the default
// organization.
func (w *world) addEvent(t *testing.T, sub string) string {
	t.Helper()
	id := store.NewID("evt")
	err := w.st.EnqueueEvents(t.Context(), []store.NewEvent{{Event: store.Event{ID: id, OrgID: w.owner.OrgID, Type: "deploy.requested",
		Payload: []byte(`{"app":"web"}`), CreatedAt: time.Now().UTC()}, Subscriptions: []string{sub}}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// addApp binds an application in the default organization, as its Owner.
func (w *world) addApp(t *testing.T, name string) access.AppView {
	t.Helper()
	v, err := w.svc.CreateApp(t.Context(), w.owner, access.AppInput{Name: name, RepoURL: "https://github.com/acme/api"})
	if err != nil {
		t.Fatal(err)
	}
	return v
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
// Every token but prod serves its own prefix, so prod keeps github.com.
func (w *world) addToken(t *testing.T, name string) access.TokenResult {
	t.Helper()
	value := "ghp_" + strings.Repeat("Z", 20) + "value" + name
	w.values = append(w.values, value)
	in := access.AddTokenInput{Name: name, Provider: "github", Value: secret.New(value)}
	if name != "prod" {
		in.Prefixes = []string{"https://github.com/" + name + "/"}
	}
	res, err := w.svc.AddToken(t.Context(), w.owner, in)
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
// newWorld's callers: owner, admin, devops, member, builder, other-owner,
// no key.
type outcomes [7]int

type matrixCase struct {
	// request builds the request for one caller, preparing what it acts on.
	request func(t *testing.T, w *world, c caller) (path string, body any)
	want    outcomes
}

func fixed(path string, body any) func(*testing.T, *world, caller) (string, any) {
	return func(*testing.T, *world, caller) (string, any) { return path, body }
}

func matrix() map[string]matrixCase {
	const ok, created, accepted, gone, denied, unknown, unauth = 200, 201, 202, 204, 403, 404, 401
	everyone := outcomes{ok, ok, ok, ok, ok, ok, ok}
	readers := outcomes{ok, ok, ok, ok, ok, ok, unauth}
	// members read and browse; builders only clone and fetch archives.
	members := func(otherOrg int) outcomes {
		return outcomes{ok, ok, ok, ok, denied, otherOrg, unauth}
	}
	writers := func(status int, otherOrg int) outcomes {
		return outcomes{status, status, status, denied, denied, otherOrg, unauth}
	}
	// appUsers read applications and resolve credentials: builders too.
	appUsers := outcomes{ok, ok, ok, ok, ok, unknown, unauth}
	const repo = "https://github.com/acme/api"
	cred := map[string]any{"protocol": "https", "host": "github.com", "path": "acme/api.git"}
	return map[string]matrixCase{
		"GET /healthz":             {fixed("/healthz", nil), everyone},
		"GET /readyz":              {fixed("/readyz", nil), everyone},
		"GET /api/v1/openapi.json": {fixed("/api/v1/openapi.json", nil), everyone},
		"GET /api/v1/whoami":       {fixed("/api/v1/whoami", nil), readers},
		"GET /api/v1/tokens":       {fixed("/api/v1/tokens", nil), members(ok)},
		"POST /api/v1/tokens": {func(_ *testing.T, w *world, c caller) (string, any) {
			value := "ghp_NewTokenValueFor_" + c.name
			w.values = append(w.values, value)
			return "/api/v1/tokens", map[string]any{"name": "new-" + c.name, "provider": "github", "value": value,
				"prefixes": []string{"https://github.com/new-" + c.name + "/"}}
		}, writers(created, created)},
		"POST /api/v1/tokens/test": {func(_ *testing.T, w *world, c caller) (string, any) {
			value := "ghp_TestedValueFor_" + c.name
			w.values = append(w.values, value)
			return "/api/v1/tokens/test", map[string]any{"provider": "github", "value": value, "uses": []string{"clone"}}
		}, writers(ok, ok)},
		"GET /api/v1/tokens/{name}": {fixed("/api/v1/tokens/prod", nil), members(unknown)},
		"PATCH /api/v1/tokens/{name}": {func(t *testing.T, w *world, c caller) (string, any) {
			w.addToken(t, "patch-"+c.name)
			return "/api/v1/tokens/patch-" + c.name, map[string]any{"description": "changed by " + c.name}
		}, writers(ok, unknown)},
		"DELETE /api/v1/tokens/{name}": {func(t *testing.T, w *world, c caller) (string, any) {
			w.addToken(t, "del-"+c.name)
			return "/api/v1/tokens/del-" + c.name + "?confirm=del-" + c.name, nil
		}, writers(gone, unknown)},
		"POST /api/v1/tokens/{name}/test": {fixed("/api/v1/tokens/prod/test", nil), writers(ok, unknown)},
		// Members read what uses a token: the applications they see anyway.
		"GET /api/v1/tokens/{name}/impact": {fixed("/api/v1/tokens/prod/impact", nil), members(unknown)},
		"POST /api/v1/tokens/{name}/rotate": {func(t *testing.T, w *world, c caller) (string, any) {
			w.addToken(t, "rot-"+c.name)
			value := "ghp_RotatedValueFor_" + c.name
			w.values = append(w.values, value)
			return "/api/v1/tokens/rot-" + c.name + "/rotate", map[string]any{"value": value}
		}, writers(ok, unknown)},
		"GET /api/v1/tokens/{name}/repos": {fixed("/api/v1/tokens/prod/repos?search=api", nil), members(unknown)},
		"GET /api/v1/repos/branches":      {fixed("/api/v1/repos/branches?url="+repo, nil), members(unknown)},
		"GET /api/v1/repos/file":          {fixed("/api/v1/repos/file?url="+repo+"&path=Dockerfile&ref=main", nil), members(unknown)},
		"GET /api/v1/apps":                {fixed("/api/v1/apps", nil), readers},
		"POST /api/v1/apps": {func(_ *testing.T, _ *world, c caller) (string, any) {
			return "/api/v1/apps", map[string]any{"name": "app-" + c.name, "repo_url": repo, "branch": "main"}
		}, writers(created, unknown)},
		"GET /api/v1/apps/{name}": {fixed("/api/v1/apps/web", nil), appUsers},
		"PATCH /api/v1/apps/{name}": {func(t *testing.T, w *world, c caller) (string, any) {
			w.addApp(t, "patch-"+c.name)
			return "/api/v1/apps/patch-" + c.name, map[string]any{"auto_deploy": true}
		}, writers(ok, unknown)},
		"DELETE /api/v1/apps/{name}": {func(t *testing.T, w *world, c caller) (string, any) {
			w.addHookedApp(t, "del-"+c.name)
			return "/api/v1/apps/del-" + c.name + "?force=false", nil
		}, writers(gone, unknown)},
		"POST /api/v1/apps/{name}/hook/check":  {fixed("/api/v1/apps/hooked/hook/check", nil), members(unknown)},
		"POST /api/v1/apps/{name}/hook/repair": {fixed("/api/v1/apps/hooked/hook/repair", nil), writers(ok, unknown)},
		"GET /api/v1/apps/{name}/deliveries":   {fixed("/api/v1/apps/hooked/deliveries?limit=10", nil), members(unknown)},
		// The receiver takes no API key; a delivery for a hook nobody has
		// is 404 whoever sends it (TestReceiveHook covers the rest).
		"POST /hooks/{hook_id}": {fixed("/hooks/hk_nobody", "{}"), outcomes{unknown, unknown, unknown, unknown, unknown, unknown, unknown}},
		"GET /api/v1/subscriptions": {func(t *testing.T, w *world, c caller) (string, any) {
			sub := w.addSubscription(t, "https://platform.example.com/listed-"+c.name)
			w.victim = append(w.victim, sub.ID, sub.URL)
			return "/api/v1/subscriptions", nil
		}, members(ok)},
		"POST /api/v1/subscriptions": {func(_ *testing.T, _ *world, c caller) (string, any) {
			return "/api/v1/subscriptions", map[string]any{"url": "https://platform.example.com/hooks/" + c.name, "events": []string{"deploy.*", "preview.*"}}
		}, writers(created, created)},
		"DELETE /api/v1/subscriptions/{id}": {func(t *testing.T, w *world, c caller) (string, any) {
			return "/api/v1/subscriptions/" + w.addSubscription(t, "https://platform.example.com/del-"+c.name).ID, nil
		}, writers(gone, unknown)},
		"GET /api/v1/events": {func(t *testing.T, w *world, c caller) (string, any) {
			w.victim = append(w.victim, w.addEvent(t, w.addSubscription(t, "https://platform.example.com/events-"+c.name).ID))
			return "/api/v1/events", nil
		}, members(ok)},
		"POST /api/v1/events/{id}/replay": {func(t *testing.T, w *world, c caller) (string, any) {
			return "/api/v1/events/" + w.addEvent(t, w.addSubscription(t, "https://platform.example.com/replay-"+c.name).ID) + "/replay", nil
		}, writers(accepted, unknown)},
		"POST /api/v1/credentials/ca-bundle": {func(*testing.T, *world, caller) (string, any) {
			return "/api/v1/credentials/ca-bundle", cred
		}, appUsers},
		"GET /api/v1/apps/{name}/archive": {fixed("/api/v1/apps/web/archive?ref=main", nil), appUsers},
		"POST /api/v1/credentials":        {fixed("/api/v1/credentials", cred), appUsers},
		"POST /api/v1/credentials/reject": {fixed("/api/v1/credentials/reject", cred), appUsers},
		"GET /api/v1/orgs":                {fixed("/api/v1/orgs", nil), readers},
		"POST /api/v1/orgs": {func(_ *testing.T, _ *world, c caller) (string, any) {
			return "/api/v1/orgs", map[string]any{"name": "org-" + c.name}
		}, outcomes{created, denied, denied, denied, denied, denied, unauth}},
		"GET /api/v1/apikeys": {fixed("/api/v1/apikeys", nil), outcomes{ok, ok, denied, denied, denied, ok, unauth}},
		"POST /api/v1/apikeys": {func(_ *testing.T, _ *world, c caller) (string, any) {
			return "/api/v1/apikeys", map[string]any{"name": "k-" + c.name, "role": "member"}
		}, outcomes{created, created, denied, denied, denied, created, unauth}},
		"DELETE /api/v1/apikeys/{id}": {func(t *testing.T, w *world, c caller) (string, any) {
			k, err := w.svc.CreateAPIKey(t.Context(), w.owner, "victim-"+c.name, store.RoleMember)
			if err != nil {
				t.Fatal(err)
			}
			w.values = append(w.values, k.Key.Reveal())
			return "/api/v1/apikeys/" + k.ID, nil
		}, outcomes{gone, gone, denied, denied, denied, unknown, unauth}},
		"GET /api/v1/audit": {fixed("/api/v1/audit", nil), outcomes{ok, ok, ok, denied, denied, ok, unauth}},
		// Members read token health; builders only clone.
		"GET /api/v1/status": {fixed("/api/v1/status", nil), members(ok)},
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
				shown := string(res.body)
				if key == "POST /api/v1/credentials" && want == http.StatusOK {
					// git's credential: prod's value, once, as the password.
					if got := res.json(t)["password"]; got != w.prodValue || strings.Count(shown, w.prodValue) != 1 {
						t.Errorf("credential answer does not carry prod's value exactly once as its password: %s", shown)
					}
					shown = strings.ReplaceAll(shown, w.prodValue, "")
				}
				if key == "POST /api/v1/subscriptions" && want == http.StatusCreated {
					// The signing secret: in this answer once, and never again
					// in any answer or log line.
					sec, _ := res.json(t)["secret"].(string)
					if !strings.HasPrefix(sec, "whsec_") || strings.Count(shown, sec) != 1 {
						t.Errorf("subscription answer does not carry a whsec_ secret exactly once: %s", shown)
					}
					shown = strings.ReplaceAll(shown, sec, "")
					w.values = append(w.values, sec)
				}
				for _, v := range w.values {
					if strings.Contains(shown, v) {
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
