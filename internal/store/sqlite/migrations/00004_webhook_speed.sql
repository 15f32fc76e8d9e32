-- Delivery bodies move to a table of their own. SQLite rewrites a whole
-- row, overflow pages included, when any column of it changes, and a
-- delivery's row changes twice after it is stored (leased for routing,
-- then given its verdict): with the body beside the small columns each
-- change wrote the body (GitHub pushes are several kB, up to 25 MB) to
-- the WAL again. Bodies are written once, when the delivery is stored, in
-- the same transaction, and never change. No foreign key: deliveries are
-- never deleted, and the check would cost every insert a lookup.

-- +goose Up
CREATE TABLE delivery_bodies (
    id   TEXT PRIMARY KEY,
    body BLOB NOT NULL CHECK (length(body) <= 26214400)
) STRICT;
INSERT INTO delivery_bodies (id, body) SELECT id, body FROM deliveries WHERE body IS NOT NULL;
ALTER TABLE deliveries DROP COLUMN body;

-- +goose Down
ALTER TABLE deliveries ADD COLUMN body BLOB CHECK (body IS NULL OR length(body) <= 26214400);
UPDATE deliveries SET body = (SELECT body FROM delivery_bodies b WHERE b.id = deliveries.id);
DROP TABLE delivery_bodies;
