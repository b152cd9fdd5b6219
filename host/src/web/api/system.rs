//! Health, the caller, and the plugin versions: list, install, remove.

use super::Checked;
use super::integrations::TestOutcome;
use crate::model::{PluginInfo, User};
use crate::plugin::Origin;
use crate::service::{PluginVersion, WorkerView};
use crate::web::auth::{Admin, Caller};
use crate::web::problem::Problem;
use crate::web::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;

/// The host answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// Whether the host answers (no credentials needed, for load balancers).
#[utoipa::path(get, path = "/health", security(()), responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Who the credentials belong to.
#[utoipa::path(get, path = "/me", responses(
    (status = 200, body = User),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
pub async fn me(caller: Caller) -> Json<User> {
    Json(caller.user)
}

/// The `serve` processes sharing the store (those of the last week), newest first: each
/// one's heartbeat by the database's clock, its state, and the integrations it runs.
#[utoipa::path(get, path = "/workers", responses(
    (status = 200, body = Vec<WorkerView>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
pub async fn workers(
    _caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<WorkerView>>, Problem> {
    Ok(Json(state.platform.workers().list().await?))
}

/// A version of a plugin, installed or in the plugins folder.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PluginView {
    /// What it says about itself.
    #[serde(flatten)]
    info: PluginInfo,
    /// The sha256 of its component, in hex.
    digest: String,
    /// When it was installed, if the host keeps it (else it is only in the folder).
    installed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether the plugins folder has this build.
    in_folder: bool,
    /// The integrations that run it.
    used_by: Vec<String>,
}

impl From<PluginVersion> for PluginView {
    fn from(v: PluginVersion) -> Self {
        PluginView {
            info: v.info,
            digest: v.digest,
            installed_at: v.installed_at,
            in_folder: v.file.is_some(),
            used_by: v.used_by,
        }
    }
}

/// Every version of every plugin, by name then version (oldest first), with its
/// configuration schema and the integrations that run it.
#[utoipa::path(get, path = "/plugins", responses(
    (status = 200, body = Vec<PluginView>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
pub async fn plugins(
    _caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<PluginView>>, Problem> {
    let versions = state.platform.plugin_versions().list().await?;
    Ok(Json(versions.into_iter().map(PluginView::from).collect()))
}

/// The largest component the API takes: a plugin is a few MiB.
pub const MAX_COMPONENT_BYTES: usize = 64 << 20;

/// A component's bytes, as the OpenAPI document describes the body (the handler reads
/// the body itself, to bound its size).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Component(pub axum::body::Bytes);

/// Installs a plugin version: the body is the component's bytes. It is
/// checked (contract, imports, its description), compiled and kept beside the versions
/// installed; the same build again changes nothing (200), another build under an
/// installed version is refused (409).
#[utoipa::path(post, path = "/plugins", request_body(content = Component, content_type = "application/octet-stream", description = "The component's bytes (`application/wasm` is taken too)"), responses(
    (status = 201, body = PluginView),
    (status = 200, body = PluginView),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 413, body = Problem, content_type = "application/problem+json"),
))]
pub async fn install(
    _admin: Admin,
    State(state): State<AppState>,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<PluginView>), Problem> {
    let component = axum::body::to_bytes(body, MAX_COMPONENT_BYTES)
        .await
        .map(Component)
        .map_err(|_| Problem::too_large(MAX_COMPONENT_BYTES))?;
    let outcome = state
        .platform
        .plugin_versions()
        .install_component(Origin::Uploaded, &component.0)
        .await?;
    let status = match outcome.already {
        true => StatusCode::OK,
        false => StatusCode::CREATED,
    };
    Ok((status, Json(outcome.version.into())))
}

/// Forgets an installed plugin version; refused (409) while an integration runs it.
#[utoipa::path(delete, path = "/plugins/{name}/{version}", params(
    ("name" = String, Path, description = "Plugin (connector) name"),
    ("version" = String, Path, description = "Its version"),
), responses(
    (status = 204),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
pub async fn remove_version(
    _admin: Admin,
    State(state): State<AppState>,
    Checked(Path((name, version))): Checked<Path<(String, String)>>,
) -> Result<StatusCode, Problem> {
    state
        .platform
        .plugin_versions()
        .remove(&name, &version)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Settings to try.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrySettings {
    /// Settings by the plugin schema's keys, secrets included.
    settings: std::collections::BTreeMap<String, String>,
}

/// Tests settings for a new integration of this plugin, saving nothing.
#[utoipa::path(post, path = "/plugins/{name}/test", params(("name" = String, Path, description = "Plugin (connector) name")),
    request_body = TrySettings, responses(
    (status = 200, body = TestOutcome),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub async fn test_settings(
    _admin: Admin,
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
    Checked(Json(request)): Checked<Json<TrySettings>>,
) -> Result<Json<TestOutcome>, Problem> {
    let tested = state
        .platform
        .integrations()
        .test_settings(&name, request.settings)
        .await;
    Ok(Json(TestOutcome::of(tested)?))
}
