-- A checkpoint belongs to a generation of its integration's settings. Clearing it (a
-- settings change) moves the generation on instead of deleting the row, and a run stores
-- its checkpoint only while the generation it started with is current: a sync still
-- running with the old settings cannot put back a watermark the change cleared.
ALTER TABLE checkpoints ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
