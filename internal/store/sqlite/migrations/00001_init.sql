-- Timestamps are TEXT in one fixed-width UTC form,
-- 2006-01-02T15:04:05.000000Z, so they sort as text in time order, keep
-- microseconds, and read naturally in the sqlite3 shell.
-- Lists (uses, scopes) are JSON arrays; report is the inspection as JSON.

-- +goose Up
CREATE TABLE orgs (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE CHECK (name <> ''),
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    hash         BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL DEFAULT '',
    revoked_at   TEXT,
    last_used_at TEXT
) STRICT;
CREATE INDEX api_keys_org ON api_keys (org_id, created_at, id);

CREATE TABLE tokens (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES orgs (id),
    name              TEXT NOT NULL CHECK (name <> ''),
    description       TEXT NOT NULL DEFAULT '',
    provider          TEXT NOT NULL,
    web_url           TEXT NOT NULL DEFAULT '',
    api_url           TEXT NOT NULL DEFAULT '',
    workspace         TEXT NOT NULL DEFAULT '',
    ca_bundle         BLOB,
    uses              TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(uses)),
    kind              TEXT NOT NULL DEFAULT '',
    identity          TEXT NOT NULL DEFAULT '',
    scopes            TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(scopes)),
    role              TEXT NOT NULL DEFAULT '',
    expires_at        TEXT,
    status            TEXT NOT NULL DEFAULT '',
    status_detail     TEXT NOT NULL DEFAULT '',
    report            TEXT CHECK (report IS NULL OR json_valid(report)),
    last_validated_at TEXT,
    last_used_at      TEXT,
    fingerprint       TEXT NOT NULL DEFAULT '',
    last4             TEXT NOT NULL DEFAULT '',
    sealed            BLOB NOT NULL CHECK (length(sealed) > 0),
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    version           INTEGER NOT NULL DEFAULT 0,
    -- Also the index ListTokens walks (org, then name).
    UNIQUE (org_id, name)
) STRICT;

CREATE TABLE audit (
    id      TEXT PRIMARY KEY,
    org_id  TEXT NOT NULL REFERENCES orgs (id),
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT ''
) STRICT;
-- ListAudit walks this newest first; id breaks ties between equal times.
CREATE INDEX audit_org_at ON audit (org_id, at DESC, id DESC);

-- Audit is evidence: the database itself refuses to rewrite or drop it.
-- +goose StatementBegin
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit;
DROP TABLE tokens;
DROP TABLE api_keys;
DROP TABLE orgs;
