package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gitaccess/gitaccess/internal/store"
)

// CreateOrg inserts o; ErrConflict when its id or name is taken.
func (s *Store) CreateOrg(ctx context.Context, o store.Org) error {
	_, err := s.pool.Exec(ctx,
		`INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)`,
		o.ID, o.Name, ts(s.orNow(o.CreatedAt)))
	return wrap("postgres: create org", err)
}

// GetOrg finds an organization by id.
func (s *Store) GetOrg(ctx context.Context, id string) (store.Org, error) {
	o, err := scanOrg(s.pool.QueryRow(ctx, `SELECT id, name, created_at FROM orgs WHERE id = $1`, id))
	return o, wrap("postgres: get org", err)
}

// GetOrgByName finds an organization by its unique name.
func (s *Store) GetOrgByName(ctx context.Context, name string) (store.Org, error) {
	o, err := scanOrg(s.pool.QueryRow(ctx, `SELECT id, name, created_at FROM orgs WHERE name = $1`, name))
	return o, wrap("postgres: get org by name", err)
}

// ListOrgs lists every organization by name.
func (s *Store) ListOrgs(ctx context.Context) ([]store.Org, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, created_at FROM orgs ORDER BY name`)
	if err != nil {
		return nil, wrap("postgres: list orgs", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Org, error) { return scanOrg(r) })
	return out, wrap("postgres: list orgs", err)
}

func scanOrg(r pgx.Row) (store.Org, error) {
	var o store.Org
	if err := r.Scan(&o.ID, &o.Name, &o.CreatedAt); err != nil {
		return store.Org{}, err
	}
	o.CreatedAt = o.CreatedAt.UTC()
	return o, nil
}

const apiKeyCols = `id, org_id, name, role, hash, created_at, created_by, revoked_at, last_used_at`

// CreateAPIKey inserts k; ErrConflict when its id is taken, ErrNotFound when
// its organization does not exist.
func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	_, err := s.pool.Exec(ctx,
		`INSERT INTO api_keys (`+apiKeyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		k.ID, k.OrgID, k.Name, string(k.Role), k.Hash, ts(s.orNow(k.CreatedAt)),
		k.CreatedBy, tsPtr(k.RevokedAt), tsPtr(k.LastUsedAt))
	return wrap("postgres: create api key", err)
}

// GetAPIKey finds a key by id in any organization: authentication starts
// from the id embedded in the key string.
func (s *Store) GetAPIKey(ctx context.Context, id string) (store.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE id = $1`, id))
	return k, wrap("postgres: get api key", err)
}

// ListAPIKeys lists an organization's keys, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context, orgID string) ([]store.APIKey, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+apiKeyCols+` FROM api_keys WHERE org_id = $1 ORDER BY created_at, id`, orgID)
	if err != nil {
		return nil, wrap("postgres: list api keys", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.APIKey, error) { return scanAPIKey(r) })
	return out, wrap("postgres: list api keys", err)
}

// RevokeAPIKey marks a key of orgID revoked. Revoking again keeps the first
// time, so the audit trail and the key agree on when it stopped working.
func (s *Store) RevokeAPIKey(ctx context.Context, orgID, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx,
		`UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE org_id = $2 AND id = $3`,
		ts(s.orNow(at)), orgID, id)
	if err != nil {
		return wrap("postgres: revoke api key", err)
	}
	return mustAffect("postgres: revoke api key", tag)
}

// TouchAPIKey records a use. Concurrent requests may report uses out of
// order; last_used_at only moves forward.
func (s *Store) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx,
		`UPDATE api_keys SET last_used_at = greatest(last_used_at, $1) WHERE id = $2`,
		ts(s.orNow(at)), id)
	if err != nil {
		return wrap("postgres: touch api key", err)
	}
	return mustAffect("postgres: touch api key", tag)
}

func scanAPIKey(r pgx.Row) (store.APIKey, error) {
	var k store.APIKey
	var role string
	if err := r.Scan(&k.ID, &k.OrgID, &k.Name, &role, &k.Hash, &k.CreatedAt, &k.CreatedBy,
		&k.RevokedAt, &k.LastUsedAt); err != nil {
		return store.APIKey{}, err
	}
	k.Role = store.Role(role)
	k.CreatedAt = k.CreatedAt.UTC()
	k.RevokedAt = utcPtr(k.RevokedAt)
	k.LastUsedAt = utcPtr(k.LastUsedAt)
	return k, nil
}
