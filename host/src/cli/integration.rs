//! `integration add|update|upgrade|list|show|remove`.

use super::context::{Context, os_user};
use super::run::print_steps;
use super::table::{self, print_json};
use anyhow::Context as _;
use clap::{Args, Subcommand};
use connector_host::service::{
    AddIntegration, Platform, PolicyChange, ServiceError, UpdateIntegration, UpgradeIntegration,
};
use std::collections::BTreeMap;

#[derive(Debug, Subcommand)]
pub enum IntegrationCommand {
    /// Add an integration; its connection is tested first.
    Add(AddArgs),
    /// Change any setting, secret or policy of an integration.
    Update(UpdateArgs),
    /// Move an integration to another installed version of its plugin (the newest by
    /// default; an older one rolls back). Its connection is tested with that version
    /// first, and nothing changes if the test fails.
    Upgrade(UpgradeArgs),
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
    /// Auto sync every N days at the host's sync time (0: manual only; at most 365).
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=i64::from(connector_host::model::Policy::MAX_AUTO_SYNC_DAYS)))]
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
    fn change(&self) -> PolicyChange {
        PolicyChange {
            auto_sync_days: self.auto_sync_days,
            auto_onboard: (self.no_auto_onboard || self.auto_onboard).then_some(self.auto_onboard),
            update_metadata: (self.update_metadata || self.no_update_metadata)
                .then_some(self.update_metadata),
        }
    }
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Unique name for the integration.
    name: String,
    /// The connector (plugin name, see `plugins`).
    #[arg(long)]
    connector: String,
    /// The version of the plugin to run [default: the newest installed or in the
    /// plugins folder].
    #[arg(long, value_name = "VERSION")]
    plugin_version: Option<String>,
    /// The streams to pull, comma-separated (see `plugins`) [default: the plugin's
    /// streams that are on by default].
    #[arg(long, value_name = "STREAM,…", value_delimiter = ',')]
    streams: Option<Vec<String>>,
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
    /// The streams to pull from now on, comma-separated; `default` for the plugin's
    /// defaults. A change makes the next sync full.
    #[arg(long, value_name = "STREAM,…|default", value_delimiter = ',')]
    streams: Option<Vec<String>>,
    #[command(flatten)]
    policy: PolicyArgs,
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Integration name.
    name: String,
    /// The version to move to [default: the newest]; an older one rolls back.
    #[arg(long, value_name = "VERSION")]
    to: Option<String>,
    #[command(flatten)]
    settings: SettingArgs,
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{text}`")),
    }
}

pub async fn run(ctx: &Context, cmd: IntegrationCommand) -> anyhow::Result<()> {
    let platform = ctx.platform().await?;
    match cmd {
        IntegrationCommand::Add(args) => add(&platform, args).await,
        IntegrationCommand::Update(args) => update(&platform, args).await,
        IntegrationCommand::Upgrade(args) => upgrade(&platform, args).await,
        IntegrationCommand::List(json) => list(&platform, json.json).await,
        IntegrationCommand::Show { name, json } => show(&platform, &name, json.json).await,
        IntegrationCommand::Remove { name } => {
            platform.integrations().remove(&name).await?;
            println!("removed integration `{name}`");
            Ok(())
        }
    }
}

/// Prints a failed connection test's steps before its error goes up.
fn print_failed_test(error: ServiceError) -> anyhow::Error {
    if let ServiceError::ConnectionTest { report, .. } = &error {
        print_steps(&report.steps);
    }
    error.into()
}

async fn add(platform: &Platform, args: AddArgs) -> anyhow::Result<()> {
    let added = platform
        .integrations()
        .add(AddIntegration {
            name: args.name.clone(),
            connector: args.connector.clone(),
            version: args.plugin_version.clone(),
            streams: args.streams.clone(),
            values: args.settings.values()?,
            policy: args.policy.change(),
            test: !args.settings.no_test,
            started_by: args.settings.started_by(),
        })
        .await
        .map_err(print_failed_test)?;
    if let Some(test) = &added.test {
        print_steps(&test.steps);
    }
    println!(
        "added integration `{}` ({} {})",
        added.integration.name, added.integration.connector, added.plugin_version
    );
    print_egress(&added.egress);
    Ok(())
}

async fn update(platform: &Platform, args: UpdateArgs) -> anyhow::Result<()> {
    let updated = platform
        .integrations()
        .update(UpdateIntegration {
            name: args.name.clone(),
            values: args.settings.values()?,
            unset: args.unset.clone(),
            streams: args
                .streams
                .clone()
                .map(|streams| match streams.as_slice() {
                    [only] if only == "default" => Vec::new(),
                    _ => streams,
                }),
            policy: args.policy.change(),
            test: !args.settings.no_test,
            started_by: args.settings.started_by(),
        })
        .await
        .map_err(print_failed_test)?;
    if updated.changed.is_empty() {
        println!("nothing changed");
        return Ok(());
    }
    if let Some(test) = &updated.test {
        print_steps(&test.steps);
    }
    let note = match updated.next_sync_full {
        true => "; the next sync is full",
        false => "",
    };
    println!(
        "updated integration `{}`: changed {}{note}",
        args.name,
        updated.changed.join(", ")
    );
    print_egress(&updated.egress);
    Ok(())
}

async fn upgrade(platform: &Platform, args: UpgradeArgs) -> anyhow::Result<()> {
    let upgraded = platform
        .integrations()
        .upgrade(UpgradeIntegration {
            name: args.name.clone(),
            to: args.to.clone(),
            values: args.settings.values()?,
            test: !args.settings.no_test,
            started_by: args.settings.started_by(),
        })
        .await
        .map_err(print_failed_test)?;
    if let Some(test) = &upgraded.test {
        print_steps(&test.steps);
    }
    println!(
        "integration `{}` now runs {} (was {}); the next sync is full",
        args.name, upgraded.to, upgraded.from
    );
    print_egress(&upgraded.egress);
    Ok(())
}

/// Prints where the integration's runs may send requests: the hosts an operator accepts
/// by adding or updating it.
fn print_egress(egress: &[String]) {
    println!("its runs may send requests to:");
    for url in egress {
        println!("  {}", table::safe(url));
    }
}

async fn list(platform: &Platform, json: bool) -> anyhow::Result<()> {
    let integrations = platform.integrations().list().await?;
    if json {
        return print_json(&integrations);
    }
    let mut t = table::new(&[
        "NAME",
        "CONNECTOR",
        "VERSION",
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
            i.plugin
                .as_ref()
                .map(|p| p.version.clone())
                .unwrap_or_default(),
            auto,
            i.policy.auto_onboard.to_string(),
            i.policy.update_metadata.to_string(),
            table::time(&i.created_at),
        ]);
    }
    table::print(&t);
    Ok(())
}

async fn show(platform: &Platform, name: &str, json: bool) -> anyhow::Result<()> {
    let view = platform.integrations().show(name).await?;
    let mut rows: Vec<(String, String)> = vec![
        ("name".into(), view.name.clone()),
        ("connector".into(), view.connector.clone()),
        ("plugin-version".into(), view.plugin_version.clone()),
        (
            "streams".into(),
            match view.streams_chosen {
                true => view.streams.join(","),
                false => format!("{} (default)", view.streams.join(",")),
            },
        ),
    ];
    rows.extend(view.settings.iter().map(|s| (s.key.clone(), s.shown())));
    let p = view.policy;
    rows.push(("auto-sync-days".into(), p.auto_sync_days.to_string()));
    rows.push(("auto-onboard".into(), p.auto_onboard.to_string()));
    rows.push(("update-metadata".into(), p.update_metadata.to_string()));
    if json {
        let mut object: serde_json::Map<String, serde_json::Value> =
            rows.into_iter().map(|(k, v)| (k, v.into())).collect();
        object.insert("egress".into(), view.egress.clone().into());
        println!("{}", serde_json::to_string_pretty(&object)?);
        return Ok(());
    }
    let mut t = table::new(&["SETTING", "VALUE"]);
    for (k, v) in rows {
        t.add_row(vec![k, v]);
    }
    table::print(&t);
    print_egress(&view.egress);
    Ok(())
}
