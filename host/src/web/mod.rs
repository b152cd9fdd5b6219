//! The HTTP front end: the JSON API under `/api/v1/`, described by the OpenAPI document
//! at `/api/v1/openapi.json`. Handlers parse, call [`crate::service`] and render; the
//! rules stay in the service. Every response carries the security headers; every route
//! but the health check wants a token or a session.

mod api;
mod auth;
mod client;
mod console;
mod download;
mod exposure;
mod headers;
mod metrics;
mod problem;
mod state;
mod streams;
mod throttle;
mod tls;

pub use api::openapi;
pub use auth::SESSION_COOKIE;
pub use client::{ProxyHeader, parse_trusted_proxy};
pub use exposure::Exposure;
pub use metrics::router as metrics_router;
pub use state::WebConfig;
pub use tls::{
    PENDING_CONNECTIONS as TLS_PENDING_CONNECTIONS, TlsError, TlsListener, server_config,
};

use crate::service::Platform;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt as _;

/// Every route, with the security headers on every response, each request knowing its
/// client (see [`client::identify`]).
pub fn router(platform: Arc<Platform>, config: WebConfig) -> Router {
    let origins = Arc::new(client::Origins {
        tls: config.https,
        trusted_proxies: config.trusted_proxies.clone(),
        header: config.proxy_header,
    });
    let state = state::AppState::new(platform, config);
    Router::new()
        .nest("/api/v1", api::router())
        .route("/metrics", axum::routing::get(metrics::scrape))
        .merge(console::router())
        // A body trickled in a byte at a time holds its connection no longer than this.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            REQUEST_BODY_TIMEOUT,
        ))
        .layer(axum::middleware::from_fn(headers::secure))
        .layer(axum::middleware::from_fn_with_state(
            origins,
            client::identify,
        ))
        .with_state(state)
}

/// What the web front may hold: connections, and how long a silent one lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once; more wait in the kernel's backlog until one closes.
    pub max_connections: usize,
    /// How long a connection may take to send a request's headers, and how long a
    /// kept-alive connection may stay silent between requests, before it is closed.
    pub header_read_timeout: Duration,
}

/// Default most connections at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// How long a request's body may take to arrive, once its headers have.
const REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long open requests (and event streams) have to finish once shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` (plain TCP or [`TlsListener`]) until `shutdown`
/// resolves, holding at most `limits.max_connections` connections and closing those that
/// stay silent; open requests (and event streams) then have [`SHUTDOWN_GRACE`] to end.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    limits: ConnectionLimits,
) -> std::io::Result<()>
where
    L: Listener<Addr = SocketAddr>,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // A connection slot first: past the cap, connections wait in the backlog and
        // hold no file descriptor of ours.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the slots are never closed"),
            () = &mut shutdown => break,
        };
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone().map_request(
            move |mut request: axum::extract::Request<_>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let connection = http.serve_connection(hyper_util::rt::TokioIo::new(io), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("connections still open after the shutdown grace; closing them");
    }
    Ok(())
}
