//! What a plugin says about itself and how its calls end, in the host's terms.

use serde::Serialize;

/// How a configuration field is entered, validated and treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Free text.
    Text,
    /// A credential: masked, sealed at rest, scrubbed from every text the host keeps.
    Secret,
    /// An absolute URL; its host joins the plugin's allow-list.
    Url,
    /// Comma-separated values.
    List,
    /// An integer.
    Number,
    /// `true` or `false`.
    Bool,
}

impl FieldKind {
    /// The name shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Secret => "secret",
            FieldKind::Url => "url",
            FieldKind::List => "list",
            FieldKind::Number => "number",
            FieldKind::Bool => "bool",
        }
    }
}

/// One field of a plugin's configuration schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConfigField {
    /// Stable key, kebab-case.
    pub key: String,
    /// Short label.
    pub label: String,
    /// Where to find the value.
    pub help: String,
    /// How it is entered and treated.
    pub kind: FieldKind,
    /// Whether a value must be given.
    pub required: bool,
    /// The value used when none is given.
    #[serde(rename = "default")]
    pub default_value: Option<String>,
    /// Smallest number accepted.
    pub min: Option<i64>,
    /// Largest number accepted.
    pub max: Option<i64>,
}

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PluginInfo {
    /// Connector name.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// The contract version it was built against.
    pub contract_version: String,
    /// Its configuration fields, in display order.
    pub config_schema: Vec<ConfigField>,
    /// The streams it offers (a 0.1 plugin offers its one implicit stream).
    pub streams: Vec<StreamInfo>,
    /// URLs it needs whatever its settings say (contract 0.2); none are reachable until
    /// the operator accepts them.
    pub fixed_endpoints: Vec<String>,
}

/// A kind of record a plugin can pull, chosen per integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StreamInfo {
    /// Stable machine name.
    pub name: String,
    /// Short human label.
    pub label: String,
    /// What it pulls and what it needs.
    pub description: String,
    /// Whether a new integration pulls it unless told otherwise.
    pub default_on: bool,
}

impl PluginInfo {
    /// The streams a sync pulls until integrations choose their own: those on by
    /// default, or all of them when none is.
    pub fn default_streams(&self) -> Vec<String> {
        let on: Vec<String> = self
            .streams
            .iter()
            .filter(|s| s.default_on)
            .map(|s| s.name.clone())
            .collect();
        match on.is_empty() {
            true => self.streams.iter().map(|s| s.name.clone()).collect(),
            false => on,
        }
    }
}

/// Severity of a plugin's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Very detailed.
    Trace,
    /// Diagnostic.
    Debug,
    /// Progress.
    Info,
    /// Odd but not fatal.
    Warn,
    /// Failed.
    Error,
}

/// Whose fault a source error is, as the plugin classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceErrorKind {
    /// Credentials refused.
    Auth,
    /// Credentials lack a permission.
    Permission,
    /// The configuration is wrong.
    Config,
    /// Throttled, and retries ran out.
    RateLimited,
    /// Network, timeout or server error.
    Transient,
    /// An answer the plugin cannot read.
    Protocol,
    /// A bug in the plugin.
    Internal,
}

/// Why a plugin's call failed, in its own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// The class the plugin gave.
    pub kind: SourceErrorKind,
    /// What a person should know.
    pub message: String,
    /// For rate limits: how long the source asked to be left alone, in seconds.
    pub retry_after_seconds: Option<u32>,
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = &self.message;
        match (self.kind, self.retry_after_seconds) {
            (SourceErrorKind::Auth, _) => write!(f, "authentication failed: {m}"),
            (SourceErrorKind::Permission, _) => write!(f, "permission denied: {m}"),
            (SourceErrorKind::Config, _) => write!(f, "configuration error: {m}"),
            (SourceErrorKind::RateLimited, Some(s)) => {
                write!(f, "rate limited (retry after {s} s): {m}")
            }
            (SourceErrorKind::RateLimited, None) => write!(f, "rate limited: {m}"),
            (SourceErrorKind::Transient, _) => write!(f, "temporary failure: {m}"),
            (SourceErrorKind::Protocol, _) => write!(f, "unexpected answer from the source: {m}"),
            (SourceErrorKind::Internal, _) => write!(f, "plugin error: {m}"),
        }
    }
}

/// How one step of a connection test went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// Succeeded.
    Passed,
    /// Failed.
    Failed,
    /// Not run, because an earlier step failed.
    Skipped,
}

/// One named step of a connection test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CheckStep {
    /// Step name.
    pub name: String,
    /// How it went.
    pub outcome: CheckOutcome,
    /// What was checked, or why it failed.
    pub detail: String,
}

/// A failed connection test: the cause, and every step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionFailure {
    /// The cause.
    pub error: SourceError,
    /// All steps, in order.
    pub steps: Vec<CheckStep>,
}

/// What a finished sync reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Distinct assets emitted.
    pub assets: u64,
    /// Findings emitted.
    pub findings: u64,
    /// Source records the plugin's rules skipped.
    pub skipped: u64,
    /// True only when this run read everything in scope from the start.
    pub full: bool,
    /// Things to know that did not fail the run.
    pub warnings: Vec<String>,
}
