//! `workers`: the `serve` processes that share the store, their heartbeats, and what
//! each runs.

use super::context::Context;
use super::table::{self, print_json};
use clap::Args;

#[derive(Debug, Args)]
pub struct WorkersArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn workers(ctx: &Context, args: WorkersArgs) -> anyhow::Result<()> {
    let platform = ctx.platform().await?;
    let workers = platform.workers().list().await?;
    if args.json {
        return print_json(&workers);
    }
    let mut t = table::new(&[
        "WORKER",
        "HOST",
        "PID",
        "VERSION",
        "STARTED",
        "HEARTBEAT",
        "STATE",
        "RUNNING",
    ]);
    for w in &workers {
        t.add_row(vec![
            w.row.id.clone(),
            w.row.host.clone(),
            w.row.pid.to_string(),
            w.row.version.clone(),
            table::time(&w.row.started_at),
            format!("{:.0} s ago", w.row.heartbeat_age_s),
            w.state.as_str().to_string(),
            w.row.running.join(", "),
        ]);
    }
    table::print(&t);
    Ok(())
}
