//! From raw `issuesV2` nodes to normalised records, with the guide's rules: which issues
//! are pulled, how status maps, where remediation and asset types come from.

use crate::model::{EntitySnapshot, IssueNode, ResourceNode, Text};
use connector_sdk::ConnectorError;
use connector_sdk::records::{Asset, Finding, FindingKind, FindingStatus, Severity};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Why an issue is not pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Severity other than CRITICAL, HIGH, MEDIUM or LOW (FAQ 1.1).
    Severity(String),
    /// A resource on a platform other than AWS, Azure or GCP (FAQ 1.3).
    Platform(String),
    /// The linked resource was deleted (FAQ 1.2).
    DeletedResource,
    /// The issue names no resource to attach it to.
    NoResource,
    /// A status this connector does not know.
    UnknownStatus(String),
}

impl SkipReason {
    /// A short stable label for counting skips by kind.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Severity(_) => "severity out of scope",
            Self::Platform(_) => "platform out of scope",
            Self::DeletedResource => "deleted resource",
            Self::NoResource => "no resource",
            Self::UnknownStatus(_) => "unknown status",
        }
    }
}

/// An issue that passed the rules that need only the issue itself, read in place from
/// its page.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// The parsed issue.
    pub issue: IssueNode<'a>,
    /// The issue as JSON.
    pub raw: &'a str,
    /// The parsed resource.
    pub entity: EntitySnapshot<'a>,
    /// The resource as JSON.
    pub entity_raw: &'a str,
    /// Normalised severity.
    pub severity: Severity,
    /// Normalised status.
    pub status: FindingStatus,
    /// Normalised platform name.
    pub platform: &'static str,
}

/// What the inventory says about a resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryEntry {
    /// Technologies on the resource.
    pub technologies: Vec<String>,
    /// Whether the resource has been deleted.
    pub deleted: bool,
}

impl From<ResourceNode> for InventoryEntry {
    fn from(node: ResourceNode) -> Self {
        InventoryEntry {
            technologies: node
                .technology
                .and_then(|t| t.name)
                .filter(|n| !n.is_empty())
                .into_iter()
                .collect(),
            deleted: node.deleted_at.is_some(),
        }
    }
}

/// Severities that are pulled, in Wiz's spelling (also the server-side filter).
pub const PULLED_SEVERITIES: [&str; 4] = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];

/// Maps a Wiz severity; `None` for severities that are not pulled.
pub fn severity(wiz: &str) -> Option<Severity> {
    match wiz {
        "CRITICAL" => Some(Severity::Critical),
        "HIGH" => Some(Severity::High),
        "MEDIUM" => Some(Severity::Medium),
        "LOW" => Some(Severity::Low),
        _ => None,
    }
}

/// Maps a Wiz status: open work fails, resolved passes, ignored (REJECTED) is accepted.
pub fn status(wiz: &str) -> Option<FindingStatus> {
    match wiz {
        "OPEN" | "IN_PROGRESS" => Some(FindingStatus::Failed),
        "RESOLVED" => Some(FindingStatus::Passed),
        "REJECTED" => Some(FindingStatus::AcceptedFailed),
        _ => None,
    }
}

/// The pulled platforms' canonical names; Wiz spells them in mixed case.
pub fn platform(wiz: &str) -> Option<&'static str> {
    match wiz.to_ascii_lowercase().as_str() {
        "aws" => Some("AWS"),
        "azure" => Some("Azure"),
        "gcp" => Some("GCP"),
        _ => None,
    }
}

/// One parsed node and whether it is pulled.
#[derive(Debug)]
pub struct Screened<'a> {
    /// Issue id.
    pub id: Text<'a>,
    /// When its status last changed, for the incremental watermark.
    pub status_changed_at: Option<Text<'a>>,
    /// The candidate, or why it is not pulled.
    pub outcome: Result<Candidate<'a>, SkipReason>,
}

/// Parses one node and applies every rule that needs only the issue. `Err` means the
/// node is malformed. The node is read where it is: its text becomes the finding's raw
/// record, and its strings borrow it (issue 27: each record was copied several times in
/// the guest).
pub fn screen(node: &RawValue) -> Result<Screened<'_>, ConnectorError> {
    let issue: IssueNode = serde_json::from_str(node.get())
        .map_err(|e| ConnectorError::Protocol(format!("malformed issue node: {e}")))?;
    let (id, status_changed_at) = (issue.id.clone(), issue.status_changed_at.clone());
    let outcome = apply_rules(node, issue)?;
    Ok(Screened {
        id,
        status_changed_at,
        outcome,
    })
}

fn apply_rules<'a>(
    node: &'a RawValue,
    mut issue: IssueNode<'a>,
) -> Result<Result<Candidate<'a>, SkipReason>, ConnectorError> {
    let Some(severity) = severity(&issue.severity) else {
        return Ok(Err(SkipReason::Severity(issue.severity.to_string())));
    };
    if issue.resolution_reason.as_deref() == Some("OBJECT_DELETED") {
        return Ok(Err(SkipReason::DeletedResource));
    }
    let Some(entity_raw) = issue.entity_snapshot.take().filter(|r| r.get() != "null") else {
        return Ok(Err(SkipReason::NoResource));
    };
    let entity: EntitySnapshot = serde_json::from_str(entity_raw.get()).map_err(|e| {
        ConnectorError::Protocol(format!(
            "malformed entitySnapshot of issue {}: {e}",
            issue.id
        ))
    })?;
    let wiz_platform = entity.cloud_platform.as_deref().unwrap_or_default();
    let Some(platform) = platform(wiz_platform) else {
        return Ok(Err(SkipReason::Platform(wiz_platform.to_string())));
    };
    let Some(status) = status(&issue.status) else {
        return Ok(Err(SkipReason::UnknownStatus(issue.status.to_string())));
    };
    Ok(Ok(Candidate {
        entity_raw: entity_raw.get(),
        raw: node.get(),
        issue,
        entity,
        severity,
        status,
        platform,
    }))
}

/// Portal link of an issue: its `url` when the schema has one, else the documented form.
pub fn portal_url(issue: &IssueNode, portal_base: &str) -> String {
    match issue.url.as_deref().filter(|u| !u.is_empty()) {
        Some(url) => url.to_string(),
        None => format!("{portal_base}/issues#~(issue~'{})", issue.id),
    }
}

/// The finding for a candidate. Its raw record is the issue's text in the page, not a
/// copy of it.
pub fn finding<'a>(c: &Candidate<'a>, portal_base: &str) -> Finding<'a> {
    let issue = &c.issue;
    let rule = issue.main_rule();
    let rule_name = rule.and_then(|r| non_empty(&r.name));
    let description = rule
        .and_then(|r| non_empty(&r.description).or_else(|| non_empty(&r.control_description)))
        .unwrap_or_default();
    let remediation = rule.and_then(|r| {
        non_empty(&r.resolution_recommendation).or_else(|| non_empty(&r.remediation_instructions))
    });
    let title = rule_name
        .clone()
        .unwrap_or_else(|| format!("Wiz issue {}", issue.id));
    let owned = |text: &Option<Text>| text.as_deref().map(str::to_string);
    Finding {
        source_id: issue.id.to_string(),
        asset_source_id: c.entity.id.to_string(),
        stream: crate::ISSUES_STREAM.to_string(),
        kind: FindingKind::Issue,
        vulnerability: None,
        title,
        description,
        severity: c.severity,
        status: c.status,
        source_status: issue.status.to_string(),
        remediation,
        rule_id: rule.and_then(|r| non_empty(&r.id)),
        rule_name,
        created_at: owned(&issue.created_at),
        updated_at: owned(&issue.updated_at),
        status_changed_at: owned(&issue.status_changed_at),
        resolved_at: owned(&issue.resolved_at),
        due_at: owned(&issue.due_at),
        project_ids: issue.project_ids(),
        portal_url: Some(portal_url(issue, portal_base)),
        raw: Cow::Borrowed(c.raw),
    }
}

/// The asset for a candidate. With inventory data, the technology is the asset type;
/// without, the Wiz entity type is. Its raw record is the resource's text in the page.
pub fn asset<'a>(
    c: &Candidate<'a>,
    inventory: Option<&InventoryEntry>,
) -> Result<Asset<'a>, ConnectorError> {
    let e = &c.entity;
    let technologies = inventory
        .map(|i| i.technologies.clone())
        .unwrap_or_default();
    let entity_type = non_empty(&e.entity_type).unwrap_or_else(|| "UNKNOWN".to_string());
    Ok(Asset {
        source_id: e.id.to_string(),
        name: non_empty(&e.name).unwrap_or_else(|| e.id.to_string()),
        asset_type: technologies.first().cloned().unwrap_or(entity_type),
        cloud_platform: c.platform.to_string(),
        cloud_account_id: non_empty(&e.subscription_external_id),
        cloud_account_name: non_empty(&e.subscription_name),
        region: non_empty(&e.region),
        provider_id: non_empty(&e.provider_id).or_else(|| non_empty(&e.external_id)),
        tags: tags(c)?,
        status: non_empty(&e.status),
        technologies,
        raw: Cow::Borrowed(c.entity_raw),
    })
}

/// The resource's tags as key and value pairs.
fn tags(c: &Candidate) -> Result<Vec<(String, String)>, ConnectorError> {
    let Some(tags) = c.entity.tags else {
        return Ok(Vec::new());
    };
    let tags: Option<serde_json::Map<String, Value>> =
        serde_json::from_str(tags.get()).map_err(|e| {
            ConnectorError::Protocol(format!(
                "malformed entitySnapshot of issue {}: {e}",
                c.issue.id
            ))
        })?;
    Ok(tags
        .into_iter()
        .flatten()
        .map(|(k, v)| (k, tag_value(v)))
        .collect())
}

fn tag_value(v: Value) -> String {
    match v {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn non_empty(v: &Option<Text>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}
