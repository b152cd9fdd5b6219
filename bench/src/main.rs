//! `connector-bench`: measures the host and the Wiz connector against the simulator and
//! writes `results.json` (one number per metric, units in the names) beside a table on
//! stdout. `cargo xtask bench` builds everything in release mode and runs it; the test
//! suite runs it with `--smoke`, tiny sizes, so the harness cannot rot.

mod fleet;
mod host_env;
mod measure;
mod page;
mod same_store;
mod scenarios;

use anyhow::Context;
use clap::Parser;
use scenarios::{Bench, Sizes};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "connector-bench", about)]
struct Args {
    /// The `connector-host` binary to measure.
    #[arg(long)]
    host_bin: PathBuf,
    /// The Wiz connector component (wiz.wasm).
    #[arg(long)]
    plugin: PathBuf,
    /// The `parse-page` command component (parse-page.wasm).
    #[arg(long)]
    parse_page: PathBuf,
    /// Where results.json and the work folders go.
    #[arg(long)]
    out: PathBuf,
    /// Tiny sizes: checks the harness, measures nothing worth keeping.
    #[arg(long)]
    smoke: bool,
    /// Run only these measurements (repeatable) [default: all].
    #[arg(long, value_enum)]
    only: Vec<Scenario>,
    /// The baseline build's host (issue 27's ratios are against ed107a4's build): its
    /// 100k sync alternates with this build's, and their stores must be the same.
    #[arg(long, requires = "baseline_plugin")]
    baseline_host: Option<PathBuf>,
    /// The baseline build's Wiz connector component.
    #[arg(long, requires = "baseline_host")]
    baseline_plugin: Option<PathBuf>,
    /// A variable the baseline's commands get (NAME=VALUE, repeatable): what an older
    /// build called the settings the benchmark lifts.
    #[arg(long, value_parser = name_and_value, requires = "baseline_host")]
    baseline_env: Vec<(String, String)>,
    /// Rounds of the baseline's 100k sync, each followed by one of this build's; the
    /// ratios are of the medians. One build's 100k sync varies by tens of percent from
    /// run to run on a shared machine: more rounds tell smaller differences apart.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50), requires = "baseline_host")]
    baseline_rounds: u32,
}

fn name_and_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .ok_or_else(|| format!("{text:?} is not NAME=VALUE"))
}

/// The measurements, for `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    Throughput,
    Latency,
    Concurrency,
    Startup,
    Sandbox,
    Console,
    Fleet,
}

/// The median and p95 of each listing's times, named `{prefix}_{listing}_…_ms`.
fn add_console_times(
    results: &mut Results,
    prefix: &str,
    pages: Vec<(&'static str, Vec<std::time::Duration>)>,
) {
    for (name, times) in pages {
        let (median, p95) = (
            measure::percentile(&times, 50),
            measure::percentile(&times, 95),
        );
        results.add(format!("{prefix}_{name}_median_ms"), millis(median), "ms");
        results.add(format!("{prefix}_{name}_p95_ms"), millis(p95), "ms");
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sizes = if args.smoke {
        Sizes::SMOKE
    } else {
        Sizes::FULL
    };
    let bench = Bench {
        host_bin: args.host_bin,
        plugin: args.plugin,
        parse_page: args.parse_page,
        work: args.out.join("work"),
        env: Vec::new(),
    };
    let baseline = match (&args.baseline_host, &args.baseline_plugin) {
        (Some(host), Some(plugin)) => {
            let mut baseline = bench.of_build(host, plugin, "baseline");
            baseline.env.extend(args.baseline_env.iter().cloned());
            Some(baseline)
        }
        _ => None,
    };
    std::fs::create_dir_all(&bench.work)?;
    let mut results = Results::default();
    let wanted = |s: Scenario| args.only.is_empty() || args.only.contains(&s);

    if wanted(Scenario::Throughput) {
        // The compiled-plugin caches are filled first, so that no timed sync compiles.
        for build in std::iter::once(&bench).chain(&baseline) {
            scenarios::throughput(build, 100, None).context("warming the plugin cache")?;
        }
        eprintln!("bench: full sync of {} issues", sizes.large);
        let large =
            scenarios::throughput(&bench, sizes.large, None).context("throughput (large)")?;
        // Every finding the source returns is parsed, judged by the guide's rules and
        // mapped; those the rules keep are stored too.
        let findings_per_s = large.read as f64 / large.usage.wall.as_secs_f64();
        let stored_per_s = large.findings as f64 / large.usage.wall.as_secs_f64();
        // What the run was over, so a reader (and the smoke test) can check the counts.
        results.add("tenant_seed", scenarios::SEED as f64, "seed");
        results.add("sync_100k_issues", sizes.large as f64, "issues");
        results.add("sync_100k_wall_s", large.usage.wall.as_secs_f64(), "s");
        results.add("sync_100k_findings_per_s", findings_per_s, "findings/s");
        results.add("sync_100k_cpu_s", large.usage.cpu.as_secs_f64(), "s");
        results.add("sync_100k_peak_rss_mib", large.usage.peak_rss_mib, "MiB");
        results.add("sync_100k_findings_read", large.read as f64, "findings");
        results.add(
            "sync_100k_findings",
            large.findings as f64,
            "findings stored",
        );
        results.add("sync_100k_stored_per_s", stored_per_s, "findings stored/s");
        results.add(
            "sim_100k_cpu_s",
            large.simulator_cpu.as_secs_f64(),
            "s (simulator)",
        );
        // What storing the data costs against producing it (issue 27's target: ≤ 2).
        results.add(
            "sync_100k_host_vs_sim_cpu_ratio",
            large.usage.cpu.as_secs_f64() / large.simulator_cpu.as_secs_f64(),
            "× (target ≤ 2)",
        );

        if let Some(baseline) = &baseline {
            let rounds = args.baseline_rounds;
            compare_with_baseline(&bench, baseline, &sizes, &large, rounds, &mut results)?;
        }

        eprintln!("bench: full sync of {} issues", sizes.small);
        let small =
            scenarios::throughput(&bench, sizes.small, None).context("throughput (small)")?;
        results.add("sync_10k_issues", sizes.small as f64, "issues");
        results.add("sync_10k_peak_rss_mib", small.usage.peak_rss_mib, "MiB");
        results.add("sync_10k_wall_s", small.usage.wall.as_secs_f64(), "s");

        // The same large sync into PostgreSQL, in rounds beside SQLite's.
        compare_with_postgres(&bench, &sizes, &mut results)?;
    }

    if wanted(Scenario::Latency) {
        eprintln!("bench: latency hiding");
        let latency = scenarios::latency(&bench, &sizes).context("latency hiding")?;
        results.add("latency_wall_s", latency.wall.as_secs_f64(), "s");
        results.add("latency_bound_s", latency.bound.as_secs_f64(), "s");
        results.add("latency_issue_pages", latency.issue_pages as f64, "pages");
    }

    if wanted(Scenario::Concurrency) {
        eprintln!(
            "bench: {} concurrent syncs, {:?} an answer",
            sizes.concurrent, sizes.concurrent_latency
        );
        let concurrent = scenarios::concurrency(&bench, &sizes).context("concurrency")?;
        results.add("concurrent_syncs", f64::from(sizes.concurrent), "syncs");
        results.add("concurrent_wall_s", concurrent.wall.as_secs_f64(), "s");
        results.add(
            "concurrent_peak_rss_mib",
            concurrent.usage.peak_rss_mib,
            "MiB (target ≤ 2048 for 500)",
        );
        results.add(
            "concurrent_rss_per_sync_mib",
            concurrent.usage.peak_rss_mib / f64::from(sizes.concurrent),
            "MiB (target ≤ 4)",
        );
        results.add(
            "concurrent_plugin_memory_per_sync_mib",
            concurrent.plugin_memory_mib,
            "MiB (the guest's linear memory at a sync's end)",
        );
        results.add("concurrent_cpu_s", concurrent.usage.cpu.as_secs_f64(), "s");
    }

    if wanted(Scenario::Startup) {
        eprintln!("bench: start-up");
        let startup = scenarios::startup(&bench, &sizes).context("start-up")?;
        results.add("start_cold_ms", millis(startup.cold), "ms");
        results.add(
            "start_cold_trace_ratio",
            startup.cold_trace.as_secs_f64() / startup.cold.as_secs_f64(),
            "×",
        );
        results.add(
            "start_cold_trace_log_kib",
            startup.cold_trace_log as f64 / 1024.0,
            "KiB",
        );
        results.add("start_warm_ms", millis(startup.warm), "ms");
        results.add("instantiate_ms", millis(startup.instantiate), "ms");
    }

    if wanted(Scenario::Sandbox) {
        eprintln!("bench: sandbox overhead");
        let sandbox = scenarios::sandbox(&bench, sizes.parse_passes).context("sandbox")?;
        results.add(
            "wasm_native_cpu_ratio",
            sandbox.wasm.as_secs_f64() / sandbox.native.as_secs_f64(),
            "×",
        );
        results.add(
            "parse_page_native_ms",
            millis(sandbox.native) / f64::from(sizes.parse_passes),
            "ms per 500-issue page",
        );
        results.add(
            "parse_page_wasm_ms",
            millis(sandbox.wasm) / f64::from(sizes.parse_passes),
            "ms per 500-issue page",
        );
    }

    if wanted(Scenario::Console) {
        eprintln!(
            "bench: console listings on a store of {} issues",
            sizes.console_issues
        );
        let console =
            scenarios::console(&bench, sizes.console_issues, sizes.console_requests, None)
                .context("console")?;
        results.add(
            "console_store_issues",
            sizes.console_issues as f64,
            "issues",
        );
        results.add(
            "console_store_findings",
            console.findings as f64,
            "findings",
        );
        add_console_times(&mut results, "console", console.pages);
        // The same listings from PostgreSQL, right after, on the same machine.
        match postgres_fixture::database() {
            Some(database) => {
                eprintln!("bench: console listings from PostgreSQL");
                let pg = scenarios::console(
                    &bench,
                    sizes.console_issues,
                    sizes.console_requests,
                    Some(&database),
                )
                .context("console (PostgreSQL)")?;
                add_console_times(&mut results, "console_pg", pg.pages);
                if let Some(fresh) = pg.fresh_pages {
                    add_console_times(&mut results, "console_pg_fresh", fresh);
                }
            }
            None => eprintln!("bench: PostgreSQL console listings skipped (no PostgreSQL)"),
        }
    }

    if wanted(Scenario::Fleet) {
        match postgres_fixture::database() {
            Some(database) => fleet(&bench, &sizes, &database, &mut results)?,
            None => eprintln!("bench: the fleet skipped (no PostgreSQL)"),
        }
    }

    results.print();
    let path = args.out.join("results.json");
    // A partial run (--only) updates its own figures and keeps the others.
    let earlier = (!args.only.is_empty())
        .then(|| std::fs::read_to_string(&path).ok())
        .flatten();
    std::fs::write(&path, results.json(earlier.as_deref()))?;
    eprintln!("bench: wrote {}", path.display());
    Ok(())
}

/// The baseline's 100k sync and this build's, alternately for `rounds` rounds (`large`
/// was this build's first): the ratios of the medians, each side's spread, and the
/// first pair's stores compared byte for byte.
fn compare_with_baseline(
    bench: &Bench,
    baseline: &Bench,
    sizes: &Sizes,
    large: &scenarios::Throughput,
    rounds: u32,
    results: &mut Results,
) -> anyhow::Result<()> {
    eprintln!("bench: {:?}", large.usage);
    let mut ours = vec![large.usage];
    let mut theirs = Vec::new();
    for round in 0..rounds {
        eprintln!("bench: the baseline's sync of {} issues", sizes.large);
        let old = scenarios::throughput(baseline, sizes.large, None).context("the baseline")?;
        if round == 0 {
            let compared = same_store::compare(&old.store, &large.store)
                .context("this build stored something else than the baseline")?;
            results.add(
                "baseline_same_findings",
                compared.findings as f64,
                "findings identical",
            );
            results.add(
                "baseline_same_assets",
                compared.assets as f64,
                "assets identical",
            );
        }
        eprintln!("bench: {:?}", old.usage);
        theirs.push(old.usage);
        eprintln!("bench: this build's sync of {} issues, again", sizes.large);
        // Not in the first run's folder: its store is what sync_100k_* were measured on.
        let folder = format!("sync-{}-sqlite-again", sizes.large);
        let again =
            scenarios::throughput_in(bench, &folder, sizes.large, None).context("this build")?;
        eprintln!("bench: {:?}", again.usage);
        ours.push(again.usage);
    }
    let wall = |u: &measure::Usage| u.wall.as_secs_f64();
    let cpu = |u: &measure::Usage| u.cpu.as_secs_f64();
    let rss = |u: &measure::Usage| u.peak_rss_mib;
    let (our_walls, their_walls) = (Spread::of(&ours, wall), Spread::of(&theirs, wall));
    results.add(
        "baseline_100k_wall_s",
        their_walls.median,
        "s (baseline, median)",
    );
    results.add("baseline_100k_wall_min_s", their_walls.min, "s (baseline)");
    results.add("baseline_100k_wall_max_s", their_walls.max, "s (baseline)");
    results.add(
        "sync_100k_wall_min_s",
        our_walls.min,
        "s (rounds against the baseline)",
    );
    results.add(
        "sync_100k_wall_max_s",
        our_walls.max,
        "s (rounds against the baseline)",
    );
    let their_cpu = Spread::of(&theirs, cpu).median;
    results.add("baseline_100k_cpu_s", their_cpu, "s (baseline, median)");
    let their_rss = Spread::of(&theirs, rss).median;
    results.add(
        "baseline_100k_peak_rss_mib",
        their_rss,
        "MiB (baseline, median)",
    );
    results.add(
        "sync_100k_wall_vs_baseline_ratio",
        our_walls.median / their_walls.median,
        "× baseline, medians (issue 27: ≤ 0.4 of ed107a4)",
    );
    results.add(
        "sync_100k_cpu_vs_baseline_ratio",
        Spread::of(&ours, cpu).median / their_cpu,
        "× baseline, medians",
    );
    Ok(())
}

/// The large sync into PostgreSQL against the same into SQLite, alternating for
/// `sizes.postgres_rounds` rounds, each into a fresh store: one pair of runs on a shared
/// machine differs by a fifth either way (0.46 to 0.67 for the same two builds), more
/// than the gap the target asks about, so the ratio is of the medians. Skipped, saying
/// so, where the PostgreSQL tests are skipped.
fn compare_with_postgres(
    bench: &Bench,
    sizes: &Sizes,
    results: &mut Results,
) -> anyhow::Result<()> {
    let (mut postgres, mut sqlite) = (Vec::new(), Vec::new());
    // Every sync stores the same findings: `throughput` checks each against the tenant.
    let mut findings = 0;
    for round in 1..=sizes.postgres_rounds {
        let Some(database) = postgres_fixture::database() else {
            eprintln!("bench: PostgreSQL throughput skipped (no PostgreSQL)");
            return Ok(());
        };
        eprintln!(
            "bench: full sync of {} issues into PostgreSQL, round {round}",
            sizes.large
        );
        let pg = scenarios::throughput(bench, sizes.large, Some(database.url()))
            .context("throughput (large, PostgreSQL)")?;
        eprintln!("bench: {:?}", pg.usage);
        postgres.push(pg.usage);
        findings = pg.findings;
        // Dropped now, so that the server's cleanup does not overlap SQLite's sync.
        drop(database);
        eprintln!("bench: the same into SQLite, round {round}");
        let folder = format!("sync-{}-sqlite-beside-postgres", sizes.large);
        let lite = scenarios::throughput_in(bench, &folder, sizes.large, None)
            .context("throughput (large, SQLite beside PostgreSQL)")?;
        eprintln!("bench: {:?}", lite.usage);
        sqlite.push(lite.usage);
    }
    let wall = |u: &measure::Usage| u.wall.as_secs_f64();
    let (pg_walls, sqlite_walls) = (Spread::of(&postgres, wall), Spread::of(&sqlite, wall));
    let median = |of: fn(&measure::Usage) -> f64| Spread::of(&postgres, of).median;
    results.add("sync_100k_pg_wall_s", pg_walls.median, "s (median)");
    results.add("sync_100k_pg_wall_min_s", pg_walls.min, "s");
    results.add("sync_100k_pg_wall_max_s", pg_walls.max, "s");
    results.add(
        "sync_100k_pg_stored_per_s",
        findings as f64 / pg_walls.median,
        "findings stored/s (median)",
    );
    results.add(
        "sync_100k_pg_cpu_s",
        median(|u| u.cpu.as_secs_f64()),
        "s (host, median)",
    );
    results.add(
        "sync_100k_pg_peak_rss_mib",
        median(|u| u.peak_rss_mib),
        "MiB (host, median)",
    );
    results.add(
        "sync_100k_sqlite_beside_pg_wall_s",
        sqlite_walls.median,
        "s (median)",
    );
    // Both stored the same findings, so the ratio of their rates is that of their times.
    results.add(
        "sync_100k_pg_vs_sqlite_stored_ratio",
        sqlite_walls.median / pg_walls.median,
        "× (target ≥ 0.8), medians of alternating rounds",
    );
    Ok(())
}

/// The middle and the ends of some rounds' figures.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    /// `of` over `runs`, at least one.
    fn of(runs: &[measure::Usage], of: impl Fn(&measure::Usage) -> f64) -> Spread {
        let mut values: Vec<f64> = runs.iter().map(of).collect();
        values.sort_by(f64::total_cmp);
        let middle = values.len() / 2;
        let median = match values.len() % 2 {
            1 => values[middle],
            _ => (values[middle - 1] + values[middle]) / 2.0,
        };
        Spread {
            median,
            min: values[0],
            max: values[values.len() - 1],
        }
    }
}

/// The fleet's figures, on one PostgreSQL database.
fn fleet(
    bench: &Bench,
    sizes: &Sizes,
    database: &postgres_fixture::TestDatabase,
    results: &mut Results,
) -> anyhow::Result<()> {
    eprintln!(
        "bench: the fleet, {} tenants of {} issues on {:?} workers",
        sizes.fleet_integrations, sizes.fleet_issues, sizes.fleet_workers
    );
    let throughput = fleet::throughput(bench, sizes, database).context("fleet throughput")?;
    results.add(
        "fleet_integrations",
        f64::from(throughput.integrations),
        "integrations",
    );
    results.add("fleet_issues_each", throughput.issues as f64, "issues");
    let one = throughput.by_workers.first().map(|(_, wall)| *wall);
    for (workers, wall) in &throughput.by_workers {
        results.add(
            format!("fleet_{workers}_workers_wall_s"),
            wall.as_secs_f64(),
            "s",
        );
        if let Some(one) = one.filter(|_| *workers > 1) {
            results.add(
                format!("fleet_{workers}_vs_1_worker_ratio"),
                wall.as_secs_f64() / one.as_secs_f64(),
                "×",
            );
        }
    }
    eprintln!("bench: a worker's death mid-sync");
    let failover = fleet::failover(bench, sizes, database).context("failover")?;
    results.add(
        "failover_lease_ttl_s",
        failover.lease_ttl.as_secs_f64(),
        "s",
    );
    results.add(
        "failover_taken_over_s",
        failover.taken_over.as_secs_f64(),
        "s",
    );
    // The target: within the lease and one heartbeat (a third of it).
    results.add(
        "failover_vs_lease_and_heartbeat_ratio",
        failover.taken_over.as_secs_f64() / (failover.lease_ttl.as_secs_f64() * 4.0 / 3.0),
        "×",
    );
    eprintln!("bench: claims");
    let claims = fleet::claims(sizes, database).context("claims")?;
    results.add("claim_poll_empty_ms", millis(claims.empty_poll), "ms");
    results.add(
        "claim_poll_idle_ms",
        millis(claims.idle_poll),
        "ms (with the idle integrations)",
    );
    results.add(
        "claim_idle_integrations",
        f64::from(claims.integrations),
        "integrations",
    );
    results.add(
        "claim_poll_idle_vs_empty_ratio",
        claims.idle_poll.as_secs_f64() / claims.empty_poll.as_secs_f64(),
        "×",
    );
    results.add("claims_due_per_s", claims.due_claims_per_s, "claims/s");
    Ok(())
}

fn millis(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The figures in the order measured.
#[derive(Default)]
struct Results(Vec<(String, f64, &'static str)>);

impl Results {
    fn add(&mut self, name: impl Into<String>, value: f64, unit: &'static str) {
        self.0.push((name.into(), value, unit));
    }

    fn print(&self) {
        println!("{:<44} {:>14}  unit", "metric", "value");
        for (name, value, unit) in &self.0 {
            println!("{name:<44} {value:>14.3}  {unit}");
        }
    }

    /// The figures as one JSON object, over those of an `earlier` results file if given.
    fn json(&self, earlier: Option<&str>) -> String {
        let mut object: serde_json::Map<String, serde_json::Value> = earlier
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        for (name, value, _) in &self.0 {
            object.insert(name.clone(), serde_json::json!(value));
        }
        serde_json::to_string_pretty(&object).expect("numbers serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn walls(seconds: &[f64]) -> Vec<measure::Usage> {
        seconds
            .iter()
            .map(|s| measure::Usage {
                wall: Duration::from_secs_f64(*s),
                cpu: Duration::ZERO,
                peak_rss_mib: 0.0,
            })
            .collect()
    }

    #[test]
    fn a_spread_has_the_middle_round_and_both_ends_whatever_one_outlier() {
        let wall = |u: &measure::Usage| u.wall.as_secs_f64();
        let odd = Spread::of(&walls(&[4.0, 9.0, 3.0]), wall);
        assert_eq!((odd.median, odd.min, odd.max), (4.0, 3.0, 9.0));
        let even = Spread::of(&walls(&[5.0, 3.0, 4.0, 30.0]), wall);
        assert_eq!((even.median, even.min, even.max), (4.5, 3.0, 30.0));
        let one = Spread::of(&walls(&[2.0]), wall);
        assert_eq!((one.median, one.min, one.max), (2.0, 2.0, 2.0));
    }
}
