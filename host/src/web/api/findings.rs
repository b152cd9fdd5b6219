//! Findings: a page with counts, one in detail, and a status set here.

use super::{Checked, DEFAULT_LIMIT, whole_export};
use crate::model::{FindingStatus, StatusChangeRecord, StoredFinding};
use crate::service::{
    ExportFormat, FindingFilterText, FindingQuery, FindingsPage, Selection, StatusRequest,
    status_warning,
};
use crate::web::auth::{Admin, Caller};
use crate::web::download::download;
use crate::web::problem::Problem;
use crate::web::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};

/// Which findings, in what order, and which page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FindingParams {
    /// Only this integration's.
    integration: Option<String>,
    /// Only these severities, comma-separated (`critical,high`).
    severity: Option<String>,
    /// Only these statuses, comma-separated (`failed,accepted_failed`).
    status: Option<String>,
    /// Only findings on this asset (its source id).
    asset: Option<String>,
    /// Only findings on this inventory asset (its canonical key), from any integration.
    inventory: Option<String>,
    /// Only findings whose status changed at or after this date (`YYYY-MM-DD`, UTC) or
    /// RFC 3339 time.
    since: Option<String>,
    /// Words, separated by spaces, that the title or rule name must each hold (any part
    /// of a word, ignoring case).
    q: Option<String>,
    /// The order: `severity` (most severe first, the default), `title`, `asset` (its
    /// name), `status` or `changed` (oldest first); a leading `-` reverses it.
    sort: Option<String>,
    /// The `next` or `previous` of another page of the same query.
    cursor: Option<String>,
    /// Findings per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

impl FindingParams {
    fn query(&self) -> Result<FindingQuery, Problem> {
        let text = FindingFilterText {
            integration: self.integration.clone(),
            severities: self.severity.iter().cloned().collect(),
            statuses: self.status.iter().cloned().collect(),
            asset: self.asset.clone(),
            inventory: self.inventory.clone(),
            since: self.since.clone(),
            search: self.q.clone(),
            sort: self.sort.clone(),
        };
        Ok(FindingQuery::parse(&text)?)
    }
}

/// A page of findings in the order asked for (most severe first by default), with the
/// counts by severity of all that match and the cursors of the pages on either side.
#[utoipa::path(get, path = "/findings", params(FindingParams), responses(
    (status = 200, body = FindingsPage),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub async fn list(
    _caller: Caller,
    State(state): State<AppState>,
    Checked(Query(params)): Checked<Query<FindingParams>>,
) -> Result<Json<FindingsPage>, Problem> {
    let query = params.query()?;
    let page = state
        .platform
        .findings()
        .page(
            query,
            params.cursor.as_deref(),
            params.limit.unwrap_or(DEFAULT_LIMIT),
        )
        .await?;
    Ok(Json(page))
}

impl FindingParams {
    /// The query of an export: the filters alone, since an export is whole.
    fn export_query(&self) -> Result<FindingQuery, Problem> {
        whole_export(&self.cursor, self.limit, "finding")?;
        self.query()
    }
}

/// Every finding that matches, in the order asked for, as CSV (a header row, then one row per
/// finding; cells a spreadsheet would run as formulas start with `'`). Streamed: any size.
#[utoipa::path(get, path = "/findings/export.csv", params(FindingParams), responses(
    (status = 200, body = String, content_type = "text/csv"),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub async fn export_csv(
    _caller: Caller,
    State(state): State<AppState>,
    Checked(Query(params)): Checked<Query<FindingParams>>,
) -> Result<Response, Problem> {
    let chunks = (state.platform)
        .export_findings(params.export_query()?, ExportFormat::Csv)
        .await?;
    Ok(download(chunks, ExportFormat::Csv, "findings"))
}

/// Every finding that matches, in the order asked for, as one JSON array of the findings the
/// list gives. Streamed: any size.
#[utoipa::path(get, path = "/findings/export.json", params(FindingParams), responses(
    (status = 200, body = Vec<StoredFinding>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub async fn export_json(
    _caller: Caller,
    State(state): State<AppState>,
    Checked(Query(params)): Checked<Query<FindingParams>>,
) -> Result<Response, Problem> {
    let chunks = (state.platform)
        .export_findings(params.export_query()?, ExportFormat::Json)
        .await?;
    Ok(download(chunks, ExportFormat::Json, "findings"))
}

/// A finding with the source's raw record.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FindingView {
    /// The finding.
    finding: StoredFinding,
    /// The source's record, as it sent it.
    #[schema(value_type = Object)]
    raw: serde_json::Value,
    /// The statuses set on it here, oldest first: who, when, from what, to what, why.
    status_changes: Vec<StatusChangeRecord>,
}

/// One finding in detail: remediation, rule, dates, portal link and the raw record.
#[utoipa::path(get, path = "/integrations/{name}/findings/{id}", params(
    ("name" = String, Path, description = "Integration name"),
    ("id" = String, Path, description = "The source's finding id"),
), responses(
    (status = 200, body = FindingView),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub async fn show(
    _caller: Caller,
    State(state): State<AppState>,
    Checked(Path((name, id))): Checked<Path<(String, String)>>,
) -> Result<Json<FindingView>, Problem> {
    let detail = state.platform.findings().show(&id, Some(&name)).await?;
    Ok(Json(FindingView {
        finding: detail.finding,
        raw: detail.raw,
        status_changes: detail.changes,
    }))
}

/// A status to set, and why.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// `failed`, `passed` or `accepted_failed`.
    status: FindingStatus,
    /// Why: recorded on the finding and in history with who and when (1 to 500
    /// characters).
    reason: String,
}

/// What setting a status did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusChanged {
    /// The status before.
    was: FindingStatus,
    /// The status now.
    status: FindingStatus,
    /// What the next sync does to it.
    warning: String,
}

/// Sets a finding's status here, recording who, when and why. The source stays the
/// truth: the next sync of its integration puts the source's status back.
#[utoipa::path(put, path = "/integrations/{name}/findings/{id}/status", params(
    ("name" = String, Path, description = "Integration name"),
    ("id" = String, Path, description = "The source's finding id"),
), request_body = StatusChange, responses(
    (status = 200, body = StatusChanged),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub async fn set_status(
    admin: Admin,
    State(state): State<AppState>,
    Checked(Path((name, id))): Checked<Path<(String, String)>>,
    Checked(Json(change)): Checked<Json<StatusChange>>,
) -> Result<Json<StatusChanged>, Problem> {
    let request = StatusRequest {
        status: change.status,
        reason: change.reason,
        by: admin.user.name,
    };
    let set = (state.platform.findings())
        .set_status(&id, Some(&name), request)
        .await?;
    Ok(Json(StatusChanged {
        was: set.finding.status,
        status: set.status,
        warning: status_warning(&[set.integration.name]),
    }))
}

/// A finding by its integration and id.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingKey {
    /// The integration's name.
    integration: String,
    /// The source's finding id.
    id: String,
}

/// A status to set on several findings: those listed, or every finding the filters
/// match (the Finding View's, as in `GET /findings`), one or the other.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkStatusChange {
    /// `failed`, `passed` or `accepted_failed`.
    status: FindingStatus,
    /// Why: recorded on each finding and in history with who and when (1 to 500
    /// characters).
    reason: String,
    /// These findings.
    findings: Option<Vec<FindingKey>>,
    /// Every finding these filters match: `integration`, `severity`, `status`, `asset`,
    /// `inventory`, `since` and `q`, as text.
    matching: Option<std::collections::BTreeMap<String, String>>,
}

/// What a status change on several findings did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusesChanged {
    /// The status set.
    status: FindingStatus,
    /// How many findings changed (those that had the status already did not).
    changed: u64,
    /// The integrations whose findings changed.
    integrations: Vec<String>,
    /// What the next sync does to them.
    warning: String,
}

impl BulkStatusChange {
    fn selection(&mut self) -> Result<Selection, Problem> {
        match (self.findings.take(), self.matching.take()) {
            (Some(keys), None) => Ok(Selection::These(
                keys.into_iter().map(|k| (k.integration, k.id)).collect(),
            )),
            (None, Some(mut filters)) => {
                let mut take = |key: &str| filters.remove(key);
                let text = FindingFilterText {
                    integration: take("integration"),
                    severities: take("severity").into_iter().collect(),
                    statuses: take("status").into_iter().collect(),
                    asset: take("asset"),
                    inventory: take("inventory"),
                    since: take("since"),
                    search: take("q"),
                    sort: None,
                };
                if let Some(unknown) = filters.keys().next() {
                    return Err(Problem::invalid(format!(
                        "matching: `{unknown}` is not a filter; use integration, severity, status, asset, inventory, since or q"
                    )));
                }
                Ok(Selection::Matching(FindingQuery::parse(&text)?))
            }
            _ => Err(Problem::invalid(
                "give either `findings` (a list) or `matching` (filters), not both or neither",
            )),
        }
    }
}

/// Sets a status here on several findings at once, recording who, when and why on each
/// and one history row per integration. The source stays the truth: the next sync puts
/// the source's statuses back.
#[utoipa::path(post, path = "/findings/status", request_body = BulkStatusChange, responses(
    (status = 200, body = StatusesChanged),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub async fn set_statuses(
    admin: Admin,
    State(state): State<AppState>,
    Checked(Json(mut change)): Checked<Json<BulkStatusChange>>,
) -> Result<Json<StatusesChanged>, Problem> {
    let selection = change.selection()?;
    let request = StatusRequest {
        status: change.status,
        reason: change.reason,
        by: admin.user.name,
    };
    let set = (state.platform.findings())
        .set_statuses(selection, request)
        .await?;
    Ok(Json(StatusesChanged {
        status: set.status,
        changed: set.changed,
        warning: status_warning(&set.integrations),
        integrations: set.integrations,
    }))
}
