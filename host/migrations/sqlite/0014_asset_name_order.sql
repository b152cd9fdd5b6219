-- The Asset View sorts names as people read them (`role-12` before `role-113`): by a
-- sort key the host computes from each name, which the store opening fills in for the
-- entries stored before it (and keeps filled for every entry written after).
ALTER TABLE inventory ADD COLUMN name_key TEXT;
DROP INDEX inventory_by_name;
CREATE INDEX inventory_by_name ON inventory (name_key, canonical_key);
