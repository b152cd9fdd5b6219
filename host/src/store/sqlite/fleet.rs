//! Workers and claims in SQLite. One file has one writer at a time: a claim's
//! transaction takes the write lock as it begins, so it needs no row locks.

use super::runs::take_lease;
use super::{SqliteStore, opt_time_at, time_at};
use crate::model::{now, time_text};
use crate::policy::lease::expiry;
use crate::store::fleet::{
    CANCEL_RUNNING, CLAIMABLE, DROP_REQUEST, DUE_COUNT, FleetStore, INTEGRATION_NAME, QUEUE_SYNC,
    QUEUED_NOW, QUEUED_SYNC, RELEASE_LEASE, REPORT_PROGRESS, REQUESTED, RESCHEDULE, RUNNING_SYNC,
    RUNS_NOW, WORKER_RECORD_DAYS, WORKERS, age_s, count_of, failures_of, names, stored_count,
    ttl_ms, ttl_s,
};
use crate::store::{
    CancelRequested, Claim, ClaimKind, Fence, LeaseOutcome, QueuedSync, RunningSync, StoreError,
    SyncRequested, WorkerInfo, WorkerRow,
};
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{OptionalExtension, params};
use std::time::Duration;

/// Takes `integration`'s lease for `worker` in `tx` and moves on what made it due; `None`
/// when another holds the lease.
fn claim_one(
    tx: &rusqlite::Transaction<'_>,
    integration: i64,
    worker: &str,
    ttl: Duration,
    kind: ClaimKind,
) -> Result<Option<Claim>, StoreError> {
    let LeaseOutcome::Acquired {
        interrupted_runs,
        fence,
    } = take_lease(tx, integration, worker, ttl)?
    else {
        return Ok(None);
    };
    match kind {
        // Due again once the lease could have lapsed: a worker that dies leaves the sync
        // to the next claim, which resumes it.
        ClaimKind::Auto { .. } => tx.execute(
            "UPDATE schedules SET next_due = ?2 WHERE integration_id = ?1",
            params![integration, time_text(expiry(now(), ttl))],
        )?,
        ClaimKind::Now { .. } => tx.execute(DROP_REQUEST, [integration])?,
    };
    let name = tx.query_row(INTEGRATION_NAME, [integration], |r| r.get(0))?;
    Ok(Some(Claim {
        integration,
        name,
        fence,
        interrupted_runs,
        kind,
    }))
}

#[async_trait]
impl FleetStore for SqliteStore {
    async fn now(&self) -> Result<DateTime<Utc>, StoreError> {
        // An embedded store's clock is its machine's.
        Ok(now())
    }

    async fn register_worker(&self, worker: &WorkerInfo) -> Result<(), StoreError> {
        let worker = worker.clone();
        self.call(move |conn| {
            let at = now();
            let tx = conn.transaction()?;
            tx.execute(
                "DELETE FROM workers WHERE heartbeat_at < ?1",
                [time_text(at - TimeDelta::days(WORKER_RECORD_DAYS))],
            )?;
            tx.execute(
                "INSERT INTO workers (id, host, pid, version, lease_ttl_ms, started_at, heartbeat_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![worker.id, worker.host, worker.pid, worker.version, ttl_ms(worker.lease_ttl), time_text(at)],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn heartbeat(&self, worker: &str) -> Result<bool, StoreError> {
        let worker = worker.to_string();
        self.call(move |conn| {
            let beat = conn.execute(
                "UPDATE workers SET heartbeat_at = ?2 WHERE id = ?1",
                params![worker, time_text(now())],
            )?;
            Ok(beat == 1)
        })
        .await
    }

    async fn drain_worker(&self, worker: &str) -> Result<(), StoreError> {
        let worker = worker.to_string();
        self.call(move |conn| {
            conn.execute("UPDATE workers SET draining = 1 WHERE id = ?1", [worker])?;
            Ok(())
        })
        .await
    }

    async fn stop_worker(&self, worker: &str) -> Result<(), StoreError> {
        let worker = worker.to_string();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            tx.execute("DELETE FROM leases WHERE holder = ?1", [&worker])?;
            tx.execute(
                "UPDATE workers SET draining = 1, stopped_at = ?2, heartbeat_at = ?2 WHERE id = ?1",
                params![worker, time_text(now())],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn workers(&self) -> Result<Vec<WorkerRow>, StoreError> {
        self.read(|conn| {
            let at = now();
            let mut stmt = conn.prepare(WORKERS)?;
            let rows = stmt.query_map([], |r| {
                let heartbeat_at = time_at(r, 5)?;
                let running: Option<String> = r.get(9)?;
                Ok(WorkerRow {
                    id: r.get(0)?,
                    host: r.get(1)?,
                    pid: r.get(2)?,
                    version: r.get(3)?,
                    lease_ttl_s: ttl_s(r.get(8)?),
                    started_at: time_at(r, 4)?,
                    heartbeat_at,
                    heartbeat_age_s: age_s(at, heartbeat_at),
                    draining: r.get(6)?,
                    stopped_at: opt_time_at(r, 7)?,
                    running: names(running),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn due_count(&self, due_by: DateTime<Utc>) -> Result<u64, StoreError> {
        self.read(move |conn| {
            let due: i64 = conn.query_row(
                &DUE_COUNT.replace("{now}", "?2"),
                params![time_text(due_by), time_text(now())],
                |r| r.get(0),
            )?;
            Ok(u64::try_from(due).unwrap_or(0))
        })
        .await
    }

    async fn schedule_new(&self, first: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "UPDATE schedules SET next_due = ?1 WHERE next_due IS NULL
                 RETURNING (SELECT name FROM integrations WHERE id = integration_id)",
            )?;
            let names = stmt.query_map([time_text(first)], |r| r.get(0))?;
            Ok(names.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn claim_due(
        &self,
        worker: &str,
        due_by: DateTime<Utc>,
        limit: usize,
        ttl: Duration,
    ) -> Result<Vec<Claim>, StoreError> {
        let worker = worker.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let at = time_text(now());
            // People waiting first: the queued Sync Nows, then the due auto syncs.
            let requested: Vec<(i64, ClaimKind)> = {
                let mut stmt = tx.prepare_cached(&REQUESTED.replace("{now}", "?2"))?;
                let rows = stmt.query_map(params![limit, at], |r| {
                    Ok((
                        r.get(0)?,
                        ClaimKind::Now {
                            requested_by: r.get(1)?,
                            full: r.get(2)?,
                        },
                    ))
                })?;
                rows.collect::<Result<_, _>>()?
            };
            let room = limit - requested.len() as i64;
            let due: Vec<(i64, ClaimKind)> = {
                let mut stmt = tx.prepare_cached(&CLAIMABLE.replace("{now}", "?3"))?;
                let rows = stmt.query_map(params![time_text(due_by), room, at], |r| {
                    Ok((
                        r.get(0)?,
                        ClaimKind::Auto {
                            failures: failures_of(r.get(1)?),
                        },
                    ))
                })?;
                rows.collect::<Result<_, _>>()?
            };
            let mut claims = Vec::with_capacity(requested.len() + due.len());
            for (integration, kind) in requested.into_iter().chain(due) {
                if let Some(claim) = claim_one(&tx, integration, &worker, ttl, kind)? {
                    claims.push(claim);
                }
            }
            tx.commit()?;
            Ok(claims)
        })
        .await
    }

    async fn request_sync(
        &self,
        integration: i64,
        requested_by: &str,
        full: bool,
    ) -> Result<SyncRequested, StoreError> {
        let requested_by = requested_by.to_string();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let runs = tx.query_row(
                &RUNS_NOW.replace("{now}", "?2"),
                params![integration, time_text(now())],
                |r| r.get::<_, i64>(0),
            )?;
            let answer = if runs > 0 {
                SyncRequested::JoinedRunning
            } else {
                let queued = tx.query_row(QUEUED_NOW, [integration], |r| r.get::<_, i64>(0))? > 0;
                tx.execute(
                    &QUEUE_SYNC.replace("{now}", "?4"),
                    params![integration, requested_by, full, time_text(now())],
                )?;
                match queued {
                    true => SyncRequested::JoinedQueued,
                    false => SyncRequested::Queued,
                }
            };
            tx.commit()?;
            Ok(answer)
        })
        .await
    }

    async fn queued_sync(&self, integration: i64) -> Result<Option<QueuedSync>, StoreError> {
        self.read(move |conn| {
            Ok(conn
                .query_row(QUEUED_SYNC, [integration], |r| {
                    Ok(QueuedSync {
                        requested_by: r.get(0)?,
                        full: r.get(1)?,
                        requested_at: time_at(r, 2)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn running_sync(&self, integration: i64) -> Result<Option<RunningSync>, StoreError> {
        self.read(move |conn| {
            Ok(conn
                .query_row(RUNNING_SYNC, [integration], |r| {
                    Ok(RunningSync {
                        run: r.get(0)?,
                        started_at: time_at(r, 1)?,
                        started_by: r.get(2)?,
                        done: count_of(r.get(3)?),
                        total: r.get::<_, Option<i64>>(4)?.map(count_of),
                        worker: r.get(5)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn report_progress(
        &self,
        run: i64,
        done: u64,
        total: Option<u64>,
    ) -> Result<bool, StoreError> {
        self.call(move |conn| {
            Ok(conn
                .query_row(
                    REPORT_PROGRESS,
                    params![run, stored_count(done), total.map(stored_count)],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(false))
        })
        .await
    }

    async fn request_cancel(&self, integration: i64) -> Result<CancelRequested, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let running = tx.execute(CANCEL_RUNNING, [integration])? > 0;
            let queued = tx.execute(DROP_REQUEST, [integration])? > 0;
            tx.commit()?;
            Ok(CancelRequested { running, queued })
        })
        .await
    }

    async fn end_claim(
        &self,
        integration: i64,
        fence: Fence,
        next_due: DateTime<Utc>,
        failures: u32,
    ) -> Result<(), StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                RESCHEDULE,
                params![integration, fence.0, time_text(next_due), failures],
            )?;
            tx.execute(RELEASE_LEASE, params![integration, fence.0])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }
}
