//! Normalised records, the plugin-side mirror of the contract's `asset`, `finding` and
//! `batch`. The component layer converts them one-to-one into the generated WIT types.

/// Normalised severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Critical.
    Critical,
    /// High.
    High,
    /// Medium.
    Medium,
    /// Low.
    Low,
    /// Informational.
    Info,
}

/// Normalised assessment status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingStatus {
    /// The problem is present.
    Failed,
    /// The problem is gone.
    Passed,
    /// The problem is present and accepted (ignored at the source).
    AcceptedFailed,
}

/// A resource that findings are about.
#[derive(Debug, Clone, PartialEq)]
pub struct Asset {
    /// Wiz graph entity id.
    pub source_id: String,
    /// Display name.
    pub name: String,
    /// The technology when known, else the Wiz entity type.
    pub asset_type: String,
    /// `AWS`, `Azure` or `GCP`.
    pub cloud_platform: String,
    /// Cloud account / subscription / project id.
    pub cloud_account_id: Option<String>,
    /// Cloud account display name.
    pub cloud_account_name: Option<String>,
    /// Region, when not empty.
    pub region: Option<String>,
    /// ARN, Azure resource id or GCP resource name.
    pub provider_id: Option<String>,
    /// Resource tags as key/value pairs.
    pub tags: Vec<(String, String)>,
    /// Resource status (`Active`, …).
    pub status: Option<String>,
    /// Technologies identified on the resource.
    pub technologies: Vec<String>,
    /// The entity snapshot as JSON.
    pub raw: String,
}

/// A security finding about one asset.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Wiz issue id.
    pub source_id: String,
    /// `source_id` of the asset it concerns.
    pub asset_source_id: String,
    /// The rule's name.
    pub title: String,
    /// The rule's description.
    pub description: String,
    /// Normalised severity.
    pub severity: Severity,
    /// Normalised status.
    pub status: FindingStatus,
    /// Wiz status (`OPEN`, `IN_PROGRESS`, `RESOLVED`, `REJECTED`).
    pub source_status: String,
    /// Remediation text from the rule.
    pub remediation: Option<String>,
    /// Rule id.
    pub rule_id: Option<String>,
    /// Rule name.
    pub rule_name: Option<String>,
    /// Creation time.
    pub created_at: Option<String>,
    /// Last update time.
    pub updated_at: Option<String>,
    /// Last status change time.
    pub status_changed_at: Option<String>,
    /// Resolution time.
    pub resolved_at: Option<String>,
    /// Due time.
    pub due_at: Option<String>,
    /// Wiz project ids.
    pub project_ids: Vec<String>,
    /// Link to the issue in the Wiz portal.
    pub portal_url: Option<String>,
    /// The issue node as JSON.
    pub raw: String,
}

/// One page of records, assets first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Assets first seen in this page.
    pub assets: Vec<Asset>,
    /// Findings of this page.
    pub findings: Vec<Finding>,
    /// Ids of findings that left the scope (their resource was deleted).
    pub removed_findings: Vec<String>,
}

/// Log severity, mirroring the contract's `log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Normal progress.
    Info,
    /// Something odd that did not stop the run.
    Warn,
}
