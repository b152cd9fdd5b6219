//! What plugins may send: a run keeps few requests in flight however many it opens, and
//! every run of a process shares one pace per destination, so a flood waits its turn and
//! two integrations on one tenant together stay within its budget.

use crate::harness::{FULL_SECRET, Host, Listener, TestClock, assert_success, wait_for};
use std::time::Duration;
use wiz_sim::{SimConfig, Simulator};

/// An integration's last auto sync, if it had one.
fn last_auto_sync(host: &Host, name: &str) -> Option<serde_json::Value> {
    host.json(&["history", name])
        .into_iter()
        .find(|r| r["action"] == "auto_sync")
}

/// The status of an integration's last auto sync; empty before the first.
fn last_status(host: &Host, name: &str) -> String {
    last_auto_sync(host, name)
        .and_then(|r| r["status"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Runs `serve` until every integration of `names` has an auto sync that ended, all
/// due at once; `extra` are more `serve` arguments.
fn sync_together(host: &Host, names: &[&str], extra: &[&str]) {
    for name in names {
        host.ok(&["integration", "update", name, "--auto-sync-days", "1"]);
    }
    let clock = TestClock::new(host.dir(), "2030-01-01T00:00:00Z");
    let path = clock.path();
    let mut args = vec!["--max-concurrent-syncs", "4"];
    args.extend_from_slice(extra);
    let server = host.spawn(&Host::scheduler_args(&path, &args));
    wait_for(30, "every first schedule", || {
        let log = server.log_text();
        names
            .iter()
            .all(|n| log.contains(&format!("integration `{n}`: first auto sync at")))
    });
    clock.set("2030-01-01T01:15:00Z");
    wait_for(120, "every auto sync to end", || {
        names
            .iter()
            .all(|n| !matches!(last_status(host, n).as_str(), "" | "running"))
    });
    assert!(server.stop().success());
}

#[test]
fn a_flood_of_requests_keeps_few_in_flight_and_a_parallel_sync_runs() {
    let target = Listener::start("127.0.0.1:0", Duration::from_millis(300));
    let sim = Simulator::start(SimConfig::new(83, 200)).unwrap();
    let host = Host::new();
    host.add_hostile("flood", "request-flood", &target.url, &["count=96"]);
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &["page-size=20"]));

    sync_together(&host, &["flood", "w"], &[]);
    assert_eq!(
        last_status(&host, "w"),
        "succeeded",
        "the parallel sync ran"
    );
    let flood = last_auto_sync(&host, "flood").unwrap();
    assert!(
        flood["error"]
            .as_str()
            .is_some_and(|e| e.contains("96 of 96 flooded requests answered")),
        "every request was sent in its turn: {flood}"
    );
    let most_open = target.most_open();
    assert!(
        (2..=16).contains(&most_open),
        "at most 16 requests of the run were in flight at once, not {most_open}"
    );
}

/// Two integrations `a` and `b` flooding `target` with 15 requests each, synced together
/// with `pacing`: from the first request to the last, and how many came in the first
/// second.
fn two_floods(pacing: &[&str]) -> (Duration, usize) {
    let target = Listener::start("127.0.0.1:0", Duration::ZERO);
    let host = Host::new();
    for name in ["a", "b"] {
        host.add_hostile(name, "request-flood", &target.url, &["count=15"]);
    }
    sync_together(&host, &["a", "b"], pacing);
    let mut arrivals = target.arrivals();
    arrivals.sort();
    assert_eq!(arrivals.len(), 30, "both runs sent all they opened");
    let span = arrivals[arrivals.len() - 1].duration_since(arrivals[0]);
    let first_second = arrivals
        .iter()
        .filter(|a| a.duration_since(arrivals[0]) < Duration::from_millis(950))
        .count();
    (span, first_second)
}

#[test]
fn each_integration_is_paced_by_its_own_ceiling_not_by_the_host_it_shares() {
    // Without a ceiling per host (the default), two integrations of one SaaS host each
    // get their own 5 a second.
    let (span, first_second) = two_floods(&["--max-requests-per-second-per-integration", "5"]);
    // Each run: a second's worth at once, then 5 a second for its 10 left (2 s). Shared,
    // the 30 would take 5 s; unpaced, no time at all.
    assert!(
        span >= Duration::from_millis(1800) && span < Duration::from_millis(4500),
        "two runs of 15 at 5 a second each took {span:?}"
    );
    assert!(
        (8..=20).contains(&first_second),
        "{first_second} in the first second"
    );
}

#[test]
fn runs_to_one_destination_share_its_request_rate() {
    let (span, first_second) = two_floods(&["--max-requests-per-second-per-host", "5"]);
    // One second's worth at once, then 5 a second for the 25 left, whichever run sent
    // them; alone, each run would be done in 2 s.
    assert!(
        span >= Duration::from_millis(4500),
        "30 requests at 5 a second (after a burst of 5) took {span:?}"
    );
    assert!(first_second <= 10, "{first_second} in the first second");
}
