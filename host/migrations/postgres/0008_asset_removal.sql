-- Assets deleted at the source (see the SQLite migration of the same name).
ALTER TABLE assets ADD COLUMN removed_at TIMESTAMPTZ;
CREATE INDEX findings_by_asset ON findings (integration_id, asset_source_id);
