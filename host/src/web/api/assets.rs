//! The shared inventory: list it, import into it.

use super::{Checked, DEFAULT_LIMIT, given, whole_export};
use crate::model::InventoryAsset;
use crate::service::{AssetQuery, AssetsPage, ExportFormat};
use crate::web::auth::{Admin, Caller};
use crate::web::download::download;
use crate::web::problem::Problem;
use crate::web::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};

/// Which assets.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AssetParams {
    /// One integration's assets, by their source ids; else the whole inventory.
    integration: Option<String>,
    /// Only this asset type (case-insensitive).
    #[serde(rename = "type")]
    asset_type: Option<String>,
    /// Only this cloud platform (case-insensitive).
    cloud: Option<String>,
    /// The `next` of the previous page.
    cursor: Option<String>,
    /// Assets per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

impl AssetParams {
    fn query(&self) -> AssetQuery {
        AssetQuery {
            integration: given(&self.integration).map(String::from),
            asset_type: given(&self.asset_type).map(String::from),
            cloud: given(&self.cloud).map(String::from),
        }
    }

    /// The query of an export: the filters alone, since an export is whole.
    fn export_query(&self) -> Result<AssetQuery, Problem> {
        whole_export(&self.cursor, self.limit, "asset")?;
        Ok(self.query())
    }
}

/// Every asset that matches, by name, as CSV (a header row, then one row per asset;
/// cells a spreadsheet would run as formulas start with `'`). Streamed: any size.
#[utoipa::path(get, path = "/assets/export.csv", params(AssetParams), responses(
    (status = 200, body = String, content_type = "text/csv"),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub async fn export_csv(
    _caller: Caller,
    State(state): State<AppState>,
    Checked(Query(params)): Checked<Query<AssetParams>>,
) -> Result<Response, Problem> {
    let chunks = (state.platform)
        .export_assets(params.export_query()?, ExportFormat::Csv)
        .await?;
    Ok(download(chunks, ExportFormat::Csv, "assets"))
}

/// Every asset that matches, by name, as one JSON array of the assets the list gives.
/// Streamed: any size.
#[utoipa::path(get, path = "/assets/export.json", params(AssetParams), responses(
    (status = 200, body = Vec<InventoryAsset>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub async fn export_json(
    _caller: Caller,
    State(state): State<AppState>,
    Checked(Query(params)): Checked<Query<AssetParams>>,
) -> Result<Response, Problem> {
    let chunks = (state.platform)
        .export_assets(params.export_query()?, ExportFormat::Json)
        .await?;
    Ok(download(chunks, ExportFormat::Json, "assets"))
}

/// A page of assets, by name, with the count of all that match.
#[utoipa::path(get, path = "/assets", params(AssetParams), responses(
    (status = 200, body = AssetsPage),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub async fn list(
    _caller: Caller,
    State(state): State<AppState>,
    Checked(Query(params)): Checked<Query<AssetParams>>,
) -> Result<Json<AssetsPage>, Problem> {
    let query = params.query();
    let page = state
        .platform
        .inventory()
        .page(
            query,
            given(&params.cursor),
            params.limit.unwrap_or(DEFAULT_LIMIT),
        )
        .await?;
    Ok(Json(page))
}

/// What an import did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Imported {
    /// Assets added.
    added: u64,
    /// Assets the inventory already held.
    present: u64,
}

/// Imports assets known from elsewhere: a JSON array or CSV, all rows or (on a bad one)
/// none.
#[utoipa::path(post, path = "/assets/import", request_body(content = String, content_type = "text/csv", description = "CSV with a header row, or a JSON array of assets"), responses(
    (status = 200, body = Imported),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
pub async fn import(
    _admin: Admin,
    State(state): State<AppState>,
    text: String,
) -> Result<Json<Imported>, Problem> {
    let (added, present) = state.platform.inventory().import(&text).await?;
    Ok(Json(Imported { added, present }))
}
