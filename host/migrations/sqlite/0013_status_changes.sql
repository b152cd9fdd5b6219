-- Every status set here: which finding, when, by whom, from what, to what and why. Kept
-- after the next sync puts the source's status back, as the record of what was decided.
CREATE TABLE status_changes (
    id INTEGER PRIMARY KEY,
    integration_id INTEGER NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    finding_source_id TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX status_changes_by_finding ON status_changes (integration_id, finding_source_id, id);
