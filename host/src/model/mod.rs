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

/// A name's sort key, so that names sort as people read them: lower case, and each run
/// of digits as its length (two digits) and then the digits without leading zeros, so
/// `role-12` sorts before `role-113`. Both stores compare it byte by byte.
pub fn natural_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len() + 8);
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if !c.is_ascii_digit() {
            key.extend(c.to_lowercase());
            continue;
        }
        let mut digits = String::from(c);
        while let Some(d) = chars.next_if(char::is_ascii_digit) {
            digits.push(d);
        }
        let value = match digits.trim_start_matches('0') {
            "" => "0",
            value => value,
        };
        key.push_str(&format!("{:02}", value.len().min(99)));
        key.push_str(value);
    }
    key
}

/// Now, at the stored precision.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    to_stored_precision(chrono::Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_the_numbers_in_them_and_ignore_case() {
        let mut names = vec![
            "access-role-113",
            "Access-role-12",
            "access-role-9",
            "db-01",
            "db-1a",
            "Zeta",
            "alpha",
        ];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(
            names,
            [
                "access-role-9",
                "Access-role-12",
                "access-role-113",
                "alpha",
                "db-01",
                "db-1a",
                "Zeta"
            ]
        );
        assert_eq!(natural_key("vm-007"), natural_key("VM-7"));
    }

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
