//! `integration add|list|show|remove`.

use super::context::{Context, os_user};
use super::run::print_steps;
use super::table;
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use connector_host::plugin::contract::FieldKind;
use connector_host::settings::Settings;
use connector_host::store::{Action, RunCounts, RunStatus};
use std::collections::BTreeMap;

#[derive(Debug, Subcommand)]
pub enum IntegrationCommand {
    /// Add an integration; its connection is tested first.
    Add(AddArgs),
    /// List integrations.
    List,
    /// Show an integration's settings (secrets masked).
    Show {
        /// Integration name.
        name: String,
    },
    /// Remove an integration and everything stored for it.
    Remove {
        /// Integration name.
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Unique name for the integration.
    name: String,
    /// The connector (plugin name, see `plugins`).
    #[arg(long)]
    connector: String,
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

fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{text}`")),
    }
}

pub async fn run(ctx: &Context, cmd: IntegrationCommand) -> anyhow::Result<()> {
    match cmd {
        IntegrationCommand::Add(args) => add(ctx, args).await,
        IntegrationCommand::List => list(ctx),
        IntegrationCommand::Show { name } => show(ctx, &name).await,
        IntegrationCommand::Remove { name } => {
            ctx.store()?.remove_integration(&name)?;
            println!("removed integration `{name}`");
            Ok(())
        }
    }
}

async fn add(ctx: &Context, args: AddArgs) -> anyhow::Result<()> {
    let mut store = ctx.store()?;
    if store.integration(&args.name).is_ok() {
        bail!(
            "integration `{}` already exists; remove it first or pick another name",
            args.name
        );
    }
    let key = ctx.key()?;
    let mut values: BTreeMap<String, String> = args.settings.into_iter().collect();
    values.extend(args.secrets);
    for (k, var) in args.secret_envs {
        let value = std::env::var(&var).with_context(|| {
            format!("--secret-env {k}={var}: environment variable {var} is not set")
        })?;
        values.insert(k, value);
    }
    let (host, catalog) = ctx.plugins().await?;
    let plugin = catalog.get(&args.connector)?;
    let schema = &plugin.info.config_schema;
    let settings = Settings::validate(schema, values)?;
    if !args.no_test {
        let result = host
            .test_connection(
                plugin,
                settings.entries(schema),
                settings.allow_list(schema),
            )
            .await?;
        let secrets: Vec<String> = settings.secrets(schema).into_values().collect();
        match result {
            Ok(steps) => print_steps(&steps, &secrets),
            Err(failure) => {
                print_steps(&failure.steps, &secrets);
                bail!(
                    "connection test failed, integration not saved (use --no-test to save anyway): {}",
                    connector_host::settings::redact(
                        &connector_host::runner::connector_error_text(&failure.error),
                        &secrets
                    )
                );
            }
        }
    }
    let (plain, secret) = settings.split(schema);
    let sealed = key.seal(&serde_json::to_vec(&secret)?);
    let plain: Vec<(String, String)> = plain.into_iter().collect();
    let integration = store.add_integration(&args.name, &plugin.info.name, &plain, &sealed)?;
    if !args.no_test {
        // The test ran before the integration existed; record it now that it does.
        let run = store.start_run(
            integration.id,
            Action::TestConnection,
            &args.started_by.unwrap_or_else(os_user),
        )?;
        store.finish_run(run, RunStatus::Succeeded, &RunCounts::default(), &[], None)?;
    }
    println!(
        "added integration `{}` ({} {})",
        args.name, plugin.info.name, plugin.info.version
    );
    Ok(())
}

fn list(ctx: &Context) -> anyhow::Result<()> {
    let integrations = ctx.store()?.integrations()?;
    let mut t = table::new(&["NAME", "CONNECTOR", "CREATED"]);
    for i in &integrations {
        t.add_row(vec![
            i.name.clone(),
            i.connector.clone(),
            i.created_at.clone(),
        ]);
    }
    println!("{t}");
    Ok(())
}

async fn show(ctx: &Context, name: &str) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let integration = store.integration(name)?;
    let (_host, catalog) = ctx.plugins().await?;
    let plugin = catalog.get(&integration.connector)?;
    let settings = ctx.settings(&integration, &plugin.info.config_schema)?;
    let mut t = table::new(&["SETTING", "VALUE"]);
    t.add_row(vec!["name".to_string(), integration.name.clone()]);
    t.add_row(vec!["connector".to_string(), integration.connector.clone()]);
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
        t.add_row(vec![field.key.clone(), value]);
    }
    println!("{t}");
    Ok(())
}
