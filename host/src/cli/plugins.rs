//! `plugins [list]|install|remove`: the plugin versions there are, and which integrations
//! run each.

use super::context::Context;
use super::table::{self, opt, print_json};
use clap::{Args, Subcommand};
use connector_host::catalog::short;
use connector_host::service::{Platform, PluginVersion, ServiceError};
use std::path::PathBuf;

/// `plugins` alone lists them.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PluginsArgs {
    #[command(subcommand)]
    command: Option<PluginsCommand>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum PluginsCommand {
    /// Every version of every plugin (installed, or in the plugins folder), its settings
    /// and streams, and the integrations that run it.
    List {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Check a component (contract, imports, its description), compile it, and keep it
    /// under its name and version beside the versions already installed.
    Install {
        /// The component (*.wasm).
        file: PathBuf,
    },
    /// Forget an installed version; refused while an integration runs it.
    Remove {
        /// NAME@VERSION, for example wiz@0.1.0.
        #[arg(value_name = "NAME@VERSION", value_parser = parse_name_version)]
        plugin: (String, String),
    },
}

fn parse_name_version(text: &str) -> Result<(String, String), String> {
    match text.split_once('@') {
        Some((name, version)) if !name.is_empty() && !version.is_empty() => {
            Ok((name.to_string(), version.to_string()))
        }
        _ => Err(format!(
            "expected NAME@VERSION (for example wiz@0.1.0), got `{text}`"
        )),
    }
}

pub async fn run(ctx: &Context, args: PluginsArgs) -> anyhow::Result<()> {
    let platform = ctx.platform().await?;
    let service = platform.plugin_versions();
    match args.command {
        None => list(&platform, args.json).await,
        Some(PluginsCommand::List { json }) => list(&platform, json).await,
        Some(PluginsCommand::Install { file }) => {
            let outcome = service.install(&file).await?;
            let v = &outcome.version;
            match outcome.already {
                true => println!(
                    "{} {} is already installed, this very build",
                    v.info.name, v.info.version
                ),
                false => println!(
                    "installed {} {} (contract {}, sha256 {})",
                    v.info.name,
                    v.info.version,
                    v.info.contract_version,
                    short(&v.digest)
                ),
            }
            let others: Vec<String> = service
                .versions_of(&v.info.name)
                .await?
                .into_iter()
                .filter(|o| o.info.version != v.info.version)
                .map(|o| o.info.version)
                .collect();
            if !others.is_empty() {
                println!(
                    "other versions: {}; move an integration with `integration upgrade NAME --to {}`",
                    others.join(", "),
                    v.info.version
                );
            }
            Ok(())
        }
        Some(PluginsCommand::Remove {
            plugin: (name, version),
        }) => {
            service.remove(&name, &version).await?;
            println!("removed {name} {version}");
            let still_in_folder = service
                .versions_of(&name)
                .await?
                .into_iter()
                .find(|v| v.info.version == version)
                .and_then(|v| v.file);
            if let Some(file) = still_in_folder {
                println!(
                    "{} in the plugins folder still offers it; delete that file too to forget it",
                    file.display()
                );
            }
            Ok(())
        }
    }
}

async fn list(platform: &Platform, json: bool) -> anyhow::Result<()> {
    let (versions, failed) = platform.plugin_versions().list_with_failures().await?;
    for (file, error) in &failed {
        eprintln!(
            "warning: {} not loaded: {}",
            file.display(),
            table::safe(error)
        );
    }
    if versions.is_empty() {
        return Err(ServiceError::NoPlugins.into());
    }
    if json {
        let rows: Vec<serde_json::Value> = versions.iter().map(json_row).collect();
        return print_json(&rows);
    }
    for version in &versions {
        print_version(version);
    }
    Ok(())
}

fn json_row(v: &PluginVersion) -> serde_json::Value {
    let i = &v.info;
    serde_json::json!({"name": i.name, "version": i.version, "contract_version": i.contract_version,
        "digest": v.digest, "installed_at": v.installed_at,
        "path": v.file.as_ref().map(|f| f.display().to_string()), "used_by": v.used_by,
        "config_schema": i.config_schema, "streams": i.streams, "fixed_endpoints": i.fixed_endpoints})
}

fn print_version(v: &PluginVersion) {
    let i = &v.info;
    let mut places = vec![];
    if v.installed_at.is_some() {
        places.push("installed".to_string());
    }
    if let Some(file) = &v.file {
        places.push(format!("from {}", file.display()));
    }
    println!(
        "{} {} (contract {}) {}, sha256 {}",
        i.name,
        i.version,
        i.contract_version,
        places.join(", "),
        short(&v.digest)
    );
    let used_by = match v.used_by.is_empty() {
        true => "no integration".to_string(),
        false => v.used_by.join(", "),
    };
    println!("  used by: {}", table::safe(&used_by));
    let streams: Vec<String> = i
        .streams
        .iter()
        .map(|s| match s.default_on {
            true => format!("{} (on by default)", s.name),
            false => s.name.clone(),
        })
        .collect();
    println!("  streams: {}", table::safe(&streams.join(", ")));
    if !i.fixed_endpoints.is_empty() {
        let endpoints = i.fixed_endpoints.join(", ");
        println!("  fixed endpoints: {}", table::safe(&endpoints));
    }
    let mut t = table::new(&["KEY", "KIND", "REQUIRED", "DEFAULT", "HELP"]);
    for f in &i.config_schema {
        let required = if f.required { "yes" } else { "no" };
        t.add_row(vec![
            f.key.clone(),
            f.kind.as_str().into(),
            required.into(),
            opt(&f.default_value),
            f.help.clone(),
        ]);
    }
    table::print(&t);
}
