//! `integration add|update|list|show|remove`.

use super::context::{Context, os_user};
use super::run::print_steps;
use super::table::{self, print_json};
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use connector_host::catalog::Catalog;
use connector_host::plugin::contract::FieldKind;
use connector_host::plugin::{LoadedPlugin, PluginHost};
use connector_host::runner::connector_error_text;
use connector_host::settings::{Settings, redact};
use connector_host::store::{Action, NewIntegration, Policy, RunCounts, RunStatus, Storage};
use std::collections::BTreeMap;

#[derive(Debug, Subcommand)]
pub enum IntegrationCommand {
    /// Add an integration; its connection is tested first.
    Add(AddArgs),
    /// Change any setting, secret or policy of an integration.
    Update(UpdateArgs),
    /// List integrations.
    List(JsonArg),
    /// Show an integration's settings (secrets masked).
    Show {
        /// Integration name.
        name: String,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Remove an integration and everything stored for it.
    Remove {
        /// Integration name.
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Settings given on the command line.
#[derive(Debug, Args)]
pub struct SettingArgs {
    /// A setting, KEY=VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_pair)]
    settings: Vec<(String, String)>,
    /// A secret setting, KEY=VALUE (repeatable). Prefer --secret-env.
    #[arg(long = "secret", value_name = "KEY=VALUE", value_parser = parse_pair)]
    secrets: Vec<(String, String)>,
    /// A secret setting read from an environment variable, KEY=ENVVAR (repeatable).
    #[arg(long = "secret-env", value_name = "KEY=ENVVAR", value_parser = parse_pair)]
    secret_envs: Vec<(String, String)>,
    /// Save without testing the connection.
    #[arg(long)]
    no_test: bool,
    /// Who to record in history [default: the OS user].
    #[arg(long)]
    started_by: Option<String>,
}

impl SettingArgs {
    /// The given values, secrets read from the environment.
    fn values(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let mut values: BTreeMap<String, String> = self.settings.iter().cloned().collect();
        values.extend(self.secrets.iter().cloned());
        for (k, var) in &self.secret_envs {
            let value = std::env::var(var).with_context(|| {
                format!("--secret-env {k}={var}: environment variable {var} is not set")
            })?;
            values.insert(k.clone(), value);
        }
        Ok(values)
    }

    fn started_by(&self) -> String {
        self.started_by.clone().unwrap_or_else(os_user)
    }
}

/// Platform policy flags.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Auto sync every N days at the host's sync time (0: manual only).
    #[arg(long, value_name = "N")]
    auto_sync_days: Option<u32>,
    /// Do not create assets the inventory lacks; their findings are skipped.
    #[arg(long, conflicts_with = "auto_onboard")]
    no_auto_onboard: bool,
    /// Create assets the inventory lacks (the default).
    #[arg(long)]
    auto_onboard: bool,
    /// Overwrite metadata of assets that already exist.
    #[arg(long, conflicts_with = "no_update_metadata")]
    update_metadata: bool,
    /// Keep existing assets' metadata (the default).
    #[arg(long)]
    no_update_metadata: bool,
}

impl PolicyArgs {
    fn apply(&self, mut policy: Policy) -> Policy {
        if let Some(days) = self.auto_sync_days {
            policy.auto_sync_days = days;
        }
        if self.no_auto_onboard || self.auto_onboard {
            policy.auto_onboard = self.auto_onboard;
        }
        if self.update_metadata || self.no_update_metadata {
            policy.update_metadata = self.update_metadata;
        }
        policy
    }
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Unique name for the integration.
    name: String,
    /// The connector (plugin name, see `plugins`).
    #[arg(long)]
    connector: String,
    #[command(flatten)]
    settings: SettingArgs,
    #[command(flatten)]
    policy: PolicyArgs,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Integration name.
    name: String,
    #[command(flatten)]
    settings: SettingArgs,
    /// Remove a setting, falling back to its default (repeatable).
    #[arg(long, value_name = "KEY")]
    unset: Vec<String>,
    #[command(flatten)]
    policy: PolicyArgs,
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{text}`")),
    }
}

pub async fn run(ctx: &Context, cmd: IntegrationCommand) -> anyhow::Result<()> {
    match cmd {
        IntegrationCommand::Add(args) => add(ctx, args).await,
        IntegrationCommand::Update(args) => update(ctx, args).await,
        IntegrationCommand::List(json) => list(ctx, json.json),
        IntegrationCommand::Show { name, json } => show(ctx, &name, json.json).await,
        IntegrationCommand::Remove { name } => {
            ctx.store()?.remove_integration(&name)?;
            println!("removed integration `{name}`");
            Ok(())
        }
    }
}

/// Tests the connection, printing each step; an error says nothing was saved.
async fn test_before_save(
    host: &PluginHost,
    plugin: &LoadedPlugin,
    settings: &Settings,
) -> anyhow::Result<()> {
    let schema = &plugin.info.config_schema;
    let secrets: Vec<String> = settings.secrets(schema).into_values().collect();
    match host
        .test_connection(
            plugin,
            settings.entries(schema),
            settings.allow_list(schema),
        )
        .await?
    {
        Ok(steps) => {
            print_steps(&steps, &secrets);
            Ok(())
        }
        Err(failure) => {
            print_steps(&failure.steps, &secrets);
            bail!(
                "connection test failed, nothing saved (use --no-test to save anyway): {}",
                redact(&connector_error_text(&failure.error), &secrets)
            )
        }
    }
}

/// Records a passed connection test in history.
fn record_test(store: &mut dyn Storage, integration: i64, started_by: &str) -> anyhow::Result<()> {
    let run = store.start_run(integration, Action::TestConnection, started_by)?;
    store.finish_run(run, RunStatus::Succeeded, &RunCounts::default(), &[], None)?;
    Ok(())
}

async fn add(ctx: &Context, args: AddArgs) -> anyhow::Result<()> {
    let mut store = ctx.store()?;
    if store.integration(&args.name).is_ok() {
        bail!(
            "integration `{}` already exists; change it with `integration update` or pick another name",
            args.name
        );
    }
    let key = ctx.key()?;
    let (host, catalog) = ctx.plugins().await?;
    let plugin = catalog.get(&args.connector)?;
    let schema = &plugin.info.config_schema;
    let settings = Settings::validate(schema, args.settings.values()?)?;
    if !args.settings.no_test {
        test_before_save(&host, plugin, &settings).await?;
    }
    let (plain, secret) = settings.split(schema);
    let integration = store.add_integration(&NewIntegration {
        name: args.name.clone(),
        connector: plugin.info.name.clone(),
        settings: plain.into_iter().collect(),
        sealed_secrets: key.seal(&serde_json::to_vec(&secret)?),
        policy: args.policy.apply(Policy::default()),
    })?;
    if !args.settings.no_test {
        // The test ran before the integration existed; record it now that it does.
        record_test(store.as_mut(), integration.id, &args.settings.started_by())?;
    }
    println!(
        "added integration `{}` ({} {})",
        args.name, plugin.info.name, plugin.info.version
    );
    Ok(())
}

async fn update(ctx: &Context, args: UpdateArgs) -> anyhow::Result<()> {
    let mut store = ctx.store()?;
    let integration = store.integration(&args.name)?;
    let (host, catalog) = ctx.plugins().await?;
    let plugin = catalog.get(&integration.connector)?;
    let schema = &plugin.info.config_schema;
    let before = ctx.settings(&integration, schema)?;
    let mut values = before.values().clone();
    for key in &args.unset {
        if values.remove(key).is_none() && !schema.iter().any(|f| &f.key == key) {
            bail!("setting `{key}`: unknown for this connector");
        }
    }
    values.extend(args.settings.values()?);
    let after = Settings::validate(schema, values)?;
    let policy = args.policy.apply(integration.policy);
    let mut changed: Vec<String> = schema
        .iter()
        .map(|f| &f.key)
        .filter(|k| before.get(k) != after.get(k))
        .cloned()
        .collect();
    let settings_changed = !changed.is_empty();
    for (key, was, is) in [
        (
            "auto-sync-days",
            integration.policy.auto_sync_days.to_string(),
            policy.auto_sync_days.to_string(),
        ),
        (
            "auto-onboard",
            integration.policy.auto_onboard.to_string(),
            policy.auto_onboard.to_string(),
        ),
        (
            "update-metadata",
            integration.policy.update_metadata.to_string(),
            policy.update_metadata.to_string(),
        ),
    ] {
        if was != is {
            changed.push(key.to_string());
        }
    }
    if changed.is_empty() {
        println!("nothing changed");
        return Ok(());
    }
    if settings_changed && !args.settings.no_test {
        test_before_save(&host, plugin, &after).await?;
    }
    let (plain, secret) = after.split(schema);
    let sealed = ctx.key()?.seal(&serde_json::to_vec(&secret)?);
    store.update_integration(
        integration.id,
        &plain.into_iter().collect::<Vec<_>>(),
        &sealed,
        &policy,
    )?;
    let reads_differently = settings_changed
        || policy.auto_onboard != integration.policy.auto_onboard
        || policy.update_metadata != integration.policy.update_metadata;
    if reads_differently {
        // What the next sync must read or store changed: start it from scratch.
        store.clear_checkpoint(integration.id)?;
    }
    store.record_config_change(integration.id, &args.settings.started_by(), &changed)?;
    let note = if reads_differently {
        "; the next sync is full"
    } else {
        ""
    };
    println!(
        "updated integration `{}`: changed {}{note}",
        args.name,
        changed.join(", ")
    );
    Ok(())
}

fn list(ctx: &Context, json: bool) -> anyhow::Result<()> {
    let integrations = ctx.store()?.integrations()?;
    if json {
        let rows: Vec<_> = integrations
            .iter()
            .map(|i| serde_json::json!({"name": i.name, "connector": i.connector, "created_at": i.created_at, "policy": i.policy}))
            .collect();
        return print_json(&rows);
    }
    let mut t = table::new(&[
        "NAME",
        "CONNECTOR",
        "AUTO SYNC",
        "ONBOARD",
        "UPDATE METADATA",
        "CREATED",
    ]);
    for i in &integrations {
        let auto = match i.policy.auto_sync_days {
            0 => "manual".to_string(),
            1 => "daily".to_string(),
            n => format!("every {n} days"),
        };
        t.add_row(vec![
            i.name.clone(),
            i.connector.clone(),
            auto,
            i.policy.auto_onboard.to_string(),
            i.policy.update_metadata.to_string(),
            i.created_at.clone(),
        ]);
    }
    println!("{t}");
    Ok(())
}

async fn show(ctx: &Context, name: &str, json: bool) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let integration = store.integration(name)?;
    let (_host, catalog): (PluginHost, Catalog) = ctx.plugins().await?;
    let plugin = catalog.get(&integration.connector)?;
    let settings = ctx.settings(&integration, &plugin.info.config_schema)?;
    let mut rows: Vec<(String, String)> = vec![
        ("name".into(), integration.name.clone()),
        ("connector".into(), integration.connector.clone()),
    ];
    for field in &plugin.info.config_schema {
        let value = match (settings.get(&field.key), field.kind) {
            (Some(_), FieldKind::Secret) => "********".to_string(),
            (Some(v), _) => v.to_string(),
            (None, _) => field
                .default_value
                .as_ref()
                .map(|d| format!("{d} (default)"))
                .unwrap_or_default(),
        };
        rows.push((field.key.clone(), value));
    }
    let p = integration.policy;
    rows.push(("auto-sync-days".into(), p.auto_sync_days.to_string()));
    rows.push(("auto-onboard".into(), p.auto_onboard.to_string()));
    rows.push(("update-metadata".into(), p.update_metadata.to_string()));
    if json {
        let object: serde_json::Map<String, serde_json::Value> =
            rows.into_iter().map(|(k, v)| (k, v.into())).collect();
        println!("{}", serde_json::to_string_pretty(&object)?);
        return Ok(());
    }
    let mut t = table::new(&["SETTING", "VALUE"]);
    for (k, v) in rows {
        t.add_row(vec![k, v]);
    }
    println!("{t}");
    Ok(())
}
