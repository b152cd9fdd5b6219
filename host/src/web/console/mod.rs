//! The console: server-rendered pages for the people who use the host every day, on the
//! same `service` calls as the API. Every form works without JavaScript; the small script
//! of our own (`static/console.js`) adds live progress and confirmations. Every
//! state-changing form carries the session's CSRF token, checked by [`CsrfForm`].

mod charts;
mod forms;
mod pages;
mod views;

use super::auth::{SESSION_COOKIE, constant_time_eq, cookie_session};
use super::problem::Problem;
use super::state::AppState;
use crate::model::{Session, User};
use crate::service::{ErrorKind, ServiceError};
use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

/// The console's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::integrations::list))
        .route(
            "/login",
            get(pages::session::login_form).post(pages::session::login),
        )
        .route("/logout", post(pages::session::logout))
        .route(
            "/integrations/new",
            get(pages::configure::new_form).post(pages::configure::create),
        )
        .route("/integrations/{name}", get(pages::integrations::show))
        .route(
            "/integrations/{name}/edit",
            get(pages::configure::edit_form).post(pages::configure::edit),
        )
        .route("/integrations/{name}/test", post(pages::integrations::test))
        .route(
            "/integrations/{name}/upgrade",
            post(pages::integrations::upgrade),
        )
        .route(
            "/integrations/{name}/sync",
            post(pages::integrations::sync_now),
        )
        .route(
            "/integrations/{name}/cancel",
            post(pages::integrations::cancel),
        )
        .route(
            "/integrations/{name}/remove",
            post(pages::integrations::remove),
        )
        .route("/findings", get(pages::findings::list))
        .route("/findings/export.csv", get(pages::findings::export_csv))
        .route("/findings/status", post(pages::findings::set_statuses))
        .route("/findings/{integration}/{id}", get(pages::findings::show))
        .route(
            "/findings/{integration}/{id}/status",
            post(pages::findings::set_status),
        )
        .route("/assets", get(pages::assets::list))
        .route("/workers", get(pages::workers::list))
        .route("/assets/export.csv", get(pages::assets::export_csv))
        .route("/static/console.css", get(stylesheet))
        .route("/static/console.js", get(script))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../../static/console.css"),
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../../static/console.js"),
    )
}

/// A logged-in person looking at a page; anyone else goes to the login page.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The session (its user and CSRF token).
    pub session: Session,
    /// The id its cookie carries.
    pub session_id: String,
}

impl Viewer {
    /// Who.
    pub fn user(&self) -> &User {
        &self.session.user
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match cookie_session(state, &parts.headers).await {
            Ok(Some((session_id, session))) => Ok(Viewer {
                session,
                session_id,
            }),
            Ok(None) => Err(Redirect::to("/login").into_response()),
            Err(problem) => Err(Page::error(problem)),
        }
    }
}

/// A submitted form of a logged-in person, its CSRF token checked: the fields in order
/// (a field may repeat, as checkboxes do).
pub struct CsrfForm {
    /// Who submitted it.
    pub viewer: Viewer,
    /// Its fields, the CSRF token taken out.
    pub fields: Vec<(String, String)>,
}

/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "_csrf";

impl FromRequest<AppState> for CsrfForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| Page::error(Problem::invalid(e.body_text())))?;
        // Read whatever came, so that a request without a form is refused for its missing
        // token rather than for its content type.
        let mut fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
            .map_err(|e| Page::error(Problem::invalid(format!("not a form: {e}"))))?;
        let sent = fields
            .iter()
            .position(|(k, _)| k == CSRF_FIELD)
            .map(|i| fields.remove(i).1);
        let valid =
            sent.is_some_and(|t| constant_time_eq(t.as_bytes(), viewer.session.csrf.as_bytes()));
        if !valid {
            return Err(Page::error(Problem::new(
                ErrorKind::Forbidden,
                "the form's CSRF token is missing or wrong; reload the page and try again",
            )));
        }
        Ok(CsrfForm { viewer, fields })
    }
}

impl CsrfForm {
    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The refusal of a viewer's form, or `None` for an admin's.
    pub fn refuse_viewer(&self) -> Option<Response> {
        let user = self.viewer.user();
        (!user.role.may_change()).then(|| {
            Page::service_error(ServiceError::Forbidden {
                user: user.name.clone(),
                role: user.role,
            })
        })
    }

    /// Who submitted it.
    pub fn user(&self) -> String {
        self.viewer.user().name.clone()
    }
}

/// Rendering pages.
pub struct Page;

impl Page {
    /// A rendered template, or the error of rendering it.
    pub fn render(template: &impl Template) -> Response {
        match template.render() {
            Ok(html) => Html(html).into_response(),
            Err(e) => Page::error(Problem::new(
                ErrorKind::Failed(crate::policy::failure::FailureClass::PluginBug),
                format!("the page did not render: {e}"),
            )),
        }
    }

    /// The error page of a failed operation.
    pub fn service_error(e: ServiceError) -> Response {
        match e {
            ServiceError::Unauthenticated => Redirect::to("/login").into_response(),
            e => Page::error(e.into()),
        }
    }

    /// The error page of a problem.
    pub fn error(problem: Problem) -> Response {
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let page = views::ErrorPage {
            title: problem.title.to_string(),
            detail: problem.detail.clone(),
            status: status.as_u16(),
        };
        let html = page
            .render()
            .unwrap_or_else(|_| format!("{}: {}", problem.title, problem.detail));
        (status, Html(html)).into_response()
    }
}

/// The cookie that ends a session in the browser.
pub fn cleared_session_cookie() -> axum_extra::extract::cookie::Cookie<'static> {
    axum_extra::extract::cookie::Cookie::build(SESSION_COOKIE)
        .path("/")
        .build()
}
