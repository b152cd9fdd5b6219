//! Command-line arguments and dispatch.

mod context;
pub mod exit;
mod integration;
pub mod logging;
mod plugins;
mod run;
mod serve;
pub mod table;
mod users;
mod views;
mod workers;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Runs connector plugins (WebAssembly components) and stores the assets and findings
/// they pull, in SQLite by default or in PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "connector-host", version, about, after_help = exit::TABLE)]
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
    /// The database: a SQLite file (a path, or sqlite://PATH), or PostgreSQL
    /// (postgres://USER:PASSWORD@HOST:PORT/DATABASE).
    #[arg(
        long,
        env = "CONNECTOR_HOST_DB",
        default_value = "connector-host.db",
        global = true,
        hide_env_values = true
    )]
    pub db: String,
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
    /// [default: the SQLite path with extension .key; for a database URL,
    /// ~/.config/connector-host/secret.key]; CONNECTOR_HOST_KEY overrides it.
    #[arg(long, env = "CONNECTOR_HOST_KEY_FILE", global = true)]
    pub key_file: Option<PathBuf>,
    /// Most memory one plugin call may use, in MiB, all its linear memories together.
    #[arg(long, default_value_t = connector_host::plugin::runtime::DEFAULT_MEMORY_MIB, global = true, value_parser = clap::value_parser!(u64).range(16..=65536))]
    pub memory_limit_mib: u64,
    /// Most requests one plugin call may have in flight; more wait for a free slot.
    #[arg(long, default_value_t = connector_host::plugin::budget::DEFAULT_MAX_IN_FLIGHT as u64, global = true, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub max_requests_in_flight: u64,
    /// Requests a second one sync may send, all its destinations together, whatever its
    /// plugin's own pace: the ceiling per integration.
    #[arg(long, env = "CONNECTOR_HOST_MAX_REQUESTS_PER_SECOND_PER_INTEGRATION", default_value_t = connector_host::plugin::budget::DEFAULT_PER_RUN_PER_SECOND, global = true, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_requests_per_second_per_integration: u32,
    /// Requests a second that all syncs of this process together may send to one host
    /// (name and port) [default: no such ceiling]. For a source many integrations share
    /// and whose limit is per host; a SaaS source limits each credential instead.
    #[arg(long, env = "CONNECTOR_HOST_MAX_REQUESTS_PER_SECOND_PER_HOST", global = true, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_requests_per_second_per_host: Option<u32>,
    /// Most records (assets, findings, removals) one sync may emit.
    #[arg(long, default_value_t = connector_host::runner::DEFAULT_MAX_RECORDS, global = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_records_per_run: u64,
    /// Most data one sync may emit, in MiB.
    #[arg(long, default_value_t = connector_host::runner::DEFAULT_MAX_MIB, global = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_mib_per_run: u64,
    /// Most data one sync may have emitted but not yet stored, in MiB: bounds the host's
    /// memory per run (the plugin waits while the store catches up); no batch may be larger.
    #[arg(long, default_value_t = connector_host::runner::DEFAULT_MAX_MIB_IN_FLIGHT, global = true, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_mib_in_flight: u64,
    /// Most data all syncs of this process together may have emitted but not yet stored,
    /// in MiB: bounds the host's memory however many syncs run at once (their plugins
    /// wait while the store catches up).
    #[arg(long, default_value_t = connector_host::runner::DEFAULT_MAX_MIB_IN_FLIGHT_PER_PROCESS, global = true, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub max_mib_in_flight_per_process: u64,
    /// Answer a plugin destination's host NAME with ADDRESS instead of asking DNS, like
    /// curl's --resolve (repeatable; a name given twice gets both): for names only an
    /// internal resolver knows. The sandbox's policy checks the address all the same.
    #[arg(
        long = "resolve",
        value_name = "NAME=ADDRESS",
        env = "CONNECTOR_HOST_RESOLVE",
        value_delimiter = ',',
        global = true
    )]
    pub resolve: Vec<connector_host::plugin::resolve::FixedAnswer>,
    /// How long a sync's lease on its integration lasts without renewal, in seconds
    /// (renewed every third of it): another process takes over a run whose process
    /// stopped renewing after this long. Every process sharing a store should agree.
    #[arg(long, env = "CONNECTOR_HOST_LEASE_TTL_S", default_value_t = connector_host::policy::lease::LEASE_TTL.as_secs(), global = true, value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub lease_ttl_s: u64,
    /// Longest a plugin call may run, in seconds.
    #[arg(long, default_value_t = connector_host::plugin::runtime::DEFAULT_DEADLINE_S, global = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub run_timeout_s: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the plugin versions there are (alone, or `plugins list`), install one, or
    /// remove one.
    Plugins(plugins::PluginsArgs),
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
    /// Run auto syncs on schedule, and the console and HTTP API, until stopped.
    Serve(serve::ServeArgs),
    /// Users of the console and the HTTP API, and their tokens.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// The `serve` processes sharing the store: heartbeat, state, what each runs.
    Workers(workers::WorkersArgs),
}

/// Runs the command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = context::Context::new(cli.global);
    match cli.command {
        Command::Plugins(args) => plugins::run(&ctx, args).await,
        Command::Integration(cmd) => integration::run(&ctx, cmd).await,
        Command::TestConnection(args) => run::test_connection(&ctx, args).await,
        Command::Sync(args) => run::sync(&ctx, args).await,
        Command::Findings(args) => views::findings(&ctx, args).await,
        Command::Finding(cmd) => views::finding(&ctx, cmd).await,
        Command::Assets(args) => views::assets(&ctx, args).await,
        Command::History(args) => views::history(&ctx, args).await,
        Command::Serve(args) => serve::serve(&ctx, args).await,
        Command::Users(cmd) => users::run(&ctx, cmd).await,
        Command::Workers(args) => workers::workers(&ctx, args).await,
    }
}
