-- A lease carries a fence: a number drawn each time it is taken. Every batch and
-- checkpoint a run writes checks, in its own transaction, that the lease still has the
-- run's fence, so a run that stalled past its lease and was taken over stores nothing
-- beside the run that took over.
ALTER TABLE leases ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
