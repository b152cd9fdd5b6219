//! Parser and mapping tests over every file in `tests/fixtures/wiz` (responses kept by
//! other public Wiz integrations, and synthetic ones in today's shape). Each file is
//! recognised by its shape and must be read; a file of no known shape fails the test, so
//! new fixtures cannot be ignored.

use connector_sdk::ConnectorError;
use connector_sdk::records::{FindingStatus, Severity};
use connector_wiz::mapping::{self, InventoryEntry, SkipReason};
use connector_wiz::model::Connection;
use connector_wiz::protocol::{self, HttpResponse};
use serde_json::Value;
use serde_json::value::RawValue;
use std::path::PathBuf;

const PORTAL: &str = "https://app.wiz.io";

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wiz")
}

/// A fixture as a current answer would carry it: captures from before Wiz deprecated
/// `sourceRule` get their rule moved into `sourceRules`, the field the connector selects.
fn in_current_shape(text: &str) -> String {
    let mut node: Value = serde_json::from_str(text).unwrap();
    if let Some(rule) = node.as_object_mut().and_then(|n| n.remove("sourceRule")) {
        node["sourceRules"] = Value::Array(vec![rule]);
    }
    node.to_string()
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixtures_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A single-node fixture, in the current shape.
fn read_node(name: &str) -> String {
    in_current_shape(&read(name))
}

fn ok(body: &str) -> HttpResponse {
    HttpResponse {
        status: 200,
        retry_after: None,
        body: body.as_bytes().to_vec(),
    }
}

/// An issues page's connection, its nodes borrowed from the (leaked) body.
fn connection(text: &str) -> Connection<&'static RawValue> {
    protocol::issues_connection(Box::leak(Box::new(ok(text)))).unwrap()
}

/// A node as the page would hold it; leaked, so that what is read from it may borrow it
/// for the rest of the test.
fn raw(text: &str) -> &'static RawValue {
    Box::leak(RawValue::from_string(text.to_string()).unwrap())
}

/// Every fixture file is read and handled according to its shape.
#[test]
fn every_fixture_is_read() {
    let mut handled = Vec::new();
    for entry in std::fs::read_dir(fixtures_dir()).expect("tests/fixtures/wiz") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let json: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if json.get("access_token").is_some() {
            let token = protocol::parse_token_response(&ok(&text)).unwrap();
            assert!(token.expires_in > 0, "{name}");
        } else if json.get("errors").is_some() {
            assert!(protocol::parse_issues_page(ok(&text)).is_err(), "{name}");
        } else if json.pointer("/data/issues").is_some() {
            // Well-formed: each issue either pulled or skipped by a rule, never a
            // protocol error.
            protocol::parse_issues_page(ok(&text)).unwrap_or_else(|e| panic!("{name}: {e}"));
        } else if json.get("entitySnapshot").is_some() {
            let c = mapping::screen(raw(&in_current_shape(&text)))
                .unwrap()
                .outcome
                .expect("fixture node is in scope");
            let f = mapping::finding(&c, PORTAL);
            assert_eq!(f.source_id, json["id"].as_str().unwrap(), "{name}");
            assert!(f.rule_name.is_some(), "{name}: named after its rule");
        } else {
            panic!("{name}: no test knows this fixture's shape; add one");
        }
        handled.push(name);
    }
    assert!(
        handled.len() >= 7,
        "expected the seven known fixtures, read {handled:?}"
    );
}

#[test]
fn aws_load_balancer_control_maps_every_field() {
    let text = read_node("port-ocean_issue-node_aws-load-balancer_control.json");
    let c = mapping::screen(raw(&text)).unwrap().outcome.unwrap();
    let f = mapping::finding(&c, PORTAL);
    assert_eq!(f.source_id, "9cbcba1e-0c11-478d-8593-942995201487");
    assert_eq!(f.asset_source_id, "0727dd0c-24e3-56b2-a170-adf96b72e2d6");
    assert_eq!(
        f.title,
        "Publicly exposed cloud resource with non-PQC compliant transport encryption"
    );
    assert_eq!(f.rule_id.as_deref(), Some("wc-id-3206"));
    assert!(
        f.description
            .starts_with("This cloud resource is publicly accessible")
    );
    assert!(
        f.remediation
            .as_deref()
            .unwrap()
            .starts_with("### Limit external exposure")
    );
    assert_eq!(f.severity, Severity::Low);
    assert_eq!(f.status, FindingStatus::Failed);
    assert_eq!(f.source_status, "OPEN");
    assert_eq!(f.created_at.as_deref(), Some("2026-03-25T05:46:26.681576Z"));
    assert_eq!(
        f.status_changed_at.as_deref(),
        Some("2026-03-25T05:46:26.681576Z")
    );
    assert_eq!(f.due_at, None);
    assert_eq!(f.resolved_at, None);
    assert_eq!(f.project_ids.len(), 4);
    assert_eq!(f.project_ids[0], "4f76f599-1f6c-5cb6-a0b9-a262517aeacd");
    assert_eq!(
        f.portal_url.as_deref(),
        Some("https://app.wiz.io/issues#~(issue~'9cbcba1e-0c11-478d-8593-942995201487)")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&f.raw).unwrap(),
        serde_json::from_str::<Value>(&text).unwrap()
    );

    let a = mapping::asset(&c, None).unwrap();
    assert_eq!(a.source_id, "0727dd0c-24e3-56b2-a170-adf96b72e2d6");
    assert_eq!(a.name, "Splunk");
    assert_eq!(
        a.asset_type, "LOAD_BALANCER",
        "no inventory: the entity type"
    );
    assert_eq!(a.cloud_platform, "AWS");
    assert_eq!(a.cloud_account_id.as_deref(), Some("998231069301"));
    assert_eq!(a.cloud_account_name.as_deref(), Some("wiz-integrations"));
    assert_eq!(a.region.as_deref(), Some("eu-north-1"));
    assert_eq!(
        a.provider_id.as_deref(),
        Some(
            "arn:aws:elasticloadbalancing:eu-north-1:998231069301:loadbalancer/app/Splunk/6a65a4bd322d6f5f"
        )
    );
    assert!(a.tags.is_empty());
    assert_eq!(a.status.as_deref(), Some("Active"));

    let inventory = InventoryEntry {
        technologies: vec!["AWS Elastic Load Balancing".into()],
        deleted: false,
    };
    let a = mapping::asset(&c, Some(&inventory)).unwrap();
    assert_eq!(
        a.asset_type, "AWS Elastic Load Balancing",
        "technology becomes the asset type"
    );
    assert_eq!(a.technologies, ["AWS Elastic Load Balancing"]);
}

#[test]
fn azure_subscription_with_null_projects_and_empty_region() {
    let text = read_node("port-ocean_issue-node_azure-subscription_control.json");
    let c = mapping::screen(raw(&text)).unwrap().outcome.unwrap();
    let f = mapping::finding(&c, PORTAL);
    assert!(f.project_ids.is_empty(), "projects: null");
    assert!(
        f.remediation
            .as_deref()
            .unwrap()
            .contains("quantum-resistant")
    );
    let a = mapping::asset(&c, None).unwrap();
    assert_eq!(a.cloud_platform, "Azure");
    assert_eq!(a.region, None, "empty region is absent");
    assert_eq!(
        a.provider_id.as_deref(),
        Some("434f3cbb-30f2-4bc0-8bba-cb080280652b")
    );
    assert_eq!(
        a.tags,
        [("Owner".to_string(), "annam.iyer@wiz.io".to_string())]
    );
    assert_eq!(a.asset_type, "SUBSCRIPTION");
}

#[test]
fn elastic_envelope_kubernetes_informational_node_is_skipped() {
    let page = connection(&read("elastic_issues-v2_graphql_response.json"));
    assert_eq!(page.nodes.len(), 1);
    assert!(!page.page_info.has_next_page);
    assert!(page.page_info.end_cursor.is_some());
    // Both rules apply; severity is checked first.
    assert_eq!(
        mapping::screen(page.nodes[0]).unwrap().outcome.unwrap_err(),
        SkipReason::Severity("INFORMATIONAL".into())
    );
    // With an in-scope severity the platform rule still skips it.
    let node = in_current_shape(page.nodes[0].get()).replace("\"INFORMATIONAL\"", "\"HIGH\"");
    assert_eq!(
        mapping::screen(raw(&node)).unwrap().outcome.unwrap_err(),
        SkipReason::Platform("Kubernetes".into())
    );
    // On AWS it would be pulled, with IN_PROGRESS as failed and the control's description alias.
    let node = node.replace("\"Kubernetes\"", "\"AWS\"");
    let c = mapping::screen(raw(&node)).unwrap().outcome.unwrap();
    let f = mapping::finding(&c, PORTAL);
    assert_eq!(f.status, FindingStatus::Failed);
    assert_eq!(f.source_status, "IN_PROGRESS");
    assert!(f.description.starts_with("These EKS principals"));
    assert_eq!(f.due_at.as_deref(), Some("2023-08-30T21:00:00Z"));
    assert_eq!(mapping::asset(&c, None).unwrap().tags.len(), 2);
}

#[test]
fn oauth_token_fixture() {
    let t =
        protocol::parse_token_response(&ok(&read("elastic_oauth-token_response.json"))).unwrap();
    assert_eq!(t.access_token, "xxxx");
    assert_eq!(t.expires_in, 3600);
}

#[test]
fn graphql_error_fixture_is_a_permission_error() {
    let err = protocol::parse_issues_page(ok(&read(
        "port-ocean_graphql-error_response_synthetic.json",
    )))
    .unwrap_err();
    assert!(
        matches!(err, ConnectorError::Permission(ref m) if m.contains("access denied")),
        "{err}"
    );
}

/// Variants of the AWS fixture exercise every rule.
#[test]
fn rules_on_variants_of_a_real_node() {
    let base: Value = serde_json::from_str(&read_node(
        "port-ocean_issue-node_aws-load-balancer_control.json",
    ))
    .unwrap();
    let variant = |edit: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        edit(&mut v);
        mapping::screen(raw(&v.to_string())).unwrap().outcome
    };
    for (wiz, severity) in [
        ("CRITICAL", Severity::Critical),
        ("HIGH", Severity::High),
        ("MEDIUM", Severity::Medium),
        ("LOW", Severity::Low),
    ] {
        assert_eq!(
            variant(&|v| v["severity"] = wiz.into()).unwrap().severity,
            severity
        );
    }
    assert_eq!(
        variant(&|v| v["severity"] = "INFORMATIONAL".into()).unwrap_err(),
        SkipReason::Severity("INFORMATIONAL".into())
    );
    for (wiz, status) in [
        ("OPEN", FindingStatus::Failed),
        ("IN_PROGRESS", FindingStatus::Failed),
        ("RESOLVED", FindingStatus::Passed),
        ("REJECTED", FindingStatus::AcceptedFailed),
    ] {
        assert_eq!(
            variant(&|v| v["status"] = wiz.into()).unwrap().status,
            status,
            "{wiz}"
        );
    }
    for platform in ["GCP", "gcp", "Azure", "AWS"] {
        assert!(
            variant(&|v| v["entitySnapshot"]["cloudPlatform"] = platform.into()).is_ok(),
            "{platform}"
        );
    }
    for platform in ["OCI", "Kubernetes", "EKS", "Alibaba", "vSphere"] {
        assert_eq!(
            variant(&|v| v["entitySnapshot"]["cloudPlatform"] = platform.into()).unwrap_err(),
            SkipReason::Platform(platform.into())
        );
    }
    let deleted = variant(&|v| {
        v["status"] = "RESOLVED".into();
        v["resolutionReason"] = "OBJECT_DELETED".into();
    });
    assert_eq!(deleted.unwrap_err(), SkipReason::DeletedResource);
    assert!(variant(&|v| v["resolutionReason"] = "ISSUE_FIXED".into()).is_ok());
    assert_eq!(
        variant(&|v| v["entitySnapshot"] = Value::Null).unwrap_err(),
        SkipReason::NoResource
    );
    assert_eq!(
        variant(&|v| v["status"] = "SNOOZED".into()).unwrap_err(),
        SkipReason::UnknownStatus("SNOOZED".into())
    );

    // A CloudConfigurationRule carries remediationInstructions instead.
    let c = variant(&|v| {
        v["sourceRules"] = serde_json::json!([{"__typename": "CloudConfigurationRule", "id": "r1", "name": "Bucket is public", "description": "d", "remediationInstructions": "Block public access."}]);
    })
    .unwrap();
    assert_eq!(
        mapping::finding(&c, PORTAL).remediation.as_deref(),
        Some("Block public access.")
    );
    // A CloudEventRule has none.
    let c = variant(&|v| {
        v["sourceRules"] = serde_json::json!([{"__typename": "CloudEventRule", "id": "e1", "name": "Suspicious login", "description": "d"}]);
    })
    .unwrap();
    assert_eq!(mapping::finding(&c, PORTAL).remediation, None);
    // No rule at all, a null list, or only null entries: the title falls back to the id.
    for rules in [
        Value::Null,
        serde_json::json!([]),
        serde_json::json!([null]),
    ] {
        let c = variant(&|v| v["sourceRules"] = rules.clone()).unwrap();
        let f = mapping::finding(&c, PORTAL);
        assert_eq!(f.title, "Wiz issue 9cbcba1e-0c11-478d-8593-942995201487");
        assert_eq!((f.rule_id, f.remediation), (None, None));
    }
    // The deprecated field alone is not read: the connector never asks for it.
    let c = variant(&|v| {
        let rules = v.as_object_mut().unwrap().remove("sourceRules").unwrap();
        v["sourceRule"] = rules[0].clone();
    })
    .unwrap();
    assert_eq!(mapping::finding(&c, PORTAL).rule_id, None);
    // Null project entries are skipped, never a failure.
    let c = variant(&|v| {
        v["projects"] = serde_json::json!([null, {"id": "p1"}, null]);
    })
    .unwrap();
    assert_eq!(mapping::finding(&c, PORTAL).project_ids, ["p1"]);

    // Malformed nodes are protocol errors, never panics.
    for bad in [
        r#"{"status":"OPEN"}"#,
        r#"{"id":5}"#,
        "[]",
        r#"{"id":"x","status":"OPEN","severity":"LOW","entitySnapshot":{"name":"no id"}}"#,
    ] {
        assert!(
            matches!(mapping::screen(raw(bad)), Err(ConnectorError::Protocol(_))),
            "{bad}"
        );
    }
}

#[test]
fn aws_threat_detection_with_only_source_rules() {
    let text = read("synthetic_issue-node_aws-threat-detection_source-rules.json");
    let json: Value = serde_json::from_str(&text).unwrap();
    assert!(json.get("sourceRule").is_none(), "today's shape");
    let c = mapping::screen(raw(&text)).unwrap().outcome.unwrap();
    let f = mapping::finding(&c, PORTAL);
    assert_eq!(
        f.title, "Root account console login from an unusual location",
        "named after its CloudEventRule"
    );
    assert_eq!(f.rule_id.as_deref(), Some("cer-aws-id-142"));
    assert_eq!(f.rule_name.as_deref(), Some(f.title.as_str()));
    assert!(f.description.starts_with("The AWS root user signed in"));
    assert_eq!(f.remediation, None, "event rules carry no remediation");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(
        f.project_ids,
        ["4f76f599-1f6c-5cb6-a0b9-a262517aeacd"],
        "the null project entry is skipped"
    );
    assert_eq!(
        f.portal_url.as_deref(),
        json["url"].as_str(),
        "Wiz's own link wins over a built one"
    );
    let a = mapping::asset(&c, None).unwrap();
    assert_eq!(a.cloud_platform, "AWS");
    assert_eq!(a.asset_type, "USER_ACCOUNT");
    assert_eq!(
        a.provider_id.as_deref(),
        Some("arn:aws:iam::998231069301:root")
    );
}

#[test]
fn current_page_names_issues_after_their_first_rule_and_skips_other_platforms() {
    let page = connection(&read("synthetic_issues-v2_page_current-shape.json"));
    let screened: Vec<_> = page
        .nodes
        .iter()
        .map(|n| mapping::screen(n).unwrap())
        .collect();
    let outcome = |id: &str| {
        &screened
            .iter()
            .find(|s| s.id.starts_with(id))
            .unwrap_or_else(|| panic!("{id}"))
            .outcome
    };
    // Two rules: the first names it and gives its remediation.
    let c = outcome("0c5e2a71").as_ref().unwrap();
    let f = mapping::finding(c, PORTAL);
    assert_eq!(f.title, "S3 bucket policy allows public read");
    assert_eq!(f.rule_id.as_deref(), Some("ccr-s3-017"));
    assert!(f.remediation.unwrap().contains("Block Public Access"));
    assert!(
        f.raw.contains("wc-id-1188"),
        "every rule stays in the raw record"
    );
    assert_eq!(
        f.portal_url.as_deref(),
        Some("https://app.wiz.io/issues#~(issue~'0c5e2a71-9d3b-4f68-b1a4-7e29c08d5b16)"),
        "no url from Wiz: the documented link"
    );
    // Threat detections on platforms the guide does not pull.
    for (id, platform) in [
        ("7f3a9c1e", "Wiz"),
        ("2b8d4f60", "Kubernetes"),
        ("4e6a8c02", ""),
    ] {
        assert_eq!(
            outcome(id).as_ref().unwrap_err(),
            &SkipReason::Platform(platform.into()),
            "{id}"
        );
    }
    // No rule at all: the fallback title.
    for id in ["6a0c2e48", "8c2e4a6b"] {
        let c = outcome(id).as_ref().unwrap();
        let f = mapping::finding(c, PORTAL);
        assert_eq!(f.title, format!("Wiz issue {}", c.issue.id));
        assert_eq!(f.rule_name, None);
    }
}
