//! Serde types for the parts of Wiz's GraphQL answers the connector reads. Every field
//! that real tenants have been seen to leave out or null is optional.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;

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

/// `data` of the issues query (the root field is aliased to `issues`). Its nodes stay
/// where they are in the page's body.
#[derive(Debug, Deserialize)]
pub struct IssuesData<'a> {
    /// The connection; null when the query failed.
    #[serde(borrow)]
    pub issues: Option<Connection<&'a RawValue>>,
}

/// `data` of the inventory query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesData {
    /// The connection; null when the query failed.
    pub cloud_resources_v2: Option<Connection<Box<RawValue>>>,
}

/// A Relay connection whose nodes are kept raw, so each can be stored verbatim: borrowed
/// from the body (`&RawValue`) or copied out of it (`Box<RawValue>`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection<N> {
    /// The page's nodes.
    pub nodes: Vec<N>,
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

/// A JSON string read in place: it borrows the page's body unless escapes in it had to
/// be decoded (issue 27: a page's strings were each copied out of it, several times).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text<'a>(pub Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }

            fn visit_str<E>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_string())))
            }

            fn visit_string<E>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// An `issuesV2` node, its strings read in place.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueNode<'a> {
    /// Issue id.
    #[serde(borrow)]
    pub id: Text<'a>,
    /// `OPEN`, `IN_PROGRESS`, `RESOLVED` or `REJECTED`.
    #[serde(borrow)]
    pub status: Text<'a>,
    /// `CRITICAL` … `INFORMATIONAL`.
    #[serde(borrow)]
    pub severity: Text<'a>,
    /// Creation time.
    #[serde(borrow)]
    pub created_at: Option<Text<'a>>,
    /// Update time.
    #[serde(borrow)]
    pub updated_at: Option<Text<'a>>,
    /// Status change time.
    #[serde(borrow)]
    pub status_changed_at: Option<Text<'a>>,
    /// Resolution time.
    #[serde(borrow)]
    pub resolved_at: Option<Text<'a>>,
    /// Due time.
    #[serde(borrow)]
    pub due_at: Option<Text<'a>>,
    /// Why it was resolved (newer schemas).
    #[serde(borrow)]
    pub resolution_reason: Option<Text<'a>>,
    /// Wiz's own portal link, when it sends one.
    #[serde(borrow)]
    pub url: Option<Text<'a>>,
    /// The rules that raised it, the main one first. Entries are non-null in the schema;
    /// a null one is skipped all the same.
    #[serde(borrow)]
    pub source_rules: Option<Vec<Option<SourceRule<'a>>>>,
    /// Projects it belongs to. Real answers carry null entries (projects the service
    /// account may not see); they are skipped.
    #[serde(borrow)]
    pub projects: Option<Vec<Option<Project<'a>>>>,
    /// The resource as it was when the issue was raised.
    #[serde(borrow)]
    pub entity_snapshot: Option<&'a RawValue>,
}

impl IssueNode<'_> {
    /// The rule the finding is named after: the first of `sourceRules`.
    pub fn main_rule(&self) -> Option<&SourceRule<'_>> {
        self.source_rules.iter().flatten().flatten().next()
    }

    /// Ids of the projects it belongs to, null entries skipped.
    pub fn project_ids(&self) -> Vec<String> {
        self.projects
            .iter()
            .flatten()
            .flatten()
            .map(|p| p.id.to_string())
            .collect()
    }
}

/// A `Control`, `CloudConfigurationRule` or `CloudEventRule`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRule<'a> {
    /// Rule id.
    #[serde(borrow)]
    pub id: Option<Text<'a>>,
    /// Rule name.
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    /// Description.
    #[serde(borrow)]
    pub description: Option<Text<'a>>,
    /// Description, as some integrations alias it on controls.
    #[serde(borrow)]
    pub control_description: Option<Text<'a>>,
    /// Remediation of a `Control`.
    #[serde(borrow)]
    pub resolution_recommendation: Option<Text<'a>>,
    /// Remediation of a `CloudConfigurationRule`.
    #[serde(borrow)]
    pub remediation_instructions: Option<Text<'a>>,
}

/// A Wiz project reference.
#[derive(Debug, Clone, Deserialize)]
pub struct Project<'a> {
    /// Project id.
    #[serde(borrow)]
    pub id: Text<'a>,
}

/// `entitySnapshot` of an issue, its strings read in place.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntitySnapshot<'a> {
    /// Graph entity id, the same as the inventory resource id.
    #[serde(borrow)]
    pub id: Text<'a>,
    /// Wiz entity type (`VIRTUAL_MACHINE`, …).
    #[serde(rename = "type", borrow)]
    pub entity_type: Option<Text<'a>>,
    /// Name.
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    /// `Active`, `Inactive`, `Error`.
    #[serde(borrow)]
    pub status: Option<Text<'a>>,
    /// `AWS`, `Azure`, `GCP`, `Kubernetes`, …
    #[serde(borrow)]
    pub cloud_platform: Option<Text<'a>>,
    /// ARN, Azure resource id or GCP name.
    #[serde(borrow)]
    pub provider_id: Option<Text<'a>>,
    /// The provider's external id (often equal to `providerId`).
    #[serde(borrow)]
    pub external_id: Option<Text<'a>>,
    /// Region, often `""`.
    #[serde(borrow)]
    pub region: Option<Text<'a>>,
    /// Account / subscription / project id.
    #[serde(borrow)]
    pub subscription_external_id: Option<Text<'a>>,
    /// Account display name.
    #[serde(borrow)]
    pub subscription_name: Option<Text<'a>>,
    /// Resource tags (a JSON object), read when the asset is built: most resources
    /// were emitted by an earlier page.
    #[serde(borrow)]
    pub tags: Option<&'a RawValue>,
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
