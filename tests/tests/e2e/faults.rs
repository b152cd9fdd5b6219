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
    let sim = Simulator::start(SimConfig::new(SEED, ISSUES)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &SETTINGS));
    host.ok(&["sync", "w"]);
    store_of(&host)
}

fn check(fault: Fault, trigger: Trigger, first: First) {
    let sim = Simulator::start(SimConfig::new(SEED, ISSUES)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &SETTINGS));
    sim.set_faults(vec![FaultRule {
        fault: fault.clone(),
        trigger,
    }]);
    let out = host.run(&["sync", "w"]);
    eprintln!(
        "DEBUG requests {}",
        sim.stats()
            .graphql_requests
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    let run = &host.json(&["history", "w"])[0];
    match first {
        First::Succeeds => assert!(
            out.status.success(),
            "{fault:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
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
        clean_store(),
        "{fault:?}: the store after the resume equals a clean sync's"
    );
}

fn once() -> Trigger {
    Trigger::Nth(5)
}

fn always() -> Trigger {
    Trigger::Run {
        from: 5,
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
    check(Fault::RepeatedCursor, once(), First::FailsWith("repeated"));
    check(
        Fault::NextPageWithoutCursor,
        once(),
        First::FailsWith("endCursor"),
    );
}

#[test]
fn an_inventory_refusing_the_scope_is_a_warning_not_a_failure() {
    let sim = Simulator::start(SimConfig::new(SEED, ISSUES)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &SETTINGS));
    sim.set_faults(vec![FaultRule {
        fault: Fault::InventoryDenied,
        trigger: Trigger::Fraction {
            share: 1.0,
            seed: 1,
        },
    }]);
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
