//! Host-side bindings, one module per supported contract line. Each binds its frozen WIT
//! and converts its types into the host's `model` at this edge, so nothing past
//! `plugin/` names a contract type: [`Pre`] and [`Instance`] have one case per line, and
//! every call matches on it.

pub mod v0_1;
pub mod v0_2;

use super::inspect::ContractVersion;
use super::state::RunState;
use crate::model::{CheckStep, ConnectionFailure, PluginInfo, SourceError, SyncSummary};
use wasmtime::Store;
use wasmtime::component::{HasSelf, InstancePre, Linker};

/// Links every supported line's `host` interface: a component imports the one its
/// contract names, and the run state serves each over the same sink and sandbox.
pub(crate) fn add_to_linker(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    v0_1::Connector::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    v0_2::Connector::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    v0_2::link_emit_lifted_when_room(linker)?;
    Ok(())
}

/// A pre-linked plugin of one contract line.
#[derive(Clone)]
pub(crate) enum Pre {
    /// Built for 0.1.
    V0_1(v0_1::ConnectorPre<RunState>),
    /// Built for 0.2.
    V0_2(v0_2::ConnectorPre<RunState>),
}

impl Pre {
    /// The typed pre-instance of `pre` for the line `contract` names (a line `inspect`
    /// let through).
    pub(crate) fn new(
        contract: ContractVersion,
        pre: InstancePre<RunState>,
    ) -> wasmtime::Result<Self> {
        match (contract.major, contract.minor) {
            (0, 1) => Ok(Pre::V0_1(v0_1::ConnectorPre::new(pre)?)),
            (0, 2) => Ok(Pre::V0_2(v0_2::ConnectorPre::new(pre)?)),
            _ => Err(wasmtime::Error::msg(format!(
                "contract {contract} has no bindings in this host"
            ))),
        }
    }

    /// A fresh instance in `store`.
    pub(crate) async fn instantiate_async(
        &self,
        store: &mut Store<RunState>,
    ) -> wasmtime::Result<Instance> {
        Ok(match self {
            Pre::V0_1(pre) => Instance::V0_1(pre.instantiate_async(store).await?),
            Pre::V0_2(pre) => Instance::V0_2(pre.instantiate_async(store).await?),
        })
    }
}

/// An instantiated plugin of one contract line.
pub(crate) enum Instance {
    /// Built for 0.1.
    V0_1(v0_1::Connector),
    /// Built for 0.2.
    V0_2(v0_2::Connector),
}

impl Instance {
    /// Calls `describe`.
    pub(crate) async fn describe(
        &self,
        store: &mut Store<RunState>,
    ) -> wasmtime::Result<PluginInfo> {
        match self {
            Instance::V0_1(c) => v0_1::describe(c, store).await,
            Instance::V0_2(c) => v0_2::describe(c, store).await,
        }
    }

    /// Calls `test-connection` with `config`.
    pub(crate) async fn test_connection(
        &self,
        store: &mut Store<RunState>,
        config: Vec<(String, String)>,
    ) -> wasmtime::Result<Result<Vec<CheckStep>, ConnectionFailure>> {
        match self {
            Instance::V0_1(c) => v0_1::test_connection(c, store, config).await,
            Instance::V0_2(c) => v0_2::test_connection(c, store, config).await,
        }
    }

    /// Calls `sync` for `streams` (a 0.1 plugin has one implicit stream) from `state`.
    pub(crate) async fn sync(
        &self,
        store: &mut Store<RunState>,
        config: Vec<(String, String)>,
        streams: Vec<String>,
        state: Option<String>,
    ) -> wasmtime::Result<Result<SyncSummary, SourceError>> {
        match self {
            Instance::V0_1(c) => v0_1::sync(c, store, config, state).await,
            Instance::V0_2(c) => v0_2::sync(c, store, config, streams, state).await,
        }
    }
}

/// The conversions every line shares, for types whose shape has not changed since 0.1:
/// expanded in each line's module over its own generated types (`wit`), so the code is
/// written once and each line still converts only what it binds.
macro_rules! shared_conversions {
    () => {
        impl From<wit::FieldKind> for model::FieldKind {
            fn from(k: wit::FieldKind) -> Self {
                match k {
                    wit::FieldKind::Text => model::FieldKind::Text,
                    wit::FieldKind::Secret => model::FieldKind::Secret,
                    wit::FieldKind::Url => model::FieldKind::Url,
                    wit::FieldKind::List => model::FieldKind::List,
                    wit::FieldKind::Number => model::FieldKind::Number,
                    wit::FieldKind::Bool => model::FieldKind::Bool,
                }
            }
        }

        impl From<wit::LogLevel> for model::LogLevel {
            fn from(l: wit::LogLevel) -> Self {
                match l {
                    wit::LogLevel::Trace => model::LogLevel::Trace,
                    wit::LogLevel::Debug => model::LogLevel::Debug,
                    wit::LogLevel::Info => model::LogLevel::Info,
                    wit::LogLevel::Warn => model::LogLevel::Warn,
                    wit::LogLevel::Error => model::LogLevel::Error,
                }
            }
        }

        impl From<wit::ConnectorError> for model::SourceError {
            fn from(e: wit::ConnectorError) -> Self {
                use model::SourceErrorKind as K;
                let (kind, message, retry_after_seconds) = match e {
                    wit::ConnectorError::Auth(m) => (K::Auth, m, None),
                    wit::ConnectorError::Permission(m) => (K::Permission, m, None),
                    wit::ConnectorError::Config(m) => (K::Config, m, None),
                    wit::ConnectorError::RateLimited(r) => {
                        (K::RateLimited, r.message, r.retry_after_seconds)
                    }
                    wit::ConnectorError::Transient(m) => (K::Transient, m, None),
                    wit::ConnectorError::Protocol(m) => (K::Protocol, m, None),
                    wit::ConnectorError::Internal(m) => (K::Internal, m, None),
                };
                model::SourceError {
                    kind,
                    message,
                    retry_after_seconds,
                }
            }
        }

        impl From<wit::CheckStep> for model::CheckStep {
            fn from(s: wit::CheckStep) -> Self {
                model::CheckStep {
                    name: s.name,
                    outcome: match s.outcome {
                        wit::CheckOutcome::Passed => model::CheckOutcome::Passed,
                        wit::CheckOutcome::Failed => model::CheckOutcome::Failed,
                        wit::CheckOutcome::Skipped => model::CheckOutcome::Skipped,
                    },
                    detail: s.detail,
                }
            }
        }

        impl From<wit::ConnectionFailure> for model::ConnectionFailure {
            fn from(f: wit::ConnectionFailure) -> Self {
                model::ConnectionFailure {
                    error: f.error.into(),
                    steps: f.steps.into_iter().map(Into::into).collect(),
                }
            }
        }

        impl From<wit::SyncSummary> for model::SyncSummary {
            fn from(s: wit::SyncSummary) -> Self {
                model::SyncSummary {
                    assets: s.assets,
                    findings: s.findings,
                    skipped: s.skipped,
                    full: s.full,
                    warnings: s.warnings,
                }
            }
        }

        /// Configuration entries as the contract passes them.
        fn config_entries(entries: Vec<(String, String)>) -> Vec<wit::ConfigEntry> {
            entries
                .into_iter()
                .map(|(key, value)| wit::ConfigEntry { key, value })
                .collect()
        }

        fn severity(s: wit::Severity) -> model::Severity {
            match s {
                wit::Severity::Critical => model::Severity::Critical,
                wit::Severity::High => model::Severity::High,
                wit::Severity::Medium => model::Severity::Medium,
                wit::Severity::Low => model::Severity::Low,
                wit::Severity::Info => model::Severity::Info,
            }
        }

        fn status(s: wit::FindingStatus) -> model::FindingStatus {
            match s {
                wit::FindingStatus::Failed => model::FindingStatus::Failed,
                wit::FindingStatus::Passed => model::FindingStatus::Passed,
                wit::FindingStatus::AcceptedFailed => model::FindingStatus::AcceptedFailed,
            }
        }

        fn asset(a: wit::Asset) -> model::Asset {
            model::Asset {
                source_id: a.source_id,
                name: a.name,
                asset_type: a.asset_type,
                cloud_platform: a.cloud_platform,
                cloud_account_id: a.cloud_account_id,
                cloud_account_name: a.cloud_account_name,
                region: a.region,
                provider_id: a.provider_id,
                tags: a.tags.into_iter().map(|t| (t.key, t.value)).collect(),
                status: a.status,
                technologies: a.technologies,
                raw: a.raw,
            }
        }

        impl types::Host for crate::plugin::state::RunState {}

        impl host::Host for crate::plugin::state::RunState {
            async fn emit(&mut self, records: types::Batch) -> bool {
                self.sink.emit(records.into()).await
            }
            async fn checkpoint(&mut self, state: String) {
                self.sink.checkpoint(state).await
            }
            fn log(&mut self, level: types::LogLevel, message: String) {
                let message = self.policy.redactor.redact(&message);
                crate::plugin::runtime::trace_plugin_log(level.into(), &message);
            }
            fn progress(&mut self, done: u64, total: Option<u64>) {
                self.sink.progress(done, total)
            }
        }

        /// A configuration field.
        fn config_field(f: wit::ConfigField) -> model::ConfigField {
            model::ConfigField {
                key: f.key,
                label: f.label,
                help: f.help,
                kind: f.kind.into(),
                required: f.required,
                default_value: f.default_value,
                min: f.min,
                max: f.max,
            }
        }

        /// Calls `describe`.
        pub(crate) async fn describe(
            c: &Connector,
            store: &mut wasmtime::Store<crate::plugin::state::RunState>,
        ) -> wasmtime::Result<model::PluginInfo> {
            Ok(c.safe_connector_plugin().call_describe(store).await?.into())
        }

        /// Calls `test-connection`.
        pub(crate) async fn test_connection(
            c: &Connector,
            store: &mut wasmtime::Store<crate::plugin::state::RunState>,
            config: Vec<(String, String)>,
        ) -> wasmtime::Result<Result<Vec<model::CheckStep>, model::ConnectionFailure>> {
            let answer = c
                .safe_connector_plugin()
                .call_test_connection(store, &config_entries(config))
                .await?;
            Ok(answer
                .map(|steps| steps.into_iter().map(Into::into).collect())
                .map_err(Into::into))
        }

        /// The findings of a batch, each read by `read` or kept aside as rejected.
        fn read_findings(
            batch: &mut model::Batch,
            findings: Vec<wit::Finding>,
            read: fn(wit::Finding) -> Result<model::Finding, model::Rejected>,
        ) {
            batch.findings.reserve(findings.len());
            for f in findings {
                match read(f) {
                    Ok(f) => batch.findings.push(f),
                    Err(rejected) => batch.rejected.push(rejected),
                }
            }
        }

        /// A finding of `kind` from the fields every line has, or why it cannot be read:
        /// its times must be RFC 3339.
        fn finding_of(
            f: wit::Finding,
            stream: String,
            kind: model::FindingKind,
            vulnerability: Option<model::Vulnerability>,
        ) -> Result<model::Finding, model::Rejected> {
            let time = |field: &str, text: &Option<String>| finding_time(&f.source_id, field, text);
            Ok(model::Finding {
                created_at: time("created-at", &f.created_at)?,
                updated_at: time("updated-at", &f.updated_at)?,
                status_changed_at: time("status-changed-at", &f.status_changed_at)?,
                resolved_at: time("resolved-at", &f.resolved_at)?,
                due_at: time("due-at", &f.due_at)?,
                severity: severity(f.severity),
                status: status(f.status),
                source_id: f.source_id,
                asset_source_id: f.asset_source_id,
                title: f.title,
                description: f.description,
                source_status: f.source_status,
                remediation: f.remediation,
                rule_id: f.rule_id,
                rule_name: f.rule_name,
                project_ids: f.project_ids,
                portal_url: f.portal_url,
                stream,
                kind,
                vulnerability,
                raw: f.raw,
            })
        }

        /// Reads a finding's times, RFC 3339, or names the one that is not.
        fn finding_time(
            source_id: &str,
            field: &str,
            text: &Option<String>,
        ) -> Result<Option<chrono::DateTime<chrono::Utc>>, model::Rejected> {
            match text.as_deref() {
                None => Ok(None),
                Some(t) if t.trim().is_empty() => Ok(None),
                Some(t) => model::parse_time(t)
                    .map(Some)
                    .ok_or_else(|| model::Rejected {
                        kind: "finding",
                        source_id: source_id.to_string(),
                        reason: format!("`{field}` is not an RFC 3339 time"),
                    }),
            }
        }
    };
}
use shared_conversions;
