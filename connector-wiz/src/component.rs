//! The thin layer that binds the connector to the `connector` WIT world and to wasi:http.
//! It only converts types and moves bytes; every decision lives in the plain modules.

mod wit {
    wit_bindgen::generate!({ path: "../wit/0.1.0", world: "connector" });
}

use crate::client::{Transport, TransportError, WizClient};
use crate::config::{self, FieldKind, WizConfig};
use crate::connection::{self, Outcome};
use crate::error::ConnectorError;
use crate::protocol::{self, HttpResponse};
use crate::records::{self, Batch, FindingStatus, LogLevel, Severity};
use crate::sync::{HostSink, Sync};
use wit::exports::safe::connector::plugin::Guest;
use wit::safe::connector::host;
use wit::safe::connector::types as t;
use wstd::http::{Client, ErrorCode, Request};
use wstd::time::Duration;

/// The contract version this plugin was built against.
const CONTRACT_VERSION: &str = "0.1.0";

struct Component;

impl Guest for Component {
    fn describe() -> t::PluginInfo {
        t::PluginInfo {
            name: "wiz".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            config_schema: config::schema().into_iter().map(field).collect(),
        }
    }

    fn test_connection(
        config: Vec<t::ConfigEntry>,
    ) -> Result<Vec<t::CheckStep>, t::ConnectionFailure> {
        let config = parse_config(&config).map_err(|e| t::ConnectionFailure {
            error: error(e),
            steps: vec![],
        })?;
        let client = WizClient::new(WasiTransport::new(config.request_timeout), config);
        wstd::runtime::block_on(connection::test_connection(client))
            .map(|steps| steps.into_iter().map(step).collect())
            .map_err(|f| t::ConnectionFailure {
                error: error(f.error),
                steps: f.steps.into_iter().map(step).collect(),
            })
    }

    fn sync(
        config: Vec<t::ConfigEntry>,
        state: Option<String>,
    ) -> Result<t::SyncSummary, t::ConnectorError> {
        let config = parse_config(&config).map_err(error)?;
        let client = WizClient::new(WasiTransport::new(config.request_timeout), config);
        let mut sink = WitHost;
        let summary = wstd::runtime::block_on(Sync::new(client, &mut sink).run(state.as_deref()))
            .map_err(error)?;
        Ok(t::SyncSummary {
            assets: summary.assets,
            findings: summary.findings,
            skipped: summary.skipped,
            full: summary.full,
            warnings: summary.warnings,
        })
    }
}

wit::export!(Component with_types_in wit);

fn parse_config(entries: &[t::ConfigEntry]) -> Result<WizConfig, ConnectorError> {
    WizConfig::from_entries(entries.iter().map(|e| (e.key.as_str(), e.value.as_str())))
}

/// wasi:http, with timeouts under Wiz's 120 s gateway limit.
struct WasiTransport {
    client: Client,
}

impl WasiTransport {
    /// A transport whose every phase (connect, first byte, between bytes) times out after
    /// `timeout`; the client bounds each request as a whole on top of that.
    fn new(timeout: std::time::Duration) -> Self {
        let mut client = Client::new();
        client.set_connect_timeout(Duration::from(
            timeout.min(std::time::Duration::from_secs(30)),
        ));
        client.set_first_byte_timeout(Duration::from(timeout));
        client.set_between_bytes_timeout(Duration::from(timeout));
        WasiTransport { client }
    }
}

impl Transport for WasiTransport {
    async fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> Result<HttpResponse, TransportError> {
        // A fixed length, not chunked: servers that answer early (404, 401) then close
        // cleanly instead of resetting a connection still streaming a body.
        let mut request = Request::post(url).header("content-length", body.len());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(body)
            .map_err(|e| TransportError::Network(format!("cannot build the request: {e}")))?;
        let mut response = self.client.send(request).await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| protocol::parse_retry_after(v, std::time::SystemTime::now()));
        let body = response
            .body_mut()
            .contents()
            .await
            .map_err(transport_error)?
            .to_vec();
        Ok(HttpResponse {
            status,
            retry_after,
            body,
        })
    }

    async fn sleep(&self, duration: std::time::Duration) {
        wstd::task::sleep(Duration::from(duration)).await;
    }
}

fn transport_error(e: wstd::http::Error) -> TransportError {
    match e.downcast_ref::<ErrorCode>() {
        Some(ErrorCode::HttpRequestDenied) => {
            TransportError::Denied("destination not allowed for this plugin".into())
        }
        Some(
            ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout
            | ErrorCode::HttpResponseTimeout,
        ) => TransportError::Timeout(format!("{e}")),
        _ => TransportError::Network(format!("{e}")),
    }
}

/// The host's imports as a [`HostSink`].
struct WitHost;

impl HostSink for WitHost {
    fn emit(&mut self, batch: Batch) -> bool {
        host::emit(&t::Batch {
            assets: batch.assets.into_iter().map(asset).collect(),
            findings: batch.findings.into_iter().map(finding).collect(),
            removed_findings: batch.removed_findings,
        })
    }

    fn checkpoint(&mut self, state: &str) {
        host::checkpoint(state)
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Info => t::LogLevel::Info,
            LogLevel::Warn => t::LogLevel::Warn,
        };
        host::log(level, message)
    }

    fn progress(&mut self, done: u64, total: Option<u64>) {
        host::progress(done, total)
    }
}

fn field(f: config::FieldSpec) -> t::ConfigField {
    t::ConfigField {
        key: f.key.into(),
        label: f.label.into(),
        help: f.help.into(),
        kind: match f.kind {
            FieldKind::Text => t::FieldKind::Text,
            FieldKind::Secret => t::FieldKind::Secret,
            FieldKind::Url => t::FieldKind::Url,
            FieldKind::List => t::FieldKind::List,
            FieldKind::Number => t::FieldKind::Number,
        },
        required: f.required,
        default_value: f.default.map(str::to_string),
        min: f.range.map(|r| r.0),
        max: f.range.map(|r| r.1),
    }
}

fn step(s: connection::Step) -> t::CheckStep {
    t::CheckStep {
        name: s.name.into(),
        outcome: match s.outcome {
            Outcome::Passed => t::CheckOutcome::Passed,
            Outcome::Failed => t::CheckOutcome::Failed,
            Outcome::Skipped => t::CheckOutcome::Skipped,
        },
        detail: s.detail,
    }
}

fn error(e: ConnectorError) -> t::ConnectorError {
    match e {
        ConnectorError::Auth(m) => t::ConnectorError::Auth(m),
        ConnectorError::Permission(m) => t::ConnectorError::Permission(m),
        ConnectorError::Config(m) => t::ConnectorError::Config(m),
        ConnectorError::RateLimited {
            retry_after_seconds,
            message,
        } => t::ConnectorError::RateLimited(t::RateLimit {
            retry_after_seconds,
            message,
        }),
        ConnectorError::Transient(m) => t::ConnectorError::Transient(m),
        ConnectorError::Protocol(m) => t::ConnectorError::Protocol(m),
        ConnectorError::Internal(m) => t::ConnectorError::Internal(m),
    }
}

fn asset(a: records::Asset) -> t::Asset {
    t::Asset {
        source_id: a.source_id,
        name: a.name,
        asset_type: a.asset_type,
        cloud_platform: a.cloud_platform,
        cloud_account_id: a.cloud_account_id,
        cloud_account_name: a.cloud_account_name,
        region: a.region,
        provider_id: a.provider_id,
        tags: a
            .tags
            .into_iter()
            .map(|(key, value)| t::Tag { key, value })
            .collect(),
        status: a.status,
        technologies: a.technologies,
        raw: a.raw,
    }
}

fn finding(f: records::Finding) -> t::Finding {
    t::Finding {
        source_id: f.source_id,
        asset_source_id: f.asset_source_id,
        title: f.title,
        description: f.description,
        severity: match f.severity {
            Severity::Critical => t::Severity::Critical,
            Severity::High => t::Severity::High,
            Severity::Medium => t::Severity::Medium,
            Severity::Low => t::Severity::Low,
            Severity::Info => t::Severity::Info,
        },
        status: match f.status {
            FindingStatus::Failed => t::FindingStatus::Failed,
            FindingStatus::Passed => t::FindingStatus::Passed,
            FindingStatus::AcceptedFailed => t::FindingStatus::AcceptedFailed,
        },
        source_status: f.source_status,
        remediation: f.remediation,
        rule_id: f.rule_id,
        rule_name: f.rule_name,
        created_at: f.created_at,
        updated_at: f.updated_at,
        status_changed_at: f.status_changed_at,
        resolved_at: f.resolved_at,
        due_at: f.due_at,
        project_ids: f.project_ids,
        portal_url: f.portal_url,
        raw: f.raw,
    }
}
