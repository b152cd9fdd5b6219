-- The Asset View's order (name, then canonical key) as an index, so a page reads its
-- rows alone instead of sorting every asset the inventory holds; and an asset link's
-- integration beside its inventory entry, so walking the inventory in that order finds
-- one integration's assets from the index alone.
CREATE INDEX inventory_by_name ON inventory (name, canonical_key);
DROP INDEX assets_by_inventory;
CREATE INDEX assets_by_inventory ON assets (inventory_id, integration_id);
