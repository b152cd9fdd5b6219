//! The measurements, one function each. Every one runs the real host binary and the
//! real connector component against the simulator on loopback.

use crate::host_env::HostEnv;
use crate::measure::{self, Usage};
use anyhow::{Context, bail, ensure};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use wiz_sim::{SimConfig, Simulator};

/// Seed of every simulated tenant.
pub const SEED: u64 = 7;
/// Settings every benchmark integration gets: the largest page, and a request-rate
/// ceiling high enough that it is not what is measured.
const FAST: [&str; 4] = [
    "--set",
    "page-size=500",
    "--set",
    "max-requests-per-second=1000",
];

/// How big each measurement is.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Issues of the large throughput run.
    pub large: u64,
    /// Issues of the small throughput run (the memory baseline).
    pub small: u64,
    /// Rounds of the large sync into PostgreSQL, each beside one into SQLite.
    pub postgres_rounds: u32,
    /// Issues and added latency of the latency-hiding run.
    pub latency_issues: u64,
    /// Delay the simulator adds to every GraphQL answer there.
    pub latency: Duration,
    /// Integrations synced at once, issues each, and the latency of every GraphQL answer
    /// they wait on (issue 27: 500 latency-bound syncs in one process).
    pub concurrent: u32,
    pub concurrent_issues: u64,
    pub concurrent_latency: Duration,
    /// Start-up samples.
    pub starts: usize,
    /// Passes over the page in the sandbox comparison.
    pub parse_passes: u32,
    /// Issues behind the console's store (the guide's rules keep about 69% of them), and
    /// requests timed per listing.
    pub console_issues: u64,
    pub console_requests: usize,
    /// The fleet's tenants, issues each, the latency of each answer, syncs each worker
    /// runs at once, and the worker counts compared.
    pub fleet_integrations: u32,
    pub fleet_issues: u64,
    pub fleet_latency: Duration,
    pub fleet_per_worker: u32,
    pub fleet_workers: &'static [u32],
    /// The sync a worker dies in (pages of 20), and the lease time.
    pub failover_issues: u64,
    pub failover_lease_ttl_s: u64,
    /// Integrations behind the claim measurements, and polls timed.
    pub claim_integrations: u32,
    pub claim_polls: usize,
}

impl Sizes {
    /// What the issue asks for.
    pub const FULL: Sizes = Sizes {
        large: 100_000,
        small: 10_000,
        postgres_rounds: 3,
        latency_issues: 5_000,
        latency: Duration::from_millis(300),
        concurrent: 500,
        concurrent_issues: 2_000,
        concurrent_latency: Duration::from_millis(300),
        starts: 7,
        parse_passes: 40,
        console_issues: 145_000,
        console_requests: 100,
        fleet_integrations: 200,
        fleet_issues: 2_000,
        fleet_latency: Duration::from_millis(300),
        fleet_per_worker: 4,
        fleet_workers: &[1, 2, 4],
        failover_issues: 2_000,
        failover_lease_ttl_s: 10,
        claim_integrations: 10_000,
        claim_polls: 200,
    };
    /// A run of seconds that exercises every path, for the test suite.
    pub const SMOKE: Sizes = Sizes {
        large: 1_200,
        small: 300,
        postgres_rounds: 1,
        latency_issues: 1_200,
        latency: Duration::from_millis(30),
        concurrent: 3,
        concurrent_issues: 200,
        concurrent_latency: Duration::from_millis(30),
        starts: 2,
        parse_passes: 2,
        console_issues: 1_200,
        console_requests: 5,
        fleet_integrations: 4,
        fleet_issues: 100,
        fleet_latency: Duration::from_millis(100),
        fleet_per_worker: 2,
        fleet_workers: &[1, 2],
        failover_issues: 600,
        failover_lease_ttl_s: 2,
        claim_integrations: 300,
        claim_polls: 10,
    };
}

/// Where the inputs are and where the work goes.
pub struct Bench {
    pub host_bin: PathBuf,
    pub plugin: PathBuf,
    pub parse_page: PathBuf,
    pub work: PathBuf,
    /// Variables every host command gets on top of the benchmark's own.
    pub env: Vec<(String, String)>,
}

impl Bench {
    /// The compiled-plugin cache every measurement but the cold start shares.
    fn cache(&self) -> PathBuf {
        self.work.join("cache")
    }

    /// A host installation in `work/NAME` using the shared cache.
    pub fn host(&self, name: &str) -> anyhow::Result<HostEnv> {
        Ok(HostEnv::new(
            &self.host_bin,
            &self.plugin,
            &self.work.join(name),
            &self.cache(),
        )?
        .with_env(&self.env))
    }

    /// The same measurements of another build (its host and Wiz plugin), in a work
    /// folder of its own.
    pub fn of_build(&self, host_bin: &Path, plugin: &Path, name: &str) -> Bench {
        Bench {
            host_bin: host_bin.into(),
            plugin: plugin.into(),
            parse_page: self.parse_page.clone(),
            work: self.work.join(name),
            env: self.env.clone(),
        }
    }
}

/// A full sync into a fresh store.
pub struct Throughput {
    pub usage: Usage,
    /// Findings the source returned (those the guide's rules then drop included).
    pub read: u64,
    /// Findings stored.
    pub findings: u64,
    /// CPU the simulator spent generating and serving the tenant.
    pub simulator_cpu: Duration,
    /// The SQLite file it stored in (none for PostgreSQL).
    pub store: PathBuf,
}

/// Syncs a tenant of `issues` into a fresh store (the SQLite file in
/// `work/sync-ISSUES-BACKEND`, or the database at `db_url`) and checks that every
/// finding the guide's rules keep arrived.
pub fn throughput(bench: &Bench, issues: u64, db_url: Option<&str>) -> anyhow::Result<Throughput> {
    let backend = if db_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    throughput_in(bench, &format!("sync-{issues}-{backend}"), issues, db_url)
}

/// [`throughput`] in the work folder `folder`: repeated runs go to a folder of their
/// own, so that the store a reported figure came from is still there to check it by.
pub fn throughput_in(
    bench: &Bench,
    folder: &str,
    issues: u64,
    db_url: Option<&str>,
) -> anyhow::Result<Throughput> {
    let sim = Simulator::start(SimConfig::new(SEED, issues))?;
    let mut host = bench.host(folder)?;
    if let Some(url) = db_url {
        host = host.with_db_url(url);
    }
    host.add_wiz("bench", &sim, &FAST)?;
    let before = measure::process_cpu();
    let usage =
        measure::run(&mut host.command(&["sync", "bench", "--json"])?).context("the sync")?;
    let simulator_cpu = measure::process_cpu().saturating_sub(before);
    let outcome: serde_json::Value = serde_json::from_str(&host.stdout()?)?;
    let findings = outcome["findings_new"].as_u64().unwrap_or(0);
    let read = findings + outcome["findings_skipped"].as_u64().unwrap_or(0);
    let expected = sim.tenant().expected(true, &[]).findings.len() as u64;
    ensure!(
        findings == expected,
        "the sync stored {findings} findings, the tenant has {expected}: {outcome}"
    );
    Ok(Throughput {
        usage,
        read,
        findings,
        simulator_cpu,
        store: host.db(),
    })
}

/// A sync against an API that answers slowly.
pub struct Latency {
    pub wall: Duration,
    /// The least time the API lets any client take: its chain of dependent requests.
    pub bound: Duration,
    pub issue_pages: u64,
}

/// Syncs `sizes.latency_issues` issues with `sizes.latency` added to every GraphQL answer.
///
/// Each issue page needs the previous page's cursor, and the technologies of a page's
/// resources can only be asked for once that page has arrived, so the API forces a chain
/// of (issue pages + 1) answers after the token; everything else can overlap it.
pub fn latency(bench: &Bench, sizes: &Sizes) -> anyhow::Result<Latency> {
    let sim = Simulator::start(SimConfig::new(SEED, sizes.latency_issues))?;
    let host = bench.host("latency")?;
    host.add_wiz("bench", &sim, &FAST)?;
    sim.set_latency(sizes.latency);
    let token = sim
        .stats()
        .token_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    let usage = measure::run(&mut host.command(&["sync", "bench"])?).context("the sync")?;
    let issue_pages = sim
        .stats()
        .issue_pages
        .load(std::sync::atomic::Ordering::Relaxed);
    let tokens = sim
        .stats()
        .token_requests
        .load(std::sync::atomic::Ordering::Relaxed)
        - token;
    ensure!(tokens == 1, "the sync asked for {tokens} tokens");
    // The token endpoint gets no added latency; its own time is within the noise.
    let bound = sizes.latency * (issue_pages as u32 + 1);
    Ok(Latency {
        wall: usage.wall,
        bound,
        issue_pages,
    })
}

/// Many syncs at once in one `serve` process.
pub struct Concurrency {
    pub wall: Duration,
    pub usage: Usage,
    /// The plugin's linear memory at a sync's end (its peak), on average, as the
    /// process's metrics report it: the guest's share of the memory a sync costs.
    pub plugin_memory_mib: f64,
}

/// Adds `sizes.concurrent` integrations of `sizes.concurrent_issues` issues each behind
/// an API that takes `sizes.concurrent_latency` to answer, lets one `serve` process start
/// them all in the same scheduler slot, and measures until the last one has finished.
pub fn concurrency(bench: &Bench, sizes: &Sizes) -> anyhow::Result<Concurrency> {
    let sim = Simulator::start(SimConfig::new(SEED, sizes.concurrent_issues))?;
    let host = bench.host("concurrent")?;
    for n in 0..sizes.concurrent {
        let mut extra = FAST.to_vec();
        extra.extend(["--auto-sync-days", "1"]);
        host.add_wiz(&format!("tenant-{n:02}"), &sim, &extra)?;
    }
    sim.set_latency(sizes.concurrent_latency);
    let clock = host.file("clock");
    std::fs::write(&clock, "2026-01-01T01:00:00Z")?;
    let count = sizes.concurrent.to_string();
    let clock_arg = clock.display().to_string();
    let metrics = free_local_address()?;
    let serve_args = [
        "serve",
        "--no-http",
        "--metrics-listen",
        &metrics,
        "--max-concurrent-syncs",
        &count,
        "--clock-file",
        &clock_arg,
        "--poll-interval-ms",
        "20",
    ];
    let started = Instant::now();
    let serve = host.command(&serve_args)?.spawn().context("start serve")?;
    let pid = serve.id() as libc::pid_t;
    let db = rusqlite::Connection::open(host.db())?;
    let count_rows =
        |sql: &str| -> anyhow::Result<u32> { Ok(db.query_row(sql, [], |r| r.get::<_, u32>(0))?) };
    // Once every integration has its first slot, move the clock onto it.
    wait_until(Duration::from_secs(60), || {
        Ok(
            count_rows("SELECT COUNT(*) FROM schedules WHERE next_due IS NOT NULL")?
                == sizes.concurrent,
        )
    })
    .context("serve did not schedule the integrations")?;
    let slot = Instant::now();
    std::fs::write(&clock, "2026-01-01T01:15:00Z")?;
    let finished = "SELECT COUNT(*) FROM runs WHERE action = 'auto_sync' AND status != 'running'";
    wait_until(Duration::from_secs(1800), || {
        Ok(count_rows(finished)? == sizes.concurrent)
    })
    .context("the syncs did not finish")?;
    let wall = slot.elapsed();
    // A sync's history row is closed just before its worker records its metrics: wait
    // until every sync is counted.
    let mut plugin_memory = None;
    wait_until(Duration::from_secs(30), || {
        let scraped = reqwest::blocking::get(format!("http://{metrics}/metrics"))
            .and_then(|answer| answer.text())
            .context("scrape the metrics")?;
        let sample = |name| wiz_sim::metric_sample(&scraped, name).unwrap_or(0.0);
        let count = sample("connector_plugin_memory_bytes_count");
        if count < f64::from(sizes.concurrent) {
            return Ok(false);
        }
        plugin_memory = Some(sample("connector_plugin_memory_bytes_sum") / count);
        Ok(true)
    })
    .context("the metrics did not count every sync's plugin memory")?;
    let plugin_memory = plugin_memory.unwrap_or_default();
    // SAFETY: sending SIGTERM to our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let usage = measure::wait(serve, started)?;
    let succeeded = count_rows(
        "SELECT COUNT(*) FROM runs WHERE action = 'auto_sync' AND status = 'succeeded'",
    )?;
    ensure!(
        succeeded == sizes.concurrent,
        "{succeeded} of {} syncs succeeded",
        sizes.concurrent
    );
    Ok(Concurrency {
        wall,
        usage,
        plugin_memory_mib: plugin_memory / 1048576.0,
    })
}

/// An address on loopback that was free a moment ago.
fn free_local_address() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}

/// Polls `done` every 10 ms until it holds, for at most `limit`.
pub fn wait_until(
    limit: Duration,
    mut done: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done()? {
        if Instant::now() > deadline {
            bail!("gave up after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Start-up times.
pub struct Startup {
    pub cold: Duration,
    /// The cold start with `-vvv`, in the same rounds as `cold`.
    pub cold_trace: Duration,
    /// The largest log a cold start with `-vvv` wrote, in bytes.
    pub cold_trace_log: u64,
    pub warm: Duration,
    pub instantiate: Duration,
}

/// Times `connector-host test-connection` from process start to its first request, with
/// an empty compiled-plugin cache (plain and with `-vvv`, in alternate rounds) and with a
/// warm one; and loading the plugin from a warm cache in process, to the point where it
/// has described itself.
pub fn startup(bench: &Bench, sizes: &Sizes) -> anyhow::Result<Startup> {
    let sim = Simulator::start(SimConfig::new(SEED, 10))?;
    let host = bench.host("startup")?;
    host.add_wiz("bench", &sim, &FAST)?;
    let to_first_request = |cache: Option<&Path>, trace: bool| -> anyhow::Result<Duration> {
        let args: &[&str] = if trace {
            &["-vvv", "test-connection", "bench"]
        } else {
            &["test-connection", "bench"]
        };
        let mut cmd = host.command(args)?;
        if let Some(cache) = cache {
            cmd.env("CONNECTOR_HOST_CACHE", cache);
        }
        sim.stats().take_first_arrival();
        let spawned = SystemTime::now();
        measure::run(&mut cmd).context("test-connection")?;
        let first = sim
            .stats()
            .take_first_arrival()
            .context("test-connection made no request")?;
        Ok(first.duration_since(spawned)?)
    };
    let (mut cold, mut cold_trace, mut cold_trace_log) = (Vec::new(), Vec::new(), 0);
    for n in 0..sizes.starts.min(3) {
        let empty = bench.work.join(format!("startup/cold-cache-{n}"));
        cold.push(to_first_request(Some(&empty), false)?);
        let empty = bench.work.join(format!("startup/cold-cache-trace-{n}"));
        cold_trace.push(to_first_request(Some(&empty), true)?);
        cold_trace_log = cold_trace_log.max(std::fs::metadata(host.file("stderr.txt"))?.len());
    }
    let warm = (0..sizes.starts)
        .map(|_| to_first_request(None, false))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Startup {
        cold: measure::median(cold),
        cold_trace: measure::median(cold_trace),
        cold_trace_log,
        warm: measure::median(warm),
        instantiate: instantiate(bench, sizes.starts)?,
    })
}

/// Median time to load the plugin from the warm cache and have it describe itself.
fn instantiate(bench: &Bench, samples: usize) -> anyhow::Result<Duration> {
    use connector_host::plugin::runtime::{Limits, PluginHost};
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let host = PluginHost::new(&bench.cache(), Limits::default())?;
        host.load(&bench.plugin).await?; // the cache is warm after this
        let mut times = Vec::new();
        for _ in 0..samples.max(3) {
            let start = Instant::now();
            host.load(&bench.plugin).await?;
            times.push(start.elapsed());
        }
        Ok(measure::median(times))
    })
}

/// CPU time of the connector's parse-and-map of one page.
pub struct Sandbox {
    pub native: Duration,
    pub wasm: Duration,
}

/// Rounds of the sandbox comparison; each side keeps its fastest round, the usual way
/// to take scheduling and frequency noise out of a CPU-time figure.
const SANDBOX_ROUNDS: usize = 5;

/// Parses and maps one 500-issue page `passes` times natively and inside a component
/// built from the same code, on this thread, counting CPU time only; in alternating
/// rounds, keeping each side's fastest.
pub fn sandbox(bench: &Bench, passes: u32) -> anyhow::Result<Sandbox> {
    let page = crate::page::issues_page(SEED, 500);
    let response = parse_page::answer(page.clone());
    let component = crate::page::ParsePage::load(&bench.parse_page)?;
    let (mut native, mut wasm) = (Duration::MAX, Duration::MAX);
    for _ in 0..SANDBOX_ROUNDS {
        let start = measure::thread_cpu();
        let mut findings = 0;
        for _ in 0..passes {
            findings = parse_page::parse_and_map(&response)?;
        }
        native = native.min(measure::thread_cpu() - start);
        let (cpu, wasm_findings) = component.run(page.clone(), passes)?;
        wasm = wasm.min(cpu);
        ensure!(
            wasm_findings == findings,
            "the component mapped {wasm_findings} findings, native code {findings}"
        );
    }
    Ok(Sandbox { native, wasm })
}

/// Server-side times of the console's listings on a large store.
pub struct Console {
    /// Findings the store holds.
    pub findings: u64,
    /// Each listing measured: its name and its request times.
    pub pages: Vec<(&'static str, Vec<Duration>)>,
    /// On PostgreSQL, the same right after the sync, before the vacuum that `pages`
    /// follows.
    pub fresh_pages: Option<Vec<(&'static str, Vec<Duration>)>>,
}

/// The listings the console bench asks for, as (name, path).
const CONSOLE_PAGES: [(&str, &str); 9] = [
    ("findings_first_page", "/findings"),
    (
        "findings_filtered_page",
        "/findings?severity=high&status=failed&integration=bench",
    ),
    ("findings_api_page", "/api/v1/findings?limit=50"),
    (
        "findings_api_filtered",
        "/api/v1/findings?severity=critical&since=2026-01-01T00:00:00Z&limit=50",
    ),
    ("assets_first_page", "/assets?integration=bench"),
    // A word of one rule's titles: the trigram index finds its findings among all.
    ("findings_title_search", "/findings?q=exposed"),
    ("findings_sorted_by_title", "/findings?sort=title"),
    ("findings_sorted_by_asset", "/findings?sort=asset"),
    (
        "findings_api_sorted_by_change",
        "/api/v1/findings?sort=-changed&limit=50",
    ),
];

/// Syncs a tenant of `issues` into a fresh store (the folder's SQLite file, or the
/// PostgreSQL database `postgres`), serves the console on loopback, logs in like a
/// browser, and times `requests` answers to each of [`CONSOLE_PAGES`] (after a few to
/// warm the store's cache), one at a time over one kept-alive connection. On PostgreSQL
/// it times them right after the sync, then again after `VACUUM (ANALYZE)`, which
/// autovacuum runs on its own a minute or so after a large load: the state a store is in
/// the morning after its nightly sync.
pub fn console(
    bench: &Bench,
    issues: u64,
    requests: usize,
    postgres: Option<&postgres_fixture::TestDatabase>,
) -> anyhow::Result<Console> {
    let db_url = postgres.map(|db| db.url());
    let sim = Simulator::start(SimConfig::new(SEED, issues))?;
    let mut host = bench.host(match db_url {
        None => "console",
        Some(_) => "console-postgres",
    })?;
    if let Some(url) = db_url {
        host = host.with_db_url(url);
    }
    host.add_wiz("bench", &sim, &FAST)?;
    host.ok(&["sync", "bench", "--json"])?;
    let outcome: serde_json::Value = serde_json::from_str(&host.stdout()?)?;
    let findings = outcome["findings_new"].as_u64().unwrap_or(0);
    let mut served = host
        .command(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--failed-login-delay-ms",
            "0",
        ])?
        .spawn()
        .context("start serve")?;
    let timed = (|| -> anyhow::Result<_> {
        let first = time_pages(&host, requests)?;
        let Some(db) = postgres else {
            return Ok((first, None));
        };
        db.execute("VACUUM (ANALYZE)")
            .map_err(|e| anyhow::anyhow!("VACUUM: {e}"))?;
        Ok((time_pages(&host, requests)?, Some(first)))
    })();
    let _ = served.kill();
    let _ = served.wait();
    let (pages, fresh_pages) = timed?;
    Ok(Console {
        findings,
        pages,
        fresh_pages,
    })
}

fn time_pages(
    host: &HostEnv,
    requests: usize,
) -> anyhow::Result<Vec<(&'static str, Vec<Duration>)>> {
    let base = host.wait_for_console(Duration::from_secs(60))?;
    let token = std::fs::read_to_string(host.admin_token_file()).context("the admin token file")?;
    let client = reqwest::blocking::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let login = client
        .post(format!("{base}/login"))
        .form(&[("token", token.trim())])
        .send()?;
    ensure!(
        login.status().is_redirection(),
        "the console login answered {}",
        login.status()
    );
    let mut pages = Vec::new();
    for (name, path) in CONSOLE_PAGES {
        let url = format!("{base}{path}");
        let mut times = Vec::with_capacity(requests);
        for i in 0..requests + 3 {
            let started = std::time::Instant::now();
            let answer = client.get(&url).send()?;
            let status = answer.status();
            let body = answer.bytes()?;
            let took = started.elapsed();
            ensure!(status.is_success(), "{path} answered {status}");
            ensure!(!body.is_empty(), "{path} answered nothing");
            if i >= 3 {
                times.push(took);
            }
        }
        pages.push((name, times));
    }
    Ok(pages)
}
