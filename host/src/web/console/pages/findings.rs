//! The Finding View, a finding's page, and setting its status.

use super::{FINDINGS_PAGE, Fields, choices, first, nav, page_link, time, to_page, urlencoding};
use crate::model::{FindingOrder, FindingSort, FindingStatus, Severity};
use crate::service::{ExportFormat, FindingFilterText, FindingQuery, ServiceError};
use crate::web::console::views::{FindingPage, FindingRow, FindingsPage, SortHeader};
use crate::web::console::{CsrfForm, Page, Viewer, charts};
use crate::web::download::download;
use crate::web::problem::Problem;
use crate::web::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};

/// The page sizes the Finding View offers.
const PAGE_SIZES: [usize; 4] = [25, 50, 100, 200];

/// The Finding View's filters and order read from its query string.
fn query_of(fields: &[(String, String)]) -> Result<FindingQuery, ServiceError> {
    let all = |key: &str| -> Vec<String> {
        (fields.iter())
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let one = |key: &str| first(fields, key).map(String::from);
    FindingQuery::parse(&FindingFilterText {
        integration: one("integration"),
        severities: all("severity"),
        statuses: all("status"),
        asset: one("asset"),
        inventory: one("inventory"),
        since: one("since"),
        search: one("q"),
        sort: one("sort"),
    })
}

/// The page size asked for: one of [`PAGE_SIZES`], else the default.
fn page_size(fields: &[(String, String)]) -> usize {
    first(fields, "limit")
        .and_then(|n| n.parse().ok())
        .filter(|n| PAGE_SIZES.contains(n))
        .unwrap_or(FINDINGS_PAGE)
}

/// The column headers: those that sort link to their sort (the reverse when already
/// sorted by it), and say how the page is sorted.
fn headers(fields: &[(String, String)], order: FindingOrder) -> Vec<SortHeader> {
    let column = |label: &'static str, by: Option<FindingSort>| {
        let Some(by) = by else {
            return SortHeader {
                label,
                link: None,
                state: "none",
            };
        };
        let current = order.by == by;
        let next = FindingOrder {
            by,
            descending: current && !order.descending,
        };
        let mut kept: Vec<(String, String)> = (fields.iter())
            .filter(|(k, _)| k != "sort")
            .cloned()
            .collect();
        kept.push(("sort".into(), next.to_string()));
        SortHeader {
            label,
            link: Some(page_link("/findings", &kept, None)),
            state: match (current, order.descending) {
                (false, _) => "none",
                (true, false) => "ascending",
                (true, true) => "descending",
            },
        }
    };
    vec![
        column("Severity", Some(FindingSort::Severity)),
        column("Title", Some(FindingSort::Title)),
        column("Asset", None),
        column("Status", Some(FindingSort::Status)),
        column("Integration", None),
        column("Status changed", Some(FindingSort::Changed)),
    ]
}

/// The findings the Finding View's filters match, whole, as CSV.
pub async fn export_csv(
    _viewer: Viewer,
    State(state): State<AppState>,
    Query(fields): Fields,
) -> Response {
    let query = match query_of(&fields) {
        Ok(q) => q,
        Err(e) => return to_page(e),
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
        Err(e) => return to_page(e),
    };
    let severities: Vec<&str> = query.severities.iter().map(|s| s.as_str()).collect();
    let statuses: Vec<&str> = query.statuses.iter().map(|s| s.as_str()).collect();
    let integration = query.integration.clone();
    let order = query.order;
    let limit = page_size(&fields);
    let cursor = first(&fields, "cursor");
    let page = match (state.platform.findings()).page(query, cursor, limit).await {
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
    let shown = page.findings.len() as u64;
    // An export is whole: no page size.
    let whole: Vec<(String, String)> = (fields.iter())
        .filter(|(k, _)| k != "limit")
        .cloned()
        .collect();
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
        since: first(&fields, "since").unwrap_or_default().to_string(),
        search: first(&fields, "q").unwrap_or_default().to_string(),
        sort: first(&fields, "sort").unwrap_or_default().to_string(),
        page_sizes: PAGE_SIZES.iter().map(|n| (*n, *n == limit)).collect(),
        headers: headers(&fields, order),
        counts: counts.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
        total: page.total,
        range: (shown > 0).then(|| {
            format!(
                "{}–{} of {}",
                page.offset + 1,
                page.offset + shown,
                page.total
            )
        }),
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
        previous: page.previous.as_deref().map(|c| link(Some(c))),
        first: (page.offset > 0).then(|| link(None)),
        export: page_link("/findings/export.csv", &whole, None),
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
