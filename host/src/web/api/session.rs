//! Console sessions over the API: log in with a token for a cookie, log out.

use super::Checked;
use crate::model::User;
use crate::service::Login;
use crate::web::auth::{SESSION_COOKIE, cookie_session, log_in};
use crate::web::client::Client;
use crate::web::problem::Problem;
use crate::web::state::AppState;
use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A login.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// The user's token.
    token: String,
}

/// A session, as its owner sees it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// Whose.
    user: User,
    /// The token to send in `X-CSRF-Token` with every change.
    csrf: String,
    /// When it ends.
    expires_at: DateTime<Utc>,
}

/// The session cookie: HttpOnly, SameSite=Strict, Secure for a client over TLS.
pub fn session_cookie(state: &AppState, client: Client, login: &Login) -> Cookie<'static> {
    let lifetime = state.config.session_lifetime;
    Cookie::build((SESSION_COOKIE, login.session_id.reveal().to_string()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(client.https)
        .max_age(time::Duration::seconds(
            i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
        ))
        .build()
}

/// Logs in with a token; the session's id comes back in a cookie.
#[utoipa::path(post, path = "/session", security(()), request_body = LoginRequest, responses(
    (status = 200, body = SessionView),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 429, body = Problem, content_type = "application/problem+json"),
))]
pub async fn login(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    jar: CookieJar,
    Checked(Json(request)): Checked<Json<LoginRequest>>,
) -> Result<impl IntoResponse, Problem> {
    let login = log_in(&state, client.ip, &request.token).await?;
    let jar = jar.add(session_cookie(&state, client, &login));
    Ok((
        jar,
        Json(SessionView {
            user: login.session.user,
            csrf: login.session.csrf,
            expires_at: login.session.expires_at,
        }),
    ))
}

/// Logs out: the session its cookie names ends, and the cookie is cleared; without one,
/// there is nothing to end.
#[utoipa::path(delete, path = "/session", security(()), responses(
    (status = 204),
))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<impl IntoResponse, Problem> {
    if let Some((id, _)) = cookie_session(&state, &headers).await? {
        state.platform.access().logout(&id).await?;
    }
    Ok((
        jar.remove(Cookie::build(SESSION_COOKIE).path("/").build()),
        StatusCode::NO_CONTENT,
    ))
}
