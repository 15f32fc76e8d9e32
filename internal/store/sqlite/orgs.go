package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

// CreateOrg inserts o; ErrConflict when its id or name is taken.
func (s *Store) CreateOrg(ctx context.Context, o store.Org) error {
	_, err := s.w.ExecContext(ctx,
		`INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)`,
		o.ID, o.Name, fmtTime(s.orNow(o.CreatedAt)))
	return wrap("sqlite: create org", err)
}

// GetOrg finds an organization by id.
func (s *Store) GetOrg(ctx context.Context, id string) (store.Org, error) {
	o, err := scanOrg(s.r.QueryRowContext(ctx,
		`SELECT id, name, created_at FROM orgs WHERE id = ?`, id))
	return o, wrap("sqlite: get org", err)
}

// GetOrgByName finds an organization by its unique name.
func (s *Store) GetOrgByName(ctx context.Context, name string) (store.Org, error) {
	o, err := scanOrg(s.r.QueryRowContext(ctx,
		`SELECT id, name, created_at FROM orgs WHERE name = ?`, name))
	return o, wrap("sqlite: get org by name", err)
}

// ListOrgs lists every organization by name.
func (s *Store) ListOrgs(ctx context.Context) ([]store.Org, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, created_at FROM orgs ORDER BY name`)
	if err != nil {
		return nil, wrap("sqlite: list orgs", err)
	}
	defer rows.Close()
	var out []store.Org
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, wrap("sqlite: list orgs", err)
		}
		out = append(out, o)
	}
	return out, wrap("sqlite: list orgs", rows.Err())
}

type scanner interface{ Scan(dest ...any) error }

func scanOrg(r scanner) (store.Org, error) {
	var o store.Org
	var created string
	if err := r.Scan(&o.ID, &o.Name, &created); err != nil {
		return store.Org{}, err
	}
	var err error
	o.CreatedAt, err = parseTime(created)
	return o, err
}

const apiKeyCols = `id, org_id, name, role, hash, created_at, created_by, revoked_at, last_used_at`

// CreateAPIKey inserts k; ErrConflict when its id is taken, ErrNotFound when
// its organization does not exist.
func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	_, err := s.w.ExecContext(ctx,
		`INSERT INTO api_keys (`+apiKeyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.OrgID, k.Name, string(k.Role), k.Hash, fmtTime(s.orNow(k.CreatedAt)),
		k.CreatedBy, fmtTimePtr(k.RevokedAt), fmtTimePtr(k.LastUsedAt))
	return wrap("sqlite: create api key", err)
}

// GetAPIKey finds a key by id in any organization: authentication starts
// from the id embedded in the key string.
func (s *Store) GetAPIKey(ctx context.Context, id string) (store.APIKey, error) {
	k, err := scanAPIKey(s.r.QueryRowContext(ctx,
		`SELECT `+apiKeyCols+` FROM api_keys WHERE id = ?`, id))
	return k, wrap("sqlite: get api key", err)
}

// ListAPIKeys lists an organization's keys, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context, orgID string) ([]store.APIKey, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+apiKeyCols+` FROM api_keys WHERE org_id = ? ORDER BY created_at, id`, orgID)
	if err != nil {
		return nil, wrap("sqlite: list api keys", err)
	}
	defer rows.Close()
	var out []store.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, wrap("sqlite: list api keys", err)
		}
		out = append(out, k)
	}
	return out, wrap("sqlite: list api keys", rows.Err())
}

// RevokeAPIKey marks a key of orgID revoked. Revoking again keeps the first
// time, so the audit trail and the key agree on when it stopped working.
func (s *Store) RevokeAPIKey(ctx context.Context, orgID, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx,
		`UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE org_id = ? AND id = ?`,
		fmtTime(s.orNow(at)), orgID, id)
	if err != nil {
		return wrap("sqlite: revoke api key", err)
	}
	return mustAffect("sqlite: revoke api key", res)
}

// TouchAPIKey records a use. Concurrent requests may report uses out of
// order; last_used_at only moves forward.
func (s *Store) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx,
		`UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, ''), ?) WHERE id = ?`,
		fmtTime(s.orNow(at)), id)
	if err != nil {
		return wrap("sqlite: touch api key", err)
	}
	return mustAffect("sqlite: touch api key", res)
}

func scanAPIKey(r scanner) (store.APIKey, error) {
	var k store.APIKey
	var role, created string
	var revoked, used sql.NullString
	if err := r.Scan(&k.ID, &k.OrgID, &k.Name, &role, &k.Hash, &created, &k.CreatedBy, &revoked, &used); err != nil {
		return store.APIKey{}, err
	}
	k.Role = store.Role(role)
	var err error
	if k.CreatedAt, err = parseTime(created); err != nil {
		return store.APIKey{}, err
	}
	if k.RevokedAt, err = parseTimePtr(revoked); err != nil {
		return store.APIKey{}, err
	}
	if k.LastUsedAt, err = parseTimePtr(used); err != nil {
		return store.APIKey{}, err
	}
	return k, nil
}
