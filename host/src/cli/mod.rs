//! Command-line arguments and dispatch.

mod context;
mod integration;
mod run;
mod serve;
mod table;
mod views;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Runs connector plugins (WebAssembly components) and stores the assets and findings
/// they pull, in SQLite by default.
#[derive(Debug, Parser)]
#[command(name = "connector-host", version, about)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: Global,
    /// More log output from the host and its plugins (-v info, -vv debug, -vvv trace);
    /// libraries stay at warn. RUST_LOG overrides (for example RUST_LOG=wasmtime=debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The SQLite database file.
    #[arg(
        long,
        env = "CONNECTOR_HOST_DB",
        default_value = "connector-host.db",
        global = true
    )]
    pub db: PathBuf,
    /// Folder of plugin components (*.wasm).
    #[arg(
        long,
        env = "CONNECTOR_HOST_PLUGINS",
        default_value = "plugins",
        global = true
    )]
    pub plugins: PathBuf,
    /// Folder for compiled plugins [default: the user cache folder]/connector-host.
    #[arg(long, env = "CONNECTOR_HOST_CACHE", global = true)]
    pub cache_dir: Option<PathBuf>,
    /// File holding the key that encrypts secrets, created with mode 0600 if missing
    /// [default: the database path with extension .key]; CONNECTOR_HOST_KEY overrides it.
    #[arg(long, env = "CONNECTOR_HOST_KEY_FILE", global = true)]
    pub key_file: Option<PathBuf>,
    /// Largest memory a plugin may use, in MiB.
    #[arg(long, default_value_t = connector_host::plugin::runtime::DEFAULT_MEMORY_MIB, global = true, value_parser = clap::value_parser!(u64).range(16..=65536))]
    pub memory_limit_mib: u64,
    /// Most records (assets, findings, removals) one sync may emit.
    #[arg(long, default_value_t = connector_host::runner::DEFAULT_MAX_RECORDS, global = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_records_per_run: u64,
    /// Most data one sync may emit, in MiB.
    #[arg(long, default_value_t = connector_host::runner::DEFAULT_MAX_MIB, global = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_mib_per_run: u64,
    /// Longest a plugin call may run, in seconds.
    #[arg(long, default_value_t = connector_host::plugin::runtime::DEFAULT_DEADLINE_S, global = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub run_timeout_s: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the loaded plugins with their config fields.
    Plugins {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Add, list, show or remove integrations.
    #[command(subcommand)]
    Integration(integration::IntegrationCommand),
    /// Check an integration's connection and permissions.
    TestConnection(run::TestArgs),
    /// Pull assets and findings now.
    Sync(run::SyncArgs),
    /// Findings, filtered; or `findings set-status ID STATUS`.
    Findings(views::FindingsArgs),
    /// One finding in detail.
    #[command(subcommand)]
    Finding(views::FindingCommand),
    /// Assets of an integration, or the whole inventory.
    Assets(views::AssetsArgs),
    /// Sync history of an integration, newest first.
    History(views::ListArgs),
    /// Run auto syncs on schedule until stopped.
    Serve(serve::ServeArgs),
}

/// Log targets of our own: the host (library and binary share the crate name), the
/// lines plugins write through `log`, and the sandbox's record of outgoing requests.
const OWN_TARGETS: [&str; 3] = ["connector_host", "plugin", "sandbox"];

/// The log filter for `-v` repeated `verbose` times: our own targets at the chosen level,
/// everything else (wasmtime, Cranelift, hyper, …) at warn, whose traces would otherwise
/// run to gigabytes while a plugin compiles.
fn default_filter(verbose: u8) -> String {
    let level = match verbose {
        0 => return "warn".into(),
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    std::iter::once("warn".to_string())
        .chain(OWN_TARGETS.iter().map(|t| format!("{t}={level}")))
        .collect::<Vec<_>>()
        .join(",")
}

/// Sets up logging to stderr: `-v` levels, or RUST_LOG when set; colours only on a
/// terminal (and never with NO_COLOR set).
pub fn init_logging(verbose: u8) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter(verbose)));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_raises_our_targets_only() {
        assert_eq!(default_filter(0), "warn");
        assert_eq!(
            default_filter(1),
            "warn,connector_host=info,plugin=info,sandbox=info"
        );
        assert_eq!(
            default_filter(7),
            "warn,connector_host=trace,plugin=trace,sandbox=trace"
        );
        for v in 0..4 {
            assert!(tracing_subscriber::EnvFilter::try_new(default_filter(v)).is_ok());
        }
    }
}

/// Runs the command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = context::Context::new(cli.global);
    match cli.command {
        Command::Plugins { json } => views::plugins(&ctx, json).await,
        Command::Integration(cmd) => integration::run(&ctx, cmd).await,
        Command::TestConnection(args) => run::test_connection(&ctx, args).await,
        Command::Sync(args) => run::sync(&ctx, args).await,
        Command::Findings(args) => views::findings(&ctx, args),
        Command::Finding(cmd) => views::finding(&ctx, cmd),
        Command::Assets(args) => views::assets(&ctx, args),
        Command::History(args) => views::history(&ctx, args),
        Command::Serve(args) => serve::serve(&ctx, args).await,
    }
}
