//! Contract `safe:connector@0.2.x`: the generated bindings and their conversions into
//! the model. New since 0.1: finding kinds and vulnerability details, removed assets,
//! streams, and fixed endpoints.

use crate::model;
use crate::plugin::state::RunState;
use wasmtime::AsContextMut;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, WasmList, WasmStr};

#[allow(missing_docs)] // generated; the WIT carries the docs
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit/0.2.0",
        world: "connector",
        // As in 0.1: `emit` and `checkpoint` wait for the store's writer.
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

/// Calls `sync` for `streams`.
pub(crate) async fn sync(
    c: &Connector,
    store: &mut wasmtime::Store<crate::plugin::state::RunState>,
    config: Vec<(String, String)>,
    streams: Vec<String>,
    state: Option<String>,
) -> wasmtime::Result<Result<model::SyncSummary, model::SourceError>> {
    let answer = c
        .safe_connector_plugin()
        .call_sync(store, &config_entries(config), &streams, state.as_deref())
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
            streams: i
                .streams
                .into_iter()
                .map(|s| model::StreamInfo {
                    name: s.name,
                    label: s.label,
                    description: s.description,
                    default_on: s.default_on,
                })
                .collect(),
            fixed_endpoints: i.fixed_endpoints,
        }
    }
}

fn kind(k: wit::FindingKind) -> model::FindingKind {
    match k {
        wit::FindingKind::Issue => model::FindingKind::Issue,
        wit::FindingKind::Vulnerability => model::FindingKind::Vulnerability,
        wit::FindingKind::Misconfiguration => model::FindingKind::Misconfiguration,
    }
}

/// Vulnerability details, or why they cannot be read: a score must be 0.0 to 10.0.
fn vulnerability(
    source_id: &str,
    v: wit::Vulnerability,
) -> Result<model::Vulnerability, model::Rejected> {
    let mut cvss = Vec::with_capacity(v.cvss.len());
    for c in v.cvss {
        let score = match c.score {
            None => None,
            Some(value) => Some(model::CvssScore::new(value).ok_or_else(|| model::Rejected {
                kind: "finding",
                source_id: source_id.to_string(),
                reason: format!(
                    "CVSS {} score {value} is not between 0.0 and 10.0",
                    c.version
                ),
            })?),
        };
        cvss.push(model::Cvss {
            version: c.version,
            score,
            vector: c.vector,
        });
    }
    Ok(model::Vulnerability {
        cve_ids: v.cve_ids,
        advisory_ids: v.advisory_ids,
        cvss,
        package: v.package.map(|p| model::AffectedPackage {
            ecosystem: p.ecosystem,
            name: p.name,
        }),
        installed_version: v.installed_version,
        vulnerable_range: v.vulnerable_range,
        fixed_version: v.fixed_version,
    })
}

/// A finding, or why it cannot be read: RFC 3339 times, scores in range.
fn finding(mut f: wit::Finding) -> Result<model::Finding, model::Rejected> {
    let vulnerability = f
        .vulnerability
        .take()
        .map(|v| vulnerability(&f.source_id, v))
        .transpose()?;
    let kind = kind(f.kind);
    let stream = std::mem::take(&mut f.stream);
    finding_of(f, stream, kind, vulnerability)
}

impl From<wit::Batch> for model::Batch {
    fn from(b: wit::Batch) -> Self {
        let mut batch = model::Batch {
            assets: b.assets.into_iter().map(asset).collect(),
            removed_findings: b.removed_findings,
            removed_assets: b.removed_assets,
            ..Default::default()
        };
        read_findings(&mut batch, b.findings, finding);
        batch
    }
}

/// `emit`'s batch as the plugin passed it: its lists stay in the plugin's memory until the
/// run has room for them. Lifted at the call, as the generated binding does, a batch
/// that waited for room waited in the host's memory: with 500 syncs feeding one store,
/// nearly all of them held a lifted page there (890 MiB; BENCHMARKS.md, issue 27).
#[derive(wasmtime::component::ComponentType, wasmtime::component::Lift)]
#[component(record)]
struct PendingBatch {
    assets: WasmList<wit::Asset>,
    findings: WasmList<wit::Finding>,
    #[component(name = "removed-findings")]
    removed_findings: WasmList<WasmStr>,
    #[component(name = "removed-assets")]
    removed_assets: WasmList<WasmStr>,
}

impl PendingBatch {
    /// Records in it, before any is lifted.
    fn records(&self) -> u64 {
        [
            self.assets.len(),
            self.findings.len(),
            self.removed_findings.len(),
            self.removed_assets.len(),
        ]
        .iter()
        .sum::<usize>() as u64
    }

    /// Copies it out of the plugin's memory.
    fn lift(&self, mut store: StoreContextMut<'_, RunState>) -> wasmtime::Result<wit::Batch> {
        let mut ids = |list: &WasmList<WasmStr>| -> wasmtime::Result<Vec<String>> {
            let texts = list
                .iter(&mut store)?
                .collect::<wasmtime::Result<Vec<_>>>()?;
            texts
                .iter()
                .map(|text| Ok(text.to_str(&store)?.into_owned()))
                .collect()
        };
        let removed_findings = ids(&self.removed_findings)?;
        let removed_assets = ids(&self.removed_assets)?;
        let assets = self
            .assets
            .iter(&mut store)?
            .collect::<wasmtime::Result<_>>()?;
        let findings = self
            .findings
            .iter(&mut store)?
            .collect::<wasmtime::Result<_>>()?;
        Ok(wit::Batch {
            assets,
            findings,
            removed_findings,
            removed_assets,
        })
    }
}

/// Replaces the generated `emit` of this line with one that takes room for the batch
/// ([`crate::plugin::state::RunSink::reserve`]) before lifting it.
pub(crate) fn link_emit_lifted_when_room(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let linked = linker
        .instance("safe:connector/host@0.2.0")?
        .func_wrap_async(
            "emit",
            |mut store: StoreContextMut<'_, RunState>, (batch,): (PendingBatch,)| {
                Box::new(async move {
                    store.data_mut().sink.reserve(batch.records()).await;
                    let lifted = batch.lift(store.as_context_mut())?;
                    Ok((store.data_mut().sink.emit(lifted.into()).await,))
                })
            },
        );
    linker.allow_shadowing(false);
    linked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vulnerability_keeps_its_details_and_a_score_out_of_range_rejects_it() {
        let details = |score: f64| wit::Vulnerability {
            cve_ids: vec!["CVE-2024-1234".into()],
            advisory_ids: vec!["GHSA-aaaa-bbbb-cccc".into()],
            cvss: vec![wit::Cvss {
                version: "3.1".into(),
                score: Some(score),
                vector: None,
            }],
            package: Some(wit::AffectedPackage {
                ecosystem: "npm".into(),
                name: "lodash".into(),
            }),
            installed_version: None,
            vulnerable_range: Some("< 4.17.21".into()),
            fixed_version: Some("4.17.21".into()),
        };
        let kept = vulnerability("a1", details(7.5)).unwrap();
        assert_eq!(kept.cvss[0].score.map(model::CvssScore::value), Some(7.5));
        assert_eq!(kept.fixed_version.as_deref(), Some("4.17.21"));
        let rejected = vulnerability("a1", details(11.0)).unwrap_err();
        assert_eq!(
            rejected.reason,
            "CVSS 3.1 score 11 is not between 0.0 and 10.0"
        );
    }
}
