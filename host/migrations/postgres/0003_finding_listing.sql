-- The listing order of findings (most severe first, then by integration, then in the
-- order they were first stored) as an index, so a page of the console or the API reads
-- its rows alone and the counts by severity read the index alone, however many findings
-- a tenant has. `listing_id` numbers findings as they are first stored (SQLite's rowid
-- does the same there), so new findings are appended to the index rather than inserted
-- at random places.
ALTER TABLE findings ADD COLUMN severity_rank SMALLINT GENERATED ALWAYS AS (
    CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END
) STORED;
ALTER TABLE findings ADD COLUMN listing_id BIGINT GENERATED ALWAYS AS IDENTITY;
CREATE INDEX findings_listing ON findings (severity_rank, integration_id, listing_id);
