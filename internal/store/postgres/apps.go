package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
	_, err := s.pool.Exec(ctx, `INSERT INTO apps (`+appCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		a.ID, a.OrgID, a.Name, a.RepoURL, a.RepoFullName, a.Branch, nullString(a.TokenID), a.Path,
		a.AutoDeploy, a.Previews, ts(created), ts(updated), tsPtr(a.LastUsedAt), a.Version)
	return wrapRef("postgres: create app", "organization or token", err)
}

// GetApp finds an application by name within an organization.
func (s *Store) GetApp(ctx context.Context, orgID, name string) (store.App, error) {
	a, err := scanApp(s.pool.QueryRow(ctx,
		`SELECT `+appCols+` FROM apps WHERE org_id = $1 AND name = $2`, orgID, name))
	return a, wrap("postgres: get app", err)
}

// GetAppByID finds an application by id within an organization.
func (s *Store) GetAppByID(ctx context.Context, orgID, id string) (store.App, error) {
	a, err := scanApp(s.pool.QueryRow(ctx,
		`SELECT `+appCols+` FROM apps WHERE id = $1 AND org_id = $2`, id, orgID))
	return a, wrap("postgres: get app by id", err)
}

// ListApps pages by name with a keyset cursor (the last name of the
// previous page), like ListTokens.
func (s *Store) ListApps(ctx context.Context, orgID string, p store.Page) ([]store.App, string, error) {
	const op = "postgres: list apps"
	limit := p.Size()
	out, err := s.queryApps(ctx, `SELECT `+appCols+` FROM apps
		WHERE org_id = $1 AND name > $2 ORDER BY name LIMIT $3`, orgID, p.After, limit+1)
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
		WHERE token_id = $1 AND org_id = $2 ORDER BY name`, tokenID, orgID)
	return out, wrap("postgres: list apps by token", err)
}

func (s *Store) queryApps(ctx context.Context, q string, args ...any) ([]store.App, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.App, error) { return scanApp(r) })
	if len(out) == 0 {
		out = nil
	}
	return out, err
}

// UpdateApp writes a where its id, organization and version match, and
// bumps the version; ErrConflict when the version is stale or the name is
// taken; ErrNotFound when the application is gone or the bound token is not
// one of the organization's. CreatedAt is kept; LastUsedAt only moves
// forward, as with TouchApp.
func (s *Store) UpdateApp(ctx context.Context, a store.App) (store.App, error) {
	const op = "postgres: update app"
	got, err := scanApp(s.pool.QueryRow(ctx, `UPDATE apps SET
		name = $1, repo_url = $2, repo_full_name = $3, branch = $4, token_id = $5, path = $6,
		auto_deploy = $7, previews = $8, updated_at = $9, last_used_at = greatest(last_used_at, $10),
		version = version + 1
		WHERE id = $11 AND org_id = $12 AND version = $13
		RETURNING `+appCols,
		a.Name, a.RepoURL, a.RepoFullName, a.Branch, nullString(a.TokenID), a.Path,
		a.AutoDeploy, a.Previews, ts(s.orNow(a.UpdatedAt)), tsPtr(a.LastUsedAt),
		a.ID, a.OrgID, a.Version))
	if err == nil {
		return got, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.App{}, wrapRef(op, "token", err)
	}
	// Nothing matched: tell a stale version from a missing application.
	var v int64
	err = s.pool.QueryRow(ctx, `SELECT version FROM apps WHERE id = $1 AND org_id = $2`, a.ID, a.OrgID).Scan(&v)
	if err != nil {
		return store.App{}, wrap(op, err)
	}
	return store.App{}, fmt.Errorf("%s: version %d is stale (now %d): %w", op, a.Version, v, store.ErrConflict)
}

// DeleteApp deletes an application of orgID.
func (s *Store) DeleteApp(ctx context.Context, orgID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM apps WHERE org_id = $1 AND id = $2`, orgID, id)
	if err != nil {
		return wrap("postgres: delete app", err)
	}
	return mustAffect("postgres: delete app", tag)
}

// TouchApp records a use; last_used_at only moves forward, and the version
// is left alone.
func (s *Store) TouchApp(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx,
		`UPDATE apps SET last_used_at = greatest(last_used_at, $1) WHERE id = $2`,
		ts(s.orNow(at)), id)
	if err != nil {
		return wrap("postgres: touch app", err)
	}
	return mustAffect("postgres: touch app", tag)
}

func scanApp(r pgx.Row) (store.App, error) {
	var a store.App
	var token *string
	if err := r.Scan(&a.ID, &a.OrgID, &a.Name, &a.RepoURL, &a.RepoFullName, &a.Branch, &token,
		&a.Path, &a.AutoDeploy, &a.Previews, &a.CreatedAt, &a.UpdatedAt, &a.LastUsedAt, &a.Version); err != nil {
		return store.App{}, err
	}
	if token != nil {
		a.TokenID = *token
	}
	a.CreatedAt = a.CreatedAt.UTC()
	a.UpdatedAt = a.UpdatedAt.UTC()
	a.LastUsedAt = utcPtr(a.LastUsedAt)
	return a, nil
}
