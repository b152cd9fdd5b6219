//! When auto syncs are due: at the host's sync time (01:15 UTC by default) on every Nth
//! day. Pure arithmetic over UTC times, so every rule is unit-tested.

use crate::model::Policy;
use chrono::{DateTime, Days, NaiveTime, Utc};

/// The default auto-sync time of day, UTC (as in SAFE).
pub const DEFAULT_SYNC_TIME: &str = "01:15";

/// A time of day, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncTime(NaiveTime);

impl std::str::FromStr for SyncTime {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        NaiveTime::parse_from_str(text.trim(), "%H:%M")
            .map(SyncTime)
            .map_err(|_| format!("`{text}` is not a time of day as HH:MM (UTC), e.g. 01:15"))
    }
}

impl std::fmt::Display for SyncTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%H:%M"))
    }
}

impl SyncTime {
    /// The first slot strictly after `after`.
    pub fn next_slot_after(self, after: DateTime<Utc>) -> DateTime<Utc> {
        let today = after.date_naive().and_time(self.0).and_utc();
        if today > after {
            today
        } else {
            today + chrono::Duration::days(1)
        }
    }

    /// The slot `days` days after the day of `run_started` (an auto sync's start), `days`
    /// held to 1 to [`Policy::MAX_AUTO_SYNC_DAYS`]: never a slot in the past, however
    /// large a stored value.
    pub fn slot_days_after(self, run_started: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        let days = days.clamp(1, Policy::MAX_AUTO_SYNC_DAYS);
        let day = run_started
            .date_naive()
            .checked_add_days(Days::new(u64::from(days)))
            .unwrap_or(chrono::NaiveDate::MAX);
        day.and_time(self.0).and_utc()
    }
}

/// The longest a source's rate-limit wait may hold back an integration's next auto sync;
/// a longer one (a bad `Retry-After`) is cut to this, so one header cannot stop them.
pub const MAX_SOURCE_WAIT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// When to run again after a transient failure of an auto sync that started at
/// `started` and ended at `ended`: after `delay` (the retry backoff) when another retry
/// is allowed, else at `next_slot`; and never sooner than the wait the source asked for
/// (cut to [`MAX_SOURCE_WAIT`]).
pub fn due_after_failure(
    started: DateTime<Utc>,
    ended: DateTime<Utc>,
    delay: Option<std::time::Duration>,
    next_slot: DateTime<Utc>,
    source_wait: Option<std::time::Duration>,
) -> DateTime<Utc> {
    let due = delay
        .and_then(|delay| chrono::Duration::from_std(delay).ok())
        .and_then(|delay| started.checked_add_signed(delay))
        .map_or(next_slot, |retry| retry.min(next_slot));
    let asked = source_wait.map(|wait| wait.min(MAX_SOURCE_WAIT).as_secs() as i64);
    match asked.and_then(|s| ended.checked_add_signed(chrono::Duration::seconds(s))) {
        Some(not_before) => due.max(not_before),
        None => due,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn parses_hh_mm() {
        assert!("01:15".parse::<SyncTime>().is_ok());
        assert!("23:59".parse::<SyncTime>().is_ok());
        for bad in ["24:00", "1:5x", "noon", ""] {
            assert!(bad.parse::<SyncTime>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_sync_time_reads_as_the_operator_wrote_it() {
        for (written, shown) in [("01:15", "01:15"), (" 9:05 ", "09:05"), ("23:59", "23:59")] {
            let at: SyncTime = written.parse().unwrap();
            assert_eq!(at.to_string(), shown, "{written:?}");
        }
        assert_eq!(
            DEFAULT_SYNC_TIME.parse::<SyncTime>().unwrap().to_string(),
            DEFAULT_SYNC_TIME
        );
    }

    #[test]
    fn first_slot_is_the_next_sync_time() {
        let at: SyncTime = "01:15".parse().unwrap();
        assert_eq!(
            at.next_slot_after(t("2026-03-01T00:00:00Z")),
            t("2026-03-01T01:15:00Z")
        );
        assert_eq!(
            at.next_slot_after(t("2026-03-01T01:15:00Z")),
            t("2026-03-02T01:15:00Z")
        );
        assert_eq!(
            at.next_slot_after(t("2026-03-01T18:00:00Z")),
            t("2026-03-02T01:15:00Z")
        );
        assert_eq!(
            at.next_slot_after(t("2026-12-31T23:00:00Z")),
            t("2027-01-01T01:15:00Z")
        );
    }

    #[test]
    fn later_slots_count_days_from_the_last_auto_sync() {
        let at: SyncTime = "01:15".parse().unwrap();
        assert_eq!(
            at.slot_days_after(t("2026-03-01T01:15:02Z"), 1),
            t("2026-03-02T01:15:00Z")
        );
        assert_eq!(
            at.slot_days_after(t("2026-03-01T01:15:02Z"), 3),
            t("2026-03-04T01:15:00Z")
        );
        // A late catch-up run on the 10th moves the schedule to count from the 10th.
        assert_eq!(
            at.slot_days_after(t("2026-03-10T09:30:00Z"), 3),
            t("2026-03-13T01:15:00Z")
        );
        assert_eq!(
            at.slot_days_after(t("2028-02-28T01:15:00Z"), 1),
            t("2028-02-29T01:15:00Z")
        );
        // A value past the range (an old store's) waits a year, never "due now".
        assert_eq!(
            at.slot_days_after(t("2026-03-01T01:15:02Z"), u32::MAX),
            t("2027-03-01T01:15:00Z")
        );
    }

    #[test]
    fn retries_wait_for_the_backoff_and_never_less_than_the_source_asked() {
        let (started, ended) = (t("2030-05-01T01:15:00Z"), t("2030-05-01T01:20:00Z"));
        let slot = t("2030-05-02T01:15:00Z");
        let minutes = |m: u64| Some(std::time::Duration::from_secs(m * 60));
        // The backoff counts from the start; no retry left means the next slot.
        assert_eq!(
            due_after_failure(started, ended, minutes(15), slot, None),
            t("2030-05-01T01:30:00Z")
        );
        assert_eq!(due_after_failure(started, ended, None, slot, None), slot);
        // A backoff past the next slot, or one too large to add, waits for the slot.
        assert_eq!(
            due_after_failure(started, ended, minutes(3000), slot, None),
            slot
        );
        let huge = Some(std::time::Duration::MAX);
        assert_eq!(due_after_failure(started, ended, huge, slot, None), slot);
        // The source's wait counts from the end and wins when it is longer.
        assert_eq!(
            due_after_failure(started, ended, minutes(15), slot, minutes(120)),
            t("2030-05-01T03:20:00Z")
        );
        assert_eq!(
            due_after_failure(started, ended, minutes(15), slot, minutes(1)),
            t("2030-05-01T01:30:00Z")
        );
        // Even past the next slot; but never more than a day, whatever it asked.
        assert_eq!(
            due_after_failure(started, ended, None, slot, minutes(25 * 60)),
            t("2030-05-02T01:20:00Z")
        );
        assert_eq!(
            due_after_failure(started, ended, None, slot, huge),
            t("2030-05-02T01:20:00Z")
        );
    }
}
