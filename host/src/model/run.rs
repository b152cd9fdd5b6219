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
        /// Statuses of findings set here.
        StatusChange = "status_change",
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

impl RunCounts {
    /// Findings the run wrote: created, changed or closed.
    pub fn findings_written(&self) -> u64 {
        self.findings_new + self.findings_updated + self.findings_closed
    }
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
    /// What kind of run it was, when that says more than its action (`full sync`);
    /// `None` keeps what the row holds.
    pub details: Option<String>,
}

impl RunEnd {
    /// A run that ended with `status` and nothing else to say.
    pub fn bare(status: RunStatus, error: Option<String>) -> Self {
        RunEnd {
            status,
            counts: RunCounts::default(),
            warnings: Vec::new(),
            error,
            details: None,
        }
    }
}

/// The history note of a sync that read everything from the start.
pub const FULL_SYNC: &str = "full sync";
/// The history note of a sync that resumed from the last sync's checkpoint.
pub const INCREMENTAL_SYNC: &str = "incremental sync";

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
    /// The worker that ran it (a sync's lease holder).
    pub worker: Option<String>,
}

/// Requests the sandbox refused during one call: how many, and the first few distinct
/// destinations. Bounded whatever the plugin tries, so a plugin that retries a refused
/// request a million times costs a counter, not a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refusals {
    /// Every refusal.
    pub count: u64,
    /// Those a settings change can fix (see [`RefusalCause::Settings`]).
    pub by_settings: u64,
    /// The first [`Refusals::EXAMPLES`] distinct reasons, in order.
    pub examples: Vec<String>,
}

/// Who can fix a refused request: it decides how the failed run is classed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalCause {
    /// A host the operator entered in a URL setting is one the policy refuses (a
    /// metadata or link-local address, or a name resolving to one): a configuration
    /// failure, fixed by changing the setting.
    Settings,
    /// The plugin asked for a destination outside its settings: the sandbox held it.
    Plugin,
}

impl Refusals {
    /// How many distinct reasons are kept.
    pub const EXAMPLES: usize = 5;

    /// Counts one refusal; whether it is the first with this reason (worth a log line).
    pub fn record(&mut self, reason: String, cause: RefusalCause) -> bool {
        self.count += 1;
        if cause == RefusalCause::Settings {
            self.by_settings += 1;
        }
        if self.examples.len() >= Self::EXAMPLES || self.examples.contains(&reason) {
            return false;
        }
        self.examples.push(reason);
        true
    }

    /// Whether nothing was refused.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether some refusal is the settings' to fix, not the plugin's doing.
    pub fn settings_to_fix(&self) -> bool {
        self.by_settings > 0
    }
}

impl std::fmt::Display for Refusals {
    /// "3 request(s): a; b", with "and N more" past the examples.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} request(s): {}", self.count, self.examples.join("; "))?;
        let shown = self.examples.len() as u64;
        if self.count > shown {
            write!(f, " (and {} more)", self.count - shown)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod refusal_tests {
    use super::{RefusalCause, Refusals};

    #[test]
    fn a_million_refusals_keep_a_count_and_a_few_reasons() {
        let mut refusals = Refusals::default();
        let mut logged = 0;
        for i in 0..1_000_000u32 {
            let reason = format!("host-{} not allowed", i % 7);
            logged += u32::from(refusals.record(reason, RefusalCause::Plugin));
        }
        assert_eq!(refusals.count, 1_000_000);
        assert_eq!(refusals.examples.len(), Refusals::EXAMPLES);
        assert_eq!(logged, 5);
        let text = refusals.to_string();
        assert!(
            text.starts_with("1000000 request(s): host-0 not allowed; "),
            "{text}"
        );
        assert!(text.ends_with("(and 999995 more)"), "{text}");
        assert!(text.len() < 200);
    }
}
