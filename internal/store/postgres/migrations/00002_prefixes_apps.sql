-- URL prefixes tokens serve, and applications bound to repositories.
-- api_keys.role is unconstrained since 00001, so the builder role needs no
-- change here.

-- +goose Up
-- The composite key lets token_prefixes and apps refer to a token of their
-- own organization only.
ALTER TABLE tokens ADD CONSTRAINT tokens_id_org UNIQUE (id, org_id);

-- A prefix ends in "/" and is at most 2048 bytes (MatchPrefix looks up the
-- candidate prefixes of a URL up to that length).
CREATE TABLE token_prefixes (
    org_id   text NOT NULL,
    token_id text NOT NULL,
    prefix   text COLLATE "C" NOT NULL CHECK (right(prefix, 1) = '/' AND octet_length(prefix) <= 2048),
    -- One token per prefix in an organization; also MatchPrefix's index.
    PRIMARY KEY (org_id, prefix),
    FOREIGN KEY (token_id, org_id) REFERENCES tokens (id, org_id) ON DELETE CASCADE
);
-- Reads a token's prefixes in order, and serves the cascade.
CREATE INDEX token_prefixes_token ON token_prefixes (token_id, prefix);

CREATE TABLE apps (
    id             text PRIMARY KEY,
    org_id         text NOT NULL REFERENCES orgs (id),
    name           text COLLATE "C" NOT NULL CHECK (name <> ''),
    repo_url       text COLLATE "C" NOT NULL CHECK (repo_url <> ''),
    repo_full_name text NOT NULL DEFAULT '',
    branch         text NOT NULL DEFAULT '',
    -- NULL: the token is found by URL prefix. A bound token cannot be
    -- deleted.
    token_id       text,
    path           text NOT NULL DEFAULT '',
    auto_deploy    boolean NOT NULL DEFAULT false,
    previews       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    last_used_at   timestamptz,
    version        bigint NOT NULL DEFAULT 0,
    -- Also the index ListApps walks (org, then name).
    UNIQUE (org_id, name),
    FOREIGN KEY (token_id, org_id) REFERENCES tokens (id, org_id) ON DELETE RESTRICT
);
-- Webhook routing finds an organization's applications by repository.
CREATE INDEX apps_repo ON apps (org_id, repo_url);
-- ListAppsByToken, and the check that a deleted token is unbound.
CREATE INDEX apps_token ON apps (token_id, name);

-- +goose Down
DROP TABLE apps;
DROP TABLE token_prefixes;
ALTER TABLE tokens DROP CONSTRAINT tokens_id_org;
