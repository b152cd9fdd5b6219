//! The host's own types: what integrations, records, runs and plugins are, whichever
//! contract version a plugin speaks and whichever database holds them. This floor depends
//! on nothing else in the host; each contract version's bindings convert into it at the
//! edge (`plugin::bindings`), and every other module works with it.

mod access;
mod connector;
mod integration;
mod query;
mod record;
mod run;

pub use access::{NewSession, Role, Session, User};
pub use connector::{
    CheckOutcome, CheckStep, ConfigField, ConnectionFailure, FieldKind, LogLevel, PluginInfo,
    SourceError, SourceErrorKind, StreamInfo, SyncSummary,
};
pub use integration::{InstalledPlugin, Integration, NewIntegration, PluginPin, Policy};
pub use query::{
    AssetCursor, AssetFilter, AssetPage, FindingCursor, FindingFilter, FindingOrder, FindingPage,
    FindingSort, InventoryAsset, SortKey, StatusChange, StatusChangeRecord, StatusesMoved,
    StoredFinding, Window,
};
pub use record::{
    AffectedPackage, Asset, Batch, Cvss, CvssScore, Finding, FindingKind, FindingStatus, Rejected,
    Severity, UnknownName, Vulnerability,
};
pub use run::{
    Action, FULL_SYNC, HistoryRow, INCREMENTAL_SYNC, RefusalCause, Refusals, RunCounts, RunEnd,
    RunStatus,
};

/// Times as the host keeps them: UTC, to the microsecond (what PostgreSQL stores), so
/// every backend hands back exactly what it was given.
pub fn to_stored_precision(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// A time as fixed-width RFC 3339 text (`2026-05-01T10:00:00.000000Z`): text that sorts
/// as the times do, for hashing and for backends that keep times as text.
pub fn time_text(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    // Digit by digit: a sync formats five times per finding, and both chrono's `format`
    // and `format!` interpret a pattern on every call.
    fn digits(out: &mut String, n: u32, width: u32) {
        for place in (0..width).rev() {
            out.push(char::from(b'0' + (n / 10u32.pow(place) % 10) as u8));
        }
    }
    let mut out = String::with_capacity(27);
    match u32::try_from(t.year()) {
        Ok(year) if year < 10_000 => digits(&mut out, year, 4),
        // Outside RFC 3339's four digits: still readable, no longer fixed-width.
        _ => out.push_str(&format!("{:+05}", t.year())),
    }
    for (separator, value, width) in [
        ('-', t.month(), 2),
        ('-', t.day(), 2),
        ('T', t.hour(), 2),
        (':', t.minute(), 2),
        (':', t.second(), 2),
        ('.', t.nanosecond() / 1000 % 1_000_000, 6),
    ] {
        out.push(separator);
        digits(&mut out, value, width);
    }
    out.push('Z');
    out
}

/// Reads any RFC 3339 time into the stored precision.
pub fn parse_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| to_stored_precision(t.with_timezone(&chrono::Utc)))
}

/// Now, at the stored precision.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    to_stored_precision(chrono::Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_time_text_is_fixed_width_so_it_sorts_as_time_does() {
        let whole = parse_time("2026-05-01T10:00:00Z").unwrap();
        let later = parse_time("2026-05-01T10:00:00.5Z").unwrap();
        assert_eq!(time_text(whole), "2026-05-01T10:00:00.000000Z");
        assert_eq!(time_text(later), "2026-05-01T10:00:00.500000Z");
        assert!(time_text(whole) < time_text(later));
        assert_eq!(parse_time(&time_text(later)), Some(later), "it reads back");
        assert_eq!(parse_time("2026-05-01"), None, "a date is not a time");
        let early = parse_time("0001-02-03T04:05:06.000007Z").unwrap();
        assert_eq!(time_text(early), "0001-02-03T04:05:06.000007Z");
    }
}
