//! Runs, history and leases, once for both backends: the lease procedure (which the
//! claims of [`super::fleet`] share), the history rows and their mapping.

use super::sql::{Backend, Locked, Param, Session, StoredRow, Wait};
use super::{
    FINISH_RUN, Fence, INTERRUPT_RUNS, LeaseOutcome, RunStore, START_RUN, StoreError, run_finished,
};
use crate::model::{Action, HistoryRow, RunCounts, RunEnd, Window};
use crate::policy::lease::{INTERRUPTED, RunningRun, may_take};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Gives back the lease with the fence (?1 integration, ?2 fence).
pub(crate) const RELEASE_LEASE: &str =
    "DELETE FROM leases WHERE integration_id = ?1 AND fence = ?2";

/// Opens a history row in state `running` in the session's transaction; its id.
pub(crate) async fn open_run<S: Session>(
    s: &mut S,
    integration: i64,
    action: Action,
    started_by: &str,
) -> Result<i64, StoreError> {
    let run = [
        Param::Int(integration),
        Param::text(action.as_str()),
        Param::NOW,
        Param::text(started_by),
    ];
    s.query_one(START_RUN, &run).await?.int(0)
}

/// What opening a run came to, a second running sync of `integration` (which the
/// database refuses) answered as the conflict it is.
pub(crate) fn one_running<T>(
    integration: i64,
    started: Result<T, StoreError>,
) -> Result<T, StoreError> {
    match started {
        Err(e) if e.is_unique_violation() => Err(StoreError::Conflict {
            what: format!("a running sync of integration #{integration}"),
        }),
        other => other,
    }
}

/// The columns of a history row, in [`history_row`]'s order.
const HISTORY_COLUMNS: &str = "SELECT id, action, started_at, finished_at, started_by, status, assets_onboarded, assets_updated, assets_skipped,
   findings_new, findings_updated, findings_unchanged, findings_skipped, findings_closed, warnings, error, details, worker FROM runs";

/// Takes the integration's run lease for `holder` in the session's transaction if the
/// policy allows it, failing the runs a previous holder left running. With
/// [`Wait::Skip`], an integration another transaction is taking is answered as held by
/// it.
pub(crate) async fn take_lease<S: Session>(
    s: &mut S,
    integration: i64,
    holder: &str,
    ttl: Duration,
    wait: Wait,
) -> Result<LeaseOutcome, StoreError> {
    match s.lock_integration(integration, wait).await? {
        Locked::Yes => {}
        Locked::Busy => return Ok(LeaseOutcome::HeldBy("another worker".into())),
        Locked::Missing => {
            return Err(StoreError::not_found(format!("integration #{integration}")));
        }
    }
    // Expiry by the database's clock: the workers' clocks may disagree.
    let current = s
        .query_opt(
            "SELECT holder, expires_at <= ?2 FROM leases WHERE integration_id = ?1",
            &[Param::Int(integration), Param::NOW],
        )
        .await?
        .map(|r| Ok::<_, StoreError>((r.text(0)?, r.flag(1)?)))
        .transpose()?;
    if let Some((other, _)) = current
        .as_ref()
        .filter(|(h, expired)| !may_take(Some((h, *expired)), holder))
    {
        return Ok(LeaseOutcome::HeldBy(other.clone()));
    }
    let fence = Fence::draw();
    s.execute(
        "INSERT INTO leases (integration_id, holder, expires_at, fence) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (integration_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
           fence = excluded.fence",
        &[Param::Int(integration), Param::text(holder), Param::FromNow(ttl), Param::Int(fence.0)],
    )
    .await?;
    // Holding the lease, any run still marked running was left by a holder that died.
    let interrupted_runs = s
        .execute(
            INTERRUPT_RUNS,
            &[
                Param::Int(integration),
                Param::NOW,
                Param::text(INTERRUPTED),
            ],
        )
        .await?;
    Ok(LeaseOutcome::Acquired {
        interrupted_runs,
        fence,
    })
}

/// A history row, from [`HISTORY_COLUMNS`].
fn history_row(r: &impl StoredRow) -> Result<HistoryRow, StoreError> {
    Ok(HistoryRow {
        id: r.int(0)?,
        action: r.parsed(1)?,
        started_at: r.time(2)?,
        finished_at: r.opt_time(3)?,
        started_by: r.text(4)?,
        status: r.parsed(5)?,
        counts: RunCounts {
            assets_onboarded: r.count(6)?,
            assets_updated: r.count(7)?,
            assets_skipped: r.count(8)?,
            findings_new: r.count(9)?,
            findings_updated: r.count(10)?,
            findings_unchanged: r.count(11)?,
            findings_skipped: r.count(12)?,
            findings_closed: r.count(13)?,
        },
        warnings: r.json(14, "run warnings")?,
        error: r.opt_text(15)?,
        details: r.opt_text(16)?,
        worker: r.opt_text(17)?,
    })
}

/// The history rows whose `WHERE` clause (with its order and limit) is `condition`.
async fn history_rows<S: Session>(
    s: &mut S,
    condition: &str,
    params: &[Param],
) -> Result<Vec<HistoryRow>, StoreError> {
    let rows = s
        .query(&format!("{HISTORY_COLUMNS} WHERE {condition}"), params)
        .await?;
    rows.iter().map(history_row).collect()
}

/// A run's counts as statement parameters, in column order.
fn counts(c: &RunCounts) -> [Param; 8] {
    [
        Param::count(c.assets_onboarded),
        Param::count(c.assets_updated),
        Param::count(c.assets_skipped),
        Param::count(c.findings_new),
        Param::count(c.findings_updated),
        Param::count(c.findings_unchanged),
        Param::count(c.findings_skipped),
        Param::count(c.findings_closed),
    ]
}

/// A run's warnings as stored.
fn warnings(end: &RunEnd) -> Param {
    Param::Json(serde_json::Value::from(end.warnings.clone()))
}

#[async_trait]
impl<B: Backend> RunStore for B {
    async fn acquire_lease(
        &self,
        integration: i64,
        holder: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        let holder = holder.to_string();
        self.write(Box::new(move |s| {
            Box::pin(async move { take_lease(s, integration, &holder, ttl, Wait::Block).await })
        }))
        .await
    }

    async fn renew_lease(
        &self,
        integration: i64,
        fence: Fence,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let renewed = self
            .write_one(
                "UPDATE leases SET expires_at = ?3 WHERE integration_id = ?1 AND fence = ?2",
                vec![
                    Param::Int(integration),
                    Param::Int(fence.0),
                    Param::FromNow(ttl),
                ],
            )
            .await?;
        Ok(renewed == 1)
    }

    async fn release_lease(&self, integration: i64, fence: Fence) -> Result<(), StoreError> {
        let lease = vec![Param::Int(integration), Param::Int(fence.0)];
        self.write_one(RELEASE_LEASE, lease).await?;
        Ok(())
    }

    async fn running_runs(&self) -> Result<Vec<RunningRun>, StoreError> {
        // On the writers' connections: the sweep must not wait behind the listings.
        self.write(Box::new(move |s| {
            Box::pin(async move {
                let rows = s
                    .query(
                        "SELECT r.id, l.holder, l.expires_at <= ?1 FROM runs r LEFT JOIN leases l ON l.integration_id = r.integration_id
                         WHERE r.status = 'running' AND r.action IN ('sync_now', 'auto_sync') ORDER BY r.id",
                        &[Param::NOW],
                    )
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(RunningRun {
                            run: r.int(0)?,
                            lease: r.opt_text(1)?.zip(r.opt_flag(2)?),
                        })
                    })
                    .collect()
            })
        }))
        .await
    }

    async fn fail_runs(&self, runs: &[i64], error: &str) -> Result<u64, StoreError> {
        let (runs, error) = (runs.to_vec(), error.to_string());
        self.write(Box::new(move |s| {
            Box::pin(async move {
                let mut failed = 0;
                for run in runs {
                    failed += s
                        .execute(
                            "UPDATE runs SET status = 'failed', finished_at = ?2, error = ?3 WHERE id = ?1 AND status = 'running'",
                            &[Param::Int(run), Param::NOW, Param::text(&error)],
                        )
                        .await?;
                }
                Ok(failed)
            })
        }))
        .await
    }

    async fn start_run(
        &self,
        integration: i64,
        action: Action,
        started_by: &str,
    ) -> Result<i64, StoreError> {
        let started_by = started_by.to_string();
        let started = self
            .write(Box::new(move |s| {
                Box::pin(async move { open_run(s, integration, action, &started_by).await })
            }))
            .await;
        one_running(integration, started)
    }

    async fn finish_run(
        &self,
        run: i64,
        end: &RunEnd,
        fence: Option<Fence>,
    ) -> Result<(), StoreError> {
        let [c0, c1, c2, c3, c4, c5, c6, c7] = counts(&end.counts);
        let params = vec![
            Param::Int(run),
            Param::NOW,
            Param::text(end.status.as_str()),
            c0,
            c1,
            c2,
            c3,
            c4,
            c5,
            c6,
            c7,
            warnings(end),
            Param::OptText(end.error.clone()),
            Param::OptText(end.details.clone()),
            Param::OptInt(fence.map(|f| f.0)),
        ];
        let finished = self
            .write(Box::new(move |s| {
                Box::pin(async move { s.execute(FINISH_RUN, &params).await })
            }))
            .await
            .and_then(|rows| run_finished(rows, fence));
        // The upkeep of a large write only when the run's end was stored.
        let written = match finished {
            Ok(()) => end.counts.findings_written(),
            Err(_) => 0,
        };
        self.run_ended(fence, written).await;
        finished
    }

    async fn record_run(
        &self,
        integration: i64,
        action: Action,
        started_by: &str,
        end: &RunEnd,
        details: Option<&str>,
    ) -> Result<i64, StoreError> {
        let mut params = vec![
            Param::Int(integration),
            Param::text(action.as_str()),
            Param::NOW,
            Param::text(started_by),
            Param::text(end.status.as_str()),
        ];
        params.extend(counts(&end.counts));
        params.extend([
            warnings(end),
            Param::OptText(end.error.clone()),
            Param::OptText(details.map(str::to_string)),
        ]);
        self.write(Box::new(move |s| {
            Box::pin(async move {
                s.query_one(
                    "INSERT INTO runs (integration_id, action, started_at, finished_at, started_by, status, assets_onboarded, assets_updated,
                       assets_skipped, findings_new, findings_updated, findings_unchanged, findings_skipped, findings_closed, warnings, error, details)
                     VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) RETURNING id",
                    &params,
                )
                .await?
                .int(0)
            })
        }))
        .await
    }

    async fn history(
        &self,
        integration: i64,
        window: Window,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        let (limit, offset) = (Param::count(window.limit), Param::count(window.offset));
        self.read(Box::new(move |s| {
            Box::pin(async move {
                history_rows(
                    s,
                    "integration_id = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3",
                    &[Param::Int(integration), limit, offset],
                )
                .await
            })
        }))
        .await
    }

    async fn history_count(&self, integration: i64) -> Result<u64, StoreError> {
        self.read(Box::new(move |s| {
            Box::pin(async move {
                s.query_one(
                    "SELECT count(*) FROM runs WHERE integration_id = ?1",
                    &[Param::Int(integration)],
                )
                .await?
                .count(0)
            })
        }))
        .await
    }

    async fn last_sync(&self, integration: i64) -> Result<Option<HistoryRow>, StoreError> {
        self.read(Box::new(move |s| {
            Box::pin(async move {
                let rows = history_rows(
                    s,
                    "integration_id = ?1 AND action IN ('sync_now', 'auto_sync') ORDER BY id DESC LIMIT 1",
                    &[Param::Int(integration)],
                )
                .await?;
                Ok(rows.into_iter().next())
            })
        }))
        .await
    }

    async fn next_due(&self, integration: i64) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.read(Box::new(move |s| {
            Box::pin(async move {
                let row = s
                    .query_opt(
                        "SELECT next_due FROM schedules WHERE integration_id = ?1",
                        &[Param::Int(integration)],
                    )
                    .await?;
                Ok(row.map(|r| r.opt_time(0)).transpose()?.flatten())
            })
        }))
        .await
    }
}
