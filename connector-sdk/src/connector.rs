//! The trait a connector implements, and the step-by-step report of a connection test.
//! [`crate::export_connector!`] binds an implementation to the contract.

use crate::error::ConnectorError;
use crate::host::{Host, SyncSummary};
use crate::http::Transport;
use crate::schema::Description;
use crate::settings::Settings;

/// A connector: what it is, how it checks a connection, how it syncs. Its code is plain
/// async Rust over a [`Transport`] and a [`Host`], so it runs natively in unit tests (with
/// [`crate::testkit`]) exactly as it runs in the component.
pub trait Connector {
    /// Its name, version, settings, streams and fixed endpoints.
    fn describe() -> Description;

    /// Checks settings step by step: credentials, reach, permissions.
    fn test_connection<T: Transport>(
        settings: &Settings,
        transport: T,
    ) -> impl Future<Output = Result<Vec<Step>, ConnectionFailure>>;

    /// Pulls `streams` (names from [`Connector::describe`], at least one) from `state` (the
    /// last checkpoint, or none for a full read), handing pages to `host`.
    fn sync<T: Transport, H: Host>(
        settings: &Settings,
        streams: &[String],
        state: Option<&str>,
        transport: T,
        host: &mut H,
    ) -> impl Future<Output = Result<SyncSummary, ConnectorError>>;
}

/// How a step of a connection test went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It worked.
    Passed,
    /// It failed.
    Failed,
    /// Not run, because an earlier step failed.
    Skipped,
}

/// One named step of a connection test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Short name (`token`, `organization`).
    pub name: String,
    /// How it went.
    pub outcome: Outcome,
    /// What was checked, or what failed and how to fix it.
    pub detail: String,
}

/// A failed connection test: the cause and every step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionFailure {
    /// The cause.
    pub error: ConnectorError,
    /// Every step, in order, the ones not run included.
    pub steps: Vec<Step>,
}

impl From<ConnectorError> for ConnectionFailure {
    /// A test that failed before its first step (its settings do not read).
    fn from(error: ConnectorError) -> Self {
        ConnectionFailure {
            error,
            steps: Vec::new(),
        }
    }
}

/// Checks that every stream `sync` was asked for is one of `offered`.
pub fn check_streams(asked: &[String], offered: &[&str]) -> Result<(), ConnectorError> {
    match asked.iter().find(|s| !offered.contains(&s.as_str())) {
        None => Ok(()),
        Some(unknown) => Err(ConnectorError::Config(format!(
            "unknown stream `{unknown}`; this connector offers {}",
            offered
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A connection test's steps, declared up front so a failure reports the ones it kept
/// from running as skipped.
#[derive(Debug)]
pub struct Checklist {
    names: Vec<&'static str>,
    steps: Vec<Step>,
}

impl Checklist {
    /// A test of these steps, in order.
    pub fn new(names: &[&'static str]) -> Self {
        Checklist {
            names: names.to_vec(),
            steps: Vec::new(),
        }
    }

    /// Records `name` as passed.
    pub fn passed(&mut self, name: &'static str, detail: impl Into<String>) {
        self.steps.push(Step {
            name: name.to_string(),
            outcome: Outcome::Passed,
            detail: detail.into(),
        });
    }

    /// Records `name` as failed with `error`, and every later step as skipped.
    pub fn failed(mut self, name: &'static str, error: ConnectorError) -> ConnectionFailure {
        self.steps.push(Step {
            name: name.to_string(),
            outcome: Outcome::Failed,
            detail: error.to_string(),
        });
        for later in self.names.iter().skip_while(|n| **n != name).skip(1) {
            self.steps.push(Step {
                name: later.to_string(),
                outcome: Outcome::Skipped,
                detail: format!("not run: `{name}` failed"),
            });
        }
        ConnectionFailure {
            error,
            steps: self.steps,
        }
    }

    /// The steps of a test that passed.
    pub fn done(self) -> Vec<Step> {
        self.steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_not_offered_are_refused_by_name() {
        assert!(check_streams(&["issues".into()], &["issues"]).is_ok());
        let error = check_streams(&["alerts".into()], &["issues"]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("unknown stream `alerts`; this connector offers `issues`"),
            "{error}"
        );
    }

    #[test]
    fn a_failed_step_skips_the_later_ones_and_keeps_the_earlier() {
        let mut checks = Checklist::new(&["token", "organization", "alerts"]);
        checks.passed("token", "valid");
        let failure = checks.failed("organization", ConnectorError::Config("no such org".into()));
        let outcomes: Vec<(&str, Outcome)> = failure
            .steps
            .iter()
            .map(|s| (s.name.as_str(), s.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("token", Outcome::Passed),
                ("organization", Outcome::Failed),
                ("alerts", Outcome::Skipped)
            ]
        );
        assert_eq!(failure.steps[2].detail, "not run: `organization` failed");
    }
}
