//! The fleet on one PostgreSQL database: how the nightly syncs of many tenants spread
//! over 1, 2 and 4 `serve` workers, how soon a worker's death is made good, and what a
//! claim and an idle poll cost.

use crate::host_env::HostEnv;
use crate::scenarios::{Bench, Sizes, wait_until};
use anyhow::{Context, ensure};
use connector_host::store::{StoreTarget, open_store};
use postgres_fixture::TestDatabase;
use std::process::Child;
use std::time::{Duration, Instant};
use wiz_sim::{SimConfig, Simulator};

/// Seed of the fleet's tenant.
const SEED: u64 = 11;

/// The clock the workers read before the nightly slot, and the slot: ahead of the
/// database's clock, which moves a claimed sync's due time on past its lease, so that a
/// sync whose worker died is due again on the workers' clock once its lease lapses.
const BEFORE: &str = "2030-01-01T01:00:00Z";
const SLOT: &str = "2030-01-01T01:15:00Z";

/// What a database's runs hold: auto syncs in all, and those that ended.
fn runs_ended(db: &TestDatabase) -> anyhow::Result<(u32, u32)> {
    let counts = db
        .texts(
            "SELECT count(*)::text || ' ' || count(*) FILTER (WHERE status <> 'running')::text
             FROM runs WHERE action = 'auto_sync'",
        )
        .map_err(anyhow::Error::msg)?;
    let text = counts.first().context("no count")?;
    let (all, ended) = text.split_once(' ').context("two counts")?;
    Ok((all.parse()?, ended.parse()?))
}

/// Forgets every sync (findings, assets, history, leases, workers, checkpoints), keeping
/// the integrations and their schedules unscheduled: the next slot syncs them in full.
fn forget_syncs(db: &TestDatabase) -> anyhow::Result<()> {
    db.execute(
        "TRUNCATE findings, assets, inventory, runs, checkpoints, leases, workers, sync_requests,
           destination_paces CASCADE;
         UPDATE schedules SET next_due = NULL, failures = 0",
    )
    .map_err(anyhow::Error::msg)?;
    // Apart: VACUUM runs in no transaction.
    db.execute("VACUUM ANALYZE").map_err(anyhow::Error::msg)
}

/// `n` workers on the database, reading the clock file; each logs to a file of its own.
fn start_workers(host: &HostEnv, n: u32, extra: &[&str]) -> anyhow::Result<Vec<Child>> {
    let clock = host.file("clock").display().to_string();
    (0..n)
        .map(|i| {
            let mut args = vec![
                "serve",
                "--no-http",
                "--clock-file",
                &clock,
                "--poll-interval-ms",
                "200",
            ];
            args.extend_from_slice(extra);
            host.command_logging_to(&args, &format!("worker-{i}"))?
                .spawn()
                .context("start a worker")
        })
        .collect()
}

/// Stops workers with SIGTERM and waits for them.
fn stop(workers: Vec<Child>) -> anyhow::Result<()> {
    for mut worker in workers {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(worker.id() as libc::pid_t, libc::SIGTERM) };
        worker.wait()?;
    }
    Ok(())
}

/// Sets the workers' clock.
fn set_clock(host: &HostEnv, at: &str) -> anyhow::Result<()> {
    Ok(std::fs::write(host.file("clock"), at)?)
}

/// The fleet's throughput: from the nightly slot to the last of its syncs, by the number
/// of workers.
pub struct Throughput {
    pub integrations: u32,
    pub issues: u64,
    pub by_workers: Vec<(u32, Duration)>,
}

/// Syncs `sizes.fleet_integrations` tenants of `sizes.fleet_issues` issues, each page
/// answered after `sizes.fleet_latency`, all due in one slot, on each worker count of
/// `sizes.fleet_workers` in turn (the store forgotten between), each worker running
/// `sizes.fleet_per_worker` syncs at once.
pub fn throughput(bench: &Bench, sizes: &Sizes, db: &TestDatabase) -> anyhow::Result<Throughput> {
    let mut config = SimConfig::new(SEED, sizes.fleet_issues);
    config.latency = sizes.fleet_latency;
    let sim = Simulator::start(config)?;
    let host = bench.host("fleet")?.with_db_url(db.url());
    for n in 0..sizes.fleet_integrations {
        host.add_wiz(
            &format!("tenant-{n:03}"),
            &sim,
            &["--set", "page-size=500", "--auto-sync-days", "1"],
        )?;
    }
    let per_worker = sizes.fleet_per_worker.to_string();
    let mut by_workers = Vec::new();
    for &workers in sizes.fleet_workers {
        forget_syncs(db)?;
        set_clock(&host, BEFORE)?;
        let running = start_workers(&host, workers, &["--max-concurrent-syncs", &per_worker])?;
        wait_until(Duration::from_secs(120), || {
            let unscheduled = db
                .texts("SELECT count(*)::text FROM schedules WHERE next_due IS NULL")
                .map_err(anyhow::Error::msg)?;
            Ok(unscheduled.first().is_some_and(|n| n == "0"))
        })
        .context("the workers did not schedule the integrations")?;
        let slot = Instant::now();
        set_clock(&host, SLOT)?;
        wait_until(Duration::from_secs(3600), || {
            Ok(runs_ended(db)?.1 >= sizes.fleet_integrations)
        })
        .with_context(|| format!("the syncs on {workers} workers did not finish"))?;
        let wall = slot.elapsed();
        stop(running)?;
        let succeeded = db
            .texts("SELECT count(*)::text FROM runs WHERE action = 'auto_sync' AND status = 'succeeded'")
            .map_err(anyhow::Error::msg)?;
        let (all, _) = runs_ended(db)?;
        ensure!(
            all == sizes.fleet_integrations
                && succeeded.first().map(String::as_str) == Some(&*all.to_string()),
            "on {workers} workers: {all} auto syncs, {succeeded:?} succeeded, of {} due",
            sizes.fleet_integrations
        );
        eprintln!("bench: {workers} worker(s): {wall:?}");
        by_workers.push((workers, wall));
    }
    Ok(Throughput {
        integrations: sizes.fleet_integrations,
        issues: sizes.fleet_issues,
        by_workers,
    })
}

/// How long a dead worker's sync waited for another worker.
pub struct Failover {
    pub lease_ttl: Duration,
    /// From the death (`kill -9`) to the first batch the taker stored.
    pub taken_over: Duration,
}

/// Kills the worker running a long sync (`kill -9`, after it stored some findings) and
/// times until the other worker stored its first batch of that sync.
pub fn failover(bench: &Bench, sizes: &Sizes, db: &TestDatabase) -> anyhow::Result<Failover> {
    let mut config = SimConfig::new(SEED, sizes.failover_issues);
    config.latency = sizes.fleet_latency;
    let sim = Simulator::start(config)?;
    let host = bench.host("failover")?.with_db_url(db.url());
    db.execute("TRUNCATE integrations CASCADE")
        .map_err(anyhow::Error::msg)?;
    forget_syncs(db)?;
    host.add_wiz(
        "long",
        &sim,
        &["--set", "page-size=20", "--auto-sync-days", "1"],
    )?;
    set_clock(&host, BEFORE)?;
    let ttl = sizes.failover_lease_ttl_s.to_string();
    let mut workers = start_workers(&host, 2, &["--lease-ttl-s", &ttl])?;
    wait_until(Duration::from_secs(60), || {
        let unscheduled = db
            .texts("SELECT count(*)::text FROM schedules WHERE next_due IS NULL")
            .map_err(anyhow::Error::msg)?;
        Ok(unscheduled.first().is_some_and(|n| n == "0"))
    })?;
    set_clock(&host, SLOT)?;
    // The worker running it, once it stored some findings.
    let mut running = None;
    wait_until(Duration::from_secs(120), || {
        let rows = db
            .texts(
                "SELECT r.worker FROM runs r WHERE r.status = 'running'
                   AND EXISTS (SELECT 1 FROM findings f WHERE f.seen_in_run = r.id)",
            )
            .map_err(anyhow::Error::msg)?;
        running = rows.into_iter().next();
        Ok(running.is_some())
    })
    .context("no worker stored findings of the sync")?;
    let holder = running.unwrap_or_default();
    let pid: u32 = holder
        .split('/')
        .nth(1)
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("worker id `{holder}` names no pid"))?;
    let index = workers
        .iter()
        .position(|w| w.id() == pid)
        .context("the holder is none of ours")?;
    let mut dead = workers.swap_remove(index);
    let killed = dead.kill();
    let died = Instant::now();
    dead.wait()?;
    killed?;
    let taker_stored = format!(
        "SELECT r.id::text FROM runs r WHERE r.worker <> '{holder}'
           AND EXISTS (SELECT 1 FROM findings f WHERE f.seen_in_run = r.id)"
    );
    wait_until(Duration::from_secs(300), || {
        Ok(!db
            .texts(&taker_stored)
            .map_err(anyhow::Error::msg)?
            .is_empty())
    })
    .context("no other worker took the sync over")?;
    let taken_over = died.elapsed();
    stop(workers)?;
    Ok(Failover {
        lease_ttl: Duration::from_secs(sizes.failover_lease_ttl_s),
        taken_over,
    })
}

/// What claiming costs.
pub struct Claims {
    /// A poll that finds nothing due, on an empty schedule.
    pub empty_poll: Duration,
    /// The same with `integrations` scheduled, none due.
    pub idle_poll: Duration,
    pub integrations: u32,
    /// Syncs claimed a second, `integrations` due at once, 16 a claim.
    pub due_claims_per_s: f64,
}

/// Times polls on an empty schedule and on one of `sizes.claim_integrations` idle
/// integrations, then claims them all once they are due.
pub fn claims(sizes: &Sizes, db: &TestDatabase) -> anyhow::Result<Claims> {
    db.execute("TRUNCATE integrations CASCADE")
        .map_err(anyhow::Error::msg)?;
    forget_syncs(db)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let store = open_store(&StoreTarget::parse(db.url())?).await?;
        let ttl = Duration::from_secs(600);
        let polls = sizes.claim_polls;
        let time_polls = || async {
            let mut samples = Vec::with_capacity(polls);
            for _ in 0..polls {
                let now = store.now().await?;
                let started = Instant::now();
                let claimed = store.claim_due("bench", now, 16, ttl).await?;
                samples.push(started.elapsed());
                ensure!(claimed.is_empty(), "nothing is due");
            }
            Ok::<_, anyhow::Error>(crate::measure::median(samples))
        };
        let empty_poll = time_polls().await?;
        db.execute(&format!(
            "INSERT INTO integrations (name, connector, settings, sealed_secrets, created_at, auto_sync_days)
               SELECT 'idle-' || n, 'wiz', '{{}}', '', now(), 1 FROM generate_series(1, {}) n;
             INSERT INTO schedules (integration_id, next_due) SELECT id, now() + interval '1 day' FROM integrations;
             ANALYZE",
            sizes.claim_integrations
        ))
        .map_err(anyhow::Error::msg)?;
        let idle_poll = time_polls().await?;
        db.execute("UPDATE schedules SET next_due = now() - interval '1 minute'; ANALYZE")
            .map_err(anyhow::Error::msg)?;
        let started = Instant::now();
        let mut claimed = 0;
        loop {
            let now = store.now().await?;
            let claims = store.claim_due("bench", now, 16, ttl).await?;
            if claims.is_empty() {
                break;
            }
            claimed += claims.len();
        }
        let elapsed = started.elapsed();
        ensure!(
            claimed == sizes.claim_integrations as usize,
            "claimed {claimed} of {}",
            sizes.claim_integrations
        );
        Ok(Claims {
            empty_poll,
            idle_poll,
            integrations: sizes.claim_integrations,
            due_claims_per_s: claimed as f64 / elapsed.as_secs_f64(),
        })
    })
}
