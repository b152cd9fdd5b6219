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
 WHERE status = 'running' AND action IN ('sync_now', 'auto_sync')
   AND id NOT IN (SELECT max(id) FROM runs WHERE status = 'running' AND action IN ('sync_now', 'auto_sync') GROUP BY integration_id);
CREATE UNIQUE INDEX runs_one_active ON runs (integration_id) WHERE status = 'running' AND action IN ('sync_now', 'auto_sync');
-- Sync Now is a request any worker claims; a second request while one waits joins it.
CREATE TABLE sync_requests (
    integration_id INTEGER PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    requested_by TEXT NOT NULL,
    full_sync INTEGER NOT NULL DEFAULT 0,
    requested_at TEXT NOT NULL
);
-- A running run's progress and a person's Cancel live in its row, so any worker shows
-- the one and passes on the other.
ALTER TABLE runs ADD COLUMN progress_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN progress_total INTEGER;
ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
