-- Each token's rate limit as the provider last reported it: the budget
-- (limit), what is left of it (remaining, -1 when the provider does not
-- say), when it refills (reset, NULL when the provider does not say),
-- which budget it is (resource) and when it was seen. Written apart from
-- the token's other columns, without bumping its version.

-- +goose Up
ALTER TABLE tokens
    ADD COLUMN rate_limit_limit integer,
    ADD COLUMN rate_limit_remaining integer,
    ADD COLUMN rate_limit_reset timestamptz,
    ADD COLUMN rate_limit_resource text NOT NULL DEFAULT '',
    ADD COLUMN rate_limit_observed_at timestamptz;

-- +goose Down
ALTER TABLE tokens
    DROP COLUMN rate_limit_observed_at,
    DROP COLUMN rate_limit_resource,
    DROP COLUMN rate_limit_reset,
    DROP COLUMN rate_limit_remaining,
    DROP COLUMN rate_limit_limit;
