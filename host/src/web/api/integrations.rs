//! Integrations: list, create (tested first), show (secrets masked), update, remove,
//! the connection test, and moves to another plugin version.

use super::Checked;
use crate::service::{
    AddIntegration, IntegrationSummary, IntegrationView, PolicyChange, ServiceError, TestReport,
    UpdateIntegration, UpgradeIntegration,
};
use crate::web::auth::{Admin, Caller};
use crate::web::problem::Problem;
use crate::web::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Changes to the platform's settings of an integration; missing fields keep theirs.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    /// Auto sync every this many days (0: manual only), at most 365.
    #[schema(maximum = 365)]
    auto_sync_days: Option<u32>,
    /// Auto Onboard New Assets.
    auto_onboard: Option<bool>,
    /// Update Existing Asset Metadata.
    update_metadata: Option<bool>,
}

impl PolicyInput {
    /// The change; the service checks its ranges.
    fn change(self) -> PolicyChange {
        PolicyChange {
            auto_sync_days: self.auto_sync_days,
            auto_onboard: self.auto_onboard,
            update_metadata: self.update_metadata,
        }
    }
}

fn default_true() -> bool {
    true
}

/// An integration to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    /// Unique name.
    name: String,
    /// The plugin (connector name).
    connector: String,
    /// The plugin version to run (default: the newest).
    #[serde(default)]
    plugin_version: Option<String>,
    /// The streams to pull (default: the plugin's streams that are on by default).
    #[serde(default)]
    streams: Option<Vec<String>>,
    /// Settings by the plugin schema's keys, secrets included; lists comma-separated.
    #[serde(default)]
    settings: BTreeMap<String, String>,
    /// Platform settings.
    #[serde(default)]
    policy: PolicyInput,
    /// Test the connection first and save nothing if it fails (default true).
    #[serde(default = "default_true")]
    test: bool,
}

/// A created integration.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Created {
    /// As stored, secrets masked.
    integration: IntegrationView,
    /// The connection test, when one ran.
    test: Option<TestReport>,
}

/// Changes to an integration.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    /// Settings to set; a secret left empty (or absent) keeps the stored one.
    #[serde(default)]
    settings: BTreeMap<String, String>,
    /// Settings to remove, falling back to their defaults.
    #[serde(default)]
    unset: Vec<String>,
    /// The streams to pull from now on; an empty list for the plugin's defaults. A change
    /// makes the next sync full.
    #[serde(default)]
    streams: Option<Vec<String>>,
    /// Platform settings.
    #[serde(default)]
    policy: PolicyInput,
    /// Test the connection first when a setting changes (default true).
    #[serde(default = "default_true")]
    test: bool,
}

/// What an update did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UpdateOutcome {
    /// The keys that changed (settings, then platform settings).
    changed: Vec<String>,
    /// Whether the next sync reads everything again.
    next_sync_full: bool,
    /// The URLs its runs may reach from now on.
    egress: Vec<String>,
    /// The connection test, when one ran.
    test: Option<TestReport>,
}

/// An integration as listed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Listed {
    #[serde(flatten)]
    summary: IntegrationSummary,
}

/// How a connection test went.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TestOutcome {
    /// Whether every step passed.
    passed: bool,
    /// The steps and the error.
    report: TestReport,
}

impl TestOutcome {
    /// A test that ran, passed or failed; an error that kept it from running stays one.
    pub fn of(tested: Result<TestReport, ServiceError>) -> Result<Self, Problem> {
        match tested {
            Ok(report) => Ok(TestOutcome {
                passed: true,
                report,
            }),
            Err(ServiceError::ConnectionTest { report, .. }) => Ok(TestOutcome {
                passed: false,
                report,
            }),
            Err(e) => Err(e.into()),
        }
    }
}

/// Every integration, by name.
#[utoipa::path(get, path = "/integrations", responses(
    (status = 200, body = Vec<Listed>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
pub async fn list(
    _caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<Listed>>, Problem> {
    let all = state.platform.integrations().list().await?;
    Ok(Json(
        all.into_iter().map(|summary| Listed { summary }).collect(),
    ))
}

/// Creates an integration; its connection is tested first unless `test` is false, and
/// nothing is saved when the test fails.
#[utoipa::path(post, path = "/integrations", request_body = CreateIntegration, responses(
    (status = 201, body = Created),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
pub async fn create(
    admin: Admin,
    State(state): State<AppState>,
    Checked(Json(request)): Checked<Json<CreateIntegration>>,
) -> Result<(StatusCode, Json<Created>), Problem> {
    let integrations = state.platform.integrations();
    let added = integrations
        .add(AddIntegration {
            name: request.name,
            connector: request.connector,
            version: request.plugin_version,
            streams: request.streams,
            values: request.settings,
            policy: request.policy.change(),
            test: request.test,
            started_by: admin.user.name,
        })
        .await?;
    let integration = integrations.show(&added.integration.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            integration,
            test: added.test,
        }),
    ))
}

/// One integration, secrets masked.
#[utoipa::path(get, path = "/integrations/{name}", params(("name" = String, Path, description = "Integration name")), responses(
    (status = 200, body = IntegrationView),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub async fn show(
    _caller: Caller,
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
) -> Result<Json<IntegrationView>, Problem> {
    Ok(Json(state.platform.integrations().show(&name).await?))
}

/// Changes settings or platform settings. A settings change is tested first unless
/// `test` is false; a change to what a sync reads makes the next sync full.
#[utoipa::path(patch, path = "/integrations/{name}", params(("name" = String, Path, description = "Integration name")), request_body = UpdateRequest, responses(
    (status = 200, body = UpdateOutcome),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
pub async fn update(
    admin: Admin,
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
    Checked(Json(request)): Checked<Json<UpdateRequest>>,
) -> Result<Json<UpdateOutcome>, Problem> {
    let updated = state
        .platform
        .integrations()
        .update(UpdateIntegration {
            name,
            values: request.settings,
            unset: request.unset,
            streams: request.streams,
            policy: request.policy.change(),
            test: request.test,
            started_by: admin.user.name,
        })
        .await?;
    Ok(Json(UpdateOutcome {
        changed: updated.changed,
        next_sync_full: updated.next_sync_full,
        egress: updated.egress,
        test: updated.test,
    }))
}

/// A move to another version of the integration's plugin.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRequest {
    /// The version to run (default: the newest); an older one rolls back.
    #[serde(default)]
    to: Option<String>,
    /// Settings to set with the move; a secret left empty (or absent) keeps the stored one.
    #[serde(default)]
    settings: BTreeMap<String, String>,
    /// Test the connection with the new version first (default true).
    #[serde(default = "default_true")]
    test: bool,
}

/// What a move to another version did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UpgradeOutcome {
    /// The version it ran.
    from: String,
    /// The version it runs now; its next sync is full.
    to: String,
    /// The URLs its runs may reach from now on.
    egress: Vec<String>,
    /// The connection test, when one ran.
    test: Option<TestReport>,
}

/// Moves an integration to another installed version of its plugin (upgrade, or
/// rollback). The connection is tested with that version first unless `test` is false;
/// nothing changes when the test fails. Recorded in history naming both versions.
#[utoipa::path(post, path = "/integrations/{name}/upgrade", params(("name" = String, Path, description = "Integration name")), request_body = UpgradeRequest, responses(
    (status = 200, body = UpgradeOutcome),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
pub async fn upgrade(
    admin: Admin,
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
    Checked(Json(request)): Checked<Json<UpgradeRequest>>,
) -> Result<Json<UpgradeOutcome>, Problem> {
    let upgraded = state
        .platform
        .integrations()
        .upgrade(UpgradeIntegration {
            name,
            to: request.to,
            values: request.settings,
            test: request.test,
            started_by: admin.user.name,
        })
        .await?;
    Ok(Json(UpgradeOutcome {
        from: upgraded.from,
        to: upgraded.to,
        egress: upgraded.egress,
        test: upgraded.test,
    }))
}

/// Removes an integration and everything stored for it.
#[utoipa::path(delete, path = "/integrations/{name}", params(("name" = String, Path, description = "Integration name")), responses(
    (status = 204),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub async fn remove(
    _admin: Admin,
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
) -> Result<StatusCode, Problem> {
    state.platform.integrations().remove(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Tests a stored integration's connection, step by step, and records it in history.
#[utoipa::path(post, path = "/integrations/{name}/test", params(("name" = String, Path, description = "Integration name")), responses(
    (status = 200, body = TestOutcome),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub async fn test(
    admin: Admin,
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
) -> Result<Json<TestOutcome>, Problem> {
    let tested = state
        .platform
        .integrations()
        .test(&name, &admin.user.name)
        .await;
    Ok(Json(TestOutcome::of(tested)?))
}
