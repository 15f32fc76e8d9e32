package access_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/secret/keyring"
	"github.com/gitaccess/gitaccess/internal/store"
	"github.com/gitaccess/gitaccess/internal/store/sqlite"
)

// scripted is a provider whose answers the test sets per token value: the
// domain tests are about what access does with an answer, the adapters'
// own tests cover how answers are read off each provider's API.
type scripted struct {
	mu      sync.Mutex
	answers map[string]func() (forge.Report, error)
	calls   int
}

func (f *scripted) Provider() forge.Provider { return forge.GitHub }

func (f *scripted) ResolveEndpoint(rawURL, workspace string) (forge.Endpoint, error) {
	if rawURL == "" {
		rawURL = "https://github.com"
	}
	if strings.HasPrefix(rawURL, "http://") {
		return forge.Endpoint{}, &forge.InvalidInputError{Field: "url", Reason: "plain http refused"}
	}
	return forge.Endpoint{Provider: forge.GitHub, WebURL: rawURL, APIURL: rawURL + "/api/v3"}, nil
}

func (f *scripted) Inspect(_ context.Context, c forge.Credential, uses []forge.Use) (forge.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	a, ok := f.answers[c.Token.Reveal()]
	if !ok {
		return forge.Report{}, &forge.AuthError{Provider: forge.GitHub, Host: "github.com", Status: 401, Message: "Bad credentials"}
	}
	return a()
}

// Browsing is exercised end to end in internal/server; here it is not scripted.
func (f *scripted) ListRepos(context.Context, forge.Credential, string) ([]forge.Repo, error) {
	return nil, errors.New("not scripted")
}

func (f *scripted) GetRepo(context.Context, forge.Credential, string) (forge.Repo, error) {
	return forge.Repo{}, errors.New("not scripted")
}

func (f *scripted) ListBranches(context.Context, forge.Credential, string) ([]forge.Branch, error) {
	return nil, errors.New("not scripted")
}

func (f *scripted) GetBranch(context.Context, forge.Credential, string, string) (forge.Branch, error) {
	return forge.Branch{}, errors.New("not scripted")
}

func (f *scripted) ReadFile(context.Context, forge.Credential, string, string, string) ([]byte, error) {
	return nil, errors.New("not scripted")
}

func (f *scripted) EnsureHook(context.Context, forge.Credential, string, forge.HookSpec) (forge.Hook, error) {
	return forge.Hook{}, errors.New("not scripted")
}

func (f *scripted) FindHook(context.Context, forge.Credential, string, string) (forge.Hook, bool, error) {
	return forge.Hook{}, false, errors.New("not scripted")
}

func (f *scripted) DeleteHook(context.Context, forge.Credential, string, string) error {
	return errors.New("not scripted")
}

func (f *scripted) VerifyDelivery(http.Header, []byte, secret.Value) error { return forge.ErrUnsigned }

func (f *scripted) DeliveryID(http.Header) string { return "" }

func (f *scripted) ParseDelivery(http.Header, []byte) ([]forge.Event, error) {
	return nil, errors.New("not scripted")
}

func (f *scripted) set(value string, fn func() (forge.Report, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[value] = fn
}

// fullReport is what a classic token with repo and admin:repo_hook yields.
func fullReport(expires *time.Time) func() (forge.Report, error) {
	return func() (forge.Report, error) {
		return forge.Report{
			Provider: forge.GitHub, Host: "github.com", Kind: forge.KindGitHubClassicPAT, Identity: "octocat",
			Scopes: []string{"repo", "admin:repo_hook"}, ExpiresAt: expires,
			Checks: []forge.UseCheck{
				{Use: forge.UseClone, Status: forge.CheckOK, Needs: []string{"repo"}, Proven: []string{"repo"}},
				{Use: forge.UseWebhooks, Status: forge.CheckOK, Needs: []string{"admin:repo_hook"}, Proven: []string{"repo"}},
				{Use: forge.UsePullRequests, Status: forge.CheckOK, Needs: []string{"repo"}, Proven: []string{"repo"}},
			},
		}, nil
	}
}

func cloneOnlyReport() (forge.Report, error) {
	return forge.Report{
		Provider: forge.GitHub, Host: "github.com", Kind: forge.KindGitHubClassicPAT, Identity: "octocat",
		Scopes: []string{"public_repo"},
		Checks: []forge.UseCheck{
			{Use: forge.UseClone, Status: forge.CheckMissing, Needs: []string{"repo"}, Missing: []string{"repo"}},
			{Use: forge.UseWebhooks, Status: forge.CheckMissing, Needs: []string{"admin:repo_hook"}, Missing: []string{"admin:repo_hook"}},
			{Use: forge.UsePullRequests, Status: forge.CheckMissing, Needs: []string{"repo"}, Missing: []string{"repo"}},
		},
	}, nil
}

type env struct {
	svc    *access.Service
	store  store.Store
	keys   *keyring.Keyring
	forge  *scripted
	owner  access.Principal
	now    time.Time
	logBuf *bytes.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	var logBuf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := keyring.GenerateKeyring()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: st, keys: keys, forge: &scripted{answers: map[string]func() (forge.Report, error){}}, now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), logBuf: &logBuf}
	e.svc = access.New(access.Config{Store: st, Sealer: keys, Forges: access.ForgeMap{forge.GitHub: e.forge}, Logger: logger, Now: func() time.Time { return e.now }})
	key, created, err := e.svc.Bootstrap(ctx)
	if err != nil || !created {
		t.Fatalf("bootstrap: created=%v err=%v", created, err)
	}
	if e.owner, err = e.svc.Authenticate(ctx, key); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) principal(t *testing.T, role store.Role) access.Principal {
	t.Helper()
	k, err := e.svc.CreateAPIKey(context.Background(), e.owner, "k-"+string(role)+"-"+store.RandomString(3), role)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.Authenticate(context.Background(), k.Key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) audit(t *testing.T, p access.Principal) []access.AuditView {
	t.Helper()
	recs, _, err := e.svc.ListAudit(context.Background(), e.owner, store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func kindOf(err error) access.Kind { return access.ErrorKind(err) }

func TestAddTokenSealsValueAndShowsOnlyMetadata(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const value = "ghp_canaryCANARYcanary000000000000001234"
	exp := e.now.Add(90 * 24 * time.Hour)
	e.forge.set(value, fullReport(&exp))

	res, err := e.svc.AddToken(ctx, e.owner, access.AddTokenInput{Name: "acme-ci", Provider: "github", Value: secret.New(value + "\n")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Token.Status != access.StatusValid || res.Token.Identity != "octocat" || res.Token.Last4 != "1234" {
		t.Errorf("saved token = %+v", res.Token)
	}
	if want := secret.New(value).Fingerprint(); res.Token.Fingerprint != want {
		t.Errorf("fingerprint %q, want %q (trailing newline must be trimmed)", res.Token.Fingerprint, want)
	}
	row, err := e.store.GetToken(ctx, e.owner.OrgID, "acme-ci")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(row.Sealed, []byte(value)) || bytes.Contains(row.Sealed, []byte("canary")) {
		t.Fatal("sealed column holds the value in the clear")
	}
	got, err := e.keys.Open(row.Sealed, access.AssociatedData("tokens", row.ID))
	if err != nil || got.Reveal() != value {
		t.Fatalf("sealed value does not open to the original: err=%v", err)
	}
	// A ciphertext copied to another row does not open there.
	if _, err := e.keys.Open(row.Sealed, access.AssociatedData("tokens", "tok_other")); err == nil {
		t.Fatal("sealed value opened under another row's identity")
	}
	if strings.Contains(e.logBuf.String(), value) {
		t.Fatal("the value reached the log")
	}
}

func TestAddTokenMissingPermissionsRefusedUnlessAllowed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.forge.set("ghp_public", cloneOnlyReport)

	_, err := e.svc.AddToken(ctx, e.owner, access.AddTokenInput{Name: "pub", Provider: "github", Value: secret.New("ghp_public")})
	var ae *access.Error
	if !errors.As(err, &ae) || ae.Kind != access.KindMissingPermissions {
		t.Fatalf("err = %v, want missing-permissions", err)
	}
	if !slices.Equal(ae.Missing, []string{"repo", "admin:repo_hook"}) {
		t.Errorf("missing = %q, want GitHub's words repo, admin:repo_hook", ae.Missing)
	}
	if ae.Report == nil || ae.Report.Identity != "octocat" {
		t.Error("refusal carries no report")
	}
	if ts, _, _ := e.svc.ListTokens(ctx, e.owner, store.Page{}); len(ts) != 0 {
		t.Fatalf("a refused token was saved: %+v", ts)
	}

	e.now = e.now.Add(time.Second)
	res, err := e.svc.AddToken(ctx, e.owner, access.AddTokenInput{Name: "pub", Provider: "github", Value: secret.New("ghp_public"), AllowMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Token.Status != access.StatusLimited || !strings.Contains(res.Token.StatusDetail, "admin:repo_hook") {
		t.Errorf("status = %s (%s), want limited naming admin:repo_hook", res.Token.Status, res.Token.StatusDetail)
	}
	recs := e.audit(t, e.owner)
	var outcomes []string
	for _, r := range recs {
		if r.Action == "token.create" {
			outcomes = append(outcomes, r.Outcome)
		}
	}
	if !slices.Equal(outcomes, []string{"success", "failure"}) {
		t.Errorf("token.create audit outcomes newest first = %v", outcomes)
	}
}

func TestAddTokenRefusedByProviderSavesNothing(t *testing.T) {
	e := newEnv(t)
	_, err := e.svc.AddToken(context.Background(), e.owner, access.AddTokenInput{Name: "bad", Provider: "github", Value: secret.New("ghp_wrong")})
	var authErr *forge.AuthError
	if !errors.As(err, &authErr) {
		t.Fatalf("err = %v, want the provider's refusal", err)
	}
	if _, err := e.store.GetToken(context.Background(), e.owner.OrgID, "bad"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused token was saved (err=%v)", err)
	}
	if strings.Contains(err.Error(), "ghp_wrong") {
		t.Fatal("error echoes the value")
	}
}

func TestAddTokenInputErrors(t *testing.T) {
	e := newEnv(t)
	e.forge.set("ghp_ok", fullReport(nil))
	ctx := context.Background()
	if _, err := e.svc.AddToken(ctx, e.owner, access.AddTokenInput{Name: "dup", Provider: "github", Value: secret.New("ghp_ok")}); err != nil {
		t.Fatal(err)
	}
	calls := e.forge.calls
	cases := []struct {
		name string
		in   access.AddTokenInput
		want access.Kind
		says string
	}{
		{"taken name, provider not asked", access.AddTokenInput{Name: "dup", Provider: "github", Value: secret.New("ghp_ok")}, access.KindConflict, "already exists"},
		{"bad name", access.AddTokenInput{Name: "Has Space", Provider: "github", Value: secret.New("ghp_ok")}, access.KindInvalid, "lowercase"},
		{"unknown provider", access.AddTokenInput{Name: "x", Provider: "svn", Value: secret.New("ghp_ok")}, access.KindInvalid, "github"},
		{"empty value", access.AddTokenInput{Name: "x", Provider: "github", Value: secret.New("  \n")}, access.KindInvalid, "empty"},
		{"value with spaces", access.AddTokenInput{Name: "x", Provider: "github", Value: secret.New("ghp a")}, access.KindInvalid, "whitespace"},
		{"unknown use", access.AddTokenInput{Name: "x", Provider: "github", Value: secret.New("ghp_ok"), Uses: []string{"deploy"}}, access.KindInvalid, "clone, webhooks, pull-requests"},
		{"plain http", access.AddTokenInput{Name: "x", Provider: "github", URL: "http://ghe.local", Value: secret.New("ghp_ok")}, access.KindInvalid, "http"},
		{"ca bundle with a key", access.AddTokenInput{Name: "x", Provider: "github", CABundle: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", Value: secret.New("ghp_ok")}, access.KindInvalid, "private key"},
		{"ca bundle not pem", access.AddTokenInput{Name: "x", Provider: "github", CABundle: "hello", Value: secret.New("ghp_ok")}, access.KindInvalid, "no PEM certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.svc.AddToken(ctx, e.owner, c.in)
			if kindOf(err) != c.want || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("err = %v (kind %q), want kind %q saying %q", err, kindOf(err), c.want, c.says)
			}
		})
	}
	if e.forge.calls != calls {
		t.Errorf("provider asked %d times for inputs refused up front", e.forge.calls-calls)
	}
}

func TestTestTokenMarksRevokedTokenInvalid(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.forge.set("ghp_soon_revoked", fullReport(nil))
	if _, err := e.svc.AddToken(ctx, e.owner, access.AddTokenInput{Name: "ci", Provider: "github", Value: secret.New("ghp_soon_revoked")}); err != nil {
		t.Fatal(err)
	}
	e.forge.set("ghp_soon_revoked", func() (forge.Report, error) {
		return forge.Report{}, &forge.AuthError{Provider: forge.GitHub, Host: "github.com", Status: 401, Message: "Bad credentials"}
	})
	e.now = e.now.Add(time.Hour)
	if _, err := e.svc.TestToken(ctx, e.owner, "ci"); err == nil {
		t.Fatal("testing a revoked token succeeded")
	}
	v, err := e.svc.GetToken(ctx, e.owner, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != access.StatusInvalid || !strings.Contains(v.StatusDetail, "Bad credentials") || v.LastValidatedAt == nil || !v.LastValidatedAt.Equal(e.now) {
		t.Errorf("after revocation: status %s, detail %q, validated %v", v.Status, v.StatusDetail, v.LastValidatedAt)
	}

	// An unreachable provider says nothing about the token.
	e.forge.set("ghp_soon_revoked", func() (forge.Report, error) {
		return forge.Report{}, &forge.UnreachableError{Host: "github.com", Reason: "connection refused"}
	})
	if _, err := e.svc.TestToken(ctx, e.owner, "ci"); err == nil {
		t.Fatal("unreachable provider reported as success")
	}
	if v2, _ := e.svc.GetToken(ctx, e.owner, "ci"); v2.Status != access.StatusInvalid {
		t.Errorf("status changed to %s on an unreachable provider", v2.Status)
	}
}

func TestStatusFollowsExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	exp := e.now.Add(40 * 24 * time.Hour)
	e.forge.set("ghp_exp", fullReport(&exp))
	res, err := e.svc.AddToken(ctx, e.owner, access.AddTokenInput{Name: "exp", Provider: "github", Value: secret.New("ghp_exp")})
	if err != nil || res.Token.Status != access.StatusValid {
		t.Fatalf("status %s err %v", res.Token.Status, err)
	}
	e.now = e.now.Add(15 * 24 * time.Hour) // 25 days left
	v, _ := e.svc.GetToken(ctx, e.owner, "exp")
	if v.Status != access.StatusExpiring || !strings.Contains(v.StatusDetail, "25 days left") {
		t.Errorf("25 days before expiry: %s (%s)", v.Status, v.StatusDetail)
	}
	e.now = exp.Add(time.Second)
	v, _ = e.svc.GetToken(ctx, e.owner, "exp")
	if v.Status != access.StatusExpired {
		t.Errorf("after expiry: %s", v.Status)
	}
}

func TestUpdateTokenTestsNewValueFirst(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.forge.set("ghp_old", fullReport(nil))
	e.forge.set("ghp_weak", cloneOnlyReport)
	e.forge.set("ghp_new", fullReport(nil))
	added, err := e.svc.AddToken(ctx, e.owner, access.AddTokenInput{Name: "ci", Provider: "github", Value: secret.New("ghp_old")})
	if err != nil {
		t.Fatal(err)
	}
	weak := secret.New("ghp_weak")
	if _, err := e.svc.UpdateToken(ctx, e.owner, "ci", access.UpdateTokenInput{Value: &weak}); kindOf(err) != access.KindMissingPermissions {
		t.Fatalf("weaker value: err = %v", err)
	}
	v, _ := e.svc.GetToken(ctx, e.owner, "ci")
	if v.Fingerprint != added.Token.Fingerprint {
		t.Fatal("a refused value replaced the old one")
	}
	fresh := secret.New("ghp_new")
	newName, desc := "ci-2", "rotated by hand"
	res, err := e.svc.UpdateToken(ctx, e.owner, "ci", access.UpdateTokenInput{Value: &fresh, Name: &newName, Description: &desc})
	if err != nil {
		t.Fatal(err)
	}
	if res.Token.Fingerprint != fresh.Fingerprint() || res.Token.Name != "ci-2" || res.Token.ID != added.Token.ID {
		t.Errorf("updated = %+v", res.Token)
	}
	row, _ := e.store.GetToken(ctx, e.owner.OrgID, "ci-2")
	if got, err := e.keys.Open(row.Sealed, access.AssociatedData("tokens", row.ID)); err != nil || got.Reveal() != "ghp_new" {
		t.Fatalf("new value not sealed in place: %v", err)
	}
}

func TestDeleteNeedsConfirmation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.forge.set("ghp_x", fullReport(nil))
	if _, err := e.svc.AddToken(ctx, e.owner, access.AddTokenInput{Name: "gone", Provider: "github", Value: secret.New("ghp_x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteToken(ctx, e.owner, "gone", access.DeleteTokenInput{Confirm: ""}); kindOf(err) != access.KindConfirmationRequired {
		t.Fatalf("delete without confirmation: %v", err)
	}
	if _, err := e.svc.DeleteToken(ctx, e.owner, "gone", access.DeleteTokenInput{Confirm: "other"}); kindOf(err) != access.KindConfirmationRequired {
		t.Fatalf("delete with the wrong name: %v", err)
	}
	if _, err := e.svc.DeleteToken(ctx, e.owner, "gone", access.DeleteTokenInput{Confirm: "gone"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetToken(ctx, e.owner, "gone"); kindOf(err) != access.KindNotFound {
		t.Fatalf("deleted token still there: %v", err)
	}
}

func TestRolesAndIsolation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.forge.set("ghp_x", fullReport(nil))
	member := e.principal(t, store.RoleMember)
	devops := e.principal(t, store.RoleDevOps)
	admin := e.principal(t, store.RoleAdmin)

	if _, err := e.svc.AddToken(ctx, member, access.AddTokenInput{Name: "m", Provider: "github", Value: secret.New("ghp_x")}); kindOf(err) != access.KindForbidden {
		t.Fatalf("member add: %v", err)
	}
	if _, err := e.svc.AddToken(ctx, devops, access.AddTokenInput{Name: "d", Provider: "github", Value: secret.New("ghp_x")}); err != nil {
		t.Fatalf("devops add: %v", err)
	}
	if ts, _, err := e.svc.ListTokens(ctx, member, store.Page{}); err != nil || len(ts) != 1 {
		t.Fatalf("member list: %v %v", ts, err)
	}
	if _, err := e.svc.CreateAPIKey(ctx, devops, "x", store.RoleMember); kindOf(err) != access.KindForbidden {
		t.Fatalf("devops made a key: %v", err)
	}
	if _, err := e.svc.CreateAPIKey(ctx, admin, "x", store.RoleOwner); kindOf(err) != access.KindForbidden {
		t.Fatalf("admin made an owner key: %v", err)
	}
	denied := 0
	for _, r := range e.audit(t, e.owner) {
		if r.Action == "authz.denied" {
			denied++
		}
	}
	if denied != 3 {
		t.Errorf("%d authz.denied records, want 3", denied)
	}

	// Another organization sees nothing of this one.
	_, otherKey, err := e.svc.CreateOrg(ctx, e.owner, "other")
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.svc.Authenticate(ctx, otherKey.Key)
	if err != nil {
		t.Fatal(err)
	}
	if ts, _, _ := e.svc.ListTokens(ctx, other, store.Page{}); len(ts) != 0 {
		t.Fatalf("other org lists %d tokens", len(ts))
	}
	if _, err := e.svc.GetToken(ctx, other, "d"); kindOf(err) != access.KindNotFound {
		t.Fatalf("other org reads a token: %v", err)
	}
	if _, err := e.svc.DeleteToken(ctx, other, "d", access.DeleteTokenInput{Confirm: "d"}); kindOf(err) != access.KindNotFound {
		t.Fatalf("other org deletes a token: %v", err)
	}
	if err := e.svc.RevokeAPIKey(ctx, other, member.KeyID); kindOf(err) != access.KindNotFound {
		t.Fatalf("other org revokes a key: %v", err)
	}
	if _, _, err := e.svc.CreateOrg(ctx, other, "third"); kindOf(err) != access.KindForbidden {
		t.Fatalf("a non-instance owner created an org: %v", err)
	}
}

func TestAPIKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	k, err := e.svc.CreateAPIKey(ctx, e.owner, "ci-bot", store.RoleDevOps)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, k.Key); err != nil {
		t.Fatal(err)
	}
	tampered := secret.New(k.Key.Reveal()[:len(k.Key.Reveal())-1] + "x")
	for _, bad := range []secret.Value{secret.New(""), secret.New("gak_"), secret.New("gak_nope_nope"), tampered} {
		if _, err := e.svc.Authenticate(ctx, bad); kindOf(err) != access.KindUnauthenticated {
			t.Errorf("Authenticate(bad) = %v", err)
		}
	}
	if err := e.svc.RevokeAPIKey(ctx, e.owner, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, k.Key); kindOf(err) != access.KindUnauthenticated {
		t.Fatalf("revoked key still authenticates: %v", err)
	}
	again, created, err := e.svc.Bootstrap(ctx)
	if err != nil || created || !again.IsZero() {
		t.Fatalf("second bootstrap: created=%v err=%v", created, err)
	}
}
