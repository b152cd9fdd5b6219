//! Workers and claims in SQLite. One file has one writer at a time: a claim's
//! transaction takes the write lock as it begins, so it needs no row locks.

use super::runs::take_lease;
use super::{SqliteStore, opt_time_at, time_at};
use crate::model::{now, time_text};
use crate::policy::lease::expiry;
use crate::store::fleet::{
    CLAIMABLE, FleetStore, RELEASE_LEASE, RESCHEDULE, WORKER_RECORD_DAYS, WORKERS, age_s,
    failures_of, names, ttl_ms, ttl_s,
};
use crate::store::{Claim, Fence, LeaseOutcome, StoreError, WorkerInfo, WorkerRow};
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::params;
use std::time::Duration;

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
            let at = now();
            let due: Vec<(i64, i64)> = {
                let mut stmt = tx.prepare_cached(&CLAIMABLE.replace("{now}", "?3"))?;
                let rows = stmt
                    .query_map(params![time_text(due_by), limit, time_text(at)], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                rows.collect::<Result<_, _>>()?
            };
            let mut claims = Vec::with_capacity(due.len());
            for (integration, failures) in due {
                let LeaseOutcome::Acquired {
                    interrupted_runs,
                    fence,
                } = take_lease(&tx, integration, &worker, ttl)?
                else {
                    continue;
                };
                // Due again once the lease could have lapsed: a worker that dies leaves
                // the sync to the next claim, which resumes it.
                tx.execute(
                    "UPDATE schedules SET next_due = ?2 WHERE integration_id = ?1",
                    params![integration, time_text(expiry(at, ttl))],
                )?;
                let name = tx.query_row(
                    "SELECT name FROM integrations WHERE id = ?1",
                    [integration],
                    |r| r.get(0),
                )?;
                claims.push(Claim {
                    integration,
                    name,
                    fence,
                    failures: failures_of(failures),
                    interrupted_runs,
                });
            }
            tx.commit()?;
            Ok(claims)
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
