package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// logBuffer collects log output; the store may log from its own goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newTestLogger() (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	return slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// response is what a test needs from one exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// do sends one request through h; key "" sends no Authorization header.
func do(t *testing.T, h http.Handler, method, target, key string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequestWithContext(t.Context(), method, target, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// fakeService answers every use case from fixed data, fails them all with
// err when set, and records what it was given.
type fakeService struct {
	keys     map[string]access.Principal // raw API key → principal
	err      error
	readyErr error
	// newKey is the key string CreateAPIKey and CreateOrg hand out.
	newKey string

	// archive is what PrepareArchive hands out; file what ReadFile does.
	archive access.Archive
	file    []byte
	// credential is the token value ResolveCredential hands out.
	credential string

	mu       sync.Mutex
	refs     []string
	creds    []access.CredentialRequest
	browsed  []string
	added    []access.AddTokenInput
	tested   []access.TestValueInput
	updated  []access.UpdateTokenInput
	pages    []store.Page
	confirms []string
	deletes  []string
	subs     []access.SubscriptionInput
}

var _ Service = (*fakeService)(nil)

func (f *fakeService) Ready(context.Context) error { return f.readyErr }

func (f *fakeService) Authenticate(_ context.Context, raw secret.Value) (access.Principal, error) {
	for k, p := range f.keys {
		if secret.New(k).Equal(raw) {
			return p, nil
		}
	}
	return access.Principal{}, &access.Error{Kind: access.KindUnauthenticated, Message: "unknown key"}
}

func fakeNow() time.Time { return time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC) }

func fakeView(name string) access.TokenView {
	return access.TokenView{ID: "tok_" + name, Name: name, Provider: "github", Host: "github.com",
		Uses: []string{"clone"}, Status: access.StatusValid, Fingerprint: "sha256:0011223344556677", Last4: "wxyz",
		CreatedAt: fakeNow(), UpdatedAt: fakeNow()}
}

func fakeReport() forge.Report {
	return forge.Report{Provider: forge.GitHub, Host: "github.com", Kind: forge.KindGitHubClassicPAT, Identity: "octocat",
		Scopes: []string{"repo"}, Checks: []forge.UseCheck{{Use: forge.UseClone, Status: forge.CheckOK, Needs: []string{"repo"}}}}
}

func (f *fakeService) AddToken(_ context.Context, _ access.Principal, in access.AddTokenInput) (access.TokenResult, error) {
	f.mu.Lock()
	f.added = append(f.added, in)
	f.mu.Unlock()
	if f.err != nil {
		return access.TokenResult{}, f.err
	}
	return access.TokenResult{Token: fakeView(in.Name), Report: fakeReport()}, nil
}

func (f *fakeService) TestValue(_ context.Context, _ access.Principal, in access.TestValueInput) (forge.Report, error) {
	f.mu.Lock()
	f.tested = append(f.tested, in)
	f.mu.Unlock()
	if f.err != nil {
		return forge.Report{}, f.err
	}
	return fakeReport(), nil
}

func (f *fakeService) TestToken(_ context.Context, _ access.Principal, name string) (access.TokenResult, error) {
	if f.err != nil {
		return access.TokenResult{}, f.err
	}
	return access.TokenResult{Token: fakeView(name), Report: fakeReport()}, nil
}

func (f *fakeService) ListTokens(_ context.Context, _ access.Principal, page store.Page) ([]access.TokenView, string, error) {
	f.mu.Lock()
	f.pages = append(f.pages, page)
	f.mu.Unlock()
	if f.err != nil {
		return nil, "", f.err
	}
	return nil, "", nil
}

func (f *fakeService) GetToken(_ context.Context, _ access.Principal, name string) (access.TokenView, error) {
	if f.err != nil {
		return access.TokenView{}, f.err
	}
	return fakeView(name), nil
}

func (f *fakeService) UpdateToken(_ context.Context, _ access.Principal, name string, in access.UpdateTokenInput) (access.TokenResult, error) {
	f.mu.Lock()
	f.updated = append(f.updated, in)
	f.mu.Unlock()
	if f.err != nil {
		return access.TokenResult{}, f.err
	}
	return access.TokenResult{Token: fakeView(name), Report: fakeReport()}, nil
}

func (f *fakeService) DeleteToken(_ context.Context, _ access.Principal, _ string, in access.DeleteTokenInput) (access.DeleteTokenResult, error) {
	f.mu.Lock()
	f.confirms = append(f.confirms, in.Confirm)
	f.mu.Unlock()
	return access.DeleteTokenResult{}, f.err
}

func (f *fakeService) TokenImpact(_ context.Context, _ access.Principal, name string) (access.TokenImpact, error) {
	return access.TokenImpact{Token: name}, f.err
}

func (f *fakeService) RotateToken(context.Context, access.Principal, string, access.RotateTokenInput) (access.RotateResult, error) {
	return access.RotateResult{}, f.err
}

func (f *fakeService) Status(context.Context, access.Principal) (access.StatusView, error) {
	return access.StatusView{}, f.err
}

func (f *fakeService) CreateOrg(_ context.Context, _ access.Principal, name string) (access.OrgView, access.NewAPIKey, error) {
	if f.err != nil {
		return access.OrgView{}, access.NewAPIKey{}, f.err
	}
	org := access.OrgView{ID: "org_" + name, Name: name, CreatedAt: fakeNow()}
	return org, access.NewAPIKey{APIKeyView: access.APIKeyView{ID: "key_new", Name: "owner", Role: store.RoleOwner, CreatedAt: fakeNow()},
		Org: name, Key: secret.New(f.newKey)}, nil
}

func (f *fakeService) ListOrgs(context.Context, access.Principal) ([]access.OrgView, error) {
	if f.err != nil {
		return nil, f.err
	}
	return []access.OrgView{{ID: "org_1", Name: "default", CreatedAt: fakeNow()}}, nil
}

func (f *fakeService) CreateAPIKey(_ context.Context, p access.Principal, name string, role store.Role) (access.NewAPIKey, error) {
	if f.err != nil {
		return access.NewAPIKey{}, f.err
	}
	return access.NewAPIKey{APIKeyView: access.APIKeyView{ID: "key_new", Name: name, Role: role, CreatedAt: fakeNow(), CreatedBy: p.Actor()},
		Org: p.OrgName, Key: secret.New(f.newKey)}, nil
}

func (f *fakeService) ListAPIKeys(context.Context, access.Principal) ([]access.APIKeyView, error) {
	if f.err != nil {
		return nil, f.err
	}
	return nil, nil
}

func (f *fakeService) RevokeAPIKey(context.Context, access.Principal, string) error { return f.err }

func (f *fakeService) ListAudit(_ context.Context, _ access.Principal, page store.Page) ([]access.AuditView, string, error) {
	f.mu.Lock()
	f.pages = append(f.pages, page)
	f.mu.Unlock()
	if f.err != nil {
		return nil, "", f.err
	}
	return []access.AuditView{{ID: "aud_1", At: fakeNow(), Actor: "key_1 (ci)", Action: "token.create", Target: "token/x", Outcome: "success"}}, "next-1", nil
}

func fakeApp(name string) access.AppView {
	return access.AppView{ID: "app_" + name, Name: name, RepoURL: "https://github.com/acme/api", RepoFullName: "acme/api", Branch: "main",
		Token: "ci", Binding: "prefix", Prefix: "https://github.com/acme/", Reason: "token ci serves the longest matching prefix https://github.com/acme/",
		CreatedAt: fakeNow(), UpdatedAt: fakeNow()}
}

func (f *fakeService) CreateApp(_ context.Context, _ access.Principal, in access.AppInput) (access.AppView, error) {
	if f.err != nil {
		return access.AppView{}, f.err
	}
	return fakeApp(in.Name), nil
}

func (f *fakeService) GetApp(_ context.Context, _ access.Principal, name string) (access.AppView, error) {
	if f.err != nil {
		return access.AppView{}, f.err
	}
	return fakeApp(name), nil
}

func (f *fakeService) ListApps(_ context.Context, _ access.Principal, page store.Page) ([]access.AppView, string, error) {
	f.mu.Lock()
	f.pages = append(f.pages, page)
	f.mu.Unlock()
	if f.err != nil {
		return nil, "", f.err
	}
	return []access.AppView{fakeApp("web")}, "", nil
}

func (f *fakeService) UpdateApp(_ context.Context, _ access.Principal, name string, _ access.AppUpdate) (access.AppView, error) {
	if f.err != nil {
		return access.AppView{}, f.err
	}
	return fakeApp(name), nil
}

func (f *fakeService) DeleteApp(_ context.Context, _ access.Principal, name string, force bool) error {
	f.mu.Lock()
	f.deletes = append(f.deletes, fmt.Sprintf("%s force=%v", name, force))
	f.mu.Unlock()
	return f.err
}

func (f *fakeService) PrepareArchive(_ context.Context, _ access.Principal, _, ref string) (access.Archive, error) {
	f.mu.Lock()
	f.refs = append(f.refs, ref)
	f.mu.Unlock()
	if f.err != nil {
		return access.Archive{}, f.err
	}
	return f.archive, nil
}

func (f *fakeService) ListRepos(_ context.Context, _ access.Principal, tokenName, search string) ([]forge.Repo, error) {
	f.mu.Lock()
	f.browsed = append(f.browsed, "repos "+tokenName+" "+search)
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return []forge.Repo{{FullName: "acme/api", CloneURL: "https://github.com/acme/api.git", WebURL: "https://github.com/acme/api", DefaultBranch: "main", Private: true}}, nil
}

func (f *fakeService) ListBranches(_ context.Context, _ access.Principal, repoURL, tokenName string) ([]forge.Branch, error) {
	f.mu.Lock()
	f.browsed = append(f.browsed, "branches "+repoURL+" "+tokenName)
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return nil, nil
}

func (f *fakeService) ReadFile(_ context.Context, _ access.Principal, repoURL, path, ref, tokenName string) ([]byte, error) {
	f.mu.Lock()
	f.browsed = append(f.browsed, "file "+repoURL+" "+path+" "+ref+" "+tokenName)
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return f.file, nil
}

func (f *fakeService) ResolveCredential(_ context.Context, _ access.Principal, req access.CredentialRequest) (access.Credential, error) {
	f.mu.Lock()
	f.creds = append(f.creds, req)
	f.mu.Unlock()
	if f.err != nil {
		return access.Credential{}, f.err
	}
	return access.Credential{Username: "x-access-token", Password: secret.New(f.credential), Token: "ci",
		Reason: "token ci serves the longest matching prefix https://github.com/acme/"}, nil
}

func (f *fakeService) RejectCredential(_ context.Context, _ access.Principal, req access.CredentialRequest) (access.RejectResult, error) {
	f.mu.Lock()
	f.creds = append(f.creds, req)
	f.mu.Unlock()
	if f.err != nil {
		return access.RejectResult{}, f.err
	}
	return access.RejectResult{Token: "ci", Status: access.StatusInvalid, Detail: "GitHub at github.com refused the token (HTTP 401): Bad credentials"}, nil
}

func (f *fakeService) ResolveCABundle(_ context.Context, _ access.Principal, req access.CredentialRequest) (access.CABundle, error) {
	f.mu.Lock()
	f.creds = append(f.creds, req)
	f.mu.Unlock()
	if f.err != nil {
		return access.CABundle{}, f.err
	}
	return access.CABundle{Token: "ghe", Host: req.Host, CABundle: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"}, nil
}

func fakeHook() access.HookView {
	at := fakeNow()
	return access.HookView{URL: "https://gitaccess.example.com/hooks/hk_1", State: access.HookInstalled, ProviderHookID: "42", CheckedAt: &at}
}

func (f *fakeService) CheckHook(context.Context, access.Principal, string) (access.HookView, error) {
	if f.err != nil {
		return access.HookView{}, f.err
	}
	return fakeHook(), nil
}

func (f *fakeService) RepairHook(context.Context, access.Principal, string) (access.HookView, error) {
	if f.err != nil {
		return access.HookView{}, f.err
	}
	return fakeHook(), nil
}

func (f *fakeService) ListDeliveries(_ context.Context, _ access.Principal, _ string, page store.Page) ([]access.DeliveryView, string, error) {
	f.mu.Lock()
	f.pages = append(f.pages, page)
	f.mu.Unlock()
	if f.err != nil {
		return nil, "", f.err
	}
	return []access.DeliveryView{{ID: "dlv_1", DeliveryID: "d-1", Event: "push", ReceivedAt: fakeNow(), Verdict: "ignored", Detail: "push to feature, not main"}}, "", nil
}

// fakeSubSecret is the signing secret CreateSubscription hands out.
const fakeSubSecret = "whsec_ZmFrZSBzaWduaW5nIHNlY3JldCBmb3IgdGVzdHM="

func (f *fakeService) CreateSubscription(_ context.Context, _ access.Principal, in access.SubscriptionInput) (access.NewSubscription, error) {
	f.mu.Lock()
	f.subs = append(f.subs, in)
	f.mu.Unlock()
	if f.err != nil {
		return access.NewSubscription{}, f.err
	}
	return access.NewSubscription{SubscriptionView: access.SubscriptionView{ID: "sub_1", URL: in.URL, Events: in.Events, CreatedAt: fakeNow()},
		Secret: secret.New(fakeSubSecret)}, nil
}

func (f *fakeService) ListSubscriptions(context.Context, access.Principal) ([]access.SubscriptionView, error) {
	if f.err != nil {
		return nil, f.err
	}
	return nil, nil
}

func (f *fakeService) DeleteSubscription(context.Context, access.Principal, string) error {
	return f.err
}

func (f *fakeService) ListEvents(_ context.Context, _ access.Principal, page store.Page) ([]access.EventView, string, error) {
	f.mu.Lock()
	f.pages = append(f.pages, page)
	f.mu.Unlock()
	if f.err != nil {
		return nil, "", f.err
	}
	return []access.EventView{{ID: "evt_1", Type: "deploy.requested", CreatedAt: fakeNow(), Payload: []byte(`{"app":"web"}`),
		Deliveries: []access.EventDeliveryView{{Subscription: "sub_1", Status: "failed", Attempts: 3, LastError: "HTTP 500", LastStatus: 500}}}}, "", nil
}

func (f *fakeService) ReplayEvent(context.Context, access.Principal, string) error { return f.err }

const fakeKey = "gak_test_owner"

// newFake returns a handler over a fakeService with one Owner key, fakeKey.
func newFake(t *testing.T) (http.Handler, *fakeService, *logBuffer) {
	t.Helper()
	log, lb := newTestLogger()
	f := &fakeService{
		keys:   map[string]access.Principal{fakeKey: {OrgID: "org_1", OrgName: "default", KeyID: "key_owner", KeyName: "ci", Role: store.RoleOwner}},
		newKey: "gak_new_0123456789abcdef",
	}
	return New(Config{Service: f, Logger: log, Now: func() time.Time { return fakeNow() }}), f, lb
}
