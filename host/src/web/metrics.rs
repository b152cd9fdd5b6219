//! `/metrics` for Prometheus: on the main listener behind the same credentials as the API
//! (a scraper sends a user's token as a bearer token), or alone, without credentials, on
//! a listener of its own (`serve --metrics-listen`, for a network only the scraper
//! reaches).

use super::auth::Caller;
use super::problem::Problem;
use super::state::AppState;
use crate::service::Platform;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

/// What the exposition is, as Prometheus asks for it.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics, for a caller with credentials.
pub async fn scrape(_caller: Caller, State(state): State<AppState>) -> Result<Response, Problem> {
    exposition(&state.platform).await
}

/// The metrics listener's only route.
pub fn router(platform: Arc<Platform>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(platform): State<Arc<Platform>>| async move { exposition(&platform).await }),
        )
        .with_state(platform)
}

async fn exposition(platform: &Platform) -> Result<Response, Problem> {
    let text = platform.workers().metrics().await?;
    Ok(([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response())
}
