-- Each token's rate limit as the provider last reported it: the budget
-- (limit), what is left of it (remaining, -1 when the provider does not
-- say), when it refills (reset, NULL when the provider does not say),
-- which budget it is (resource) and when it was seen. Written apart from
-- the token's other columns, without bumping its version.

-- +goose Up
ALTER TABLE tokens ADD COLUMN rate_limit_limit INTEGER;
ALTER TABLE tokens ADD COLUMN rate_limit_remaining INTEGER;
ALTER TABLE tokens ADD COLUMN rate_limit_reset TEXT;
ALTER TABLE tokens ADD COLUMN rate_limit_resource TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN rate_limit_observed_at TEXT;

-- +goose Down
ALTER TABLE tokens DROP COLUMN rate_limit_observed_at;
ALTER TABLE tokens DROP COLUMN rate_limit_resource;
ALTER TABLE tokens DROP COLUMN rate_limit_reset;
ALTER TABLE tokens DROP COLUMN rate_limit_remaining;
ALTER TABLE tokens DROP COLUMN rate_limit_limit;
