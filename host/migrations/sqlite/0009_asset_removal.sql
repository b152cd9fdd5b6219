-- Assets deleted at the source (contract 0.2's `removed-assets`): when the source said so,
-- cleared when it reports the asset again. Their open findings are closed then, found by
-- asset through the index below.
ALTER TABLE assets ADD COLUMN removed_at TEXT;
CREATE INDEX findings_by_asset ON findings (integration_id, asset_source_id);
