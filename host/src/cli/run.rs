//! `test-connection` and `sync`.

use super::context::{Context, os_user};
use super::table;
use anyhow::bail;
use clap::Args;
use connector_host::model::{Action, CheckOutcome, CheckStep};
use connector_host::runner::Progress;
use connector_host::service::{ServiceError, SyncRequest};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Integration name.
    name: String,
    /// Who to record in history [default: the OS user].
    #[arg(long)]
    started_by: Option<String>,
    /// Print the steps as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Integration name.
    name: String,
    /// Read everything instead of the changes since the last sync; findings the source
    /// no longer returns are then closed.
    #[arg(long)]
    full: bool,
    /// Who to record in history [default: the OS user].
    #[arg(long)]
    started_by: Option<String>,
    /// Print the outcome as JSON instead of a summary line.
    #[arg(long)]
    json: bool,
}

/// Prints each step of a connection test (their details are already scrubbed).
pub fn print_steps(steps: &[CheckStep]) {
    for step in steps {
        let mark = match step.outcome {
            CheckOutcome::Passed => "ok  ",
            CheckOutcome::Failed => "FAIL",
            CheckOutcome::Skipped => "skip",
        };
        println!(
            "[{mark}] {:<10} {}",
            table::safe(&step.name),
            table::safe(&step.detail)
        );
    }
}

pub async fn test_connection(ctx: &Context, args: TestArgs) -> anyhow::Result<()> {
    let platform = ctx.platform().await?;
    let started_by = args.started_by.unwrap_or_else(os_user);
    let result = platform.integrations().test(&args.name, &started_by).await;
    let report = match &result {
        Ok(report) | Err(ServiceError::ConnectionTest { report, .. }) => report,
        Err(_) => return result.map(drop).map_err(Into::into),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": report.error.is_none(), "steps": report.steps, "error": report.error
            }))?
        );
    } else {
        print_steps(&report.steps);
    }
    result?;
    if !args.json {
        println!("connection ok");
    }
    Ok(())
}

/// An indicatif bar on stderr.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn update(&mut self, done: u64, total: Option<u64>) {
        if let Some(total) = total {
            self.0.set_length(total.max(done));
        }
        self.0.set_position(done);
    }
}

pub async fn sync(ctx: &Context, args: SyncArgs) -> anyhow::Result<()> {
    let platform = ctx.platform().await?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {pos}/{len} records ({per_sec})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(format!("syncing {}", args.name));
        bar
    });
    // Ctrl-C stops the run at its next batch, keeping what it committed.
    let cancel = Arc::new(AtomicBool::new(false));
    let on_interrupt = cancel.clone();
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping: the sync ends after the batch being written");
            on_interrupt.store(true, Ordering::SeqCst);
        }
    });
    let outcome = platform
        .syncs()
        .run(
            &args.name,
            SyncRequest {
                claimed: None,
                action: Action::SyncNow,
                started_by: args.started_by.unwrap_or_else(os_user),
                full: args.full,
                progress: bar.clone().map(|b| Box::new(Bar(b)) as Box<dyn Progress>),
                cancel,
            },
        )
        .await;
    interrupt.abort();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let outcome = outcome?;
    let c = &outcome.counts;
    let line = format!(
        "assets: {} onboarded, {} updated; findings: {} new, {} updated, {} unchanged, {} skipped, {} closed; {} warning(s)",
        c.assets_onboarded,
        c.assets_updated,
        c.findings_new,
        c.findings_updated,
        c.findings_unchanged,
        c.findings_skipped,
        c.findings_closed,
        outcome.warnings.len()
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    }
    for warning in &outcome.warnings {
        eprintln!("warning: {}", table::safe(warning));
    }
    match outcome.error {
        Some(error) => bail!("sync of `{}` failed ({line}): {error}", args.name),
        None if args.json => Ok(()),
        None => {
            println!(
                "sync of `{}` {}: {line}",
                args.name,
                outcome.status.as_str()
            );
            Ok(())
        }
    }
}
