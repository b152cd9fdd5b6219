//! A test plugin that offers two streams, `alpha` (on by default) and `beta`, so that the
//! tests can choose streams per integration and watch what a sync pulls and closes. For
//! each stream asked for it GETs `source-url/STREAM`, a JSON array of
//! `{"id", "severity"}`, and reports each as an open finding of that stream about one
//! asset. With `stray` set it also reports a finding of a stream it was not asked for,
//! which the host must refuse.
#![deny(missing_docs)]

use connector_sdk::http::{Request, Transport, assess_by_status};
use connector_sdk::records::{Asset, Batch, Finding, FindingKind, FindingStatus, Severity};
use connector_sdk::{
    Checklist, ConnectionFailure, Connector, ConnectorError, Description, Field, FieldKind, Host,
    Pages, Settings, Step, Stream, SyncSummary,
};
use serde::Deserialize;

/// The probe.
pub struct Probe;

/// One record of a stream.
#[derive(Debug, Deserialize)]
struct Item {
    id: String,
    severity: String,
}

/// The one asset every finding is about.
const ASSET: &str = "probe-asset";
/// The streams it offers.
const STREAMS: [&str; 2] = ["alpha", "beta"];

async fn fetch<T: Transport>(
    client: &connector_sdk::http::Client<T>,
    settings: &Settings,
    stream: &str,
) -> Result<Vec<Item>, ConnectorError> {
    let base = settings.url("source-url")?;
    let url = format!("{}/{stream}", base.as_str().trim_end_matches('/'));
    let response = client
        .send(&Request::get(&url), "the source", assess_by_status)
        .await?;
    match response.status {
        200 => serde_json::from_slice(&response.body)
            .map_err(|e| ConnectorError::Protocol(format!("stream {stream} does not read ({e})"))),
        s => Err(ConnectorError::Transient(format!(
            "the source answered HTTP {s} for stream {stream}"
        ))),
    }
}

fn finding(item: &Item, stream: &str) -> Finding<'static> {
    Finding {
        source_id: format!("{stream}-{}", item.id),
        asset_source_id: ASSET.into(),
        stream: stream.into(),
        kind: FindingKind::Issue,
        vulnerability: None,
        title: format!("{stream} finding {}", item.id),
        description: String::new(),
        severity: Severity::parse(&item.severity).unwrap_or(Severity::Info),
        status: FindingStatus::Failed,
        source_status: "open".into(),
        remediation: None,
        rule_id: None,
        rule_name: None,
        created_at: None,
        updated_at: None,
        status_changed_at: None,
        resolved_at: None,
        due_at: None,
        project_ids: Vec::new(),
        portal_url: None,
        raw: Default::default(),
    }
}

impl Connector for Probe {
    fn describe() -> Description {
        Description {
            name: "streams-probe",
            version: env!("CARGO_PKG_VERSION"),
            fields: vec![
                Field::new(
                    "source-url",
                    "Source URL",
                    "Where the streams are.",
                    FieldKind::Url,
                )
                .required(),
                Field::new(
                    "stray",
                    "Stray",
                    "Also report a finding of a stream not asked for.",
                    FieldKind::Bool,
                ),
            ],
            streams: vec![
                Stream {
                    name: STREAMS[0],
                    label: "Alpha",
                    description: "The alpha records.",
                    default_on: true,
                },
                Stream {
                    name: STREAMS[1],
                    label: "Beta",
                    description: "The beta records.",
                    default_on: false,
                },
            ],
            fixed_endpoints: Vec::new(),
        }
    }

    async fn test_connection<T: Transport>(
        settings: &Settings,
        transport: T,
    ) -> Result<Vec<Step>, ConnectionFailure> {
        let mut checks = Checklist::new(&["source"]);
        let client = connector_sdk::http::Client::new(transport, Default::default());
        match fetch(&client, settings, STREAMS[0]).await {
            Ok(items) => checks.passed("source", format!("{} alpha records", items.len())),
            Err(e) => return Err(checks.failed("source", e)),
        }
        Ok(checks.done())
    }

    async fn sync<T: Transport, H: Host>(
        settings: &Settings,
        streams: &[String],
        _state: Option<&str>,
        transport: T,
        host: &mut H,
    ) -> Result<SyncSummary, ConnectorError> {
        let client = connector_sdk::http::Client::new(transport, Default::default());
        let mut pages = Pages::new(host);
        let mut batch = Batch {
            assets: vec![Asset {
                source_id: ASSET.into(),
                name: "probe".into(),
                asset_type: "host".into(),
                cloud_platform: "Probe".into(),
                ..Asset::default()
            }],
            ..Batch::default()
        };
        for stream in streams {
            for item in fetch(&client, settings, stream).await? {
                batch.findings.push(finding(&item, stream));
            }
        }
        if settings.flag("stray")? {
            let unasked = STREAMS.iter().find(|s| !streams.iter().any(|a| a == *s));
            if let Some(stream) = unasked {
                let item = Item {
                    id: "stray".into(),
                    severity: "high".into(),
                };
                batch.findings.push(finding(&item, stream));
            }
        }
        pages.deliver(batch, None)?;
        Ok(pages.finish(true))
    }
}

connector_sdk::export_connector!(Probe);
