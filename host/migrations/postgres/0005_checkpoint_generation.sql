-- A checkpoint belongs to a generation of its integration's settings (see the SQLite
-- migration of the same name).
ALTER TABLE checkpoints ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
