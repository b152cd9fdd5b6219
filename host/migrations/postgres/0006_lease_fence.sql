-- A lease carries a fence, checked by every write of its run (see the SQLite migration
-- of the same name).
ALTER TABLE leases ADD COLUMN fence BIGINT NOT NULL DEFAULT 0;
