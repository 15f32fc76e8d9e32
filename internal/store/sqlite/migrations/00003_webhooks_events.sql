-- Webhooks in and events out: the hook gitaccess installs on each
-- application's repository, the deliveries it receives, the platform's
-- subscriptions, and the outgoing events with their delivery queue (the
-- outbox). Leases (lease_owner, lease_until) let workers claim rows; a
-- crashed worker's rows come back when its lease ends.

-- +goose Up
-- Lets hooks refer to an application of their own organization only.
CREATE UNIQUE INDEX apps_id_org ON apps (id, org_id);

-- One hook per application, gone with it. sealed is the signing secret,
-- bound to ("hooks", id).
CREATE TABLE hooks (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs (id),
    app_id           TEXT NOT NULL UNIQUE,
    provider         TEXT NOT NULL,
    provider_hook_id TEXT NOT NULL DEFAULT '',
    url              TEXT NOT NULL DEFAULT '',
    sealed           BLOB NOT NULL CHECK (length(sealed) > 0),
    state            TEXT NOT NULL DEFAULT '',
    state_detail     TEXT NOT NULL DEFAULT '',
    checked_at       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    version          INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (app_id, org_id) REFERENCES apps (id, org_id) ON DELETE CASCADE
) STRICT;

-- Deliveries are history: they outlive their hook (hook_id is no foreign
-- key) and their application (app_id becomes NULL). The body comes last so
-- that reading the other columns never touches its overflow pages; 25 MB
-- is GitHub's cap.
CREATE TABLE deliveries (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    hook_id      TEXT NOT NULL,
    app_id       TEXT REFERENCES apps (id) ON DELETE SET NULL,
    provider     TEXT NOT NULL,
    delivery_id  TEXT NOT NULL DEFAULT '',
    event        TEXT NOT NULL DEFAULT '',
    received_at  TEXT NOT NULL,
    headers      TEXT CHECK (headers IS NULL OR json_valid(headers)),
    verdict      TEXT NOT NULL CHECK (verdict <> ''),
    detail       TEXT NOT NULL DEFAULT '',
    duplicates   INTEGER NOT NULL DEFAULT 0,
    processed_at TEXT,
    lease_owner  TEXT NOT NULL DEFAULT '',
    lease_until  TEXT,
    body         BLOB CHECK (body IS NULL OR length(body) <= 26214400)
) STRICT;
-- The provider's delivery id makes a redelivery a duplicate; refused
-- deliveries are stored without one and never collide.
CREATE UNIQUE INDEX deliveries_hook_delivery ON deliveries (hook_id, delivery_id) WHERE delivery_id <> '';
-- ClaimDeliveries walks the pending ones oldest first.
CREATE INDEX deliveries_pending ON deliveries (received_at, id) WHERE verdict = 'pending';
-- ListDeliveries walks an application's newest first; it also serves the
-- ON DELETE SET NULL.
CREATE INDEX deliveries_app ON deliveries (app_id, received_at DESC, id DESC);

-- sealed is the Standard Webhooks signing secret, bound to
-- ("subscriptions", id); version only moves when ReplaceSealed re-wraps it.
CREATE TABLE subscriptions (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    url        TEXT NOT NULL CHECK (url <> ''),
    events     TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(events)),
    sealed     BLOB NOT NULL CHECK (length(sealed) > 0),
    created_at TEXT NOT NULL,
    version    INTEGER NOT NULL DEFAULT 0,
    -- Lets the outbox refer to a subscription of the event's organization.
    UNIQUE (id, org_id)
) STRICT;
CREATE INDEX subscriptions_org ON subscriptions (org_id, created_at, id);

-- The last event sequence number each organization used. Bumping it in the
-- transaction that inserts the events makes seq order commit order within
-- an organization, which the outbox's per-application order relies on.
CREATE TABLE event_seqs (
    org_id TEXT PRIMARY KEY REFERENCES orgs (id),
    seq    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Events are history: app_id is kept after the application is deleted.
-- payload is the exact JSON that is signed and sent.
CREATE TABLE events (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    app_id     TEXT NOT NULL DEFAULT '',
    type       TEXT NOT NULL CHECK (type <> ''),
    payload    TEXT NOT NULL CHECK (json_valid(payload)),
    created_at TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    -- Also the index ListEvents walks, newest first.
    UNIQUE (org_id, seq)
) STRICT;

-- One event's delivery to one subscription. app_key is the event's
-- application (empty for the organization's token events): a subscription
-- receives one app_key's jobs strictly in seq order. Deleting the
-- subscription deletes its jobs.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES events (id),
    subscription_id TEXT NOT NULL,
    org_id          TEXT NOT NULL,
    app_key         TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_owner     TEXT NOT NULL DEFAULT '',
    lease_until     TEXT,
    last_error      TEXT NOT NULL DEFAULT '',
    last_status     INTEGER NOT NULL DEFAULT 0,
    delivered_at    TEXT,
    -- Also the index ListEvents and ReplayEvent read an event's jobs by.
    UNIQUE (event_id, subscription_id),
    FOREIGN KEY (subscription_id, org_id) REFERENCES subscriptions (id, org_id) ON DELETE CASCADE
) STRICT;
-- ClaimOutbox walks the due jobs in order...
CREATE INDEX outbox_due ON outbox (next_attempt_at, seq, id) WHERE status = 'pending';
-- ...and probes each one's chain for an earlier pending job.
CREATE INDEX outbox_chain ON outbox (subscription_id, app_key, seq) WHERE status = 'pending';
-- Serves the cascade from subscriptions.
CREATE INDEX outbox_subscription ON outbox (subscription_id, org_id);

-- +goose Down
DROP TABLE outbox;
DROP TABLE events;
DROP TABLE event_seqs;
DROP TABLE subscriptions;
DROP TABLE deliveries;
DROP TABLE hooks;
DROP INDEX apps_id_org;
