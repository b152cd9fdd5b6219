-- Workers and claims (see the SQLite migration of the same name).
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    lease_ttl_ms BIGINT NOT NULL,
    version TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    draining BOOLEAN NOT NULL DEFAULT FALSE,
    stopped_at TIMESTAMPTZ
);
ALTER TABLE runs ADD COLUMN worker TEXT;
ALTER TABLE schedules ALTER COLUMN next_due DROP NOT NULL;
ALTER TABLE schedules ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
DELETE FROM schedules s USING integrations i WHERE i.id = s.integration_id AND i.auto_sync_days = 0;
INSERT INTO schedules (integration_id)
    SELECT id FROM integrations i WHERE auto_sync_days > 0
      AND NOT EXISTS (SELECT 1 FROM schedules s WHERE s.integration_id = i.id);
CREATE INDEX schedules_by_due ON schedules (next_due) WHERE next_due IS NOT NULL;
CREATE INDEX schedules_unscheduled ON schedules (integration_id) WHERE next_due IS NULL;
UPDATE runs SET status = 'failed', error = 'interrupted: the process running it stopped or stalled before it finished'
 WHERE status = 'running' AND action IN ('sync_now', 'auto_sync')
   AND id NOT IN (SELECT max(id) FROM runs WHERE status = 'running' AND action IN ('sync_now', 'auto_sync') GROUP BY integration_id);
CREATE UNIQUE INDEX runs_one_active ON runs (integration_id) WHERE status = 'running' AND action IN ('sync_now', 'auto_sync');
CREATE TABLE sync_requests (
    integration_id BIGINT PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    requested_by TEXT NOT NULL,
    full_sync BOOLEAN NOT NULL DEFAULT FALSE,
    requested_at TIMESTAMPTZ NOT NULL
);
ALTER TABLE runs ADD COLUMN progress_done BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN progress_total BIGINT;
ALTER TABLE runs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
