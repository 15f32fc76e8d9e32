-- URL prefixes tokens serve, and applications bound to repositories.
-- api_keys.role is unconstrained since 00001, so the builder role needs no
-- change here.

-- +goose Up
-- The composite key lets token_prefixes and apps refer to a token of their
-- own organization only.
CREATE UNIQUE INDEX tokens_id_org ON tokens (id, org_id);

-- A prefix ends in "/" and is at most 2048 bytes (MatchPrefix looks up the
-- candidate prefixes of a URL up to that length).
CREATE TABLE token_prefixes (
    org_id   TEXT NOT NULL,
    token_id TEXT NOT NULL,
    prefix   TEXT NOT NULL CHECK (substr(prefix, -1) = '/' AND length(CAST(prefix AS BLOB)) <= 2048),
    -- One token per prefix in an organization; also MatchPrefix's index.
    PRIMARY KEY (org_id, prefix),
    FOREIGN KEY (token_id, org_id) REFERENCES tokens (id, org_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
-- Reads a token's prefixes in order, and serves the cascade.
CREATE INDEX token_prefixes_token ON token_prefixes (token_id, prefix);

CREATE TABLE apps (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES orgs (id),
    name           TEXT NOT NULL CHECK (name <> ''),
    repo_url       TEXT NOT NULL CHECK (repo_url <> ''),
    repo_full_name TEXT NOT NULL DEFAULT '',
    branch         TEXT NOT NULL DEFAULT '',
    -- NULL: the token is found by URL prefix. A bound token cannot be
    -- deleted.
    token_id       TEXT,
    path           TEXT NOT NULL DEFAULT '',
    auto_deploy    INTEGER NOT NULL DEFAULT 0 CHECK (auto_deploy IN (0, 1)),
    previews       INTEGER NOT NULL DEFAULT 0 CHECK (previews IN (0, 1)),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    last_used_at   TEXT,
    version        INTEGER NOT NULL DEFAULT 0,
    -- Also the index ListApps walks (org, then name).
    UNIQUE (org_id, name),
    FOREIGN KEY (token_id, org_id) REFERENCES tokens (id, org_id) ON DELETE RESTRICT
) STRICT;
-- Webhook routing finds an organization's applications by repository.
CREATE INDEX apps_repo ON apps (org_id, repo_url);
-- ListAppsByToken, and the check that a deleted token is unbound.
CREATE INDEX apps_token ON apps (token_id, name);

-- +goose Down
DROP TABLE apps;
DROP TABLE token_prefixes;
DROP INDEX tokens_id_org;
