//! The binding of a [`Connector`] to contract `safe:connector@0.2.0` and to wasi:http,
//! built for `wasm32`. It only converts types and moves bytes: authors never see the
//! generated types, and [`crate::export_connector!`] is all they write.

use crate::connector::{ConnectionFailure, Connector, Outcome, Step};
use crate::error::ConnectorError;
use crate::host::Host;
use crate::http::{Method, Request, Response, Transport, TransportError};
use crate::records::{self, FindingKind, FindingStatus, LogLevel, Severity};
use crate::schema::{Description, FieldKind};
use crate::settings::Settings;
use std::marker::PhantomData;

#[doc(hidden)]
pub use wit_bindgen;

/// The contract's generated bindings.
#[doc(hidden)]
#[allow(missing_docs)]
pub mod wit {
    wit_bindgen::generate!({
        path: "../wit/0.2.0",
        world: "connector",
        // The host's imports take borrowed records: a batch is lowered from the connector's
        // own strings, the raw texts from the page they were read from, without a copy.
        ownership: Borrowing {
            duplicate_if_necessary: true
        },
        pub_export_macro: true,
        export_macro_name: "__export_connector_world",
        default_bindings_module: "connector_sdk::component::wit",
        runtime_path: "connector_sdk::component::wit_bindgen::rt",
    });
}

use wit::exports::safe::connector::plugin::Guest;
use wit::safe::connector::host;
use wit::safe::connector::types as t;

/// The contract version the SDK's bindings speak.
pub const CONTRACT_VERSION: &str = "0.2.0";

/// Exports `C` as the component's `plugin` interface.
#[doc(hidden)]
pub struct Exported<C>(PhantomData<C>);

impl<C: Connector> Guest for Exported<C> {
    fn describe() -> t::PluginInfo {
        describe(C::describe())
    }

    fn test_connection(
        config: Vec<t::ConfigEntry>,
    ) -> Result<Vec<t::CheckStep>, t::ConnectionFailure> {
        let settings = settings::<C>(&config).map_err(|e| t::ConnectionFailure {
            error: error(e),
            steps: vec![],
        })?;
        let transport = WasiTransport;
        wstd::runtime::block_on(C::test_connection(&settings, &transport))
            .map(|steps| steps.into_iter().map(step).collect())
            .map_err(|f: ConnectionFailure| t::ConnectionFailure {
                error: error(f.error),
                steps: f.steps.into_iter().map(step).collect(),
            })
    }

    fn sync(
        config: Vec<t::ConfigEntry>,
        streams: Vec<String>,
        state: Option<String>,
    ) -> Result<t::SyncSummary, t::ConnectorError> {
        let settings = settings::<C>(&config).map_err(error)?;
        let transport = WasiTransport;
        let mut host = WitHost;
        let summary = wstd::runtime::block_on(C::sync(
            &settings,
            &streams,
            state.as_deref(),
            &transport,
            &mut host,
        ))
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

/// Exports a [`Connector`] as the component's implementation of the contract.
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        #[doc(hidden)]
        type __ConnectorSdkExport = $crate::component::Exported<$connector>;
        $crate::component::wit::__export_connector_world!(__ConnectorSdkExport);
    };
}

fn settings<C: Connector>(config: &[t::ConfigEntry]) -> Result<Settings, ConnectorError> {
    let description = C::describe();
    Settings::parse(
        &description.fields,
        config.iter().map(|e| (e.key.as_str(), e.value.as_str())),
    )
}

fn describe(d: Description) -> t::PluginInfo {
    t::PluginInfo {
        name: d.name.into(),
        version: d.version.into(),
        contract_version: CONTRACT_VERSION.into(),
        config_schema: d
            .fields
            .into_iter()
            .map(|f| t::ConfigField {
                key: f.key.into(),
                label: f.label.into(),
                help: f.help.into(),
                kind: match f.kind {
                    FieldKind::Text => t::FieldKind::Text,
                    FieldKind::Secret => t::FieldKind::Secret,
                    FieldKind::Url => t::FieldKind::Url,
                    FieldKind::List => t::FieldKind::List,
                    FieldKind::Number => t::FieldKind::Number,
                    FieldKind::Bool => t::FieldKind::Bool,
                },
                required: f.required,
                default_value: f.default.map(str::to_string),
                min: f.range.map(|r| r.0),
                max: f.range.map(|r| r.1),
            })
            .collect(),
        streams: d
            .streams
            .into_iter()
            .map(|s| t::StreamInfo {
                name: s.name.into(),
                label: s.label.into(),
                description: s.description.into(),
                default_on: s.default_on,
            })
            .collect(),
        fixed_endpoints: d.fixed_endpoints.into_iter().map(str::to_string).collect(),
    }
}

/// wasi:http, each phase bounded; the client bounds each request as a whole on top.
struct WasiTransport;

impl Transport for WasiTransport {
    async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        use wstd::http::{Client, Request as WasiRequest};
        let builder = match request.method {
            Method::Get => WasiRequest::get(request.url.as_str()),
            // A fixed length, not chunked: servers that answer early (404, 401) then close
            // cleanly instead of resetting a connection still streaming a body.
            Method::Post => {
                WasiRequest::post(request.url.as_str()).header("content-length", request.body.len())
            }
        };
        let builder = request.headers.iter().fold(builder, |b, (name, value)| {
            b.header(name.as_str(), value.as_str())
        });
        let outgoing = match request.method {
            Method::Get => builder.body(wstd::http::Body::empty()),
            Method::Post => builder.body(wstd::http::Body::from(request.body.clone())),
        }
        .map_err(|e| TransportError::Network(format!("cannot build the request: {e}")))?;
        let mut client = Client::new();
        client.set_connect_timeout(wstd::time::Duration::from_secs(30));
        let response = client.send(outgoing).await.map_err(transport_error)?;
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
            })
            .collect();
        let status = response.status().as_u16();
        if let Some(gate) = &request.body_gate {
            gate.opened().await;
        }
        let body = read_body(response.into_body()).await?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    async fn sleep(&self, duration: std::time::Duration) {
        wstd::task::sleep(wstd::time::Duration::from(duration)).await;
    }
}

/// The most a body's announced length reserves up front; a longer body grows past it.
const MAX_RESERVED_BODY: usize = 16 << 20;

/// Reads a body frame by frame into one buffer sized by its announced length: a page is
/// copied once, where collecting it and then copying it out copied it twice more. On its
/// own this made no measurable difference to a 100k sync (BENCHMARKS.md, issue 27); it
/// is one of the copies a guest's memory per sync is made of.
async fn read_body(body: wstd::http::Body) -> Result<Vec<u8>, TransportError> {
    use http_body_util::BodyExt;
    let announced = body.content_length().unwrap_or(0);
    let mut bytes =
        Vec::with_capacity(usize::try_from(announced).map_or(0, |n| n.min(MAX_RESERVED_BODY)));
    let mut frames = body.into_boxed_body();
    while let Some(frame) = frames.frame().await {
        if let Some(data) = frame.map_err(transport_error)?.data_ref() {
            bytes.extend_from_slice(data);
        }
    }
    Ok(bytes)
}

fn transport_error(e: wstd::http::Error) -> TransportError {
    use wstd::http::ErrorCode;
    match e.downcast_ref::<ErrorCode>() {
        Some(ErrorCode::HttpRequestDenied) => {
            TransportError::Denied("the host's policy does not allow this destination".into())
        }
        Some(
            code @ (ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout
            | ErrorCode::HttpResponseTimeout),
        ) => TransportError::Timeout(in_words(code)),
        Some(code) => TransportError::Network(in_words(code)),
        None => TransportError::Network(format!("{e}")),
    }
}

/// What a wasi:http error code means, as a sentence an operator reads (its own name,
/// `ErrorCode::ConnectionRefused`, says little to them).
fn in_words(code: &wstd::http::ErrorCode) -> String {
    use wstd::http::ErrorCode as E;
    let text = match code {
        E::DnsTimeout => "looking up the host name timed out",
        E::DnsError(_) => "the host name could not be looked up",
        E::DestinationNotFound => "the host name does not resolve",
        E::DestinationUnavailable => "the server is unavailable",
        E::DestinationIpProhibited => "the server's address is not allowed",
        E::DestinationIpUnroutable => "the server's address cannot be reached",
        E::ConnectionRefused => "the server refused the connection (nothing listens there?)",
        E::ConnectionTerminated => "the connection was closed before the answer was complete",
        E::ConnectionTimeout => "connecting to the server timed out",
        E::ConnectionReadTimeout => "the server stopped sending its answer",
        E::ConnectionWriteTimeout => "sending the request timed out",
        E::ConnectionLimitReached => "too many connections are open",
        E::TlsProtocolError => "the TLS handshake failed",
        E::TlsCertificateError => "the server's TLS certificate is not trusted",
        E::TlsAlertReceived(_) => "the server ended the TLS handshake with an alert",
        E::HttpResponseIncomplete => "the answer ended early",
        E::HttpResponseTimeout => "the server did not answer in time",
        E::HttpProtocolError => "the answer is not valid HTTP",
        E::HttpRequestDenied => "the host's policy does not allow this destination",
        E::HttpResponseBodySize(_) | E::HttpResponseHeaderSectionSize(_) => {
            "the answer is too large"
        }
        E::InternalError(Some(detail)) => return format!("the request failed: {detail}"),
        other => return format!("the request failed ({other:?})").replace("ErrorCode::", ""),
    };
    text.to_string()
}

/// The host's imports as a [`Host`].
struct WitHost;

impl Host for WitHost {
    fn emit(&mut self, batch: records::Batch<'_>) -> bool {
        let asset_lists: Vec<AssetLists> = batch.assets.iter().map(AssetLists::of).collect();
        let finding_lists: Vec<FindingLists> =
            batch.findings.iter().map(FindingLists::of).collect();
        let assets: Vec<t::Asset> = batch
            .assets
            .iter()
            .zip(&asset_lists)
            .map(|(a, lists)| asset(a, lists))
            .collect();
        let findings: Vec<t::Finding> = batch
            .findings
            .iter()
            .zip(&finding_lists)
            .map(|(f, lists)| finding(f, lists))
            .collect();
        host::emit(t::Batch {
            assets: &assets,
            findings: &findings,
            removed_findings: &strs(&batch.removed_findings),
            removed_assets: &strs(&batch.removed_assets),
        })
    }

    fn checkpoint(&mut self, state: &str) {
        host::checkpoint(state)
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Trace => t::LogLevel::Trace,
            LogLevel::Debug => t::LogLevel::Debug,
            LogLevel::Info => t::LogLevel::Info,
            LogLevel::Warn => t::LogLevel::Warn,
            LogLevel::Error => t::LogLevel::Error,
        };
        host::log(level, message)
    }

    fn progress(&mut self, done: u64, total: Option<u64>) {
        host::progress(done, total)
    }
}

fn step(s: Step) -> t::CheckStep {
    t::CheckStep {
        name: s.name,
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

/// Borrowed views of a list of strings, as the lowering takes them.
fn strs(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

/// An asset's lists in the lowering's borrowed form, kept while the batch is lowered.
struct AssetLists<'a> {
    tags: Vec<t::Tag<'a>>,
    technologies: Vec<&'a str>,
}

impl<'a> AssetLists<'a> {
    fn of(a: &'a records::Asset<'_>) -> Self {
        AssetLists {
            tags: a
                .tags
                .iter()
                .map(|(key, value)| t::Tag { key, value })
                .collect(),
            technologies: strs(&a.technologies),
        }
    }
}

fn asset<'a>(a: &'a records::Asset<'_>, lists: &'a AssetLists<'a>) -> t::Asset<'a> {
    t::Asset {
        source_id: &a.source_id,
        name: &a.name,
        asset_type: &a.asset_type,
        cloud_platform: &a.cloud_platform,
        cloud_account_id: a.cloud_account_id.as_deref(),
        cloud_account_name: a.cloud_account_name.as_deref(),
        region: a.region.as_deref(),
        provider_id: a.provider_id.as_deref(),
        tags: &lists.tags,
        status: a.status.as_deref(),
        technologies: &lists.technologies,
        raw: &a.raw,
    }
}

/// A finding's lists in the lowering's borrowed form, kept while the batch is lowered.
struct FindingLists<'a> {
    project_ids: Vec<&'a str>,
    cve_ids: Vec<&'a str>,
    advisory_ids: Vec<&'a str>,
    cvss: Vec<t::Cvss<'a>>,
}

impl<'a> FindingLists<'a> {
    fn of(f: &'a records::Finding<'_>) -> Self {
        let v = f.vulnerability.as_ref();
        FindingLists {
            project_ids: strs(&f.project_ids),
            cve_ids: v.map(|v| strs(&v.cve_ids)).unwrap_or_default(),
            advisory_ids: v.map(|v| strs(&v.advisory_ids)).unwrap_or_default(),
            cvss: v
                .iter()
                .flat_map(|v| &v.cvss)
                .map(|c| t::Cvss {
                    version: &c.version,
                    score: c.score,
                    vector: c.vector.as_deref(),
                })
                .collect(),
        }
    }
}

fn vulnerability<'a>(
    v: &'a records::Vulnerability,
    lists: &'a FindingLists<'a>,
) -> t::Vulnerability<'a> {
    t::Vulnerability {
        cve_ids: &lists.cve_ids,
        advisory_ids: &lists.advisory_ids,
        cvss: &lists.cvss,
        package: v.package.as_ref().map(|p| t::AffectedPackage {
            ecosystem: &p.ecosystem,
            name: &p.name,
        }),
        installed_version: v.installed_version.as_deref(),
        vulnerable_range: v.vulnerable_range.as_deref(),
        fixed_version: v.fixed_version.as_deref(),
    }
}

fn finding<'a>(f: &'a records::Finding<'_>, lists: &'a FindingLists<'a>) -> t::Finding<'a> {
    t::Finding {
        source_id: &f.source_id,
        asset_source_id: &f.asset_source_id,
        stream: &f.stream,
        kind: match f.kind {
            FindingKind::Issue => t::FindingKind::Issue,
            FindingKind::Vulnerability => t::FindingKind::Vulnerability,
            FindingKind::Misconfiguration => t::FindingKind::Misconfiguration,
        },
        vulnerability: f.vulnerability.as_ref().map(|v| vulnerability(v, lists)),
        title: &f.title,
        description: &f.description,
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
        source_status: &f.source_status,
        remediation: f.remediation.as_deref(),
        rule_id: f.rule_id.as_deref(),
        rule_name: f.rule_name.as_deref(),
        created_at: f.created_at.as_deref(),
        updated_at: f.updated_at.as_deref(),
        status_changed_at: f.status_changed_at.as_deref(),
        resolved_at: f.resolved_at.as_deref(),
        due_at: f.due_at.as_deref(),
        project_ids: &lists.project_ids,
        portal_url: f.portal_url.as_deref(),
        raw: &f.raw,
    }
}
