-- The schema of the SQLite store, in PostgreSQL's types: identities for row ids,
-- timestamptz for times, jsonb for lists and maps, bytea for hashes. Raw source records
-- stay text, byte for byte as the plugin sent them.
CREATE TABLE integrations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    connector TEXT NOT NULL,
    settings JSONB NOT NULL,
    sealed_secrets TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    auto_sync_days BIGINT NOT NULL DEFAULT 0,
    auto_onboard BOOLEAN NOT NULL DEFAULT TRUE,
    update_metadata BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE schedules (
    integration_id BIGINT PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    next_due TIMESTAMPTZ NOT NULL
);
CREATE TABLE leases (
    integration_id BIGINT PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    holder TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE inventory (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    canonical_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    asset_type TEXT NOT NULL,
    cloud_platform TEXT NOT NULL,
    cloud_account_id TEXT,
    cloud_account_name TEXT,
    region TEXT,
    provider_id TEXT,
    tags JSONB NOT NULL,
    status TEXT,
    technologies JSONB NOT NULL,
    metadata_hash BYTEA NOT NULL,
    origin TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE assets (
    integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    source_id TEXT NOT NULL,
    inventory_id BIGINT NOT NULL REFERENCES inventory(id),
    raw TEXT NOT NULL,
    content_hash BYTEA NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (integration_id, source_id)
);
CREATE INDEX assets_by_inventory ON assets (inventory_id);
CREATE TABLE findings (
    integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
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
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    status_changed_at TIMESTAMPTZ,
    resolved_at TIMESTAMPTZ,
    due_at TIMESTAMPTZ,
    project_ids JSONB NOT NULL,
    portal_url TEXT,
    raw TEXT NOT NULL,
    content_hash BYTEA NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    closed_reason TEXT,
    reported_status TEXT NOT NULL,
    seen_in_run BIGINT,
    PRIMARY KEY (integration_id, source_id)
);
-- The two end-of-run updates read these small partial indexes, not every finding.
CREATE INDEX findings_open_by_run ON findings (integration_id, seen_in_run) WHERE closed_reason IS NULL;
CREATE INDEX findings_changed_locally ON findings (integration_id) WHERE status <> reported_status;
CREATE TABLE checkpoints (
    integration_id BIGINT PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE runs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    started_by TEXT NOT NULL,
    status TEXT NOT NULL,
    assets_onboarded BIGINT NOT NULL DEFAULT 0,
    assets_updated BIGINT NOT NULL DEFAULT 0,
    assets_skipped BIGINT NOT NULL DEFAULT 0,
    findings_new BIGINT NOT NULL DEFAULT 0,
    findings_updated BIGINT NOT NULL DEFAULT 0,
    findings_unchanged BIGINT NOT NULL DEFAULT 0,
    findings_skipped BIGINT NOT NULL DEFAULT 0,
    findings_closed BIGINT NOT NULL DEFAULT 0,
    warnings JSONB NOT NULL DEFAULT '[]',
    error TEXT,
    details TEXT
);
CREATE INDEX runs_by_integration ON runs (integration_id, id);
-- Raw records are compressed as they are written; lz4 costs the server a fraction of the
-- default pglz's CPU. A server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE findings ALTER COLUMN raw SET COMPRESSION lz4;
    ALTER TABLE assets ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;
END
$$;
