//! Whose fault a failure is, and whether trying again later can help.

use crate::model::{SourceError, SourceErrorKind};
use serde::Serialize;
use std::time::Duration;

/// The class of a failure: who must act, and whether a retry may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The configuration is wrong; a person must change it.
    Config,
    /// The credentials were refused.
    Auth,
    /// The credentials lack a permission.
    Permission,
    /// Network, throttling or a server error at the source; a later retry may succeed.
    Transient,
    /// The sandbox stopped the plugin (a refused destination, a limit, the deadline).
    Sandbox,
    /// The plugin misbehaved (crashed, or could not read the source's answer).
    PluginBug,
    /// The host's database failed (lost, restarting, full); a later retry may succeed
    /// once it is back.
    Store,
}

impl FailureClass {
    /// The class's name, as the API's problem types use it.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Config => "config",
            FailureClass::Auth => "auth",
            FailureClass::Permission => "permission",
            FailureClass::Transient => "transient",
            FailureClass::Sandbox => "sandbox",
            FailureClass::PluginBug => "plugin-bug",
            FailureClass::Store => "store",
        }
    }

    /// Whether the same run, unchanged, may succeed later: the source's passing troubles,
    /// and the host's database coming back (a restart, a failover).
    pub fn retryable(self) -> bool {
        matches!(self, FailureClass::Transient | FailureClass::Store)
    }

    /// The class of a plugin's own error.
    pub fn of_source(kind: SourceErrorKind) -> Self {
        match kind {
            SourceErrorKind::Auth => FailureClass::Auth,
            SourceErrorKind::Permission => FailureClass::Permission,
            SourceErrorKind::Config => FailureClass::Config,
            SourceErrorKind::RateLimited | SourceErrorKind::Transient => FailureClass::Transient,
            SourceErrorKind::Protocol | SourceErrorKind::Internal => FailureClass::PluginBug,
        }
    }
}

/// How long a source asked to be left alone, when its error says so.
pub fn source_wait(e: &SourceError) -> Option<Duration> {
    match e.kind {
        SourceErrorKind::RateLimited => e
            .retry_after_seconds
            .map(|s| Duration::from_secs(u64::from(s))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_has_the_name_api_clients_match_on() {
        // The API's problem types are `failed-` and this name (README: `…#failed-auth`):
        // renaming one breaks every client that branches on it.
        let names: Vec<&str> = [
            FailureClass::Config,
            FailureClass::Auth,
            FailureClass::Permission,
            FailureClass::Transient,
            FailureClass::Sandbox,
            FailureClass::PluginBug,
            FailureClass::Store,
        ]
        .into_iter()
        .map(FailureClass::as_str)
        .collect();
        assert_eq!(
            names,
            [
                "config",
                "auth",
                "permission",
                "transient",
                "sandbox",
                "plugin-bug",
                "store"
            ]
        );
    }

    #[test]
    fn only_the_sources_passing_troubles_are_worth_a_retry() {
        let retryable: Vec<SourceErrorKind> = [
            SourceErrorKind::Auth,
            SourceErrorKind::Permission,
            SourceErrorKind::Config,
            SourceErrorKind::RateLimited,
            SourceErrorKind::Transient,
            SourceErrorKind::Protocol,
            SourceErrorKind::Internal,
        ]
        .into_iter()
        .filter(|k| FailureClass::of_source(*k).retryable())
        .collect();
        assert_eq!(
            retryable,
            vec![SourceErrorKind::RateLimited, SourceErrorKind::Transient]
        );
        assert!(!FailureClass::Sandbox.retryable() && !FailureClass::PluginBug.retryable());
        assert!(
            FailureClass::Store.retryable(),
            "a database that restarted is back for the retry"
        );
        let throttled = SourceError {
            kind: SourceErrorKind::RateLimited,
            message: "slow down".into(),
            retry_after_seconds: Some(90),
        };
        assert_eq!(source_wait(&throttled), Some(Duration::from_secs(90)));
        let down = SourceError {
            kind: SourceErrorKind::Transient,
            ..throttled
        };
        assert_eq!(source_wait(&down), None, "only a rate limit names a wait");
    }
}
