//! Run leases: who may run an integration right now. A holder names its host and process,
//! so a lease left by a process that died on this host is taken over at once instead of
//! after it expires.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// How long a lease lasts without renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(60);

/// This process's holder name: `host/pid/start-nanos`.
pub fn holder_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}/{}/{nanos}", hostname(), std::process::id())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}

/// Whether the holder may still be running: always true for other hosts (we cannot see
/// them; their lease expires), and for this host whether its process exists.
pub fn holder_alive(holder: &str) -> bool {
    let mut parts = holder.split('/');
    match (
        parts.next(),
        parts.next().and_then(|p| p.parse::<u32>().ok()),
    ) {
        (Some(host), Some(pid)) if host == hostname() => {
            std::path::Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => true,
    }
}

/// The expiry time, `ttl` after `now`.
pub fn expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60))
}

/// Whether a lease no longer protects its run: its time ran out (`expired`, by the
/// store's clock, never a worker's: workers' clocks disagree), or its holder is a process
/// of this host that died.
pub fn lapsed(holder: &str, expired: bool) -> bool {
    expired || !holder_alive(holder)
}

/// Whether `me` may take a lease that `current` (holder, and whether it expired) holds:
/// when nobody holds it, when we do, or when it lapsed.
pub fn may_take(current: Option<(&str, bool)>, me: &str) -> bool {
    match current {
        None => true,
        Some((holder, expired)) => holder == me || lapsed(holder, expired),
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
            Some((holder, expired)) => lapsed(holder, *expired),
        })
        .map(|r| r.run)
        .collect()
}

/// Why a run still marked running after its lease was taken over is failed.
pub const INTERRUPTED: &str =
    "interrupted: the process running it stopped or stalled before it finished";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_of_holders() {
        assert!(holder_alive(&holder_name()), "this process is alive");
        assert!(
            !holder_alive(&format!("{}/{}/1", hostname(), u32::MAX - 7)),
            "no such pid"
        );
        assert!(
            holder_alive("another-host/1/1"),
            "other hosts are trusted until expiry"
        );
    }

    /// This machine's host name as the kernel tells it through `gethostname`, a source
    /// independent of the file the lease code reads.
    fn kernel_hostname() -> String {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for writes of its length; gethostname writes at
        // most that many bytes.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        assert_eq!(rc, 0, "gethostname failed");
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    }

    #[test]
    fn a_holder_name_names_this_host_and_this_process() {
        let name = holder_name();
        let parts: Vec<&str> = name.split('/').collect();
        assert_eq!(parts.len(), 3, "{name}");
        assert_eq!(parts[0], kernel_hostname(), "{name}");
        assert_eq!(parts[1], std::process::id().to_string(), "{name}");
        assert!(parts[2].parse::<u128>().is_ok(), "{name}");
    }

    #[test]
    fn only_a_dead_process_of_this_host_is_dead() {
        let dead = u32::MAX - 7;
        let here = kernel_hostname();
        assert!(
            !holder_alive(&format!("{here}/{dead}/1")),
            "a process of this host that does not exist"
        );
        assert!(
            holder_alive(&format!("other-{here}/{dead}/1")),
            "the same pid on another host may well run"
        );
        assert!(holder_alive(&format!("{here}/{}/1", std::process::id())));
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
        let me = holder_name();
        let dead = format!("{}/{}/1", hostname(), u32::MAX - 7);
        assert!(may_take(None, &me));
        assert!(may_take(Some((&me, false)), &me), "ours already");
        assert!(
            !may_take(Some(("far-host/1/1", false)), &me),
            "live elsewhere"
        );
        assert!(may_take(Some(("far-host/1/1", true)), &me), "expired");
        assert!(may_take(Some((&dead, false)), &me), "its process died");
    }

    #[test]
    fn a_run_is_abandoned_once_its_lease_no_longer_protects_it() {
        let dead = format!("{}/{}/1", hostname(), u32::MAX - 7);
        let run = |run, lease: Option<(&str, bool)>| RunningRun {
            run,
            lease: lease.map(|(h, e)| (h.to_string(), e)),
        };
        let running = [
            run(1, None),
            run(2, Some(("far-host/1/1", false))),
            run(3, Some(("far-host/1/1", true))),
            run(4, Some((&dead, false))),
            run(5, Some((&holder_name(), false))),
        ];
        assert_eq!(abandoned(&running), vec![1, 3, 4]);
    }
}
