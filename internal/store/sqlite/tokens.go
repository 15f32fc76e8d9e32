package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

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
		return fmt.Errorf("sqlite: create token: %w", err)
	}
	scopes, err := encodeList(t.Scopes)
	if err != nil {
		return fmt.Errorf("sqlite: create token: %w", err)
	}
	created := s.orNow(t.CreatedAt)
	updated := t.UpdatedAt
	if updated.IsZero() {
		updated = created
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO tokens (`+tokenCols+`, sealed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.OrgID, t.Name, t.Description, t.Provider, t.WebURL, t.APIURL, t.Workspace,
		blob(t.CABundle), uses, t.Kind, t.Identity, scopes, t.Role, fmtTimePtr(t.ExpiresAt),
		t.Status, t.StatusDetail, jsonText(t.Report), fmtTimePtr(t.LastValidatedAt),
		fmtTimePtr(t.LastUsedAt), t.Fingerprint, t.Last4, fmtTime(created), fmtTime(updated),
		t.Version, blob(t.Sealed))
	return wrap("sqlite: create token", err)
}

// GetToken finds a token by name within an organization, with its sealed value.
func (s *Store) GetToken(ctx context.Context, orgID, name string) (store.Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx,
		`SELECT `+tokenCols+`, sealed FROM tokens WHERE org_id = ? AND name = ?`, orgID, name), true)
	return t, wrap("sqlite: get token", err)
}

// ListTokens pages by name with a keyset cursor (the last name of the
// previous page), so a page costs the same however deep it is.
func (s *Store) ListTokens(ctx context.Context, orgID string, p store.Page) ([]store.Token, string, error) {
	limit := p.Size()
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenListCols+` FROM tokens
		WHERE org_id = ? AND name > ? ORDER BY name LIMIT ?`, orgID, p.After, limit+1)
	if err != nil {
		return nil, "", wrap("sqlite: list tokens", err)
	}
	defer rows.Close()
	out := make([]store.Token, 0, min(limit, 64))
	for rows.Next() {
		t, err := scanToken(rows, false)
		if err != nil {
			return nil, "", wrap("sqlite: list tokens", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, "", wrap("sqlite: list tokens", err)
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
	const op = "sqlite: update token"
	uses, err := encodeList(t.Uses)
	if err != nil {
		return store.Token{}, fmt.Errorf("%s: %w", op, err)
	}
	scopes, err := encodeList(t.Scopes)
	if err != nil {
		return store.Token{}, fmt.Errorf("%s: %w", op, err)
	}
	got, err := scanToken(s.w.QueryRowContext(ctx, `UPDATE tokens SET
		name = ?, description = ?, provider = ?, web_url = ?, api_url = ?, workspace = ?,
		ca_bundle = ?, uses = ?, kind = ?, identity = ?, scopes = ?, role = ?, expires_at = ?,
		status = ?, status_detail = ?, report = ?, last_validated_at = ?, last_used_at = ?,
		fingerprint = ?, last4 = ?, sealed = coalesce(?, sealed), updated_at = ?,
		version = version + 1
		WHERE id = ? AND org_id = ? AND version = ?
		RETURNING `+tokenCols+`, sealed`,
		t.Name, t.Description, t.Provider, t.WebURL, t.APIURL, t.Workspace,
		blob(t.CABundle), uses, t.Kind, t.Identity, scopes, t.Role, fmtTimePtr(t.ExpiresAt),
		t.Status, t.StatusDetail, jsonText(t.Report), fmtTimePtr(t.LastValidatedAt),
		fmtTimePtr(t.LastUsedAt), t.Fingerprint, t.Last4, blob(t.Sealed),
		fmtTime(s.orNow(t.UpdatedAt)), t.ID, t.OrgID, t.Version), true)
	if err == nil {
		return got, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, wrap(op, err)
	}
	// Nothing matched: tell a stale version from a missing token.
	var v int64
	err = s.r.QueryRowContext(ctx,
		`SELECT version FROM tokens WHERE id = ? AND org_id = ?`, t.ID, t.OrgID).Scan(&v)
	if err != nil {
		return store.Token{}, wrap(op, err)
	}
	return store.Token{}, fmt.Errorf("%s: version %d is stale (now %d): %w", op, t.Version, v, store.ErrConflict)
}

// DeleteToken deletes a token of orgID.
func (s *Store) DeleteToken(ctx context.Context, orgID, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM tokens WHERE org_id = ? AND id = ?`, orgID, id)
	if err != nil {
		return wrap("sqlite: delete token", err)
	}
	return mustAffect("sqlite: delete token", res)
}

func scanToken(r scanner, withSealed bool) (store.Token, error) {
	var t store.Token
	var uses, scopes, created, updated string
	var report, expires, validated, used sql.NullString
	dest := []any{&t.ID, &t.OrgID, &t.Name, &t.Description, &t.Provider, &t.WebURL, &t.APIURL,
		&t.Workspace, &t.CABundle, &uses, &t.Kind, &t.Identity, &scopes, &t.Role, &expires,
		&t.Status, &t.StatusDetail, &report, &validated, &used, &t.Fingerprint, &t.Last4,
		&created, &updated, &t.Version}
	if withSealed {
		dest = append(dest, &t.Sealed)
	}
	if err := r.Scan(dest...); err != nil {
		return store.Token{}, err
	}
	if report.Valid {
		t.Report = []byte(report.String)
	}
	var err error
	if t.Uses, err = decodeList(uses); err != nil {
		return store.Token{}, err
	}
	if t.Scopes, err = decodeList(scopes); err != nil {
		return store.Token{}, err
	}
	if t.ExpiresAt, err = parseTimePtr(expires); err != nil {
		return store.Token{}, err
	}
	if t.LastValidatedAt, err = parseTimePtr(validated); err != nil {
		return store.Token{}, err
	}
	if t.LastUsedAt, err = parseTimePtr(used); err != nil {
		return store.Token{}, err
	}
	if t.CreatedAt, err = parseTime(created); err != nil {
		return store.Token{}, err
	}
	if t.UpdatedAt, err = parseTime(updated); err != nil {
		return store.Token{}, err
	}
	return t, nil
}
