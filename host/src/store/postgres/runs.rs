//! Runs, history, leases and schedules in PostgreSQL.

use super::ingest::dollars;
use super::{PostgresStore, count, json_at, parsed_at, stored_count};
use crate::model::{Action, HistoryRow, RunCounts, RunEnd, Window, now};
use crate::policy::lease::{INTERRUPTED, RunningRun, may_take};
use crate::store::fleet::RELEASE_LEASE;
use crate::store::{
    FINISH_RUN, Fence, INTERRUPT_RUNS, LeaseOutcome, RunStore, START_RUN, StoreError, run_finished,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// A duration as whole milliseconds, for `interval` arithmetic in SQL.
pub(super) fn millis(d: Duration) -> f64 {
    d.as_millis() as f64
}

/// The counts of a run as statement parameters, in column order.
fn counts(c: &RunCounts) -> [i64; 8] {
    [
        count(c.assets_onboarded),
        count(c.assets_updated),
        count(c.assets_skipped),
        count(c.findings_new),
        count(c.findings_updated),
        count(c.findings_unchanged),
        count(c.findings_skipped),
        count(c.findings_closed),
    ]
}

/// Findings a run writes from which it vacuums and analyses them itself, rather than
/// leave that to autovacuum a minute or more later.
pub(super) const LARGE_WRITE: u64 = 10_000;

/// The findings columns the listings filter and sort on: the statistics the planner
/// needs for them, without sampling the wide raw records (a third of the time).
const PLANNED_COLUMNS: &str = "integration_id, severity_rank, status, title, text_id, asset_source_id, status_changed_at, created_at";

impl PostgresStore {
    /// After a large write, vacuums and analyses the findings. Until autovacuum comes
    /// round (a minute or more), a search plans for a few dozen matches where there are
    /// thousands, and counting a page's findings by severity reads every row, as no page
    /// is yet marked all-visible for an index-only scan: 100 ms instead of 15 on 70k
    /// findings. The vacuum of rows just written takes a tenth of a second. Only upkeep: a
    /// failure is logged, and a worker that finds the table being vacuumed skips it.
    async fn refresh_statistics(&self) {
        let upkeep = async {
            self.client()
                .await?
                .batch_execute(&format!(
                    "VACUUM (ANALYZE, SKIP_LOCKED) findings ({PLANNED_COLUMNS}), finding_texts"
                ))
                .await?;
            Ok::<_, StoreError>(())
        };
        if let Err(e) = upkeep.await {
            tracing::warn!(error = %e, "could not vacuum the findings after a large sync");
        }
    }
}

/// Whether taking a lease waits for another taker of the same integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// Wait: one asked for this integration.
    Block,
    /// Pass it by: a claim takes whatever is free.
    Skip,
}

/// Takes the integration's run lease for `holder` in `tx` if the policy allows it,
/// failing the runs a previous holder left running. With [`Wait::Skip`], an integration
/// another transaction is taking is answered as held by it (`None` is a missing one).
pub(super) async fn take_lease(
    tx: &tokio_postgres::Transaction<'_>,
    integration: i64,
    holder: &str,
    ttl: Duration,
    wait: Wait,
) -> Result<LeaseOutcome, StoreError> {
    // Locking the integration's row serialises takers, whether a lease row exists or
    // not. Not FOR UPDATE: a writer holding the lease row share-locked needs a key share
    // on this row for its foreign keys, and would wait on us while we wait on it.
    let lock = match wait {
        Wait::Block => "SELECT 1 FROM integrations WHERE id = $1 FOR NO KEY UPDATE",
        Wait::Skip => "SELECT 1 FROM integrations WHERE id = $1 FOR NO KEY UPDATE SKIP LOCKED",
    };
    if tx.query_opt(lock, &[&integration]).await?.is_none() {
        return match wait {
            Wait::Block => Err(StoreError::not_found(format!("integration #{integration}"))),
            Wait::Skip => Ok(LeaseOutcome::HeldBy("another worker".into())),
        };
    }
    // Expiry by the database's clock: the workers' clocks may disagree.
    let current: Option<(String, bool)> = tx
        .query_opt(
            "SELECT holder, expires_at <= now() FROM leases WHERE integration_id = $1",
            &[&integration],
        )
        .await?
        .map(|r| Ok::<_, StoreError>((r.try_get(0)?, r.try_get(1)?)))
        .transpose()?;
    if let Some((other, _)) = current
        .as_ref()
        .filter(|(h, expired)| !may_take(Some((h, *expired)), holder))
    {
        return Ok(LeaseOutcome::HeldBy(other.clone()));
    }
    let fence = Fence::draw();
    tx.execute(
        "INSERT INTO leases (integration_id, holder, expires_at, fence) VALUES ($1, $2, now() + $3 * interval '1 millisecond', $4)
         ON CONFLICT (integration_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at,
           fence = EXCLUDED.fence",
        &[&integration, &holder, &millis(ttl), &fence.0],
    )
    .await?;
    // Holding the lease, any run still marked running was left by a holder that died.
    let interrupted = tx
        .execute(
            &dollars(INTERRUPT_RUNS),
            &[&integration, &now(), &INTERRUPTED],
        )
        .await?;
    Ok(LeaseOutcome::Acquired {
        interrupted_runs: interrupted,
        fence,
    })
}

#[async_trait]
impl RunStore for PostgresStore {
    async fn acquire_lease(
        &self,
        integration: i64,
        holder: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let outcome = take_lease(&tx, integration, holder, ttl, Wait::Block).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn renew_lease(
        &self,
        integration: i64,
        fence: Fence,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let changed = self
            .client()
            .await?
            .execute(
                "UPDATE leases SET expires_at = now() + $3 * interval '1 millisecond' WHERE integration_id = $1 AND fence = $2",
                &[&integration, &fence.0, &millis(ttl)],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn release_lease(&self, integration: i64, fence: Fence) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(&dollars(RELEASE_LEASE), &[&integration, &fence.0])
            .await?;
        Ok(())
    }

    async fn running_runs(&self) -> Result<Vec<RunningRun>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT r.id, l.holder, l.expires_at <= now() FROM runs r LEFT JOIN leases l ON l.integration_id = r.integration_id
                 WHERE r.status = 'running' AND r.action IN ('sync_now', 'auto_sync') ORDER BY r.id",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let holder: Option<String> = r.try_get(1)?;
                let expired: Option<bool> = r.try_get(2)?;
                Ok(RunningRun {
                    run: r.try_get(0)?,
                    lease: holder.zip(expired),
                })
            })
            .collect()
    }

    async fn fail_runs(&self, runs: &[i64], error: &str) -> Result<u64, StoreError> {
        Ok(self
            .client()
            .await?
            .execute(
                "UPDATE runs SET status = 'failed', finished_at = $2, error = $3 WHERE id = ANY($1) AND status = 'running'",
                &[&runs, &now(), &error],
            )
            .await?)
    }

    async fn start_run(
        &self,
        integration: i64,
        action: Action,
        started_by: &str,
    ) -> Result<i64, StoreError> {
        let started = self
            .client()
            .await?
            .query_one(
                &dollars(START_RUN),
                &[&integration, &action.as_str(), &now(), &started_by],
            )
            .await;
        match started {
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                Err(StoreError::Conflict {
                    what: format!("a running sync of integration #{integration}"),
                })
            }
            other => Ok(other?.try_get(0)?),
        }
    }

    async fn finish_run(
        &self,
        run: i64,
        end: &RunEnd,
        fence: Option<Fence>,
    ) -> Result<(), StoreError> {
        let c = counts(&end.counts);
        let warnings = serde_json::to_value(&end.warnings).expect("plain data");
        let finished = self
            .client()
            .await?
            .execute(
                &dollars(FINISH_RUN),
                &[
                    &run,
                    &now(),
                    &end.status.as_str(),
                    &c[0],
                    &c[1],
                    &c[2],
                    &c[3],
                    &c[4],
                    &c[5],
                    &c[6],
                    &c[7],
                    &warnings,
                    &end.error,
                    &end.details,
                    &fence.map(|f| f.0),
                ],
            )
            .await?;
        if let Some(fence) = fence {
            self.forget_server_start(fence);
        }
        run_finished(finished, fence)?;
        if end.counts.findings_written() >= LARGE_WRITE {
            self.refresh_statistics().await;
        }
        Ok(())
    }

    async fn record_run(
        &self,
        integration: i64,
        action: Action,
        started_by: &str,
        end: &RunEnd,
        details: Option<&str>,
    ) -> Result<i64, StoreError> {
        let c = counts(&end.counts);
        let warnings = serde_json::to_value(&end.warnings).expect("plain data");
        let row = self
            .client()
            .await?
            .query_one(
                "INSERT INTO runs (integration_id, action, started_at, finished_at, started_by, status, assets_onboarded, assets_updated,
                   assets_skipped, findings_new, findings_updated, findings_unchanged, findings_skipped, findings_closed, warnings, error, details)
                 VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id",
                &[&integration, &action.as_str(), &now(), &started_by, &end.status.as_str(), &c[0], &c[1], &c[2], &c[3], &c[4], &c[5],
                  &c[6], &c[7], &warnings, &end.error, &details],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn history(
        &self,
        integration: i64,
        window: Window,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        let (limit, offset) = (count(window.limit), count(window.offset));
        self.history_rows(
            "integration_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
            &[&integration, &limit, &offset],
        )
        .await
    }

    async fn history_count(&self, integration: i64) -> Result<u64, StoreError> {
        let row = self
            .reader()
            .await?
            .query_one(
                "SELECT count(*) FROM runs WHERE integration_id = $1",
                &[&integration],
            )
            .await?;
        Ok(stored_count(&row, 0))
    }

    async fn last_sync(&self, integration: i64) -> Result<Option<HistoryRow>, StoreError> {
        let actions = vec![
            Action::SyncNow.as_str().to_string(),
            Action::AutoSync.as_str().to_string(),
        ];
        let rows = self
            .history_rows(
                "integration_id = $1 AND action = ANY($2) ORDER BY id DESC LIMIT 1",
                &[&integration, &actions],
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    async fn next_due(&self, integration: i64) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = self
            .reader()
            .await?
            .query_opt(
                "SELECT next_due FROM schedules WHERE integration_id = $1",
                &[&integration],
            )
            .await?;
        let due: Option<Option<DateTime<Utc>>> = row.map(|r| r.try_get(0)).transpose()?;
        Ok(due.flatten())
    }
}

impl PostgresStore {
    /// History rows whose `WHERE` clause (with its order and limit) is `condition`.
    async fn history_rows(
        &self,
        condition: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<HistoryRow>, StoreError> {
        let rows = self
            .reader()
            .await?
            .query(
                &format!(
                    "SELECT id, action, started_at, finished_at, started_by, status, assets_onboarded, assets_updated, assets_skipped,
                       findings_new, findings_updated, findings_unchanged, findings_skipped, findings_closed, warnings, error, details, worker
                     FROM runs WHERE {condition}"
                ),
                params,
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(HistoryRow {
                    id: r.try_get(0)?,
                    action: parsed_at(r, 1)?,
                    started_at: r.try_get(2)?,
                    finished_at: r.try_get(3)?,
                    started_by: r.try_get(4)?,
                    status: parsed_at(r, 5)?,
                    counts: RunCounts {
                        assets_onboarded: stored_count(r, 6),
                        assets_updated: stored_count(r, 7),
                        assets_skipped: stored_count(r, 8),
                        findings_new: stored_count(r, 9),
                        findings_updated: stored_count(r, 10),
                        findings_unchanged: stored_count(r, 11),
                        findings_skipped: stored_count(r, 12),
                        findings_closed: stored_count(r, 13),
                    },
                    warnings: json_at(r, 14, "run warnings")?,
                    error: r.try_get(15)?,
                    details: r.try_get(16)?,
                    worker: r.try_get(17)?,
                })
            })
            .collect()
    }
}
