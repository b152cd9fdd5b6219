//! Runs (syncs, connection tests, settings changes) and their history.

use super::record::{UnknownName, named_enum};
use chrono::{DateTime, Utc};
use serde::Serialize;

named_enum!(
    /// What a history row records.
    Action: "action" {
        /// A connection test.
        TestConnection = "test_connection",
        /// A sync started by a person.
        SyncNow = "sync_now",
        /// A scheduled sync.
        AutoSync = "auto_sync",
        /// A settings change.
        ConfigChange = "config_change",
    }
);

named_enum!(
    /// How a run ended, or that it is still going.
    RunStatus: "run status" {
        /// Still going.
        Running = "running",
        /// Done, nothing to report.
        Succeeded = "succeeded",
        /// Done, with warnings to read.
        SucceededWithWarnings = "succeeded_with_warnings",
        /// Stopped by an error.
        Failed = "failed",
        /// Stopped on request.
        Cancelled = "cancelled",
    }
);

/// Counts of what a run did to the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RunCounts {
    /// Assets created in the inventory.
    pub assets_onboarded: u64,
    /// Inventory assets whose metadata changed.
    pub assets_updated: u64,
    /// Assets not stored (rejected, or not onboarded by policy).
    pub assets_skipped: u64,
    /// Findings created.
    pub findings_new: u64,
    /// Findings whose data changed.
    pub findings_updated: u64,
    /// Findings seen again without change.
    pub findings_unchanged: u64,
    /// Findings not stored: skipped by the plugin's rules, by policy, or rejected.
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

/// How a run ended: what closes its history row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEnd {
    /// Final status (never `Running`).
    pub status: RunStatus,
    /// What it did.
    pub counts: RunCounts,
    /// Warnings to read.
    pub warnings: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
}

impl RunEnd {
    /// A run that ended with `status` and nothing else to say.
    pub fn bare(status: RunStatus, error: Option<String>) -> Self {
        RunEnd {
            status,
            counts: RunCounts::default(),
            warnings: Vec::new(),
            error,
        }
    }
}

/// One row of history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HistoryRow {
    /// Row id.
    pub id: i64,
    /// What was done.
    pub action: Action,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End, once finished.
    pub finished_at: Option<DateTime<Utc>>,
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
