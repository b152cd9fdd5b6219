-- Search and sort in the Finding View (see the SQLite migration of the same name).
--
-- Each sort as an index ending with the listing order, so a sorted page reads its own
-- rows and not every finding. Text sorts in byte order of its lower case, as SQLite's
-- NOCASE sorts ASCII, so both stores page alike.
CREATE INDEX findings_by_title ON findings (lower(title) COLLATE "C", integration_id, listing_id);
CREATE INDEX findings_by_status ON findings (status COLLATE "C", integration_id, listing_id);
CREATE INDEX findings_by_change ON findings (coalesce(status_changed_at, created_at, first_seen_at), integration_id, listing_id);
-- The search over titles and rule names: trigram indexes, so any part of a word of three
-- or more characters finds it, ignoring case. pg_trgm ships with PostgreSQL and is a
-- trusted extension: a database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX findings_text ON findings USING gin (title gin_trgm_ops, rule_name gin_trgm_ops);
