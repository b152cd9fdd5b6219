//! The JSON API, version 1. Each handler is annotated for the OpenAPI document, and the
//! router is built from the same annotations, so the document cannot drift from the
//! routes.

mod assets;
mod findings;
mod integrations;
mod session;
mod syncs;
mod system;

pub use session::session_cookie;

use super::problem::Problem;
use super::state::AppState;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts};
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Rows per page when a listing is not told.
const DEFAULT_LIMIT: usize = 50;

/// A query parameter, an empty one (`?since=`) being no parameter.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// Refuses paging parameters on an export of `what`: an export holds every match.
fn whole_export(cursor: &Option<String>, limit: Option<usize>, what: &str) -> Result<(), Problem> {
    match cursor.is_some() || limit.is_some() {
        true => Err(Problem::invalid(format!(
            "an export holds every {what} that matches: it takes no cursor or limit"
        ))),
        false => Ok(()),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "connector-host API", description = "Integrations, syncs, history, findings and assets of a connector host. Authenticate with `Authorization: Bearer TOKEN` (see `connector-host users`)."),
    servers((url = "/api/v1", description = "This host")),
    modifiers(&Security),
    security(("bearer" = [])),
    components(schemas(Problem))
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(super::SESSION_COOKIE))),
        );
    }
}

/// The answers any operation may give, documented once: a request the API cannot read
/// (400) and an address turned away after too many failed logins (429).
struct CommonAnswers;

impl utoipa::Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let answers = &mut operation.responses.responses;
                for (status, description) in [
                    ("400", "The request cannot be read"),
                    ("429", "Too many failed logins from this address"),
                ] {
                    answers
                        .entry(status.to_string())
                        .or_insert_with(|| problem(description).into());
                }
            }
        }
    }
}

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(system::health))
        .routes(routes!(system::me))
        .routes(routes!(system::workers))
        .routes(routes!(session::login, session::logout))
        .routes(routes!(system::plugins, system::install))
        .routes(routes!(system::remove_version))
        .routes(routes!(system::test_settings))
        .routes(routes!(integrations::list, integrations::create))
        .routes(routes!(
            integrations::show,
            integrations::update,
            integrations::remove
        ))
        .routes(routes!(integrations::test))
        .routes(routes!(integrations::upgrade))
        .routes(routes!(syncs::start, syncs::status, syncs::cancel))
        .routes(routes!(syncs::events))
        .routes(routes!(syncs::history))
        .routes(routes!(findings::list))
        .routes(routes!(findings::export_csv))
        .routes(routes!(findings::export_json))
        .routes(routes!(findings::show))
        .routes(routes!(findings::set_status))
        .routes(routes!(findings::set_statuses))
        .routes(routes!(assets::list))
        .routes(routes!(assets::export_csv))
        .routes(routes!(assets::export_json))
        .routes(routes!(assets::import))
}

/// The routes and their document, the answers every operation may give added to it
/// (they can only be added once the routes' own operations are in).
fn parts() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut document) = routes().split_for_parts();
    utoipa::Modify::modify(&CommonAnswers, &mut document);
    (router, document)
}

/// The API's routes, and the document that describes them at `/openapi.json`.
pub fn router() -> Router<AppState> {
    let (router, document) = parts();
    let document = std::sync::Arc::new(document);
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let document = document.clone();
                async move { axum::Json((*document).clone()) }
            }),
        )
        .fallback(|| async {
            Problem::new(
                crate::service::ErrorKind::NotFound,
                "no such API route; see /api/v1/openapi.json",
            )
        })
}

/// The API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    parts().1
}

/// An axum extractor (`Json`, `Query`, `Path`) whose rejection is a problem, not
/// axum's plain text.
pub struct Checked<E>(pub E);

impl<E, S> FromRequest<S> for Checked<E>
where
    E: FromRequest<S>,
    E::Rejection: std::fmt::Display,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        E::from_request(request, state)
            .await
            .map(Checked)
            .map_err(|e| Problem::invalid(e.to_string()))
    }
}

impl<E, S> FromRequestParts<S> for Checked<E>
where
    E: FromRequestParts<S>,
    E::Rejection: std::fmt::Display,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Problem> {
        E::from_request_parts(parts, state)
            .await
            .map(Checked)
            .map_err(|e| Problem::invalid(e.to_string()))
    }
}
