//! The Finding View, a finding's page, and setting its status.

use super::{FINDINGS_PAGE, Fields, choices, first, nav, page_link, time, to_page, urlencoding};
use crate::model::{FindingOrder, FindingSort, FindingStatus, Severity};
use crate::service::{
    ExportFormat, FindingFilterText, FindingQuery, Selection, ServiceError, StatusRequest,
};
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

/// The notice after statuses were set, from the values the redirect carried: only a
/// count and a status name are ever shown.
fn statuses_notice(fields: &[(String, String)]) -> Option<String> {
    if first(fields, "notice") != Some("statuses-set") {
        return None;
    }
    let changed: u64 = first(fields, "changed")?.parse().ok()?;
    let status: FindingStatus = first(fields, "to")?.parse().ok()?;
    let findings = if changed == 1 { "finding" } else { "findings" };
    Some(format!(
        "Status set to {status} on {changed} {findings}. The next sync puts the source's status back."
    ))
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
        column("Asset", Some(FindingSort::Asset)),
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
        Ok(chunks) => download(chunks, ExportFormat::Csv, "findings"),
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
    let asset_card = match first(&fields, "inventory") {
        Some(key) => match state.platform.inventory().asset(key).await {
            Ok(asset) => Some(asset),
            Err(e) => return to_page(e),
        },
        None => None,
    };
    let names = match state.platform.integrations().list().await {
        Ok(list) => list.into_iter().map(|i| i.name).collect::<Vec<_>>(),
        Err(e) => return to_page(e),
    };
    let notice = statuses_notice(&fields);
    let fields: Vec<(String, String)> = (fields.into_iter())
        .filter(|(k, _)| !["notice", "changed", "to"].contains(&k.as_str()))
        .collect();
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
        filter_fields: (fields.iter())
            .filter(|(k, v)| FILTER_FIELDS.contains(&k.as_str()) && !v.is_empty())
            .cloned()
            .collect(),
        notice,
        asset_card,
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
    let changes = (detail.changes.into_iter())
        .map(|c| (time(&c.at), c))
        .collect();
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
        changes,
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

/// The status a form's `field` names, with its reason and who sent it; or what to choose
/// when it names none.
fn status_request(form: &CsrfForm, field: &str) -> Result<StatusRequest, &'static str> {
    let Some(Ok(status)) = form.get(field).map(str::parse::<FindingStatus>) else {
        return Err("choose a status: failed, passed or accepted_failed");
    };
    Ok(StatusRequest {
        status,
        reason: form.get("reason").unwrap_or_default().to_string(),
        by: form.viewer.user().name.clone(),
    })
}

pub async fn set_status(
    State(state): State<AppState>,
    Path((integration, id)): Path<(String, String)>,
    form: CsrfForm,
) -> Response {
    if let Some(refused) = form.refuse_viewer() {
        return refused;
    }
    let request = match status_request(&form, "status") {
        Ok(request) => request,
        Err(wrong) => return Page::error(Problem::invalid(wrong)),
    };
    match (state.platform.findings())
        .set_status(&id, Some(&integration), request)
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

/// The filters of the Finding View a bulk change came from, to go back to.
const FILTER_FIELDS: [&str; 7] = [
    "integration",
    "severity",
    "status",
    "asset",
    "inventory",
    "since",
    "q",
];

/// Sets a status on the findings ticked in the Finding View, or on every finding its
/// filters match, then goes back to the view with a notice.
pub async fn set_statuses(State(state): State<AppState>, form: CsrfForm) -> Response {
    if let Some(refused) = form.refuse_viewer() {
        return refused;
    }
    let filters: Vec<(String, String)> = (form.fields.iter())
        .filter(|(k, v)| FILTER_FIELDS.contains(&k.as_str()) && !v.is_empty())
        .cloned()
        .collect();
    let selection = match form.get("scope") {
        Some("matching") => match query_of(&filters) {
            Ok(query) => Selection::Matching(query),
            Err(e) => return to_page(e),
        },
        _ => Selection::These(
            (form.fields.iter())
                .filter(|(k, _)| k == "finding")
                .filter_map(|(_, v)| v.split_once('/'))
                .map(|(integration, id)| (integration.to_string(), id.to_string()))
                .collect(),
        ),
    };
    let request = match status_request(&form, "new_status") {
        Ok(request) => request,
        Err(wrong) => return Page::error(Problem::invalid(wrong)),
    };
    match (state.platform.findings())
        .set_statuses(selection, request)
        .await
    {
        Ok(set) => {
            let mut back = filters;
            back.extend([
                ("notice".to_string(), "statuses-set".to_string()),
                ("changed".to_string(), set.changed.to_string()),
                ("to".to_string(), set.status.to_string()),
            ]);
            // Post/redirect/get: a reload of the view never sets them again.
            Redirect::to(&page_link("/findings", &back, None)).into_response()
        }
        Err(e) => to_page(e),
    }
}
