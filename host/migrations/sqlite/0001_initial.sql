-- The first schema: integrations, their schedules and leases, the shared inventory,
-- each integration's assets and findings, checkpoints and run history.
CREATE TABLE integrations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    connector TEXT NOT NULL,
    settings TEXT NOT NULL,
    sealed_secrets TEXT NOT NULL,
    created_at TEXT NOT NULL,
    auto_sync_days INTEGER NOT NULL DEFAULT 0,
    auto_onboard INTEGER NOT NULL DEFAULT 1,
    update_metadata INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE schedules (
    integration_id INTEGER PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    next_due TEXT NOT NULL
);
CREATE TABLE leases (
    integration_id INTEGER PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE inventory (
    id INTEGER PRIMARY KEY,
    canonical_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    asset_type TEXT NOT NULL,
    cloud_platform TEXT NOT NULL,
    cloud_account_id TEXT,
    cloud_account_name TEXT,
    region TEXT,
    provider_id TEXT,
    tags TEXT NOT NULL,
    status TEXT,
    technologies TEXT NOT NULL,
    metadata_hash BLOB NOT NULL,
    origin TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE assets (
    integration_id INTEGER NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    source_id TEXT NOT NULL,
    inventory_id INTEGER NOT NULL REFERENCES inventory(id),
    raw TEXT NOT NULL,
    content_hash BLOB NOT NULL,
    first_seen_at TEXT NOT NULL,
    PRIMARY KEY (integration_id, source_id)
) WITHOUT ROWID;
CREATE INDEX assets_by_inventory ON assets (inventory_id);
CREATE TABLE findings (
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
    PRIMARY KEY (integration_id, source_id)
) WITHOUT ROWID;
CREATE TABLE checkpoints (
    integration_id INTEGER PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    integration_id INTEGER NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    started_by TEXT NOT NULL,
    status TEXT NOT NULL,
    assets_onboarded INTEGER NOT NULL DEFAULT 0,
    assets_updated INTEGER NOT NULL DEFAULT 0,
    assets_skipped INTEGER NOT NULL DEFAULT 0,
    findings_new INTEGER NOT NULL DEFAULT 0,
    findings_updated INTEGER NOT NULL DEFAULT 0,
    findings_unchanged INTEGER NOT NULL DEFAULT 0,
    findings_skipped INTEGER NOT NULL DEFAULT 0,
    findings_closed INTEGER NOT NULL DEFAULT 0,
    warnings TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    details TEXT
);
CREATE INDEX runs_by_integration ON runs (integration_id, id);
