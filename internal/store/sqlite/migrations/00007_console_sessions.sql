-- The web console's sessions. The cookie holds a random id; only its
-- SHA-256 is stored, with the API key that signed in (by id: its role and
-- revocation are re-read on every request) and an absolute expiry.

-- +goose Up
CREATE TABLE console_sessions (
    id_hash    BLOB PRIMARY KEY CHECK (length(id_hash) = 32),
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    key_id     TEXT NOT NULL REFERENCES api_keys (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- +goose Down
DROP TABLE console_sessions;
