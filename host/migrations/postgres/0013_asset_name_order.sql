-- The Asset View sorts names as people read them (see the SQLite migration of the same
-- name), in byte order as SQLite compares the key.
ALTER TABLE inventory ADD COLUMN name_key TEXT;
DROP INDEX inventory_by_name;
CREATE INDEX inventory_by_name ON inventory (name_key COLLATE "C", canonical_key COLLATE "C");
-- The Asset View's filters offer the types and clouds present: read one value at a
-- time from these indexes, not by reading every entry.
CREATE INDEX inventory_by_type ON inventory (asset_type COLLATE "C");
CREATE INDEX inventory_by_cloud ON inventory (cloud_platform COLLATE "C");
