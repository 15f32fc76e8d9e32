package access_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitaccess/gitaccess/internal/access"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/forge/forgetest"
	"github.com/gitaccess/gitaccess/internal/forge/github"
	"github.com/gitaccess/gitaccess/internal/forge/gitlab"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/secret/keyring"
	"github.com/gitaccess/gitaccess/internal/store"
	"github.com/gitaccess/gitaccess/internal/store/sqlite"
)

// lifeWorld is gitaccess over a real SQLite store and the real GitHub and
// GitLab adapters, talking to the fake providers over TLS: rotation and
// deletion are about what a value can reach at the provider.
type lifeWorld struct {
	svc   *access.Service
	st    *sqlite.Store
	keys  *keyring.Keyring
	gh    *forgetest.GitHub
	gl    *forgetest.GitLab
	owner access.Principal
}

func newLifeWorld(t *testing.T) *lifeWorld {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	w := &lifeWorld{gh: forgetest.NewGitHub(), gl: forgetest.NewGitLab()}
	srv := forgetest.NewServer(t, nil, forgetest.ByHost{"github.com": w.gh, "api.github.com": w.gh, "gitlab.com": w.gl})
	policy := srv.Policy()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if w.keys, err = keyring.GenerateKeyring(); err != nil {
		t.Fatal(err)
	}
	w.st = st
	w.svc = access.New(access.Config{Store: st, Sealer: w.keys, Logger: logger, PublicURL: "https://gitaccess.example.com",
		Forges: access.ForgeMap{forge.GitHub: github.New(policy, logger), forge.GitLab: gitlab.New(policy, logger)}})
	key, _, err := w.svc.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w.owner, err = w.svc.Authenticate(ctx, key); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"acme/api", "acme/web", "acme/docs", "acme/lib"} {
		w.gh.AddRepo(forgetest.GitHubRepo{FullName: r})
	}
	return w
}

// classic registers a classic GitHub token reaching repos.
func (w *lifeWorld) classic(value string, repos ...string) {
	w.gh.AddToken(value, forgetest.GitHubToken{Login: "ci-bot", Kind: forgetest.GitHubClassic, Scopes: []string{"repo", "admin:repo_hook"}, Repos: repos})
}

func (w *lifeWorld) addToken(t *testing.T, name, value string, prefixes ...string) access.TokenView {
	t.Helper()
	res, err := w.svc.AddToken(t.Context(), w.owner, access.AddTokenInput{Name: name, Provider: "github", Value: secret.New(value), Prefixes: prefixes})
	if err != nil {
		t.Fatalf("adding token %s: %v", name, err)
	}
	return res.Token
}

func (w *lifeWorld) addApp(t *testing.T, name, repo, token string, hook bool) {
	t.Helper()
	if _, err := w.svc.CreateApp(t.Context(), w.owner, access.AppInput{Name: name, RepoURL: "https://github.com/" + repo, Token: token, AutoDeploy: hook}); err != nil {
		t.Fatalf("creating app %s: %v", name, err)
	}
}

func (w *lifeWorld) row(t *testing.T, name string) store.Token {
	t.Helper()
	row, err := w.st.GetToken(t.Context(), w.owner.OrgID, name)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

func (w *lifeWorld) opened(t *testing.T, row store.Token) string {
	t.Helper()
	v, err := w.keys.Open(row.Sealed, access.AssociatedData("tokens", row.ID))
	if err != nil {
		t.Fatal(err)
	}
	return v.Reveal()
}

func (w *lifeWorld) auditOf(t *testing.T, action, target string) []access.AuditView {
	t.Helper()
	recs, _, err := w.svc.ListAudit(t.Context(), w.owner, store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []access.AuditView
	for _, r := range recs {
		if r.Action == action && r.Target == target {
			out = append(out, r)
		}
	}
	return out
}

func (w *lifeWorld) app(t *testing.T, name string) access.AppView {
	t.Helper()
	v, err := w.svc.GetApp(t.Context(), w.owner, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const (
	oldValue  = "ghp_OLDoldOLDold0000000000000000000001"
	partValue = "ghp_PARTpartPART000000000000000000002"
	fullValue = "ghp_FULLfullFULL000000000000000000003"
)

// threeApps: api is bound to ci by name and has a webhook; web and docs
// use ci by prefix (ci serves all of github.com).
func threeApps(t *testing.T, w *lifeWorld) {
	t.Helper()
	w.classic(oldValue, "acme/api", "acme/web", "acme/docs")
	w.addToken(t, "ci", oldValue)
	w.addApp(t, "api", "acme/api", "ci", true)
	w.addApp(t, "web", "acme/web", "", false)
	w.addApp(t, "docs", "acme/docs", "", false)
}

func TestRotateRefusesAValueThatLacksRepositoriesAndChangesNothing(t *testing.T) {
	w := newLifeWorld(t)
	threeApps(t, w)
	w.classic(partValue, "acme/api")
	before := w.row(t, "ci")

	_, err := w.svc.RotateToken(t.Context(), w.owner, "ci", access.RotateTokenInput{Value: secret.New(partValue)})
	if access.ErrorKind(err) != access.KindMissingPermissions {
		t.Fatalf("rotation to a value lacking two repositories: err = %v, want missing-permissions", err)
	}
	var ce *access.CoverageError
	if !errors.As(err, &ce) {
		t.Fatalf("error carries no CoverageError: %v", err)
	}
	// Every application is checked, not just the first failure.
	got := map[string]string{}
	for _, f := range ce.Unreachable {
		got[f.App] = f.What
	}
	if len(got) != 2 || got["web"] != "repository" || got["docs"] != "repository" {
		t.Errorf("unreachable = %+v, want web and docs (repository)", ce.Unreachable)
	}
	if strings.Contains(err.Error(), partValue) {
		t.Error("the refusal echoes the value")
	}
	after := w.row(t, "ci")
	if w.opened(t, after) != oldValue || after.Fingerprint != before.Fingerprint || after.Version != before.Version || after.Last4 != before.Last4 {
		t.Errorf("refused rotation changed the token: version %d -> %d, fingerprint %s -> %s", before.Version, after.Version, before.Fingerprint, after.Fingerprint)
	}
	recs := w.auditOf(t, "token.rotate", "token/ci")
	if len(recs) != 1 || recs[0].Outcome != "failure" || !strings.Contains(recs[0].Detail, "web") || !strings.Contains(recs[0].Detail, "docs") {
		t.Errorf("audit of the refused rotation = %+v", recs)
	}
	// Clones keep getting the old value.
	cred, err := w.svc.ResolveCredential(t.Context(), w.owner, access.CredentialRequest{Protocol: "https", Host: "github.com", Path: "acme/web.git"})
	if err != nil || cred.Password.Reveal() != oldValue {
		t.Errorf("after a refused rotation the credential is not the old value (err %v)", err)
	}
}

func TestRotateSwitchesValueOnceEveryApplicationIsProven(t *testing.T) {
	w := newLifeWorld(t)
	threeApps(t, w)
	w.classic(fullValue, "acme/api", "acme/web", "acme/docs")
	before := w.row(t, "ci")

	res, err := w.svc.RotateToken(t.Context(), w.owner, "ci", access.RotateTokenInput{Value: secret.New(fullValue + "\n")})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Switched || res.Checked != 3 || len(res.Unreachable) != 0 {
		t.Errorf("result = switched %v, checked %d, unreachable %v; want switched on 3", res.Switched, res.Checked, res.Unreachable)
	}
	fp := secret.New(fullValue).Fingerprint()
	if res.Token.Fingerprint != fp || res.PreviousFingerprint != before.Fingerprint {
		t.Errorf("fingerprints %s (was %s), want %s (was %s)", res.Token.Fingerprint, res.PreviousFingerprint, fp, before.Fingerprint)
	}
	after := w.row(t, "ci")
	if w.opened(t, after) != fullValue || after.Version != before.Version+1 || after.Last4 != "0003" {
		t.Errorf("stored token: version %d (was %d), last4 %s", after.Version, before.Version, after.Last4)
	}
	recs := w.auditOf(t, "token.rotate", "token/ci")
	if len(recs) != 1 || recs[0].Outcome != "success" || !strings.Contains(recs[0].Detail, before.Fingerprint+" -> "+fp) {
		t.Errorf("audit = %+v", recs)
	}
	for _, path := range []string{"acme/api.git", "acme/docs.git"} {
		cred, err := w.svc.ResolveCredential(t.Context(), w.owner, access.CredentialRequest{Protocol: "https", Host: "github.com", Path: path, App: strings.TrimSuffix(strings.TrimPrefix(path, "acme/"), ".git")})
		if err != nil || cred.Password.Reveal() != fullValue {
			t.Errorf("%s resolves to the old value after the switch (err %v)", path, err)
		}
	}
}

func TestRotateProvesTheHookCanBeManaged(t *testing.T) {
	w := newLifeWorld(t)
	fg := func(value string, hooks bool) {
		perms := map[string]string{"contents": "read", "metadata": "read", "pull_requests": "read"}
		if hooks {
			perms["repository_hooks"] = "write"
		}
		w.gh.AddToken(value, forgetest.GitHubToken{Login: "ci-bot", Kind: forgetest.GitHubFineGrained, FineGrained: perms, Repos: []string{"acme/api", "acme/web"}})
	}
	fg("github_pat_OLD000000000000000000001", true)
	fg("github_pat_NEW000000000000000000002", false)
	w.addToken(t, "fg", "github_pat_OLD000000000000000000001")
	w.addApp(t, "api", "acme/api", "fg", true)
	w.addApp(t, "web", "acme/web", "fg", false)

	// allow_missing accepts the missing Webhooks permission for the
	// token's uses, yet an application with a hook still needs it.
	_, err := w.svc.RotateToken(t.Context(), w.owner, "fg", access.RotateTokenInput{Value: secret.New("github_pat_NEW000000000000000000002"), AllowMissing: true})
	var ce *access.CoverageError
	if !errors.As(err, &ce) || len(ce.Unreachable) != 1 || ce.Unreachable[0].App != "api" || ce.Unreachable[0].What != "hook" {
		t.Fatalf("a value that cannot read api's webhook: err = %v, want one hook failure for api", err)
	}
	if w.opened(t, w.row(t, "fg")) != "github_pat_OLD000000000000000000001" {
		t.Error("the value was switched although the hook cannot be managed")
	}
}

func TestRotateRefusesTheSameValueAndAnotherKind(t *testing.T) {
	w := newLifeWorld(t)
	w.classic(oldValue, "acme/api")
	w.addToken(t, "ci", oldValue)
	_, err := w.svc.RotateToken(t.Context(), w.owner, "ci", access.RotateTokenInput{Value: secret.New(oldValue)})
	if access.ErrorKind(err) != access.KindInvalid || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("same value: err = %v", err)
	}
	w.gh.AddToken("github_pat_OTHERKIND0000000000001", forgetest.GitHubToken{Login: "ci-bot", Kind: forgetest.GitHubFineGrained,
		FineGrained: map[string]string{"contents": "read", "metadata": "read", "pull_requests": "read", "repository_hooks": "write"}, Repos: []string{"acme/api"}})
	_, err = w.svc.RotateToken(t.Context(), w.owner, "ci", access.RotateTokenInput{Value: secret.New("github_pat_OTHERKIND0000000000001")})
	if access.ErrorKind(err) != access.KindInvalid || !strings.Contains(err.Error(), "--reassign") {
		t.Errorf("another kind: err = %v, want invalid-input pointing at --reassign", err)
	}
	_, err = w.svc.RotateToken(t.Context(), w.owner, "ci", access.RotateTokenInput{ProviderRotate: true})
	if access.ErrorKind(err) != access.KindInvalid || !strings.Contains(err.Error(), "gitlab") {
		t.Errorf("provider rotation of a GitHub token: err = %v, want invalid-input naming gitlab", err)
	}
	if w.opened(t, w.row(t, "ci")) != oldValue {
		t.Error("a refused rotation changed the value")
	}
}

func TestDeleteTokenInUseNeedsReassignOrForce(t *testing.T) {
	w := newLifeWorld(t)
	threeApps(t, w)
	w.classic(partValue, "acme/api")
	w.classic(fullValue, "acme/api", "acme/web", "acme/docs")
	w.addToken(t, "part", partValue, "https://github.com/part/")
	w.addToken(t, "full", fullValue, "https://github.com/full/")
	// A submodule clone through ci: a repository no application has.
	if _, err := w.svc.ResolveCredential(t.Context(), w.owner, access.CredentialRequest{Protocol: "https", Host: "github.com", Path: "acme/lib.git", App: "api"}); err != nil {
		t.Fatal(err)
	}

	imp, err := w.svc.TokenImpact(t.Context(), w.owner, "ci")
	if err != nil {
		t.Fatal(err)
	}
	bindings := map[string]string{}
	for _, a := range imp.Applications {
		bindings[a.Name] = a.Binding
	}
	if len(bindings) != 3 || bindings["api"] != "explicit" || bindings["web"] != "prefix" || len(imp.Hooks) != 1 || imp.Hooks[0].App != "api" {
		t.Errorf("impact = %+v", imp)
	}
	if len(imp.SubmoduleResolutions) != 1 || imp.SubmoduleResolutions[0].RepoURL != "https://github.com/acme/lib" || imp.SubmoduleResolutions[0].Count != 1 {
		t.Errorf("submodule resolutions = %+v, want acme/lib once", imp.SubmoduleResolutions)
	}

	_, err = w.svc.DeleteToken(t.Context(), w.owner, "ci", access.DeleteTokenInput{Confirm: "ci"})
	if access.ErrorKind(err) != access.KindConflict || !strings.Contains(err.Error(), "web") || !strings.Contains(err.Error(), "acme/lib") {
		t.Fatalf("deleting a token in use: err = %v", err)
	}
	_, err = w.svc.DeleteToken(t.Context(), w.owner, "ci", access.DeleteTokenInput{Confirm: "ci", Reassign: "part"})
	var ce *access.CoverageError
	if !errors.As(err, &ce) || len(ce.Unreachable) != 2 {
		t.Fatalf("reassigning to a token lacking web and docs: err = %v", err)
	}
	if w.row(t, "ci").ID == "" || w.app(t, "api").Token != "ci" || w.app(t, "web").Binding != "prefix" {
		t.Fatal("a refused reassign moved or deleted something")
	}

	res, err := w.svc.DeleteToken(t.Context(), w.owner, "ci", access.DeleteTokenInput{Confirm: "ci", Reassign: "full"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Reassigned) != 3 {
		t.Errorf("reassigned %v, want all three", res.Reassigned)
	}
	if _, err := w.st.GetToken(t.Context(), w.owner.OrgID, "ci"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token ci still there: %v", err)
	}
	for _, name := range []string{"api", "web", "docs"} {
		if a := w.app(t, name); a.Token != "full" || a.Binding != "explicit" {
			t.Errorf("app %s after reassign: token %q binding %q", name, a.Token, a.Binding)
		}
	}
	if len(w.auditOf(t, "app.update", "app/web")) != 1 || len(w.auditOf(t, "token.delete", "token/ci")) < 1 {
		t.Error("the moves and the delete are not audited")
	}
}

func TestForcedDeleteUnbindsApplications(t *testing.T) {
	w := newLifeWorld(t)
	w.classic(oldValue, "acme/api", "acme/web")
	w.classic(fullValue, "acme/api", "acme/web")
	w.addToken(t, "ci", oldValue, "https://github.com/acme/")
	w.addToken(t, "wide", fullValue)
	w.addApp(t, "api", "acme/api", "ci", false)
	w.addApp(t, "web", "acme/web", "", false)
	if a := w.app(t, "web"); a.Token != "ci" {
		t.Fatalf("web resolves to %s, want ci (longest prefix)", a.Token)
	}

	res, err := w.svc.DeleteToken(t.Context(), w.owner, "ci", access.DeleteTokenInput{Confirm: "ci", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Unbound) != 1 || res.Unbound[0] != "api" {
		t.Errorf("unbound %v, want [api]", res.Unbound)
	}
	for _, name := range []string{"api", "web"} {
		if a := w.app(t, name); a.Token != "wide" || a.Binding != "prefix" {
			t.Errorf("app %s after forced delete: token %q binding %q, want wide by prefix", name, a.Token, a.Binding)
		}
	}
	recs := w.auditOf(t, "token.delete", "token/ci")
	if len(recs) != 1 || !strings.Contains(recs[0].Detail, "forced") {
		t.Errorf("audit = %+v", recs)
	}
}

func TestTokenShowListsApplicationsWithLastUse(t *testing.T) {
	w := newLifeWorld(t)
	threeApps(t, w)
	if _, err := w.svc.ResolveCredential(t.Context(), w.owner, access.CredentialRequest{Protocol: "https", Host: "github.com", Path: "acme/web.git", App: "web"}); err != nil {
		t.Fatal(err)
	}
	v, err := w.svc.GetToken(t.Context(), w.owner, "ci")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, a := range v.Applications {
		used[a.Name] = a.LastUsedAt != nil
	}
	if len(used) != 3 || !used["web"] || used["docs"] {
		t.Errorf("applications with last use = %v, want web used, docs not", used)
	}
	if v.LastUsedAt == nil {
		t.Error("the token's last use was not recorded")
	}
}

func TestProviderRotateGitLab(t *testing.T) {
	w := newLifeWorld(t)
	const old = "glpat-OLDoldOLDold000000001"
	w.gl.AddToken(old, forgetest.GitLabToken{Username: "deployer", Scopes: []string{"api"}, AccessLevel: 40, Projects: []string{"acme/app"}, ExpiresAt: time.Now().AddDate(0, 0, 10).Format(time.DateOnly)})
	if _, err := w.svc.AddToken(t.Context(), w.owner, access.AddTokenInput{Name: "gl", Provider: "gitlab", Value: secret.New(old)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.CreateApp(t.Context(), w.owner, access.AppInput{Name: "app", RepoURL: "https://gitlab.com/acme/app", Token: "gl"}); err != nil {
		t.Fatal(err)
	}
	want := time.Now().UTC().AddDate(0, 2, 0).Truncate(24 * time.Hour)
	res, err := w.svc.RotateToken(t.Context(), w.owner, "gl", access.RotateTokenInput{ProviderRotate: true, ExpiresAt: &want})
	if err != nil {
		t.Fatal(err)
	}
	newValue, ok := w.gl.RotatedValue(old)
	if !ok {
		t.Fatal("GitLab was not asked to rotate the token")
	}
	row := w.row(t, "gl")
	if w.opened(t, row) != newValue || res.Token.Fingerprint != secret.New(newValue).Fingerprint() {
		t.Error("the value GitLab issued is not the one stored")
	}
	if !res.Switched || res.Checked != 1 || len(res.Unreachable) != 0 {
		t.Errorf("result: switched %v checked %d unreachable %v", res.Switched, res.Checked, res.Unreachable)
	}
	if row.ExpiresAt == nil || !row.ExpiresAt.Equal(want) {
		t.Errorf("expiry %v, want %v as GitLab returned it", row.ExpiresAt, want)
	}
	// GitLab revoked the old value: testing the token now uses the new one.
	if _, err := w.svc.TestToken(t.Context(), w.owner, "gl"); err != nil {
		t.Errorf("testing the rotated token: %v", err)
	}
	recs := w.auditOf(t, "token.rotate", "token/gl")
	if len(recs) != 1 || recs[0].Outcome != "success" || !strings.Contains(recs[0].Detail, "provider rotation") {
		t.Errorf("audit = %+v", recs)
	}
}
