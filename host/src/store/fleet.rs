//! The fleet's part of the store: workers as rows with heartbeats, and due auto syncs
//! claimed in one transaction each, so any number of `serve` processes on one database
//! run every due sync exactly once. The database is the only coordinator: its clock
//! decides expiry, its row locks decide who claims what.

use super::runs::{RELEASE_LEASE, one_running, open_run, take_lease};
use super::sql::{Backend, Param, Session, StoredRow, Wait, clock};
use super::{Fence, LeaseOutcome, StoreError};
use crate::model::Action;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What a worker says of itself when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// Unique for the life of the process; what its leases and runs name.
    pub id: String,
    /// The machine (or container) it runs on, for people.
    pub host: String,
    /// Its process id on that machine, for people.
    pub pid: u32,
    /// The host's version.
    pub version: String,
    /// How long its leases last unrenewed: it beats three times in that while.
    pub lease_ttl: Duration,
}

/// A worker as the store knows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct WorkerRow {
    /// Its id.
    pub id: String,
    /// Its machine.
    pub host: String,
    /// Its process id there.
    pub pid: i64,
    /// Its version.
    pub version: String,
    /// How long its leases last unrenewed, in seconds: silent longer, it is lost.
    pub lease_ttl_s: f64,
    /// When it started, by the database's clock.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat, by the database's clock.
    pub heartbeat_at: DateTime<Utc>,
    /// Seconds since its last heartbeat, by the database's clock.
    pub heartbeat_age_s: f64,
    /// Set once it was told to stop: it claims nothing more.
    pub draining: bool,
    /// When it stopped, if it did so cleanly.
    pub stopped_at: Option<DateTime<Utc>>,
    /// The integrations whose run lease it holds, by name.
    pub running: Vec<String>,
}

/// A sync a worker claimed: its lease is taken, so no other worker claims it while the
/// lease lives. An auto sync's due time moves past the lease; a Sync Now's request stays
/// queued, shown as starting on the worker, until its run's row opens
/// ([`FleetStore::start_requested_sync`]): whoever looks in between sees it coming, and a
/// worker that dies before that leaves it to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The integration.
    pub integration: i64,
    /// Its name.
    pub name: String,
    /// The fence of the lease the claim took.
    pub fence: Fence,
    /// Runs left running by a worker that died, failed (interrupted) by the claim.
    pub interrupted_runs: u64,
    /// What it runs.
    pub kind: ClaimKind,
}

/// What a claimed sync is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimKind {
    /// A due auto sync.
    Auto {
        /// Transient failures of it in a row so far.
        failures: u32,
    },
    /// A Sync Now someone asked for.
    Now {
        /// Who asked.
        requested_by: String,
        /// Whether to read everything rather than the changes.
        full: bool,
    },
}

/// What asking for a Sync Now did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncRequested {
    /// Queued for the first free worker.
    Queued,
    /// Joined the request already waiting.
    JoinedQueued,
    /// Joined the sync already running.
    JoinedRunning,
}

/// A Sync Now waiting for a worker, or taken by one and starting.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct QueuedSync {
    /// Who asked first.
    pub requested_by: String,
    /// Whether it reads everything.
    pub full: bool,
    /// When it was first asked for.
    pub requested_at: DateTime<Utc>,
    /// The worker that took it and is starting it; none while it waits for one.
    pub starting_on: Option<String>,
}

/// A claimed Sync Now's run, opened as its request leaves the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestedStart {
    /// The run's history row.
    pub run: i64,
    /// The request was cancelled after the claim: the run must stop at once.
    pub withdrawn: bool,
}

/// A sync running on some worker, as its row says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RunningSync {
    /// Its history row.
    pub run: i64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Who started it.
    pub started_by: String,
    /// Records handled so far, as last reported (every second or so).
    pub done: u64,
    /// Records in all, when the plugin knows.
    pub total: Option<u64>,
    /// The worker running it.
    pub worker: Option<String>,
}

/// What asking to cancel found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CancelRequested {
    /// A running sync was asked to stop (at its next report, within seconds).
    pub running: bool,
    /// A queued Sync Now was dropped.
    pub queued: bool,
}

/// Workers, their heartbeats, and the claims of due auto syncs.
#[async_trait]
pub trait FleetStore: Send + Sync {
    /// The database's time: what every due time is compared with.
    async fn now(&self) -> Result<DateTime<Utc>, StoreError>;
    /// Records a worker that starts, forgetting workers that stopped or went silent more
    /// than a week ago.
    async fn register_worker(&self, worker: &WorkerInfo) -> Result<(), StoreError>;
    /// Records that the worker is alive; false when its row is gone.
    async fn heartbeat(&self, worker: &str) -> Result<bool, StoreError>;
    /// Marks the worker draining: it claims nothing more.
    async fn drain_worker(&self, worker: &str) -> Result<(), StoreError>;
    /// Marks the worker stopped, giving back any lease it still holds.
    async fn stop_worker(&self, worker: &str) -> Result<(), StoreError>;
    /// Every worker known, newest first, with the integrations each runs.
    async fn workers(&self) -> Result<Vec<WorkerRow>, StoreError>;
    /// How many auto syncs are due at `due_by` and not running: the fleet's queue.
    async fn due_count(&self, due_by: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Sets `first` as the due time of every auto sync that has none yet (turned on
    /// since a worker last looked); the names of those integrations.
    async fn schedule_new(&self, first: DateTime<Utc>) -> Result<Vec<String>, StoreError>;
    /// Claims up to `limit` auto syncs due at `due_by` that no live lease covers, for
    /// `worker`, each with a lease of `ttl`, in one transaction; rows another worker is
    /// claiming meanwhile are skipped, not waited for.
    async fn claim_due(
        &self,
        worker: &str,
        due_by: DateTime<Utc>,
        limit: usize,
        ttl: Duration,
    ) -> Result<Vec<Claim>, StoreError>;
    /// Asks for a Sync Now of `integration`: queued for the first free worker, unless a
    /// sync runs or one is queued already, which it joins (a full request makes a queued
    /// one full).
    async fn request_sync(
        &self,
        integration: i64,
        requested_by: &str,
        full: bool,
    ) -> Result<SyncRequested, StoreError>;
    /// Opens the run of a Sync Now this worker claimed with the lease `fence` and takes
    /// its request off the queue, in one transaction, so that it is always shown queued
    /// or running. A request gone (cancelled since the claim) is withdrawn: the run must
    /// stop. [`StoreError::LeaseLost`], and nothing opened, when the lease is no longer
    /// `fence` (a worker that stalled past it): the request is its new taker's.
    async fn start_requested_sync(
        &self,
        integration: i64,
        fence: Fence,
        started_by: &str,
    ) -> Result<RequestedStart, StoreError>;
    /// Ends a Sync Now's claim: drops its request (left there when its run could not
    /// start) and gives back the lease, in one transaction; nothing changes when the
    /// lease is no longer `fence`.
    async fn end_requested_claim(&self, integration: i64, fence: Fence) -> Result<(), StoreError>;
    /// The Sync Now waiting for a worker or starting on one, if there is one.
    async fn queued_sync(&self, integration: i64) -> Result<Option<QueuedSync>, StoreError>;
    /// The integration's running sync, wherever it runs, if one does.
    async fn running_sync(&self, integration: i64) -> Result<Option<RunningSync>, StoreError>;
    /// Records a running run's progress; whether someone asked to cancel it.
    async fn report_progress(
        &self,
        run: i64,
        done: u64,
        total: Option<u64>,
    ) -> Result<bool, StoreError>;
    /// Asks the integration's running sync to stop, and drops its queued Sync Now.
    async fn request_cancel(&self, integration: i64) -> Result<CancelRequested, StoreError>;
    /// Ends a claim: sets the next due time and the failure count, and gives the lease
    /// back, in one transaction, so no other worker can claim the sync between the two.
    /// Nothing changes when the lease is no longer `fence` (its taker decides).
    async fn end_claim(
        &self,
        integration: i64,
        fence: Fence,
        next_due: DateTime<Utc>,
        failures: u32,
    ) -> Result<(), StoreError>;
}

/// Starts an integration's schedule, due at the next slot, when auto sync is turned on
/// (?1 integration); an existing schedule is kept.
pub(crate) const START_SCHEDULE: &str =
    "INSERT INTO schedules (integration_id) VALUES (?1) ON CONFLICT (integration_id) DO NOTHING";
/// Drops an integration's schedule when auto sync is turned off (?1 integration).
pub(crate) const DROP_SCHEDULE: &str = "DELETE FROM schedules WHERE integration_id = ?1";

/// What keeps an integration's schedule in step with its auto-sync days: a schedule
/// while they are set, none while auto sync is off (?1 integration).
pub(crate) fn schedule_for(auto_sync_days: u32) -> &'static str {
    match auto_sync_days {
        0 => DROP_SCHEDULE,
        _ => START_SCHEDULE,
    }
}

/// The claimable syncs: due by ?1, at most ?2, with no lease alive at ?3 (the
/// database's clock), oldest due first.
const CLAIMABLE: &str = "SELECT s.integration_id, s.failures FROM schedules s
 WHERE s.next_due <= ?1
   AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.integration_id = s.integration_id AND l.expires_at > ?3)
 ORDER BY s.next_due, s.integration_id LIMIT ?2";

/// The queued Sync Nows no live lease covers at ?2: at most ?1, oldest first.
const REQUESTED: &str = "SELECT r.integration_id, r.requested_by, r.full_sync FROM sync_requests r
 WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE l.integration_id = r.integration_id AND l.expires_at > ?2)
 ORDER BY r.requested_at, r.integration_id LIMIT ?1";

/// Drops an integration's queued Sync Now (?1 integration).
const DROP_REQUEST: &str = "DELETE FROM sync_requests WHERE integration_id = ?1";

/// Drops an integration's queued Sync Now while the lease with the fence is its own (?1
/// integration, ?2 fence).
const DROP_CLAIMED_REQUEST: &str = "DELETE FROM sync_requests WHERE integration_id = ?1
 AND EXISTS (SELECT 1 FROM leases l WHERE l.integration_id = ?1 AND l.fence = ?2)";

/// An integration's name (?1 integration).
const INTEGRATION_NAME: &str = "SELECT name FROM integrations WHERE id = ?1";

/// Whether an integration runs or is about to: a running run, or a lease alive at ?2
/// (?1 integration).
const RUNS_NOW: &str =
    "SELECT (SELECT count(*) FROM runs WHERE integration_id = ?1 AND status = 'running' AND action IN ('sync_now', 'auto_sync'))
 + (SELECT count(*) FROM leases WHERE integration_id = ?1 AND expires_at > ?2)";

/// Whether an integration has a queued Sync Now (?1 integration).
const QUEUED_NOW: &str = "SELECT count(*) FROM sync_requests WHERE integration_id = ?1";

/// Queues a Sync Now, or makes the queued one full when this one is (?1 integration,
/// ?2 requested by, ?3 full, ?4 the time).
const QUEUE_SYNC: &str = "INSERT INTO sync_requests (integration_id, requested_by, full_sync, requested_at) VALUES (?1, ?2, ?3, ?4)
 ON CONFLICT (integration_id) DO UPDATE SET full_sync = (sync_requests.full_sync OR excluded.full_sync)";

/// The queued Sync Now of an integration, with the worker whose lease, alive at ?2,
/// covers it (?1 integration).
const QUEUED_SYNC: &str = "SELECT r.requested_by, r.full_sync, r.requested_at,
   (SELECT l.holder FROM leases l WHERE l.integration_id = r.integration_id AND l.expires_at > ?2)
 FROM sync_requests r WHERE r.integration_id = ?1";

/// The running run of an integration, with its progress (?1 integration).
const RUNNING_SYNC: &str =
    "SELECT id, started_at, started_by, progress_done, progress_total, worker FROM runs
 WHERE integration_id = ?1 AND status = 'running' AND action IN ('sync_now', 'auto_sync')";

/// Records a run's progress (?1 run, ?2 done, ?3 total); whether it was asked to stop.
const REPORT_PROGRESS: &str = "UPDATE runs SET progress_done = ?2, progress_total = ?3 WHERE id = ?1 RETURNING cancel_requested";

/// Asks an integration's running run to stop (?1 integration).
const CANCEL_RUNNING: &str = "UPDATE runs SET cancel_requested = TRUE WHERE integration_id = ?1 AND status = 'running' AND action IN ('sync_now', 'auto_sync')";

/// How many auto syncs are due by ?1 with no lease alive at ?2.
const DUE_COUNT: &str = "SELECT count(*) FROM schedules s
 WHERE s.next_due <= ?1
   AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.integration_id = s.integration_id AND l.expires_at > ?2)";

/// Sets a claimed sync's next due time and failures while its lease has the fence (?1
/// integration, ?2 fence, ?3 due, ?4 failures).
const RESCHEDULE: &str = "UPDATE schedules SET next_due = ?3, failures = ?4
 WHERE integration_id = ?1 AND EXISTS (SELECT 1 FROM leases l WHERE l.integration_id = ?1 AND l.fence = ?2)";

/// Every worker, with the names of the integrations whose lease it holds.
const WORKERS: &str = "SELECT w.id, w.host, w.pid, w.version, w.started_at, w.heartbeat_at, w.draining, w.stopped_at, w.lease_ttl_ms,
   (SELECT string_agg(i.name, ',' ORDER BY i.name) FROM leases l JOIN integrations i ON i.id = l.integration_id WHERE l.holder = w.id)
 FROM workers w ORDER BY w.started_at DESC, w.id";

/// How long a stopped or silent worker's row is kept, for the record.
const WORKER_RECORD_DAYS: i64 = 7;

/// A lease time as stored, in milliseconds.
fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

/// A count of failures as stored.
fn failures_of(stored: i64) -> u32 {
    u32::try_from(stored.max(0)).unwrap_or(u32::MAX)
}

/// Seconds from `then` to `now`, never below zero.
fn age_s(now: DateTime<Utc>, then: DateTime<Utc>) -> f64 {
    ((now - then).num_milliseconds().max(0) as f64) / 1000.0
}

/// A worker row from [`WORKERS`], its heartbeat's age measured at `at`.
fn worker_row(r: &impl StoredRow, at: DateTime<Utc>) -> Result<WorkerRow, StoreError> {
    let heartbeat_at = r.time(5)?;
    Ok(WorkerRow {
        id: r.text(0)?,
        host: r.text(1)?,
        pid: r.int(2)?,
        version: r.text(3)?,
        lease_ttl_s: r.int(8)? as f64 / 1000.0,
        started_at: r.time(4)?,
        heartbeat_at,
        heartbeat_age_s: age_s(at, heartbeat_at),
        draining: r.flag(6)?,
        stopped_at: r.opt_time(7)?,
        running: r
            .opt_text(9)?
            .map(|joined| joined.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
    })
}

/// Takes `integration`'s lease for `worker` and moves on what made it due; `None` when
/// another holds the lease or is taking it.
async fn claim_one<S: Session>(
    s: &mut S,
    integration: i64,
    worker: &str,
    ttl: Duration,
    kind: ClaimKind,
) -> Result<Option<Claim>, StoreError> {
    let LeaseOutcome::Acquired {
        interrupted_runs,
        fence,
    } = take_lease(s, integration, worker, ttl, Wait::Skip).await?
    else {
        return Ok(None);
    };
    let id = Param::Int(integration);
    // Due again once the lease could have lapsed: a worker that dies leaves the sync to
    // the next claim, which resumes it. A Sync Now's request stays until its run opens.
    if let ClaimKind::Auto { .. } = kind {
        s.execute(
            "UPDATE schedules SET next_due = ?2 WHERE integration_id = ?1",
            &[id.clone(), Param::FromNow(ttl)],
        )
        .await?;
    }
    let name = s.query_one(INTEGRATION_NAME, &[id]).await?.text(0)?;
    Ok(Some(Claim {
        integration,
        name,
        fence,
        interrupted_runs,
        kind,
    }))
}

#[async_trait]
impl<B: Backend> FleetStore for B {
    async fn now(&self) -> Result<DateTime<Utc>, StoreError> {
        self.clock().await
    }

    async fn register_worker(&self, worker: &WorkerInfo) -> Result<(), StoreError> {
        let w = worker.clone();
        self.write(Box::new(move |s| {
            Box::pin(async move {
                let forgotten = clock(s).await? - chrono::TimeDelta::days(WORKER_RECORD_DAYS);
                s.execute(
                    "DELETE FROM workers WHERE heartbeat_at < ?1",
                    &[Param::Time(forgotten)],
                )
                .await?;
                s.execute(
                    "INSERT INTO workers (id, host, pid, version, lease_ttl_ms, started_at, heartbeat_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                    &[
                        Param::text(w.id),
                        Param::text(w.host),
                        Param::Int(i64::from(w.pid)),
                        Param::text(w.version),
                        Param::Int(ttl_ms(w.lease_ttl)),
                        Param::NOW,
                    ],
                )
                .await?;
                Ok(())
            })
        }))
        .await
    }

    async fn heartbeat(&self, worker: &str) -> Result<bool, StoreError> {
        let beat = self
            .write_one(
                "UPDATE workers SET heartbeat_at = ?2 WHERE id = ?1",
                vec![Param::text(worker), Param::NOW],
            )
            .await?;
        Ok(beat == 1)
    }

    async fn drain_worker(&self, worker: &str) -> Result<(), StoreError> {
        self.write_one(
            "UPDATE workers SET draining = ?2 WHERE id = ?1",
            vec![Param::text(worker), Param::Bool(true)],
        )
        .await?;
        Ok(())
    }

    async fn stop_worker(&self, worker: &str) -> Result<(), StoreError> {
        let worker = Param::text(worker);
        self.write(Box::new(move |s| {
            Box::pin(async move {
                s.execute(
                    "DELETE FROM leases WHERE holder = ?1",
                    std::slice::from_ref(&worker),
                )
                    .await?;
                s.execute(
                    "UPDATE workers SET draining = ?3, stopped_at = ?2, heartbeat_at = ?2 WHERE id = ?1",
                    &[worker, Param::NOW, Param::Bool(true)],
                )
                .await?;
                Ok(())
            })
        }))
        .await
    }

    async fn workers(&self) -> Result<Vec<WorkerRow>, StoreError> {
        self.read(Box::new(|s| {
            Box::pin(async move {
                let at = clock(s).await?;
                let rows = s.query(WORKERS, &[]).await?;
                rows.iter().map(|r| worker_row(r, at)).collect()
            })
        }))
        .await
    }

    async fn due_count(&self, due_by: DateTime<Utc>) -> Result<u64, StoreError> {
        self.read(Box::new(move |s| {
            Box::pin(async move {
                s.query_one(DUE_COUNT, &[Param::Time(due_by), Param::NOW])
                    .await?
                    .count(0)
            })
        }))
        .await
    }

    async fn schedule_new(&self, first: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        self.write(Box::new(move |s| {
            Box::pin(async move {
                let rows = s
                    .query(
                        "UPDATE schedules SET next_due = ?1 WHERE next_due IS NULL
                         RETURNING (SELECT name FROM integrations WHERE id = integration_id)",
                        &[Param::Time(first)],
                    )
                    .await?;
                rows.iter().map(|r| r.text(0)).collect()
            })
        }))
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
        self.write(Box::new(move |s| {
            Box::pin(async move {
                // People waiting first: the queued Sync Nows, then the due auto syncs.
                let mut candidates: Vec<(i64, ClaimKind)> = Vec::new();
                let requested = s.skip_locked(REQUESTED, "r");
                for r in s
                    .query(&requested, &[Param::Int(limit), Param::NOW])
                    .await?
                {
                    let kind = ClaimKind::Now {
                        requested_by: r.text(1)?,
                        full: r.flag(2)?,
                    };
                    candidates.push((r.int(0)?, kind));
                }
                let room = limit - candidates.len() as i64;
                let claimable = s.skip_locked(CLAIMABLE, "s");
                let due = [Param::Time(due_by), Param::Int(room), Param::NOW];
                for r in s.query(&claimable, &due).await? {
                    let integration = r.int(0)?;
                    // One claim an integration: a queued Sync Now is its run (the auto
                    // sync stays due, and runs after it).
                    if candidates.iter().any(|(queued, _)| *queued == integration) {
                        continue;
                    }
                    let kind = ClaimKind::Auto {
                        failures: failures_of(r.int(1)?),
                    };
                    candidates.push((integration, kind));
                }
                let mut claims = Vec::with_capacity(candidates.len());
                for (integration, kind) in candidates {
                    if let Some(claim) = claim_one(s, integration, &worker, ttl, kind).await? {
                        claims.push(claim);
                    }
                }
                Ok(claims)
            })
        }))
        .await
    }

    async fn request_sync(
        &self,
        integration: i64,
        requested_by: &str,
        full: bool,
    ) -> Result<SyncRequested, StoreError> {
        let requested_by = Param::text(requested_by);
        self.write(Box::new(move |s| {
            Box::pin(async move {
                let id = Param::Int(integration);
                let runs = s
                    .query_one(RUNS_NOW, &[id.clone(), Param::NOW])
                    .await?
                    .int(0)?;
                if runs > 0 {
                    return Ok(SyncRequested::JoinedRunning);
                }
                let queued = s
                    .query_one(QUEUED_NOW, std::slice::from_ref(&id))
                    .await?
                    .int(0)?
                    > 0;
                s.execute(
                    QUEUE_SYNC,
                    &[id, requested_by, Param::Bool(full), Param::NOW],
                )
                .await?;
                Ok(match queued {
                    true => SyncRequested::JoinedQueued,
                    false => SyncRequested::Queued,
                })
            })
        }))
        .await
    }

    async fn start_requested_sync(
        &self,
        integration: i64,
        fence: Fence,
        started_by: &str,
    ) -> Result<RequestedStart, StoreError> {
        let started_by = started_by.to_string();
        let started = self
            .write(Box::new(move |s| {
                Box::pin(async move {
                    s.check_fence(integration, fence).await?;
                    let withdrawn = s.execute(DROP_REQUEST, &[Param::Int(integration)]).await? == 0;
                    let run = open_run(s, integration, Action::SyncNow, &started_by).await?;
                    Ok(RequestedStart { run, withdrawn })
                })
            }))
            .await;
        one_running(integration, started)
    }

    async fn end_requested_claim(&self, integration: i64, fence: Fence) -> Result<(), StoreError> {
        self.write(Box::new(move |s| {
            Box::pin(async move {
                let lease = [Param::Int(integration), Param::Int(fence.0)];
                s.execute(DROP_CLAIMED_REQUEST, &lease).await?;
                s.execute(RELEASE_LEASE, &lease).await?;
                Ok(())
            })
        }))
        .await
    }

    async fn queued_sync(&self, integration: i64) -> Result<Option<QueuedSync>, StoreError> {
        self.read(Box::new(move |s| {
            Box::pin(async move {
                let row = s
                    .query_opt(QUEUED_SYNC, &[Param::Int(integration), Param::NOW])
                    .await?;
                row.map(|r| {
                    Ok(QueuedSync {
                        requested_by: r.text(0)?,
                        full: r.flag(1)?,
                        requested_at: r.time(2)?,
                        starting_on: r.opt_text(3)?,
                    })
                })
                .transpose()
            })
        }))
        .await
    }

    async fn running_sync(&self, integration: i64) -> Result<Option<RunningSync>, StoreError> {
        self.read(Box::new(move |s| {
            Box::pin(async move {
                let row = s
                    .query_opt(RUNNING_SYNC, &[Param::Int(integration)])
                    .await?;
                row.map(|r| {
                    Ok(RunningSync {
                        run: r.int(0)?,
                        started_at: r.time(1)?,
                        started_by: r.text(2)?,
                        done: r.count(3)?,
                        total: r.opt_int(4)?.map(|t| u64::try_from(t).unwrap_or(0)),
                        worker: r.opt_text(5)?,
                    })
                })
                .transpose()
            })
        }))
        .await
    }

    async fn report_progress(
        &self,
        run: i64,
        done: u64,
        total: Option<u64>,
    ) -> Result<bool, StoreError> {
        let total = Param::OptInt(total.map(|t| i64::try_from(t).unwrap_or(i64::MAX)));
        self.write(Box::new(move |s| {
            Box::pin(async move {
                let row = s
                    .query_opt(
                        REPORT_PROGRESS,
                        &[Param::Int(run), Param::count(done), total],
                    )
                    .await?;
                Ok(row.map(|r| r.flag(0)).transpose()?.unwrap_or(false))
            })
        }))
        .await
    }

    async fn request_cancel(&self, integration: i64) -> Result<CancelRequested, StoreError> {
        self.write(Box::new(move |s| {
            Box::pin(async move {
                let id = [Param::Int(integration)];
                let running = s.execute(CANCEL_RUNNING, &id).await? > 0;
                let queued = s.execute(DROP_REQUEST, &id).await? > 0;
                Ok(CancelRequested { running, queued })
            })
        }))
        .await
    }

    async fn end_claim(
        &self,
        integration: i64,
        fence: Fence,
        next_due: DateTime<Utc>,
        failures: u32,
    ) -> Result<(), StoreError> {
        self.write(Box::new(move |s| {
            Box::pin(async move {
                let (id, fence) = (Param::Int(integration), Param::Int(fence.0));
                s.execute(
                    RESCHEDULE,
                    &[
                        id.clone(),
                        fence.clone(),
                        Param::Time(next_due),
                        Param::Int(i64::from(failures)),
                    ],
                )
                .await?;
                s.execute(RELEASE_LEASE, &[id, fence]).await?;
                Ok(())
            })
        }))
        .await
    }
}
