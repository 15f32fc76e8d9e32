package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/audit"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// RotateTokenInput replaces a token's value. Either Value is the new
// value, or ProviderRotate asks the provider (GitLab) to issue one.
type RotateTokenInput struct {
	// Value is the new token value; empty with ProviderRotate.
	Value secret.Value `json:"value,omitempty"`
	// ProviderRotate rotates through the provider's own API (GitLab
	// only): the provider revokes the old value at once and issues the
	// new one, so coverage is proven after the switch, not before.
	ProviderRotate bool `json:"provider_rotate,omitempty"`
	// ExpiresAt asks the provider for this expiry (ProviderRotate only;
	// GitLab's default otherwise).
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// AllowMissing accepts a new value lacking permissions for the
	// token's uses (status "limited"); coverage is still required.
	AllowMissing bool `json:"allow_missing,omitempty"`
}

// RotateResult is the outcome of a rotation.
type RotateResult struct {
	Token  TokenView    `json:"token"`
	Report forge.Report `json:"report"`
	// Switched is true when the stored value is now the new one.
	Switched bool `json:"switched"`
	// PreviousFingerprint identifies the value replaced.
	PreviousFingerprint string `json:"previous_fingerprint"`
	// Checked counts the applications the new value was proven on.
	Checked int `json:"checked"`
	// Unreachable is every application the new value cannot serve, and
	// why; a value rotation with any switches nothing.
	Unreachable []RotateFailure `json:"unreachable"`
}

// RotateFailure is one thing a new value cannot do for an application.
type RotateFailure struct {
	App        string `json:"app"`
	Repository string `json:"repository"`
	// What is "repository", "branch" or "hook".
	What   string `json:"what"`
	Reason string `json:"reason"`
}

func (f RotateFailure) String() string {
	return fmt.Sprintf("application %s (%s): %s: %s", f.App, f.Repository, f.What, f.Reason)
}

// CoverageError is a refusal because a value cannot serve every
// application that depends on the token. It travels as the Err of an
// *Error of KindMissingPermissions, whose Missing lists the same failures
// as sentences.
type CoverageError struct {
	Token       string
	Unreachable []RotateFailure
}

func (e *CoverageError) Error() string {
	lines := make([]string, len(e.Unreachable))
	for i, f := range e.Unreachable {
		lines[i] = f.String()
	}
	return fmt.Sprintf("the value cannot serve %d of the applications of token %s: %s", len(e.Unreachable), e.Token, strings.Join(lines, "; "))
}

// RotateToken replaces a token's value. A new value is inspected with the
// token's own provider, endpoint and CA bundle, then proven on every
// application the token serves: the repository and branch are visible,
// and an application's webhook can be read (so it can be managed). Every
// application is checked; when any fails, nothing is switched and the
// answer lists them all. Otherwise the sealed value, fingerprint, report
// and expiry change in one optimistic write.
//
// With ProviderRotate (GitLab), the provider revokes the old value as it
// issues the new one: the new value is stored whatever it reaches, and
// what it cannot reach is reported in the result.
func (s *Service) RotateToken(ctx context.Context, p Principal, name string, in RotateTokenInput) (RotateResult, error) {
	if err := s.authorize(ctx, p, actManageTokens, "token/"+name); err != nil {
		return RotateResult{}, err
	}
	res, oldFP, err := s.rotateToken(ctx, p, name, in)
	how := "value"
	if in.ProviderRotate {
		how = "provider"
	}
	if err != nil {
		s.auditToken(ctx, p, "token.rotate", name, audit.Failure, fmt.Sprintf("%s rotation failed: %v", how, err))
		return RotateResult{}, err
	}
	detail := fmt.Sprintf("%s rotation: fingerprint %s -> %s, proven on %d applications", how, oldFP, res.Token.Fingerprint, res.Checked)
	if len(res.Unreachable) > 0 {
		// The switch happened (the provider revoked the old value); what
		// the new one cannot serve is recorded with it.
		detail += fmt.Sprintf("; WARNING: %s", (&CoverageError{Token: name, Unreachable: res.Unreachable}).Error())
	}
	s.auditToken(ctx, p, "token.rotate", name, audit.Success, detail)
	return res, nil
}

func (s *Service) rotateToken(ctx context.Context, p Principal, name string, in RotateTokenInput) (RotateResult, string, error) {
	t, err := s.getToken(ctx, p, name)
	if err != nil {
		return RotateResult{}, "", err
	}
	spec, err := s.specOf(t)
	if err != nil {
		return RotateResult{}, "", err
	}
	if in.ProviderRotate {
		return s.providerRotate(ctx, t, spec, in)
	}
	if in.ExpiresAt != nil {
		return RotateResult{}, "", errorf(KindInvalid, "expires_at: only a provider rotation (provider_rotate) sets an expiry; a value you give carries its own")
	}
	if in.Value.IsZero() {
		return RotateResult{}, "", errorf(KindInvalid, "value: give the new token value (on stdin), or rotate through the provider with provider_rotate (GitLab)")
	}
	value, err := cleanValue(in.Value)
	if err != nil {
		return RotateResult{}, "", err
	}
	old, err := s.sealer.Open(t.Sealed, AssociatedData(tokensTable, t.ID))
	if err != nil {
		return RotateResult{}, "", fmt.Errorf("opening token %s: %w", name, err)
	}
	if old.Equal(value) {
		return RotateResult{}, "", errorf(KindInvalid, "value: this is the value token %s already holds (fingerprint %s); give the new one", name, t.Fingerprint)
	}
	report, err := s.inspect(ctx, spec, value, in.AllowMissing, name)
	if err != nil {
		return RotateResult{}, "", err
	}
	if err := sameKind(t, report); err != nil {
		return RotateResult{}, "", err
	}
	apps, err := s.dependentApps(ctx, t)
	if err != nil {
		return RotateResult{}, "", err
	}
	cred := forge.Credential{Endpoint: spec.endpoint, Token: value}
	failures := s.proveCoverage(ctx, t.OrgID, spec.forge, cred, apps)
	if len(failures) > 0 {
		return RotateResult{}, "", coverageRefusal(name, "rotating token "+name+" was refused and nothing changed", failures, &report)
	}
	oldFP := t.Fingerprint
	saved, err := s.switchValue(ctx, t, spec, value, report)
	if err != nil {
		return RotateResult{}, "", err
	}
	return RotateResult{Token: s.view(saved, false), Report: report, Switched: true, PreviousFingerprint: oldFP, Checked: len(apps), Unreachable: []RotateFailure{}}, oldFP, nil
}

// coverageRefusal is the error for failures: KindMissingPermissions, the
// failures as sentences in Missing and structured in a *CoverageError.
func coverageRefusal(token, lead string, failures []RotateFailure, report *forge.Report) error {
	ce := &CoverageError{Token: token, Unreachable: failures}
	missing := make([]string, len(failures))
	for i, f := range failures {
		missing[i] = f.String()
	}
	return &Error{Kind: KindMissingPermissions, Err: ce, Missing: missing, Report: report,
		Message: fmt.Sprintf("%s: the value cannot serve %d application(s): %s", lead, len(failures), strings.Join(missing, "; "))}
}

// sameKind refuses a value of another kind than the token's: rotation
// replaces a credential with the same sort of credential. Changing what
// kind of token serves the applications is adding a token and moving them
// (token delete --reassign), where each step is proven on its own.
func sameKind(t store.Token, r forge.Report) error {
	if t.Kind == "" || t.Kind == string(forge.KindUnknown) || r.Kind == "" || r.Kind == forge.KindUnknown || string(r.Kind) == t.Kind {
		return nil
	}
	return errorf(KindInvalid, "value: token %s is a %s, but the new value is a %s; a rotation keeps the kind of token. To change kinds, add the new value as its own token (gitaccess token add) and move the applications to it (gitaccess token delete %s --reassign NEW)",
		t.Name, t.Kind, r.Kind, t.Name)
}

// proveCoverage checks cred on every application: repository, branch and,
// where the application has one, its webhook. All are checked; every
// failure is returned.
func (s *Service) proveCoverage(ctx context.Context, orgID string, f forge.Forge, cred forge.Credential, apps []store.App) []RotateFailure {
	failures := []RotateFailure{}
	for _, a := range apps {
		fail := func(what string, err error) {
			failures = append(failures, RotateFailure{App: a.Name, Repository: a.RepoURL, What: what, Reason: providerReason(err)})
		}
		full, err := forge.RepoPath(cred.Endpoint, a.RepoURL)
		if err != nil {
			fail("repository", err)
			continue
		}
		if _, err := f.GetRepo(ctx, cred, full); err != nil {
			fail("repository", err)
			continue
		}
		if _, err := f.GetBranch(ctx, cred, full, a.Branch); err != nil {
			fail("branch", fmt.Errorf("branch %s: %w", a.Branch, err))
			continue
		}
		h, err := s.store.GetHookByApp(ctx, orgID, a.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			fail("hook", fmt.Errorf("reading the hook gitaccess keeps: %w", err))
			continue
		}
		// Reading the hook proves the token may list the repository's
		// hooks, which every provider restricts to those who manage them.
		// A hook gone from the provider is not the value's fault: hook
		// check reports that.
		if _, _, err := f.FindHook(ctx, cred, full, h.URL); err != nil {
			fail("hook", err)
		}
	}
	return failures
}

// providerReason is a provider failure in a user's words, without the
// wrapping that names the old token.
func providerReason(err error) string {
	var nf *forge.NotFoundError
	var authErr *forge.AuthError
	switch {
	case errors.As(err, &nf):
		return fmt.Sprintf("%s answered %d (not visible to this value)%s", forge.Title(nf.Provider), nf.Status, suffix(nf.Message))
	case errors.As(err, &authErr):
		return fmt.Sprintf("%s refused the value: HTTP %d%s", forge.Title(authErr.Provider), authErr.Status, suffix(authErr.Message))
	}
	return err.Error()
}

// switchValue stores value as t's value in one optimistic write: sealed
// value, fingerprint, last 4, report, expiry and status together. A
// concurrent change to the token makes it fail with nothing written.
func (s *Service) switchValue(ctx context.Context, t store.Token, spec tokenSpec, value secret.Value, report forge.Report) (store.Token, error) {
	sealed, err := s.sealer.Seal(value, AssociatedData(tokensTable, t.ID))
	if err != nil {
		return store.Token{}, fmt.Errorf("sealing token: %w", err)
	}
	t.Sealed, t.Fingerprint, t.Last4 = sealed, value.Fingerprint(), value.Last4()
	if err := applyReport(&t, report, spec.uses, s.now()); err != nil {
		return store.Token{}, err
	}
	saved, err := s.store.UpdateToken(ctx, t)
	if errors.Is(err, store.ErrConflict) {
		return store.Token{}, errorf(KindConflict, "token %s changed while it was being rotated; nothing was switched, rotate again", t.Name)
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("saving token %s: %w", t.Name, err)
	}
	s.tokenStatusChanged(ctx, saved) // a new value closes an invalid warning; a new expiry warns afresh
	return saved, nil
}

// providerRotate rotates through the provider's API. The provider
// revokes the old value when it answers, so the new value is stored
// whatever it can reach (the old one is dead either way), then proven on
// every application; what it cannot reach is reported, not refused.
func (s *Service) providerRotate(ctx context.Context, t store.Token, spec tokenSpec, in RotateTokenInput) (RotateResult, string, error) {
	if !in.Value.IsZero() {
		return RotateResult{}, "", errorf(KindInvalid, "value: give either a new value or provider_rotate, not both")
	}
	rot, ok := spec.forge.(forge.Rotator)
	if !ok {
		return RotateResult{}, "", errorf(KindInvalid, "provider_rotate: %s offers no token rotation API that gitaccess uses; only GitLab tokens rotate through their provider (%s). Create a new value on %s and run gitaccess token rotate %s with it on stdin",
			forge.Title(spec.endpoint.Provider), strings.Join(rotatorNames(s), ", "), forge.Title(spec.endpoint.Provider), t.Name)
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(s.now()) {
		return RotateResult{}, "", errorf(KindInvalid, "expires_at: %s is not in the future", in.ExpiresAt.UTC().Format(time.DateOnly))
	}
	old, err := s.sealer.Open(t.Sealed, AssociatedData(tokensTable, t.ID))
	if err != nil {
		return RotateResult{}, "", fmt.Errorf("opening token %s: %w", t.Name, err)
	}
	oldFP := t.Fingerprint
	got, err := rot.Rotate(ctx, forge.Credential{Endpoint: spec.endpoint, Token: old}, in.ExpiresAt)
	if err != nil {
		return RotateResult{}, "", fmt.Errorf("rotating token %s through %s (nothing changed): %w", t.Name, forge.Title(spec.endpoint.Provider), err)
	}
	// From here the old value is revoked: the new one must be kept even
	// if a request below fails, so nothing below may use ctx's deadline
	// to lose it.
	keep := context.WithoutCancel(ctx)
	report, ierr := spec.forge.Inspect(keep, forge.Credential{Endpoint: spec.endpoint, Token: got.Value}, spec.uses)
	if ierr != nil {
		// Store the value with what the provider said about it.
		report = forge.Report{Provider: spec.endpoint.Provider, Host: hostOf(spec.endpoint.WebURL), Kind: forge.TokenKind(t.Kind),
			Identity: t.Identity, Scopes: t.Scopes, Role: t.Role, ExpiresAt: got.ExpiresAt,
			Notes: []string{"gitaccess could not inspect the new value right after the rotation: " + ierr.Error() + "; run gitaccess token test " + t.Name}}
	}
	if report.ExpiresAt == nil {
		report.ExpiresAt = got.ExpiresAt
	}
	var saved store.Token
	for attempt := 0; ; attempt++ {
		saved, err = s.switchValue(keep, t, spec, got.Value, report)
		if err == nil || ErrorKind(err) != KindConflict || attempt == 2 {
			break
		}
		// Someone changed the token meanwhile (a test, a rename): the
		// revoked old value must not win, so reread and write again.
		if t, err = s.store.GetTokenByID(keep, t.OrgID, t.ID); err != nil {
			break
		}
	}
	if err != nil {
		s.log.Error("provider rotated a token but saving the new value failed; the old value is revoked", "token", t.ID, "err", err)
		return RotateResult{}, "", fmt.Errorf("%s rotated token %s and revoked the old value, but saving the new one failed: %w", forge.Title(spec.endpoint.Provider), t.Name, err)
	}
	apps, err := s.dependentApps(keep, saved)
	if err != nil {
		return RotateResult{}, "", err
	}
	failures := s.proveCoverage(keep, t.OrgID, spec.forge, forge.Credential{Endpoint: spec.endpoint, Token: got.Value}, apps)
	return RotateResult{Token: s.view(saved, false), Report: report, Switched: true, PreviousFingerprint: oldFP, Checked: len(apps), Unreachable: failures}, oldFP, nil
}

// rotatorNames lists the configured providers that rotate tokens.
func rotatorNames(s *Service) []string {
	var out []string
	for _, p := range forge.Providers {
		if f, ok := s.forges.Forge(p); ok {
			if _, ok := f.(forge.Rotator); ok {
				out = append(out, string(p))
			}
		}
	}
	if len(out) == 0 {
		out = []string{string(forge.GitLab)}
	}
	return out
}
