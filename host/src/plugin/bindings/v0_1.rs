//! Contract `safe:connector@0.1.x`: the generated bindings and their conversions into
//! the model.

use crate::model;

#[allow(missing_docs)] // generated; the WIT carries the docs
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "connector",
        // `emit` and `checkpoint` wait for the store's writer: as async imports the
        // plugin's fiber yields meanwhile, and no runtime thread is ever blocked on it.
        imports: {
            "safe:connector/host.emit": async,
            "safe:connector/host.checkpoint": async,
        },
        exports: { default: async },
    });
}

pub(crate) use generated::safe::connector::{host, types};
pub(crate) use generated::{Connector, ConnectorPre};
use types as wit;

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

impl From<wit::PluginInfo> for model::PluginInfo {
    fn from(i: wit::PluginInfo) -> Self {
        model::PluginInfo {
            name: i.name,
            version: i.version,
            contract_version: i.contract_version,
            config_schema: i
                .config_schema
                .into_iter()
                .map(|f| model::ConfigField {
                    key: f.key,
                    label: f.label,
                    help: f.help,
                    kind: f.kind.into(),
                    required: f.required,
                    default_value: f.default_value,
                    min: f.min,
                    max: f.max,
                })
                .collect(),
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
pub(crate) fn config_entries(entries: Vec<(String, String)>) -> Vec<wit::ConfigEntry> {
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

/// A finding, or why it cannot be read: its times must be RFC 3339.
fn finding(f: wit::Finding) -> Result<model::Finding, model::Rejected> {
    let time = |field: &str, text: &Option<String>| match text.as_deref() {
        None => Ok(None),
        Some(t) if t.trim().is_empty() => Ok(None),
        Some(t) => model::parse_time(t)
            .map(Some)
            .ok_or_else(|| model::Rejected {
                kind: "finding",
                source_id: f.source_id.clone(),
                reason: format!("`{field}` is not an RFC 3339 time"),
            }),
    };
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
        // What every 0.1 finding is: an issue, without vulnerability details.
        kind: model::FindingKind::Issue,
        vulnerability: None,
        raw: f.raw,
    })
}

impl From<wit::Batch> for model::Batch {
    fn from(b: wit::Batch) -> Self {
        let mut batch = model::Batch {
            assets: b.assets.into_iter().map(asset).collect(),
            removed_findings: b.removed_findings,
            findings: Vec::with_capacity(b.findings.len()),
            ..Default::default()
        };
        for f in b.findings {
            match finding(f) {
                Ok(f) => batch.findings.push(f),
                Err(rejected) => batch.rejected.push(rejected),
            }
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wit_finding(created_at: Option<&str>) -> wit::Finding {
        wit::Finding {
            source_id: "f1".into(),
            asset_source_id: "a1".into(),
            title: "t".into(),
            description: String::new(),
            severity: wit::Severity::Low,
            status: wit::FindingStatus::AcceptedFailed,
            source_status: "REJECTED".into(),
            remediation: None,
            rule_id: None,
            rule_name: None,
            created_at: created_at.map(Into::into),
            updated_at: Some(String::new()),
            status_changed_at: None,
            resolved_at: None,
            due_at: None,
            project_ids: vec![],
            portal_url: None,
            raw: "{}".into(),
        }
    }

    #[test]
    fn times_are_read_at_the_edge_and_bad_ones_reject_their_record() {
        let batch: model::Batch = wit::Batch {
            assets: vec![],
            findings: vec![
                wit_finding(Some("2026-05-01T12:00:00.1234567+02:00")),
                wit_finding(Some("yesterday")),
            ],
            removed_findings: vec![],
        }
        .into();
        assert_eq!(batch.findings.len(), 1);
        let f = &batch.findings[0];
        assert_eq!(
            f.created_at.map(model::time_text).as_deref(),
            Some("2026-05-01T10:00:00.123456Z"),
            "UTC, to the microsecond"
        );
        assert_eq!(f.updated_at, None, "an empty time is no time");
        assert_eq!(f.status, model::FindingStatus::AcceptedFailed);
        assert_eq!(batch.rejected.len(), 1);
        assert_eq!(
            batch.rejected[0].reason,
            "`created-at` is not an RFC 3339 time"
        );
    }
}

#[cfg(test)]
mod frozen {
    use sha2::Digest;

    /// `wit/0.1.0/connector.wit` as released. A released contract never changes: a change
    /// of one byte is a new version, in a folder of its own beside this one.
    const RELEASED_SHA256: &str =
        "6a1bd71622ae4e0b5a0208c2678b5fdf7ffe92db5c4930a0265e5bc4919d94ae";

    #[test]
    fn contract_0_1_0_is_frozen() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit/0.1.0");
        let files: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files, ["connector.wit"], "0.1.0 is one file, as released");
        let text = std::fs::read(folder.join("connector.wit")).unwrap();
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&text)),
            RELEASED_SHA256,
            "wit/0.1.0 changed: put the change in a new version's folder instead"
        );
    }
}
