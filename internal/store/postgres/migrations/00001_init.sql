-- Names and ids that lists are ordered or paged by use the "C" collation:
-- byte order, like SQLite, whatever the database's default collation.
-- Timestamps are timestamptz (microsecond precision). uses and scopes are
-- jsonb arrays; report is json so it reads back byte for byte.

-- +goose Up
CREATE TABLE orgs (
    id         text PRIMARY KEY,
    name       text COLLATE "C" NOT NULL UNIQUE CHECK (name <> ''),
    created_at timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id           text COLLATE "C" PRIMARY KEY,
    org_id       text NOT NULL REFERENCES orgs (id),
    name         text NOT NULL,
    role         text NOT NULL,
    hash         bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    created_by   text NOT NULL DEFAULT '',
    revoked_at   timestamptz,
    last_used_at timestamptz
);
CREATE INDEX api_keys_org ON api_keys (org_id, created_at, id);

CREATE TABLE tokens (
    id                text PRIMARY KEY,
    org_id            text NOT NULL REFERENCES orgs (id),
    name              text COLLATE "C" NOT NULL CHECK (name <> ''),
    description       text NOT NULL DEFAULT '',
    provider          text NOT NULL,
    web_url           text NOT NULL DEFAULT '',
    api_url           text NOT NULL DEFAULT '',
    workspace         text NOT NULL DEFAULT '',
    ca_bundle         bytea,
    uses              jsonb NOT NULL DEFAULT '[]',
    kind              text NOT NULL DEFAULT '',
    identity          text NOT NULL DEFAULT '',
    scopes            jsonb NOT NULL DEFAULT '[]',
    role              text NOT NULL DEFAULT '',
    expires_at        timestamptz,
    status            text NOT NULL DEFAULT '',
    status_detail     text NOT NULL DEFAULT '',
    report            json,
    last_validated_at timestamptz,
    last_used_at      timestamptz,
    fingerprint       text NOT NULL DEFAULT '',
    last4             text NOT NULL DEFAULT '',
    sealed            bytea NOT NULL CHECK (octet_length(sealed) > 0),
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    version           bigint NOT NULL DEFAULT 0,
    -- Also the index ListTokens walks (org, then name).
    UNIQUE (org_id, name)
);

CREATE TABLE audit (
    id      text COLLATE "C" PRIMARY KEY,
    org_id  text NOT NULL REFERENCES orgs (id),
    at      timestamptz NOT NULL,
    actor   text NOT NULL,
    action  text NOT NULL,
    target  text NOT NULL DEFAULT '',
    outcome text NOT NULL,
    detail  text NOT NULL DEFAULT ''
);
-- ListAudit walks this newest first; id breaks ties between equal times.
CREATE INDEX audit_org_at ON audit (org_id, at DESC, id DESC);

-- Audit is evidence: the database itself refuses to rewrite or drop it.
-- +goose StatementBegin
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- +goose Down
DROP TABLE audit;
DROP FUNCTION audit_append_only();
DROP TABLE tokens;
DROP TABLE api_keys;
DROP TABLE orgs;
