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

super::shared_conversions!();

/// The one stream every 0.1 plugin implicitly offers.
pub const IMPLICIT_STREAM: &str = "issues";

/// Calls `sync` (0.1 has no streams: it pulls its one).
pub(crate) async fn sync(
    c: &Connector,
    store: &mut wasmtime::Store<crate::plugin::state::RunState>,
    config: Vec<(String, String)>,
    state: Option<String>,
) -> wasmtime::Result<Result<model::SyncSummary, model::SourceError>> {
    let answer = c
        .safe_connector_plugin()
        .call_sync(store, &config_entries(config), state.as_deref())
        .await?;
    Ok(answer.map(Into::into).map_err(Into::into))
}

impl From<wit::PluginInfo> for model::PluginInfo {
    fn from(i: wit::PluginInfo) -> Self {
        model::PluginInfo {
            name: i.name,
            version: i.version,
            contract_version: i.contract_version,
            config_schema: i.config_schema.into_iter().map(config_field).collect(),
            streams: vec![model::StreamInfo {
                name: IMPLICIT_STREAM.into(),
                label: "Issues".into(),
                description: "Everything the plugin pulls (contract 0.1 has one stream).".into(),
                default_on: true,
            }],
            fixed_endpoints: Vec::new(),
        }
    }
}

/// A finding, or why it cannot be read: every 0.1 finding is an issue, without
/// vulnerability details.
fn finding(f: wit::Finding) -> Result<model::Finding, model::Rejected> {
    finding_of(f, IMPLICIT_STREAM.into(), model::FindingKind::Issue, None)
}

impl From<wit::Batch> for model::Batch {
    fn from(b: wit::Batch) -> Self {
        let mut batch = model::Batch {
            assets: b.assets.into_iter().map(asset).collect(),
            removed_findings: b.removed_findings,
            ..Default::default()
        };
        read_findings(&mut batch, b.findings, finding);
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
