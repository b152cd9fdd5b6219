//! The headers every response carries: a strict Content-Security-Policy (no inline
//! script or style, nothing from elsewhere, no framing), `X-Frame-Options: DENY`,
//! `nosniff`, no referrer, and no caching of what may be private; over TLS, HSTS too.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::middleware::Next;
use axum::response::Response;

/// The Content-Security-Policy of every page and answer.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to a response; to one to a client over TLS (ours or a
/// trusted proxy's), HSTS too.
pub async fn secure(request: Request, next: Next) -> Response {
    let https = request
        .extensions()
        .get::<super::client::Client>()
        .is_some_and(|c| c.https);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if https {
        // Tells browsers to use HTTPS only for this host from now on.
        headers.insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
