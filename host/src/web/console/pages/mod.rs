//! The console's handlers, by resource as `web/api/` is: each reads its request, calls
//! `service`, and renders a page. What they share is here.

pub mod assets;
pub mod configure;
pub mod findings;
pub mod integrations;
pub mod session;
pub mod workers;

use super::views::{Choice, Nav};
use super::{Page, Viewer};
use crate::model::Severity;
use crate::service::ServiceError;
use axum::extract::Query;
use axum::response::Response;
use chrono::{DateTime, Utc};

/// History rows a page shows.
pub(super) const HISTORY_PAGE: usize = 25;
/// Findings a page shows.
pub(super) const FINDINGS_PAGE: usize = 50;
/// Assets per page.
pub(super) const ASSETS_PAGE: usize = 50;
/// Runs the timeline draws.
pub(super) const TIMELINE_RUNS: usize = 30;
// The first page of history is cut from the timeline's runs.
const _: () = assert!(TIMELINE_RUNS >= HISTORY_PAGE);

pub(super) type Fields = Query<Vec<(String, String)>>;

pub(super) fn nav(viewer: &Viewer, section: &'static str) -> Nav {
    let user = viewer.user();
    Nav {
        user: user.name.clone(),
        role: user.role.to_string(),
        admin: user.role.may_change(),
        csrf: viewer.session.csrf.clone(),
        section,
    }
}

pub(super) fn first<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// A time as every page shows it: ISO date and time in UTC, and how long ago (or how
/// soon) that is.
pub(super) fn time(t: &DateTime<Utc>) -> String {
    format!(
        "{} ({})",
        t.format("%Y-%m-%d %H:%M:%S UTC"),
        relative(*t, Utc::now())
    )
}

/// `t` from `now` in words: "just now", "5 min ago", "3 h ago", "12 days ago", or "in 2 h".
fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - t).num_seconds();
    let span = seconds.unsigned_abs();
    let amount = match span {
        0..60 => return "just now".into(),
        60..3_600 => format!("{} min", span / 60),
        3_600..172_800 => format!("{} h", span / 3_600),
        _ => format!("{} days", span / 86_400),
    };
    match seconds > 0 {
        true => format!("{amount} ago"),
        false => format!("in {amount}"),
    }
}

pub(super) fn counts_text(counts: &[(Severity, u64)]) -> String {
    match counts.is_empty() {
        true => "none".into(),
        false => counts
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect::<Vec<_>>()
            .join(" · "),
    }
}

pub(super) fn to_page(e: ServiceError) -> Response {
    Page::service_error(e)
}

pub(super) fn urlencoding(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub(super) fn choices(values: &[&str], chosen: &[&str]) -> Vec<Choice> {
    values
        .iter()
        .map(|v| Choice {
            value: v.to_string(),
            checked: chosen.contains(v),
        })
        .collect()
}

/// A link to `path` with the same filters as `fields` and the page at `cursor`.
pub(super) fn page_link(path: &str, fields: &[(String, String)], cursor: Option<&str>) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields
        .iter()
        .filter(|(k, v)| k != "cursor" && !v.is_empty())
    {
        serializer.append_pair(k, v);
    }
    if let Some(c) = cursor {
        serializer.append_pair("cursor", c);
    }
    format!("{path}?{}", serializer.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_say_how_long_ago_in_the_unit_that_fits() {
        let now = crate::model::parse_time("2026-12-05T12:00:00Z").unwrap();
        let at = |s: i64| now - chrono::Duration::seconds(s);
        assert_eq!(relative(at(30), now), "just now");
        assert_eq!(relative(at(5 * 60 + 10), now), "5 min ago");
        assert_eq!(relative(at(3 * 3_600), now), "3 h ago");
        assert_eq!(relative(at(47 * 3_600), now), "47 h ago");
        assert_eq!(relative(at(12 * 86_400), now), "12 days ago");
        assert_eq!(relative(at(-2 * 3_600), now), "in 2 h");
    }
}
