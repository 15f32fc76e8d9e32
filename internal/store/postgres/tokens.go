package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// prefixesCol is a token's prefixes in byte order, read in the same query
// as the token (one index probe per row, no query per row); the outer
// table must be named tokens.
const prefixesCol = `ARRAY(SELECT tp.prefix FROM token_prefixes tp WHERE tp.token_id = tokens.id ORDER BY tp.prefix)`

// CreateToken inserts t and its prefixes in one transaction; ErrConflict
// when its id, or its name in its organization, is taken; ErrPrefixTaken
// when another token of the organization serves one of its prefixes;
// ErrNotFound when the organization does not exist.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	const op = "postgres: create token"
	uses, err := encodeList(t.Uses)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	scopes, err := encodeList(t.Scopes)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	prefixes, err := store.PrefixSet(t.Prefixes)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	created := s.orNow(t.CreatedAt)
	updated := t.UpdatedAt
	if updated.IsZero() {
		updated = created
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tokens (`+tokenCols+`, sealed) VALUES
			($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
			$20, $21, $22, $23, $24, $25, $26)`,
			t.ID, t.OrgID, t.Name, t.Description, t.Provider, t.WebURL, t.APIURL, t.Workspace,
			nullIfEmpty(t.CABundle), uses, t.Kind, t.Identity, scopes, t.Role, tsPtr(t.ExpiresAt),
			t.Status, t.StatusDetail, nullIfEmpty(t.Report), tsPtr(t.LastValidatedAt),
			tsPtr(t.LastUsedAt), t.Fingerprint, t.Last4, ts(created), ts(updated),
			t.Version, nullIfEmpty(t.Sealed))
		if err != nil {
			return err
		}
		return claimPrefixes(ctx, tx, t.OrgID, t.ID, prefixes)
	})
	return wrap(op, err)
}

// claimPrefixes records that tokenID serves prefixes (checked by
// store.PrefixSet); ErrPrefixTaken when another token of orgID serves one.
func claimPrefixes(ctx context.Context, tx pgx.Tx, orgID, tokenID string, prefixes []string) error {
	if len(prefixes) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO token_prefixes (org_id, token_id, prefix)
		SELECT $1, $2, unnest($3::text[])`, orgID, tokenID, prefixes)
	if isUnique(err) {
		// Not the server's error in the chain: wrap would call it a
		// plain conflict.
		return fmt.Errorf("%w (%v)", store.ErrPrefixTaken, err)
	}
	return err
}

// GetToken finds a token by name within an organization, with its sealed
// value and prefixes.
func (s *Store) GetToken(ctx context.Context, orgID, name string) (store.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+`, sealed, `+prefixesCol+`
		FROM tokens WHERE org_id = $1 AND name = $2`, orgID, name), true, true)
	return t, wrap("postgres: get token", err)
}

// GetTokenByID finds a token by id within an organization, with its sealed
// value and prefixes.
func (s *Store) GetTokenByID(ctx context.Context, orgID, id string) (store.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+`, sealed, `+prefixesCol+`
		FROM tokens WHERE org_id = $1 AND id = $2`, orgID, id), true, true)
	return t, wrap("postgres: get token by id", err)
}

// ListTokens pages by name with a keyset cursor (the last name of the
// previous page), so a page costs the same however deep it is.
func (s *Store) ListTokens(ctx context.Context, orgID string, p store.Page) ([]store.Token, string, error) {
	limit := p.Size()
	rows, err := s.pool.Query(ctx, `SELECT `+tokenListCols+`, `+prefixesCol+` FROM tokens
		WHERE org_id = $1 AND name > $2 ORDER BY name LIMIT $3`, orgID, p.After, limit+1)
	if err != nil {
		return nil, "", wrap("postgres: list tokens", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Token, error) { return scanToken(r, false, true) })
	if err != nil {
		return nil, "", wrap("postgres: list tokens", err)
	}
	if len(out) > limit {
		out = out[:limit]
		return out, out[limit-1].Name, nil
	}
	return out, "", nil
}

// UpdateToken writes t and replaces its prefixes where its id, organization
// and version match, in one transaction. A nil Sealed keeps the stored
// value, so a token read from ListTokens can be updated without erasing it;
// LastUsedAt only moves forward, as with TouchToken.
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
	prefixes, err := store.PrefixSet(t.Prefixes)
	if err != nil {
		return store.Token{}, fmt.Errorf("%s: %w", op, err)
	}
	var got store.Token
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		got, err = scanToken(tx.QueryRow(ctx, `UPDATE tokens SET
			name = $1, description = $2, provider = $3, web_url = $4, api_url = $5, workspace = $6,
			ca_bundle = $7, uses = $8, kind = $9, identity = $10, scopes = $11, role = $12,
			expires_at = $13, status = $14, status_detail = $15, report = $16,
			last_validated_at = $17, last_used_at = greatest(last_used_at, $18),
			fingerprint = $19, last4 = $20, sealed = coalesce($21, sealed), updated_at = $22,
			version = version + 1
			WHERE id = $23 AND org_id = $24 AND version = $25
			RETURNING `+tokenCols+`, sealed`,
			t.Name, t.Description, t.Provider, t.WebURL, t.APIURL, t.Workspace,
			nullIfEmpty(t.CABundle), uses, t.Kind, t.Identity, scopes, t.Role, tsPtr(t.ExpiresAt),
			t.Status, t.StatusDetail, nullIfEmpty(t.Report), tsPtr(t.LastValidatedAt),
			tsPtr(t.LastUsedAt), t.Fingerprint, t.Last4, nullIfEmpty(t.Sealed),
			ts(s.orNow(t.UpdatedAt)), t.ID, t.OrgID, t.Version), true, false)
		if errors.Is(err, pgx.ErrNoRows) {
			// Nothing matched: tell a stale version from a missing token.
			var v int64
			err := tx.QueryRow(ctx, `SELECT version FROM tokens WHERE id = $1 AND org_id = $2`,
				t.ID, t.OrgID).Scan(&v)
			if err != nil {
				return err
			}
			return fmt.Errorf("version %d is stale (now %d): %w", t.Version, v, store.ErrConflict)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM token_prefixes WHERE token_id = $1`, t.ID); err != nil {
			return err
		}
		got.Prefixes = prefixes
		return claimPrefixes(ctx, tx, t.OrgID, t.ID, prefixes)
	})
	if err != nil {
		return store.Token{}, wrap(op, err)
	}
	return got, nil
}

// DeleteToken deletes a token of orgID and its prefixes; ErrInUse, deleting
// nothing, while applications are bound to it.
func (s *Store) DeleteToken(ctx context.Context, orgID, id string) error {
	const op = "postgres: delete token"
	tag, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE org_id = $1 AND id = $2`, orgID, id)
	if isForeignKey(err) {
		return fmt.Errorf("%s: applications are bound to it: %w", op, store.ErrInUse)
	}
	if err != nil {
		return wrap(op, err)
	}
	return mustAffect(op, tag)
}

// MatchPrefix finds the token serving the longest prefix of rawURL: it
// looks up rawURL's candidate prefixes (one per "/") in the primary key of
// token_prefixes, so the cost grows with the URL's depth, not with the
// number of prefixes.
func (s *Store) MatchPrefix(ctx context.Context, orgID, rawURL string) (store.Token, string, error) {
	const op = "postgres: match prefix"
	cands := store.CandidatePrefixes(rawURL)
	if len(cands) == 0 {
		return store.Token{}, "", fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var prefix string
	t, err := scanToken(s.pool.QueryRow(ctx, `WITH m AS (
			SELECT token_id, prefix FROM token_prefixes
			WHERE org_id = $1 AND prefix = ANY($2::text[])
			ORDER BY octet_length(prefix) DESC LIMIT 1)
		SELECT `+tokenCols+`, sealed, `+prefixesCol+`, m.prefix
		FROM tokens JOIN m ON tokens.id = m.token_id`, orgID, cands), true, true, &prefix)
	if err != nil {
		return store.Token{}, "", wrap(op, err)
	}
	return t, prefix, nil
}

// TouchToken records a use. Concurrent requests may report uses out of
// order; last_used_at only moves forward. It leaves the version alone, so
// an edit in progress is not made stale by a clone.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx,
		`UPDATE tokens SET last_used_at = greatest(last_used_at, $1) WHERE id = $2`,
		ts(s.orNow(at)), id)
	if err != nil {
		return wrap("postgres: touch token", err)
	}
	return mustAffect("postgres: touch token", tag)
}

// scanToken reads tokenCols, then sealed and the prefixes when asked, then
// any more destinations the caller reads.
func scanToken(r pgx.Row, withSealed, withPrefixes bool, more ...any) (store.Token, error) {
	var t store.Token
	var uses, scopes []byte
	dest := []any{&t.ID, &t.OrgID, &t.Name, &t.Description, &t.Provider, &t.WebURL, &t.APIURL,
		&t.Workspace, &t.CABundle, &uses, &t.Kind, &t.Identity, &scopes, &t.Role, &t.ExpiresAt,
		&t.Status, &t.StatusDetail, &t.Report, &t.LastValidatedAt, &t.LastUsedAt, &t.Fingerprint,
		&t.Last4, &t.CreatedAt, &t.UpdatedAt, &t.Version}
	if withSealed {
		dest = append(dest, &t.Sealed)
	}
	if withPrefixes {
		dest = append(dest, &t.Prefixes)
	}
	if err := r.Scan(append(dest, more...)...); err != nil {
		return store.Token{}, err
	}
	var err error
	if t.Uses, err = decodeList(uses); err != nil {
		return store.Token{}, err
	}
	if t.Scopes, err = decodeList(scopes); err != nil {
		return store.Token{}, err
	}
	if len(t.Prefixes) == 0 {
		t.Prefixes = nil
	}
	t.ExpiresAt = utcPtr(t.ExpiresAt)
	t.LastValidatedAt = utcPtr(t.LastValidatedAt)
	t.LastUsedAt = utcPtr(t.LastUsedAt)
	t.CreatedAt = t.CreatedAt.UTC()
	t.UpdatedAt = t.UpdatedAt.UTC()
	return t, nil
}
