package access

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/gitaccess/gitaccess/internal/audit"
	"github.com/gitaccess/gitaccess/internal/secret"
	"github.com/gitaccess/gitaccess/internal/store"
)

// API keys read "gak_<id>_<secret>": the id finds the row, the secret is
// checked against its SHA-256 (the secret has 160 random bits, so a slow
// password hash would add nothing).
const keyPrefix = "gak_"

// touchEvery bounds how often a key's last-used time is written, so
// authenticating is not a write on every request.
const touchEvery = time.Minute

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

func validName(kind, name string) error {
	if !namePattern.MatchString(name) {
		return errorf(KindInvalid, "%s name %q is not valid: use 1 to 63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", kind, name)
	}
	return nil
}

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// newKey makes a key row and its one-time string.
func (s *Service) newKey(orgID, name string, role store.Role, createdBy string) (store.APIKey, secret.Value) {
	idPart := store.RandomString(10)
	secretPart := store.RandomString(20)
	k := store.APIKey{
		ID:        "key_" + idPart,
		OrgID:     orgID,
		Name:      name,
		Role:      role,
		Hash:      hashSecret(secretPart),
		CreatedAt: s.now().UTC(),
		CreatedBy: createdBy,
	}
	return k, secret.New(keyPrefix + idPart + "_" + secretPart)
}

func keyView(k store.APIKey) APIKeyView {
	return APIKeyView{ID: k.ID, Name: k.Name, Role: k.Role, CreatedAt: k.CreatedAt, CreatedBy: k.CreatedBy, RevokedAt: k.RevokedAt, LastUsedAt: k.LastUsedAt}
}

func orgView(o store.Org) OrgView { return OrgView{ID: o.ID, Name: o.Name, CreatedAt: o.CreatedAt} }

// Bootstrap creates the organization "default" and an Owner API key when
// the store has no organization. created is false (and key zero) otherwise.
func (s *Service) Bootstrap(ctx context.Context) (secret.Value, bool, error) {
	orgs, err := s.store.ListOrgs(ctx)
	if err != nil {
		return secret.Value{}, false, fmt.Errorf("listing organizations: %w", err)
	}
	if len(orgs) > 0 {
		return secret.Value{}, false, nil
	}
	org := store.Org{ID: store.NewID("org"), Name: BootstrapOrg, CreatedAt: s.now().UTC()}
	if err := s.store.CreateOrg(ctx, org); err != nil {
		if errors.Is(err, store.ErrConflict) {
			// Another replica bootstrapped first.
			return secret.Value{}, false, nil
		}
		return secret.Value{}, false, fmt.Errorf("creating the %s organization: %w", BootstrapOrg, err)
	}
	k, raw := s.newKey(org.ID, "bootstrap-owner", store.RoleOwner, "gitaccess serve")
	if err := s.store.CreateAPIKey(ctx, k); err != nil {
		return secret.Value{}, false, fmt.Errorf("creating the bootstrap owner key: %w", err)
	}
	s.audit.Record(ctx, audit.Entry{OrgID: org.ID, Actor: "system", Action: "org.create", Target: "org/" + org.Name, Outcome: audit.Success, Detail: "bootstrap with owner key " + k.ID})
	return raw, true, nil
}

// Authenticate resolves an API key string to its Principal.
func (s *Service) Authenticate(ctx context.Context, rawKey secret.Value) (Principal, error) {
	unauth := &Error{Kind: KindUnauthenticated, Message: "the API key is not valid; create one with `gitaccess apikey create` or use the bootstrap key in <data-dir>/admin-api-key"}
	raw := rawKey.Reveal()
	rest, ok := strings.CutPrefix(raw, keyPrefix)
	if !ok {
		return Principal{}, unauth
	}
	idPart, secretPart, ok := strings.Cut(rest, "_")
	if !ok || idPart == "" || secretPart == "" {
		return Principal{}, unauth
	}
	k, err := s.store.GetAPIKey(ctx, "key_"+idPart)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, unauth
	}
	if err != nil {
		return Principal{}, fmt.Errorf("looking up API key: %w", err)
	}
	if subtle.ConstantTimeCompare(k.Hash, hashSecret(secretPart)) != 1 || k.RevokedAt != nil {
		return Principal{}, unauth
	}
	org, err := s.store.GetOrg(ctx, k.OrgID)
	if err != nil {
		return Principal{}, fmt.Errorf("looking up the key's organization: %w", err)
	}
	now := s.now().UTC()
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > touchEvery {
		if err := s.store.TouchAPIKey(ctx, k.ID, now); err != nil {
			s.log.Warn("recording API key use failed", "key", k.ID, "err", err)
		}
	}
	return Principal{OrgID: org.ID, OrgName: org.Name, KeyID: k.ID, KeyName: k.Name, Role: k.Role}, nil
}

// CreateOrg creates an organization and an Owner key for it. Only Owners
// of the bootstrap organization (the instance's operators) may.
func (s *Service) CreateOrg(ctx context.Context, p Principal, name string) (OrgView, NewAPIKey, error) {
	if err := s.authorize(ctx, p, actCreateOrg, "org/"+name); err != nil {
		return OrgView{}, NewAPIKey{}, err
	}
	if p.OrgName != BootstrapOrg {
		s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "authz.denied", Target: "org/" + name, Outcome: audit.Denied, Detail: "only owners of the default organization create organizations"})
		return OrgView{}, NewAPIKey{}, errorf(KindForbidden, "only Owners of the %q organization (the instance operators) may create organizations", BootstrapOrg)
	}
	if err := validName("organization", name); err != nil {
		return OrgView{}, NewAPIKey{}, err
	}
	org := store.Org{ID: store.NewID("org"), Name: name, CreatedAt: s.now().UTC()}
	if err := s.store.CreateOrg(ctx, org); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return OrgView{}, NewAPIKey{}, errorf(KindConflict, "an organization named %q already exists", name)
		}
		return OrgView{}, NewAPIKey{}, fmt.Errorf("creating organization: %w", err)
	}
	k, raw := s.newKey(org.ID, "owner", store.RoleOwner, p.Actor())
	if err := s.store.CreateAPIKey(ctx, k); err != nil {
		return OrgView{}, NewAPIKey{}, fmt.Errorf("creating the organization's owner key: %w", err)
	}
	s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "org.create", Target: "org/" + name, Outcome: audit.Success})
	s.audit.Record(ctx, audit.Entry{OrgID: org.ID, Actor: p.Actor(), Action: "org.create", Target: "org/" + name, Outcome: audit.Success, Detail: "owner key " + k.ID})
	return orgView(org), NewAPIKey{APIKeyView: keyView(k), Org: org.Name, Key: raw}, nil
}

// ListOrgs lists the organizations the caller can see: all of them for
// instance Owners, its own otherwise.
func (s *Service) ListOrgs(ctx context.Context, p Principal) ([]OrgView, error) {
	if p.OrgName == BootstrapOrg && p.Role == store.RoleOwner {
		orgs, err := s.store.ListOrgs(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing organizations: %w", err)
		}
		out := make([]OrgView, 0, len(orgs))
		for _, o := range orgs {
			out = append(out, orgView(o))
		}
		return out, nil
	}
	o, err := s.store.GetOrg(ctx, p.OrgID)
	if err != nil {
		return nil, fmt.Errorf("reading organization: %w", err)
	}
	return []OrgView{orgView(o)}, nil
}

// CreateAPIKey makes a key in the caller's organization. Owners and Admins
// may; nobody may make a key with a role above their own.
func (s *Service) CreateAPIKey(ctx context.Context, p Principal, name string, role store.Role) (NewAPIKey, error) {
	target := "apikey/" + name
	if err := s.authorize(ctx, p, actManageKeys, target); err != nil {
		return NewAPIKey{}, err
	}
	if err := validName("API key", name); err != nil {
		return NewAPIKey{}, err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return NewAPIKey{}, err
	}
	if rank(role) > rank(p.Role) {
		s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "authz.denied", Target: target, Outcome: audit.Denied, Detail: fmt.Sprintf("role %s may not create a %s key", p.Role, role)})
		return NewAPIKey{}, errorf(KindForbidden, "your role (%s) may not create a key with the higher role %s", p.Role, role)
	}
	k, raw := s.newKey(p.OrgID, name, role, p.Actor())
	if err := s.store.CreateAPIKey(ctx, k); err != nil {
		return NewAPIKey{}, fmt.Errorf("creating API key: %w", err)
	}
	s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "apikey.create", Target: "apikey/" + k.ID, Outcome: audit.Success, Detail: fmt.Sprintf("name %s, role %s", name, role)})
	return NewAPIKey{APIKeyView: keyView(k), Org: p.OrgName, Key: raw}, nil
}

// ListAPIKeys lists the organization's keys (Owner, Admin).
func (s *Service) ListAPIKeys(ctx context.Context, p Principal) ([]APIKeyView, error) {
	if err := s.authorize(ctx, p, actManageKeys, "apikeys"); err != nil {
		return nil, err
	}
	keys, err := s.store.ListAPIKeys(ctx, p.OrgID)
	if err != nil {
		return nil, fmt.Errorf("listing API keys: %w", err)
	}
	out := make([]APIKeyView, 0, len(keys))
	for _, k := range keys {
		out = append(out, keyView(k))
	}
	return out, nil
}

// RevokeAPIKey revokes a key of the caller's organization (Owner, Admin).
// Admins cannot revoke Owner keys.
func (s *Service) RevokeAPIKey(ctx context.Context, p Principal, id string) error {
	target := "apikey/" + id
	if err := s.authorize(ctx, p, actManageKeys, target); err != nil {
		return err
	}
	k, err := s.store.GetAPIKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && k.OrgID != p.OrgID) {
		return errorf(KindNotFound, "no API key %q in organization %s", id, p.OrgName)
	}
	if err != nil {
		return fmt.Errorf("reading API key: %w", err)
	}
	if rank(k.Role) > rank(p.Role) {
		s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "authz.denied", Target: target, Outcome: audit.Denied, Detail: fmt.Sprintf("role %s may not revoke a %s key", p.Role, k.Role)})
		return errorf(KindForbidden, "your role (%s) may not revoke a key with the higher role %s", p.Role, k.Role)
	}
	if k.RevokedAt != nil {
		return nil
	}
	if err := s.store.RevokeAPIKey(ctx, p.OrgID, id, s.now().UTC()); err != nil {
		return fmt.Errorf("revoking API key: %w", err)
	}
	s.audit.Record(ctx, audit.Entry{OrgID: p.OrgID, Actor: p.Actor(), Action: "apikey.revoke", Target: target, Outcome: audit.Success, Detail: "name " + k.Name})
	return nil
}

// ListAudit pages the organization's audit records, newest first.
func (s *Service) ListAudit(ctx context.Context, p Principal, page store.Page) ([]AuditView, string, error) {
	if err := s.authorize(ctx, p, actReadAudit, "audit"); err != nil {
		return nil, "", err
	}
	recs, next, err := s.store.ListAudit(ctx, p.OrgID, page)
	if err != nil {
		return nil, "", fmt.Errorf("listing audit records: %w", err)
	}
	out := make([]AuditView, 0, len(recs))
	for _, r := range recs {
		out = append(out, AuditView{ID: r.ID, At: r.At, Actor: r.Actor, Action: r.Action, Target: r.Target, Outcome: r.Outcome, Detail: r.Detail})
	}
	return out, next, nil
}
