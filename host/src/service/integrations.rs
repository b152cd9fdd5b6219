//! Integrations: add (test, then save), update, test, remove, list, show.

use super::integration_rules::{
    STREAMS_KEY, check_name, check_secrets_follow_urls, check_streams, streams_to_pull, validate,
};
use super::{Platform, Prepared, ServiceError};
use crate::model::{
    Action, CheckOutcome, CheckStep, HistoryRow, Integration, NewIntegration, PluginPin, Policy,
    RunEnd, RunStatus,
};
use crate::plugin::LoadedPlugin;
use crate::policy::failure::FailureClass;
use crate::secrets::SealedFor;
use crate::settings::{SettingError, Settings};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The integrations service.
pub struct Integrations<'a> {
    pub(super) platform: &'a Platform,
}

/// Changes to an integration's policy; `None` keeps the value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyChange {
    /// Auto sync every N days (0: manual only).
    pub auto_sync_days: Option<u32>,
    /// Auto Onboard New Assets.
    pub auto_onboard: Option<bool>,
    /// Update Existing Asset Metadata.
    pub update_metadata: Option<bool>,
}

impl PolicyChange {
    /// The policy settings' names, as history and the front ends say them.
    const KEYS: [&str; 3] = ["auto-sync-days", "auto-onboard", "update-metadata"];

    /// The names of the policy settings this change gives.
    pub fn keys_given(self) -> impl Iterator<Item = &'static str> {
        let given = [
            self.auto_sync_days.is_some(),
            self.auto_onboard.is_some(),
            self.update_metadata.is_some(),
        ];
        Self::KEYS
            .into_iter()
            .zip(given)
            .filter_map(|(k, g)| g.then_some(k))
    }

    /// The names of the policy settings that differ between `was` and `now`.
    pub fn keys_changed(was: Policy, now: Policy) -> impl Iterator<Item = &'static str> {
        let differs = [
            was.auto_sync_days != now.auto_sync_days,
            was.auto_onboard != now.auto_onboard,
            was.update_metadata != now.update_metadata,
        ];
        Self::KEYS
            .into_iter()
            .zip(differs)
            .filter_map(|(k, d)| d.then_some(k))
    }

    /// `policy` with the changes made; refused when a value is out of range.
    pub fn apply(self, policy: Policy) -> Result<Policy, SettingError> {
        if let Some(days) = self
            .auto_sync_days
            .filter(|d| *d > Policy::MAX_AUTO_SYNC_DAYS)
        {
            return Err(SettingError {
                key: "auto-sync-days".into(),
                message: format!(
                    "{days} is out of range (0 to {})",
                    Policy::MAX_AUTO_SYNC_DAYS
                ),
            });
        }
        Ok(Policy {
            auto_sync_days: self.auto_sync_days.unwrap_or(policy.auto_sync_days),
            auto_onboard: self.auto_onboard.unwrap_or(policy.auto_onboard),
            update_metadata: self.update_metadata.unwrap_or(policy.update_metadata),
        })
    }
}

/// An integration to add.
#[derive(Debug, Clone)]
pub struct AddIntegration {
    /// Unique name.
    pub name: String,
    /// The connector (plugin name).
    pub connector: String,
    /// The plugin version to run; the newest when `None`.
    pub version: Option<String>,
    /// The streams to pull; the plugin's defaults when `None`.
    pub streams: Option<Vec<String>>,
    /// Settings, secrets included.
    pub values: BTreeMap<String, String>,
    /// Policy changes from the defaults.
    pub policy: PolicyChange,
    /// Test the connection before saving.
    pub test: bool,
    /// Who to record in history.
    pub started_by: String,
}

/// An added integration.
#[derive(Debug, Clone)]
pub struct Added {
    /// As stored.
    pub integration: Integration,
    /// The plugin's version.
    pub plugin_version: String,
    /// The URLs its runs may reach, plugin defaults included: what the operator accepts.
    pub egress: Vec<String>,
    /// The connection test, when one ran.
    pub test: Option<TestReport>,
}

/// Changes to an integration.
#[derive(Debug, Clone)]
pub struct UpdateIntegration {
    /// Its name.
    pub name: String,
    /// Settings to set, secrets included; an empty secret keeps the stored one.
    pub values: BTreeMap<String, String>,
    /// Settings to remove (falling back to their defaults).
    pub unset: Vec<String>,
    /// The streams to pull from now on; an empty list means the plugin's defaults, `None`
    /// keeps the choice.
    pub streams: Option<Vec<String>>,
    /// Policy changes.
    pub policy: PolicyChange,
    /// Test the connection before saving, when a setting changes.
    pub test: bool,
    /// Who to record in history.
    pub started_by: String,
}

/// What an update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updated {
    /// The keys that changed (settings, then policy names); empty when nothing did.
    pub changed: Vec<String>,
    /// Whether the next sync reads everything again.
    pub next_sync_full: bool,
    /// The URLs its runs may reach from now on, plugin defaults included.
    pub egress: Vec<String>,
    /// The connection test, when one ran.
    pub test: Option<TestReport>,
}

/// A move of an integration to another version of its plugin: an upgrade, or a rollback.
#[derive(Debug, Clone)]
pub struct UpgradeIntegration {
    /// Its name.
    pub name: String,
    /// The version to run; the newest when `None`.
    pub to: Option<String>,
    /// Settings to set with the move (a setting the new version adds or defaults to a
    /// host not yet accepted); an empty secret keeps the stored one.
    pub values: BTreeMap<String, String>,
    /// Test the connection with the new version before saving.
    pub test: bool,
    /// Who to record in history.
    pub started_by: String,
}

/// What a move to another version did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgraded {
    /// The version it ran.
    pub from: String,
    /// The version it runs now.
    pub to: String,
    /// The URLs its runs may reach from now on, plugin defaults included.
    pub egress: Vec<String>,
    /// The connection test, when one ran.
    pub test: Option<TestReport>,
}

/// How a connection test went, secrets scrubbed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TestReport {
    /// Every step.
    pub steps: Vec<CheckStep>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Whose fault, if it failed.
    #[serde(skip)]
    pub failure: Option<FailureClass>,
}

impl TestReport {
    /// The steps as the history row of the test keeps them: one line each,
    /// `OUTCOME NAME: DETAIL`.
    pub fn steps_text(&self) -> String {
        let lines: Vec<String> = (self.steps.iter())
            .map(|s| format!("{} {}: {}", outcome_name(s.outcome), s.name, s.detail))
            .collect();
        lines.join("\n")
    }

    /// The report a recorded test's history row holds: its steps from the lines
    /// [`TestReport::steps_text`] wrote, its error, and whether it passed.
    pub fn from_history(row: &HistoryRow) -> TestReport {
        let steps = (row.details.as_deref().unwrap_or_default().lines())
            .filter_map(|line| {
                let (outcome, rest) = line.split_once(' ')?;
                let (name, detail) = rest.split_once(": ").unwrap_or((rest, ""));
                let outcome = [
                    CheckOutcome::Passed,
                    CheckOutcome::Failed,
                    CheckOutcome::Skipped,
                ]
                .into_iter()
                .find(|o| outcome_name(*o) == outcome)?;
                Some(CheckStep {
                    name: name.to_string(),
                    outcome,
                    detail: detail.to_string(),
                })
            })
            .collect();
        let error = match row.status {
            RunStatus::Succeeded | RunStatus::SucceededWithWarnings => None,
            _ => Some(
                row.error
                    .clone()
                    .unwrap_or_else(|| "the test failed".into()),
            ),
        };
        TestReport {
            steps,
            error,
            failure: None,
        }
    }
}

/// A step's outcome as a word.
fn outcome_name(outcome: CheckOutcome) -> &'static str {
    match outcome {
        CheckOutcome::Passed => "passed",
        CheckOutcome::Failed => "failed",
        CheckOutcome::Skipped => "skipped",
    }
}

/// An integration as listed: never its secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IntegrationSummary {
    /// Name.
    pub name: String,
    /// Connector.
    pub connector: String,
    /// The build of its plugin it runs (none yet for one stored before versions were
    /// pinned, until its first use).
    pub plugin: Option<PluginPin>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// Policy.
    pub policy: Policy,
}

impl From<Integration> for IntegrationSummary {
    fn from(i: Integration) -> Self {
        IntegrationSummary {
            name: i.name,
            connector: i.connector,
            plugin: i.plugin,
            created_at: i.created_at,
            policy: i.policy,
        }
    }
}

/// An integration and where it stands: what its card in the console shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    /// The integration.
    pub summary: IntegrationSummary,
    /// Its newest sync, running or ended.
    pub last_sync: Option<crate::model::HistoryRow>,
    /// When its next auto sync is due, once the scheduler set it.
    pub next_auto_sync: Option<DateTime<Utc>>,
    /// Its findings by severity, most severe first.
    pub by_severity: Vec<(crate::model::Severity, u64)>,
}

/// An integration as shown: every setting of its schema, secrets masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IntegrationView {
    /// Name.
    pub name: String,
    /// Connector.
    pub connector: String,
    /// The version of its plugin it runs.
    pub plugin_version: String,
    /// The streams its syncs pull.
    pub streams: Vec<String>,
    /// Whether those are its own choice (else its plugin's defaults).
    pub streams_chosen: bool,
    /// Every setting of the plugin's schema, in its order.
    pub settings: Vec<ShownSetting>,
    /// The URLs its runs may reach (the values of its URL settings).
    pub egress: Vec<String>,
    /// Policy.
    pub policy: Policy,
}

/// One setting as shown: never a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ShownSetting {
    /// The schema's key.
    pub key: String,
    /// What the plugin calls it, for people.
    pub label: String,
    /// The value given, unless it is a secret.
    pub value: Option<String>,
    /// Whether a value is given (for a secret, the only thing shown).
    pub set: bool,
    /// Whether it is a secret.
    pub secret: bool,
    /// The value used when none is given.
    pub default: Option<String>,
}

/// The text that masks a secret that is set.
pub const MASK: &str = "********";

impl ShownSetting {
    /// The value as a person reads it: the value, the mask, or the default marked
    /// `(default)`.
    pub fn shown(&self) -> String {
        match (&self.value, self.set, &self.default) {
            (Some(v), _, _) => v.clone(),
            (None, true, _) => MASK.to_string(),
            (None, false, Some(d)) => format!("{d} (default)"),
            (None, false, None) => String::new(),
        }
    }
}

/// A connection test that passed, or the error that carries the report of one that
/// failed (nothing having been saved).
pub(super) fn passed(report: TestReport) -> Result<TestReport, ServiceError> {
    match report.error {
        Some(_) => Err(ServiceError::ConnectionTest {
            report,
            saved: false,
        }),
        None => Ok(report),
    }
}

/// A refused or failed change, as history records it: never a setting's value.
pub(super) fn refusal(e: &ServiceError) -> String {
    match e {
        // A setting's message may quote the value typed: name the key only.
        ServiceError::Setting(s) => format!("refused: setting `{}` is not valid", s.key),
        ServiceError::ConnectionTest { report, .. } => format!(
            "connection test failed, nothing saved: {}",
            report.error.as_deref().unwrap_or("unknown error")
        ),
        e => format!("refused: {e}"),
    }
}

/// An update worked out against the stored integration: not yet tested or saved.
struct Merged {
    integration: Integration,
    plugin: Arc<LoadedPlugin>,
    after: Settings,
    policy: Policy,
    /// The streams chosen from now on (`None`: the plugin's defaults).
    streams: Option<Vec<String>>,
    /// The keys that change (settings, then policy names).
    changed: Vec<String>,
    settings_changed: bool,
}

impl Integrations<'_> {
    /// Runs the plugin's connection test with `settings`.
    pub(super) async fn run_test(
        &self,
        prepared_plugin: &LoadedPlugin,
        settings: &Settings,
    ) -> Result<TestReport, ServiceError> {
        let plugins = self.platform.plugins().await?;
        let schema = &prepared_plugin.info.config_schema;
        let answer = plugins
            .host
            .test_connection(
                prepared_plugin,
                settings.entries(schema),
                settings.grants(schema),
            )
            .await;
        // The runtime scrubbed everything the plugin said, its traps and stderr included.
        Ok(match answer {
            Ok(Ok(steps)) => TestReport {
                steps,
                error: None,
                failure: None,
            },
            Ok(Err(failure)) => TestReport {
                steps: failure.steps,
                error: Some(failure.error.to_string()),
                failure: Some(FailureClass::of_source(failure.error.kind)),
            },
            Err(e) => TestReport {
                steps: vec![],
                error: Some(e.to_string()),
                failure: Some(e.class()),
            },
        })
    }

    /// Seals the secret values of `settings` for integration `name`; returns (plain
    /// settings, sealed secrets).
    pub(super) async fn seal(
        &self,
        plugin: &LoadedPlugin,
        name: &str,
        settings: &Settings,
    ) -> Result<(Vec<(String, String)>, String), ServiceError> {
        let (plain, secret) = settings.split(&plugin.info.config_schema);
        let sealed = self.platform.key().await?.seal(
            &serde_json::to_vec(&secret).expect("a map of strings"),
            &SealedFor::integration(name, &plugin.info.name),
        );
        Ok((plain.into_iter().collect(), sealed))
    }

    /// Adds an integration. Its connection is tested first (unless asked not to), and
    /// nothing is saved if the test fails; a passed test is recorded in its history.
    pub async fn add(&self, request: AddIntegration) -> Result<Added, ServiceError> {
        check_name(&request.name)?;
        let store = self.platform.store();
        if store.integration(&request.name).await.is_ok() {
            return Err(ServiceError::Exists(request.name));
        }
        // A key that does not load fails now, not after a connection test.
        self.platform.key().await?;
        let plugins = self.platform.plugins().await?;
        let plugin = match &request.version {
            Some(version) => {
                (self.platform)
                    .plugin_version(&request.connector, version)
                    .await?
            }
            None => self.platform.newest_plugin(&request.connector).await?,
        };
        let settings = validate(&plugin, plugins.host.resolver(), request.values).await?;
        if let Some(streams) = &request.streams {
            check_streams(&plugin, streams)?;
        }
        let policy = request.policy.apply(Policy::default())?;
        let test = match request.test {
            false => None,
            true => Some(passed(self.run_test(&plugin, &settings).await?)?),
        };
        let egress = settings.egress(&plugin.info.config_schema);
        let (settings, sealed_secrets) = self.seal(&plugin, &request.name, &settings).await?;
        let pin = self.platform.pin_of(&plugin).await?;
        let integration = store
            .add_integration(&NewIntegration {
                name: request.name,
                connector: plugin.info.name.clone(),
                settings,
                sealed_secrets,
                policy,
                plugin: pin,
                streams: request.streams,
            })
            .await?;
        if test.is_some() {
            // The test ran before the integration existed; record it now that it does.
            store
                .record_run(
                    integration.id,
                    Action::TestConnection,
                    &request.started_by,
                    &RunEnd::bare(RunStatus::Succeeded, None),
                    None,
                )
                .await?;
        }
        Ok(Added {
            integration,
            plugin_version: plugin.info.version.clone(),
            egress,
            test,
        })
    }

    /// Works out what `request` would make of the stored integration, refusing a URL
    /// change that would send a stored secret somewhere it was not entered for.
    async fn merge(
        &self,
        integration: Integration,
        request: &UpdateIntegration,
    ) -> Result<Merged, ServiceError> {
        let Prepared {
            integration,
            plugins,
            plugin,
            settings: before,
        } = self.platform.prepare_integration(integration).await?;
        let schema = &plugin.info.config_schema;
        let mut values = before.values().clone();
        for key in &request.unset {
            if values.remove(key).is_none() && !schema.iter().any(|f| &f.key == key) {
                return Err(SettingError {
                    key: key.clone(),
                    message: "unknown for this connector".into(),
                }
                .into());
            }
        }
        // An empty secret means "keep the stored one": edit forms never show secrets.
        let keeps_stored = |key: &str, value: &str| {
            value.trim().is_empty() && schema.iter().any(|f| f.key == key && before.is_secret(f))
        };
        values.extend(
            request
                .values
                .iter()
                .filter(|(key, value)| !keeps_stored(key, value))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let after = validate(&plugin, plugins.host.resolver(), values)
            .await?
            .sealed_like(&before);
        check_secrets_follow_urls(schema, &before, &after, &request.values)?;
        let policy = request.policy.apply(integration.policy)?;
        let streams = match &request.streams {
            None => integration.streams.clone(),
            Some(chosen) if chosen.is_empty() => None,
            Some(chosen) => {
                check_streams(&plugin, chosen)?;
                Some(chosen.clone())
            }
        };
        let mut changed: Vec<String> = schema
            .iter()
            .map(|f| &f.key)
            .filter(|k| before.get(k) != after.get(k))
            .cloned()
            .collect();
        // What the syncs pull, not how they reach it: no connection test needed.
        let streams_changed = Some(streams_to_pull(&plugin, streams.as_deref())?)
            != streams_to_pull(&plugin, integration.streams.as_deref()).ok();
        let settings_changed = !changed.is_empty();
        if streams_changed {
            changed.push(STREAMS_KEY.into());
        }
        changed.extend(PolicyChange::keys_changed(integration.policy, policy).map(str::to_string));
        Ok(Merged {
            integration,
            plugin,
            after,
            policy,
            streams,
            changed,
            settings_changed,
        })
    }

    /// Changes an integration's settings, secrets or policy. A settings change is tested
    /// first (unless asked not to); a change to what a sync reads or stores makes the next
    /// sync full. Every attempt is recorded in history by key, never by value, the
    /// refused and failed ones too.
    pub async fn update(&self, request: UpdateIntegration) -> Result<Updated, ServiceError> {
        let integration = self.platform.integration(&request.name).await?;
        let outcome = self.apply_update(integration.clone(), &request).await;
        if let Err(e) = &outcome {
            self.record_refused_change(&integration, &request, e).await;
        }
        outcome
    }

    async fn apply_update(
        &self,
        integration: Integration,
        request: &UpdateIntegration,
    ) -> Result<Updated, ServiceError> {
        let Merged {
            integration,
            plugin,
            after,
            policy,
            streams,
            changed,
            settings_changed,
        } = self.merge(integration, request).await?;
        let schema = &plugin.info.config_schema;
        if changed.is_empty() {
            return Ok(Updated {
                changed,
                next_sync_full: false,
                egress: after.egress(schema),
                test: None,
            });
        }
        let test = match settings_changed && request.test {
            false => None,
            true => Some(passed(self.run_test(&plugin, &after).await?)?),
        };
        let (plain, sealed) = self.seal(&plugin, &integration.name, &after).await?;
        let store = self.platform.store();
        store
            .update_integration(integration.id, &plain, &sealed, &policy, streams.as_deref())
            .await?;
        let was = integration.policy;
        let reads_differently = settings_changed
            || changed.iter().any(|key| key == STREAMS_KEY)
            || policy.auto_onboard != was.auto_onboard
            || policy.update_metadata != was.update_metadata;
        if reads_differently {
            // What the next sync must read or store changed: start it from scratch.
            store.clear_checkpoint(integration.id).await?;
        }
        store
            .record_run(
                integration.id,
                Action::ConfigChange,
                &request.started_by,
                &RunEnd::bare(RunStatus::Succeeded, None),
                Some(&format!("changed: {}", changed.join(", "))),
            )
            .await?;
        Ok(Updated {
            changed,
            next_sync_full: reads_differently,
            egress: after.egress(schema),
            test,
        })
    }

    /// Records a settings change that was refused or failed: which keys it tried and why,
    /// never a value. A history that cannot be written is logged, not raised over the
    /// refusal itself.
    async fn record_refused_change(
        &self,
        integration: &Integration,
        request: &UpdateIntegration,
        e: &ServiceError,
    ) {
        let plugin = self
            .platform
            .pinned_plugin(&mut integration.clone())
            .await
            .ok();
        let schema = plugin
            .as_ref()
            .map_or(&[][..], |p| &p.info.config_schema[..]);
        let reason = refusal(e);
        // Only the plugin's own keys: a refused request may name anything.
        let known = |key: &&String| schema.iter().any(|f| &f.key == *key);
        let mut tried: Vec<&str> = request
            .values
            .keys()
            .chain(&request.unset)
            .filter(known)
            .map(String::as_str)
            .collect();
        if request.streams.is_some() {
            tried.push(STREAMS_KEY);
        }
        tried.extend(request.policy.keys_given().map(|key| -> &str { key }));
        let recorded = self
            .platform
            .store()
            .record_run(
                integration.id,
                Action::ConfigChange,
                &request.started_by,
                &RunEnd::bare(RunStatus::Failed, Some(reason)),
                Some(&format!("tried: {}", tried.join(", "))),
            )
            .await;
        if let Err(e) = recorded {
            tracing::warn!("cannot record a refused settings change in history: {e}");
        }
    }

    /// Tests the settings an update would give, without saving or recording anything
    /// (the Test Connection button of an edit form). The same rules as
    /// [`update`](Self::update) apply: a changed URL needs its secrets entered again.
    pub async fn test_update(
        &self,
        request: &UpdateIntegration,
    ) -> Result<TestReport, ServiceError> {
        let integration = self.platform.integration(&request.name).await?;
        let merged = self.merge(integration, request).await?;
        passed(self.run_test(&merged.plugin, &merged.after).await?)
    }

    /// Tests settings for a new integration of `connector` without saving anything (the
    /// Test Connection button of a form not yet saved). A failed test is
    /// [`ServiceError::ConnectionTest`], carrying its report.
    pub async fn test_settings(
        &self,
        connector: &str,
        values: BTreeMap<String, String>,
    ) -> Result<TestReport, ServiceError> {
        let plugins = self.platform.plugins().await?;
        let plugin = self.platform.newest_plugin(connector).await?;
        let settings = validate(&plugin, plugins.host.resolver(), values).await?;
        passed(self.run_test(&plugin, &settings).await?)
    }

    /// Tests a stored integration's connection and records the test in its history.
    /// A failed test is [`ServiceError::ConnectionTest`], carrying its report.
    pub async fn test(&self, name: &str, started_by: &str) -> Result<TestReport, ServiceError> {
        let prepared = self.platform.prepare(name).await?;
        prepared.check_runnable()?;
        let store = self.platform.store();
        let run = store
            .start_run(prepared.integration.id, Action::TestConnection, started_by)
            .await?;
        let report = self.run_test(&prepared.plugin, &prepared.settings).await?;
        let status = match report.error {
            Some(_) => RunStatus::Failed,
            None => RunStatus::Succeeded,
        };
        let end = RunEnd {
            details: Some(report.steps_text()),
            ..RunEnd::bare(status, report.error.clone())
        };
        store.finish_run(run, &end, None).await?;
        match report.error {
            Some(_) => Err(ServiceError::ConnectionTest {
                report,
                saved: true,
            }),
            None => Ok(report),
        }
    }

    /// Removes an integration and everything stored for it.
    pub async fn remove(&self, name: &str) -> Result<(), ServiceError> {
        Ok(self.platform.store().remove_integration(name).await?)
    }

    /// Every integration, by name.
    pub async fn list(&self) -> Result<Vec<IntegrationSummary>, ServiceError> {
        let all = self.platform.store().integrations().await?;
        Ok(all.into_iter().map(IntegrationSummary::from).collect())
    }

    /// Every integration with its last sync, next auto sync and findings by severity.
    pub async fn overview(&self) -> Result<Vec<Overview>, ServiceError> {
        let store = self.platform.store();
        let mut all = Vec::new();
        for i in store.integrations().await? {
            let last_sync = store.last_sync(i.id).await?;
            let next_auto_sync = match i.policy.auto_sync_days {
                0 => None,
                _ => store.next_due(i.id).await?,
            };
            let filter = crate::model::FindingFilter {
                integration: Some(i.id),
                ..Default::default()
            };
            let by_severity = store.finding_counts(&filter).await?;
            all.push(Overview {
                summary: IntegrationSummary::from(i),
                last_sync,
                next_auto_sync,
                by_severity,
            });
        }
        Ok(all)
    }

    /// One integration's settings, secrets masked.
    pub async fn show(&self, name: &str) -> Result<IntegrationView, ServiceError> {
        let prepared = self.platform.prepare(name).await?;
        let settings = prepared
            .plugin
            .info
            .config_schema
            .iter()
            .map(|field| {
                let given = prepared.settings.get(&field.key);
                let secret = prepared.settings.is_secret(field);
                ShownSetting {
                    key: field.key.clone(),
                    label: field.label.clone(),
                    value: given.filter(|_| !secret).map(str::to_string),
                    set: given.is_some(),
                    secret,
                    default: field.default_value.clone(),
                }
            })
            .collect();
        let streams = prepared.streams()?;
        Ok(IntegrationView {
            egress: prepared
                .settings
                .egress(&prepared.plugin.info.config_schema),
            name: prepared.integration.name,
            connector: prepared.integration.connector,
            plugin_version: prepared.plugin.info.version.clone(),
            streams,
            streams_chosen: prepared.integration.streams.is_some(),
            settings,
            policy: prepared.integration.policy,
        })
    }
}
