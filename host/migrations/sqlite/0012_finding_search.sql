-- Search and sort in the Finding View.
--
-- Findings get an explicit INTEGER PRIMARY KEY, `listing_id`, holding the rowid each
-- already had, so cursors and the listing order stay as they were. An implicit rowid may
-- be renumbered by VACUUM, and the search index below is keyed by this number.
CREATE TABLE findings_v3 (
    listing_id INTEGER PRIMARY KEY,
    integration_id INTEGER NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    source_id TEXT NOT NULL,
    asset_source_id TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    source_status TEXT NOT NULL,
    remediation TEXT,
    rule_id TEXT,
    rule_name TEXT,
    created_at TEXT,
    updated_at TEXT,
    status_changed_at TEXT,
    resolved_at TEXT,
    due_at TEXT,
    project_ids TEXT NOT NULL,
    portal_url TEXT,
    raw TEXT NOT NULL,
    content_hash BLOB NOT NULL,
    first_seen_at TEXT NOT NULL,
    closed_reason TEXT,
    reported_status TEXT NOT NULL,
    seen_in_run INTEGER,
    severity_rank INTEGER GENERATED ALWAYS AS (
        CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END
    ) VIRTUAL,
    kind TEXT NOT NULL DEFAULT 'issue',
    vulnerability TEXT,
    stream TEXT
);
INSERT INTO findings_v3 (listing_id, integration_id, source_id, asset_source_id, title, description, severity, status,
    source_status, remediation, rule_id, rule_name, created_at, updated_at, status_changed_at, resolved_at, due_at,
    project_ids, portal_url, raw, content_hash, first_seen_at, closed_reason, reported_status, seen_in_run, kind,
    vulnerability, stream)
  SELECT rowid, integration_id, source_id, asset_source_id, title, description, severity, status,
    source_status, remediation, rule_id, rule_name, created_at, updated_at, status_changed_at, resolved_at, due_at,
    project_ids, portal_url, raw, content_hash, first_seen_at, closed_reason, reported_status, seen_in_run, kind,
    vulnerability, stream FROM findings;
DROP TABLE findings;
ALTER TABLE findings_v3 RENAME TO findings;
CREATE UNIQUE INDEX findings_by_source ON findings (integration_id, source_id);
CREATE INDEX findings_open_by_run ON findings (integration_id, seen_in_run) WHERE closed_reason IS NULL;
CREATE INDEX findings_changed_locally ON findings (integration_id) WHERE status != reported_status;
CREATE INDEX findings_listing ON findings (severity_rank, integration_id);
CREATE INDEX findings_by_asset ON findings (integration_id, asset_source_id);
-- Each sort of the Finding View as an index ending, like every index, with the
-- listing_id, so a sorted page reads its own rows and not every finding.
CREATE INDEX findings_by_title ON findings (title COLLATE NOCASE, integration_id);
CREATE INDEX findings_by_status ON findings (status, integration_id);
CREATE INDEX findings_by_change ON findings (coalesce(status_changed_at, created_at, first_seen_at), integration_id);

-- The search over titles and rule names: trigrams, so any part of a word of three or
-- more characters finds it, ignoring case. The findings table holds the text; triggers
-- keep the index in step, and a re-sync that leaves both texts as they were skips it.
CREATE VIRTUAL TABLE findings_text USING fts5(
    title, rule_name, content = 'findings', content_rowid = 'listing_id', tokenize = 'trigram'
);
INSERT INTO findings_text (findings_text) VALUES ('rebuild');
CREATE TRIGGER findings_text_insert AFTER INSERT ON findings BEGIN
    INSERT INTO findings_text (rowid, title, rule_name) VALUES (new.listing_id, new.title, new.rule_name);
END;
CREATE TRIGGER findings_text_delete AFTER DELETE ON findings BEGIN
    INSERT INTO findings_text (findings_text, rowid, title, rule_name)
        VALUES ('delete', old.listing_id, old.title, old.rule_name);
END;
CREATE TRIGGER findings_text_update AFTER UPDATE OF title, rule_name ON findings
    WHEN old.title IS NOT new.title OR old.rule_name IS NOT new.rule_name BEGIN
    INSERT INTO findings_text (findings_text, rowid, title, rule_name)
        VALUES ('delete', old.listing_id, old.title, old.rule_name);
    INSERT INTO findings_text (rowid, title, rule_name) VALUES (new.listing_id, new.title, new.rule_name);
END;
