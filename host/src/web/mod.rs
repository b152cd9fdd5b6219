//! The HTTP front end: the JSON API under `/api/v1/`, described by the OpenAPI document
//! at `/api/v1/openapi.json`. Handlers parse, call [`crate::service`] and render; the
//! rules stay in the service. Every response carries the security headers; every route
//! but the health check wants a token or a session.

mod api;
mod auth;
mod console;
mod exposure;
mod headers;
mod problem;
mod state;

pub use api::openapi;
pub use auth::SESSION_COOKIE;
pub use exposure::Exposure;
pub use state::WebConfig;

use crate::service::Platform;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;

/// Every route, with the security headers on every response.
pub fn router(platform: Arc<Platform>, config: WebConfig) -> Router {
    let state = state::AppState::new(platform, config);
    Router::new()
        .nest("/api/v1", api::router())
        .merge(console::router())
        .layer(axum::middleware::from_fn(headers::secure))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves; open requests (and event
/// streams) are then closed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
