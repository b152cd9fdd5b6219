//! `serve`: the auto-sync scheduler, until SIGINT or SIGTERM.

use super::context::Context;
use clap::Args;
use connector_host::clock::{Clock, FileClock, SystemClock};
use connector_host::schedule::{DEFAULT_SYNC_TIME, SyncTime};
use connector_host::scheduler::{Scheduler, SchedulerConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Time of day of auto syncs, HH:MM UTC.
    #[arg(long, default_value = DEFAULT_SYNC_TIME, value_parser = clap::value_parser!(SyncTime))]
    sync_time: SyncTime,
    /// Syncs running at once across all integrations [default: the CPU count].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    max_concurrent_syncs: Option<u32>,
    /// Minutes before retrying an auto sync that failed transiently (network, throttling,
    /// server errors); the wait doubles per retry. Auth, permission and config failures wait
    /// for the next slot.
    #[arg(long, default_value_t = 15.0)]
    retry_after_minutes: f64,
    /// Retries of a transiently failed auto sync before it waits for the next slot.
    #[arg(long, default_value_t = 3)]
    max_retries: u32,
    /// Read "now" from this file (an RFC 3339 time) instead of the system clock; for tests.
    #[arg(long, hide = true)]
    clock_file: Option<PathBuf>,
    /// How often to look for due syncs, in milliseconds.
    #[arg(long, hide = true, default_value_t = 1000)]
    poll_interval_ms: u64,
}

pub async fn serve(ctx: &Context, args: ServeArgs) -> anyhow::Result<()> {
    // The store first, so a wrong --db fails before plugins compile.
    let platform = Arc::new(ctx.platform().await?);
    platform.key()?;
    let (_, failed) = platform.plugin_list().await?;
    for (file, error) in &failed {
        eprintln!("warning: {} not loaded: {error}", file.display());
    }
    let clock: Arc<dyn Clock> = match args.clock_file {
        Some(path) => Arc::new(FileClock(path)),
        None => Arc::new(SystemClock),
    };
    let max_concurrent = args
        .max_concurrent_syncs
        .map(|n| n as usize)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
    let scheduler = Scheduler {
        platform,
        clock,
        failures: Default::default(),
        config: SchedulerConfig {
            sync_time: args.sync_time,
            max_concurrent,
            poll: Duration::from_millis(args.poll_interval_ms.max(10)),
            retry_delay: Duration::from_secs_f64(args.retry_after_minutes.max(0.0) * 60.0),
            max_retries: args.max_retries,
        },
    };
    eprintln!(
        "serve: auto syncs at {} UTC, at most {max_concurrent} at once; stop with Ctrl-C or SIGTERM",
        args.sync_time
    );
    scheduler.run(shutdown_signal()).await?;
    eprintln!("serve: stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
