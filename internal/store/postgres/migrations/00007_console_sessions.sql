-- The web console's sessions. The cookie holds a random id; only its
-- SHA-256 is stored, with the API key that signed in (by id: its role and
-- revocation are re-read on every request) and an absolute expiry.

-- +goose Up
CREATE TABLE console_sessions (
    id_hash    bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    org_id     text NOT NULL REFERENCES orgs (id),
    key_id     text NOT NULL REFERENCES api_keys (id),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- +goose Down
DROP TABLE console_sessions;
