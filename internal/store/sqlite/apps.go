package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gitaccess/gitaccess/internal/store"
)

// appCols is every column of apps, in scanApp's order.
const appCols = `id, org_id, name, repo_url, repo_full_name, branch, token_id, path,
	auto_deploy, previews, created_at, updated_at, last_used_at, version`

// CreateApp inserts a; ErrConflict when its id, or its name in its
// organization, is taken; ErrNotFound when the organization does not exist
// or the bound token is not one of its tokens.
func (s *Store) CreateApp(ctx context.Context, a store.App) error {
	created := s.orNow(a.CreatedAt)
	updated := a.UpdatedAt
	if updated.IsZero() {
		updated = created
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO apps (`+appCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.OrgID, a.Name, a.RepoURL, a.RepoFullName, a.Branch, nullString(a.TokenID), a.Path,
		a.AutoDeploy, a.Previews, fmtTime(created), fmtTime(updated), fmtTimePtr(a.LastUsedAt), a.Version)
	return wrapRef("sqlite: create app", "organization or token", err)
}

// GetApp finds an application by name within an organization.
func (s *Store) GetApp(ctx context.Context, orgID, name string) (store.App, error) {
	a, err := scanApp(s.r.QueryRowContext(ctx,
		`SELECT `+appCols+` FROM apps WHERE org_id = ? AND name = ?`, orgID, name))
	return a, wrap("sqlite: get app", err)
}

// GetAppByID finds an application by id within an organization.
func (s *Store) GetAppByID(ctx context.Context, orgID, id string) (store.App, error) {
	a, err := scanApp(s.r.QueryRowContext(ctx,
		`SELECT `+appCols+` FROM apps WHERE id = ? AND org_id = ?`, id, orgID))
	return a, wrap("sqlite: get app by id", err)
}

// ListApps pages by name with a keyset cursor (the last name of the
// previous page), like ListTokens.
func (s *Store) ListApps(ctx context.Context, orgID string, p store.Page) ([]store.App, string, error) {
	const op = "sqlite: list apps"
	limit := p.Size()
	out, err := s.queryApps(ctx, `SELECT `+appCols+` FROM apps
		WHERE org_id = ? AND name > ? ORDER BY name LIMIT ?`, orgID, p.After, limit+1)
	if err != nil {
		return nil, "", wrap(op, err)
	}
	if len(out) > limit {
		out = out[:limit]
		return out, out[limit-1].Name, nil
	}
	return out, "", nil
}

// ListAppsByToken lists, by name, the applications bound to a token of orgID.
func (s *Store) ListAppsByToken(ctx context.Context, orgID, tokenID string) ([]store.App, error) {
	out, err := s.queryApps(ctx, `SELECT `+appCols+` FROM apps
		WHERE token_id = ? AND org_id = ? ORDER BY name`, tokenID, orgID)
	return out, wrap("sqlite: list apps by token", err)
}

func (s *Store) queryApps(ctx context.Context, q string, args ...any) ([]store.App, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.App
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// UpdateApp writes a where its id, organization and version match, and
// bumps the version; ErrConflict when the version is stale or the name is
// taken; ErrNotFound when the application is gone or the bound token is not
// one of the organization's. CreatedAt is kept; LastUsedAt only moves
// forward, as with TouchApp.
func (s *Store) UpdateApp(ctx context.Context, a store.App) (store.App, error) {
	const op = "sqlite: update app"
	got, err := scanApp(s.w.QueryRowContext(ctx, `UPDATE apps SET
		name = ?, repo_url = ?, repo_full_name = ?, branch = ?, token_id = ?, path = ?,
		auto_deploy = ?, previews = ?, updated_at = ?,
		last_used_at = nullif(max(coalesce(last_used_at, ''), coalesce(?, '')), ''),
		version = version + 1
		WHERE id = ? AND org_id = ? AND version = ?
		RETURNING `+appCols,
		a.Name, a.RepoURL, a.RepoFullName, a.Branch, nullString(a.TokenID), a.Path,
		a.AutoDeploy, a.Previews, fmtTime(s.orNow(a.UpdatedAt)), fmtTimePtr(a.LastUsedAt),
		a.ID, a.OrgID, a.Version))
	if err == nil {
		return got, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return store.App{}, wrapRef(op, "token", err)
	}
	// Nothing matched: tell a stale version from a missing application.
	var v int64
	err = s.r.QueryRowContext(ctx,
		`SELECT version FROM apps WHERE id = ? AND org_id = ?`, a.ID, a.OrgID).Scan(&v)
	if err != nil {
		return store.App{}, wrap(op, err)
	}
	return store.App{}, fmt.Errorf("%s: version %d is stale (now %d): %w", op, a.Version, v, store.ErrConflict)
}

// DeleteApp deletes an application of orgID.
func (s *Store) DeleteApp(ctx context.Context, orgID, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM apps WHERE org_id = ? AND id = ?`, orgID, id)
	if err != nil {
		return wrap("sqlite: delete app", err)
	}
	return mustAffect("sqlite: delete app", res)
}

// TouchApp records a use; last_used_at only moves forward, and the version
// is left alone.
func (s *Store) TouchApp(ctx context.Context, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx,
		`UPDATE apps SET last_used_at = max(coalesce(last_used_at, ''), ?) WHERE id = ?`,
		fmtTime(s.orNow(at)), id)
	if err != nil {
		return wrap("sqlite: touch app", err)
	}
	return mustAffect("sqlite: touch app", res)
}

func scanApp(r scanner) (store.App, error) {
	var a store.App
	var token, used sql.NullString
	var created, updated string
	if err := r.Scan(&a.ID, &a.OrgID, &a.Name, &a.RepoURL, &a.RepoFullName, &a.Branch, &token,
		&a.Path, &a.AutoDeploy, &a.Previews, &created, &updated, &used, &a.Version); err != nil {
		return store.App{}, err
	}
	a.TokenID = token.String
	var err error
	if a.CreatedAt, err = parseTime(created); err != nil {
		return store.App{}, err
	}
	if a.UpdatedAt, err = parseTime(updated); err != nil {
		return store.App{}, err
	}
	if a.LastUsedAt, err = parseTimePtr(used); err != nil {
		return store.App{}, err
	}
	return a, nil
}
