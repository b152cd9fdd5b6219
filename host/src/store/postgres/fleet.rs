//! Workers and claims in PostgreSQL: due schedules are locked `FOR UPDATE SKIP LOCKED`,
//! so workers claiming at once divide the due syncs between them without waiting on each
//! other, and every time is the database's `now()`.

use super::PostgresStore;
use super::ingest::dollars;
use super::runs::{Wait, millis, take_lease};
use crate::store::fleet::{
    CLAIMABLE, FleetStore, RELEASE_LEASE, RESCHEDULE, WORKER_RECORD_DAYS, WORKERS, age_s,
    failures_of, names, ttl_ms, ttl_s,
};
use crate::store::{Claim, Fence, LeaseOutcome, StoreError, WorkerInfo, WorkerRow};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

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
        let claimable = format!(
            "{} FOR UPDATE OF s SKIP LOCKED",
            dollars(&CLAIMABLE.replace("{now}", "now()"))
        );
        let due = tx.query(&claimable, &[&due_by, &limit]).await?;
        let mut claims = Vec::with_capacity(due.len());
        for row in due {
            let (integration, failures): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
            let LeaseOutcome::Acquired {
                interrupted_runs,
                fence,
            } = take_lease(&tx, integration, worker, ttl, Wait::Skip).await?
            else {
                continue;
            };
            // Due again once the lease could have lapsed: a worker that dies leaves the
            // sync to the next claim, which resumes it.
            let name = tx
                .query_one(
                    "UPDATE schedules SET next_due = now() + $2 * interval '1 millisecond' WHERE integration_id = $1
                     RETURNING (SELECT name FROM integrations WHERE id = $1)",
                    &[&integration, &millis(ttl)],
                )
                .await?
                .try_get(0)?;
            claims.push(Claim {
                integration,
                name,
                fence,
                failures: failures_of(failures),
                interrupted_runs,
            });
        }
        tx.commit().await?;
        Ok(claims)
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
