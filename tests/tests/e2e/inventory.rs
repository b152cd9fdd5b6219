//! The shared inventory: import, Auto Onboard New Assets on and off, Update Existing
//! Asset Metadata on and off.

use crate::harness::{FULL_SECRET, Host, assert_success};
use serde_json::json;
use std::collections::BTreeSet;
use wiz_sim::{SimConfig, Simulator};

const SEED: u64 = 31;
const ISSUES: u64 = 300;

fn sorted(values: impl IntoIterator<Item = String>) -> Vec<String> {
    values
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[test]
fn onboarding_and_metadata_policies_over_an_imported_inventory() {
    let sim = Simulator::start(SimConfig::new(SEED, ISSUES)).unwrap();
    let tenant = sim.tenant();
    let expected = tenant.expected(true, &[]);
    let host = Host::new();

    // Three resources the sync will report, known from elsewhere, plus one it will not.
    let resources: Vec<_> = (0..tenant.resources())
        .map(|r| tenant.resource(r))
        .filter(|r| expected.assets.contains(&r.id))
        .take(3)
        .collect();
    let mut rows: Vec<_> = resources
        .iter()
        .enumerate()
        .map(|(n, r)| json!({"provider_id": r.provider_id, "name": format!("imported-{n}"), "asset_type": "Imported", "cloud_platform": r.platform, "tags": {"source": "cmdb"}}))
        .collect();
    rows.push(json!({"provider_id": "arn:aws:s3:::not-in-wiz", "name": "unrelated"}));
    let file = host.dir().join("inventory.json");
    std::fs::write(&file, serde_json::to_string(&rows).unwrap()).unwrap();
    let out = host.ok(&["assets", "import", file.to_str().unwrap()]);
    assert!(out.contains("imported 4 asset(s)"), "{out}");
    assert!(
        host.ok(&["assets", "import", file.to_str().unwrap()])
            .contains("imported 0 asset(s)"),
        "re-import adds nothing"
    );

    // A bad row stops the whole file.
    let bad = host.dir().join("bad.csv");
    std::fs::write(
        &bad,
        "provider_id,name,tags\narn:aws:s3:::fine,fine,env=prod\n,missing-id,\n",
    )
    .unwrap();
    let stderr = host.fails(&["assets", "import", bad.to_str().unwrap()]);
    assert!(
        stderr.contains("row 2") && stderr.contains("provider_id"),
        "{stderr}"
    );
    assert_eq!(
        host.json(&["assets"]).len(),
        4,
        "nothing from a bad file is imported"
    );

    // Onboarding off: only the known assets, and only their findings.
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[]));
    host.ok(&["integration", "update", "w", "--no-auto-onboard"]);
    host.ok(&["sync", "w"]);
    let known: Vec<String> = sorted(resources.iter().map(|r| r.id.clone()));
    assert_eq!(host.ids("assets", "w", "id"), known);
    assert_eq!(host.json(&["assets"]).len(), 4, "no asset was onboarded");
    let on_known: Vec<String> = sorted(
        (0..ISSUES)
            .map(|i| tenant.issue(i))
            .filter(|i| {
                expected.findings.contains(&i.id) && known.contains(&tenant.resource(i.resource).id)
            })
            .map(|i| i.id),
    );
    assert!(!on_known.is_empty());
    assert_eq!(host.ids("findings", "w", "id"), on_known);
    let run = &host.json(&["history", "w"])[0];
    assert_eq!(run["assets_skipped"], expected.assets.len() - 3);
    assert!(
        run["findings_skipped"].as_u64().unwrap()
            >= (expected.findings.len() - on_known.len()) as u64
    );
    // Metadata off: the imported names stay; the integration is recorded as a reporter.
    for a in host.json(&["assets", "w"]) {
        assert!(a["name"].as_str().unwrap().starts_with("imported-"), "{a}");
        assert_eq!(a["integrations"], json!(["w"]));
    }

    // Metadata on: the source's metadata replaces the imported one.
    host.ok(&["integration", "update", "w", "--update-metadata"]);
    host.ok(&["sync", "w"]);
    assert_eq!(host.json(&["history", "w"])[0]["assets_updated"], 3);
    for a in host.json(&["assets", "w"]) {
        let r = resources.iter().find(|r| a["id"] == r.id.as_str()).unwrap();
        assert_eq!(a["name"], r.name);
        assert_eq!(a["asset_type"], r.technology);
    }

    // Onboarding on: everything the source reports joins the inventory.
    host.ok(&[
        "integration",
        "update",
        "w",
        "--auto-onboard",
        "--no-update-metadata",
    ]);
    host.ok(&["sync", "w"]);
    assert_eq!(host.ids("assets", "w", "id"), expected.assets);
    assert_eq!(host.ids("findings", "w", "id"), expected.findings);
    assert_eq!(host.json(&["assets"]).len(), expected.assets.len() + 1);
    let changes: Vec<_> = host
        .json(&["history", "w"])
        .into_iter()
        .filter(|r| r["action"] == "config_change")
        .map(|r| r["details"].clone())
        .collect();
    assert_eq!(changes[0], "changed: auto-onboard, update-metadata");
}

#[test]
fn two_integrations_reporting_one_resource_share_one_asset() {
    let sim = Simulator::start(SimConfig::new(SEED, 120)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("a", &sim, "sim-client", FULL_SECRET, &[]));
    assert_success(&host.add_wiz("b", &sim, "sim-client", FULL_SECRET, &[]));
    host.ok(&["sync", "a"]);
    host.ok(&["sync", "b"]);
    let inventory = host.json(&["assets"]);
    assert_eq!(
        inventory.len(),
        host.json(&["assets", "a"]).len(),
        "one inventory asset per resource"
    );
    assert!(
        inventory
            .iter()
            .all(|a| a["integrations"] == json!(["a", "b"]))
    );
    assert_eq!(
        host.json(&["history", "b"])[0]["assets_onboarded"],
        0,
        "b found them all in the inventory"
    );
}
