//! Several workers on one PostgreSQL store: what holds whatever their clocks say.

use crate::harness::{FULL_SECRET, Host, assert_success};
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
