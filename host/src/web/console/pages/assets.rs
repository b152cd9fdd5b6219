//! The Asset View.

use super::{ASSETS_PAGE, Fields, choices, first, nav, page_link, to_page};
use crate::service::{AssetQuery, ExportFormat};
use crate::web::console::views::AssetsPage;
use crate::web::console::{Page, Viewer};
use crate::web::download::download;
use crate::web::state::AppState;
use axum::extract::{Query, State};
use axum::response::Response;

/// The assets the Asset View's filters match, whole, as CSV.
pub async fn export_csv(
    _viewer: Viewer,
    State(state): State<AppState>,
    Query(fields): Fields,
) -> Response {
    match (state.platform)
        .export_assets(query_of(&fields), ExportFormat::Csv)
        .await
    {
        Ok(chunks) => download(chunks, ExportFormat::Csv, "assets"),
        Err(e) => to_page(e),
    }
}

/// The Asset View's filters read from its query string.
fn query_of(fields: &[(String, String)]) -> AssetQuery {
    let one = |key: &str| first(fields, key).map(String::from);
    AssetQuery {
        integration: one("integration"),
        asset_type: one("type"),
        cloud: one("cloud"),
    }
}

pub async fn list(
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
    let listed = (state.platform.inventory())
        .page(query_of(&fields), cursor, ASSETS_PAGE)
        .await;
    let page = match listed {
        Ok(page) => page,
        Err(e) => return to_page(e),
    };
    let (types, clouds) = match state.platform.inventory().values().await {
        Ok(values) => values,
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
        types: choices(
            &types.iter().map(String::as_str).collect::<Vec<_>>(),
            &[asset_type.as_str()],
        ),
        clouds: choices(
            &clouds.iter().map(String::as_str).collect::<Vec<_>>(),
            &[cloud.as_str()],
        ),
        total: page.total,
        assets: page.assets,
        next: page
            .next
            .as_deref()
            .map(|c| page_link("/assets", &fields, Some(c))),
        first: cursor.map(|_| page_link("/assets", &fields, None)),
        export: page_link("/assets/export.csv", &fields, None),
    })
}
