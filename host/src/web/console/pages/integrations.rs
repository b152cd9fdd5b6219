//! The integrations: their cards, an integration's page, and its actions (test, move to
//! another plugin version, sync now, remove).

use super::{
    Fields, HISTORY_PAGE, TIMELINE_RUNS, counts_text, first, nav, time, to_page, urlencoding,
};
use crate::catalog::compare_versions;
use crate::model::{Action, FULL_SYNC, HistoryRow, INCREMENTAL_SYNC, RunStatus};
use crate::service::{FindingQuery, ServiceError, TestReport, UpgradeIntegration};
use crate::web::console::views::{
    Card, HistoryView, IntegrationPage, IntegrationsPage, PluginCard, ProgressView, TestView,
    VersionChoice,
};
use crate::web::console::{CsrfForm, Page, Viewer, charts};
use crate::web::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::BTreeMap;

pub async fn list(
    viewer: Viewer,
    State(state): State<AppState>,
    Query(fields): Fields,
) -> Response {
    let q = first(&fields, "q").unwrap_or_default().to_lowercase();
    let matches = |text: &str| q.is_empty() || text.to_lowercase().contains(&q);
    let overview = match state.platform.integrations().overview().await {
        Ok(o) => o,
        Err(e) => return to_page(e),
    };
    let (versions, failed) = match state.platform.plugin_versions().list_with_failures().await {
        Ok(p) => p,
        Err(e) => return to_page(e),
    };
    let cards = overview
        .into_iter()
        .filter(|o| matches(&o.summary.name) || matches(&o.summary.connector))
        .map(|o| Card {
            last_status: o
                .last_sync
                .as_ref()
                .map(|r| r.status.to_string())
                .unwrap_or_else(|| "never synced".into()),
            last_time: o
                .last_sync
                .as_ref()
                .map(|r| time(&r.started_at))
                .unwrap_or_default(),
            next_sync: match (o.summary.policy.auto_sync_days, o.next_auto_sync) {
                (0, _) => "manual only".into(),
                (_, Some(at)) => time(&at),
                (days, None) => {
                    format!(
                        "every {days} day(s) at {} UTC, once serve schedules it",
                        state.platform.sync_time()
                    )
                }
            },
            bar: charts::severity_bar(&o.by_severity),
            counts: counts_text(&o.by_severity),
            version: o.summary.plugin.map(|p| p.version).unwrap_or_default(),
            name: o.summary.name,
            connector: o.summary.connector,
        })
        .collect();
    // Oldest first within a name: the last of each is the newest.
    let plugins = versions
        .chunk_by(|a, b| a.info.name == b.info.name)
        .filter(|group| matches(&group[0].info.name))
        .map(|group| PluginCard {
            name: group[0].info.name.clone(),
            version: group[group.len() - 1].info.version.clone(),
            versions: group.iter().map(|v| v.info.version.clone()).collect(),
        })
        .collect();
    Page::render(&IntegrationsPage {
        nav: nav(&viewer, "integrations"),
        q,
        cards,
        plugins,
        failed_plugins: failed
            .into_iter()
            .map(|(file, error)| format!("{} did not load: {error}", file.display()))
            .collect(),
    })
}

/// An action as people say it.
fn action_label(action: Action) -> &'static str {
    match action {
        Action::TestConnection => "Test connection",
        Action::SyncNow => "Sync now",
        Action::AutoSync => "Auto sync",
        Action::ConfigChange => "Settings changed",
        Action::StatusChange => "Status set",
    }
}

/// A run's status as people say it.
fn status_label(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "Running",
        RunStatus::Succeeded => "Succeeded",
        RunStatus::SucceededWithWarnings => "Succeeded with warnings",
        RunStatus::Failed => "Failed",
        RunStatus::Cancelled => "Cancelled",
    }
}

fn history_view(r: &HistoryRow) -> HistoryView {
    let c = &r.counts;
    let syncs = matches!(r.action, Action::SyncNow | Action::AutoSync);
    // A sync's note says whether it read everything: part of what it was, not a note.
    let (action, details) = match (syncs, r.details.as_deref()) {
        (true, Some(FULL_SYNC)) => (format!("{} (full)", action_label(r.action)), None),
        (true, Some(INCREMENTAL_SYNC)) => {
            (format!("{} (incremental)", action_label(r.action)), None)
        }
        _ => (action_label(r.action).to_string(), r.details.clone()),
    };
    HistoryView {
        action,
        started: time(&r.started_at),
        finished: r.finished_at.as_ref().map(time).unwrap_or_default(),
        started_by: r.started_by.clone(),
        status: r.status.to_string(),
        status_label: status_label(r.status).into(),
        counts: [
            c.findings_new,
            c.findings_updated,
            c.findings_unchanged,
            c.findings_closed,
            c.findings_skipped,
            c.assets_onboarded,
            c.assets_updated,
        ]
        .iter()
        .map(|n| match syncs {
            true => n.to_string(),
            false => String::new(),
        })
        .collect(),
        details,
        warnings: r.warnings.clone(),
        error: r.error.clone().unwrap_or_default(),
    }
}

/// Renders an integration's page, with a notice or a test's outcome.
/// What the integration page shows above its history, besides the integration.
enum Shown {
    /// A notice, if any.
    Notice(Option<String>),
    /// A notice and a connection test's report (an upgrade that failed its test).
    Test(String, TestReport),
    /// The newest connection test in history.
    LatestTest,
}

async fn integration_page(
    state: &AppState,
    viewer: &Viewer,
    name: &str,
    page: usize,
    above: Shown,
) -> Result<Response, ServiceError> {
    let platform = &state.platform;
    let view = platform.integrations().show(name).await?;
    let history = platform.history();
    let recent = history.page(name, 0, TIMELINE_RUNS).await?;
    let pages = usize::try_from(recent.total)
        .unwrap_or(usize::MAX)
        .div_ceil(HISTORY_PAGE)
        .max(1);
    let page = page.clamp(1, pages);
    // The first page is the newest runs, which the timeline has already read.
    let older;
    let shown = match page {
        1 => &recent.runs[..recent.runs.len().min(HISTORY_PAGE)],
        _ => {
            older = history
                .page(name, ((page - 1) * HISTORY_PAGE) as u64, HISTORY_PAGE)
                .await?
                .runs;
            &older[..]
        }
    };
    let status = platform.syncs().status(name).await?;
    // "Sync requested." beside "No sync is running." would contradict itself.
    let still_running = status.running.is_some()
        || status.queued.is_some()
        || (status.last.as_ref()).is_some_and(|r| r.status == RunStatus::Running);
    let (notice, test) = match above {
        Shown::Notice(notice) => (notice, None),
        Shown::Test(notice, report) => (Some(notice), Some(report)),
        Shown::LatestTest => {
            let latest = (recent.runs.iter()).find(|r| r.action == Action::TestConnection);
            (None, latest.map(TestReport::from_history))
        }
    };
    let notice = notice.filter(|n| n != SYNC_STARTED || still_running);
    let counts = platform
        .findings()
        .counts(FindingQuery {
            integration: Some(name.to_string()),
            ..Default::default()
        })
        .await?;
    let p = view.policy;
    let running = &view.plugin_version;
    let other_versions = platform
        .plugin_versions()
        .versions_of(&view.connector)
        .await?
        .into_iter()
        .filter(|v| &v.info.version != running)
        .map(|v| VersionChoice {
            move_name: match compare_versions(&v.info.version, running) {
                std::cmp::Ordering::Less => "roll back",
                _ => "upgrade",
            },
            version: v.info.version,
        })
        .collect();
    Ok(Page::render(&IntegrationPage {
        nav: nav(viewer, "integrations"),
        name: view.name.clone(),
        connector: view.connector.clone(),
        version: view.plugin_version.clone(),
        other_versions,
        settings: view
            .settings
            .iter()
            .map(|s| (s.label.clone(), s.shown()))
            .collect(),
        policy: vec![
            (
                "Auto Sync every (days)".into(),
                match p.auto_sync_days {
                    0 => "manual only".into(),
                    d => d.to_string(),
                },
            ),
            ("Auto Onboard New Assets".into(), p.auto_onboard.to_string()),
            (
                "Update Existing Asset Metadata".into(),
                p.update_metadata.to_string(),
            ),
            ("Sends requests to".into(), view.egress.join(", ")),
        ],
        notice,
        test: test.as_ref().map(TestView::from),
        running: status.running.map(|r| ProgressView {
            done: r.done,
            total: r.total.map(|t| t.to_string()).unwrap_or_default(),
            started_by: r.started_by,
        }),
        queued: status.queued,
        bar: charts::severity_bar(&counts),
        timeline: charts::timeline(&recent.runs),
        history: shown.iter().map(history_view).collect(),
        page,
        pages,
    }))
}

/// The notice after Sync Now; stale once the run has ended.
const SYNC_STARTED: &str = "Sync requested: the first free worker runs it.";

fn notice_text(code: Option<&str>) -> Option<String> {
    match code? {
        "saved" => Some("Saved.".into()),
        "moved" => Some("Now runs the chosen version; the next sync is full.".into()),
        "started" => Some(SYNC_STARTED.into()),
        "cancelling" => Some("Asked to stop: the sync stops at its next batch.".into()),
        _ => None,
    }
}

pub async fn show(
    viewer: Viewer,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(fields): Fields,
) -> Response {
    let page = first(&fields, "page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    // After a test, the page shows the newest test from history: the redirect's target
    // reloads without testing again.
    let shown = match first(&fields, "notice") {
        Some("tested") => Shown::LatestTest,
        notice => Shown::Notice(notice_text(notice)),
    };
    integration_page(&state, &viewer, &name, page, shown)
        .await
        .unwrap_or_else(to_page)
}

/// Post/redirect/get: the integration's page, with the notice `notice` names, so a
/// reload of what follows a form never submits it again.
pub(super) fn with_notice(name: &str, notice: &str) -> Response {
    Redirect::to(&format!(
        "/integrations/{}?notice={notice}",
        urlencoding(name)
    ))
    .into_response()
}

pub async fn test(
    State(state): State<AppState>,
    Path(name): Path<String>,
    form: CsrfForm,
) -> Response {
    if let Some(refused) = form.refuse_viewer() {
        return refused;
    }
    let user = form.user();
    match state.platform.integrations().test(&name, &user).await {
        // Post/redirect/get: the test is in history, which the page shows.
        Ok(_) | Err(ServiceError::ConnectionTest { .. }) => with_notice(&name, "tested"),
        Err(e) => to_page(e),
    }
}

/// Moves an integration to the version chosen: tested first; a failed test changes
/// nothing and shows its steps.
pub async fn upgrade(
    State(state): State<AppState>,
    Path(name): Path<String>,
    form: CsrfForm,
) -> Response {
    if let Some(refused) = form.refuse_viewer() {
        return refused;
    }
    let request = UpgradeIntegration {
        name: name.clone(),
        to: form.get("to").map(str::to_string),
        values: BTreeMap::new(),
        test: true,
        started_by: form.user(),
    };
    let failed = match state.platform.integrations().upgrade(request).await {
        Ok(_) => return with_notice(&name, "moved"),
        Err(e) => e,
    };
    let shown = match failed {
        ServiceError::ConnectionTest { report, .. } => Shown::Test(
            "The connection test with that version failed; the integration still runs the version it ran.".to_string(),
            report,
        ),
        e => Shown::Notice(Some(e.to_string())),
    };
    match integration_page(&state, &form.viewer, &name, 1, shown).await {
        Ok(page) => (StatusCode::CONFLICT, page).into_response(),
        Err(e) => to_page(e),
    }
}

pub async fn sync_now(
    State(state): State<AppState>,
    Path(name): Path<String>,
    form: CsrfForm,
) -> Response {
    if let Some(refused) = form.refuse_viewer() {
        return refused;
    }
    let full = form.get("full").is_some();
    match state
        .platform
        .syncs()
        .request(&name, &form.user(), full)
        .await
    {
        Ok(_) => with_notice(&name, "started"),
        Err(e) => to_page(e),
    }
}

pub async fn cancel(
    State(state): State<AppState>,
    Path(name): Path<String>,
    form: CsrfForm,
) -> Response {
    if let Some(refused) = form.refuse_viewer() {
        return refused;
    }
    match state.platform.syncs().cancel(&name).await {
        Ok(_) => with_notice(&name, "cancelling"),
        Err(e) => to_page(e),
    }
}

pub async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
    form: CsrfForm,
) -> Response {
    if let Some(refused) = form.refuse_viewer() {
        return refused;
    }
    match state.platform.integrations().remove(&name).await {
        Ok(()) => Redirect::to("/").into_response(),
        Err(e) => to_page(e),
    }
}
