//! Findings: a page with counts, one in detail, and a status set here.

use super::{Checked, DEFAULT_LIMIT, given};
use crate::model::{FindingStatus, Severity, StoredFinding};
use crate::service::{ExportFormat, FindingQuery, FindingsPage};
use crate::web::auth::{Admin, Caller};
use crate::web::download::download;
use crate::web::problem::Problem;
use crate::web::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};

/// Which findings, and which page.
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
    /// Only findings whose status changed at or after this RFC 3339 time.
    since: Option<String>,
    /// The `next` of the previous page.
    cursor: Option<String>,
    /// Findings per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

/// Comma-separated names, each parsed.
fn names<T: std::str::FromStr>(text: Option<&str>, what: &str) -> Result<Vec<T>, Problem>
where
    T::Err: std::fmt::Display,
{
    text.into_iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse()
                .map_err(|e| Problem::invalid(format!("{what}: {e}")))
        })
        .collect()
}

impl FindingParams {
    fn query(&self) -> Result<FindingQuery, Problem> {
        let since = match given(&self.since) {
            None => None,
            Some(t) => Some(crate::model::parse_time(t).ok_or_else(|| {
                Problem::invalid(format!("since: `{t}` is not an RFC 3339 time"))
            })?),
        };
        Ok(FindingQuery {
            integration: given(&self.integration).map(String::from),
            severities: names::<Severity>(given(&self.severity), "severity")?,
            statuses: names::<FindingStatus>(given(&self.status), "status")?,
            asset: given(&self.asset).map(String::from),
            inventory: given(&self.inventory).map(String::from),
            since,
        })
    }
}

/// A page of findings, most severe first, with the counts by severity of all that match.
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
        if self.cursor.is_some() || self.limit.is_some() {
            return Err(Problem::invalid(
                "an export holds every finding that matches: it takes no cursor or limit",
            ));
        }
        self.query()
    }
}

/// Every finding that matches, most severe first, as CSV (a header row, then one row per
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
    Ok(download(chunks, "text/csv; charset=utf-8", "findings.csv"))
}

/// Every finding that matches, most severe first, as one JSON array of the findings the
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
    Ok(download(chunks, "application/json", "findings.json"))
}

/// A finding with the source's raw record.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FindingView {
    /// The finding.
    finding: StoredFinding,
    /// The source's record, as it sent it.
    #[schema(value_type = Object)]
    raw: serde_json::Value,
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
    }))
}

/// A status to set.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// `failed`, `passed` or `accepted_failed`.
    status: FindingStatus,
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

/// Sets a finding's status here. The source stays the truth: the next sync of its
/// integration puts the source's status back.
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
    _admin: Admin,
    State(state): State<AppState>,
    Checked(Path((name, id))): Checked<Path<(String, String)>>,
    Checked(Json(change)): Checked<Json<StatusChange>>,
) -> Result<Json<StatusChanged>, Problem> {
    let set = state
        .platform
        .findings()
        .set_status(&id, Some(&name), change.status)
        .await?;
    Ok(Json(StatusChanged {
        was: set.finding.status,
        status: set.status,
        warning: format!(
            "the next sync of `{}` puts the source's status back",
            set.integration.name
        ),
    }))
}
