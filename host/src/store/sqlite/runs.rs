//! Runs, history, leases and schedules in SQLite.

use super::{SqliteStore, json_at, opt_time_at, parsed_at, time_at};
use crate::model::{Action, HistoryRow, RunCounts, RunEnd, Window, now, time_text};
use crate::policy::hash::json;
use crate::policy::lease::{INTERRUPTED, RunningRun, expiry, may_take};
use crate::store::fleet::RELEASE_LEASE;
use crate::store::{
    FINISH_RUN, Fence, INTERRUPT_RUNS, LeaseOutcome, RunStore, START_RUN, StoreError, run_finished,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use std::time::Duration;

/// Takes the integration's run lease for `holder` in `tx` if the policy allows it,
/// failing the runs a previous holder left running.
pub(super) fn take_lease(
    tx: &rusqlite::Transaction<'_>,
    integration: i64,
    holder: &str,
    ttl: Duration,
) -> Result<LeaseOutcome, StoreError> {
    // An embedded store's clock is its machine's, the clock of every process that opens
    // the file.
    let at = now();
    let current: Option<(String, bool)> = tx
        .query_row(
            "SELECT holder, expires_at FROM leases WHERE integration_id = ?1",
            [integration],
            |r| Ok((r.get(0)?, time_at(r, 1)? <= at)),
        )
        .optional()?;
    if let Some((other, _)) = current
        .as_ref()
        .filter(|(h, expired)| !may_take(Some((h, *expired)), holder))
    {
        return Ok(LeaseOutcome::HeldBy(other.clone()));
    }
    let fence = Fence::draw();
    tx.execute(
        "INSERT INTO leases (integration_id, holder, expires_at, fence) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (integration_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
           fence = excluded.fence",
        params![integration, holder, time_text(expiry(at, ttl)), fence.0],
    )?;
    // Holding the lease, any run still marked running was left by a holder that died.
    let interrupted = tx.execute(
        INTERRUPT_RUNS,
        params![integration, time_text(at), INTERRUPTED],
    )?;
    Ok(LeaseOutcome::Acquired {
        interrupted_runs: interrupted as u64,
        fence,
    })
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn acquire_lease(
        &self,
        integration: i64,
        holder: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        let holder = holder.to_string();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let outcome = take_lease(&tx, integration, &holder, ttl)?;
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    async fn renew_lease(
        &self,
        integration: i64,
        fence: Fence,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.call(move |conn| {
            let changed = conn.execute(
                "UPDATE leases SET expires_at = ?3 WHERE integration_id = ?1 AND fence = ?2",
                params![integration, fence.0, time_text(expiry(now(), ttl))],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn release_lease(&self, integration: i64, fence: Fence) -> Result<(), StoreError> {
        self.call(move |conn| {
            conn.execute(RELEASE_LEASE, params![integration, fence.0])?;
            Ok(())
        })
        .await
    }

    async fn running_runs(&self) -> Result<Vec<RunningRun>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare(
                "SELECT r.id, l.holder, l.expires_at FROM runs r LEFT JOIN leases l ON l.integration_id = r.integration_id
                 WHERE r.status = 'running' AND r.action IN ('sync_now', 'auto_sync') ORDER BY r.id",
            )?;
            let at = now();
            let rows = stmt.query_map([], |r| {
                let holder: Option<String> = r.get(1)?;
                let expired = opt_time_at(r, 2)?.map(|e| e <= at);
                Ok(RunningRun {
                    run: r.get(0)?,
                    lease: holder.zip(expired),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn fail_runs(&self, runs: &[i64], error: &str) -> Result<u64, StoreError> {
        let (runs, error) = (runs.to_vec(), error.to_string());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let at = time_text(now());
            let mut failed = 0;
            {
                let mut fail = tx.prepare_cached(
                    "UPDATE runs SET status = 'failed', finished_at = ?2, error = ?3 WHERE id = ?1 AND status = 'running'",
                )?;
                for run in &runs {
                    failed += fail.execute(params![run, at, error])? as u64;
                }
            }
            tx.commit()?;
            Ok(failed)
        })
        .await
    }

    async fn start_run(
        &self,
        integration: i64,
        action: Action,
        started_by: &str,
    ) -> Result<i64, StoreError> {
        let started_by = started_by.to_string();
        self.call(move |conn| {
            let started = conn.query_row(
                START_RUN,
                params![integration, action.as_str(), time_text(now()), started_by],
                |r| r.get(0),
            );
            match started {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Err(StoreError::Conflict {
                        what: format!("a running sync of integration #{integration}"),
                    })
                }
                other => Ok(other?),
            }
        })
        .await
    }

    async fn finish_run(
        &self,
        run: i64,
        end: &RunEnd,
        fence: Option<Fence>,
    ) -> Result<(), StoreError> {
        let end = end.clone();
        self.call(move |conn| {
            let c = &end.counts;
            let finished = conn.execute(
                FINISH_RUN,
                params![
                    run,
                    time_text(now()),
                    end.status.as_str(),
                    c.assets_onboarded,
                    c.assets_updated,
                    c.assets_skipped,
                    c.findings_new,
                    c.findings_updated,
                    c.findings_unchanged,
                    c.findings_skipped,
                    c.findings_closed,
                    json(&end.warnings),
                    end.error,
                    end.details,
                    fence.map(|f| f.0)
                ],
            )?;
            run_finished(finished as u64, fence)
        })
        .await
    }

    async fn record_run(
        &self,
        integration: i64,
        action: Action,
        started_by: &str,
        end: &RunEnd,
        details: Option<&str>,
    ) -> Result<i64, StoreError> {
        let (started_by, end, details) = (
            started_by.to_string(),
            end.clone(),
            details.map(str::to_string),
        );
        self.call(move |conn| {
            let c = &end.counts;
            conn.execute(
                "INSERT INTO runs (integration_id, action, started_at, finished_at, started_by, status, assets_onboarded, assets_updated,
                   assets_skipped, findings_new, findings_updated, findings_unchanged, findings_skipped, findings_closed, warnings, error, details)
                 VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                params![
                    integration, action.as_str(), time_text(now()), started_by, end.status.as_str(), c.assets_onboarded, c.assets_updated,
                    c.assets_skipped, c.findings_new, c.findings_updated, c.findings_unchanged, c.findings_skipped, c.findings_closed,
                    json(&end.warnings), end.error, details
                ],
            )?;
            Ok(conn.last_insert_rowid())
        })
        .await
    }

    async fn history(
        &self,
        integration: i64,
        window: Window,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        let limit = i64::try_from(window.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(window.offset).unwrap_or(i64::MAX);
        self.read(move |conn| {
            history_rows(
                conn,
                "integration_id = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3",
                params![integration, limit, offset],
            )
        })
        .await
    }

    async fn history_count(&self, integration: i64) -> Result<u64, StoreError> {
        self.read(move |conn| {
            let n: i64 = conn.query_row(
                "SELECT count(*) FROM runs WHERE integration_id = ?1",
                [integration],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn last_sync(&self, integration: i64) -> Result<Option<HistoryRow>, StoreError> {
        let actions = [Action::SyncNow.as_str(), Action::AutoSync.as_str()];
        self.read(move |conn| {
            let rows = history_rows(
                conn,
                "integration_id = ?1 AND action IN (?2, ?3) ORDER BY id DESC LIMIT 1",
                params![integration, actions[0], actions[1]],
            )?;
            Ok(rows.into_iter().next())
        })
        .await
    }

    async fn next_due(&self, integration: i64) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT next_due FROM schedules WHERE integration_id = ?1",
                    [integration],
                    |r| opt_time_at(r, 0),
                )
                .optional()?
                .flatten())
        })
        .await
    }
}

/// History rows whose `WHERE` clause (with its order and limit) is `condition`.
fn history_rows(
    conn: &rusqlite::Connection,
    condition: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<HistoryRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, action, started_at, finished_at, started_by, status, assets_onboarded, assets_updated, assets_skipped,
           findings_new, findings_updated, findings_unchanged, findings_skipped, findings_closed, warnings, error, details, worker
         FROM runs WHERE {condition}"
    ))?;
    let rows = stmt.query_map(params, |r| {
        Ok(HistoryRow {
            id: r.get(0)?,
            action: parsed_at(r, 1)?,
            started_at: time_at(r, 2)?,
            finished_at: opt_time_at(r, 3)?,
            started_by: r.get(4)?,
            status: parsed_at(r, 5)?,
            counts: RunCounts {
                assets_onboarded: r.get(6)?,
                assets_updated: r.get(7)?,
                assets_skipped: r.get(8)?,
                findings_new: r.get(9)?,
                findings_updated: r.get(10)?,
                findings_unchanged: r.get(11)?,
                findings_skipped: r.get(12)?,
                findings_closed: r.get(13)?,
            },
            warnings: json_at(r, 14)?,
            error: r.get(15)?,
            details: r.get(16)?,
            worker: r.get(17)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
