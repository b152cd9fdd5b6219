//! `serve`: auto syncs at 01:15 UTC every Nth day, on a clock the test moves; restarts,
//! missed slots, sync-now, one run per integration across processes, clean shutdown.

use crate::harness::{
    Background, FULL_SECRET, Host, TestClock, assert_success, wait_for, wait_idle,
};
use chrono::{DateTime, FixedOffset};
use serde_json::Value;
use std::time::Duration;
use wiz_sim::{SimConfig, Simulator};

fn runs(host: &Host, name: &str, action: &str) -> Vec<Value> {
    host.json(&["history", name])
        .into_iter()
        .filter(|r| r["action"] == action)
        .collect()
}

fn finished_auto_syncs(host: &Host, name: &str) -> usize {
    runs(host, name, "auto_sync")
        .iter()
        .filter(|r| r["status"] != "running")
        .count()
}

fn serve(host: &Host, clock: &TestClock) -> Background {
    serve_with(host, clock, &[])
}

fn serve_with(host: &Host, clock: &TestClock, extra: &[&str]) -> Background {
    let path = clock.path();
    host.spawn(&Host::scheduler_args(&path, extra))
}

/// Starts `serve` and waits until it has scheduled `name`'s first auto sync.
fn serve_scheduling(host: &Host, clock: &TestClock, name: &str) -> Background {
    serve_scheduling_with(host, clock, name, &[])
}

/// [`serve_scheduling`] with `extra` arguments.
fn serve_scheduling_with(host: &Host, clock: &TestClock, name: &str, extra: &[&str]) -> Background {
    let server = serve_with(host, clock, extra);
    let line = format!("integration `{name}`: first auto sync at");
    wait_for(30, "the first schedule", || {
        server.log_text().contains(&line)
    });
    server
}

/// Waits for the `n`th auto sync of `name` to end and the scheduler to be idle, then
/// checks that there are exactly `n`, running ones included.
fn expect_auto_syncs(host: &Host, server: &Background, name: &str, n: usize) {
    wait_for(60, &format!("auto sync #{n} of {name}"), || {
        finished_auto_syncs(host, name) >= n
    });
    wait_idle(server);
    let auto = runs(host, name, "auto_sync");
    assert_eq!(auto.len(), n, "exactly {n} auto syncs of {name}: {auto:?}");
    assert!(auto.iter().all(|r| r["status"] != "running"), "{auto:?}");
}

fn add_with_schedule(host: &Host, sim: &Simulator, name: &str, days: &str) {
    assert_success(&host.add_wiz(name, sim, "sim-client", FULL_SECRET, &[]));
    let out = host.ok(&["integration", "update", name, "--auto-sync-days", days]);
    assert!(out.contains("changed auto-sync-days"), "{out}");
}

#[test]
fn daily_schedule_with_a_restart_and_missed_slots() {
    let sim = Simulator::start(SimConfig::new(5, 40)).unwrap();
    let host = Host::new();
    add_with_schedule(&host, &sim, "d", "1");
    let clock = TestClock::new(host.dir(), "2030-01-01T00:00:00Z");
    let server = serve_scheduling(&host, &clock, "d");
    assert!(
        server
            .log_text()
            .contains("first auto sync at 2030-01-01 01:15:00 UTC"),
        "{}",
        server.log_text()
    );
    wait_idle(&server);
    assert_eq!(
        runs(&host, "d", "auto_sync").len(),
        0,
        "nothing before the first 01:15"
    );

    clock.set("2030-01-01T01:15:00Z");
    expect_auto_syncs(&host, &server, "d", 1);
    clock.set("2030-01-01T20:00:00Z");
    expect_auto_syncs(&host, &server, "d", 1);
    clock.set("2030-01-02T01:15:30Z");
    expect_auto_syncs(&host, &server, "d", 2);

    // Down over the next slot: one run when it comes back.
    assert!(server.stop().success());
    clock.set("2030-01-03T01:40:00Z");
    let server = serve(&host, &clock);
    expect_auto_syncs(&host, &server, "d", 3);

    // Down over five slots: still one run, and the schedule counts from it.
    assert!(server.stop().success());
    clock.set("2030-01-09T05:00:00Z");
    let server = serve(&host, &clock);
    expect_auto_syncs(&host, &server, "d", 4);
    clock.set("2030-01-10T01:14:00Z");
    expect_auto_syncs(&host, &server, "d", 4);
    clock.set("2030-01-10T01:15:00Z");
    expect_auto_syncs(&host, &server, "d", 5);
    assert!(server.stop().success());

    let auto = runs(&host, "d", "auto_sync");
    assert!(
        auto.iter()
            .all(|r| r["started_by"] == "scheduler" && r["status"] == "succeeded"),
        "{auto:?}"
    );
    let change = &runs(&host, "d", "config_change")[0];
    assert_eq!(change["details"], "changed: auto-sync-days");
    assert_eq!(change["started_by"], "e2e-tester");
}

#[test]
fn every_three_days_and_sync_now_does_not_move_the_schedule() {
    let sim = Simulator::start(SimConfig::new(5, 40)).unwrap();
    let host = Host::new();
    add_with_schedule(&host, &sim, "t", "3");
    let clock = TestClock::new(host.dir(), "2030-02-01T00:00:00Z");
    let server = serve_scheduling(&host, &clock, "t");
    clock.set("2030-02-01T01:15:00Z");
    expect_auto_syncs(&host, &server, "t", 1);
    clock.set("2030-02-02T12:00:00Z");
    host.ok(&["sync", "t"]);
    assert_eq!(runs(&host, "t", "sync_now").len(), 1);
    for day in [
        "2030-02-02T01:15:00Z",
        "2030-02-03T01:15:00Z",
        "2030-02-03T23:59:00Z",
    ] {
        clock.set(day);
        expect_auto_syncs(&host, &server, "t", 1);
    }
    clock.set("2030-02-04T01:15:00Z");
    expect_auto_syncs(&host, &server, "t", 2);
    assert!(server.stop().success());
}

#[test]
fn one_run_per_integration_across_processes_and_shutdown_cancels() {
    let sim = Simulator::start(SimConfig::new(9, 400)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("s", &sim, "sim-client", FULL_SECRET, &["page-size=50"]));
    host.ok(&["integration", "update", "s", "--auto-sync-days", "1"]);

    // The manual sync is held at its third issue page while the test works. Its lease
    // is short: once killed, it lapses in two seconds.
    let manual_gate = sim.hold_issue_page(3);
    let manual = host.spawn(&["--lease-ttl-s", "2", "sync", "s"]);
    manual_gate.wait_reached(Duration::from_secs(60), "the manual sync's third page");
    let stderr = host.fails(&["sync", "s"]);
    assert!(stderr.contains("already syncing"), "{stderr}");

    // The scheduler finds the slot due while the manual sync runs: it claims nothing.
    let clock = TestClock::new(host.dir(), "2030-03-01T00:00:00Z");
    let server = serve_scheduling_with(&host, &clock, "s", &["--lease-ttl-s", "2"]);
    clock.set("2030-03-01T01:15:00Z");
    wait_idle(&server);
    assert_eq!(
        runs(&host, "s", "auto_sync").len(),
        0,
        "no second run while one is going"
    );
    // The auto sync, once it runs, is held at its second issue page.
    let auto_gate = sim.hold_issue_page(2);
    drop(manual); // kill -9 the manual sync mid-run
    manual_gate.open();

    // Once the dead process's lease lapses, the scheduler claims the sync, marks the
    // dead run interrupted, and starts the auto sync; SIGTERM then cancels that run.
    auto_gate.wait_reached(Duration::from_secs(60), "the auto sync's second page");
    assert_eq!(runs(&host, "s", "auto_sync")[0]["status"], "running");
    let interrupted = &runs(&host, "s", "sync_now")[0];
    assert_eq!(interrupted["status"], "failed");
    assert!(
        interrupted["error"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{interrupted}"
    );
    let stopping = std::time::Instant::now();
    assert!(server.stop().success());
    // The held request is still unanswered: the run was stopped while it waited, within
    // the cancelled sync's grace of 5 s and the process's exit.
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "serve stopped in {:?}",
        stopping.elapsed()
    );
    auto_gate.open();
    let cancelled = &runs(&host, "s", "auto_sync")[0];
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(
        cancelled["findings_closed"], 0,
        "a cancelled run closes nothing"
    );
    assert!(cancelled["finished_at"].is_string());
}

/// (start, finish) of the latest auto sync of `name`.
fn last_auto_interval(host: &Host, name: &str) -> (DateTime<FixedOffset>, DateTime<FixedOffset>) {
    let run = &runs(host, name, "auto_sync")[0];
    let time = |field: &str| {
        let text = run[field].as_str().unwrap();
        DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{field} `{text}`: {e}"))
    };
    (time("started_at"), time("finished_at"))
}

#[test]
fn the_concurrency_limit_is_host_wide() {
    let sim = Simulator::start(SimConfig::new(13, 300)).unwrap();
    let host = Host::new();
    for name in ["a", "b"] {
        assert_success(&host.add_wiz(name, &sim, "sim-client", FULL_SECRET, &["page-size=50"]));
        host.ok(&["integration", "update", name, "--auto-sync-days", "1"]);
    }
    let clock = TestClock::new(host.dir(), "2030-04-01T00:00:00Z");
    for (limit, day) in [("1", "2030-04-01"), ("2", "2030-04-02")] {
        let server = serve_with(&host, &clock, &["--max-concurrent-syncs", limit]);
        // The first run schedules both integrations; later runs find the schedule stored.
        let scheduled = |log: &str| {
            day != "2030-04-01"
                || ["a", "b"]
                    .iter()
                    .all(|n| log.contains(&format!("`{n}`: first auto sync")))
        };
        wait_for(30, "the scheduler to start", || {
            server.log_text().contains("serve: auto syncs") && scheduled(&server.log_text())
        });
        // With room for two, both syncs are held at their first issue page at once:
        // they ran side by side, however slowly either started.
        let gates = (limit == "2").then(|| (sim.hold_issue_page(1), sim.hold_issue_page(2)));
        clock.set(&format!("{day}T01:15:00Z"));
        if let Some((first, second)) = &gates {
            first.wait_reached(Duration::from_secs(60), "one sync's first page");
            second.wait_reached(Duration::from_secs(60), "the other's first page");
            first.open();
            second.open();
        }
        let n = if limit == "1" { 1 } else { 2 };
        wait_for(60, "both auto syncs", || {
            ["a", "b"]
                .iter()
                .all(|name| finished_auto_syncs(&host, name) >= n)
        });
        assert!(server.stop().success());
        let (a, b) = (
            last_auto_interval(&host, "a"),
            last_auto_interval(&host, "b"),
        );
        let overlap = a.0 < b.1 && b.0 < a.1;
        assert_eq!(overlap, limit == "2", "limit {limit}: a {a:?}, b {b:?}");
    }
}

#[test]
fn transient_auto_sync_failures_are_retried_a_few_times_and_auth_failures_are_not() {
    let sim = Simulator::start(SimConfig::new(17, 40)).unwrap();
    // A tenant that throttles every request and asks for two hours of quiet.
    let throttling = Simulator::start(SimConfig::new(18, 40)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz(
        "throttled",
        &throttling,
        "sim-client",
        FULL_SECRET,
        &["max-retry-delay-s=1"],
    ));
    throttling.set_faults(vec![wiz_sim::faults::FaultRule::new(
        wiz_sim::faults::Fault::RateLimited {
            retry_after: Some(7200),
        },
        wiz_sim::faults::Trigger::Run {
            from: 1,
            count: 1_000_000,
        },
    )]);
    assert_success(&host.add_wiz(
        "flaky",
        &sim,
        "sim-client",
        FULL_SECRET,
        &["max-attempts=1"],
    ));
    assert_success(&host.add_wiz(
        "locked",
        &sim,
        "sim-client",
        FULL_SECRET,
        &["max-attempts=1"],
    ));
    for name in ["flaky", "locked", "throttled"] {
        host.ok(&["integration", "update", name, "--auto-sync-days", "1"]);
    }
    host.ok(&[
        "integration",
        "update",
        "locked",
        "--secret",
        "client-secret=revoked-secret",
        "--no-test",
    ]);
    sim.set_faults(vec![wiz_sim::faults::FaultRule::new(
        wiz_sim::faults::Fault::ServerError { status: 503 },
        wiz_sim::faults::Trigger::Run {
            from: 1,
            count: 1_000_000,
        },
    )]);
    let clock = TestClock::new(host.dir(), "2030-05-01T00:00:00Z");
    let server = serve_with(
        &host,
        &clock,
        &["--retry-after-minutes", "15", "--max-retries", "2"],
    );
    wait_for(30, "the three schedules", || {
        ["flaky", "locked", "throttled"].iter().all(|n| {
            server
                .log_text()
                .contains(&format!("`{n}`: first auto sync"))
        })
    });
    let counts = |count: fn(&Host, &str) -> usize| {
        (
            count(&host, "flaky"),
            count(&host, "locked"),
            count(&host, "throttled"),
        )
    };
    let all_auto_syncs = |host: &Host, name: &str| runs(host, name, "auto_sync").len();
    let step = |now: &str, expected: (usize, usize, usize)| {
        clock.set(now);
        wait_for(60, &format!("{expected:?} auto syncs at {now}"), || {
            counts(finished_auto_syncs) == expected
        });
        wait_idle(&server);
        assert_eq!(counts(all_auto_syncs), expected, "at {now}");
    };
    step("2030-05-01T01:15:00Z", (1, 1, 1));
    step("2030-05-01T01:29:00Z", (1, 1, 1));
    // First retry, 15 minutes on; the throttled tenant asked for two hours.
    step("2030-05-01T01:31:00Z", (2, 1, 1));
    step("2030-05-01T02:02:00Z", (3, 1, 1)); // second retry, 30 minutes after the first
    step("2030-05-01T03:14:00Z", (3, 1, 1));
    step("2030-05-01T03:16:00Z", (3, 1, 2)); // the throttled retry, two hours on
    // flaky: retries used up, it waits for the next slot; throttled: its next retry is two
    // hours after the last (05:16).
    step("2030-05-01T05:00:00Z", (3, 1, 2));
    step("2030-05-02T01:15:00Z", (4, 2, 3));
    assert!(server.stop().success());
    let flaky = &runs(&host, "flaky", "auto_sync")[0];
    assert!(
        flaky["error"]
            .as_str()
            .unwrap()
            .contains("temporary failure"),
        "{flaky}"
    );
    let throttled = &runs(&host, "throttled", "auto_sync")[0];
    assert!(
        throttled["error"]
            .as_str()
            .unwrap()
            .contains("rate limited (retry after 7200 s)"),
        "{throttled}"
    );
    let locked = &runs(&host, "locked", "auto_sync")[0];
    assert!(
        locked["error"]
            .as_str()
            .unwrap()
            .contains("authentication failed")
            && locked["error"].as_str().unwrap().contains("check them"),
        "{locked}"
    );
}

/// (Leases, their expiry and takeover are in the host's storage story, on both
/// backends.)
#[test]
fn serve_fails_the_runs_a_killed_process_left_running_once_their_lease_lapses() {
    let sim = Simulator::start(SimConfig::new(19, 300)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &["page-size=20"]));
    let gate = sim.hold_issue_page(2);
    let sync = host.spawn(&["--lease-ttl-s", "2", "sync", "w"]);
    gate.wait_reached(Duration::from_secs(60), "the sync's second page");
    drop(sync); // SIGKILL: its run stays marked running, its lease lives two seconds more
    gate.open();
    assert_eq!(runs(&host, "w", "sync_now")[0]["status"], "running");
    let clock = TestClock::new(host.dir(), "2030-06-01T00:00:00Z");
    let server = serve_with(&host, &clock, &["--lease-ttl-s", "2"]);
    wait_for(30, "serve to fail the abandoned run", || {
        runs(&host, "w", "sync_now")
            .iter()
            .all(|r| r["status"] != "running")
    });
    assert!(server.stop().success());
    let abandoned = &runs(&host, "w", "sync_now")[0];
    assert_eq!(abandoned["status"], "failed");
    assert!(
        abandoned["error"].as_str().unwrap().contains("interrupted"),
        "{abandoned}"
    );
}

/// The schedule on the system clock, without the test's clock file or fast polling: a
/// sync time a minute or so ahead, and the auto sync starts then, not before.
#[test]
fn on_the_system_clock_the_auto_sync_starts_at_its_slot() {
    use chrono::{Timelike, Utc};
    let sim = Simulator::start(SimConfig::new(23, 40)).unwrap();
    let host = Host::new();
    add_with_schedule(&host, &sim, "r", "1");
    // The next whole minute at least 15 s away, so serve is surely up before it.
    let now = Utc::now();
    let next_minute =
        now.with_second(0).unwrap().with_nanosecond(0).unwrap() + chrono::Duration::minutes(1);
    let slot = if next_minute - now < chrono::Duration::seconds(15) {
        next_minute + chrono::Duration::minutes(1)
    } else {
        next_minute
    };
    let sync_time = slot.format("%H:%M").to_string();
    let server = host.spawn(&["serve", "--no-http", "-v", "--sync-time", &sync_time]);
    let first = format!(
        "integration `r`: first auto sync at {}",
        slot.format("%Y-%m-%d %H:%M:%S UTC")
    );
    wait_for(30, "the first schedule", || {
        server.log_text().contains(&first)
    });
    // Nothing before the slot: looked at within the last two seconds before it.
    let before_slot = (slot - chrono::Duration::seconds(2) - Utc::now())
        .to_std()
        .unwrap_or_default();
    std::thread::sleep(before_slot);
    assert!(Utc::now() < slot, "the test looked too late to check");
    assert_eq!(
        runs(&host, "r", "auto_sync").len(),
        0,
        "nothing before {slot}"
    );
    // At the slot, with the default poll of a second, it starts within seconds.
    wait_for(90, "the auto sync at the slot", || {
        finished_auto_syncs(&host, "r") == 1
    });
    assert!(server.stop().success());
    let (started, _) = last_auto_interval(&host, "r");
    let late = started.with_timezone(&Utc) - slot;
    assert!(
        late >= chrono::Duration::zero() && late < chrono::Duration::seconds(10),
        "the auto sync started at {started}, {late} after its slot {slot}"
    );
    let auto = runs(&host, "r", "auto_sync");
    assert_eq!(auto.len(), 1, "{auto:?}");
    assert_eq!(auto[0]["status"], "succeeded", "{auto:?}");
}
