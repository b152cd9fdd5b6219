-- Findings and assets become rowid tables with a unique index on the source id. As
-- WITHOUT ROWID tables their rows (raw records of a few KiB) each spilled into a mostly
-- empty overflow page, and random ids scattered every insert across the file.
-- `seen_in_run` is the run that last reported a finding: a complete full sync closes the
-- open findings it did not report, without holding their ids in memory.
CREATE TABLE findings_v2 (
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
    seen_in_run INTEGER
);
INSERT INTO findings_v2 (integration_id, source_id, asset_source_id, title, description, severity, status, source_status,
    remediation, rule_id, rule_name, created_at, updated_at, status_changed_at, resolved_at, due_at, project_ids, portal_url,
    raw, content_hash, first_seen_at, closed_reason, reported_status)
  SELECT integration_id, source_id, asset_source_id, title, description, severity, status, source_status,
    remediation, rule_id, rule_name, created_at, updated_at, status_changed_at, resolved_at, due_at, project_ids, portal_url,
    raw, content_hash, first_seen_at, closed_reason, reported_status FROM findings;
DROP TABLE findings;
ALTER TABLE findings_v2 RENAME TO findings;
CREATE UNIQUE INDEX findings_by_source ON findings (integration_id, source_id);
-- The two end-of-run updates read these small partial indexes, not every finding: the
-- open findings by the run that last reported them, and those changed locally.
CREATE INDEX findings_open_by_run ON findings (integration_id, seen_in_run) WHERE closed_reason IS NULL;
CREATE INDEX findings_changed_locally ON findings (integration_id) WHERE status != reported_status;

CREATE TABLE assets_v2 (
    integration_id INTEGER NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    source_id TEXT NOT NULL,
    inventory_id INTEGER NOT NULL REFERENCES inventory(id),
    raw TEXT NOT NULL,
    content_hash BLOB NOT NULL,
    first_seen_at TEXT NOT NULL
);
INSERT INTO assets_v2 (integration_id, source_id, inventory_id, raw, content_hash, first_seen_at)
  SELECT integration_id, source_id, inventory_id, raw, content_hash, first_seen_at FROM assets;
DROP TABLE assets;
ALTER TABLE assets_v2 RENAME TO assets;
CREATE UNIQUE INDEX assets_by_source ON assets (integration_id, source_id);
CREATE INDEX assets_by_inventory ON assets (inventory_id);
