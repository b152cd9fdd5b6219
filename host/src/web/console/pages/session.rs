//! Logging in and out of the console.

use super::{first, to_page};
use crate::service::ErrorKind;
use crate::web::api::session_cookie;
use crate::web::auth::{cross_site, log_in};
use crate::web::client::Client;
use crate::web::console::views::LoginPage;
use crate::web::console::{CsrfForm, Page, cleared_session_cookie};
use crate::web::problem::Problem;
use crate::web::state::AppState;
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;

pub async fn login_form() -> Response {
    Page::render(&LoginPage { error: None })
}

pub async fn login(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    jar: CookieJar,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    let token = first(&fields, "token").unwrap_or_default().to_string();
    let refused = |problem: Problem| {
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::UNAUTHORIZED);
        let page = Page::render(&LoginPage {
            error: Some(problem.detail),
        });
        (status, page).into_response()
    };
    if cross_site(&headers, client.via_proxy) {
        return refused(Problem::new(
            ErrorKind::Forbidden,
            "this login form was sent from another site; log in from this console's own page",
        ));
    }
    match log_in(&state, client.ip, &token).await {
        Ok(login) => (
            jar.add(session_cookie(&state, client, &login)),
            Redirect::to("/"),
        )
            .into_response(),
        Err(problem) => refused(problem),
    }
}

pub async fn logout(State(state): State<AppState>, jar: CookieJar, form: CsrfForm) -> Response {
    if let Err(e) = state
        .platform
        .access()
        .logout(&form.viewer.session_id)
        .await
    {
        return to_page(e);
    }
    (jar.remove(cleared_session_cookie()), Redirect::to("/login")).into_response()
}
