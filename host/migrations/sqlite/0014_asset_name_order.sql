-- The Asset View sorts names as people read them (`role-12` before `role-113`): by a
-- sort key the host computes from each name, which the store opening fills in for the
-- entries stored before it (and keeps filled for every entry written after).
ALTER TABLE inventory ADD COLUMN name_key TEXT;
DROP INDEX inventory_by_name;
CREATE INDEX inventory_by_name ON inventory (name_key, canonical_key);
-- The Asset View's filters offer the types and clouds present: read one value at a
-- time from these indexes, not by reading every entry.
CREATE INDEX inventory_by_type ON inventory (asset_type);
CREATE INDEX inventory_by_cloud ON inventory (cloud_platform);
