//! The checkpoint state the connector hands to the host, and reads back on the next run.
//! The host treats it as opaque; its shape is this connector's own business.

use serde::{Deserialize, Serialize};

/// Format version of the state; a state of another version is ignored (full sync).
const STATE_VERSION: u32 = 1;

/// The connector's state between and within runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// Format version.
    pub v: u32,
    /// Where an unfinished run stopped; `None` once a run completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<ResumePoint>,
    /// After a completed run: fetch issues whose status changed after this time
    /// (RFC 3339) next time. `None` means the next run is full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<String>,
}

/// The next page of an unfinished run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    /// Index into the configured projects (0 when syncing all projects).
    pub project: usize,
    /// Cursor of the next page.
    pub after: String,
    /// The run's `statusChangedAt.after` filter; `None` for a full run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_after: Option<String>,
    /// The watermark this run will leave when it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_watermark: Option<String>,
}

impl SyncState {
    /// A state in the middle of a run.
    pub fn resuming(point: ResumePoint) -> Self {
        SyncState {
            v: STATE_VERSION,
            resume: Some(point),
            watermark: None,
        }
    }

    /// The state after a completed run.
    pub fn completed(watermark: Option<String>) -> Self {
        SyncState {
            v: STATE_VERSION,
            resume: None,
            watermark,
        }
    }

    /// Reads a stored state. `Err` carries the reason a state was unusable.
    pub fn parse(text: &str) -> Result<Self, String> {
        let state: SyncState =
            serde_json::from_str(text).map_err(|e| format!("unreadable checkpoint ({e})"))?;
        if state.v != STATE_VERSION {
            return Err(format!(
                "checkpoint of format {} (expected {STATE_VERSION})",
                state.v
            ));
        }
        Ok(state)
    }

    /// The state as the text to checkpoint.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("the state always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_foreign_states() {
        let s = SyncState::resuming(ResumePoint {
            project: 2,
            after: "cur".into(),
            changed_after: Some("t".into()),
            next_watermark: None,
        });
        assert_eq!(SyncState::parse(&s.to_text()).unwrap(), s);
        let done = SyncState::completed(Some("2026-01-01T00:00:00Z".into()));
        assert_eq!(SyncState::parse(&done.to_text()).unwrap(), done);
        assert!(SyncState::parse("{\"v\":99}").is_err());
        assert!(SyncState::parse("garbage").is_err());
    }
}
