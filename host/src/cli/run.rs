//! `test-connection` and `sync`.

use super::context::{Context, os_user};
use anyhow::bail;
use clap::Args;
use connector_host::plugin::contract::{CheckOutcome, CheckStep};
use connector_host::runner::{Progress, SyncJob, connector_error_text};
use connector_host::settings::redact;
use connector_host::store::{Action, RunCounts, RunStatus};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

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

/// The steps as JSON objects.
fn steps_json(steps: &[CheckStep], secrets: &[String]) -> serde_json::Value {
    steps
        .iter()
        .map(|s| {
            let outcome = match s.outcome {
                CheckOutcome::Passed => "passed",
                CheckOutcome::Failed => "failed",
                CheckOutcome::Skipped => "skipped",
            };
            serde_json::json!({"name": s.name, "outcome": outcome, "detail": redact(&s.detail, secrets)})
        })
        .collect()
}

/// Prints each step of a connection test.
pub fn print_steps(steps: &[CheckStep], secrets: &[String]) {
    for step in steps {
        let mark = match step.outcome {
            CheckOutcome::Passed => "ok  ",
            CheckOutcome::Failed => "FAIL",
            CheckOutcome::Skipped => "skip",
        };
        println!(
            "[{mark}] {:<10} {}",
            step.name,
            redact(&step.detail, secrets)
        );
    }
}

pub async fn test_connection(ctx: &Context, args: TestArgs) -> anyhow::Result<()> {
    let mut store = ctx.store()?;
    let integration = store.integration(&args.name)?;
    let (host, catalog) = ctx.plugins().await?;
    let plugin = catalog.get(&integration.connector)?;
    let schema = &plugin.info.config_schema;
    let settings = ctx.settings(&integration, schema)?;
    let secrets: Vec<String> = settings.secrets(schema).into_values().collect();
    let run = store.start_run(
        integration.id,
        Action::TestConnection,
        &args.started_by.unwrap_or_else(os_user),
    )?;
    let result = host
        .test_connection(
            plugin,
            settings.entries(schema),
            settings.allow_list(schema),
        )
        .await;
    let (steps, error) = match &result {
        Ok(Ok(steps)) => (steps.as_slice(), None),
        Ok(Err(failure)) => (
            failure.steps.as_slice(),
            Some(redact(&connector_error_text(&failure.error), &secrets)),
        ),
        Err(e) => (&[][..], Some(redact(&e.to_string(), &secrets))),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"ok": error.is_none(), "steps": steps_json(steps, &secrets), "error": error})
            )?
        );
    } else {
        print_steps(steps, &secrets);
    }
    let status = if error.is_some() {
        RunStatus::Failed
    } else {
        RunStatus::Succeeded
    };
    store.finish_run(run, status, &RunCounts::default(), &[], error.as_deref())?;
    match error {
        Some(e) => bail!("connection test failed: {e}"),
        None => {
            if !args.json {
                println!("connection ok");
            }
            Ok(())
        }
    }
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
    let store = ctx.store()?;
    let integration = store.integration(&args.name)?;
    let (host, catalog) = ctx.plugins().await?;
    let plugin = catalog.get(&integration.connector)?;
    let settings = ctx.settings(&integration, &plugin.info.config_schema)?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {pos}/{len} records ({per_sec})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(format!("syncing {}", integration.name));
        bar
    });
    let job = SyncJob {
        host: &host,
        plugin,
        integration: &integration,
        settings,
        action: Action::SyncNow,
        started_by: args.started_by.unwrap_or_else(os_user),
        progress: bar.clone().map(|b| Box::new(Bar(b)) as Box<dyn Progress>),
        cancel: Arc::new(AtomicBool::new(false)),
        full: args.full,
        limits: ctx.emit_limits(),
    };
    let outcome = job.run(Arc::new(Mutex::new(store))).await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
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
        eprintln!("warning: {warning}");
    }
    match outcome.error {
        Some(error) => bail!("sync of `{}` failed ({line}): {error}", integration.name),
        None if args.json => Ok(()),
        None => {
            println!(
                "sync of `{}` {}: {line}",
                integration.name,
                outcome.status.as_str()
            );
            Ok(())
        }
    }
}
