//! Where "now" comes from for scheduling in tests: a file that holds an RFC 3339 time
//! the test moves forward. Without one, the scheduler asks the store's clock.

use chrono::{DateTime, Utc};
use std::path::PathBuf;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Now, UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// A clock read from a file on every call; unreadable content falls back to the system
/// clock with a warning.
pub struct FileClock(pub PathBuf);

impl Clock for FileClock {
    fn now(&self) -> DateTime<Utc> {
        let text = std::fs::read_to_string(&self.0).unwrap_or_default();
        match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(t) => t.with_timezone(&Utc),
            Err(e) => {
                tracing::warn!(
                    "clock file {}: {e}; using the system clock",
                    self.0.display()
                );
                Utc::now()
            }
        }
    }
}
