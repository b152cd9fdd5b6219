//! How a sync's end is judged: its status, its warnings, whether it may close the
//! findings it did not see, and what it does to statuses set here.
//!
//! Local statuses: a person may set a finding's status here, but the source stays the
//! truth. Every sync, whatever its end, puts back the status the source last reported.

use super::failure::{FailureClass, source_wait};
use crate::model::{Refusals, RunCounts, RunEnd, RunStatus, SourceError, SyncSummary};
use std::time::Duration;

/// How the plugin's call ended, as far as the judge needs to know.
#[derive(Debug)]
pub enum PluginEnd {
    /// It returned a summary.
    Finished(SyncSummary),
    /// It returned an error; `blocked` lists destinations the sandbox refused meanwhile.
    Failed {
        /// The plugin's error.
        error: SourceError,
        /// Requests the sandbox refused.
        blocked: Refusals,
    },
    /// The host stopped it or it crashed.
    Stopped {
        /// What happened, for people.
        message: String,
        /// Sandbox (deadline, limits) or plugin bug (crash).
        class: FailureClass,
    },
}

/// Everything a run's end is judged on.
#[derive(Debug)]
pub struct SyncEnd {
    /// The plugin's end.
    pub plugin: PluginEnd,
    /// What the stored batches did.
    pub counts: RunCounts,
    /// Why records were rejected (all of them; the warning quotes a few).
    pub rejected: u64,
    /// The first few rejection reasons.
    pub rejected_examples: Vec<String>,
    /// Portal links taken out of stored findings (all of them; the warning quotes a few).
    pub links_dropped: u64,
    /// The first few of them.
    pub link_examples: Vec<String>,
    /// Why storing failed or a ceiling stopped the run, if either did.
    pub store_error: Option<(String, FailureClass)>,
    /// Whether its checkpoints were dropped because the settings changed meanwhile.
    pub settings_changed: bool,
    /// Whether a person or shutdown cancelled it.
    pub cancelled: bool,
    /// Whether it started from scratch (no checkpoint, or asked to read everything).
    pub full: bool,
}

/// The judged end of a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// What closes the history row.
    pub end: RunEnd,
    /// The failure's class, if it failed.
    pub failure: Option<FailureClass>,
    /// How long the source asked to be left alone, if it did and the run failed.
    pub source_wait: Option<Duration>,
}

/// Whether a run may close the findings it did not see: only a complete full read,
/// neither cancelled nor cut short by the store, proves they are gone.
pub fn may_close_unseen(plugin: &PluginEnd, cancelled: bool, store_failed: bool) -> bool {
    matches!(plugin, PluginEnd::Finished(summary) if summary.full) && !cancelled && !store_failed
}

/// The warning of a run whose integration's settings changed while it ran.
pub const SETTINGS_CHANGED: &str = "the integration's settings changed while this sync ran: its checkpoints were not kept, so the next sync reads everything with the new settings";

/// The message a cancelled run ends with.
pub const CANCELLED: &str =
    "cancelled: the host was asked to stop; committed batches and the checkpoint are kept";

/// Judges a sync's end.
pub fn judge(end: SyncEnd) -> Verdict {
    let mut counts = end.counts;
    let mut warnings = Vec::new();
    if end.rejected > 0 {
        warnings.push(format!(
            "{} record(s) rejected as malformed, for example: {}",
            end.rejected,
            end.rejected_examples.join("; ")
        ));
    }
    if end.links_dropped > 0 {
        warnings.push(format!(
            "{} portal link(s) dropped, only https and http links are kept, for example: {}",
            end.links_dropped,
            end.link_examples.join("; ")
        ));
    }
    if end.settings_changed {
        warnings.push(SETTINGS_CHANGED.to_string());
    }
    let (error, failure, wait) = match end.plugin {
        PluginEnd::Finished(summary) => {
            counts.findings_skipped += summary.skipped;
            warnings.extend(summary.warnings);
            match end.store_error {
                Some((message, class)) => (Some(message), Some(class), None),
                None => (None, None, None),
            }
        }
        PluginEnd::Failed { error, blocked } => {
            let (mut text, class, wait) = match end.store_error {
                Some((message, class)) => (message, class, None),
                None => (
                    error.to_string(),
                    FailureClass::of_source(error.kind),
                    source_wait(&error),
                ),
            };
            let class = if blocked.is_empty() {
                class
            } else {
                text = format!("the sandbox blocked {blocked}; {text}");
                // A host the operator entered that the policy refuses is a setting to
                // change, never a blip to retry; a destination the plugin chose itself
                // is the sandbox holding it.
                match blocked.settings_to_fix() {
                    true => FailureClass::Config,
                    false => FailureClass::Sandbox,
                }
            };
            (Some(text), Some(class), wait)
        }
        PluginEnd::Stopped { message, class } => (Some(message), Some(class), None),
    };
    let (status, error, failure) = if end.cancelled {
        (RunStatus::Cancelled, Some(CANCELLED.to_string()), None)
    } else {
        let status = match (&error, warnings.is_empty()) {
            (Some(_), _) => RunStatus::Failed,
            (None, true) => RunStatus::Succeeded,
            (None, false) => RunStatus::SucceededWithWarnings,
        };
        (status, error, failure)
    };
    Verdict {
        source_wait: wait.filter(|_| failure.is_some()),
        failure,
        end: RunEnd {
            status,
            counts,
            warnings,
            error,
            details: Some(
                match end.full {
                    true => crate::model::FULL_SYNC,
                    false => crate::model::INCREMENTAL_SYNC,
                }
                .to_string(),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RefusalCause, SourceErrorKind};

    fn end(plugin: PluginEnd) -> SyncEnd {
        SyncEnd {
            plugin,
            counts: RunCounts::default(),
            rejected: 0,
            rejected_examples: vec![],
            links_dropped: 0,
            link_examples: vec![],
            store_error: None,
            settings_changed: false,
            cancelled: false,
            full: true,
        }
    }

    #[test]
    fn a_sync_says_whether_it_read_everything() {
        let full = judge(end(finished(true)));
        assert_eq!(full.end.details.as_deref(), Some(crate::model::FULL_SYNC));
        let resumed = judge(SyncEnd {
            full: false,
            ..end(finished(false))
        });
        assert_eq!(
            resumed.end.details.as_deref(),
            Some(crate::model::INCREMENTAL_SYNC)
        );
    }

    fn finished(full: bool) -> PluginEnd {
        PluginEnd::Finished(SyncSummary {
            full,
            skipped: 2,
            ..Default::default()
        })
    }

    fn throttled() -> PluginEnd {
        PluginEnd::Failed {
            error: SourceError {
                kind: SourceErrorKind::RateLimited,
                message: "slow down".into(),
                retry_after_seconds: Some(60),
            },
            blocked: Refusals::default(),
        }
    }

    #[test]
    fn only_a_complete_full_read_closes_unseen_findings() {
        assert!(may_close_unseen(&finished(true), false, false));
        assert!(
            !may_close_unseen(&finished(false), false, false),
            "incremental or resumed"
        );
        assert!(!may_close_unseen(&finished(true), true, false), "cancelled");
        assert!(
            !may_close_unseen(&finished(true), false, true),
            "store failed"
        );
        assert!(!may_close_unseen(&throttled(), false, false));
    }

    #[test]
    fn statuses_follow_errors_warnings_and_cancellation() {
        let ok = judge(end(finished(true)));
        assert_eq!(ok.end.status, RunStatus::Succeeded);
        assert_eq!(
            ok.end.counts.findings_skipped, 2,
            "the plugin's skips are counted"
        );
        let mut rejected = end(finished(true));
        rejected.rejected = 4;
        rejected.rejected_examples = vec!["finding `x`: `title` is too long".into()];
        let warned = judge(rejected);
        assert_eq!(warned.end.status, RunStatus::SucceededWithWarnings);
        assert!(warned.end.warnings[0].starts_with("4 record(s) rejected"));
        let failed = judge(end(throttled()));
        assert_eq!(failed.end.status, RunStatus::Failed);
        assert_eq!(failed.failure, Some(FailureClass::Transient));
        assert_eq!(failed.source_wait, Some(Duration::from_secs(60)));
        let mut cancelled = end(throttled());
        cancelled.cancelled = true;
        let cancelled = judge(cancelled);
        assert_eq!(cancelled.end.status, RunStatus::Cancelled);
        assert_eq!((cancelled.failure, cancelled.source_wait), (None, None));
    }

    fn failed_while_refused(cause: RefusalCause) -> PluginEnd {
        let mut blocked = Refusals::default();
        blocked.record("https://evil.example".into(), cause);
        PluginEnd::Failed {
            error: SourceError {
                kind: SourceErrorKind::Transient,
                message: "connect failed".into(),
                retry_after_seconds: None,
            },
            blocked,
        }
    }

    #[test]
    fn a_refused_host_from_the_settings_is_a_configuration_failure() {
        let refused = judge(end(failed_while_refused(RefusalCause::Settings)));
        assert_eq!(refused.failure, Some(FailureClass::Config));
        assert!(!FailureClass::Config.retryable());
        assert!(
            refused
                .end
                .error
                .unwrap()
                .starts_with("the sandbox blocked 1 request(s): https://evil.example")
        );
    }

    #[test]
    fn a_blocked_request_makes_it_the_sandboxs_failure_and_a_store_error_wins() {
        let blocked = judge(end(failed_while_refused(RefusalCause::Plugin)));
        assert_eq!(blocked.failure, Some(FailureClass::Sandbox));
        assert!(
            blocked
                .end
                .error
                .unwrap()
                .starts_with("the sandbox blocked 1 request(s)")
        );
        let mut store_failed = end(throttled());
        store_failed.store_error = Some((
            "storing a batch failed: disk full".into(),
            FailureClass::Store,
        ));
        let v = judge(store_failed);
        assert_eq!(v.failure, Some(FailureClass::Store));
        assert_eq!(
            v.end.error.as_deref(),
            Some("storing a batch failed: disk full")
        );
        assert_eq!(v.source_wait, None);
    }
}
