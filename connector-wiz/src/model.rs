//! Serde types for the parts of Wiz's GraphQL answers the connector reads. Every field
//! that real tenants have been seen to leave out or null is optional.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// The `{data, errors}` envelope of every GraphQL answer.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    /// The data, absent or null on errors.
    pub data: Option<T>,
    /// GraphQL errors; any present fails the request, even with partial data.
    #[serde(default)]
    pub errors: Option<Vec<GraphqlError>>,
}

/// One GraphQL error.
#[derive(Debug, Deserialize)]
pub struct GraphqlError {
    /// Human message.
    #[serde(default)]
    pub message: String,
    /// Extensions, carrying the machine code.
    #[serde(default)]
    pub extensions: Option<ErrorExtensions>,
}

/// GraphQL error extensions.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorExtensions {
    /// Machine code (`UNAUTHORIZED`, `BAD_USER_INPUT`, …).
    pub code: Option<String>,
    /// Seconds to wait before retrying, on throttling errors (a number, or a numeric
    /// string; read leniently by [`crate::protocol`]).
    pub retry_after: Option<Value>,
}

/// `data` of the issues query (the root field is aliased to `issues`).
#[derive(Debug, Deserialize)]
pub struct IssuesData {
    /// The connection; null when the query failed.
    pub issues: Option<Connection>,
}

/// `data` of the inventory query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesData {
    /// The connection; null when the query failed.
    pub cloud_resources_v2: Option<Connection>,
}

/// A Relay connection whose nodes are kept raw, so each can be stored verbatim.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// The page's nodes.
    pub nodes: Vec<Box<RawValue>>,
    /// Paging state.
    pub page_info: PageInfo,
    /// Total across all pages (asked on the first page only).
    #[serde(default)]
    pub total_count: Option<u64>,
}

/// Relay page info.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    /// Whether another page follows.
    pub has_next_page: bool,
    /// Cursor of this page's last node.
    #[serde(default)]
    pub end_cursor: Option<String>,
}

/// An `issuesV2` node.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueNode {
    /// Issue id.
    pub id: String,
    /// `OPEN`, `IN_PROGRESS`, `RESOLVED` or `REJECTED`.
    pub status: String,
    /// `CRITICAL` … `INFORMATIONAL`.
    pub severity: String,
    /// Creation time.
    pub created_at: Option<String>,
    /// Update time.
    pub updated_at: Option<String>,
    /// Status change time.
    pub status_changed_at: Option<String>,
    /// Resolution time.
    pub resolved_at: Option<String>,
    /// Due time.
    pub due_at: Option<String>,
    /// Why it was resolved (newer schemas).
    pub resolution_reason: Option<String>,
    /// Wiz's own portal link, when it sends one.
    pub url: Option<String>,
    /// The rules that raised it, the main one first. Entries are non-null in the schema;
    /// a null one is skipped all the same.
    pub source_rules: Option<Vec<Option<SourceRule>>>,
    /// Projects it belongs to. Real answers carry null entries (projects the service
    /// account may not see); they are skipped.
    pub projects: Option<Vec<Option<Project>>>,
    /// The resource as it was when the issue was raised.
    pub entity_snapshot: Option<Box<RawValue>>,
}

impl IssueNode {
    /// The rule the finding is named after: the first of `sourceRules`.
    pub fn main_rule(&self) -> Option<&SourceRule> {
        self.source_rules.iter().flatten().flatten().next()
    }

    /// Ids of the projects it belongs to, null entries skipped.
    pub fn project_ids(&self) -> Vec<String> {
        self.projects
            .iter()
            .flatten()
            .flatten()
            .map(|p| p.id.clone())
            .collect()
    }
}

/// A `Control`, `CloudConfigurationRule` or `CloudEventRule`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRule {
    /// Rule id.
    pub id: Option<String>,
    /// Rule name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Description, as some integrations alias it on controls.
    pub control_description: Option<String>,
    /// Remediation of a `Control`.
    pub resolution_recommendation: Option<String>,
    /// Remediation of a `CloudConfigurationRule`.
    pub remediation_instructions: Option<String>,
}

/// A Wiz project reference.
#[derive(Debug, Clone, Deserialize)]
pub struct Project {
    /// Project id.
    pub id: String,
}

/// `entitySnapshot` of an issue.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntitySnapshot {
    /// Graph entity id, the same as the inventory resource id.
    pub id: String,
    /// Wiz entity type (`VIRTUAL_MACHINE`, …).
    #[serde(rename = "type")]
    pub entity_type: Option<String>,
    /// Provider-native type.
    pub native_type: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// `Active`, `Inactive`, `Error`.
    pub status: Option<String>,
    /// `AWS`, `Azure`, `GCP`, `Kubernetes`, …
    pub cloud_platform: Option<String>,
    /// ARN, Azure resource id or GCP name.
    pub provider_id: Option<String>,
    /// The provider's external id (often equal to `providerId`).
    pub external_id: Option<String>,
    /// Region, often `""`.
    pub region: Option<String>,
    /// Account / subscription / project id.
    pub subscription_external_id: Option<String>,
    /// Account display name.
    pub subscription_name: Option<String>,
    /// Resource tags (a JSON object).
    pub tags: Option<serde_json::Map<String, Value>>,
}

/// A `cloudResourcesV2` node, the part the connector reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceNode {
    /// Resource id (= `entitySnapshot.id`).
    pub id: String,
    /// Set when the resource has been deleted.
    pub deleted_at: Option<String>,
    /// The technology identified on it.
    pub technology: Option<Technology>,
}

/// A technology.
#[derive(Debug, Deserialize)]
pub struct Technology {
    /// Technology name.
    pub name: Option<String>,
}
