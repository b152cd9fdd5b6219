//! The Finding View, a finding's page, and setting its status.

use super::{FINDINGS_PAGE, Fields, choices, first, nav, page_link, time, to_page, urlencoding};
use crate::model::{FindingStatus, Severity};
use crate::service::{ExportFormat, FindingQuery, ServiceError};
use crate::web::console::views::{FindingPage, FindingRow, FindingsPage};
use crate::web::console::{CsrfForm, Page, Viewer, charts};
use crate::web::download::download;
use crate::web::problem::Problem;
use crate::web::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};

/// A `since` date (`YYYY-MM-DD`, midnight UTC) or time (RFC 3339).
fn since(text: &str) -> Option<DateTime<Utc>> {
    crate::model::parse_time(text).or_else(|| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
    })
}

/// The Finding View's filters read from its query string, or what is wrong with them.
fn query_of(fields: &[(String, String)]) -> Result<FindingQuery, String> {
    let all = |key: &str| -> Vec<&str> {
        fields
            .iter()
            .filter(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let severities: Vec<Severity> = (all("severity").iter().map(|s| s.parse()))
        .collect::<Result<_, _>>()
        .map_err(|e: crate::model::UnknownName| e.to_string())?;
    let statuses: Vec<FindingStatus> = (all("status").iter().map(|s| s.parse()))
        .collect::<Result<_, _>>()
        .map_err(|e: crate::model::UnknownName| e.to_string())?;
    let since_time = match first(fields, "since").unwrap_or_default() {
        "" => None,
        text => Some(since(text).ok_or_else(|| format!("`{text}` is not a date"))?),
    };
    Ok(FindingQuery {
        integration: first(fields, "integration").map(String::from),
        severities,
        statuses,
        asset: first(fields, "asset").map(String::from),
        inventory: first(fields, "inventory").map(String::from),
        since: since_time,
    })
}

/// The findings the Finding View's filters match, whole, as CSV.
pub async fn export_csv(
    _viewer: Viewer,
    State(state): State<AppState>,
    Query(fields): Fields,
) -> Response {
    let query = match query_of(&fields) {
        Ok(q) => q,
        Err(wrong) => return Page::error(Problem::invalid(wrong)),
    };
    match state
        .platform
        .export_findings(query, ExportFormat::Csv)
        .await
    {
        Ok(chunks) => download(chunks, "text/csv; charset=utf-8", "findings.csv"),
        Err(e) => to_page(e),
    }
}

pub async fn list(
    viewer: Viewer,
    State(state): State<AppState>,
    Query(fields): Fields,
) -> Response {
    let query = match query_of(&fields) {
        Ok(q) => q,
        Err(wrong) => return Page::error(Problem::invalid(wrong)),
    };
    let severities: Vec<&str> = query.severities.iter().map(|s| s.as_str()).collect();
    let statuses: Vec<&str> = query.statuses.iter().map(|s| s.as_str()).collect();
    let since_text = first(&fields, "since").unwrap_or_default().to_string();
    let integration = query.integration.clone();
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
        export: page_link("/findings/export.csv", &fields, None),
    })
}

async fn finding_page(
    state: &AppState,
    viewer: &Viewer,
    integration: &str,
    id: &str,
    status_set: bool,
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
    // Said after a status was set here, from the finding as it now stands.
    let notice = status_set.then(|| {
        format!(
            "Status set to {}. The next sync of {} puts the source's status back.",
            f.status, f.integration
        )
    });
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

pub async fn show(
    viewer: Viewer,
    State(state): State<AppState>,
    Path((integration, id)): Path<(String, String)>,
    Query(fields): Fields,
) -> Response {
    let status_set = first(&fields, "notice") == Some("status-set");
    finding_page(&state, &viewer, &integration, &id, status_set)
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
        // Post/redirect/get: a reload of the page shown next never sets it again.
        Ok(set) => Redirect::to(&format!(
            "/findings/{}/{}?notice=status-set",
            urlencoding(&set.integration.name),
            urlencoding(&id)
        ))
        .into_response(),
        Err(e) => to_page(e),
    }
}
