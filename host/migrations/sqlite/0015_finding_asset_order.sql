-- The Finding View sorts by asset: each finding keeps its asset's name sort key (the
-- inventory's `name_key`, '' while its asset is not in the inventory), which the host
-- keeps in step when a finding or an asset is written and when an entry is renamed.
ALTER TABLE findings ADD COLUMN asset_key TEXT NOT NULL DEFAULT '';
UPDATE findings SET asset_key = coalesce((SELECT inv.name_key FROM assets a JOIN inventory inv ON inv.id = a.inventory_id
    WHERE a.integration_id = findings.integration_id AND a.source_id = findings.asset_source_id), '');
CREATE INDEX findings_by_asset_name ON findings (asset_key, integration_id);
