-- The search indexes each distinct pair of title and rule name once, not each finding.
--
-- A tenant's findings repeat a few thousand titles (100k findings hold 3,416), and
-- indexing every finding's trigrams cost a sync two thirds of its write time. Each
-- finding names its pair (`text_id`); a search finds the pairs and then their findings.
-- Pairs are only added: one no finding names any more is found and matches nothing.
CREATE TABLE finding_texts (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    rule_name TEXT NOT NULL,
    UNIQUE (title, rule_name)
);
CREATE VIRTUAL TABLE finding_texts_search USING fts5(
    title, rule_name, content = 'finding_texts', content_rowid = 'id', tokenize = 'trigram'
);
CREATE TRIGGER finding_texts_insert AFTER INSERT ON finding_texts BEGIN
    INSERT INTO finding_texts_search (rowid, title, rule_name) VALUES (new.id, new.title, new.rule_name);
END;
INSERT INTO finding_texts (title, rule_name) SELECT DISTINCT title, coalesce(rule_name, '') FROM findings;
ALTER TABLE findings ADD COLUMN text_id INTEGER;
UPDATE findings SET text_id = (SELECT t.id FROM finding_texts t WHERE t.title = findings.title AND t.rule_name = coalesce(findings.rule_name, ''));

DROP TRIGGER findings_text_insert;
DROP TRIGGER findings_text_delete;
DROP TRIGGER findings_text_update;
DROP TABLE findings_text;

-- Each listing order's index holds the pair too, after the listing id that orders it, so
-- a search walks a sorted page's index and tests each finding there without reading its
-- row, which is large.
DROP INDEX findings_listing;
DROP INDEX findings_by_title;
DROP INDEX findings_by_status;
DROP INDEX findings_by_change;
DROP INDEX findings_by_asset_name;
CREATE INDEX findings_listing ON findings (severity_rank, integration_id, listing_id, text_id);
CREATE INDEX findings_by_title ON findings (title COLLATE NOCASE, integration_id, listing_id, text_id);
CREATE INDEX findings_by_status ON findings (status, integration_id, listing_id, text_id);
CREATE INDEX findings_by_change ON findings (coalesce(status_changed_at, created_at, first_seen_at), integration_id, listing_id, text_id);
CREATE INDEX findings_by_asset_name ON findings (asset_key, integration_id, listing_id, text_id);
