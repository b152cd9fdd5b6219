//! The configure form: adding an integration, and editing one.

use super::integrations::with_notice;
use super::{Fields, first, nav, to_page, urlencoding};
use crate::service::{AddIntegration, ServiceError, TestReport, UpdateIntegration};
use crate::web::console::views::{ConfigurePage, StreamChoice, TestView};
use crate::web::console::{CsrfForm, Page, Viewer, forms};
use crate::web::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::BTreeMap;

/// What a configure page starts from.
struct Form<'a> {
    is_new: bool,
    action: String,
    name: String,
    connector: &'a str,
    /// The plugin version whose settings the form shows: the newest for a new one.
    version: Option<&'a str>,
    /// The streams chosen; the plugin's defaults when `None`.
    streams: Option<Vec<String>>,
    values: BTreeMap<String, String>,
    stored: Vec<crate::service::ShownSetting>,
    policy: crate::model::Policy,
}

/// Renders a configure page: the form, the test's outcome, and the errors beside fields.
async fn configure_page(
    state: &AppState,
    viewer: &Viewer,
    form: Form<'_>,
    test: Option<&TestReport>,
    error: Option<(String, String)>,
) -> Response {
    let described = state
        .platform
        .plugin_versions()
        .describe(form.connector, form.version)
        .await;
    let plugin = match described {
        Ok(info) => info,
        Err(e) => return to_page(e),
    };
    let mut fields = forms::fields(&plugin.config_schema, &form.values, &form.stored);
    let (mut name_error, mut auto_sync_error, mut general) = (None, None, None);
    let mut streams_error = None;
    let chosen = form
        .streams
        .clone()
        .unwrap_or_else(|| plugin.default_streams());
    let streams = plugin
        .streams
        .iter()
        .map(|s| StreamChoice {
            name: s.name.clone(),
            label: s.label.clone(),
            description: s.description.clone(),
            checked: chosen.contains(&s.name),
        })
        .collect();
    if let Some((key, message)) = error {
        match key.as_str() {
            "name" => name_error = Some(message),
            "auto_sync_days" => auto_sync_error = Some(message),
            "streams" => streams_error = Some(message),
            _ => match fields.iter_mut().find(|f| f.key == key) {
                Some(field) => field.error = Some(message),
                None => general = Some(message),
            },
        }
    }
    let status = match (
        &general,
        &name_error,
        fields.iter().any(|f| f.error.is_some()),
    ) {
        (None, None, false)
            if auto_sync_error.is_none()
                && streams_error.is_none()
                && test.is_none_or(|t| t.error.is_none()) =>
        {
            StatusCode::OK
        }
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let page = Page::render(&ConfigurePage {
        nav: nav(viewer, "integrations"),
        is_new: form.is_new,
        action: form.action,
        name: form.name,
        name_error,
        connector: form.connector.to_string(),
        fields,
        auto_sync_days: form.policy.auto_sync_days,
        auto_sync_error,
        auto_onboard: form.policy.auto_onboard,
        update_metadata: form.policy.update_metadata,
        streams,
        streams_error,
        test: test.map(TestView::from),
        error: general,
        sync_time: state.platform.sync_time().to_string(),
    });
    (status, page).into_response()
}

/// Where a failed save's message goes: beside its field, or above the form.
fn placed(e: &ServiceError) -> (String, String) {
    match e {
        ServiceError::Setting(s) => (s.key.clone(), s.message.clone()),
        // Beside the first secret to enter again.
        ServiceError::SecretsNotReentered { secrets, .. } => {
            (secrets.first().cloned().unwrap_or_default(), e.to_string())
        }
        ServiceError::Exists(_) | ServiceError::BadIntegrationName(_) => {
            ("name".into(), e.to_string())
        }
        e => (String::new(), e.to_string()),
    }
}

pub async fn new_form(
    viewer: Viewer,
    State(state): State<AppState>,
    Query(fields): Fields,
) -> Response {
    let connector = match chosen_connector(&state, &fields).await {
        Ok(connector) => connector,
        Err(answer) => return answer,
    };
    let form = Form {
        is_new: true,
        action: format!("/integrations/new?connector={}", urlencoding(&connector)),
        name: String::new(),
        connector: &connector,
        version: None,
        streams: None,
        values: BTreeMap::new(),
        stored: Vec::new(),
        policy: crate::model::Policy::default(),
    };
    configure_page(&state, &viewer, form, None, None).await
}

/// The connector a configure form is for: the one the query names, else the only one
/// loaded; with several loaded and none named, the integrations page (the console's
/// home), where each plugin has its Configure button. No connector is assumed.
async fn chosen_connector(
    state: &AppState,
    query: &[(String, String)],
) -> Result<String, Response> {
    if let Some(named) = first(query, "connector") {
        return Ok(named.to_string());
    }
    let versions = state
        .platform
        .plugin_versions()
        .list()
        .await
        .map_err(to_page)?;
    let mut names: Vec<&str> = versions.iter().map(|v| v.info.name.as_str()).collect();
    names.dedup();
    match names.as_slice() {
        [only] => Ok(only.to_string()),
        [] => Err(to_page(ServiceError::NoPlugins)),
        _ => Err(Redirect::to("/").into_response()),
    }
}

pub async fn create(
    State(state): State<AppState>,
    Query(query): Fields,
    form: CsrfForm,
) -> Response {
    if let Some(refused) = form.refuse_viewer() {
        return refused;
    }
    let user = form.user();
    let connector = match chosen_connector(&state, &query).await {
        Ok(connector) => connector,
        Err(answer) => return answer,
    };
    let schema = match state
        .platform
        .plugin_versions()
        .describe(&connector, None)
        .await
    {
        Ok(info) => info.config_schema,
        Err(e) => return to_page(e),
    };
    let page = |submission: &forms::Submission| Form {
        is_new: true,
        action: format!("/integrations/new?connector={}", urlencoding(&connector)),
        name: submission.name.clone(),
        connector: &connector,
        version: None,
        streams: submission.streams.clone(),
        values: submission.values.clone(),
        stored: Vec::new(),
        policy: submission.policy,
    };
    let submission = match forms::read(&schema, &form.fields, &crate::model::Policy::default()) {
        Ok(s) => s,
        Err(refused) => {
            let forms::Refused { submission, error } = *refused;
            return configure_page(&state, &form.viewer, page(&submission), None, Some(error))
                .await;
        }
    };
    let integrations = state.platform.integrations();
    if submission.action == "test" {
        let tested = integrations
            .test_settings(&connector, submission.values.clone())
            .await;
        return match tested {
            Ok(report) | Err(ServiceError::ConnectionTest { report, .. }) => {
                configure_page(&state, &form.viewer, page(&submission), Some(&report), None).await
            }
            Err(e) => {
                configure_page(
                    &state,
                    &form.viewer,
                    page(&submission),
                    None,
                    Some(placed(&e)),
                )
                .await
            }
        };
    }
    if submission.name.trim().is_empty() {
        let error = ("name".to_string(), "is required".to_string());
        return configure_page(&state, &form.viewer, page(&submission), None, Some(error)).await;
    }
    let added = integrations
        .add(AddIntegration {
            name: submission.name.trim().to_string(),
            connector: connector.clone(),
            version: None,
            streams: submission.streams.clone(),
            values: submission.values.clone(),
            policy: submission.policy_change(),
            test: !submission.save_anyway,
            started_by: user,
        })
        .await;
    let saved = added.map(|_| ());
    after_save(
        &state,
        &form.viewer,
        submission.name.trim(),
        page(&submission),
        saved,
    )
    .await
}

/// After a save: the integration's page, or the form again with why nothing was saved.
async fn after_save(
    state: &AppState,
    viewer: &Viewer,
    name: &str,
    form: Form<'_>,
    saved: Result<(), ServiceError>,
) -> Response {
    match saved {
        Ok(()) => with_notice(name, "saved"),
        Err(ServiceError::ConnectionTest { report, .. }) => {
            let error = (
                String::new(),
                "The connection test failed, so nothing was saved. Fix the settings, or check “Save even if the connection test fails”.".to_string(),
            );
            configure_page(state, viewer, form, Some(&report), Some(error)).await
        }
        Err(e) => configure_page(state, viewer, form, None, Some(placed(&e))).await,
    }
}

pub async fn edit_form(
    viewer: Viewer,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    let view = match state.platform.integrations().show(&name).await {
        Ok(v) => v,
        Err(e) => return to_page(e),
    };
    let values = view
        .settings
        .iter()
        .filter_map(|s| s.value.clone().map(|v| (s.key.clone(), v)))
        .collect();
    let form = Form {
        is_new: false,
        action: format!("/integrations/{}/edit", urlencoding(&name)),
        name: view.name.clone(),
        connector: &view.connector,
        version: Some(&view.plugin_version),
        streams: Some(view.streams.clone()),
        values,
        stored: view.settings.clone(),
        policy: view.policy,
    };
    configure_page(&state, &viewer, form, None, None).await
}

pub async fn edit(
    State(state): State<AppState>,
    Path(name): Path<String>,
    form: CsrfForm,
) -> Response {
    if let Some(refused) = form.refuse_viewer() {
        return refused;
    }
    let user = form.user();
    let integrations = state.platform.integrations();
    let view = match integrations.show(&name).await {
        Ok(v) => v,
        Err(e) => return to_page(e),
    };
    let described = state
        .platform
        .plugin_versions()
        .describe(&view.connector, Some(&view.plugin_version))
        .await;
    let schema = match described {
        Ok(info) => info.config_schema,
        Err(e) => return to_page(e),
    };
    let page = |values: BTreeMap<String, String>, policy, streams: Option<Vec<String>>| Form {
        is_new: false,
        action: format!("/integrations/{}/edit", urlencoding(&name)),
        name: name.clone(),
        connector: &view.connector,
        version: Some(&view.plugin_version),
        streams: streams.or_else(|| Some(view.streams.clone())),
        values,
        stored: view.settings.clone(),
        policy,
    };
    let submission = match forms::read(&schema, &form.fields, &view.policy) {
        Ok(s) => s,
        Err(refused) => {
            // What was typed comes back (secrets as "keep the stored one"), so submitting
            // the form again unsets nothing.
            let forms::Refused { submission, error } = *refused;
            let form_page = page(submission.values, submission.policy, submission.streams);
            return configure_page(&state, &form.viewer, form_page, None, Some(error)).await;
        }
    };
    // A cleared input falls back to the default; a secret left empty keeps the stored one.
    let unset = view
        .settings
        .iter()
        .filter(|s| !s.secret && s.value.is_some() && !submission.values.contains_key(&s.key))
        .map(|s| s.key.clone())
        .collect();
    let request = UpdateIntegration {
        name: name.clone(),
        values: submission.values.clone(),
        unset,
        streams: submission.streams.clone(),
        policy: submission.policy_change(),
        test: !submission.save_anyway,
        started_by: user,
    };
    let form_page = page(submission.values, submission.policy, submission.streams);
    if submission.action == "test" {
        // Test Connection tests what is typed and saves nothing.
        return match integrations.test_update(&request).await {
            Ok(report) | Err(ServiceError::ConnectionTest { report, .. }) => {
                configure_page(&state, &form.viewer, form_page, Some(&report), None).await
            }
            Err(e) => configure_page(&state, &form.viewer, form_page, None, Some(placed(&e))).await,
        };
    }
    let saved = integrations.update(request).await.map(|_| ());
    after_save(&state, &form.viewer, &name, form_page, saved).await
}
