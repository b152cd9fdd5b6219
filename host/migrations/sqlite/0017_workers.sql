-- Workers and claims: every `serve` process is a row with a heartbeat, due auto syncs
-- are claimed in one transaction that takes the lease and moves the schedule on, the
-- retry count of a failing auto sync lives with its schedule, and each run names the
-- worker that ran it.
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    lease_ttl_ms INTEGER NOT NULL,
    version TEXT NOT NULL,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    draining INTEGER NOT NULL DEFAULT 0,
    stopped_at TEXT
);
ALTER TABLE runs ADD COLUMN worker TEXT;
-- A schedule row exists while auto sync is on; no due time yet means "at the next slot",
-- which the first worker to look sets. Rebuilt, as SQLite cannot drop NOT NULL.
CREATE TABLE schedules_new (
    integration_id INTEGER PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    next_due TEXT,
    failures INTEGER NOT NULL DEFAULT 0
);
INSERT INTO schedules_new (integration_id, next_due)
    SELECT s.integration_id, s.next_due FROM schedules s JOIN integrations i ON i.id = s.integration_id
    WHERE i.auto_sync_days > 0;
INSERT INTO schedules_new (integration_id)
    SELECT id FROM integrations i WHERE auto_sync_days > 0
      AND NOT EXISTS (SELECT 1 FROM schedules s WHERE s.integration_id = i.id);
DROP TABLE schedules;
ALTER TABLE schedules_new RENAME TO schedules;
CREATE INDEX schedules_by_due ON schedules (next_due) WHERE next_due IS NOT NULL;
CREATE INDEX schedules_unscheduled ON schedules (integration_id) WHERE next_due IS NULL;
-- One active run per integration, whatever a process does: the backstop to the lease.
UPDATE runs SET status = 'failed', error = 'interrupted: the process running it stopped or stalled before it finished'
 WHERE status = 'running'
   AND id NOT IN (SELECT max(id) FROM runs WHERE status = 'running' GROUP BY integration_id);
CREATE UNIQUE INDEX runs_one_active ON runs (integration_id) WHERE status = 'running';
