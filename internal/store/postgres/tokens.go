package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gitaccess/gitaccess/internal/store"
)

// tokenCols is every column but sealed, in scanToken's order; listing never
// reads sealed values.
const tokenCols = `id, org_id, name, description, provider, web_url, api_url, workspace,
	ca_bundle, uses, kind, identity, scopes, role, expires_at, status, status_detail,
	report, last_validated_at, last_used_at, fingerprint, last4, created_at, updated_at, version`

// tokenListCols is tokenCols without the report: a listing shows no report,
// and reading ~1 KB of JSON per row dominated listing a large organization.
const tokenListCols = `id, org_id, name, description, provider, web_url, api_url, workspace,
	ca_bundle, uses, kind, identity, scopes, role, expires_at, status, status_detail,
	NULL, last_validated_at, last_used_at, fingerprint, last4, created_at, updated_at, version`

// CreateToken inserts t; ErrConflict when its id, or its name in its
// organization, is taken; ErrNotFound when the organization does not exist.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	uses, err := encodeList(t.Uses)
	if err != nil {
		return fmt.Errorf("postgres: create token: %w", err)
	}
	scopes, err := encodeList(t.Scopes)
	if err != nil {
		return fmt.Errorf("postgres: create token: %w", err)
	}
	created := s.orNow(t.CreatedAt)
	updated := t.UpdatedAt
	if updated.IsZero() {
		updated = created
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO tokens (`+tokenCols+`, sealed) VALUES
		($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
		$20, $21, $22, $23, $24, $25, $26)`,
		t.ID, t.OrgID, t.Name, t.Description, t.Provider, t.WebURL, t.APIURL, t.Workspace,
		nullIfEmpty(t.CABundle), uses, t.Kind, t.Identity, scopes, t.Role, tsPtr(t.ExpiresAt),
		t.Status, t.StatusDetail, nullIfEmpty(t.Report), tsPtr(t.LastValidatedAt),
		tsPtr(t.LastUsedAt), t.Fingerprint, t.Last4, ts(created), ts(updated),
		t.Version, nullIfEmpty(t.Sealed))
	return wrap("postgres: create token", err)
}

// GetToken finds a token by name within an organization, with its sealed value.
func (s *Store) GetToken(ctx context.Context, orgID, name string) (store.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx,
		`SELECT `+tokenCols+`, sealed FROM tokens WHERE org_id = $1 AND name = $2`, orgID, name), true)
	return t, wrap("postgres: get token", err)
}

// ListTokens pages by name with a keyset cursor (the last name of the
// previous page), so a page costs the same however deep it is.
func (s *Store) ListTokens(ctx context.Context, orgID string, p store.Page) ([]store.Token, string, error) {
	limit := p.Size()
	rows, err := s.pool.Query(ctx, `SELECT `+tokenListCols+` FROM tokens
		WHERE org_id = $1 AND name > $2 ORDER BY name LIMIT $3`, orgID, p.After, limit+1)
	if err != nil {
		return nil, "", wrap("postgres: list tokens", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Token, error) { return scanToken(r, false) })
	if err != nil {
		return nil, "", wrap("postgres: list tokens", err)
	}
	if len(out) > limit {
		out = out[:limit]
		return out, out[limit-1].Name, nil
	}
	return out, "", nil
}

// UpdateToken writes t where its id, organization and version match. A nil
// Sealed keeps the stored value, so a token read from ListTokens can be
// updated without erasing it.
func (s *Store) UpdateToken(ctx context.Context, t store.Token) (store.Token, error) {
	const op = "postgres: update token"
	uses, err := encodeList(t.Uses)
	if err != nil {
		return store.Token{}, fmt.Errorf("%s: %w", op, err)
	}
	scopes, err := encodeList(t.Scopes)
	if err != nil {
		return store.Token{}, fmt.Errorf("%s: %w", op, err)
	}
	got, err := scanToken(s.pool.QueryRow(ctx, `UPDATE tokens SET
		name = $1, description = $2, provider = $3, web_url = $4, api_url = $5, workspace = $6,
		ca_bundle = $7, uses = $8, kind = $9, identity = $10, scopes = $11, role = $12,
		expires_at = $13, status = $14, status_detail = $15, report = $16,
		last_validated_at = $17, last_used_at = $18, fingerprint = $19, last4 = $20,
		sealed = coalesce($21, sealed), updated_at = $22, version = version + 1
		WHERE id = $23 AND org_id = $24 AND version = $25
		RETURNING `+tokenCols+`, sealed`,
		t.Name, t.Description, t.Provider, t.WebURL, t.APIURL, t.Workspace,
		nullIfEmpty(t.CABundle), uses, t.Kind, t.Identity, scopes, t.Role, tsPtr(t.ExpiresAt),
		t.Status, t.StatusDetail, nullIfEmpty(t.Report), tsPtr(t.LastValidatedAt),
		tsPtr(t.LastUsedAt), t.Fingerprint, t.Last4, nullIfEmpty(t.Sealed),
		ts(s.orNow(t.UpdatedAt)), t.ID, t.OrgID, t.Version), true)
	if err == nil {
		return got, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.Token{}, wrap(op, err)
	}
	// Nothing matched: tell a stale version from a missing token.
	var v int64
	err = s.pool.QueryRow(ctx, `SELECT version FROM tokens WHERE id = $1 AND org_id = $2`, t.ID, t.OrgID).Scan(&v)
	if err != nil {
		return store.Token{}, wrap(op, err)
	}
	return store.Token{}, fmt.Errorf("%s: version %d is stale (now %d): %w", op, t.Version, v, store.ErrConflict)
}

// DeleteToken deletes a token of orgID.
func (s *Store) DeleteToken(ctx context.Context, orgID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE org_id = $1 AND id = $2`, orgID, id)
	if err != nil {
		return wrap("postgres: delete token", err)
	}
	return mustAffect("postgres: delete token", tag)
}

func scanToken(r pgx.Row, withSealed bool) (store.Token, error) {
	var t store.Token
	var uses, scopes []byte
	dest := []any{&t.ID, &t.OrgID, &t.Name, &t.Description, &t.Provider, &t.WebURL, &t.APIURL,
		&t.Workspace, &t.CABundle, &uses, &t.Kind, &t.Identity, &scopes, &t.Role, &t.ExpiresAt,
		&t.Status, &t.StatusDetail, &t.Report, &t.LastValidatedAt, &t.LastUsedAt, &t.Fingerprint,
		&t.Last4, &t.CreatedAt, &t.UpdatedAt, &t.Version}
	if withSealed {
		dest = append(dest, &t.Sealed)
	}
	if err := r.Scan(dest...); err != nil {
		return store.Token{}, err
	}
	var err error
	if t.Uses, err = decodeList(uses); err != nil {
		return store.Token{}, err
	}
	if t.Scopes, err = decodeList(scopes); err != nil {
		return store.Token{}, err
	}
	t.ExpiresAt = utcPtr(t.ExpiresAt)
	t.LastValidatedAt = utcPtr(t.LastValidatedAt)
	t.LastUsedAt = utcPtr(t.LastUsedAt)
	t.CreatedAt = t.CreatedAt.UTC()
	t.UpdatedAt = t.UpdatedAt.UTC()
	return t, nil
}
