//! Workers and claims in PostgreSQL: due schedules are locked `FOR UPDATE SKIP LOCKED`,
//! so workers claiming at once divide the due syncs between them without waiting on each
//! other, and every time is the database's `now()`.

use super::PostgresStore;
use super::ingest::dollars;
use super::runs::{Wait, millis, take_lease};
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
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Takes `integration`'s lease for `worker` in `tx` and moves on what made it due; `None`
/// when another holds the lease or is taking it.
async fn claim_one(
    tx: &tokio_postgres::Transaction<'_>,
    integration: i64,
    worker: &str,
    ttl: Duration,
    kind: ClaimKind,
) -> Result<Option<Claim>, StoreError> {
    let LeaseOutcome::Acquired {
        interrupted_runs,
        fence,
    } = take_lease(tx, integration, worker, ttl, Wait::Skip).await?
    else {
        return Ok(None);
    };
    match kind {
        // Due again once the lease could have lapsed: a worker that dies leaves the sync
        // to the next claim, which resumes it.
        ClaimKind::Auto { .. } => {
            tx.execute(
                "UPDATE schedules SET next_due = now() + $2 * interval '1 millisecond' WHERE integration_id = $1",
                &[&integration, &millis(ttl)],
            )
            .await?
        }
        ClaimKind::Now { .. } => tx.execute(&dollars(DROP_REQUEST), &[&integration]).await?,
    };
    let name = tx
        .query_one(&dollars(INTEGRATION_NAME), &[&integration])
        .await?
        .try_get(0)?;
    Ok(Some(Claim {
        integration,
        name,
        fence,
        interrupted_runs,
        kind,
    }))
}

#[async_trait]
impl FleetStore for PostgresStore {
    async fn now(&self) -> Result<DateTime<Utc>, StoreError> {
        let row = self.reader().await?.query_one("SELECT now()", &[]).await?;
        Ok(row.try_get(0)?)
    }

    async fn register_worker(&self, worker: &WorkerInfo) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "DELETE FROM workers WHERE heartbeat_at < now() - $1 * interval '1 day'",
            &[&(WORKER_RECORD_DAYS as f64)],
        )
        .await?;
        tx.execute(
            "INSERT INTO workers (id, host, pid, version, lease_ttl_ms, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, now(), now())",
            &[&worker.id, &worker.host, &i64::from(worker.pid), &worker.version, &ttl_ms(worker.lease_ttl)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn heartbeat(&self, worker: &str) -> Result<bool, StoreError> {
        let beat = self
            .client()
            .await?
            .execute(
                "UPDATE workers SET heartbeat_at = now() WHERE id = $1",
                &[&worker],
            )
            .await?;
        Ok(beat == 1)
    }

    async fn drain_worker(&self, worker: &str) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "UPDATE workers SET draining = TRUE WHERE id = $1",
                &[&worker],
            )
            .await?;
        Ok(())
    }

    async fn stop_worker(&self, worker: &str) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("DELETE FROM leases WHERE holder = $1", &[&worker])
            .await?;
        tx.execute(
            "UPDATE workers SET draining = TRUE, stopped_at = now(), heartbeat_at = now() WHERE id = $1",
            &[&worker],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn workers(&self) -> Result<Vec<WorkerRow>, StoreError> {
        let client = self.reader().await?;
        let at: DateTime<Utc> = client.query_one("SELECT now()", &[]).await?.try_get(0)?;
        let rows = client.query(WORKERS, &[]).await?;
        rows.iter()
            .map(|r| {
                let heartbeat_at = r.try_get(5)?;
                Ok(WorkerRow {
                    id: r.try_get(0)?,
                    host: r.try_get(1)?,
                    pid: r.try_get(2)?,
                    version: r.try_get(3)?,
                    lease_ttl_s: ttl_s(r.try_get(8)?),
                    started_at: r.try_get(4)?,
                    heartbeat_at,
                    heartbeat_age_s: age_s(at, heartbeat_at),
                    draining: r.try_get(6)?,
                    stopped_at: r.try_get(7)?,
                    running: names(r.try_get(9)?),
                })
            })
            .collect()
    }

    async fn due_count(&self, due_by: DateTime<Utc>) -> Result<u64, StoreError> {
        let row = self
            .reader()
            .await?
            .query_one(&dollars(&DUE_COUNT.replace("{now}", "now()")), &[&due_by])
            .await?;
        Ok(u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0))
    }

    async fn schedule_new(&self, first: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "UPDATE schedules SET next_due = $1 WHERE next_due IS NULL
                 RETURNING (SELECT name FROM integrations WHERE id = integration_id)",
                &[&first],
            )
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    async fn claim_due(
        &self,
        worker: &str,
        due_by: DateTime<Utc>,
        limit: usize,
        ttl: Duration,
    ) -> Result<Vec<Claim>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Locked rows are another worker's claim in progress: skipped, never waited for.
        // People waiting first: the queued Sync Nows, then the due auto syncs.
        let skip_locked = |sql: &str, table: &str| {
            format!(
                "{} FOR UPDATE OF {table} SKIP LOCKED",
                dollars(&sql.replace("{now}", "now()"))
            )
        };
        let mut candidates: Vec<(i64, ClaimKind)> = Vec::new();
        for row in tx.query(&skip_locked(REQUESTED, "r"), &[&limit]).await? {
            candidates.push((
                row.try_get(0)?,
                ClaimKind::Now {
                    requested_by: row.try_get(1)?,
                    full: row.try_get(2)?,
                },
            ));
        }
        let room = limit - candidates.len() as i64;
        for row in tx
            .query(&skip_locked(CLAIMABLE, "s"), &[&due_by, &room])
            .await?
        {
            candidates.push((
                row.try_get(0)?,
                ClaimKind::Auto {
                    failures: failures_of(row.try_get(1)?),
                },
            ));
        }
        let mut claims = Vec::with_capacity(candidates.len());
        for (integration, kind) in candidates {
            if let Some(claim) = claim_one(&tx, integration, worker, ttl, kind).await? {
                claims.push(claim);
            }
        }
        tx.commit().await?;
        Ok(claims)
    }

    async fn request_sync(
        &self,
        integration: i64,
        requested_by: &str,
        full: bool,
    ) -> Result<SyncRequested, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let count = async |sql: &str| -> Result<i64, StoreError> {
            let sql = dollars(&sql.replace("{now}", "now()"));
            Ok(tx.query_one(&sql, &[&integration]).await?.try_get(0)?)
        };
        let answer = if count(RUNS_NOW).await? > 0 {
            SyncRequested::JoinedRunning
        } else {
            let queued = count(QUEUED_NOW).await? > 0;
            tx.execute(
                &dollars(&QUEUE_SYNC.replace("{now}", "now()")),
                &[&integration, &requested_by, &full],
            )
            .await?;
            match queued {
                true => SyncRequested::JoinedQueued,
                false => SyncRequested::Queued,
            }
        };
        tx.commit().await?;
        Ok(answer)
    }

    async fn queued_sync(&self, integration: i64) -> Result<Option<QueuedSync>, StoreError> {
        let row = self
            .reader()
            .await?
            .query_opt(&dollars(QUEUED_SYNC), &[&integration])
            .await?;
        row.map(|r| {
            Ok(QueuedSync {
                requested_by: r.try_get(0)?,
                full: r.try_get(1)?,
                requested_at: r.try_get(2)?,
            })
        })
        .transpose()
    }

    async fn running_sync(&self, integration: i64) -> Result<Option<RunningSync>, StoreError> {
        let row = self
            .reader()
            .await?
            .query_opt(&dollars(RUNNING_SYNC), &[&integration])
            .await?;
        row.map(|r| {
            Ok(RunningSync {
                run: r.try_get(0)?,
                started_at: r.try_get(1)?,
                started_by: r.try_get(2)?,
                done: count_of(r.try_get(3)?),
                total: r.try_get::<_, Option<i64>>(4)?.map(count_of),
                worker: r.try_get(5)?,
            })
        })
        .transpose()
    }

    async fn report_progress(
        &self,
        run: i64,
        done: u64,
        total: Option<u64>,
    ) -> Result<bool, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &dollars(REPORT_PROGRESS),
                &[&run, &stored_count(done), &total.map(stored_count)],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?.unwrap_or(false))
    }

    async fn request_cancel(&self, integration: i64) -> Result<CancelRequested, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let running = tx
            .execute(&dollars(CANCEL_RUNNING), &[&integration])
            .await?
            > 0;
        let queued = tx.execute(&dollars(DROP_REQUEST), &[&integration]).await? > 0;
        tx.commit().await?;
        Ok(CancelRequested { running, queued })
    }

    async fn end_claim(
        &self,
        integration: i64,
        fence: Fence,
        next_due: DateTime<Utc>,
        failures: u32,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            &dollars(RESCHEDULE),
            &[&integration, &fence.0, &next_due, &i64::from(failures)],
        )
        .await?;
        tx.execute(&dollars(RELEASE_LEASE), &[&integration, &fence.0])
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
