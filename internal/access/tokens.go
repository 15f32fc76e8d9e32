package access

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/gitaccess/gitaccess/internal/audit"
	"github.com/gitaccess/gitaccess/internal/forge"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// AssociatedData binds a sealed value to its row, so a ciphertext copied
// into another row, or another table, does not open.
func AssociatedData(table, id string) []byte {
	return []byte("gitaccess/" + table + "/" + id)
}

const tokensTable = "tokens"

const maxDescription = 500

// tokenSpec is a token's provider-facing settings, validated.
type tokenSpec struct {
	forge    forge.Forge
	endpoint forge.Endpoint
	uses     []forge.Use
}

func (s *Service) resolveSpec(provider, rawURL, workspace, caBundle string, uses []string) (tokenSpec, error) {
	f, ok := s.forges.Forge(forge.Provider(provider))
	if !ok {
		names := make([]string, 0, len(forge.Providers))
		for _, p := range forge.Providers {
			if _, ok := s.forges.Forge(p); ok {
				names = append(names, string(p))
			}
		}
		return tokenSpec{}, errorf(KindInvalid, "provider %q is not supported; choose one of %s", provider, strings.Join(names, ", "))
	}
	ep, err := f.ResolveEndpoint(strings.TrimSpace(rawURL), strings.TrimSpace(workspace))
	if err != nil {
		return tokenSpec{}, &Error{Kind: KindInvalid, Message: err.Error(), Err: err}
	}
	if caBundle != "" {
		if err := checkCABundle(caBundle); err != nil {
			return tokenSpec{}, err
		}
		ep.CABundle = []byte(caBundle)
	}
	parsed, err := parseUses(uses)
	if err != nil {
		return tokenSpec{}, err
	}
	return tokenSpec{forge: f, endpoint: ep, uses: parsed}, nil
}

func parseUses(uses []string) ([]forge.Use, error) {
	if len(uses) == 0 {
		return slices.Clone(forge.AllUses), nil
	}
	out, err := forge.ParseUses(strings.Join(uses, ","))
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Message: err.Error(), Err: err}
	}
	return out, nil
}

// checkCABundle accepts PEM holding at least one parseable certificate and
// nothing else: a private key pasted by mistake must not be stored.
func checkCABundle(b string) error {
	rest := []byte(b)
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return errorf(KindInvalid, "ca_bundle: holds a %q block; give only CERTIFICATE blocks (never a private key)", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return errorf(KindInvalid, "ca_bundle: certificate %d cannot be parsed: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return errorf(KindInvalid, "ca_bundle: no PEM certificate found; give a file with -----BEGIN CERTIFICATE----- blocks")
	}
	return nil
}

// cleanValue trims what a paste adds around a token and refuses what no
// token contains.
func cleanValue(v secret.Value) (secret.Value, error) {
	raw := strings.TrimSpace(v.Reveal())
	if raw == "" {
		return secret.Value{}, errorf(KindInvalid, "value: the token value is empty; pipe it on stdin or type it at the prompt")
	}
	for _, r := range raw {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return secret.Value{}, errorf(KindInvalid, "value: the token value contains whitespace or control characters; paste only the token")
		}
	}
	if len(raw) > 4096 {
		return secret.Value{}, errorf(KindInvalid, "value: %d bytes is longer than any provider token; paste only the token", len(raw))
	}
	return secret.New(raw), nil
}

// status decides a token's status from an inspection.
func status(r forge.Report, uses []forge.Use, now time.Time) (string, string) {
	if r.ExpiresAt != nil {
		left := r.ExpiresAt.Sub(now)
		switch {
		case left <= 0:
			return StatusExpired, "expired on " + r.ExpiresAt.UTC().Format(time.DateOnly)
		case left <= ExpiringWithin:
			return StatusExpiring, fmt.Sprintf("expires on %s (%d days left)", r.ExpiresAt.UTC().Format(time.DateOnly), int(left.Hours()/24))
		}
	}
	if m := r.Missing(uses); len(m) > 0 {
		return StatusLimited, "missing " + strings.Join(m, ", ")
	}
	return StatusValid, ""
}

func usesStrings(uses []forge.Use) []string {
	out := make([]string, len(uses))
	for i, u := range uses {
		out[i] = string(u)
	}
	return out
}

func hostOf(webURL string) string {
	u, err := url.Parse(webURL)
	if err != nil {
		return webURL
	}
	return u.Host
}

func (s *Service) view(t store.Token, withReport bool) TokenView {
	v := TokenView{
		ID: t.ID, Name: t.Name, Description: t.Description, Provider: t.Provider,
		Host: hostOf(t.WebURL), WebURL: t.WebURL, APIURL: t.APIURL, Workspace: t.Workspace,
		HasCABundle: len(t.CABundle) > 0, Uses: t.Uses, Prefixes: t.Prefixes, Kind: t.Kind, Identity: t.Identity,
		Scopes: t.Scopes, Role: t.Role, ExpiresAt: t.ExpiresAt, Status: t.Status, StatusDetail: t.StatusDetail,
		LastValidatedAt: t.LastValidatedAt, LastUsedAt: t.LastUsedAt, Fingerprint: t.Fingerprint, Last4: t.Last4,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
	}
	// Expiry moves a token's status with time, without a re-inspection.
	if t.ExpiresAt != nil && t.Status != StatusInvalid {
		now := s.now()
		if !t.ExpiresAt.After(now) {
			v.Status, v.StatusDetail = StatusExpired, "expired on "+t.ExpiresAt.UTC().Format(time.DateOnly)
		} else if t.ExpiresAt.Sub(now) <= ExpiringWithin && t.Status == StatusValid {
			v.Status = StatusExpiring
			v.StatusDetail = fmt.Sprintf("expires on %s (%d days left)", t.ExpiresAt.UTC().Format(time.DateOnly), int(t.ExpiresAt.Sub(now).Hours()/24))
		}
	}
	if withReport && len(t.Report) > 0 {
		var r forge.Report
		if err := json.Unmarshal(t.Report, &r); err == nil {
			v.Report = &r
		}
	}
	if v.Uses == nil {
		v.Uses = []string{}
	}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	if v.Prefixes == nil {
		v.Prefixes = []string{}
	}
	return v
}

// applyReport copies an inspection onto the row.
func applyReport(t *store.Token, r forge.Report, uses []forge.Use, now time.Time) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding report: %w", err)
	}
	t.Kind, t.Identity, t.Scopes, t.Role, t.ExpiresAt = string(r.Kind), r.Identity, r.Scopes, r.Role, r.ExpiresAt
	t.Status, t.StatusDetail = status(r, uses, now)
	t.Report = b
	nowUTC := now.UTC()
	t.LastValidatedAt = &nowUTC
	return nil
}

// inspect asks the provider and refuses a token that lacks what its uses
// need, unless allowMissing.
func (s *Service) inspect(ctx context.Context, spec tokenSpec, v secret.Value, allowMissing bool, name string) (forge.Report, error) {
	r, err := spec.forge.Inspect(ctx, forge.Credential{Endpoint: spec.endpoint, Token: v}, spec.uses)
	if err != nil {
		return forge.Report{}, fmt.Errorf("testing token %s: %w", name, err)
	}
	if missing := r.Missing(spec.uses); len(missing) > 0 && !allowMissing {
		return r, &Error{
			Kind: KindMissingPermissions,
			Message: fmt.Sprintf("token %s authenticates as %s but lacks what its uses (%s) need: %s; grant them at %s, or save it anyway with allow_missing (status \"limited\")",
				name, r.Identity, strings.Join(usesStrings(spec.uses), ", "), strings.Join(missing, "; "), forge.Title(spec.endpoint.Provider)),
			Missing: missing,
			Report:  &r,
		}
	}
	return r, nil
}

func (s *Service) auditToken(ctx context.Context, p Principal, act, name, outcome, detail string) {
	s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: act, Target: "token/" + name, Outcome: outcome, Detail: detail})
}

func (s *Service) getToken(ctx context.Context, p Principal, name string) (store.Token, error) {
	t, err := s.store.GetToken(ctx, p.OrgID, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Token{}, errorf(KindNotFound, "no token named %q in organization %s; `gitaccess token list` shows them", name, p.OrgName)
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("reading token %s: %w", name, err)
	}
	return t, nil
}

// AddToken tests the value with the provider and saves it when it
// authenticates and holds what its uses need (or AllowMissing is set).
// Nothing is saved on any failure.
func (s *Service) AddToken(ctx context.Context, p Principal, in AddTokenInput) (TokenResult, error) {
	if err := s.authorize(ctx, p, actManageTokens, "token/"+in.Name); err != nil {
		return TokenResult{}, err
	}
	res, err := s.addToken(ctx, p, in)
	if err != nil {
		s.auditToken(ctx, p, "token.create", in.Name, audit.Failure, err.Error())
		return TokenResult{}, err
	}
	s.auditToken(ctx, p, "token.create", in.Name, audit.Success, fmt.Sprintf("%s %s as %s, status %s", in.Provider, res.Token.Host, res.Token.Identity, res.Token.Status))
	return res, nil
}

func (s *Service) addToken(ctx context.Context, p Principal, in AddTokenInput) (TokenResult, error) {
	if err := validName("token", in.Name); err != nil {
		return TokenResult{}, err
	}
	if len(in.Description) > maxDescription {
		return TokenResult{}, errorf(KindInvalid, "description: at most %d characters", maxDescription)
	}
	spec, err := s.resolveSpec(in.Provider, in.URL, in.Workspace, in.CABundle, in.Uses)
	if err != nil {
		return TokenResult{}, err
	}
	value, err := cleanValue(in.Value)
	if err != nil {
		return TokenResult{}, err
	}
	prefixes, err := tokenPrefixes(in.Prefixes, spec.endpoint)
	if err != nil {
		return TokenResult{}, err
	}
	// A taken name or prefix is refused before the provider is asked.
	if _, err := s.store.GetToken(ctx, p.OrgID, in.Name); err == nil {
		return TokenResult{}, errorf(KindConflict, "a token named %q already exists in organization %s; choose another name or `gitaccess token update %s`", in.Name, p.OrgName, in.Name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return TokenResult{}, fmt.Errorf("checking token name: %w", err)
	}
	if err := s.checkPrefixesFree(ctx, p, "", prefixes); err != nil {
		return TokenResult{}, err
	}
	report, err := s.inspect(ctx, spec, value, in.AllowMissing, in.Name)
	if err != nil {
		return TokenResult{}, err
	}
	now := s.now().UTC()
	t := store.Token{
		ID: store.NewID("tok"), OrgID: p.OrgID, Name: in.Name, Description: in.Description,
		Provider: string(spec.endpoint.Provider), WebURL: spec.endpoint.WebURL, APIURL: spec.endpoint.APIURL,
		Workspace: spec.endpoint.Workspace, CABundle: spec.endpoint.CABundle, Uses: usesStrings(spec.uses),
		Prefixes: prefixes, Fingerprint: value.Fingerprint(), Last4: value.Last4(), CreatedAt: now, UpdatedAt: now,
	}
	if err := applyReport(&t, report, spec.uses, now); err != nil {
		return TokenResult{}, err
	}
	if t.Sealed, err = s.sealer.Seal(value, AssociatedData(tokensTable, t.ID)); err != nil {
		return TokenResult{}, fmt.Errorf("sealing token: %w", err)
	}
	if err := s.store.CreateToken(ctx, t); err != nil {
		if errors.Is(err, store.ErrPrefixTaken) {
			return TokenResult{}, s.prefixTaken(ctx, p, t.Prefixes)
		}
		if errors.Is(err, store.ErrConflict) {
			return TokenResult{}, errorf(KindConflict, "a token named %q already exists in organization %s", in.Name, p.OrgName)
		}
		return TokenResult{}, fmt.Errorf("saving token: %w", err)
	}
	s.tokenStatusChanged(ctx, t) // a token added within 30 days of its expiry warns now, not at the next sweep
	return TokenResult{Token: s.view(t, false), Report: report}, nil
}

// TestValue inspects a value without saving anything.
func (s *Service) TestValue(ctx context.Context, p Principal, in TestValueInput) (forge.Report, error) {
	if err := s.authorize(ctx, p, actManageTokens, "token/(unsaved)"); err != nil {
		return forge.Report{}, err
	}
	spec, err := s.resolveSpec(in.Provider, in.URL, in.Workspace, in.CABundle, in.Uses)
	if err != nil {
		return forge.Report{}, err
	}
	value, err := cleanValue(in.Value)
	if err != nil {
		return forge.Report{}, err
	}
	r, err := spec.forge.Inspect(ctx, forge.Credential{Endpoint: spec.endpoint, Token: value}, spec.uses)
	outcome, detail := audit.Success, fmt.Sprintf("%s %s", in.Provider, hostOf(spec.endpoint.WebURL))
	if err != nil {
		outcome, detail = audit.Failure, err.Error()
	}
	s.auditToken(ctx, p, "token.test", "(unsaved)", outcome, detail)
	if err != nil {
		return forge.Report{}, fmt.Errorf("testing token: %w", err)
	}
	return r, nil
}

// specOf rebuilds a saved token's spec.
func (s *Service) specOf(t store.Token) (tokenSpec, error) {
	f, ok := s.forges.Forge(forge.Provider(t.Provider))
	if !ok {
		return tokenSpec{}, fmt.Errorf("token %s: provider %q is not configured on this server", t.Name, t.Provider)
	}
	uses, err := parseUses(t.Uses)
	if err != nil {
		return tokenSpec{}, err
	}
	return tokenSpec{forge: f, uses: uses, endpoint: forge.Endpoint{
		Provider: forge.Provider(t.Provider), WebURL: t.WebURL, APIURL: t.APIURL, Workspace: t.Workspace, CABundle: t.CABundle,
	}}, nil
}

// TestToken re-inspects a saved token and records the outcome (status,
// scopes, expiry, last validated). A token the provider refuses is marked
// invalid with the provider's words, and the refusal is returned.
func (s *Service) TestToken(ctx context.Context, p Principal, name string) (TokenResult, error) {
	if err := s.authorize(ctx, p, actManageTokens, "token/"+name); err != nil {
		return TokenResult{}, err
	}
	t, err := s.getToken(ctx, p, name)
	if err != nil {
		return TokenResult{}, err
	}
	spec, err := s.specOf(t)
	if err != nil {
		return TokenResult{}, err
	}
	value, err := s.sealer.Open(t.Sealed, AssociatedData(tokensTable, t.ID))
	if err != nil {
		return TokenResult{}, fmt.Errorf("opening token %s: %w", name, err)
	}
	// A user's test gets GitHub's full answers, not ETag revalidations.
	report, inspectErr := spec.forge.Inspect(forge.Fresh(ctx), forge.Credential{Endpoint: spec.endpoint, Token: value, TokenID: t.ID}, spec.uses)
	now := s.now().UTC()
	var authErr *forge.AuthError
	switch {
	case inspectErr == nil:
		if err := applyReport(&t, report, spec.uses, now); err != nil {
			return TokenResult{}, err
		}
	case errors.As(inspectErr, &authErr):
		t.Status = StatusInvalid
		t.StatusDetail = fmt.Sprintf("refused by %s on %s: HTTP %d %s", forge.Title(authErr.Provider), now.Format(time.RFC3339), authErr.Status, authErr.Message)
		t.LastValidatedAt = &now
	default:
		// Unreachable, rate-limited or a provider failure says nothing about
		// the token: leave its status alone.
		s.auditToken(ctx, p, "token.test", name, audit.Failure, inspectErr.Error())
		return TokenResult{}, fmt.Errorf("testing token %s: %w", name, inspectErr)
	}
	saved, err := s.store.UpdateToken(ctx, t)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return TokenResult{}, errorf(KindConflict, "token %s changed while it was being tested; test it again", name)
		}
		return TokenResult{}, fmt.Errorf("recording test of token %s: %w", name, err)
	}
	s.tokenStatusChanged(ctx, saved) // warn once if it turned invalid; close the warning if it recovered
	if inspectErr != nil {
		s.auditToken(ctx, p, "token.test", name, audit.Failure, "marked invalid: "+inspectErr.Error())
		return TokenResult{}, fmt.Errorf("testing token %s: %w", name, inspectErr)
	}
	s.auditToken(ctx, p, "token.test", name, audit.Success, "status "+saved.Status)
	return TokenResult{Token: s.view(saved, false), Report: report}, nil
}

// ListTokens pages through the organization's tokens by name.
func (s *Service) ListTokens(ctx context.Context, p Principal, page store.Page) ([]TokenView, string, error) {
	if err := s.authorize(ctx, p, actReadTokens, "tokens"); err != nil {
		return nil, "", err
	}
	ts, next, err := s.store.ListTokens(ctx, p.OrgID, page)
	if err != nil {
		return nil, "", fmt.Errorf("listing tokens: %w", err)
	}
	out := make([]TokenView, 0, len(ts))
	for _, t := range ts {
		out = append(out, s.view(t, false))
	}
	return out, next, nil
}

// GetToken returns one token with its last report.
func (s *Service) GetToken(ctx context.Context, p Principal, name string) (TokenView, error) {
	if err := s.authorize(ctx, p, actReadTokens, "token/"+name); err != nil {
		return TokenView{}, err
	}
	t, err := s.getToken(ctx, p, name)
	if err != nil {
		return TokenView{}, err
	}
	v := s.view(t, true)
	v.RateLimit = s.rateLimitOf(ctx, t.ID)
	if v.Applications, _, err = s.impactApps(ctx, t); err != nil {
		return TokenView{}, err
	}
	return v, nil
}

// UpdateToken changes a token in place. A new value, URL, workspace, CA
// bundle or set of uses is tested first, exactly like a new token; a change
// that fails the test changes nothing.
func (s *Service) UpdateToken(ctx context.Context, p Principal, name string, in UpdateTokenInput) (TokenResult, error) {
	if err := s.authorize(ctx, p, actManageTokens, "token/"+name); err != nil {
		return TokenResult{}, err
	}
	res, changed, err := s.updateToken(ctx, p, name, in)
	if err != nil {
		s.auditToken(ctx, p, "token.update", name, audit.Failure, err.Error())
		return TokenResult{}, err
	}
	s.auditToken(ctx, p, "token.update", name, audit.Success, "changed "+strings.Join(changed, ", "))
	return res, nil
}

func (s *Service) updateToken(ctx context.Context, p Principal, name string, in UpdateTokenInput) (TokenResult, []string, error) {
	t, err := s.getToken(ctx, p, name)
	if err != nil {
		return TokenResult{}, nil, err
	}
	var changed []string
	if in.Name != nil && *in.Name != t.Name {
		if err := validName("token", *in.Name); err != nil {
			return TokenResult{}, nil, err
		}
		t.Name = *in.Name
		changed = append(changed, "name (was "+name+")")
	}
	if in.Description != nil && *in.Description != t.Description {
		if len(*in.Description) > maxDescription {
			return TokenResult{}, nil, errorf(KindInvalid, "description: at most %d characters", maxDescription)
		}
		t.Description = *in.Description
		changed = append(changed, "description")
	}
	// Provider-facing changes need a new inspection.
	retest := false
	rawURL, workspace, ca := t.WebURL, t.Workspace, string(t.CABundle)
	if in.URL != nil {
		rawURL, retest = *in.URL, true
		changed = append(changed, "url")
	}
	if in.Workspace != nil {
		workspace, retest = *in.Workspace, true
		changed = append(changed, "workspace")
	}
	if in.CABundle != nil {
		ca, retest = *in.CABundle, true
		changed = append(changed, "ca_bundle")
	}
	uses := t.Uses
	if len(in.Uses) > 0 {
		uses, retest = in.Uses, true
		changed = append(changed, "uses")
	}
	if in.Prefixes != nil {
		changed = append(changed, "prefixes")
	}
	var value secret.Value
	newValue := in.Value != nil
	if newValue {
		if value, err = cleanValue(*in.Value); err != nil {
			return TokenResult{}, nil, err
		}
		retest = true
		changed = append(changed, "value")
	}
	var report forge.Report
	if retest {
		spec, err := s.resolveSpec(t.Provider, rawURL, workspace, ca, uses)
		if err != nil {
			return TokenResult{}, nil, err
		}
		if !newValue {
			if value, err = s.sealer.Open(t.Sealed, AssociatedData(tokensTable, t.ID)); err != nil {
				return TokenResult{}, nil, fmt.Errorf("opening token %s: %w", name, err)
			}
		}
		if report, err = s.inspect(ctx, spec, value, in.AllowMissing, name); err != nil {
			return TokenResult{}, nil, err
		}
		t.WebURL, t.APIURL, t.Workspace, t.CABundle, t.Uses = spec.endpoint.WebURL, spec.endpoint.APIURL, spec.endpoint.Workspace, spec.endpoint.CABundle, usesStrings(spec.uses)
		if err := applyReport(&t, report, spec.uses, s.now()); err != nil {
			return TokenResult{}, nil, err
		}
		if newValue {
			if t.Sealed, err = s.sealer.Seal(value, AssociatedData(tokensTable, t.ID)); err != nil {
				return TokenResult{}, nil, fmt.Errorf("sealing token: %w", err)
			}
			t.Fingerprint, t.Last4 = value.Fingerprint(), value.Last4()
		}
	} else if len(t.Report) > 0 {
		_ = json.Unmarshal(t.Report, &report)
	}
	if in.Prefixes != nil || in.URL != nil || in.Workspace != nil {
		// Prefixes live on the token's host: re-derive them when it moves.
		want := in.Prefixes
		if want == nil && (in.URL != nil || in.Workspace != nil) {
			want = []string{}
		}
		ep := forge.Endpoint{Provider: forge.Provider(t.Provider), WebURL: t.WebURL, Workspace: t.Workspace}
		prefixes, err := tokenPrefixes(want, ep)
		if err != nil {
			return TokenResult{}, nil, err
		}
		if err := s.checkPrefixesFree(ctx, p, t.ID, prefixes); err != nil {
			return TokenResult{}, nil, err
		}
		t.Prefixes = prefixes
	}
	if len(changed) == 0 {
		return TokenResult{Token: s.view(t, false), Report: report}, []string{"nothing"}, nil
	}
	saved, err := s.store.UpdateToken(ctx, t)
	if errors.Is(err, store.ErrPrefixTaken) {
		return TokenResult{}, nil, s.prefixTaken(ctx, p, t.Prefixes)
	}
	if errors.Is(err, store.ErrConflict) {
		if t.Name != name {
			if _, gerr := s.store.GetToken(ctx, p.OrgID, t.Name); gerr == nil {
				return TokenResult{}, nil, errorf(KindConflict, "a token named %q already exists in organization %s", t.Name, p.OrgName)
			}
		}
		return TokenResult{}, nil, errorf(KindConflict, "token %s changed while it was being updated; nothing was changed, try again", name)
	}
	if err != nil {
		return TokenResult{}, nil, fmt.Errorf("saving token %s: %w", name, err)
	}
	s.tokenStatusChanged(ctx, saved) // a new value closes an invalid warning; a new expiry warns afresh
	return TokenResult{Token: s.view(saved, false), Report: report}, changed, nil
}

// DeleteToken deletes a token. A token in use (applications it
// serves, or repositories resolved through it lately) is refused with its
// impact, unless Reassign names another token, which is first proven on
// every application (repository, branch, hook) and then bound to each
// explicitly, or Force is set: explicitly bound applications are then
// unbound and fall back to prefix resolution.
func (s *Service) DeleteToken(ctx context.Context, p Principal, name string, in DeleteTokenInput) (DeleteTokenResult, error) {
	if err := s.authorize(ctx, p, actManageTokens, "token/"+name); err != nil {
		return DeleteTokenResult{}, err
	}
	t, err := s.getToken(ctx, p, name)
	if err != nil {
		return DeleteTokenResult{}, err
	}
	if in.Confirm != t.Name {
		return DeleteTokenResult{}, errorf(KindConfirmationRequired, "deleting token %s needs confirmation: type its name (the CLI asks; the API takes ?confirm=%s)", name, url.QueryEscape(name))
	}
	res, err := s.deleteToken(ctx, p, t, in)
	if err != nil {
		s.auditToken(ctx, p, "token.delete", name, audit.Failure, err.Error())
		return DeleteTokenResult{}, err
	}
	detail := fmt.Sprintf("%s %s, fingerprint %s", t.Provider, hostOf(t.WebURL), t.Fingerprint)
	if len(res.Reassigned) > 0 {
		detail += fmt.Sprintf("; applications %s moved to token %s", strings.Join(res.Reassigned, ", "), in.Reassign)
	}
	if len(res.Unbound) > 0 {
		detail += fmt.Sprintf("; forced: applications %s unbound, now resolved by prefix", strings.Join(res.Unbound, ", "))
	}
	s.auditToken(ctx, p, "token.delete", name, audit.Success, detail)
	return res, nil
}

func (s *Service) deleteToken(ctx context.Context, p Principal, t store.Token, in DeleteTokenInput) (DeleteTokenResult, error) {
	if in.Reassign != "" && in.Force {
		return DeleteTokenResult{}, errorf(KindInvalid, "give either reassign (move the applications to another token) or force (unbind them), not both")
	}
	imp, err := s.tokenImpact(ctx, t)
	if err != nil {
		return DeleteTokenResult{}, err
	}
	res := DeleteTokenResult{Impact: imp, Reassigned: []string{}, Unbound: []string{}}
	switch {
	case !imp.InUse:
	case in.Reassign != "":
		if err := s.reassign(ctx, p, t, in.Reassign, &res); err != nil {
			return DeleteTokenResult{}, err
		}
	case in.Force:
		if err := s.unbindAll(ctx, p, t, &res); err != nil {
			return DeleteTokenResult{}, err
		}
	default:
		return DeleteTokenResult{}, tokenInUse(t.Name, imp)
	}
	if err := s.store.DeleteToken(ctx, p.OrgID, t.ID); err != nil {
		if errors.Is(err, store.ErrInUse) {
			// An application was bound meanwhile.
			imp, ierr := s.tokenImpact(ctx, t)
			if ierr != nil {
				return DeleteTokenResult{}, fmt.Errorf("deleting token %s: %w", t.Name, err)
			}
			return DeleteTokenResult{}, tokenInUse(t.Name, imp)
		}
		if errors.Is(err, store.ErrNotFound) {
			return DeleteTokenResult{}, errorf(KindNotFound, "token %s was already deleted", t.Name)
		}
		return DeleteTokenResult{}, fmt.Errorf("deleting token %s: %w", t.Name, err)
	}
	return res, nil
}

// reassign proves other on every application t serves, then binds each
// to other explicitly. Any failure of the proof moves nothing.
func (s *Service) reassign(ctx context.Context, p Principal, t store.Token, otherName string, res *DeleteTokenResult) error {
	other, err := s.getToken(ctx, p, otherName)
	if err != nil {
		return err
	}
	if other.ID == t.ID {
		return errorf(KindInvalid, "reassign: name another token than %s itself", t.Name)
	}
	apps, err := s.dependentApps(ctx, t)
	if err != nil {
		return err
	}
	spec, err := s.specOf(other)
	if err != nil {
		return err
	}
	v, err := s.sealer.Open(other.Sealed, AssociatedData(tokensTable, other.ID))
	if err != nil {
		return fmt.Errorf("opening token %s: %w", other.Name, err)
	}
	if failures := s.proveCoverage(ctx, p.OrgID, spec.forge, forge.Credential{Endpoint: spec.endpoint, Token: v}, apps); len(failures) > 0 {
		return coverageRefusal(other.Name, fmt.Sprintf("token %s was not deleted and no application was moved, because token %s cannot take them over", t.Name, other.Name), failures, nil)
	}
	for _, a := range apps {
		a.TokenID = other.ID
		if _, err := s.store.UpdateApp(ctx, a); err != nil {
			return fmt.Errorf("moving application %s to token %s failed (moved so far: %s; token %s was not deleted): %w", a.Name, other.Name, orNone(res.Reassigned), t.Name, err)
		}
		res.Reassigned = append(res.Reassigned, a.Name)
		s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "app.update", Target: "app/" + a.Name, Outcome: audit.Success,
			Detail: fmt.Sprintf("token reassigned from %s to %s (proven on %s@%s) before deleting %s", t.Name, other.Name, a.RepoURL, a.Branch, t.Name)})
	}
	return nil
}

// unbindAll unbinds the applications bound to t explicitly; they then
// resolve by prefix, like the ones that already did.
func (s *Service) unbindAll(ctx context.Context, p Principal, t store.Token, res *DeleteTokenResult) error {
	apps, err := s.store.ListAppsByToken(ctx, p.OrgID, t.ID)
	if err != nil {
		return fmt.Errorf("listing applications of token %s: %w", t.Name, err)
	}
	for _, a := range apps {
		a.TokenID = ""
		if _, err := s.store.UpdateApp(ctx, a); err != nil {
			return fmt.Errorf("unbinding application %s failed (unbound so far: %s; token %s was not deleted): %w", a.Name, orNone(res.Unbound), t.Name, err)
		}
		res.Unbound = append(res.Unbound, a.Name)
		s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "app.update", Target: "app/" + a.Name, Outcome: audit.Success,
			Detail: fmt.Sprintf("unbound from token %s (forced delete); resolved by prefix from now on", t.Name)})
	}
	return nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// tokenPrefixes validates the prefixes a user gave, or derives the default:
// the provider's host, and on Bitbucket the workspace under it. An empty,
// non-nil list leaves the default too: a token always serves somewhere.
func tokenPrefixes(given []string, ep forge.Endpoint) ([]string, error) {
	if len(given) == 0 {
		def := ep.WebURL + "/"
		if ep.Provider == forge.Bitbucket && ep.Workspace != "" {
			def += ep.Workspace + "/"
		}
		given = []string{def}
	}
	out := make([]string, 0, len(given))
	for _, g := range given {
		n, err := normalizePrefix(g, ep.WebURL)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// checkPrefixesFree refuses prefixes another token of the org already
// serves: two tokens on one prefix would make resolution a tie.
func (s *Service) checkPrefixesFree(ctx context.Context, p Principal, selfID string, prefixes []string) error {
	for _, pf := range prefixes {
		holder, got, err := s.store.MatchPrefix(ctx, p.OrgID, pf)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("checking prefix %s: %w", pf, err)
		}
		if got == pf && holder.ID != selfID {
			return errorf(KindConflict, "prefix %s is already served by token %s; two tokens on one prefix would tie. Give this token a narrower --prefix (e.g. %sORG/) or change %s's prefixes", pf, holder.Name, pf, holder.Name)
		}
	}
	return nil
}

// prefixTaken explains a prefix clash the store caught (a race the
// up-front check could not see).
func (s *Service) prefixTaken(ctx context.Context, p Principal, prefixes []string) error {
	if err := s.checkPrefixesFree(ctx, p, "", prefixes); err != nil {
		return err
	}
	return errorf(KindConflict, "one of the prefixes %s is already served by another token", strings.Join(prefixes, ", "))
}

// tokenInUse explains why a token in use is not deleted, with its impact.
func tokenInUse(name string, imp TokenImpact) error {
	var parts []string
	if len(imp.Applications) > 0 {
		apps := make([]string, len(imp.Applications))
		for i, a := range imp.Applications {
			apps[i] = fmt.Sprintf("%s (%s, %s)", a.Name, a.RepoURL, a.Binding)
		}
		parts = append(parts, "applications "+strings.Join(apps, ", "))
	}
	if len(imp.Hooks) > 0 {
		parts = append(parts, fmt.Sprintf("%d webhook(s) managed with it", len(imp.Hooks)))
	}
	if len(imp.SubmoduleResolutions) > 0 {
		repos := make([]string, len(imp.SubmoduleResolutions))
		for i, r := range imp.SubmoduleResolutions {
			repos[i] = r.RepoURL
		}
		parts = append(parts, "repositories resolved through it in the last 30 days (submodules) "+strings.Join(repos, ", "))
	}
	return errorf(KindConflict, "token %s is in use: %s. Move the applications to another token with reassign (gitaccess token delete %s --reassign OTHER), or delete it anyway with force (bound applications then resolve by prefix)",
		name, strings.Join(parts, "; "), name)
}
