-- Findings have a kind and vulnerability details (see the SQLite migration of the same
-- name).
ALTER TABLE findings ADD COLUMN kind TEXT NOT NULL DEFAULT 'issue';
ALTER TABLE findings ADD COLUMN vulnerability JSONB;
