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

/// The gap left between two parts of the severity bar, so that each part meets the
/// card's background rather than another colour.
const GAP: f64 = 2.0;

/// A horizontal bar split by severity, each part as wide as its share (less a gap
/// between parts), with a title per part. The counts beside it are its text.
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
    let parts: Vec<&(Severity, u64)> = counts.iter().filter(|(_, n)| *n > 0).collect();
    let mut x = 0.0;
    for (i, (severity, n)) in parts.iter().enumerate() {
        let share = WIDTH * (*n as f64) / (total as f64);
        let gap = if i + 1 < parts.len() { GAP } else { 0.0 };
        let width = (share - gap).max(0.5);
        let _ = write!(
            svg,
            r#"<rect class="sev-{severity}" x="{x:.2}" y="0" width="{width:.2}" height="12"><title>{n} {severity}</title></rect>"#
        );
        x += share;
    }
    svg.push_str("</svg>");
    svg
}

/// How a run ended, as the timeline draws it: its fill (one of [`PATTERNS`], so that no
/// two outcomes differ by colour alone), and its name in the legend.
fn outcome(status: RunStatus) -> (&'static str, &'static str) {
    match status {
        RunStatus::Succeeded => ("url(#tl-ok)", "succeeded"),
        RunStatus::Running => ("url(#tl-running)", "running"),
        RunStatus::SucceededWithWarnings => ("url(#tl-warned)", "with warnings"),
        _ => ("url(#tl-failed)", "failed or cancelled"),
    }
}

/// The timeline's fills: solid for success, stripes for warnings, a cross-hatch for
/// failures, dots for a run still going.
const PATTERNS: &str = concat!(
    r#"<defs>"#,
    r#"<pattern id="tl-ok" width="6" height="6" patternUnits="userSpaceOnUse"><rect class="run-ok" width="6" height="6"/></pattern>"#,
    r#"<pattern id="tl-warned" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect class="run-warned" width="6" height="6"/><rect class="mark" width="2" height="6"/></pattern>"#,
    r#"<pattern id="tl-failed" width="6" height="6" patternUnits="userSpaceOnUse"><rect class="run-failed" width="6" height="6"/><path class="mark-line" d="M0 0L6 6M6 0L0 6"/></pattern>"#,
    r#"<pattern id="tl-running" width="6" height="6" patternUnits="userSpaceOnUse"><rect class="run-running" width="6" height="6"/><circle class="mark" cx="3" cy="3" r="1.2"/></pattern>"#,
    r#"</defs>"#
);

/// Recent runs side by side, newest on the left as the history table lists newest first:
/// each bar as tall as the run was long against a labelled axis, filled by how it ended
/// with a pattern as well as a colour. Then a legend, and the text of each run for those
/// who do not see the picture.
pub fn timeline(runs: &[HistoryRow]) -> String {
    const LEFT: f64 = 34.0;
    const PLOT: f64 = 56.0;
    const HEIGHT: f64 = PLOT + 16.0;
    let seconds = |r: &HistoryRow| {
        r.finished_at
            .map(|f| (f - r.started_at).num_milliseconds().max(0) as f64 / 1000.0)
            .unwrap_or(0.0)
    };
    let longest = runs.iter().map(seconds).fold(0.0, f64::max).max(0.001);
    let mut out = format!(
        r#"<svg class="timeline" viewBox="0 0 {WIDTH} {HEIGHT}" aria-hidden="true" focusable="false">{PATTERNS}"#
    );
    // The axis: the longest run's time at the top, zero at the baseline, and which end
    // is newest.
    let _ = write!(
        out,
        r#"<text class="axis" x="{x}" y="8" text-anchor="end">{} s</text><text class="axis" x="{x}" y="{PLOT}" text-anchor="end">0 s</text><line class="axis-line" x1="{LEFT}" y1="{PLOT}" x2="{WIDTH}" y2="{PLOT}"/><text class="axis" x="{LEFT}" y="{HEIGHT}">newest</text><text class="axis" x="{WIDTH}" y="{HEIGHT}" text-anchor="end">oldest</text>"#,
        axis_seconds(longest),
        x = LEFT - 3.0,
    );
    let slot = (WIDTH - LEFT) / runs.len().max(1) as f64;
    for (i, run) in runs.iter().enumerate() {
        let height = (PLOT - 4.0) * seconds(run) / longest + 4.0;
        let (fill, _) = outcome(run.status);
        let _ = write!(
            out,
            r#"<rect class="bar" fill="{fill}" x="{:.2}" y="{:.2}" width="{:.2}" height="{height:.2}"><title>{}</title></rect>"#,
            LEFT + i as f64 * slot + slot * 0.1,
            PLOT - height,
            slot * 0.8,
            escape(&run_text(run, seconds(run))),
        );
    }
    out.push_str("</svg>");
    out.push_str(r#"<ul class="legend" aria-label="What the bars show">"#);
    for status in [
        RunStatus::Succeeded,
        RunStatus::SucceededWithWarnings,
        RunStatus::Failed,
        RunStatus::Running,
    ] {
        let (fill, name) = outcome(status);
        let _ = write!(
            out,
            r#"<li><svg class="swatch" viewBox="0 0 12 12" aria-hidden="true" focusable="false"><rect class="bar" fill="{fill}" width="12" height="12"/></svg> {name}</li>"#
        );
    }
    out.push_str("<li>height: how long it ran</li></ul>");
    out.push_str(r#"<ol class="visually-hidden" aria-label="Recent runs, newest first">"#);
    for run in runs {
        let _ = write!(out, "<li>{}</li>", escape(&run_text(run, seconds(run))));
    }
    out.push_str("</ol>");
    out
}

/// The top of the timeline's axis, in whole seconds when it is a second or more.
fn axis_seconds(longest: f64) -> String {
    match longest >= 1.0 {
        true => format!("{longest:.0}"),
        false => format!("{longest:.1}"),
    }
}

/// One run in words.
fn run_text(run: &HistoryRow, seconds: f64) -> String {
    let (_, ended) = outcome(run.status);
    format!(
        "{} at {}: {ended}, {seconds:.1} s",
        run.action,
        run.started_at.format("%Y-%m-%d %H:%M UTC"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, RunCounts};

    /// A colour's relative luminance (WCAG 2).
    fn luminance(hex: &str) -> f64 {
        let channel = |i: usize| {
            let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
            match c <= 0.04045 {
                true => c / 12.92,
                false => ((c + 0.055) / 1.055).powf(2.4),
            }
        };
        0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
    }

    /// The contrast ratio of two colours (WCAG 2).
    fn contrast(a: &str, b: &str) -> f64 {
        let (a, b) = (luminance(a), luminance(b));
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    #[test]
    fn every_severity_and_outcome_colour_stands_out_from_the_card_at_3_to_1() {
        let css = include_str!("../../../static/console.css");
        let colour = |name: &str| {
            let at = css.find(&format!("--{name}: #")).unwrap() + name.len() + 4;
            css[at..at + 7].to_string()
        };
        let card = colour("card");
        for name in [
            "critical", "high", "medium", "low", "info", "ok", "danger", "warn", "accent",
        ] {
            let ratio = contrast(&colour(name), &card);
            assert!(
                ratio >= 3.0,
                "--{name} {} is {ratio:.2}:1 on the card",
                colour(name)
            );
        }
        // Neighbours never touch (the bar leaves a gap between parts, see the bar's
        // test; the timeline's bars stand apart), and each outcome has its own pattern.
        for status in [
            RunStatus::Succeeded,
            RunStatus::SucceededWithWarnings,
            RunStatus::Failed,
            RunStatus::Running,
        ] {
            let (fill, _) = outcome(status);
            assert!(PATTERNS.contains(&format!("id=\"{}\"", &fill[5..fill.len() - 1])));
        }
    }

    #[test]
    fn the_bar_splits_by_share_and_says_what_it_shows() {
        let svg = severity_bar(&[(Severity::Critical, 1), (Severity::Low, 3)]);
        assert!(svg.contains(r#"aria-label="1 critical, 3 low""#), "{svg}");
        assert!(
            svg.contains(r#"class="sev-low" x="75.00" y="0" width="225.00""#),
            "{svg}"
        );
        assert!(severity_bar(&[]).contains("no findings"));
        assert!(
            svg.contains(r#"class="sev-critical" x="0.00" y="0" width="73.00""#),
            "a gap before the next part: {svg}"
        );
        assert!(!svg.contains("style="), "colours come from the stylesheet");
    }

    #[test]
    fn the_timeline_draws_newest_first_by_duration_and_outcome_and_says_it_in_words() {
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
            worker: None,
        };
        // Newest first, as history is.
        let html = timeline(&[
            row(10, RunStatus::Failed),
            row(5, RunStatus::SucceededWithWarnings),
        ]);
        let drawing = &html[html.find("</defs>").unwrap()..html.find("</svg>").unwrap()];
        let failed = drawing.find(r#"fill="url(#tl-failed)""#).unwrap();
        let warned = drawing.find(r#"fill="url(#tl-warned)""#).unwrap();
        assert!(failed < warned, "newest on the left, as the table: {html}");
        assert!(
            drawing.contains(r#"height="56.00""#),
            "the longest is full height: {html}"
        );
        assert!(
            drawing.contains(">10 s</text>"),
            "the axis says the longest: {html}"
        );
        assert!(
            html.contains("<li>sync_now at 2026-05-01 10:00 UTC: failed or cancelled, 10.0 s</li>")
        );
        assert!(html.contains("with warnings</li>"), "a legend: {html}");
        assert!(!html.contains("style="), "colours come from the stylesheet");
    }
}
