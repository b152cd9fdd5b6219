-- Streams chosen per integration, and each finding's stream (see the SQLite migration of
-- the same name).
ALTER TABLE integrations ADD COLUMN streams JSONB;
ALTER TABLE findings ADD COLUMN stream TEXT;
