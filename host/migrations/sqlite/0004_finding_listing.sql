-- The listing order of findings (most severe first, then by integration, then in the
-- order they were first stored) as an index, so a page of the console or the API reads
-- its rows alone and the counts by severity read the index alone, however many findings
-- a tenant has. The index ends with the rowid, so new findings are appended to it rather
-- than inserted at random places, which keeps it cheap to maintain during a sync.
ALTER TABLE findings ADD COLUMN severity_rank INTEGER GENERATED ALWAYS AS (
    CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END
) VIRTUAL;
CREATE INDEX findings_listing ON findings (severity_rank, integration_id);
