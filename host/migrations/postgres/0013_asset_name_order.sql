-- The Asset View sorts names as people read them (see the SQLite migration of the same
-- name), in byte order as SQLite compares the key.
ALTER TABLE inventory ADD COLUMN name_key TEXT;
DROP INDEX inventory_by_name;
CREATE INDEX inventory_by_name ON inventory (name_key COLLATE "C", canonical_key COLLATE "C");
