//! What the host offers a running sync, and [`Pages`], which hands it pages in the order
//! the contract needs: a page is emitted before the checkpoint that covers it, so a run
//! stopped between the two repeats a page instead of losing one.

use crate::error::ConnectorError;
use crate::records::{Batch, LogLevel};

/// The host's side of a sync: the contract's `host` interface.
pub trait Host {
    /// Stores one page; `false` means stop. The batch may borrow the page it was read
    /// from: the host has copied what it keeps before this returns.
    fn emit(&mut self, batch: Batch<'_>) -> bool;
    /// Stores the resume point covering everything emitted so far.
    fn checkpoint(&mut self, state: &str);
    /// Writes a log line (the host scrubs secrets from it all the same).
    fn log(&mut self, level: LogLevel, message: &str);
    /// Reports progress: items done, of `total` when known.
    fn progress(&mut self, done: u64, total: Option<u64>);
}

/// What a finished sync reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Assets emitted.
    pub assets: u64,
    /// Findings emitted.
    pub findings: u64,
    /// Source records skipped by the connector's rules.
    pub skipped: u64,
    /// Whether it read everything from the start (not incremental, not resumed): the
    /// host then closes what it did not see.
    pub full: bool,
    /// Warnings for the operator.
    pub warnings: Vec<String>,
}

/// Delivers a sync's pages to the host and keeps its summary.
pub struct Pages<'h, H: ?Sized> {
    host: &'h mut H,
    summary: SyncSummary,
}

impl<'h, H: Host + ?Sized> Pages<'h, H> {
    /// Pages for `host`.
    pub fn new(host: &'h mut H) -> Self {
        Pages {
            host,
            summary: SyncSummary::default(),
        }
    }

    /// Emits `batch`, then, if the host took it, stores `resume` (when given) as the point
    /// to go on from. Empty batches are not sent, but their checkpoint is. Fails when the
    /// host said stop.
    pub fn deliver(
        &mut self,
        batch: Batch<'_>,
        resume: Option<&str>,
    ) -> Result<(), ConnectorError> {
        self.summary.assets += batch.assets.len() as u64;
        self.summary.findings += batch.findings.len() as u64;
        if !batch.is_empty() && !self.host.emit(batch) {
            return Err(ConnectorError::Internal("the host stopped the run".into()));
        }
        if let Some(state) = resume {
            self.host.checkpoint(state);
        }
        Ok(())
    }

    /// Reports progress.
    pub fn progress(&mut self, done: u64, total: Option<u64>) {
        self.host.progress(done, total);
    }

    /// Writes a log line.
    pub fn log(&mut self, level: LogLevel, message: &str) {
        self.host.log(level, message);
    }

    /// Adds a warning for the operator to the summary, and logs it.
    pub fn warn(&mut self, message: impl Into<String>) {
        let message = message.into();
        self.host.log(LogLevel::Warn, &message);
        self.summary.warnings.push(message);
    }

    /// Counts `count` source records the rules skipped.
    pub fn skipped(&mut self, count: u64) {
        self.summary.skipped += count;
    }

    /// The summary so far.
    pub fn summary(&self) -> &SyncSummary {
        &self.summary
    }

    /// The summary of the finished run; `full` as [`SyncSummary::full`].
    pub fn finish(self, full: bool) -> SyncSummary {
        SyncSummary {
            full,
            ..self.summary
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Asset;
    use crate::testkit::{Event, FakeHost};

    fn one_asset() -> Batch<'static> {
        Batch {
            assets: vec![Asset {
                source_id: "a".into(),
                ..Asset::default()
            }],
            ..Batch::default()
        }
    }

    #[test]
    fn a_page_is_emitted_before_the_checkpoint_that_covers_it() {
        let mut host = FakeHost::default();
        let mut pages = Pages::new(&mut host);
        pages.deliver(one_asset(), Some("after-1")).unwrap();
        pages.deliver(Batch::default(), Some("after-2")).unwrap();
        pages.warn("odd");
        let summary = pages.finish(true);
        assert_eq!((summary.assets, summary.full), (1, true));
        assert_eq!(summary.warnings, ["odd"]);
        assert!(matches!(host.events()[0], Event::Emit(_)));
        assert_eq!(host.events()[1], Event::Checkpoint("after-1".into()));
        assert_eq!(
            host.events()[2],
            Event::Checkpoint("after-2".into()),
            "no empty emit"
        );
    }

    #[test]
    fn a_stop_from_the_host_keeps_the_checkpoint_back() {
        let mut host = FakeHost::stopping_after(0);
        let mut pages = Pages::new(&mut host);
        assert!(pages.deliver(one_asset(), Some("after-1")).is_err());
        assert!(host.checkpoints().is_empty());
    }
}
