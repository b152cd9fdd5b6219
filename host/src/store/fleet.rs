//! The fleet's part of the store: workers as rows with heartbeats, and due auto syncs
//! claimed in one transaction each, so any number of `serve` processes on one database
//! run every due sync exactly once. The database is the only coordinator: its clock
//! decides expiry, its row locks decide who claims what.

use super::{Fence, StoreError};
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

/// A due auto sync a worker claimed: its lease is taken and its schedule moved past the
/// lease, so no other worker claims it while the lease lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The integration.
    pub integration: i64,
    /// Its name.
    pub name: String,
    /// The fence of the lease the claim took.
    pub fence: Fence,
    /// Transient failures of its auto sync in a row so far.
    pub failures: u32,
    /// Runs left running by a worker that died, failed (interrupted) by the claim.
    pub interrupted_runs: u64,
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

/// The claimable syncs: due by ?1, at most ?2, with no lease alive at `{now}` (the
/// database's clock), oldest due first.
pub(crate) const CLAIMABLE: &str = "SELECT s.integration_id, s.failures FROM schedules s
 WHERE s.next_due <= ?1
   AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.integration_id = s.integration_id AND l.expires_at > {now})
 ORDER BY s.next_due, s.integration_id LIMIT ?2";

/// Sets a claimed sync's next due time and failures while its lease has the fence (?1
/// integration, ?2 fence, ?3 due, ?4 failures).
pub(crate) const RESCHEDULE: &str = "UPDATE schedules SET next_due = ?3, failures = ?4
 WHERE integration_id = ?1 AND EXISTS (SELECT 1 FROM leases l WHERE l.integration_id = ?1 AND l.fence = ?2)";

/// Gives back the lease with the fence (?1 integration, ?2 fence).
pub(crate) const RELEASE_LEASE: &str =
    "DELETE FROM leases WHERE integration_id = ?1 AND fence = ?2";

/// Every worker, with the names of the integrations whose lease it holds.
pub(crate) const WORKERS: &str = "SELECT w.id, w.host, w.pid, w.version, w.started_at, w.heartbeat_at, w.draining, w.stopped_at, w.lease_ttl_ms,
   (SELECT string_agg(i.name, ',' ORDER BY i.name) FROM leases l JOIN integrations i ON i.id = l.integration_id WHERE l.holder = w.id)
 FROM workers w ORDER BY w.started_at DESC, w.id";

/// How long a stopped or silent worker's row is kept, for the record.
pub(crate) const WORKER_RECORD_DAYS: i64 = 7;

/// A lease time as stored, in milliseconds.
pub(crate) fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

/// A stored lease time in milliseconds, in seconds.
pub(crate) fn ttl_s(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// A count of failures as stored.
pub(crate) fn failures_of(stored: i64) -> u32 {
    u32::try_from(stored.max(0)).unwrap_or(u32::MAX)
}

/// Seconds from `then` to `now`, never below zero.
pub(crate) fn age_s(now: DateTime<Utc>, then: DateTime<Utc>) -> f64 {
    ((now - then).num_milliseconds().max(0) as f64) / 1000.0
}

/// The names of a comma-joined list, none for none.
pub(crate) fn names(joined: Option<String>) -> Vec<String> {
    joined
        .map(|j| j.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}
