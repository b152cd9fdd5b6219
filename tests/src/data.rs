//! The simulated tenant's data, generated deterministically from a seed and a size. Any
//! issue or resource can be built from its index alone, so the simulator never holds the
//! tenant in memory and tests can compute exactly what a correct sync must store.

use serde::Serialize;
use serde_json::Value;

/// A small, fast, deterministic PRNG step (SplitMix64).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Draws from a table of (weight, value) with a random number.
fn pick<T: Copy>(r: u64, table: &[(u64, T)]) -> T {
    let total: u64 = table.iter().map(|(w, _)| w).sum();
    let mut x = r % total;
    for (w, v) in table {
        if x < *w {
            return *v;
        }
        x -= w;
    }
    table[table.len() - 1].1
}

/// A UUID-shaped id whose last group is the index, so ids map back to indices in O(1).
fn uuid(seed: u64, kind: u64, index: u64) -> String {
    let a = mix(seed ^ mix((kind << 48) ^ index));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (a >> 52) & 0xfff,
        index
    )
}

/// The index encoded in an id made by [`uuid`], if the id is one of `kind` for `seed`.
fn index_of(seed: u64, kind: u64, id: &str) -> Option<u64> {
    let index = u64::from_str_radix(id.get(24..)?, 16).ok()?;
    (uuid(seed, kind, index) == id).then_some(index)
}

/// The projects of the simulated tenant.
pub const PROJECTS: [(&str, &str); 4] = [
    ("4f76f599-1f6c-5cb6-a0b9-a262517aeacd", "Payments"),
    ("83b76efe-a7b6-5762-8a53-8e8f59e68bd8", "Platform"),
    ("af52828c-4eb1-5c4e-847c-ebc3a5ead531", "Data"),
    ("d6ac50bb-aec0-52fc-80ab-bacd7b02f178", "Corporate IT"),
];

/// One rule of the catalog: (typename, id, name, issue type).
const RULES: [(&str, &str, &str, &str); 9] = [
    (
        "Control",
        "wc-id-1001",
        "Publicly exposed VM with a critical vulnerability",
        "TOXIC_COMBINATION",
    ),
    (
        "Control",
        "wc-id-1002",
        "Admin role assumable by an external identity",
        "TOXIC_COMBINATION",
    ),
    (
        "Control",
        "wc-id-1003",
        "Storage with sensitive data open to the internet",
        "TOXIC_COMBINATION",
    ),
    (
        "CloudConfigurationRule",
        "ccr-0101",
        "S3 bucket allows public read",
        "CLOUD_CONFIGURATION",
    ),
    (
        "CloudConfigurationRule",
        "ccr-0102",
        "Storage account allows non-HTTPS traffic",
        "CLOUD_CONFIGURATION",
    ),
    (
        "CloudConfigurationRule",
        "ccr-0103",
        "Firewall rule allows SSH from 0.0.0.0/0",
        "CLOUD_CONFIGURATION",
    ),
    (
        "CloudEventRule",
        "cer-0201",
        "Console login without MFA",
        "THREAT_DETECTION",
    ),
    (
        "CloudEventRule",
        "cer-0202",
        "Suspicious API call from a Tor exit node",
        "THREAT_DETECTION",
    ),
    (
        "CloudEventRule",
        "cer-0203",
        "Crypto-mining process started",
        "THREAT_DETECTION",
    ),
];

/// Time of minute `m` after 2026-01-01T00:00:00Z, RFC 3339 with microseconds.
fn at_minute(m: u64) -> String {
    rfc3339_micros(1_767_225_600 + m * 60, ((m * 7919) % 1_000_000) as u32)
}

/// A Unix time as RFC 3339 UTC with microseconds, as Wiz writes timestamps.
pub fn rfc3339_micros(secs: u64, micros: u32) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, mo, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The platform of a resource Wiz puts on none (a `cloudPlatform` of null).
pub const NO_PLATFORM: &str = "";

/// A simulated cloud resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// Graph entity id.
    pub id: String,
    /// Platform as Wiz spells it; [`NO_PLATFORM`] for none.
    pub platform: &'static str,
    /// Wiz entity type.
    pub entity_type: &'static str,
    /// The technology the inventory reports.
    pub technology: &'static str,
    /// Name.
    pub name: String,
    /// Provider id.
    pub provider_id: String,
    /// Region.
    pub region: &'static str,
    /// Account id.
    pub account_id: String,
    /// Deleted in the inventory.
    pub deleted: bool,
    /// Project ids; `None` for a resource in no project.
    pub projects: Option<Vec<&'static str>>,
}

/// A simulated issue.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    /// Issue id.
    pub id: String,
    /// Severity.
    pub severity: &'static str,
    /// Status.
    pub status: &'static str,
    /// Resolution reason.
    pub resolution_reason: Option<&'static str>,
    /// Index of the resource.
    pub resource: u64,
    /// Index into the rule catalog.
    pub rule: usize,
    /// Minute of creation.
    pub created_minute: u64,
    /// How many rules it carries: 1 mostly, 2 for some (the catalog rule first), 0 for a
    /// few (threat detections always carry their event rule).
    pub rules: usize,
    /// Whether Wiz sends its own portal link.
    pub has_url: bool,
    /// Whether its projects list holds a null entry (a project the account cannot see).
    pub null_project: bool,
}

/// The tenant's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tenant {
    /// Seed of all randomness.
    pub seed: u64,
    /// Number of issues.
    pub issues: u64,
}

impl Tenant {
    /// Number of resources the issues point at.
    pub fn resources(&self) -> u64 {
        (self.issues / 3).max(1)
    }

    /// Resource `r`.
    pub fn resource(&self, r: u64) -> Resource {
        let x = mix(self.seed ^ mix(0x5245_534f ^ r));
        let platform = pick(
            x,
            &[
                (40, "AWS"),
                (25, "Azure"),
                (20, "GCP"),
                (8, "Kubernetes"),
                (4, "OCI"),
                (2, "Wiz"),
                (1, NO_PLATFORM),
            ],
        );
        let (entity_type, technology) = pick(
            x >> 8,
            &[
                (30, ("VIRTUAL_MACHINE", "Virtual Machine")),
                (20, ("BUCKET", "Object Storage")),
                (15, ("DATABASE", "Managed Database")),
                (15, ("LOAD_BALANCER", "Load Balancer")),
                (10, ("SERVERLESS", "Serverless Function")),
                (10, ("ACCESS_ROLE", "IAM Role")),
            ],
        );
        let region = match platform {
            "AWS" => pick(x >> 16, &[(3, "us-east-1"), (2, "eu-west-1"), (1, "")]),
            "Azure" => pick(x >> 16, &[(3, "westeurope"), (2, "eastus"), (1, "")]),
            "GCP" => pick(x >> 16, &[(3, "us-central1"), (2, "europe-west1")]),
            _ => pick(x >> 16, &[(1, "us-01"), (1, "")]),
        };
        let account_id = format!("{:012}", 100_000_000_000 + (x >> 24) % 7);
        let name = format!("{}-{r}", entity_type.to_ascii_lowercase().replace('_', "-"));
        let provider_id = match platform {
            "AWS" => format!(
                "arn:aws:ec2:{region}:{account_id}:instance/i-{:017x}",
                mix(x) >> 4
            ),
            "Azure" => format!(
                "/subscriptions/{}/resourceGroups/rg-{}/providers/Microsoft.Compute/virtualMachines/{name}",
                uuid(self.seed, 9, (x >> 24) % 7),
                r % 5
            ),
            "GCP" => format!(
                "//compute.googleapis.com/projects/proj-{}/zones/{region}-a/instances/{name}",
                (x >> 24) % 7
            ),
            _ => format!("k8s/{}/{name}/{r}", platform.to_ascii_lowercase()),
        };
        let projects = match (x >> 32) % 10 {
            0 | 1 => None,
            p => Some(
                vec![
                    PROJECTS[(p % 4) as usize].0,
                    PROJECTS[((p / 4 + p) % 4) as usize].0,
                ]
                .into_iter()
                .fold(Vec::new(), |mut v, id| {
                    if !v.contains(&id) {
                        v.push(id);
                    }
                    v
                }),
            ),
        };
        Resource {
            id: uuid(self.seed, 2, r),
            platform,
            entity_type,
            technology,
            name,
            provider_id,
            region,
            account_id,
            deleted: (x >> 40).is_multiple_of(20),
            projects,
        }
    }

    /// Issue `i`.
    pub fn issue(&self, i: u64) -> Issue {
        let x = mix(self.seed ^ mix(0x4953_5355 ^ i));
        let severity = pick(
            x,
            &[
                (10, "CRITICAL"),
                (25, "HIGH"),
                (30, "MEDIUM"),
                (25, "LOW"),
                (10, "INFORMATIONAL"),
            ],
        );
        let status = pick(
            x >> 8,
            &[
                (50, "OPEN"),
                (15, "IN_PROGRESS"),
                (20, "RESOLVED"),
                (15, "REJECTED"),
            ],
        );
        let resolution_reason = match status {
            "RESOLVED" => Some(pick(x >> 16, &[(1, "OBJECT_DELETED"), (3, "ISSUE_FIXED")])),
            "REJECTED" => Some(pick(
                x >> 16,
                &[(1, "FALSE_POSITIVE"), (1, "EXCEPTION"), (1, "WONT_FIX")],
            )),
            _ => None,
        };
        let rule = ((x >> 40) % RULES.len() as u64) as usize;
        let y = mix(x);
        let rules = match (RULES[rule].3, y % 20) {
            ("THREAT_DETECTION", _) => 1,
            (_, 0) => 0,
            (_, 1..=3) => 2,
            _ => 1,
        };
        Issue {
            id: uuid(self.seed, 1, i),
            severity,
            status,
            resolution_reason,
            resource: (x >> 24) % self.resources(),
            rule,
            created_minute: i,
            rules,
            has_url: (y >> 8).is_multiple_of(2),
            null_project: (y >> 16).is_multiple_of(4),
        }
    }

    /// The `issuesV2` node of issue `i`, as Wiz would send it.
    pub fn issue_node(&self, i: u64) -> Value {
        serde_json::to_value(self.issue_record(i)).expect("plain data serializes")
    }

    /// Issue `i` in the shape of an `issuesV2` node, ready to serialize: the simulator
    /// writes pages from these directly, without building JSON trees.
    pub fn issue_record(&self, i: u64) -> IssueRecord {
        let issue = self.issue(i);
        let res = self.resource(issue.resource);
        let (typename, rule_id, rule_name, issue_type) = RULES[issue.rule];
        let mut main_rule = SourceRule {
            typename,
            id: rule_id,
            name: rule_name,
            description: format!("{rule_name}. Found by the simulated tenant."),
            ..SourceRule::default()
        };
        match typename {
            "Control" => {
                main_rule.resolution_recommendation =
                    Some(format!("### Fix\n* Remediate: {rule_name}."))
            }
            "CloudConfigurationRule" => {
                main_rule.remediation_instructions = Some(format!(
                    "Change the configuration so that it no longer matches: {rule_name}."
                ));
                main_rule.service_type = Some("AWS");
            }
            _ => {
                main_rule.source_type = Some("CLOUD_TRAIL");
                main_rule.kind = Some("MATCH");
            }
        }
        let source_rules = match issue.rules {
            0 => None,
            1 => Some(vec![main_rule]),
            _ => Some(vec![main_rule, secondary_rule()]),
        };
        let created = issue.created_minute;
        let resolved = matches!(issue.status, "RESOLVED" | "REJECTED");
        let projects = res.projects.as_ref().map(|ids| {
            let hidden = issue.null_project.then_some(None);
            hidden
                .into_iter()
                .chain(ids.iter().map(|id| {
                    let name = PROJECTS
                        .iter()
                        .find(|(p, _)| p == id)
                        .map(|(_, n)| *n)
                        .unwrap_or("");
                    Some(ProjectRef {
                        id,
                        name,
                        slug: name.to_ascii_lowercase().replace(' ', "-"),
                        business_unit: "",
                        risk_profile: RiskProfile {
                            business_impact: "MBI",
                        },
                    })
                }))
                .collect()
        });
        let url = issue
            .has_url
            .then(|| format!("{WIZ_PORTAL}/issues#~(issue~'{}~source~'wiz)", issue.id));
        IssueRecord {
            id: issue.id,
            kind: issue_type,
            status: issue.status.into(),
            severity: issue.severity,
            created_at: at_minute(created),
            updated_at: at_minute(created + 30),
            status_changed_at: at_minute(created + if issue.status == "OPEN" { 0 } else { 60 }),
            resolved_at: resolved.then(|| at_minute(created + 60)),
            due_at: (issue.severity == "CRITICAL").then(|| at_minute(created + 7 * 1440)),
            resolution_reason: issue.resolution_reason.map(Into::into),
            url,
            source_rules,
            projects,
            entity_snapshot: EntitySnapshot::of(&res),
            service_tickets: None,
        }
    }

    /// The `cloudResourcesV2` node of a resource id, if it exists; `deleted` are resources
    /// deleted since generation.
    pub fn resource_node(
        &self,
        id: &str,
        deleted: &std::collections::HashSet<u64>,
    ) -> Option<ResourceRecord> {
        let r = index_of(self.seed, 2, id).filter(|r| *r < self.resources())?;
        let res = self.resource(r);
        Some(ResourceRecord {
            deleted_at: (res.deleted || deleted.contains(&r)).then(|| at_minute(500)),
            technology: Technology {
                id: format!("tech-{}", res.technology.len()),
                name: res.technology,
                categories: [Category { name: "Compute" }],
            },
            id: res.id,
            name: res.name,
            kind: res.entity_type,
            cloud_platform: res.platform,
        })
    }
}

/// An `issuesV2` node.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueRecord {
    /// Issue id.
    pub id: String,
    /// Issue type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Status (changes can set any).
    pub status: String,
    /// Severity.
    pub severity: &'static str,
    /// Created.
    pub created_at: String,
    /// Last updated.
    pub updated_at: String,
    /// Last status change.
    pub status_changed_at: String,
    /// Resolved, for resolved and rejected issues.
    pub resolved_at: Option<String>,
    /// Due, for critical issues.
    pub due_at: Option<String>,
    /// Why it was resolved or rejected.
    pub resolution_reason: Option<String>,
    /// Wiz's own portal link, on some issues.
    pub url: Option<String>,
    /// The rules that raised it (`Issue.sourceRule` is deprecated and not served).
    pub source_rules: Option<Vec<SourceRule>>,
    /// Projects of its resource, with a null entry on some.
    pub projects: Option<Vec<Option<ProjectRef>>>,
    /// Its resource.
    pub entity_snapshot: EntitySnapshot,
    /// Always null here.
    pub service_tickets: Option<()>,
}

impl IssueRecord {
    /// Replaces the description of the rule that raised it (the one a connector shows).
    pub fn set_description(&mut self, description: &str) {
        if let Some(rule) = self.source_rules.iter_mut().flatten().next() {
            rule.description = description.to_string();
        }
    }
}

/// Where Wiz's portal links of the simulated tenant point.
pub const WIZ_PORTAL: &str = "https://app.wiz.io";

/// The second rule some issues carry after their catalog rule.
fn secondary_rule() -> SourceRule {
    SourceRule {
        typename: "Control",
        id: "wc-id-1999",
        name: "Resource reachable from a compromised identity",
        description: "A second rule that also matched.".into(),
        ..SourceRule::default()
    }
}

/// One of `sourceRules`: a Control, a CloudConfigurationRule or a CloudEventRule.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRule {
    #[serde(rename = "__typename")]
    typename: &'static str,
    id: &'static str,
    name: &'static str,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolution_recommendation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remediation_instructions: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_type: Option<&'static str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
}

/// One project an issue belongs to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectRef {
    /// Project id.
    pub id: &'static str,
    name: &'static str,
    slug: String,
    business_unit: &'static str,
    risk_profile: RiskProfile,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct RiskProfile {
    business_impact: &'static str,
}

/// `entitySnapshot`: the resource as the issue saw it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntitySnapshot {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    native_type: String,
    name: String,
    status: &'static str,
    cloud_platform: Option<&'static str>,
    #[serde(rename = "cloudProviderURL")]
    cloud_provider_url: &'static str,
    provider_id: String,
    region: &'static str,
    resource_group_external_id: &'static str,
    subscription_external_id: String,
    subscription_name: String,
    subscription_tags: Tags,
    tags: Tags,
    created_at: Option<()>,
    external_id: String,
}

impl EntitySnapshot {
    fn of(res: &Resource) -> Self {
        EntitySnapshot {
            id: res.id.clone(),
            kind: res.entity_type,
            native_type: res.entity_type.to_ascii_lowercase(),
            name: res.name.clone(),
            status: "Active",
            cloud_platform: (res.platform != NO_PLATFORM).then_some(res.platform),
            cloud_provider_url: "",
            provider_id: res.provider_id.clone(),
            region: res.region,
            resource_group_external_id: "",
            subscription_external_id: res.account_id.clone(),
            subscription_name: format!("account {}", res.account_id),
            subscription_tags: Tags::default(),
            tags: Tags {
                env: Some(if res.name.len().is_multiple_of(2) {
                    "prod"
                } else {
                    "dev"
                }),
                owner: Some("team-sim"),
            },
            created_at: None,
            external_id: res.provider_id.clone(),
        }
    }
}

/// Key/value tags; absent keys are left out.
#[derive(Debug, Clone, Default, Serialize)]
struct Tags {
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<&'static str>,
}

/// A `cloudResourcesV2` node.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRecord {
    id: String,
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    cloud_platform: &'static str,
    /// When the resource was deleted, if it was.
    pub deleted_at: Option<String>,
    technology: Technology,
}

#[derive(Debug, Clone, Serialize)]
struct Technology {
    id: String,
    name: &'static str,
    categories: [Category; 1],
}

#[derive(Debug, Clone, Serialize)]
struct Category {
    name: &'static str,
}

/// What a correct sync stores: finding ids and asset ids, after the guide's rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Issue ids that must be stored, sorted.
    pub findings: Vec<String>,
    /// Resource ids that must be stored, sorted.
    pub assets: Vec<String>,
    /// How many stored findings of each severity (the host's lower-case names).
    pub by_severity: std::collections::BTreeMap<String, u64>,
}

impl Tenant {
    /// The oracle. `inventory` says whether the account may read the inventory (so that
    /// issues on resources deleted there are also dropped); `project` limits to one project.
    pub fn expected(&self, inventory: bool, projects: &[&str]) -> Expected {
        let mut out = Expected::default();
        for i in 0..self.issues {
            let issue = self.issue(i);
            let res = self.resource(issue.resource);
            let in_scope = matches!(issue.severity, "CRITICAL" | "HIGH" | "MEDIUM" | "LOW")
                && matches!(res.platform, "AWS" | "Azure" | "GCP")
                && issue.resolution_reason != Some("OBJECT_DELETED")
                && !(inventory && res.deleted)
                && (projects.is_empty()
                    || res
                        .projects
                        .as_ref()
                        .is_some_and(|p| p.iter().any(|id| projects.contains(id))));
            if in_scope {
                *out.by_severity
                    .entry(issue.severity.to_lowercase())
                    .or_default() += 1;
                out.findings.push(issue.id);
                out.assets.push(res.id);
            }
        }
        out.findings.sort();
        out.assets.sort();
        out.assets.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deterministic_and_covers_every_shape() {
        let t = Tenant {
            seed: 7,
            issues: 3000,
        };
        assert_eq!(t.issue_node(5), t.issue_node(5));
        let nodes: Vec<Value> = (0..t.issues).map(|i| t.issue_node(i)).collect();
        let has = |path: &str, value: &str| {
            nodes
                .iter()
                .any(|n| n.pointer(path).and_then(Value::as_str) == Some(value))
        };
        for s in ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"] {
            assert!(has("/severity", s), "{s}");
        }
        for s in ["OPEN", "IN_PROGRESS", "RESOLVED", "REJECTED"] {
            assert!(has("/status", s), "{s}");
        }
        for p in ["AWS", "Azure", "GCP", "Kubernetes", "OCI", "Wiz"] {
            assert!(has("/entitySnapshot/cloudPlatform", p), "{p}");
        }
        for r in ["Control", "CloudConfigurationRule", "CloudEventRule"] {
            assert!(has("/sourceRules/0/__typename", r), "{r}");
        }
        assert!(
            nodes.iter().all(|n| n.get("sourceRule").is_none()),
            "deprecated: not served"
        );
        let rule_count = |n: &Value| n["sourceRules"].as_array().map_or(0, Vec::len);
        for count in 0..=2 {
            assert!(
                nodes.iter().any(|n| rule_count(n) == count),
                "{count} rules"
            );
        }
        // Threat detections on AWS, and on platforms the guide skips.
        let threat_on = |platform: Value| {
            nodes.iter().any(|n| {
                n["type"] == "THREAT_DETECTION"
                    && rule_count(n) == 1
                    && n["sourceRules"][0]["__typename"] == "CloudEventRule"
                    && n["entitySnapshot"]["cloudPlatform"] == platform
            })
        };
        for platform in [json!("AWS"), json!("Wiz"), json!("Kubernetes"), Value::Null] {
            assert!(
                threat_on(platform.clone()),
                "threat detection on {platform}"
            );
        }
        assert!(nodes.iter().any(|n| n["url"].is_string()));
        assert!(nodes.iter().any(|n| n["url"].is_null()));
        assert!(nodes.iter().any(|n| {
            n["projects"]
                .as_array()
                .is_some_and(|p| p.contains(&Value::Null))
        }));
        assert!(has("/resolutionReason", "OBJECT_DELETED"));
        assert!(nodes.iter().any(|n| n["projects"].is_null()));
        assert!((0..t.resources()).any(|r| t.resource(r).deleted));
        assert_eq!(at_minute(0), "2026-01-01T00:00:00.000000Z");
        assert_eq!(&at_minute(1440 * 59)[..10], "2026-03-01");
    }
}
