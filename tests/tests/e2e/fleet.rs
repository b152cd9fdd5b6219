//! Several workers on one PostgreSQL store: what holds whatever their clocks say.

use crate::harness::{
    Background, FULL_SECRET, Host, Listener, TestClock, assert_success, wait_for, wait_idle,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;
use wiz_sim::{SimConfig, Simulator};

/// libfaketime, which makes a process read a shifted clock (Debian's `faketime`
/// package; `cargo xtask test` installs it where it can).
fn libfaketime() -> PathBuf {
    std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|arch| arch.path().join("faketime/libfaketime.so.1"))
        .chain([PathBuf::from("/usr/lib/faketime/libfaketime.so.1")])
        .find(|lib| lib.is_file())
        .expect("libfaketime: install Debian's `faketime` package")
}

/// A host on a PostgreSQL database of its own with the integration `w` of a simulated
/// tenant of `issues`; `None` when PostgreSQL tests are skipped.
fn worker_on_postgres(seed: u64, issues: u64) -> Option<(Host, Simulator)> {
    let host = Host::postgres()?;
    let sim = Simulator::start(SimConfig::new(seed, issues)).unwrap();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[]));
    Some((host, sim))
}

#[test]
fn a_worker_whose_clock_is_hours_ahead_does_not_take_a_live_lease() {
    let Some((host, sim)) = worker_on_postgres(73, 30) else {
        return;
    };
    // A sync on a worker with the right time holds the lease, waiting at its first page.
    let gate = sim.hold_issue_page(1);
    let mut first = host.spawn(&["sync", "w"]);
    gate.wait_reached(Duration::from_secs(60), "the first sync's first page");
    // Another worker two hours ahead: by its own clock the lease ran out long ago.
    let lib = libfaketime();
    let skewed = host.run_with_env(
        &["sync", "w"],
        &[
            ("LD_PRELOAD", lib.to_str().unwrap()),
            ("FAKETIME", "+2h"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    let said = String::from_utf8_lossy(&skewed.stderr);
    assert_eq!(
        skewed.status.code(),
        Some(4),
        "the skewed worker finds the integration busy: {said}"
    );
    gate.open();
    assert!(first.wait(60).success(), "{}", first.log_text());
    let history = host.json(&["history", "w"]);
    let syncs: Vec<&str> = history
        .iter()
        .filter(|row| row["action"] == "sync_now")
        .map(|row| row["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        syncs,
        ["succeeded"],
        "one sync, not interrupted: {history:?}"
    );
}

#[test]
fn a_worker_frozen_past_its_lease_stores_nothing_more_and_its_taker_finishes_the_sync() {
    let Some((host, sim)) = worker_on_postgres(79, 60) else {
        return;
    };
    // A sync with a two-second lease, held at its first page, then frozen.
    let gate = sim.hold_issue_page(1);
    let mut stale = host.spawn(&["--lease-ttl-s", "2", "sync", "w"]);
    gate.wait_reached(Duration::from_secs(60), "the first sync's first page");
    stale.signal("STOP");
    std::thread::sleep(Duration::from_secs(3));
    gate.open();
    // Its lease ran out: another worker takes the integration over and syncs it whole.
    let taker = host.run(&["--lease-ttl-s", "2", "sync", "w", "--json"]);
    assert_success(&taker);
    let stored = host.findings_of("w");
    assert!(!stored.is_empty(), "the taker stored the tenant");
    // Woken, the frozen worker reads its page and finds its lease gone.
    stale.signal("CONT");
    assert!(!stale.wait(60).success(), "the stale sync fails");
    let said = stale.log_text();
    assert!(said.contains("lost its lease"), "{said}");
    assert_eq!(
        host.findings_of("w"),
        stored,
        "the stale sync stored nothing"
    );
    let history = host.json(&["history", "w"]);
    let syncs: Vec<(&str, &str)> = history
        .iter()
        .filter(|row| row["action"] == "sync_now")
        .map(|row| {
            (
                row["status"].as_str().unwrap(),
                row["error"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(syncs.len(), 2, "{history:?}");
    assert_eq!(syncs[0].0, "succeeded", "the taker's run, newest first");
    assert_eq!(syncs[1].0, "failed");
    assert!(
        syncs[1].1.contains("interrupted"),
        "the stale run stays as its taker marked it: {history:?}"
    );
}

/// A simulated tenant of `issues` whose every answer takes `latency`.
fn slow_tenant(seed: u64, issues: u64, latency: Duration) -> Simulator {
    let mut config = SimConfig::new(seed, issues);
    config.latency = latency;
    Simulator::start(config).unwrap()
}

/// `n` integrations `t00`, `t01`… of `sim`'s tenant, each with a daily auto sync; and
/// `clean`, without one, to sync by hand as the oracle.
fn daily_tenants(host: &Host, sim: &Simulator, n: usize, settings: &[&str]) -> Vec<String> {
    assert_success(&host.add_wiz("clean", sim, "sim-client", FULL_SECRET, settings));
    (0..n)
        .map(|i| {
            let name = format!("t{i:02}");
            assert_success(&host.add_wiz(&name, sim, "sim-client", FULL_SECRET, settings));
            host.ok(&["integration", "update", &name, "--auto-sync-days", "1"]);
            name
        })
        .collect()
}

/// A `serve` worker on the test's clock, with `extra` arguments.
fn worker(host: &Host, clock: &TestClock, extra: &[&str]) -> Background {
    let path = clock.path();
    host.spawn(&Host::scheduler_args(&path, extra))
}

/// `n` daily tenants of `sim` in pages of 20, and one worker with `args` in the middle of
/// their auto syncs (each has stored some findings): the tenants, the clock, the worker.
fn midway(
    host: &Host,
    sim: &Simulator,
    n: usize,
    args: &[&str],
) -> (Vec<String>, TestClock, Background) {
    let names = daily_tenants(host, sim, n, &["page-size=20"]);
    let clock = TestClock::new(host.dir(), "2030-04-01T00:00:00Z");
    let busy = worker(host, &clock, args);
    wait_for(60, "the worker", || workers_in(host, "active").len() == 1);
    // Moved before the worker has scheduled them, the clock would put their first slot
    // on the next day.
    wait_for(30, "the schedules", || {
        let log = busy.log_text();
        names
            .iter()
            .all(|name| log.contains(&format!("integration `{name}`: first auto sync at")))
    });
    clock.set("2030-04-01T01:15:00Z");
    wait_for(120, "every sync to store some findings", || {
        names
            .iter()
            .all(|name| !host.json(&["findings", name]).is_empty())
    });
    (names, clock, busy)
}

/// The auto syncs in `name`'s history, newest first.
fn auto_syncs(host: &Host, name: &str) -> Vec<Value> {
    host.json(&["history", name])
        .into_iter()
        .filter(|row| row["action"] == "auto_sync")
        .collect()
}

/// Whether `name`'s newest auto sync succeeded.
fn auto_synced(host: &Host, name: &str) -> bool {
    auto_syncs(host, name)
        .first()
        .is_some_and(|run| run["status"] == "succeeded")
}

/// The workers the store lists in `state`.
fn workers_in(host: &Host, state: &str) -> Vec<Value> {
    host.json(&["workers"])
        .into_iter()
        .filter(|w| w["state"] == state)
        .collect()
}

/// When a run started, from its history row.
fn started_at(run: &Value) -> chrono::DateTime<chrono::Utc> {
    run["started_at"].as_str().unwrap().parse().unwrap()
}

#[test]
fn three_workers_run_each_due_auto_sync_exactly_once_and_share_them() {
    let Some(host) = Host::postgres() else {
        return;
    };
    let sim = slow_tenant(83, 20, Duration::from_millis(100));
    let names = daily_tenants(&host, &sim, 30, &[]);
    let clock = TestClock::new(host.dir(), "2030-04-01T00:00:00Z");
    let workers: Vec<Background> = (0..3)
        .map(|_| worker(&host, &clock, &["--max-concurrent-syncs", "4"]))
        .collect();
    wait_for(60, "three active workers", || {
        workers_in(&host, "active").len() == 3
    });
    // Every worker looks at the same slot: 30 syncs due at once, 12 running at most.
    clock.set("2030-04-01T01:15:00Z");
    wait_for(300, "the 30 auto syncs", || {
        names.iter().all(|name| auto_synced(&host, name))
    });
    for worker in &workers {
        wait_idle(worker);
    }
    let mut ran_on = BTreeSet::new();
    for name in &names {
        let auto = auto_syncs(&host, name);
        assert_eq!(auto.len(), 1, "exactly one auto sync of {name}: {auto:?}");
        ran_on.insert(auto[0]["worker"].as_str().unwrap().to_string());
    }
    let ids: BTreeSet<String> = workers_in(&host, "active")
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ran_on, ids, "every worker ran some");
    for worker in workers {
        assert!(worker.stop().success());
    }
    assert_eq!(workers_in(&host, "stopped").len(), 3);
}

#[test]
fn a_worker_killed_mid_sync_is_replaced_within_its_lease_and_the_store_equals_a_clean_sync() {
    let Some(host) = Host::postgres() else {
        return;
    };
    let sim = slow_tenant(89, 200, Duration::from_millis(150));
    let args = ["--lease-ttl-s", "2", "--max-concurrent-syncs", "4"];
    let (names, clock, dying) = midway(&host, &sim, 3, &args);
    drop(dying); // SIGKILL, in the middle of three syncs
    let killed_at = chrono::Utc::now();
    let taker = worker(&host, &clock, &args);
    wait_for(180, "the taker to finish the three syncs", || {
        names.iter().all(|name| auto_synced(&host, name))
    });
    assert_eq!(
        workers_in(&host, "lost").len(),
        1,
        "the dead worker went silent"
    );
    host.ok(&["sync", "clean"]);
    let clean = host.findings_of("clean");
    for name in &names {
        let auto = auto_syncs(&host, name);
        assert_eq!(
            auto.len(),
            2,
            "the interrupted attempt and its taker's: {auto:?}"
        );
        assert_eq!(auto[1]["status"], "failed");
        assert!(
            auto[1]["error"].as_str().unwrap().contains("interrupted"),
            "{auto:?}"
        );
        assert_ne!(auto[0]["worker"], auto[1]["worker"], "{auto:?}");
        // Within the lease time (2 s) and a heartbeat, give or take the taker's start.
        let waited = started_at(&auto[0]) - killed_at;
        assert!(
            waited < chrono::Duration::seconds(10),
            "{name} resumed {waited} after the kill"
        );
        assert_eq!(host.findings_of(name), clean, "{name} equals a clean sync");
    }
    assert!(taker.stop().success());
}

#[test]
fn a_draining_worker_hands_its_syncs_back_and_another_resumes_them_at_once() {
    let Some(host) = Host::postgres() else {
        return;
    };
    let sim = slow_tenant(97, 200, Duration::from_millis(150));
    // The default lease of a minute: a resume that waited for it would show.
    let (names, clock, draining) = midway(&host, &sim, 2, &[]);
    let stopping = std::time::Instant::now();
    assert!(
        draining.stop().success(),
        "SIGTERM drains and exits cleanly"
    );
    assert!(stopping.elapsed() < Duration::from_secs(15));
    let drained_at = chrono::Utc::now();
    for name in &names {
        let auto = auto_syncs(&host, name);
        assert_eq!(auto[0]["status"], "cancelled", "{auto:?}");
    }
    assert_eq!(workers_in(&host, "stopped").len(), 1);
    let resumer = worker(&host, &clock, &[]);
    wait_for(120, "another worker to finish the syncs", || {
        names.iter().all(|name| auto_synced(&host, name))
    });
    host.ok(&["sync", "clean"]);
    let clean = host.findings_of("clean");
    for name in &names {
        let auto = auto_syncs(&host, name);
        assert_eq!(auto.len(), 2, "{auto:?}");
        let waited = started_at(&auto[0]) - drained_at;
        assert!(
            waited < chrono::Duration::seconds(20),
            "{name} resumed {waited} after the drain, not after its lease"
        );
        // It went on from the drained run's checkpoint rather than from the start: it
        // read fewer findings than the tenant has.
        let read = auto[0]["findings_new"].as_u64().unwrap()
            + auto[0]["findings_unchanged"].as_u64().unwrap();
        assert!(read < clean.len() as u64, "{auto:?}");
        assert_eq!(host.findings_of(name), clean, "{name} equals a clean sync");
    }
    assert!(resumer.stop().success());
}

#[test]
fn metrics_count_runs_claims_and_records_and_show_the_fleet() {
    let host = Host::new();
    let sim = Simulator::start(SimConfig::new(101, 30)).unwrap();
    let names = daily_tenants(&host, &sim, 2, &[]);
    let clock = TestClock::new(host.dir(), "2030-04-01T00:00:00Z");
    let path = clock.path();
    let served = host.serve_http(&[
        "-v",
        "--clock-file",
        &path,
        "--poll-interval-ms",
        "40",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    wait_for(30, "the schedules", || {
        served.background.log_text().contains("first auto sync at")
    });
    clock.set("2030-04-01T01:15:00Z");
    wait_for(120, "the auto syncs", || {
        names.iter().all(|name| auto_synced(&host, name))
    });
    let stored: usize = names
        .iter()
        .map(|n| host.json(&["findings", n]).len())
        .sum();
    let base = served.api.trim_end_matches("/api/v1").to_string();
    let client = reqwest::blocking::Client::new();
    let refused = client.get(format!("{base}/metrics")).send().unwrap();
    assert_eq!(refused.status(), 401, "the main listener wants credentials");
    let scraped = client
        .get(format!("{base}/metrics"))
        .bearer_auth(&served.admin_token)
        .send()
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(
        scraped.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = scraped.text().unwrap();
    let expected = [
        "connector_runs_total{status=\"succeeded\"} 2".to_string(),
        "connector_claims_total 2".into(),
        "connector_lease_takeovers_total 0".into(),
        "connector_syncs_running 0".into(),
        "connector_queue_depth 0".into(),
        "connector_workers{state=\"active\"} 1".into(),
        format!("connector_records_stored_total{{kind=\"finding\"}} {stored}"),
    ];
    for line in &expected {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
    // Each sync's plugin memory: the Wiz component holds more than a MiB, well under
    // the default budget.
    let metric = |name: &str| -> f64 {
        wiz_sim::metric_sample(&text, name).unwrap_or_else(|| panic!("no `{name}` in:\n{text}"))
    };
    assert_eq!(metric("connector_plugin_memory_bytes_count"), 2.0);
    let average = metric("connector_plugin_memory_bytes_sum") / 2.0;
    assert!(
        (1048576.0..256.0 * 1048576.0).contains(&average),
        "{average} bytes a sync"
    );
    // The metrics listener answers without credentials.
    let log = served.background.log_text();
    let open = log
        .lines()
        .find_map(|l| {
            l.split_once("serve: metrics on ")
                .map(|(_, url)| url.trim())
        })
        .expect("the metrics address")
        .to_string();
    let text = client.get(&open).send().unwrap().text().unwrap();
    assert!(text.lines().any(|l| l == expected[0]), "{text}");
    assert!(served.background.stop().success());
}

#[test]
fn a_database_restart_mid_sync_ends_the_run_cleanly_and_the_next_sync_converges() {
    let Some(server) = postgres_fixture::own_server() else {
        return;
    };
    let host = Host::on_postgres_url(server.url());
    let sim = Simulator::start(SimConfig::new(103, 200)).unwrap();
    for name in ["clean", "w"] {
        assert_success(&host.add_wiz(name, &sim, "sim-client", FULL_SECRET, &["page-size=20"]));
    }
    // The fourth page is held; three are stored when the database goes down.
    let gate = sim.hold_issue_page(4);
    let mut sync = host.spawn(&["sync", "w"]);
    gate.wait_reached(Duration::from_secs(60), "the fourth issue page");
    wait_for(60, "three pages stored", || {
        host.json(&["findings", "w"]).len() >= 40
    });
    server.restart().expect("restart the database");
    gate.open();
    // The groups it committed without waiting for the disk may be gone with the
    // server: the run must not go on past them. It fails, saying why.
    let ended = sync.wait(120);
    assert!(!ended.success(), "{}", sync.log_text());
    let history = host.json(&["history", "w"]);
    let run = &history[0];
    let said = sync.log_text();
    assert_eq!(run["status"], "failed", "{said}\n{history:?}");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("database restarted"),
        "{history:?}"
    );
    host.ok(&["sync", "w"]);
    host.ok(&["sync", "clean"]);
    let (ours, clean) = (host.findings_of("w"), host.findings_of("clean"));
    let differ: Vec<(&Value, &Value)> = ours.iter().zip(&clean).filter(|(a, b)| a != b).collect();
    assert!(
        ours.len() == clean.len() && differ.is_empty(),
        "the next sync converges: {} findings against {}; first differing: {:?}; history: {:?}",
        ours.len(),
        clean.len(),
        differ.first(),
        host.json(&["history", "w"])
    );
}

/// The worker id a `serve -v` logged as it started, once it has: its scheduler
/// registers beside the HTTP listener, which may answer first.
fn worker_id_of(worker: &Background) -> String {
    let logged = || {
        worker.log_text().lines().find_map(|l| {
            l.split_once("worker ")
                .and_then(|(_, rest)| rest.strip_suffix(" started"))
                .map(|id| id.trim().to_string())
        })
    };
    wait_for(60, "the worker's start in its log", || logged().is_some());
    logged().unwrap_or_default()
}

#[test]
fn sync_now_waits_for_a_free_worker_runs_once_when_asked_twice_and_stops_from_another() {
    let Some(host) = Host::postgres() else {
        return;
    };
    // Two daily tenants keep both workers busy, each held at its first page; the Sync
    // Now is of a third, on a simulator of its own.
    let busy = Simulator::start(SimConfig::new(107, 30)).unwrap();
    let asked = Simulator::start(SimConfig::new(109, 200)).unwrap();
    let names = daily_tenants(&host, &busy, 2, &[]);
    assert_success(&host.add_wiz("now", &asked, "sim-client", FULL_SECRET, &["page-size=20"]));
    let clock = TestClock::new(host.dir(), "2030-04-01T00:00:00Z");
    let path = clock.path();
    let args = [
        "-v",
        "--clock-file",
        &path,
        "--poll-interval-ms",
        "40",
        "--max-concurrent-syncs",
        "1",
    ];
    let workers = [host.serve_http(&args), host.serve_http(&args)];
    let ids = workers.each_ref().map(|w| worker_id_of(&w.background));
    let (first, second) = (busy.hold_issue_page(1), busy.hold_issue_page(2));
    clock.set("2030-04-01T01:15:00Z");
    first.wait_reached(Duration::from_secs(60), "one auto sync's first page");
    second.wait_reached(Duration::from_secs(60), "the other's first page");
    let client = reqwest::blocking::Client::new();
    let sync_now = |served: &crate::harness::Served| -> Value {
        client
            .post(format!("{}/integrations/now/sync", served.api))
            .bearer_auth(&served.admin_token)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let status = |served: &crate::harness::Served| served.api_json("/integrations/now/sync");
    // Asked on one worker, then on the other: one request, waiting, while both are busy.
    assert_eq!(sync_now(&workers[0])["request"], "queued");
    assert_eq!(sync_now(&workers[1])["request"], "joined_queued");
    std::thread::sleep(Duration::from_millis(1500));
    let waiting = status(&workers[1]);
    assert_eq!(waiting["queued"]["requested_by"], "admin", "{waiting}");
    assert!(waiting["queued"]["starting_on"].is_null(), "{waiting}");
    assert!(waiting["running"].is_null(), "{waiting}");
    // A worker frees up: it takes the request before anything else.
    let held = asked.hold_issue_page(2);
    first.open();
    held.wait_reached(Duration::from_secs(60), "the Sync Now's second page");
    let running = status(&workers[0]);
    let runner = running["running"]["worker"].as_str().unwrap().to_string();
    assert!(ids.contains(&runner), "{ids:?} {running}");
    assert!(running["queued"].is_null(), "{running}");
    // The console's Workers page, on either worker, shows both and what each runs.
    let (console, base, _) = crate::console::logged_in(&workers[1], &workers[1].admin_token);
    let page = crate::console::page_text(&console, &base, "/workers");
    for id in &ids {
        assert!(page.contains(id.as_str()), "{id} listed: {page}");
    }
    assert_eq!(
        page.matches(r#"state-active">active<"#).count(),
        2,
        "{page}"
    );
    assert!(
        page.contains(r#"<a href="/integrations/now">now</a>"#),
        "what the runner runs: {page}"
    );
    // Cancel, on the worker that does not run it.
    let other = &workers[usize::from(ids[0] == runner)];
    let cancelled = client
        .delete(format!("{}/integrations/now/sync", other.api))
        .bearer_auth(&other.admin_token)
        .send()
        .unwrap();
    assert_eq!(cancelled.status(), 202);
    // The worker running it reads the Cancel from the run's row within a second.
    let running_on = &workers[usize::from(ids[1] == runner)];
    wait_for(30, "the runner to learn of the Cancel", || {
        running_on
            .background
            .log_text()
            .contains("cancel requested; stopping at its next batch")
    });
    held.open();
    wait_for(60, "the cancelled sync to end", || {
        status(other)["running"].is_null()
    });
    let syncs: Vec<Value> = host
        .json(&["history", "now"])
        .into_iter()
        .filter(|r| r["action"] == "sync_now")
        .collect();
    assert_eq!(syncs.len(), 1, "asked twice, it ran once: {syncs:?}");
    assert_eq!(syncs[0]["status"], "cancelled", "{syncs:?}");
    assert_eq!(syncs[0]["worker"], runner.as_str());
    second.open();
    wait_for(120, "the auto syncs", || {
        names.iter().all(|name| auto_synced(&host, name))
    });
    for served in workers {
        assert!(served.background.stop().success());
    }
}

#[test]
fn a_ceiling_per_destination_holds_across_the_workers_of_the_fleet() {
    let Some(host) = Host::postgres() else {
        return;
    };
    let target = Listener::start("127.0.0.1:0", Duration::ZERO);
    let names = ["a", "b"];
    for name in names {
        host.add_hostile(name, "request-flood", &target.url, &["count=15"]);
        host.ok(&["integration", "update", name, "--auto-sync-days", "1"]);
    }
    let clock = TestClock::new(host.dir(), "2030-04-01T00:00:00Z");
    let args = [
        "--max-concurrent-syncs",
        "1",
        "--max-requests-per-second-per-host",
        "5",
    ];
    let workers: Vec<Background> = (0..2).map(|_| worker(&host, &clock, &args)).collect();
    wait_for(60, "two active workers", || {
        workers_in(&host, "active").len() == 2
    });
    clock.set("2030-04-01T01:15:00Z");
    wait_for(120, "both floods to end", || {
        names.iter().all(|name| {
            auto_syncs(&host, name)
                .first()
                .is_some_and(|run| run["status"] != "running")
        })
    });
    let ran_on: BTreeSet<String> = names
        .iter()
        .map(|name| auto_syncs(&host, name)[0]["worker"].to_string())
        .collect();
    assert_eq!(ran_on.len(), 2, "each flood ran on a worker of its own");
    for worker in workers {
        assert!(worker.stop().success());
    }
    let mut arrivals = target.arrivals();
    arrivals.sort();
    assert_eq!(arrivals.len(), 30, "both runs sent all they opened");
    // A second's worth at once, then 5 a second for the 25 left, whichever worker sent
    // them; each worker on its own pace would be done in 2 s.
    let span = arrivals[29].duration_since(arrivals[0]);
    assert!(
        span >= Duration::from_millis(4500),
        "30 requests from two workers at 5 a second to one destination took {span:?}"
    );
    let first_second = arrivals
        .iter()
        .filter(|a| a.duration_since(arrivals[0]) < Duration::from_millis(950))
        .count();
    assert!(first_second <= 10, "{first_second} in the first second");
}

/// A Sync Now another worker took and has not started yet is shown starting on that
/// worker, in the console (which keeps following it) and in the API, and no worker of
/// this `serve` takes it from under the live lease.
#[test]
fn a_sync_now_taken_by_a_worker_shows_as_starting_on_it() {
    use connector_host::store::{StoreTarget, open_store};
    let sim = Simulator::start(SimConfig::new(23, 10)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[]));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = open_store(&StoreTarget::parse(&host.db_arg()).unwrap())
            .await
            .unwrap();
        let id = store.integration("w").await.unwrap().id;
        store.request_sync(id, "alice", false).await.unwrap();
        let now = store.now().await.unwrap();
        let claims = store
            .claim_due("elsewhere", now, 1, Duration::from_secs(600))
            .await
            .unwrap();
        assert_eq!(claims.len(), 1);
    });
    let served = host.serve_http(&[]);
    let status = served.api_json("/integrations/w/sync");
    assert_eq!(status["queued"]["starting_on"], "elsewhere", "{status}");
    assert!(status["running"].is_null(), "{status}");
    let (console, base, _) = crate::console::logged_in(&served, &served.admin_token);
    let page = crate::console::page_text(&console, &base, "/integrations/w");
    assert!(
        page.contains("Sync Now requested by alice: starting on worker elsewhere.")
            && page.contains(r#"data-live="1""#),
        "{page}"
    );
}
