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
mod tls;

pub use api::openapi;
pub use auth::SESSION_COOKIE;
pub use exposure::Exposure;
pub use state::WebConfig;
pub use tls::{TlsError, TlsListener, server_config};

use crate::service::Platform;
use axum::Router;
use axum::serve::{Listener, ListenerExt};
use std::net::SocketAddr;
use std::sync::Arc;

/// Every route, with the security headers on every response.
pub fn router(platform: Arc<Platform>, config: WebConfig) -> Router {
    let https = config.https;
    let state = state::AppState::new(platform, config);
    let router = Router::new()
        .nest("/api/v1", api::router())
        .merge(console::router())
        .layer(axum::middleware::from_fn(headers::secure));
    match https {
        true => router.layer(axum::middleware::from_fn(headers::https_only)),
        false => router,
    }
    .with_state(state)
}

/// Serves `router` on `listener` (plain TCP or [`TlsListener`]) until `shutdown`
/// resolves; open requests (and event streams) are then closed.
pub async fn serve<L>(
    listener: L,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: Listener<Addr = SocketAddr>,
{
    // A tap that does nothing: through it axum gives handlers any listener's peer address.
    axum::serve(
        listener.tap_io(|_| {}),
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
