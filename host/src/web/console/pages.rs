//! The console's handlers: each reads its request, calls `service`, and renders a page.

use super::views::{
    AssetsPage, Card, Choice, ConfigurePage, FindingPage, FindingRow, FindingsPage, HistoryView,
    IntegrationPage, IntegrationsPage, LoginPage, Nav, PluginCard, ProgressView, StreamChoice,
    TestView, VersionChoice,
};
use super::{CsrfForm, Page, Viewer, charts, cleared_session_cookie, forms};
use crate::catalog::compare_versions;
use crate::model::{FindingStatus, HistoryRow, Severity};
use crate::service::ErrorKind;
use crate::service::{
    AddIntegration, AssetQuery, FindingQuery, ServiceError, SyncRequest, Syncs, TestReport,
    UpdateIntegration, UpgradeIntegration,
};
use crate::web::api::session_cookie;
use crate::web::auth::{cross_site, log_in};
use crate::web::client::Client;
use crate::web::problem::Problem;
use crate::web::state::AppState;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// History rows a page shows.
const HISTORY_PAGE: usize = 25;
/// Findings a page shows.
const FINDINGS_PAGE: usize = 50;
/// Assets per page.
const ASSETS_PAGE: usize = 50;
/// Runs the timeline draws.
const TIMELINE_RUNS: usize = 30;
// The first page of history is cut from the timeline's runs.
const _: () = assert!(TIMELINE_RUNS >= HISTORY_PAGE);

type Fields = Query<Vec<(String, String)>>;

fn nav(viewer: &Viewer, section: &'static str) -> Nav {
    let user = viewer.user();
    Nav {
        user: user.name.clone(),
        role: user.role.to_string(),
        admin: user.role.may_change(),
        csrf: viewer.session.csrf.clone(),
        section,
    }
}

fn first<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn counts_text(counts: &[(Severity, u64)]) -> String {
    match counts.is_empty() {
        true => "none".into(),
        false => counts
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect::<Vec<_>>()
            .join(" · "),
    }
}

fn to_page(e: ServiceError) -> Response {
    Page::service_error(e)
}

pub async fn login_form() -> Response {
    Page::render(&LoginPage { error: None })
}

pub async fn login(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    jar: CookieJar,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    let token = first(&fields, "token").unwrap_or_default().to_string();
    let refused = |problem: Problem| {
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::UNAUTHORIZED);
        let page = Page::render(&LoginPage {
            error: Some(problem.detail),
        });
        (status, page).into_response()
    };
    if cross_site(&headers, client.via_proxy) {
        return refused(Problem::new(
            ErrorKind::Forbidden,
            "this login form was sent from another site; log in from this console's own page",
        ));
    }
    match log_in(&state, client.ip, &token).await {
        Ok(login) => (
            jar.add(session_cookie(&state, client, &login)),
            Redirect::to("/"),
        )
            .into_response(),
        Err(problem) => refused(problem),
    }
}

pub async fn logout(State(state): State<AppState>, jar: CookieJar, form: CsrfForm) -> Response {
    if let Err(e) = state
        .platform
        .access()
        .logout(&form.viewer.session_id)
        .await
    {
        return to_page(e);
    }
    (jar.remove(cleared_session_cookie()), Redirect::to("/login")).into_response()
}

pub async fn integrations(
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
                    format!("every {days} day(s) at 01:15 UTC, once serve schedules it")
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

/// What a configure page starts from.
struct Form<'a> {
    is_new: bool,
    action: String,
    name: String,
    connector: &'a str,
    /// The plugin version whose settings the form shows: the newest for a new one.
    version: Option<&'a str>,
    /// The streams chosen; the plugin's defaults when `None`.
    streams: Option<Vec<String>>,
    values: BTreeMap<String, String>,
    stored: Vec<crate::service::ShownSetting>,
    policy: crate::model::Policy,
}

/// Renders a configure page: the form, the test's outcome, and the errors beside fields.
async fn configure_page(
    state: &AppState,
    viewer: &Viewer,
    form: Form<'_>,
    test: Option<&TestReport>,
    error: Option<(String, String)>,
) -> Response {
    let described = state
        .platform
        .plugin_versions()
        .describe(form.connector, form.version)
        .await;
    let plugin = match described {
        Ok(info) => info,
        Err(e) => return to_page(e),
    };
    let mut fields = forms::fields(&plugin.config_schema, &form.values, &form.stored);
    let (mut name_error, mut auto_sync_error, mut general) = (None, None, None);
    let mut streams_error = None;
    let chosen = form
        .streams
        .clone()
        .unwrap_or_else(|| plugin.default_streams());
    let streams = plugin
        .streams
        .iter()
        .map(|s| StreamChoice {
            name: s.name.clone(),
            label: s.label.clone(),
            description: s.description.clone(),
            checked: chosen.contains(&s.name),
        })
        .collect();
    if let Some((key, message)) = error {
        match key.as_str() {
            "name" => name_error = Some(message),
            "auto_sync_days" => auto_sync_error = Some(message),
            "streams" => streams_error = Some(message),
            _ => match fields.iter_mut().find(|f| f.key == key) {
                Some(field) => field.error = Some(message),
                None => general = Some(message),
            },
        }
    }
    let status = match (
        &general,
        &name_error,
        fields.iter().any(|f| f.error.is_some()),
    ) {
        (None, None, false)
            if auto_sync_error.is_none()
                && streams_error.is_none()
                && test.is_none_or(|t| t.error.is_none()) =>
        {
            StatusCode::OK
        }
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let page = Page::render(&ConfigurePage {
        nav: nav(viewer, "integrations"),
        is_new: form.is_new,
        action: form.action,
        name: form.name,
        name_error,
        connector: form.connector.to_string(),
        fields,
        auto_sync_days: form.policy.auto_sync_days,
        auto_sync_error,
        auto_onboard: form.policy.auto_onboard,
        update_metadata: form.policy.update_metadata,
        streams,
        streams_error,
        test: test.map(TestView::from),
        error: general,
    });
    (status, page).into_response()
}

/// Where a failed save's message goes: beside its field, or above the form.
fn placed(e: &ServiceError) -> (String, String) {
    match e {
        ServiceError::Setting(s) => (s.key.clone(), s.message.clone()),
        // Beside the first secret to enter again.
        ServiceError::SecretsNotReentered { secrets, .. } => {
            (secrets.first().cloned().unwrap_or_default(), e.to_string())
        }
        ServiceError::Exists(_) | ServiceError::BadIntegrationName(_) => {
            ("name".into(), e.to_string())
        }
        e => (String::new(), e.to_string()),
    }
}

pub async fn new_form(
    viewer: Viewer,
    State(state): State<AppState>,
    Query(fields): Fields,
) -> Response {
    let connector = match chosen_connector(&state, &fields).await {
        Ok(connector) => connector,
        Err(answer) => return answer,
    };
    let form = Form {
        is_new: true,
        action: format!("/integrations/new?connector={}", urlencoding(&connector)),
        name: String::new(),
        connector: &connector,
        version: None,
        streams: None,
        values: BTreeMap::new(),
        stored: Vec::new(),
        policy: crate::model::Policy::default(),
    };
    configure_page(&state, &viewer, form, None, None).await
}

/// The connector a configure form is for: the one the query names, else the only one
/// loaded; with several loaded and none named, the integrations page (the console's
/// home), where each plugin has its Configure button. No connector is assumed.
async fn chosen_connector(
    state: &AppState,
    query: &[(String, String)],
) -> Result<String, Response> {
    if let Some(named) = first(query, "connector") {
        return Ok(named.to_string());
    }
    let versions = state
        .platform
        .plugin_versions()
        .list()
        .await
        .map_err(to_page)?;
    let mut names: Vec<&str> = versions.iter().map(|v| v.info.name.as_str()).collect();
    names.dedup();
    match names.as_slice() {
        [only] => Ok(only.to_string()),
        [] => Err(to_page(ServiceError::NoPlugins)),
        _ => Err(Redirect::to("/").into_response()),
    }
}

fn urlencoding(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub async fn create(
    State(state): State<AppState>,
    Query(query): Fields,
    form: CsrfForm,
) -> Response {
    if let Some(refused) = form.refuse_viewer() {
        return refused;
    }
    let user = form.user();
    let connector = match chosen_connector(&state, &query).await {
        Ok(connector) => connector,
        Err(answer) => return answer,
    };
    let schema = match state
        .platform
        .plugin_versions()
        .describe(&connector, None)
        .await
    {
        Ok(info) => info.config_schema,
        Err(e) => return to_page(e),
    };
    let page = |submission: &forms::Submission| Form {
        is_new: true,
        action: format!("/integrations/new?connector={}", urlencoding(&connector)),
        name: submission.name.clone(),
        connector: &connector,
        version: None,
        streams: submission.streams.clone(),
        values: submission.values.clone(),
        stored: Vec::new(),
        policy: submission.policy,
    };
    let submission = match forms::read(&schema, &form.fields, &crate::model::Policy::default()) {
        Ok(s) => s,
        Err(refused) => {
            let forms::Refused { submission, error } = *refused;
            return configure_page(&state, &form.viewer, page(&submission), None, Some(error))
                .await;
        }
    };
    let integrations = state.platform.integrations();
    if submission.action == "test" {
        let tested = integrations
            .test_settings(&connector, submission.values.clone())
            .await;
        return match tested {
            Ok(report) | Err(ServiceError::ConnectionTest { report, .. }) => {
                configure_page(&state, &form.viewer, page(&submission), Some(&report), None).await
            }
            Err(e) => {
                configure_page(
                    &state,
                    &form.viewer,
                    page(&submission),
                    None,
                    Some(placed(&e)),
                )
                .await
            }
        };
    }
    if submission.name.trim().is_empty() {
        let error = ("name".to_string(), "is required".to_string());
        return configure_page(&state, &form.viewer, page(&submission), None, Some(error)).await;
    }
    let added = integrations
        .add(AddIntegration {
            name: submission.name.trim().to_string(),
            connector: connector.clone(),
            version: None,
            streams: submission.streams.clone(),
            values: submission.values.clone(),
            policy: submission.policy_change(),
            test: !submission.save_anyway,
            started_by: user,
        })
        .await;
    let saved = added.map(|_| ());
    after_save(
        &state,
        &form.viewer,
        submission.name.trim(),
        page(&submission),
        saved,
    )
    .await
}

/// After a save: the integration's page, or the form again with why nothing was saved.
async fn after_save(
    state: &AppState,
    viewer: &Viewer,
    name: &str,
    form: Form<'_>,
    saved: Result<(), ServiceError>,
) -> Response {
    match saved {
        Ok(()) => Redirect::to(&format!("/integrations/{}?notice=saved", urlencoding(name)))
            .into_response(),
        Err(ServiceError::ConnectionTest { report, .. }) => {
            let error = (
                String::new(),
                "The connection test failed, so nothing was saved. Fix the settings, or check “Save even if the connection test fails”.".to_string(),
            );
            configure_page(state, viewer, form, Some(&report), Some(error)).await
        }
        Err(e) => configure_page(state, viewer, form, None, Some(placed(&e))).await,
    }
}

pub async fn edit_form(
    viewer: Viewer,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    let view = match state.platform.integrations().show(&name).await {
        Ok(v) => v,
        Err(e) => return to_page(e),
    };
    let values = view
        .settings
        .iter()
        .filter_map(|s| s.value.clone().map(|v| (s.key.clone(), v)))
        .collect();
    let form = Form {
        is_new: false,
        action: format!("/integrations/{}/edit", urlencoding(&name)),
        name: view.name.clone(),
        connector: &view.connector,
        version: Some(&view.plugin_version),
        streams: Some(view.streams.clone()),
        values,
        stored: view.settings.clone(),
        policy: view.policy,
    };
    configure_page(&state, &viewer, form, None, None).await
}

pub async fn edit(
    State(state): State<AppState>,
    Path(name): Path<String>,
    form: CsrfForm,
) -> Response {
    if let Some(refused) = form.refuse_viewer() {
        return refused;
    }
    let user = form.user();
    let integrations = state.platform.integrations();
    let view = match integrations.show(&name).await {
        Ok(v) => v,
        Err(e) => return to_page(e),
    };
    let described = state
        .platform
        .plugin_versions()
        .describe(&view.connector, Some(&view.plugin_version))
        .await;
    let schema = match described {
        Ok(info) => info.config_schema,
        Err(e) => return to_page(e),
    };
    let page = |values: BTreeMap<String, String>, policy, streams: Option<Vec<String>>| Form {
        is_new: false,
        action: format!("/integrations/{}/edit", urlencoding(&name)),
        name: name.clone(),
        connector: &view.connector,
        version: Some(&view.plugin_version),
        streams: streams.or_else(|| Some(view.streams.clone())),
        values,
        stored: view.settings.clone(),
        policy,
    };
    let submission = match forms::read(&schema, &form.fields, &view.policy) {
        Ok(s) => s,
        Err(refused) => {
            // What was typed comes back (secrets as "keep the stored one"), so submitting
            // the form again unsets nothing.
            let forms::Refused { submission, error } = *refused;
            let form_page = page(submission.values, submission.policy, submission.streams);
            return configure_page(&state, &form.viewer, form_page, None, Some(error)).await;
        }
    };
    // A cleared input falls back to the default; a secret left empty keeps the stored one.
    let unset = view
        .settings
        .iter()
        .filter(|s| !s.secret && s.value.is_some() && !submission.values.contains_key(&s.key))
        .map(|s| s.key.clone())
        .collect();
    let request = UpdateIntegration {
        name: name.clone(),
        values: submission.values.clone(),
        unset,
        streams: submission.streams.clone(),
        policy: submission.policy_change(),
        test: !submission.save_anyway,
        started_by: user,
    };
    let form_page = page(submission.values, submission.policy, submission.streams);
    if submission.action == "test" {
        // Test Connection tests what is typed and saves nothing.
        return match integrations.test_update(&request).await {
            Ok(report) | Err(ServiceError::ConnectionTest { report, .. }) => {
                configure_page(&state, &form.viewer, form_page, Some(&report), None).await
            }
            Err(e) => configure_page(&state, &form.viewer, form_page, None, Some(placed(&e))).await,
        };
    }
    let saved = integrations.update(request).await.map(|_| ());
    after_save(&state, &form.viewer, &name, form_page, saved).await
}

fn history_view(r: &HistoryRow) -> HistoryView {
    let c = &r.counts;
    HistoryView {
        action: r.action.to_string(),
        started: time(&r.started_at),
        finished: r.finished_at.as_ref().map(time).unwrap_or_default(),
        started_by: r.started_by.clone(),
        status: r.status.to_string(),
        counts: match r.details.as_deref() {
            Some(details) => details.to_string(),
            None => format!(
                "findings: {} new, {} updated, {} unchanged, {} closed; assets: {} onboarded, {} updated",
                c.findings_new,
                c.findings_updated,
                c.findings_unchanged,
                c.findings_closed,
                c.assets_onboarded,
                c.assets_updated
            ),
        },
        warnings: r.warnings.clone(),
        error: r.error.clone().unwrap_or_default(),
    }
}

/// Renders an integration's page, with a notice or a test's outcome.
async fn integration_page(
    state: &AppState,
    viewer: &Viewer,
    name: &str,
    page: usize,
    notice: Option<String>,
    test: Option<&TestReport>,
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
            .map(|s| (s.key.clone(), s.shown()))
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
        test: test.map(TestView::from),
        running: status.running_here.map(|r| ProgressView {
            done: r.done,
            total: r.total.map(|t| t.to_string()).unwrap_or_default(),
            started_by: r.started_by,
        }),
        bar: charts::severity_bar(&counts),
        timeline: charts::timeline(&recent.runs),
        history: shown.iter().map(history_view).collect(),
        page,
        pages,
    }))
}

fn notice_text(code: Option<&str>) -> Option<String> {
    match code? {
        "saved" => Some("Saved.".into()),
        "moved" => Some("Now runs the chosen version; the next sync is full.".into()),
        "started" => Some("Sync started.".into()),
        _ => None,
    }
}

pub async fn integration(
    viewer: Viewer,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(fields): Fields,
) -> Response {
    let page = first(&fields, "page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let notice = notice_text(first(&fields, "notice"));
    integration_page(&state, &viewer, &name, page, notice, None)
        .await
        .unwrap_or_else(to_page)
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
    let report = match state.platform.integrations().test(&name, &user).await {
        Ok(report) | Err(ServiceError::ConnectionTest { report, .. }) => report,
        Err(e) => return to_page(e),
    };
    integration_page(&state, &form.viewer, &name, 1, None, Some(&report))
        .await
        .unwrap_or_else(to_page)
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
        Ok(_) => {
            let to = format!("/integrations/{}?notice=moved", urlencoding(&name));
            return Redirect::to(&to).into_response();
        }
        Err(e) => e,
    };
    let (notice, report) = match failed {
        ServiceError::ConnectionTest { report, .. } => (
            "The connection test with that version failed; the integration still runs the version it ran.".to_string(),
            Some(report),
        ),
        e => (e.to_string(), None),
    };
    match integration_page(
        &state,
        &form.viewer,
        &name,
        1,
        Some(notice),
        report.as_ref(),
    )
    .await
    {
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
    let user = form.user();
    let request = SyncRequest {
        action: crate::model::Action::SyncNow,
        started_by: user,
        full: form.get("full").is_some(),
        progress: None,
        cancel: Arc::new(AtomicBool::new(false)),
        started: None,
    };
    match Syncs::start(&state.platform, &name, request).await {
        Ok(()) => Redirect::to(&format!(
            "/integrations/{}?notice=started",
            urlencoding(&name)
        ))
        .into_response(),
        Err(e @ ServiceError::AlreadyRunning { .. }) => {
            match integration_page(&state, &form.viewer, &name, 1, Some(e.to_string()), None).await
            {
                Ok(page) => (StatusCode::CONFLICT, page).into_response(),
                Err(e) => to_page(e),
            }
        }
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

fn choices(values: &[&str], chosen: &[&str]) -> Vec<Choice> {
    values
        .iter()
        .map(|v| Choice {
            value: v.to_string(),
            checked: chosen.contains(v),
        })
        .collect()
}

/// A `since` date (`YYYY-MM-DD`, midnight UTC) or time (RFC 3339).
fn since(text: &str) -> Option<DateTime<Utc>> {
    crate::model::parse_time(text).or_else(|| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
    })
}

pub async fn findings(
    viewer: Viewer,
    State(state): State<AppState>,
    Query(fields): Fields,
) -> Response {
    let all = |key: &str| -> Vec<&str> {
        fields
            .iter()
            .filter(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let severities = all("severity");
    let statuses = all("status");
    let parsed_severities: Result<Vec<Severity>, _> =
        severities.iter().map(|s| s.parse()).collect();
    let parsed_statuses: Result<Vec<FindingStatus>, _> =
        statuses.iter().map(|s| s.parse()).collect();
    let (parsed_severities, parsed_statuses) = match (parsed_severities, parsed_statuses) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) => return Page::error(Problem::invalid(e.to_string())),
        (_, Err(e)) => return Page::error(Problem::invalid(e.to_string())),
    };
    let since_text = first(&fields, "since").unwrap_or_default().to_string();
    let since_time = match since_text.as_str() {
        "" => None,
        text => match since(text) {
            Some(t) => Some(t),
            None => return Page::error(Problem::invalid(format!("`{text}` is not a date"))),
        },
    };
    let integration = first(&fields, "integration").map(String::from);
    let query = FindingQuery {
        integration: integration.clone(),
        severities: parsed_severities,
        statuses: parsed_statuses,
        asset: first(&fields, "asset").map(String::from),
        inventory: first(&fields, "inventory").map(String::from),
        since: since_time,
    };
    let cursor = first(&fields, "cursor");
    let page = match state
        .platform
        .findings()
        .page(query, cursor, FINDINGS_PAGE)
        .await
    {
        Ok(p) => p,
        Err(e) => return to_page(e),
    };
    let names = match state.platform.integrations().list().await {
        Ok(list) => list.into_iter().map(|i| i.name).collect::<Vec<_>>(),
        Err(e) => return to_page(e),
    };
    let link = |cursor: Option<&str>| page_link("/findings", &fields, cursor);
    let counts: Vec<(Severity, u64)> = page
        .by_severity
        .iter()
        .map(|c| (c.severity, c.count))
        .collect();
    let severity_names: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
    let status_names: Vec<&str> = FindingStatus::ALL.iter().map(|s| s.as_str()).collect();
    let chosen_integration: Vec<&str> = integration.as_deref().into_iter().collect();
    Page::render(&FindingsPage {
        nav: nav(&viewer, "findings"),
        integrations: choices(
            &names.iter().map(String::as_str).collect::<Vec<_>>(),
            &chosen_integration,
        ),
        severities: choices(&severity_names, &severities),
        statuses: choices(&status_names, &statuses),
        asset: first(&fields, "asset").unwrap_or_default().to_string(),
        inventory: first(&fields, "inventory").unwrap_or_default().to_string(),
        since: since_text,
        counts: counts.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
        total: page.total,
        bar: charts::severity_bar(&counts),
        rows: page
            .findings
            .into_iter()
            .map(|finding| FindingRow {
                changed: finding
                    .status_changed_at
                    .or(finding.created_at)
                    .as_ref()
                    .map(time)
                    .unwrap_or_default(),
                finding,
            })
            .collect(),
        next: page.next.as_deref().map(|c| link(Some(c))),
        first: cursor.map(|_| link(None)),
    })
}

/// A link to `path` with the same filters as `fields` and the page at `cursor`.
fn page_link(path: &str, fields: &[(String, String)], cursor: Option<&str>) -> String {
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

async fn finding_page(
    state: &AppState,
    viewer: &Viewer,
    integration: &str,
    id: &str,
    notice: Option<String>,
) -> Result<Response, ServiceError> {
    let detail = state
        .platform
        .findings()
        .show(id, Some(integration))
        .await?;
    let f = &detail.finding;
    let dates = [
        ("Created", f.created_at),
        ("Updated", f.updated_at),
        ("Status changed", f.status_changed_at),
        ("Resolved", f.resolved_at),
        ("Due", f.due_at),
    ]
    .into_iter()
    .filter_map(|(k, t)| t.map(|t| (k.to_string(), time(&t))))
    .collect();
    let raw = serde_json::to_string_pretty(&detail.raw).unwrap_or_default();
    let mut finding = detail.finding;
    // A link stored before links were screened goes in an `href` only if it is http(s).
    finding.portal_url = finding
        .portal_url
        .filter(|url| crate::policy::screen::link(url).is_ok());
    Ok(Page::render(&FindingPage {
        nav: nav(viewer, "findings"),
        finding,
        dates,
        raw,
        notice,
    }))
}

pub async fn finding(
    viewer: Viewer,
    State(state): State<AppState>,
    Path((integration, id)): Path<(String, String)>,
) -> Response {
    finding_page(&state, &viewer, &integration, &id, None)
        .await
        .unwrap_or_else(to_page)
}

pub async fn set_status(
    State(state): State<AppState>,
    Path((integration, id)): Path<(String, String)>,
    form: CsrfForm,
) -> Response {
    if let Some(refused) = form.refuse_viewer() {
        return refused;
    }
    let status = match form.get("status").map(str::parse::<FindingStatus>) {
        Some(Ok(s)) => s,
        _ => {
            return Page::error(Problem::invalid(
                "choose a status: failed, passed or accepted_failed",
            ));
        }
    };
    match state
        .platform
        .findings()
        .set_status(&id, Some(&integration), status)
        .await
    {
        Ok(set) => {
            let notice = format!(
                "Status set to {}. The next sync of {} puts the source's status back.",
                set.status, set.integration.name
            );
            finding_page(&state, &form.viewer, &integration, &id, Some(notice))
                .await
                .unwrap_or_else(to_page)
        }
        Err(e) => to_page(e),
    }
}

pub async fn assets(
    viewer: Viewer,
    State(state): State<AppState>,
    Query(fields): Fields,
) -> Response {
    let integration = first(&fields, "integration")
        .unwrap_or_default()
        .to_string();
    let asset_type = first(&fields, "type").unwrap_or_default().to_string();
    let cloud = first(&fields, "cloud").unwrap_or_default().to_string();
    let cursor = first(&fields, "cursor");
    let listed = state
        .platform
        .inventory()
        .page(
            AssetQuery {
                integration: (!integration.is_empty()).then(|| integration.clone()),
                asset_type: (!asset_type.is_empty()).then(|| asset_type.clone()),
                cloud: (!cloud.is_empty()).then(|| cloud.clone()),
            },
            cursor,
            ASSETS_PAGE,
        )
        .await;
    let page = match listed {
        Ok(page) => page,
        Err(e) => return to_page(e),
    };
    let names = match state.platform.integrations().list().await {
        Ok(list) => list.into_iter().map(|i| i.name).collect::<Vec<_>>(),
        Err(e) => return to_page(e),
    };
    Page::render(&AssetsPage {
        nav: nav(&viewer, "assets"),
        integrations: choices(
            &names.iter().map(String::as_str).collect::<Vec<_>>(),
            &[integration.as_str()],
        ),
        integration,
        asset_type,
        cloud,
        total: page.total,
        assets: page.assets,
        next: page
            .next
            .as_deref()
            .map(|c| page_link("/assets", &fields, Some(c))),
        first: cursor.map(|_| page_link("/assets", &fields, None)),
    })
}
