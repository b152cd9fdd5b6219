-- The Finding View sorts by asset (see the SQLite migration of the same name).
ALTER TABLE findings ADD COLUMN asset_key TEXT NOT NULL DEFAULT '';
UPDATE findings f SET asset_key = inv.name_key FROM assets a JOIN inventory inv ON inv.id = a.inventory_id
    WHERE a.integration_id = f.integration_id AND a.source_id = f.asset_source_id AND inv.name_key IS NOT NULL;
CREATE INDEX findings_by_asset_name ON findings (asset_key COLLATE "C", integration_id, listing_id);
