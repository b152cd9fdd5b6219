//! The source is the truth for status, and the views' filters.

use crate::harness::{FULL_SECRET, Host, assert_success};
use serde_json::Value;
use wiz_sim::{SimConfig, Simulator};

const SEED: u64 = 21;
const ISSUES: u64 = 300;

fn synced() -> (Simulator, Host) {
    let sim = Simulator::start(SimConfig::new(SEED, ISSUES)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[]));
    host.ok(&["sync", "w"]);
    (sim, host)
}

fn finding(host: &Host, id: &str) -> Value {
    host.json(&["findings", "w"])
        .into_iter()
        .find(|f| f["id"] == id)
        .expect("finding stored")
}

#[test]
fn status_comes_back_from_the_source_and_ignored_means_accepted_failed() {
    let (sim, host) = synced();
    let tenant = sim.tenant();
    let expected = tenant.expected(true, &[]);
    let index = (0..ISSUES)
        .find(|i| {
            tenant.issue(*i).status == "OPEN" && expected.findings.contains(&tenant.issue(*i).id)
        })
        .unwrap();
    let id = tenant.issue(index).id;

    let out = host.run(&[
        "findings",
        "set-status",
        &id,
        "accepted_failed",
        "--reason",
        "risk accepted",
    ]);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("source of truth") && stderr.contains("next sync"),
        "{stderr}"
    );
    assert_eq!(finding(&host, &id)["status"], "accepted_failed");

    host.ok(&["sync", "w"]);
    assert_eq!(
        finding(&host, &id)["status"],
        "failed",
        "the sync restores the source's status"
    );
    assert_eq!(host.json(&["history", "w"])[0]["findings_updated"], 1);

    sim.set_issue_status(index, "REJECTED", Some("WONT_FIX"));
    host.ok(&["sync", "w"]);
    let f = finding(&host, &id);
    assert_eq!(
        f["status"], "accepted_failed",
        "ignored in Wiz is accepted failed"
    );
    assert_eq!(f["source_status"], "REJECTED");

    let stderr = host.fails(&[
        "findings",
        "set-status",
        "no-such-id",
        "passed",
        "--reason",
        "x",
    ]);
    assert!(
        stderr.contains("finding `no-such-id` not found"),
        "{stderr}"
    );
    let out = host.run(&["findings", "set-status", &id, "ignored", "--reason", "x"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("accepted_failed")
    );
}

#[test]
fn filters_counts_details_and_the_whole_inventory() {
    let (sim, host) = synced();
    let all = host.json(&["findings", "w"]);
    let pick = |args: &[&str]| {
        let mut full = vec!["findings", "w"];
        full.extend_from_slice(args);
        host.json(&full)
    };
    let severe = pick(&["--severity", "critical,high"]);
    assert_eq!(
        severe.len(),
        all.iter()
            .filter(|f| f["severity"] == "critical" || f["severity"] == "high")
            .count()
    );
    assert!(
        !severe.is_empty()
            && severe
                .iter()
                .all(|f| f["severity"] == "critical" || f["severity"] == "high")
    );
    let passed = pick(&["--status", "passed"]);
    assert!(!passed.is_empty() && passed.iter().all(|f| f["status"] == "passed"));
    let asset = all[0]["asset_id"].as_str().unwrap();
    let on_asset = pick(&["--asset", asset]);
    assert!(!on_asset.is_empty() && on_asset.iter().all(|f| f["asset_id"] == asset));
    assert!(pick(&["--since", "2099-01-01"]).is_empty());
    assert_eq!(pick(&["--since", "2000-01-01T00:00:00Z"]).len(), all.len());
    let table = host.ok(&["findings", "w"]);
    let critical = all.iter().filter(|f| f["severity"] == "critical").count();
    assert!(
        table.contains(&format!("{} finding(s)", all.len()))
            && table.contains(&format!("critical: {critical}")),
        "{table}"
    );
    let out = host.run(&["findings", "w", "--severity", "urgent"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("possible values")
    );

    let with_fix = all
        .iter()
        .find(|f| f["remediation"].is_string())
        .expect("a finding with remediation");
    let id = with_fix["id"].as_str().unwrap();
    let text = host.ok(&["finding", "show", id]);
    assert!(
        text.contains("Remediation") && text.contains(with_fix["remediation"].as_str().unwrap()),
        "{text}"
    );
    let detail: Value = serde_json::from_str(&host.ok(&["finding", "show", id, "--json"])).unwrap();
    assert_eq!(detail["raw"]["id"], id, "the source record");
    assert!(detail["raw"]["entitySnapshot"].is_object());

    let vms = host.json(&["assets", "w", "--type", "virtual machine"]);
    assert!(!vms.is_empty() && vms.iter().all(|a| a["asset_type"] == "Virtual Machine"));
    let aws = host.json(&["assets", "w", "--cloud", "aws"]);
    assert!(!aws.is_empty() && aws.iter().all(|a| a["cloud_platform"] == "AWS"));

    assert_success(&host.add_wiz("second", &sim, "sim-issues-only", "sim-secret-issues", &[]));
    host.ok(&["sync", "second"]);
    let inventory = host.json(&["assets"]);
    for name in ["w", "second"] {
        assert!(
            inventory.iter().any(|a| a["integrations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i == name)),
            "{name} in the inventory"
        );
    }
}
