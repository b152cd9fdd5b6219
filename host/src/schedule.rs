//! When auto syncs are due: at the host's sync time (01:15 UTC by default) on every Nth
//! day. Pure arithmetic over UTC times, so every rule is unit-tested.

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

    /// The slot `days` days after the day of `run_started` (an auto sync's start).
    pub fn slot_days_after(self, run_started: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        let day = run_started
            .date_naive()
            .checked_add_days(Days::new(u64::from(days.max(1))))
            .unwrap_or(run_started.date_naive());
        day.and_time(self.0).and_utc()
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
    }
}
