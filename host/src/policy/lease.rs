//! Run leases: who may run an integration right now. A lease lives while its holder
//! renews it, by the store's clock; nothing else about the holder (its host name, its
//! process id) is consulted, since containers share host names and processes on other
//! machines cannot be seen.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// How long a lease lasts without renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(60);

/// A new worker id: `host/pid/random`, unique for the life of the process however many
/// workers share a host name and a pid namespace. Only people read its parts.
pub fn worker_id() -> String {
    let drawn = getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    });
    format!("{}/{}/{drawn:016x}", hostname(), std::process::id())
}

/// This machine's name, for people reading the list of workers.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}

/// The expiry time, `ttl` after `now`.
pub fn expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60))
}

/// Whether `me` may take a lease that `current` (holder, and whether it expired by the
/// store's clock, never a worker's: workers' clocks disagree) holds: when nobody holds
/// it, when we do, or when it expired.
pub fn may_take(current: Option<(&str, bool)>, me: &str) -> bool {
    match current {
        None => true,
        Some((holder, expired)) => holder == me || expired,
    }
}

/// A run marked running, and the lease of its integration if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningRun {
    /// The run.
    pub run: i64,
    /// Its integration's lease: holder, and whether it expired by the store's clock.
    pub lease: Option<(String, bool)>,
}

/// The runs among `running` that nobody runs any more: no lease, or a lapsed one.
pub fn abandoned(running: &[RunningRun]) -> Vec<i64> {
    running
        .iter()
        .filter(|r| match &r.lease {
            None => true,
            Some((_, expired)) => *expired,
        })
        .map(|r| r.run)
        .collect()
}

/// What a worker's row says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Beating, and claiming due syncs.
    Active,
    /// Told to stop: finishing, and claiming nothing more.
    Draining,
    /// Stopped cleanly.
    Stopped,
    /// Silent for longer than a lease lasts: it died or lost the database, and its
    /// syncs go to other workers.
    Lost,
}

impl WorkerState {
    /// Its name, as the API and the CLI show it.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Active => "active",
            WorkerState::Draining => "draining",
            WorkerState::Stopped => "stopped",
            WorkerState::Lost => "lost",
        }
    }
}

/// The state of `worker`: lost once silent for longer than its own leases last.
pub fn worker_state(worker: &crate::store::WorkerRow) -> WorkerState {
    if worker.stopped_at.is_some() {
        WorkerState::Stopped
    } else if worker.heartbeat_age_s > worker.lease_ttl_s {
        WorkerState::Lost
    } else if worker.draining {
        WorkerState::Draining
    } else {
        WorkerState::Active
    }
}

/// Why a run still marked running after its lease was taken over is failed.
pub const INTERRUPTED: &str =
    "interrupted: the process running it stopped or stalled before it finished";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ids_are_unique_and_name_this_host_and_process() {
        let (one, two) = (worker_id(), worker_id());
        assert_ne!(one, two, "two workers of one process still differ");
        let parts: Vec<&str> = one.split('/').collect();
        assert_eq!(parts.len(), 3, "{one}");
        assert_eq!(parts[0], hostname(), "{one}");
        assert_eq!(parts[1], std::process::id().to_string(), "{one}");
        assert_eq!(parts[2].len(), 16, "{one}");
    }

    #[test]
    fn a_worker_is_lost_once_silent_longer_than_its_own_leases_last() {
        let at = DateTime::parse_from_rfc3339("2026-05-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let worker = |age: f64, draining: bool, stopped: bool| crate::store::WorkerRow {
            id: "w".into(),
            host: "box".into(),
            pid: 1,
            version: "0".into(),
            lease_ttl_s: 2.0,
            started_at: at,
            heartbeat_at: at,
            heartbeat_age_s: age,
            draining,
            stopped_at: stopped.then_some(at),
            running: vec![],
        };
        assert_eq!(
            worker_state(&worker(1.9, false, false)),
            WorkerState::Active
        );
        assert_eq!(worker_state(&worker(2.1, false, false)), WorkerState::Lost);
        assert_eq!(
            worker_state(&worker(0.5, true, false)),
            WorkerState::Draining
        );
        assert_eq!(worker_state(&worker(2.1, true, false)), WorkerState::Lost);
        assert_eq!(
            worker_state(&worker(99.0, true, true)),
            WorkerState::Stopped
        );
    }

    #[test]
    fn a_lease_expires_its_ttl_after_now() {
        let now = DateTime::parse_from_rfc3339("2026-05-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            expiry(now, Duration::from_secs(90)),
            DateTime::parse_from_rfc3339("2026-05-01T10:01:30Z").unwrap()
        );
        assert_eq!(expiry(now, LEASE_TTL), now + chrono::Duration::seconds(60));
    }

    #[test]
    fn who_may_take_a_lease() {
        let me = worker_id();
        assert!(may_take(None, &me));
        assert!(may_take(Some((&me, false)), &me), "ours already");
        assert!(
            !may_take(Some(("far-host/1/1", false)), &me),
            "live elsewhere"
        );
        let same_host_and_pid = format!("{}/{}/0", hostname(), std::process::id());
        assert!(
            !may_take(Some((&same_host_and_pid, false)), &me),
            "another worker of the same host name and pid is not us"
        );
        assert!(may_take(Some(("far-host/1/1", true)), &me), "expired");
    }

    #[test]
    fn a_run_is_abandoned_once_its_lease_no_longer_protects_it() {
        let run = |run, lease: Option<(&str, bool)>| RunningRun {
            run,
            lease: lease.map(|(h, e)| (h.to_string(), e)),
        };
        let running = [
            run(1, None),
            run(2, Some(("far-host/1/1", false))),
            run(3, Some(("far-host/1/1", true))),
            run(5, Some((&worker_id(), false))),
        ];
        assert_eq!(abandoned(&running), vec![1, 3]);
    }
}
