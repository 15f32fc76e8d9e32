-- Token lifecycle: the warnings gitaccess gave about expiring and refused
-- tokens, and the schedule of periodic jobs (revalidation, mail) that run
-- once across replicas.

-- +goose Up
-- A warning is recorded once per key, in the transaction that enqueues its
-- event, so it goes out exactly once across restarts and replicas. ref_at
-- is the token's expires_at for an expiring warning (a rotated token with a
-- new expiry warns again) and the time it was found invalid for an invalid
-- one. event_id is empty for a threshold passed over because a more urgent
-- one was crossed at the same time.
CREATE TABLE token_warnings (
    id             text COLLATE "C" PRIMARY KEY,
    org_id         text NOT NULL REFERENCES orgs (id),
    token_id       text NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    kind           text NOT NULL CHECK (kind IN ('expiring', 'invalid')),
    threshold_days integer NOT NULL CHECK (threshold_days >= 0),
    ref_at         timestamptz NOT NULL,
    created_at     timestamptz NOT NULL,
    event_id       text NOT NULL DEFAULT '',
    detail         text NOT NULL DEFAULT '',
    payload        json,
    resolved_at    timestamptz,
    mailed_at      timestamptz,
    mail_attempts  integer NOT NULL DEFAULT 0,
    mail_error     text NOT NULL DEFAULT '',
    mail_next_at   timestamptz NOT NULL,
    UNIQUE (token_id, kind, threshold_days, ref_at)
);
-- At most one open invalid episode per token.
CREATE UNIQUE INDEX token_warnings_open_invalid ON token_warnings (token_id)
    WHERE kind = 'invalid' AND resolved_at IS NULL;
-- Status pages list an organization's recent warnings.
CREATE INDEX token_warnings_org ON token_warnings (org_id, created_at);
-- The mailer walks the unsent ones.
CREATE INDEX token_warnings_unmailed ON token_warnings (mail_next_at, created_at)
    WHERE event_id <> '' AND mailed_at IS NULL;

-- A periodic job's schedule. holder leases a run until lease_until; a
-- replica starts a run only when next_run_at has come and no live lease
-- is held, in one conditional upsert (the row lock serializes replicas).
CREATE TABLE lifecycle_jobs (
    name        text PRIMARY KEY,
    holder      text NOT NULL DEFAULT '',
    lease_until timestamptz,
    last_run_at timestamptz,
    next_run_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE lifecycle_jobs;
DROP TABLE token_warnings;
