//! Moving an integration to another version of its plugin: an upgrade, or a rollback (the
//! same operation with an older version). The move is tested with the new version first
//! and saved only when that passes; the build it ran is kept, and every attempt is
//! recorded in history naming both versions.

use super::ServiceError;
use super::integration_rules::{check_secrets_follow_urls, streams_to_pull, validate};
use super::integrations::{Integrations, UpgradeIntegration, Upgraded, passed, refusal};
use crate::model::{Action, Integration, PluginPin, RunEnd, RunStatus};
use crate::plugin::LoadedPlugin;
use crate::settings::{Settings, unaccepted_default};

impl Integrations<'_> {
    /// Moves integration `request.name` to version `request.to` of its plugin (the
    /// newest when not given): its stored settings are checked against that version,
    /// its connection tested with it (unless asked not to), and only then is it pinned to
    /// it. The next sync reads everything again: another version may keep its place
    /// differently.
    pub async fn upgrade(&self, request: UpgradeIntegration) -> Result<Upgraded, ServiceError> {
        let platform = self.platform;
        let mut integration = platform.integration(&request.name).await?;
        // The build it runs now (pinning one stored before versions were pinned).
        if let Err(e) = platform.pinned_plugin(&mut integration).await {
            // A build that cannot load is what a move to another version repairs.
            tracing::warn!(integration = %integration.name, "its current build: {e}");
        }
        let Some(from) = integration.plugin.clone() else {
            return Err(ServiceError::PluginVersion(format!(
                "integration `{}` has no plugin version pinned yet and no version of `{}` is available",
                integration.name, integration.connector
            )));
        };
        let target = match &request.to {
            Some(version) => {
                platform
                    .plugin_version(&integration.connector, version)
                    .await?
            }
            None => platform.newest_plugin(&integration.connector).await?,
        };
        if target.digest == from.digest {
            let newest = if request.to.is_none() {
                ", the newest there is; install another with `plugins install FILE`"
            } else {
                ""
            };
            return Err(ServiceError::PluginVersion(format!(
                "integration `{}` already runs {} {}{newest}",
                integration.name, integration.connector, from.version
            )));
        }
        let to = target.info.version.clone();
        let outcome = self.move_to(&integration, &from, &target, &request).await;
        let (status, error, note) = match &outcome {
            Ok(_) => (
                RunStatus::Succeeded,
                None,
                format!("plugin: {} {} -> {to}", integration.connector, from.version),
            ),
            Err(e) => (
                RunStatus::Failed,
                Some(refusal(e)),
                format!(
                    "tried plugin: {} {} -> {to}",
                    integration.connector, from.version
                ),
            ),
        };
        let recorded = platform
            .store()
            .record_run(
                integration.id,
                Action::ConfigChange,
                &request.started_by,
                &RunEnd::bare(status, error),
                Some(&note),
            )
            .await;
        if let Err(e) = recorded {
            tracing::warn!("cannot record a plugin version change in history: {e}");
        }
        let (egress, test) = outcome?;
        Ok(Upgraded {
            from: from.version,
            to,
            egress,
            test,
        })
    }

    /// Checks, tests and saves the move; nothing is saved when any step fails.
    async fn move_to(
        &self,
        integration: &Integration,
        from: &PluginPin,
        target: &LoadedPlugin,
        request: &UpgradeIntegration,
    ) -> Result<(Vec<String>, Option<super::TestReport>), ServiceError> {
        let platform = self.platform;
        let schema = &target.info.config_schema;
        // Its chosen streams must be offered by the new version.
        streams_to_pull(target, integration.streams.as_deref())?;
        let before = Settings::open(integration, schema, platform.key().await?)?;
        let mut values = before.values().clone();
        // An empty secret means "keep the stored one", as in an update.
        values.extend(
            request
                .values
                .iter()
                .filter(|(key, value)| {
                    !(value.trim().is_empty()
                        && schema.iter().any(|f| &f.key == *key && before.is_secret(f)))
                })
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        // A host the new version defaults is not accepted by moving to it: the operator
        // names it in the same command, or another.
        if let Some((field, url)) = unaccepted_default(schema, &values) {
            let (name, key, to) = (&integration.name, &field.key, &target.info.version);
            return Err(ServiceError::PluginVersion(format!(
                "{} {to} sends requests to `{url}` (the default of its setting `{key}`), which integration `{name}` never accepted; accept it with `integration upgrade {name} --to {to} --set {key}={url}` and its secrets entered again, or set another URL",
                target.info.name
            )));
        }
        let plugins = platform.plugins().await?;
        let after = validate(target, plugins.host.resolver(), values)
            .await?
            .sealed_like(&before);
        check_secrets_follow_urls(schema, &before, &after, &request.values)?;
        let test = match request.test {
            false => None,
            true => Some(passed(self.run_test(target, &after).await?)?),
        };
        let (plain, sealed) = self.seal(target, &integration.name, &after).await?;
        let pin = platform.pin_of(target).await?;
        let store = platform.store();
        let moved = store
            .pin_plugin(integration.id, Some(from), &pin, Some((&plain, &sealed)))
            .await?;
        if !moved {
            return Err(ServiceError::PluginVersion(format!(
                "integration `{}` was moved to another version meanwhile; look at it again and repeat the command",
                integration.name
            )));
        }
        store.clear_checkpoint(integration.id).await?;
        Ok((after.egress(schema), test))
    }
}
