//! Persistence behind one trait, so backends (SQLite now, PostgreSQL next) are
//! interchangeable. Domain types here are free of any database crate.

pub mod lease;
mod sqlite;

pub use sqlite::SqliteStore;

use crate::plugin::contract;
use serde::Serialize;

/// Errors of a storage backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// It exists already.
    #[error("{0} already exists")]
    Conflict(String),
    /// The database cannot be opened or is damaged.
    #[error("database {path}: {message}")]
    Open {
        /// Where.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Any other database failure.
    #[error("database error: {0}")]
    Backend(String),
}

/// What the platform does around an integration's syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// Auto sync every this many days; 0 means manual only.
    pub auto_sync_days: u32,
    /// Create assets the inventory lacks (Auto Onboard New Assets).
    pub auto_onboard: bool,
    /// Overwrite metadata of assets that exist (Update Existing Asset Metadata).
    pub update_metadata: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            auto_sync_days: 0,
            auto_onboard: true,
            update_metadata: false,
        }
    }
}

/// An integration to add.
#[derive(Debug, Clone)]
pub struct NewIntegration {
    /// Unique name.
    pub name: String,
    /// The connector (plugin name).
    pub connector: String,
    /// Non-secret settings.
    pub settings: Vec<(String, String)>,
    /// Sealed secret settings.
    pub sealed_secrets: String,
    /// Platform policy.
    pub policy: Policy,
}

/// The result of asking for an integration's run lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// Ours now; `interrupted_runs` were left running by a dead process and are now failed.
    Acquired {
        /// Runs marked failed (interrupted).
        interrupted_runs: u64,
    },
    /// Another live process holds it.
    HeldBy(String),
}

/// A stored integration: a configured instance of a connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    /// Row id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// The connector (plugin name).
    pub connector: String,
    /// Non-secret settings, key to value.
    pub settings: Vec<(String, String)>,
    /// Secret settings, encrypted (see `secrets`).
    pub sealed_secrets: String,
    /// When it was added (RFC 3339).
    pub created_at: String,
    /// Platform policy.
    pub policy: Policy,
}

/// What a history row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A connection test.
    TestConnection,
    /// A sync started by a person.
    SyncNow,
    /// A scheduled sync.
    AutoSync,
    /// A settings change.
    ConfigChange,
}

/// How a run ended (or that it is still going).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still going.
    Running,
    /// Done, nothing to report.
    Succeeded,
    /// Done, with warnings to read.
    SucceededWithWarnings,
    /// Stopped by an error.
    Failed,
    /// Stopped on request.
    Cancelled,
}

macro_rules! text_enum {
    ($ty:ty { $($variant:ident = $text:literal),* $(,)? }) => {
        impl $ty {
            /// The stored and displayed name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }
            /// Parses the stored name.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)* _ => None }
            }
        }
    };
}
text_enum!(Action { TestConnection = "test_connection", SyncNow = "sync_now", AutoSync = "auto_sync", ConfigChange = "config_change" });
text_enum!(RunStatus { Running = "running", Succeeded = "succeeded", SucceededWithWarnings = "succeeded_with_warnings", Failed = "failed", Cancelled = "cancelled" });

/// Counts of what a run did to the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    /// Assets created.
    pub assets_onboarded: u64,
    /// Assets whose data changed.
    pub assets_updated: u64,
    /// Assets not stored (rejected records).
    pub assets_skipped: u64,
    /// Findings created.
    pub findings_new: u64,
    /// Findings whose data changed.
    pub findings_updated: u64,
    /// Findings seen again without change.
    pub findings_unchanged: u64,
    /// Findings not stored: skipped by the plugin's rules or rejected by the host.
    pub findings_skipped: u64,
    /// Findings closed because the source no longer returns them.
    pub findings_closed: u64,
}

impl std::ops::AddAssign for RunCounts {
    fn add_assign(&mut self, o: Self) {
        self.assets_onboarded += o.assets_onboarded;
        self.assets_updated += o.assets_updated;
        self.assets_skipped += o.assets_skipped;
        self.findings_new += o.findings_new;
        self.findings_updated += o.findings_updated;
        self.findings_unchanged += o.findings_unchanged;
        self.findings_skipped += o.findings_skipped;
        self.findings_closed += o.findings_closed;
    }
}

/// One row of sync history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryRow {
    /// Row id.
    pub id: i64,
    /// What was done.
    pub action: Action,
    /// Start (RFC 3339 UTC).
    pub started_at: String,
    /// End, once finished.
    pub finished_at: Option<String>,
    /// The OS user, a given name, or `scheduler`.
    pub started_by: String,
    /// How it ended.
    pub status: RunStatus,
    /// What it did.
    #[serde(flatten)]
    pub counts: RunCounts,
    /// Warnings to read.
    pub warnings: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// What a settings change changed (keys only, never values).
    pub details: Option<String>,
}

/// Which findings to list; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingFilter {
    /// Only this integration's.
    pub integration: Option<i64>,
    /// Only this finding (source id).
    pub id: Option<String>,
    /// Only these severities (`critical`, …).
    pub severities: Vec<String>,
    /// Only these statuses (`failed`, `passed`, `accepted_failed`).
    pub statuses: Vec<String>,
    /// Only findings on this asset (source id).
    pub asset: Option<String>,
    /// Only findings whose status changed at or after this RFC 3339 time.
    pub since: Option<String>,
}

/// Which assets to list; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetFilter {
    /// Only this integration's.
    pub integration: Option<i64>,
    /// Only this asset type (case-insensitive).
    pub asset_type: Option<String>,
    /// Only this cloud platform (case-insensitive).
    pub cloud: Option<String>,
}

/// An inventory asset, as one integration reported it or as the inventory holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetRow {
    /// The integration's source id when listed for one integration; else the canonical key.
    pub id: String,
    /// The inventory's identity for it.
    pub canonical_key: String,
    /// Every integration that reported it.
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
    /// Provider id (ARN, …).
    pub provider_id: Option<String>,
    /// Tags.
    pub tags: std::collections::BTreeMap<String, String>,
    /// Status at the source.
    pub status: Option<String>,
    /// Technologies.
    pub technologies: Vec<String>,
}

/// A stored finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingRow {
    /// The integration that reported it.
    pub integration: String,
    /// The source's id for it.
    pub id: String,
    /// The asset's source id.
    pub asset_id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// `critical` … `info`.
    pub severity: String,
    /// `failed`, `passed` or `accepted_failed`.
    pub status: String,
    /// The source's own status.
    pub source_status: String,
    /// Remediation.
    pub remediation: Option<String>,
    /// Rule id.
    pub rule_id: Option<String>,
    /// Rule name.
    pub rule_name: Option<String>,
    /// Created at the source.
    pub created_at: Option<String>,
    /// Updated at the source.
    pub updated_at: Option<String>,
    /// Status changed at the source.
    pub status_changed_at: Option<String>,
    /// Resolved at the source.
    pub resolved_at: Option<String>,
    /// Due.
    pub due_at: Option<String>,
    /// Source project ids.
    pub project_ids: Vec<String>,
    /// Link to the source's UI.
    pub portal_url: Option<String>,
    /// Why the host closed it (`removed_at_source`), if it did.
    pub closed_reason: Option<String>,
}

/// The storage backend.
pub trait Storage: Send {
    /// Adds an integration; fails if the name is taken.
    fn add_integration(&mut self, new: &NewIntegration) -> Result<Integration, StoreError>;
    /// Replaces an integration's settings, secrets and policy.
    fn update_integration(
        &mut self,
        id: i64,
        settings: &[(String, String)],
        sealed_secrets: &str,
        policy: &Policy,
    ) -> Result<(), StoreError>;
    /// One integration by name.
    fn integration(&self, name: &str) -> Result<Integration, StoreError>;
    /// All integrations, by name.
    fn integrations(&self) -> Result<Vec<Integration>, StoreError>;
    /// Removes an integration and everything stored for it.
    fn remove_integration(&mut self, name: &str) -> Result<(), StoreError>;

    /// Takes the integration's run lease unless another live process holds it. Taking it
    /// fails the runs a dead holder left `running`.
    fn acquire_lease(
        &mut self,
        integration: i64,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<LeaseOutcome, StoreError>;
    /// Extends a lease we hold; false if it is no longer ours.
    fn renew_lease(
        &mut self,
        integration: i64,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError>;
    /// Gives a lease back.
    fn release_lease(&mut self, integration: i64, holder: &str) -> Result<(), StoreError>;
    /// When the integration's next auto sync is due (RFC 3339), once scheduled.
    fn next_due(&self, integration: i64) -> Result<Option<String>, StoreError>;
    /// Sets when the next auto sync is due.
    fn set_next_due(&mut self, integration: i64, at: &str) -> Result<(), StoreError>;
    /// Records a settings change: which keys changed, never their values.
    fn record_config_change(
        &mut self,
        integration: i64,
        started_by: &str,
        changed_keys: &[String],
    ) -> Result<(), StoreError>;
    /// Marks failed (interrupted) every `running` run whose integration has no live lease.
    fn fail_abandoned_runs(&mut self) -> Result<u64, StoreError>;

    /// Opens a history row in state `running`.
    fn start_run(
        &mut self,
        integration: i64,
        action: Action,
        started_by: &str,
    ) -> Result<i64, StoreError>;
    /// Closes a history row.
    fn finish_run(
        &mut self,
        run: i64,
        status: RunStatus,
        counts: &RunCounts,
        warnings: &[String],
        error: Option<&str>,
    ) -> Result<(), StoreError>;
    /// History of an integration, newest first.
    fn history(&self, integration: i64) -> Result<Vec<HistoryRow>, StoreError>;

    /// Writes one batch in one transaction as idempotent upserts keyed by
    /// (integration, source id), returning what changed. Assets go to the shared
    /// inventory per `policy`; findings on assets not in it are skipped.
    /// Each finding written or found unchanged is marked as seen in `run`.
    fn write_batch(
        &mut self,
        integration: i64,
        run: i64,
        policy: &Policy,
        batch: &contract::Batch,
    ) -> Result<RunCounts, StoreError>;
    /// Closes (status passed, reason removed_at_source) the integration's open findings
    /// that `run` did not report; returns how many. Only for a complete full sync.
    fn close_findings_unseen_in(&mut self, integration: i64, run: i64) -> Result<u64, StoreError>;
    /// Adds assets known from elsewhere to the inventory, in one transaction. Returns
    /// (added, already present).
    fn import_assets(
        &mut self,
        assets: &[crate::inventory::ImportedAsset],
    ) -> Result<(u64, u64), StoreError>;
    /// Whether an asset is stored for the integration.
    fn has_asset(&self, integration: i64, source_id: &str) -> Result<bool, StoreError>;
    /// Stores the resume point.
    fn save_checkpoint(&mut self, integration: i64, state: &str) -> Result<(), StoreError>;
    /// The stored resume point.
    fn checkpoint(&self, integration: i64) -> Result<Option<String>, StoreError>;
    /// Stored assets matching `filter`.
    fn assets(&self, filter: &AssetFilter) -> Result<Vec<AssetRow>, StoreError>;
    /// Stored findings matching `filter`, most severe first.
    fn findings(&self, filter: &FindingFilter) -> Result<Vec<FindingRow>, StoreError>;
    /// The source's raw JSON of a finding.
    fn finding_raw(&self, integration: i64, id: &str) -> Result<String, StoreError>;
    /// Sets a finding's status locally. The next sync puts the source's status back.
    fn set_finding_status(
        &mut self,
        integration: i64,
        id: &str,
        status: &str,
    ) -> Result<(), StoreError>;
    /// Puts back the status the source last reported wherever it was set locally;
    /// returns how many findings changed.
    fn restore_reported_statuses(&mut self, integration: i64) -> Result<u64, StoreError>;
    /// Forgets the resume point, so the next sync is full.
    fn clear_checkpoint(&mut self, integration: i64) -> Result<(), StoreError>;
}
