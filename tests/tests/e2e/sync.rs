//! Full syncs: exactly the simulator's in-scope data is stored, a repeat changes
//! nothing, and a project filter limits what is stored.

use crate::harness::{FULL_SECRET, Host, assert_success};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use wiz_sim::data::PROJECTS;
use wiz_sim::{SimConfig, Simulator, Tenant};

const ISSUES: u64 = 900;
const SEED: u64 = 11;

fn tenant() -> Tenant {
    Tenant {
        seed: SEED,
        issues: ISSUES,
    }
}

#[test]
fn multi_page_sync_stores_exactly_the_in_scope_data_and_a_repeat_changes_nothing() {
    let sim = Simulator::start(SimConfig::new(SEED, ISSUES)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &["page-size=100"]));
    let before = sim.stats().graphql_requests.load(Ordering::Relaxed);
    let summary = host.ok(&["sync", "w"]);
    let pages = sim.stats().graphql_requests.load(Ordering::Relaxed) - before;
    assert!(
        pages >= 3 * 2,
        "at least 3 issue pages (plus inventory lookups), saw {pages} requests"
    );

    let expected = tenant().expected(true, &[]);
    assert!(
        expected.findings.len() > 300,
        "the tenant is big enough for several pages"
    );
    assert_eq!(host.ids("findings", "w", "id"), expected.findings);
    assert_eq!(host.ids("assets", "w", "id"), expected.assets);
    assert!(
        summary.contains(&format!("{} new", expected.findings.len())),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("{} onboarded", expected.assets.len())),
        "{summary}"
    );

    // Field mapping, checked against the simulator's own records.
    let findings = host.json(&["findings", "w"]);
    let by_id: HashMap<&str, &Value> = findings
        .iter()
        .map(|f| (f["id"].as_str().unwrap(), f))
        .collect();
    for i in 0..ISSUES {
        let issue = tenant().issue(i);
        let Some(f) = by_id.get(issue.id.as_str()) else {
            continue;
        };
        assert_eq!(f["severity"], issue.severity.to_ascii_lowercase());
        assert_eq!(f["source_status"], issue.status);
        let status = match issue.status {
            "OPEN" | "IN_PROGRESS" => "failed",
            "RESOLVED" => "passed",
            _ => "accepted_failed",
        };
        assert_eq!(f["status"], status, "{}", issue.id);
        assert_eq!(f["asset_id"], tenant().resource(issue.resource).id);
        // Title, rule and remediation come from the first of `sourceRules`.
        let node = tenant().issue_node(i);
        let rule = &node["sourceRules"][0];
        let remediation = rule["resolutionRecommendation"]
            .as_str()
            .or(rule["remediationInstructions"].as_str());
        assert_eq!(f["remediation"].as_str(), remediation, "{}", issue.id);
        let fallback = format!("Wiz issue {}", issue.id);
        assert_eq!(
            f["title"].as_str(),
            Some(rule["name"].as_str().unwrap_or(&fallback)),
            "{}",
            issue.id
        );
        assert_eq!(f["rule_id"], rule["id"], "{}", issue.id);
        // Wiz's own link when it sends one, else the documented form.
        let built = format!("https://app.wiz.io/issues#~(issue~'{})", issue.id);
        assert_eq!(
            f["portal_url"].as_str(),
            Some(node["url"].as_str().unwrap_or(&built)),
            "{}",
            issue.id
        );
        // Null project entries are skipped.
        let projects: Vec<&str> = node["projects"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["id"].as_str())
            .collect();
        assert_eq!(
            f["project_ids"],
            serde_json::json!(projects),
            "{}",
            issue.id
        );
    }
    // The tenant has every current shape, and the rules hold on each.
    let nodes: Vec<Value> = (0..ISSUES).map(|i| tenant().issue_node(i)).collect();
    let stored = |n: &Value| by_id.contains_key(n["id"].as_str().unwrap());
    let in_scope = |n: &Value| {
        ["CRITICAL", "HIGH", "MEDIUM", "LOW"].contains(&n["severity"].as_str().unwrap())
            && n["resolutionReason"] != "OBJECT_DELETED"
    };
    let threat = |n: &Value| n["type"] == "THREAT_DETECTION";
    let threats_on_aws: Vec<&Value> = nodes
        .iter()
        .filter(|n| threat(n) && stored(n))
        .filter(|n| n["entitySnapshot"]["cloudPlatform"] == "AWS")
        .collect();
    assert!(
        !threats_on_aws.is_empty(),
        "threat detections on AWS are stored"
    );
    for n in threats_on_aws {
        let f = by_id[n["id"].as_str().unwrap()];
        assert_eq!(n["sourceRules"][0]["__typename"], "CloudEventRule");
        assert_eq!(
            f["title"], n["sourceRules"][0]["name"],
            "named after the event rule"
        );
        assert!(f["remediation"].is_null());
    }
    for platform in [Value::from("Wiz"), Value::from("Kubernetes"), Value::Null] {
        let on_platform: Vec<&Value> = nodes
            .iter()
            .filter(|n| threat(n) && in_scope(n))
            .filter(|n| n["entitySnapshot"]["cloudPlatform"] == platform)
            .collect();
        assert!(!on_platform.is_empty(), "threat detections on {platform}");
        assert!(
            on_platform.iter().all(|n| !stored(n)),
            "threat detections on {platform} are skipped"
        );
    }
    /// A shape of issue node the simulator serves.
    type Shape = fn(&Value) -> bool;
    let shapes: [(&str, Shape); 4] = [
        ("no rule", |n| n["sourceRules"].is_null()),
        ("two rules", |n| {
            n["sourceRules"].as_array().is_some_and(|r| r.len() == 2)
        }),
        ("a null project entry", |n| {
            n["projects"]
                .as_array()
                .is_some_and(|p| p.contains(&Value::Null))
        }),
        ("Wiz's own url", |n| n["url"].is_string()),
    ];
    for (shape, has) in shapes {
        assert!(
            nodes.iter().any(|n| has(n) && stored(n)),
            "a stored issue with {shape}"
        );
    }
    let assets = host.json(&["assets", "w"]);
    for a in &assets {
        let r = (0..tenant().resources())
            .map(|r| tenant().resource(r))
            .find(|r| a["id"] == r.id.as_str())
            .unwrap();
        assert_eq!(
            a["asset_type"], r.technology,
            "technologies become the asset type"
        );
        assert_eq!(a["cloud_platform"], r.platform);
        assert_eq!(a["provider_id"], r.provider_id);
    }

    // The same data again: nothing new, nothing updated, nothing lost.
    host.ok(&["sync", "w"]);
    assert_eq!(host.json(&["findings", "w"]), findings);
    assert_eq!(host.json(&["assets", "w"]), assets);
    let history = host.json(&["history", "w"]);
    let latest = &history[0];
    assert_eq!(latest["action"], "sync_now");
    assert_eq!(latest["status"], "succeeded");
    assert_eq!(latest["findings_new"], 0);
    assert_eq!(latest["findings_updated"], 0);
    assert_eq!(latest["assets_onboarded"], 0);
    assert_eq!(latest["assets_updated"], 0);
    assert!(latest["finished_at"].is_string() && latest["error"].is_null());
    // A full re-read of the same data changes nothing either, and sees every finding.
    host.ok(&["sync", "w", "--full"]);
    assert_eq!(host.json(&["findings", "w"]), findings);
    let full = &host.json(&["history", "w"])[0];
    assert_eq!(full["findings_unchanged"], expected.findings.len());
    assert_eq!(
        (
            full["findings_new"].clone(),
            full["findings_updated"].clone(),
            full["findings_closed"].clone()
        ),
        (0.into(), 0.into(), 0.into())
    );
    assert_eq!(
        host.json(&["history", "w"]).len(),
        4,
        "test_connection, three syncs"
    );
}

#[test]
fn project_filter_limits_what_is_stored() {
    let sim = Simulator::start(SimConfig::new(SEED, ISSUES)).unwrap();
    let host = Host::new();
    let project = PROJECTS[1].0;
    assert_success(&host.add_wiz(
        "p",
        &sim,
        "sim-client",
        FULL_SECRET,
        &[&format!("project-ids={project}")],
    ));
    host.ok(&["sync", "p"]);
    let expected = tenant().expected(true, &[project]);
    let all = tenant().expected(true, &[]);
    assert!(!expected.findings.is_empty() && expected.findings.len() < all.findings.len());
    assert_eq!(host.ids("findings", "p", "id"), expected.findings);
    assert_eq!(host.ids("assets", "p", "id"), expected.assets);

    // Two projects: issues in both are stored once.
    let two = format!("project-ids={},{}", PROJECTS[0].0, PROJECTS[2].0);
    assert_success(&host.add_wiz("p2", &sim, "sim-client", FULL_SECRET, &[&two]));
    host.ok(&["sync", "p2"]);
    assert_eq!(
        host.ids("findings", "p2", "id"),
        tenant()
            .expected(true, &[PROJECTS[0].0, PROJECTS[2].0])
            .findings
    );
}

#[test]
fn issues_only_account_falls_back_to_entity_types_with_a_warning() {
    let sim = Simulator::start(SimConfig::new(SEED, 300)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("l", &sim, "sim-issues-only", "sim-secret-issues", &[]));
    let out = host.run(&["sync", "l"]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("read:resources"));
    let t = Tenant {
        seed: SEED,
        issues: 300,
    };
    assert_eq!(
        host.ids("findings", "l", "id"),
        t.expected(false, &[]).findings
    );
    for a in host.json(&["assets", "l"]) {
        let r = (0..t.resources())
            .map(|r| t.resource(r))
            .find(|r| a["id"] == r.id.as_str())
            .unwrap();
        assert_eq!(a["asset_type"], r.entity_type);
    }
    let latest = &host.json(&["history", "l"])[0];
    assert_eq!(latest["status"], "succeeded_with_warnings");
    assert!(
        latest["warnings"][0]
            .as_str()
            .unwrap()
            .contains("read:resources")
    );
}

#[test]
fn secrets_are_not_stored_in_plaintext() {
    let sim = Simulator::start(SimConfig::new(SEED, 50)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[]));
    host.ok(&["sync", "w"]);
    let show = host.ok(&["integration", "show", "w"]);
    assert!(
        show.contains("********") && !show.contains(FULL_SECRET),
        "{show}"
    );
    for entry in std::fs::read_dir(host.dir()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes
                .windows(FULL_SECRET.len())
                .any(|w| w == FULL_SECRET.as_bytes()),
            "secret in {}",
            path.display()
        );
    }
    // Another key cannot open it, and says so.
    std::fs::write(
        host.dir().join("host.key"),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    )
    .unwrap();
    let stderr = host.fails(&["sync", "w"]);
    assert!(stderr.contains("encryption key differs"), "{stderr}");
}
