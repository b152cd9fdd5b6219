//! Incremental syncs store the same as full ones after every kind of change in Wiz, and
//! only a complete full sync closes findings the source no longer returns.

use crate::harness::{FULL_SECRET, Host, assert_success};
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::Duration;
use wiz_sim::{SimConfig, Simulator, Tenant};

const SEED: u64 = 41;
const ISSUES: u64 = 600;

/// Syncs `inc` incrementally and `full` with --full; both must store the same.
fn sync_both_and_compare(host: &Host, sim: &Simulator, change: &str) -> (Value, Value) {
    let before = sim.stats().graphql_requests.load(Ordering::Relaxed);
    host.ok(&["sync", "inc"]);
    let incremental_requests = sim.stats().graphql_requests.load(Ordering::Relaxed) - before;
    let before = sim.stats().graphql_requests.load(Ordering::Relaxed);
    host.ok(&["sync", "full", "--full"]);
    let full_requests = sim.stats().graphql_requests.load(Ordering::Relaxed) - before;
    assert!(
        incremental_requests < full_requests,
        "{change}: the incremental sync reads only the changes ({incremental_requests} vs {full_requests} requests)"
    );
    assert_eq!(
        host.findings_of("inc"),
        host.findings_of("full"),
        "after {change}"
    );
    assert_eq!(
        host.ids("assets", "inc", "id"),
        host.ids("assets", "full", "id"),
        "after {change}"
    );
    (
        host.json(&["history", "inc"])[0].clone(),
        host.json(&["history", "full"])[0].clone(),
    )
}

#[test]
fn incremental_equals_full_after_each_kind_of_change() {
    let sim = Simulator::start(SimConfig::new(SEED, ISSUES)).unwrap();
    let tenant = sim.tenant();
    let expected = tenant.expected(true, &[]);
    let host = Host::new();
    for name in ["inc", "full"] {
        assert_success(&host.add_wiz(name, &sim, "sim-client", FULL_SECRET, &["page-size=100"]));
        host.ok(&["sync", name]);
    }
    assert_eq!(host.findings_of("inc"), host.findings_of("full"));
    let in_scope = |status: &str| {
        (0..ISSUES)
            .find(|i| {
                tenant.issue(*i).status == status
                    && expected.findings.contains(&tenant.issue(*i).id)
            })
            .unwrap()
    };

    sim.set_issue_status(in_scope("OPEN"), "IN_PROGRESS", None);
    let (inc, _) = sync_both_and_compare(&host, &sim, "a status change");
    assert_eq!(inc["findings_updated"], 1, "{inc}");
    assert_eq!(inc["findings_new"], 0);

    let resolved = in_scope("IN_PROGRESS");
    sim.set_issue_status(resolved, "RESOLVED", Some("ISSUE_FIXED"));
    sync_both_and_compare(&host, &sim, "a resolve");
    let f = host
        .findings_of("inc")
        .into_iter()
        .find(|f| f["id"] == tenant.issue(resolved).id.as_str())
        .unwrap();
    assert_eq!(f["status"], "passed");

    let ignored = (0..ISSUES)
        .rev()
        .find(|i| {
            tenant.issue(*i).status == "OPEN" && expected.findings.contains(&tenant.issue(*i).id)
        })
        .unwrap();
    sim.set_issue_status(ignored, "REJECTED", Some("EXCEPTION"));
    sync_both_and_compare(&host, &sim, "an ignore");
    let f = host
        .findings_of("inc")
        .into_iter()
        .find(|f| f["id"] == tenant.issue(ignored).id.as_str())
        .unwrap();
    assert_eq!(f["status"], "accepted_failed");

    let added = sim.add_issues(12);
    let (inc, _) = sync_both_and_compare(&host, &sim, "new issues");
    assert!(inc["findings_new"].as_u64().unwrap() > 0, "{inc}");
    assert!(added.end > ISSUES);

    // Delete a resource that has stored findings: they close, in both.
    let stored: Vec<String> = host.ids("findings", "inc", "id");
    let victim = (0..ISSUES)
        .map(|i| tenant.issue(i))
        .find(|i| stored.contains(&i.id))
        .unwrap();
    sim.delete_resource(victim.resource);
    let (inc, full) = sync_both_and_compare(&host, &sim, "a deleted resource");
    assert!(inc["findings_closed"].as_u64().unwrap() >= 1, "{inc}");
    assert_eq!(inc["findings_closed"], full["findings_closed"]);
    let f = host
        .findings_of("inc")
        .into_iter()
        .find(|f| f["id"] == victim.id.as_str())
        .unwrap();
    assert_eq!(f["status"], "passed");
    assert_eq!(f["closed_reason"], "removed_at_source");
}

#[test]
fn only_a_complete_full_sync_closes_vanished_findings() {
    let sim = Simulator::start(SimConfig::new(SEED, 400)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("p", &sim, "sim-client", FULL_SECRET, &["page-size=50"]));
    host.ok(&["sync", "p"]);
    let tenant = Tenant {
        seed: SEED,
        issues: 400,
    };
    let stored = host.ids("findings", "p", "id");
    // Issues that vanish from the API without a status change.
    sim.purge_issues(0..100);
    let vanished = (0..100)
        .map(|i| tenant.issue(i).id)
        .filter(|id| stored.contains(id))
        .count();
    assert!(vanished > 0);

    // An incremental run closes nothing.
    host.ok(&["sync", "p"]);
    assert_eq!(host.json(&["history", "p"])[0]["findings_closed"], 0);
    // A failed full run closes nothing.
    sim.set_latency(Duration::from_millis(400));
    host.fails(&["sync", "p", "--full", "--run-timeout-s", "1"]);
    let failed = &host.json(&["history", "p"])[0];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["findings_closed"], 0);
    assert!(
        host.json(&["findings", "p"])
            .iter()
            .all(|f| f["closed_reason"].is_null())
    );
    // A complete full run closes exactly the ones it did not see.
    sim.set_latency(Duration::ZERO);
    host.ok(&["sync", "p", "--full"]);
    assert_eq!(host.json(&["history", "p"])[0]["findings_closed"], vanished);
    let closed: Vec<Value> = host
        .json(&["findings", "p"])
        .into_iter()
        .filter(|f| f["closed_reason"] == "removed_at_source")
        .collect();
    assert_eq!(closed.len(), vanished);
    assert!(closed.iter().all(|f| f["status"] == "passed"));

    // Changing what is read makes the next sync full.
    let out = host.ok(&[
        "integration",
        "update",
        "p",
        "--set",
        &format!("project-ids={}", wiz_sim::data::PROJECTS[1].0),
        "--no-test",
    ]);
    assert!(out.contains("the next sync is full"), "{out}");
}

#[test]
fn a_finding_the_host_refuses_stays_open_through_a_full_sync() {
    let sim = Simulator::start(SimConfig::new(SEED + 3, 120)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("r", &sim, "sim-client", FULL_SECRET, &["page-size=50"]));
    host.ok(&["sync", "r"]);
    let skipped_before = host.json(&["history", "r"])[0]["findings_skipped"]
        .as_u64()
        .unwrap();
    let tenant = sim.tenant();
    let stored = host.findings_of("r");
    // An open issue with a rule, whose description its author then makes too long to keep.
    let (index, before) = (0..tenant.issues)
        .find_map(|i| {
            let issue = tenant.issue(i);
            let f = stored.iter().find(|f| f["id"] == issue.id.as_str())?;
            (issue.rules > 0 && f["status"] == "failed").then(|| (i, f.clone()))
        })
        .expect("an open issue with a rule");
    sim.set_description(
        index,
        &"x".repeat(connector_host::policy::screen::MAX_LONG_BYTES + 1),
    );

    host.ok(&["sync", "r", "--full"]);
    let run = &host.json(&["history", "r"])[0];
    assert_eq!(run["status"], "succeeded_with_warnings", "{run}");
    assert_eq!(run["findings_closed"], 0, "{run}");
    assert_eq!(run["findings_skipped"], skipped_before + 1, "{run}");
    let warnings = run["warnings"].to_string();
    assert!(
        warnings.contains(before["id"].as_str().unwrap()) && warnings.contains("`description`"),
        "the warning names the finding and the field: {warnings}"
    );
    let after = host
        .findings_of("r")
        .into_iter()
        .find(|f| f["id"] == before["id"])
        .unwrap();
    assert_eq!(after["status"], "failed", "still open: {after}");
    assert!(after["closed_reason"].is_null(), "{after}");
    assert_eq!(
        after["description"], before["description"],
        "kept as last stored"
    );
}

#[test]
fn a_settings_change_during_a_sync_makes_the_next_sync_full() {
    let sim = Simulator::start(SimConfig::new(SEED + 9, 60)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &["page-size=10"]));
    host.ok(&["sync", "w"]);
    // The second sync is held at its second page while the settings change under it.
    let gate = sim.hold_issue_page(2);
    let running = host.spawn(&["sync", "w", "--full"]);
    gate.wait_reached(Duration::from_secs(60), "the second sync's second page");
    let updated = host.ok(&[
        "integration",
        "update",
        "w",
        "--set",
        "page-size=20",
        "--no-test",
    ]);
    assert!(updated.contains("the next sync is full"), "{updated}");
    gate.open();
    crate::harness::wait_for(60, "the sync to end", || {
        host.json(&["history", "w"])
            .iter()
            .all(|r| r["status"] != "running")
    });
    drop(running);
    let run = host
        .json(&["history", "w"])
        .into_iter()
        .find(|r| r["action"] == "sync_now" && r["status"] != "running")
        .unwrap();
    let warnings = run["warnings"].to_string();
    assert!(
        warnings.contains("settings changed while this sync ran"),
        "{run}"
    );

    // The next sync reads all 60 issues (3 pages of 20), not the changes since the
    // watermark the running sync would have put back (one empty page).
    let pages = || sim.stats().issue_pages.load(Ordering::Relaxed);
    let before = pages();
    host.ok(&["sync", "w"]);
    assert_eq!(pages() - before, 3, "a full read with the new page size");
}
