//! Pictures drawn on the server as SVG: the severity bar of a card or a view, and the
//! timeline of recent runs. No script and no chart library; colours come from the
//! stylesheet through class names, so the page's CSP needs no inline style.

use crate::model::{HistoryRow, RunStatus, Severity};
use std::fmt::Write as _;

/// Width of every chart's drawing, in SVG units (it scales to its box).
const WIDTH: f64 = 300.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal bar split by severity, each part as wide as its share, with a title per
/// part (a tooltip, and what a screen reader says).
pub fn severity_bar(counts: &[(Severity, u64)]) -> String {
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let label = match total {
        0 => "no findings".to_string(),
        _ => counts
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let mut svg = format!(
        r#"<svg class="severity-bar" viewBox="0 0 {WIDTH} 12" preserveAspectRatio="none" role="img" aria-label="{}">"#,
        escape(&label)
    );
    if total == 0 {
        let _ = write!(
            svg,
            r#"<rect class="sev-none" x="0" y="0" width="{WIDTH}" height="12"/>"#
        );
    }
    let mut x = 0.0;
    for (severity, n) in counts.iter().filter(|(_, n)| *n > 0) {
        let width = WIDTH * (*n as f64) / (total as f64);
        let _ = write!(
            svg,
            r#"<rect class="sev-{severity}" x="{x:.2}" y="0" width="{width:.2}" height="12"><title>{n} {severity}</title></rect>"#
        );
        x += width;
    }
    svg.push_str("</svg>");
    svg
}

/// Recent runs side by side, oldest on the left: each bar as tall as the run was long
/// (relative to the longest), coloured by how it ended.
pub fn timeline(runs: &[HistoryRow]) -> String {
    const HEIGHT: f64 = 60.0;
    let durations: Vec<f64> = runs
        .iter()
        .map(|r| {
            r.finished_at
                .map(|f| (f - r.started_at).num_milliseconds().max(0) as f64 / 1000.0)
                .unwrap_or(0.0)
        })
        .collect();
    let longest = durations.iter().copied().fold(0.0, f64::max).max(0.001);
    let mut svg = format!(
        r#"<svg class="timeline" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="duration and outcome of the last {} runs">"#,
        runs.len()
    );
    let slot = WIDTH / runs.len().max(1) as f64;
    for (i, (run, seconds)) in runs.iter().rev().zip(durations.iter().rev()).enumerate() {
        let height = (HEIGHT - 4.0) * seconds / longest + 4.0;
        let class = match run.status {
            RunStatus::Succeeded => "run-ok",
            RunStatus::Running => "run-running",
            RunStatus::SucceededWithWarnings => "run-warned",
            _ => "run-failed",
        };
        let _ = write!(
            svg,
            r#"<rect class="{class}" x="{:.2}" y="{:.2}" width="{:.2}" height="{height:.2}"><title>{} {}: {} in {seconds:.1} s</title></rect>"#,
            i as f64 * slot + slot * 0.1,
            HEIGHT - height,
            slot * 0.8,
            run.action,
            run.started_at.format("%Y-%m-%d %H:%M UTC"),
            run.status,
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, RunCounts};

    #[test]
    fn the_bar_splits_by_share_and_says_what_it_shows() {
        let svg = severity_bar(&[(Severity::Critical, 1), (Severity::Low, 3)]);
        assert!(svg.contains(r#"aria-label="1 critical, 3 low""#), "{svg}");
        assert!(
            svg.contains(r#"class="sev-critical" x="0.00" y="0" width="75.00""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"class="sev-low" x="75.00" y="0" width="225.00""#),
            "{svg}"
        );
        assert!(severity_bar(&[]).contains("no findings"));
        assert!(!svg.contains("style="), "colours come from the stylesheet");
    }

    #[test]
    fn the_timeline_draws_oldest_first_by_duration_and_outcome() {
        let at = crate::model::parse_time("2026-05-01T10:00:00Z").unwrap();
        let row = |seconds: i64, status: RunStatus| HistoryRow {
            id: 1,
            action: Action::SyncNow,
            started_at: at,
            finished_at: Some(at + chrono::Duration::seconds(seconds)),
            started_by: "admin".into(),
            status,
            counts: RunCounts::default(),
            warnings: vec![],
            error: None,
            details: None,
        };
        // Newest first, as history is.
        let svg = timeline(&[row(10, RunStatus::Failed), row(5, RunStatus::Succeeded)]);
        let ok = svg.find("run-ok").unwrap();
        let failed = svg.find("run-failed").unwrap();
        assert!(ok < failed, "oldest on the left: {svg}");
        assert!(
            svg.contains(r#"height="60.00""#),
            "the longest is full height: {svg}"
        );
        assert!(svg.contains("in 5.0 s"));
    }
}
