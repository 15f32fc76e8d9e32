package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

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

// prefixesCol is a token's prefixes as a JSON array, read in the same query
// as the token (one index probe per row, no query per row); the outer
// table must be named tokens.
const prefixesCol = `(SELECT json_group_array(tp.prefix) FROM token_prefixes tp WHERE tp.token_id = tokens.id)`

// CreateToken inserts t and its prefixes in one transaction; ErrConflict
// when its id, or its name in its organization, is taken; ErrPrefixTaken
// when another token of the organization serves one of its prefixes;
// ErrNotFound when the organization does not exist.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	const op = "sqlite: create token"
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
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (`+tokenCols+`, sealed)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.OrgID, t.Name, t.Description, t.Provider, t.WebURL, t.APIURL, t.Workspace,
			blob(t.CABundle), uses, t.Kind, t.Identity, scopes, t.Role, fmtTimePtr(t.ExpiresAt),
			t.Status, t.StatusDetail, jsonText(t.Report), fmtTimePtr(t.LastValidatedAt),
			fmtTimePtr(t.LastUsedAt), t.Fingerprint, t.Last4, fmtTime(created), fmtTime(updated),
			t.Version, blob(t.Sealed))
		if err != nil {
			return err
		}
		return claimPrefixes(ctx, tx, t.OrgID, t.ID, prefixes)
	})
	return wrap(op, err)
}

// claimPrefixes records that tokenID serves prefixes (checked by
// store.PrefixSet); ErrPrefixTaken when another token of orgID serves one.
func claimPrefixes(ctx context.Context, tx *sql.Tx, orgID, tokenID string, prefixes []string) error {
	if len(prefixes) == 0 {
		return nil
	}
	list, err := encodeList(prefixes)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO token_prefixes (org_id, token_id, prefix)
		SELECT ?, ?, value FROM json_each(?)`, orgID, tokenID, list)
	if isUnique(err) {
		// Not the driver's error in the chain: wrap would call it a
		// plain conflict.
		return fmt.Errorf("%w (%v)", store.ErrPrefixTaken, err)
	}
	return err
}

// GetToken finds a token by name within an organization, with its sealed
// value and prefixes.
func (s *Store) GetToken(ctx context.Context, orgID, name string) (store.Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenCols+`, sealed, `+prefixesCol+`
		FROM tokens WHERE org_id = ? AND name = ?`, orgID, name), true, true)
	return t, wrap("sqlite: get token", err)
}

// GetTokenByID finds a token by id within an organization, with its sealed
// value and prefixes.
func (s *Store) GetTokenByID(ctx context.Context, orgID, id string) (store.Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenCols+`, sealed, `+prefixesCol+`
		FROM tokens WHERE org_id = ? AND id = ?`, orgID, id), true, true)
	return t, wrap("sqlite: get token by id", err)
}

// ListTokens pages by name with a keyset cursor (the last name of the
// previous page), so a page costs the same however deep it is.
func (s *Store) ListTokens(ctx context.Context, orgID string, p store.Page) ([]store.Token, string, error) {
	limit := p.Size()
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenListCols+`, `+prefixesCol+` FROM tokens
		WHERE org_id = ? AND name > ? ORDER BY name LIMIT ?`, orgID, p.After, limit+1)
	if err != nil {
		return nil, "", wrap("sqlite: list tokens", err)
	}
	defer rows.Close()
	out := make([]store.Token, 0, min(limit, 64))
	for rows.Next() {
		t, err := scanToken(rows, false, true)
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

// UpdateToken writes t and replaces its prefixes where its id, organization
// and version match, in one transaction. A nil Sealed keeps the stored
// value, so a token read from ListTokens can be updated without erasing it;
// LastUsedAt only moves forward, as with TouchToken.
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
	prefixes, err := store.PrefixSet(t.Prefixes)
	if err != nil {
		return store.Token{}, fmt.Errorf("%s: %w", op, err)
	}
	var got store.Token
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		got, err = scanToken(tx.QueryRowContext(ctx, `UPDATE tokens SET
			name = ?, description = ?, provider = ?, web_url = ?, api_url = ?, workspace = ?,
			ca_bundle = ?, uses = ?, kind = ?, identity = ?, scopes = ?, role = ?, expires_at = ?,
			status = ?, status_detail = ?, report = ?, last_validated_at = ?,
			last_used_at = nullif(max(coalesce(last_used_at, ''), coalesce(?, '')), ''),
			fingerprint = ?, last4 = ?, sealed = coalesce(?, sealed), updated_at = ?,
			version = version + 1
			WHERE id = ? AND org_id = ? AND version = ?
			RETURNING `+tokenCols+`, sealed`,
			t.Name, t.Description, t.Provider, t.WebURL, t.APIURL, t.Workspace,
			blob(t.CABundle), uses, t.Kind, t.Identity, scopes, t.Role, fmtTimePtr(t.ExpiresAt),
			t.Status, t.StatusDetail, jsonText(t.Report), fmtTimePtr(t.LastValidatedAt),
			fmtTimePtr(t.LastUsedAt), t.Fingerprint, t.Last4, blob(t.Sealed),
			fmtTime(s.orNow(t.UpdatedAt)), t.ID, t.OrgID, t.Version), true, false)
		if errors.Is(err, sql.ErrNoRows) {
			// Nothing matched: tell a stale version from a missing token.
			var v int64
			err := tx.QueryRowContext(ctx,
				`SELECT version FROM tokens WHERE id = ? AND org_id = ?`, t.ID, t.OrgID).Scan(&v)
			if err != nil {
				return err
			}
			return fmt.Errorf("version %d is stale (now %d): %w", t.Version, v, store.ErrConflict)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM token_prefixes WHERE token_id = ?`, t.ID); err != nil {
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
	const op = "sqlite: delete token"
	res, err := s.w.ExecContext(ctx, `DELETE FROM tokens WHERE org_id = ? AND id = ?`, orgID, id)
	// apps' ON DELETE RESTRICT is the one constraint a token delete can
	// break; SQLite reports it as a trigger constraint.
	if isForeignKey(err) || isConstraintTrigger(err) {
		return fmt.Errorf("%s: applications are bound to it: %w", op, store.ErrInUse)
	}
	if err != nil {
		return wrap(op, err)
	}
	return mustAffect(op, res)
}

// MatchPrefix finds the token serving the longest prefix of rawURL: it
// looks up rawURL's candidate prefixes (one per "/") in the primary key of
// token_prefixes, so the cost grows with the URL's depth, not with the
// number of prefixes.
func (s *Store) MatchPrefix(ctx context.Context, orgID, rawURL string) (store.Token, string, error) {
	const op = "sqlite: match prefix"
	cands := store.CandidatePrefixes(rawURL)
	if len(cands) == 0 {
		return store.Token{}, "", fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	list, err := encodeList(cands)
	if err != nil {
		return store.Token{}, "", fmt.Errorf("%s: %w", op, err)
	}
	// The candidates are prefixes of one another, so the longest in
	// characters is the longest in bytes.
	var prefix string
	t, err := scanToken(s.r.QueryRowContext(ctx, `WITH m AS (
			SELECT token_id, prefix FROM token_prefixes
			WHERE org_id = ? AND prefix IN (SELECT value FROM json_each(?))
			ORDER BY length(prefix) DESC LIMIT 1)
		SELECT `+tokenCols+`, sealed, `+prefixesCol+`, m.prefix
		FROM tokens JOIN m ON tokens.id = m.token_id`, orgID, list), true, true, &prefix)
	if err != nil {
		return store.Token{}, "", wrap(op, err)
	}
	return t, prefix, nil
}

// TouchToken records a use. Concurrent requests may report uses out of
// order; last_used_at only moves forward. It leaves the version alone, so
// an edit in progress is not made stale by a clone.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx,
		`UPDATE tokens SET last_used_at = max(coalesce(last_used_at, ''), ?) WHERE id = ?`,
		fmtTime(s.orNow(at)), id)
	if err != nil {
		return wrap("sqlite: touch token", err)
	}
	return mustAffect("sqlite: touch token", res)
}

// scanToken reads tokenCols, then sealed and the prefixes (a JSON array)
// when asked, then any more destinations the caller reads.
func scanToken(r scanner, withSealed, withPrefixes bool, more ...any) (store.Token, error) {
	var t store.Token
	var uses, scopes, created, updated, prefixes string
	var report, expires, validated, used sql.NullString
	dest := []any{&t.ID, &t.OrgID, &t.Name, &t.Description, &t.Provider, &t.WebURL, &t.APIURL,
		&t.Workspace, &t.CABundle, &uses, &t.Kind, &t.Identity, &scopes, &t.Role, &expires,
		&t.Status, &t.StatusDetail, &report, &validated, &used, &t.Fingerprint, &t.Last4,
		&created, &updated, &t.Version}
	if withSealed {
		dest = append(dest, &t.Sealed)
	}
	if withPrefixes {
		dest = append(dest, &prefixes)
	}
	if err := r.Scan(append(dest, more...)...); err != nil {
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
	if withPrefixes {
		if t.Prefixes, err = decodeList(prefixes); err != nil {
			return store.Token{}, err
		}
		// json_group_array keeps no promised order.
		slices.Sort(t.Prefixes)
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
