//! Every fault the Wiz API and the network throw: the connector retries what is
//! transient, fails clearly on what is not, the host keeps what was committed, and a
//! resume after the fault stores exactly what a clean sync stores.

use crate::harness::{FULL_SECRET, Host, assert_success};
use serde_json::Value;
use std::time::Duration;
use wiz_sim::faults::{Fault, FaultRule, Trigger};
use wiz_sim::{SimConfig, Simulator};

const SEED: u64 = 51;
const ISSUES: u64 = 500;
/// Small pages, few attempts and short waits keep each case to seconds.
const SETTINGS: [&str; 4] = [
    "page-size=50",
    "max-attempts=3",
    "max-retry-delay-s=1",
    "request-timeout-s=2",
];

/// What the first, faulty sync must do.
#[derive(Debug, PartialEq)]
enum First {
    /// Recover by itself (retries, token refresh).
    Succeeds,
    /// Fail, with this in its error.
    FailsWith(&'static str),
}

/// findings and assets as `w` stores them.
fn store_of(host: &Host) -> (Vec<Value>, Vec<Value>) {
    (host.json(&["findings", "w"]), host.json(&["assets", "w"]))
}

fn clean_store() -> (Vec<Value>, Vec<Value>) {
    clean_sync().0
}

/// A clean sync's store, and the GraphQL requests it took.
fn clean_sync() -> ((Vec<Value>, Vec<Value>), u64) {
    let sim = Simulator::start(SimConfig::new(SEED, ISSUES)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &SETTINGS));
    let before = sim.stats().graphql();
    host.ok(&["sync", "w"]);
    (store_of(&host), sim.stats().graphql() - before)
}

fn check(fault: Fault, trigger: Trigger, first: First) {
    let (clean, clean_requests) = clean_sync();
    let sim = Simulator::start(SimConfig::new(SEED, ISSUES)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &SETTINGS));
    sim.set_faults(vec![FaultRule::new(fault.clone(), trigger)]);
    let (requests_before, faults_before) = (sim.stats().graphql(), sim.stats().faults());
    let out = host.run(&["sync", "w"]);
    let (requests, delivered) = (
        sim.stats().graphql() - requests_before,
        sim.stats().faults() - faults_before,
    );
    assert!(
        delivered >= 1,
        "{fault:?}: the simulator never delivered it"
    );
    let run = &host.json(&["history", "w"])[0];
    match first {
        First::Succeeds => {
            assert!(
                out.status.success(),
                "{fault:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            // Each request a fault struck was sent again: a clean sync's requests plus
            // one per fault (more if the loaded machine made another request time out).
            assert!(
                requests >= clean_requests + delivered,
                "{fault:?}: {requests} GraphQL requests, a clean sync takes {clean_requests} \
                 and {delivered} were struck: a retry is missing"
            );
        }
        First::FailsWith(cause) => {
            assert!(!out.status.success(), "{fault:?} should fail the run");
            assert_eq!(run["status"], "failed", "{fault:?}");
            let error = run["error"].as_str().unwrap_or_default();
            assert!(
                error.contains(cause),
                "{fault:?}: history error `{error}` should name `{cause}`"
            );
            let kept = host.json(&["findings", "w"]).len();
            assert!(
                kept > 0,
                "{fault:?}: batches committed before the failure are kept"
            );
        }
    }
    sim.set_faults(vec![]);
    host.ok(&["sync", "w"]);
    assert_eq!(
        store_of(&host),
        clean,
        "{fault:?}: the store after the resume equals a clean sync's"
    );
}

/// The first request a fault may hit so that a batch is surely committed before it. The
/// connector reads no page's answer until the page before it is handed over, so at most
/// three GraphQL requests (the first page, its lookup and the next page's request) come
/// before that; the eighth leaves room for retries and a later change.
const AFTER_FIRST_BATCH: u64 = 8;

fn once() -> Trigger {
    Trigger::Nth(AFTER_FIRST_BATCH)
}

fn always() -> Trigger {
    Trigger::Run {
        from: AFTER_FIRST_BATCH,
        count: 1000,
    }
}

#[test]
fn rate_limited_with_retry_after_is_retried() {
    check(
        Fault::RateLimited {
            retry_after: Some(1),
        },
        once(),
        First::Succeeds,
    );
}

#[test]
fn rate_limited_without_retry_after_is_retried() {
    check(
        Fault::RateLimited { retry_after: None },
        once(),
        First::Succeeds,
    );
}

#[test]
fn server_errors_are_retried() {
    for status in [500, 502, 503] {
        check(Fault::ServerError { status }, once(), First::Succeeds);
    }
}

#[test]
fn a_reset_mid_body_is_retried() {
    check(Fault::ResetMidBody, once(), First::Succeeds);
}

#[test]
fn a_response_slower_than_the_timeout_is_retried() {
    check(Fault::Slow { millis: 3000 }, once(), First::Succeeds);
}

#[test]
fn a_401_on_a_stale_token_refreshes_it_once() {
    check(Fault::Unauthorized, once(), First::Succeeds);
}

#[test]
fn errors_beside_partial_data_fail_the_request_and_internal_ones_are_retried() {
    check(Fault::ErrorsWithPartialData, once(), First::Succeeds);
}

#[test]
fn persistent_throttling_and_outages_fail_after_bounded_retries() {
    check(
        Fault::RateLimited {
            retry_after: Some(1),
        },
        always(),
        First::FailsWith("rate limited"),
    );
    check(
        Fault::ServerError { status: 503 },
        always(),
        First::FailsWith("temporary failure"),
    );
    check(
        Fault::Unauthorized,
        always(),
        First::FailsWith("authentication failed"),
    );
}

#[test]
fn a_retry_after_longer_than_the_cap_fails_as_rate_limited_instead_of_retrying_early() {
    // max-retry-delay-s is 1: retrying after a second would break Wiz's request.
    check(
        Fault::RateLimited {
            retry_after: Some(30),
        },
        once(),
        First::FailsWith(
            "asked to wait 30 s before trying again, longer than max-retry-delay-s (1 s)",
        ),
    );
}

#[test]
fn a_body_that_trickles_in_times_out_as_a_whole() {
    // Each piece arrives well within the 2 s request timeout; the whole takes 6 s.
    check(
        Fault::Trickle { millis: 6000 },
        always(),
        First::FailsWith("no complete answer within 2 s"),
    );
}

#[test]
fn empty_pages_with_fresh_cursors_are_stopped() {
    check(
        Fault::EmptyPageWithFreshCursor,
        always(),
        First::FailsWith("empty pages in a row each said another page follows"),
    );
}

/// A stale token, a token endpoint that fails twice and an API that keeps failing: the
/// page is tried within one budget of `max-attempts`, not once per layer.
#[test]
fn attempts_stay_within_max_attempts_under_token_expiry_and_server_errors() {
    // One page of issues, so the page is the only request in flight.
    let sim = Simulator::start(SimConfig::new(SEED, 40)).unwrap();
    let host = Host::new();
    let settings = [
        "page-size=50",
        "max-attempts=5",
        "max-retry-delay-s=1",
        "request-timeout-s=2",
    ];
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &settings));
    sim.set_faults(vec![
        FaultRule::new(Fault::Unauthorized, Trigger::Nth(1)),
        FaultRule::new(
            Fault::ServerError { status: 503 },
            Trigger::Run {
                from: 2,
                count: 1000,
            },
        ),
        FaultRule::new(
            Fault::ServerError { status: 502 },
            Trigger::Run { from: 2, count: 2 },
        )
        .at_token_endpoint(),
    ]);
    let count = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let (graphql, tokens) = (
        count(&sim.stats().graphql_requests),
        count(&sim.stats().token_requests),
    );
    let out = host.run(&["sync", "w"]);
    assert!(!out.status.success());
    let run = &host.json(&["history", "w"])[0];
    assert!(run["error"].as_str().unwrap().contains("HTTP 503"), "{run}");
    // Failed tries: the 401, two token failures, two 503s = 5. Sent on top of them: the
    // first token and the fresh one.
    assert_eq!(
        count(&sim.stats().graphql_requests) - graphql,
        3,
        "GraphQL tries"
    );
    assert_eq!(
        count(&sim.stats().token_requests) - tokens,
        4,
        "token requests"
    );
}

#[test]
fn truncated_and_malformed_json_are_protocol_errors() {
    check(
        Fault::TruncatedJson,
        once(),
        First::FailsWith("unexpected answer"),
    );
    check(
        Fault::MalformedJson,
        once(),
        First::FailsWith("unexpected answer"),
    );
}

#[test]
fn json_of_the_wrong_shape_is_a_protocol_error_naming_the_page() {
    check(Fault::WrongShape, once(), First::FailsWith("page"));
}

#[test]
fn cursor_loops_are_detected_and_stopped() {
    // Issue pages and inventory lookups are in flight together, in either order, and at
    // most one lookup waits at once; six requests in a row include an issue page.
    let six = Trigger::Run {
        from: AFTER_FIRST_BATCH,
        count: 6,
    };
    check(
        Fault::RepeatedCursor,
        six.clone(),
        First::FailsWith("repeated"),
    );
    check(
        Fault::NextPageWithoutCursor,
        six,
        First::FailsWith("endCursor"),
    );
}

#[test]
fn an_inventory_refusing_the_scope_is_a_warning_not_a_failure() {
    let sim = Simulator::start(SimConfig::new(SEED, ISSUES)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &SETTINGS));
    sim.set_faults(vec![FaultRule::new(
        Fault::InventoryDenied,
        Trigger::Fraction {
            share: 1.0,
            seed: 1,
        },
    )]);
    host.ok(&["sync", "w"]);
    let run = &host.json(&["history", "w"])[0];
    assert_eq!(run["status"], "succeeded_with_warnings");
    assert_eq!(
        host.ids("findings", "w", "id"),
        sim.tenant().expected(false, &[]).findings
    );
}

#[test]
fn tokens_that_expire_mid_sync_are_renewed() {
    let mut config = SimConfig::new(SEED, ISSUES);
    config.token_lifetime = Duration::from_secs(1);
    config.latency = Duration::from_millis(150);
    let sim = Simulator::start(config).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &SETTINGS));
    let tokens_before = sim
        .stats()
        .token_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    host.ok(&["sync", "w"]);
    let tokens = sim
        .stats()
        .token_requests
        .load(std::sync::atomic::Ordering::Relaxed)
        - tokens_before;
    assert!(
        tokens >= 2,
        "a sync of several seconds with 1 s tokens renews them ({tokens} token requests)"
    );
    assert_eq!(store_of(&host), clean_store());
}

/// Seconds from the first arrival at the simulator to each arrival.
fn seconds_since_first(arrivals: &[std::time::Instant]) -> Vec<f64> {
    let first = arrivals[0];
    arrivals
        .iter()
        .map(|a| a.duration_since(first).as_secs_f64())
        .collect()
}

/// The most arrivals within any `window` seconds.
fn peak_within(times: &[f64], window: f64) -> usize {
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| *t - times[i] < window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// The connector promises that its requests start at least 1/rate apart. Measured where
/// they arrive, at the simulator, a request may be late by the time it spends in the
/// sandbox and the network stack while the next is not: any `window` seconds hold at
/// most rate × window starts, plus one for the window's edge and `jitter` × rate for
/// requests a loaded machine delayed into it.
fn most_arrivals_allowed(rate: f64, window: f64, jitter: f64) -> usize {
    (rate * (window + jitter)).floor() as usize + 1
}

#[test]
fn the_default_request_rate_ceiling_is_never_exceeded() {
    let sim = Simulator::start(SimConfig::new(SEED, 300)).unwrap();
    let host = Host::new();
    // The default ceiling, 3 a second (set explicitly: the harness raises it for speed).
    assert_success(&host.add_wiz(
        "w",
        &sim,
        "sim-client",
        FULL_SECRET,
        &["page-size=25", "max-requests-per-second=3"],
    ));
    let before = sim.stats().arrivals().len();
    host.ok(&["sync", "w"]);
    let times = seconds_since_first(&sim.stats().arrivals()[before..]);
    assert!(
        times.len() >= 20,
        "enough requests to measure ({})",
        times.len()
    );
    // Over five-second windows, with half a second of lateness allowed: at most 17.
    let peak = peak_within(&times, 5.0);
    assert!(
        peak <= most_arrivals_allowed(3.0, 5.0, 0.5),
        "{peak} requests within five seconds at 3 a second: {times:?}"
    );
    // And over the whole sync, on average, no more than 3 a second.
    let span = times.last().unwrap();
    let average = (times.len() - 1) as f64 / span;
    assert!(average <= 3.0, "{average:.2} requests a second: {times:?}");
    // Yet the ceiling is what paces them, not something slower: close to 3 a second.
    assert!(average >= 2.0, "{average:.2} requests a second: {times:?}");

    // A higher ceiling is honoured too, and lets more through.
    assert_success(&host.add_wiz(
        "fast",
        &sim,
        "sim-client",
        FULL_SECRET,
        &["page-size=25", "max-requests-per-second=20"],
    ));
    let before = sim.stats().arrivals().len();
    host.ok(&["sync", "fast"]);
    let times = seconds_since_first(&sim.stats().arrivals()[before..]);
    let peak = peak_within(&times, 1.0);
    assert!(
        peak > most_arrivals_allowed(3.0, 1.0, 0.5)
            && peak <= most_arrivals_allowed(20.0, 1.0, 0.5),
        "peak {peak} in a second at 20 a second: {times:?}"
    );
}

#[test]
fn kill_9_mid_sync_loses_nothing_and_doubles_nothing() {
    let sim = Simulator::start(SimConfig::new(SEED, ISSUES)).unwrap();
    let host = Host::new();
    // A held page must not time out and be sent again while the test acts.
    let settings = ["page-size=50", "max-attempts=3", "request-timeout-s=60"];
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &settings));
    // The fourth issue page is held: three pages are read, and the sync waits there.
    let gate = sim.hold_issue_page(4);
    // A short lease, so the sync after the kill need not wait a minute for it.
    let sync = host.spawn(&["--lease-ttl-s", "2", "sync", "w"]);
    gate.wait_reached(Duration::from_secs(60), "the fourth issue page");
    crate::harness::wait_for(60, "two committed pages", || {
        host.json(&["findings", "w"]).len() >= 100
    });
    drop(sync); // SIGKILL, while the sync waits for its fourth page
    gate.open();
    let partial = host.json(&["findings", "w"]).len();
    let (clean, _) = clean_sync();
    assert!(partial < clean.0.len(), "{partial} of {}", clean.0.len());
    let history = host.json(&["history", "w"]);
    assert_eq!(
        history[0]["status"], "running",
        "the killed run is in the history, unfinished: {history:?}"
    );
    let refused = host.fails(&["sync", "w"]);
    assert!(
        refused.contains("already syncing") && refused.contains("lease lapses"),
        "until its lease lapses, the killed run's integration is busy: {refused}"
    );
    std::thread::sleep(Duration::from_millis(2500));
    host.ok(&["sync", "w"]);
    let history = host.json(&["history", "w"]);
    let killed = &history[1];
    assert_eq!(killed["status"], "failed", "{killed}");
    assert!(
        killed["error"].as_str().unwrap().contains("interrupted"),
        "{killed}"
    );
    assert_eq!(history[0]["status"], "succeeded");
    assert_eq!(
        store_of(&host),
        clean,
        "after a crash and a resume the store equals a clean sync's"
    );
    let db = rusqlite::Connection::open(host.db()).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
