//! Health, the caller, and the loaded plugins.

use super::Checked;
use super::integrations::TestOutcome;
use crate::model::{PluginInfo, User};
use crate::web::auth::{Admin, Caller};
use crate::web::problem::Problem;
use crate::web::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
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

/// A loaded plugin.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PluginView {
    /// What it says about itself.
    #[serde(flatten)]
    info: PluginInfo,
}

/// The loaded plugins with their configuration schemas.
#[utoipa::path(get, path = "/plugins", responses(
    (status = 200, body = Vec<PluginView>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
pub async fn plugins(
    _caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<PluginView>>, Problem> {
    let (loaded, _) = state.platform.plugin_list().await?;
    Ok(Json(
        loaded
            .into_iter()
            .map(|p| PluginView { info: p.info })
            .collect(),
    ))
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
