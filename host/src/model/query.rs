//! What the store answers to questions: findings and inventory assets, and the filters
//! that choose them.

use super::record::{FindingStatus, Severity, UnknownName};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// Which findings to list; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingFilter {
    /// Only this integration's.
    pub integration: Option<i64>,
    /// Only this finding (source id).
    pub id: Option<String>,
    /// Only these severities.
    pub severities: Vec<Severity>,
    /// Only these statuses.
    pub statuses: Vec<FindingStatus>,
    /// Only findings on this asset (source id).
    pub asset: Option<String>,
    /// Only findings on this inventory asset (canonical key), whichever integration
    /// reported them.
    pub inventory: Option<String>,
    /// Only findings whose status changed (or, never changed, that were created) at or
    /// after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only findings whose title or rule name holds each of these words (ignoring case).
    pub words: Vec<String>,
}

super::record::named_enum!(
    /// What the Finding View is sorted by. Ties fall back on the integration and then the
    /// order findings were first stored, so every order is total and pages never overlap.
    #[derive(Default)]
    FindingSort: "sort" {
        /// Most severe first.
        #[default]
        Severity = "severity",
        /// By title, ignoring case.
        Title = "title",
        /// By the name of the finding's asset, as people read names (findings whose asset
        /// is not in the inventory first).
        Asset = "asset",
        /// By status name.
        Status = "status",
        /// By when the status last changed (or, never changed, when the finding was
        /// created or first stored), oldest first.
        Changed = "changed",
    }
);

/// A sort and its direction: `title` ascending, `-title` descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, Serialize)]
pub struct FindingOrder {
    /// What to sort by.
    pub by: FindingSort,
    /// Reversed.
    pub descending: bool,
}

impl std::fmt::Display for FindingOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.descending { "-" } else { "" };
        write!(f, "{sign}{}", self.by.as_str())
    }
}

impl std::str::FromStr for FindingOrder {
    type Err = UnknownName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (descending, name) = match text.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, text),
        };
        Ok(FindingOrder {
            by: name.parse()?,
            descending,
        })
    }
}

/// A finding's value in the column a page is sorted by.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// A rank or count.
    Int(i64),
    /// Text, as the store compares it.
    Text(String),
    /// A time.
    Time(DateTime<Utc>),
}

/// Where a page of findings starts: just after (or, going back, just before) this
/// finding, in the order the cursor was made for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
pub struct FindingCursor {
    /// The order the page is in.
    pub order: FindingOrder,
    /// The finding's value in the sorted column.
    pub key: SortKey,
    /// Its integration's row id.
    pub integration: i64,
    /// Its place among its integration's findings: the order it was first stored in.
    pub row: i64,
    /// The page runs back from here: the findings just before this one.
    pub backward: bool,
}

/// One page of findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingPage {
    /// The page, in the order asked for.
    pub findings: Vec<StoredFinding>,
    /// Where the next page starts, when there is one.
    pub next: Option<FindingCursor>,
    /// Where the page before starts, when there is one.
    pub previous: Option<FindingCursor>,
}

/// Where a page of assets starts: after this (name, id), in listing order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AssetCursor {
    /// The last listed asset's name, as its sort key ([`super::natural_key`]).
    pub name_key: String,
    /// Its id (source id within an integration, else canonical key).
    pub id: String,
}

/// A page of assets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetPage {
    /// The page, by name then id.
    pub assets: Vec<InventoryAsset>,
    /// Where the next page starts, when there is one.
    pub next: Option<AssetCursor>,
}

/// Which rows of a short, newest-first listing (history) to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Rows to pass over.
    pub offset: u64,
    /// Most rows to read.
    pub limit: u64,
}

impl Window {
    /// Every row.
    pub const ALL: Window = Window {
        offset: 0,
        limit: i64::MAX as u64,
    };
}

/// Which assets to list; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetFilter {
    /// Only this integration's, listed by its source ids.
    pub integration: Option<i64>,
    /// Only this asset type (case-insensitive).
    pub asset_type: Option<String>,
    /// Only this cloud platform (case-insensitive).
    pub cloud: Option<String>,
    /// Only the asset with this canonical key.
    pub key: Option<String>,
}

/// An inventory asset, as one integration reported it or as the inventory holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct InventoryAsset {
    /// The integration's source id when listed for one integration; else the canonical key.
    pub id: String,
    /// The inventory's identity for it.
    pub canonical_key: String,
    /// Every integration that reported it, by name.
    pub integrations: Vec<String>,
    /// Display name.
    pub name: String,
    /// Asset type.
    pub asset_type: String,
    /// Cloud platform.
    pub cloud_platform: String,
    /// Cloud account id.
    pub cloud_account_id: Option<String>,
    /// Cloud account name.
    pub cloud_account_name: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Provider id.
    pub provider_id: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Status at the source.
    pub status: Option<String>,
    /// Technologies.
    pub technologies: Vec<String>,
    /// Deleted at the source: by this integration's source when listed for one
    /// integration; by every source that reported it when listed for the inventory.
    pub removed: bool,
}

/// A stored finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StoredFinding {
    /// The integration that reported it.
    pub integration: String,
    /// The source's id for it.
    pub id: String,
    /// Its asset's source id.
    pub asset_id: String,
    /// Its asset's name in the inventory, when the asset is stored.
    pub asset_name: Option<String>,
    /// Its asset's type, likewise.
    pub asset_type: Option<String>,
    /// Its asset's canonical key in the inventory, likewise: what asset links name.
    pub asset_key: Option<String>,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Severity.
    pub severity: Severity,
    /// Effective status: the source's, or one set here until the next sync.
    pub status: FindingStatus,
    /// The source's own status name.
    pub source_status: String,
    /// Remediation.
    pub remediation: Option<String>,
    /// Rule id.
    pub rule_id: Option<String>,
    /// Rule name.
    pub rule_name: Option<String>,
    /// Created at the source.
    pub created_at: Option<DateTime<Utc>>,
    /// Updated at the source.
    pub updated_at: Option<DateTime<Utc>>,
    /// Status changed at the source.
    pub status_changed_at: Option<DateTime<Utc>>,
    /// Resolved at the source.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Due.
    pub due_at: Option<DateTime<Utc>>,
    /// Source project ids.
    pub project_ids: Vec<String>,
    /// Link to the source's UI.
    pub portal_url: Option<String>,
    /// Why the host closed it (`removed_at_source`), if it did.
    pub closed_reason: Option<String>,
    /// What kind of finding it is.
    pub kind: crate::model::FindingKind,
    /// For a vulnerability: its advisory, scores and package.
    pub vulnerability: Option<crate::model::Vulnerability>,
}

/// A status to set here on findings, by whom and why: every change is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The status to set.
    pub status: FindingStatus,
    /// Who sets it.
    pub by: String,
    /// Why.
    pub reason: String,
}

/// A status change as recorded on a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StatusChangeRecord {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub by: String,
    /// The status before.
    pub from: FindingStatus,
    /// The status set.
    pub to: FindingStatus,
    /// Why.
    pub reason: String,
}

/// How many findings of one integration one change moved from one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusesMoved {
    /// The integration's row id.
    pub integration: i64,
    /// The status they had.
    pub from: FindingStatus,
    /// How many.
    pub count: u64,
}
