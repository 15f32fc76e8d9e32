-- Webhooks in and events out: the hook gitaccess installs on each
-- application's repository, the deliveries it receives, the platform's
-- subscriptions, and the outgoing events with their delivery queue (the
-- outbox). Leases (lease_owner, lease_until) let workers claim rows with
-- FOR UPDATE SKIP LOCKED, so replicas never share one; a crashed worker's
-- rows come back when its lease ends. Ids that order lists use the "C"
-- collation, like SQLite.

-- +goose Up
-- Lets hooks refer to an application of their own organization only.
ALTER TABLE apps ADD CONSTRAINT apps_id_org UNIQUE (id, org_id);

-- One hook per application, gone with it. sealed is the signing secret,
-- bound to ("hooks", id).
CREATE TABLE hooks (
    id               text PRIMARY KEY,
    org_id           text NOT NULL REFERENCES orgs (id),
    app_id           text NOT NULL UNIQUE,
    provider         text NOT NULL,
    provider_hook_id text NOT NULL DEFAULT '',
    url              text NOT NULL DEFAULT '',
    sealed           bytea NOT NULL CHECK (octet_length(sealed) > 0),
    state            text NOT NULL DEFAULT '',
    state_detail     text NOT NULL DEFAULT '',
    checked_at       timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    version          bigint NOT NULL DEFAULT 0,
    FOREIGN KEY (app_id, org_id) REFERENCES apps (id, org_id) ON DELETE CASCADE
);

-- Deliveries are history: they outlive their hook (hook_id is no foreign
-- key) and their application (app_id becomes NULL). 25 MB is GitHub's cap;
-- bodies are TOASTed, so lease updates do not copy them. RecordDelivery is
-- the receiver's hot path: one foreign key checks the application and its
-- organization at once (a second one, on orgs, cost 30% of its
-- throughput); SET NULL (app_id) needs PostgreSQL 15.
CREATE TABLE deliveries (
    id           text COLLATE "C" PRIMARY KEY,
    org_id       text NOT NULL,
    hook_id      text NOT NULL,
    app_id       text,
    provider     text NOT NULL,
    delivery_id  text NOT NULL DEFAULT '',
    event        text NOT NULL DEFAULT '',
    received_at  timestamptz NOT NULL,
    headers      json,
    verdict      text NOT NULL CHECK (verdict <> ''),
    detail       text NOT NULL DEFAULT '',
    duplicates   integer NOT NULL DEFAULT 0,
    processed_at timestamptz,
    lease_owner  text NOT NULL DEFAULT '',
    lease_until  timestamptz,
    body         bytea CHECK (octet_length(body) <= 26214400),
    -- One check covers the application and its organization.
    FOREIGN KEY (app_id, org_id) REFERENCES apps (id, org_id) ON DELETE SET NULL (app_id)
);
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
    id         text COLLATE "C" PRIMARY KEY,
    org_id     text NOT NULL REFERENCES orgs (id),
    url        text NOT NULL CHECK (url <> ''),
    events     jsonb NOT NULL DEFAULT '[]',
    sealed     bytea NOT NULL CHECK (octet_length(sealed) > 0),
    created_at timestamptz NOT NULL,
    version    bigint NOT NULL DEFAULT 0,
    -- Lets the outbox refer to a subscription of the event's organization.
    UNIQUE (id, org_id)
);
CREATE INDEX subscriptions_org ON subscriptions (org_id, created_at, id);

-- The last event sequence number each organization used. Bumping it in the
-- transaction that inserts the events locks the row until commit, so seq
-- order is commit order within an organization, which the outbox's
-- per-application order relies on (a sequence would hand out numbers
-- that commit out of order).
CREATE TABLE event_seqs (
    org_id text PRIMARY KEY REFERENCES orgs (id),
    seq    bigint NOT NULL
);

-- Events are history: app_id is kept after the application is deleted.
-- payload is json, not jsonb: the exact bytes that are signed and sent.
CREATE TABLE events (
    id         text COLLATE "C" PRIMARY KEY,
    org_id     text NOT NULL REFERENCES orgs (id),
    app_id     text NOT NULL DEFAULT '',
    type       text NOT NULL CHECK (type <> ''),
    payload    json NOT NULL,
    created_at timestamptz NOT NULL,
    seq        bigint NOT NULL,
    -- Also the index ListEvents walks, newest first.
    UNIQUE (org_id, seq)
);

-- One event's delivery to one subscription. app_key is the event's
-- application (empty for the organization's token events): a subscription
-- receives one app_key's jobs strictly in seq order. Deleting the
-- subscription deletes its jobs.
CREATE TABLE outbox (
    id              text COLLATE "C" PRIMARY KEY,
    event_id        text COLLATE "C" NOT NULL REFERENCES events (id),
    subscription_id text COLLATE "C" NOT NULL,
    org_id          text NOT NULL,
    app_key         text NOT NULL,
    seq             bigint NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    lease_owner     text NOT NULL DEFAULT '',
    lease_until     timestamptz,
    last_error      text NOT NULL DEFAULT '',
    last_status     integer NOT NULL DEFAULT 0,
    delivered_at    timestamptz,
    -- Also the index ListEvents and ReplayEvent read an event's jobs by.
    UNIQUE (event_id, subscription_id),
    FOREIGN KEY (subscription_id, org_id) REFERENCES subscriptions (id, org_id) ON DELETE CASCADE
);
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
ALTER TABLE apps DROP CONSTRAINT apps_id_org;
