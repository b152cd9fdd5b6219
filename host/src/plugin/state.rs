//! Per-run store data: WASI with nothing granted, wasi:http behind the allow-list, memory
//! limits, and the connector's host imports forwarded to a [`RunSink`].

use super::policy::{AllowList, Denied, Destination};
use crate::model::{Batch, RefusalCause, Refusals};
use crate::redact::Redactor;
use std::sync::{Arc, Mutex};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// Receives what a running plugin hands to the host. `emit` and `checkpoint` may wait
/// (for the store's writer): the plugin waits with them, and nothing else does.
#[async_trait::async_trait]
pub trait RunSink: Send {
    /// Takes room for a batch of `records` records before it is lifted out of the
    /// plugin, waiting while there is none: a batch waits for the store in the plugin's
    /// memory, which it already occupies, not in a copy in the host's. The next `emit`
    /// uses the room.
    async fn reserve(&mut self, _records: u64) {}
    /// Stores one page; returns whether the plugin should go on.
    async fn emit(&mut self, batch: Batch) -> bool;
    /// Stores a resume point.
    async fn checkpoint(&mut self, state: String);
    /// Reports progress.
    fn progress(&mut self, done: u64, total: Option<u64>);
}

/// A sink for calls that must not emit anything (describe, test-connection).
pub(crate) struct NoEmit;

#[async_trait::async_trait]
impl RunSink for NoEmit {
    async fn emit(&mut self, _: Batch) -> bool {
        false
    }
    async fn checkpoint(&mut self, _: String) {}
    fn progress(&mut self, _: u64, _: Option<u64>) {}
}

/// The outbound-HTTP hook: checks each request against the allow-list.
pub(crate) struct HttpPolicy {
    pub allow: AllowList,
    /// Scrubs the run's secrets from what the policy logs (a plugin may put one in a
    /// host name or path).
    pub redactor: Redactor,
    /// How many requests it may have in flight, and how fast each destination is paced.
    pub budget: super::budget::RunBudget,
    /// Connects to the addresses the policy checked.
    pub connector: super::pinned::PinnedConnector,
    /// Answers the names of allowed destinations (checked again by the policy).
    pub resolver: super::resolve::Resolver,
    /// The refused destinations, for the run's error message.
    pub denied: Arc<Mutex<Refusals>>,
}

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        let _ = fut;
        let uri = request.uri();
        let destination = Destination::new(
            uri.scheme_str().unwrap_or_default(),
            uri.host().unwrap_or_default(),
            uri.port_u16(),
        );
        if let Err(denied) = self.allow.allows(&destination) {
            let cause = match self.allow.names(&destination) {
                true => RefusalCause::Settings,
                false => RefusalCause::Plugin,
            };
            let error = refuse(&self.denied, &self.redactor, denied, cause);
            return Box::new(refused_after_body(request.into_body(), error));
        }
        // Without the query: it may carry tokens or tenant data.
        tracing::debug!(target: "sandbox", "request leaves the sandbox: {} {}://{}{}", request.method(),
            destination.scheme, uri.authority().map_or("", |a| a.as_str()),
            self.redactor.redact(uri.path()));
        let denied = self.denied.clone();
        let redactor = self.redactor.clone();
        let budget = self.budget.clone();
        let connector = self.connector.clone();
        let resolver = self.resolver.clone();
        Box::new(async move {
            // Names are resolved and checked too, so no alias reaches a metadata service.
            let (host, port) = (destination.host.as_str(), destination.port);
            // In flight from here until its response has been read to the end.
            let in_flight = budget.admit(&format!("{host}:{port}")).await;
            // A name that does not resolve is reported below as a destination not found.
            let addresses = resolver.lookup(host, port).await.unwrap_or_default();
            if let Err(refused) = super::policy::check_resolved(host, &addresses) {
                let error = refuse(&denied, &redactor, refused, RefusalCause::Settings);
                return refused_after_body(request.into_body(), error).await;
            }
            // The connection goes to an address just checked: the name is not resolved
            // again, so it cannot answer differently the second time.
            if addresses.is_empty() {
                return Err(wasmtime_wasi_http::Error::DestinationNotFound);
            }
            let checked: Vec<std::net::SocketAddr> = addresses
                .iter()
                .map(|ip| std::net::SocketAddr::new(*ip, port))
                .collect();
            let (response, io) = connector.send(request, options, &checked).await?;
            let io = async move {
                let done = io.await;
                drop(in_flight);
                done
            };
            Ok((response, Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

/// Most of a refused request's body read before it is answered.
const REFUSED_BODY_READ: usize = 1 << 20;
/// Longest a refused request's body is waited for.
const REFUSED_BODY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Answers a refused request with `error` once its body is written (up to a limit): a
/// plugin writes the body while it waits for the answer, and a body stream closed under
/// it would look like a connection reset, not the policy's `HTTP-request-denied`.
async fn refused_after_body<T>(
    mut body: wasmtime_wasi_http::WasiBody,
    error: wasmtime_wasi_http::Error,
) -> Result<T, wasmtime_wasi_http::Error> {
    use http_body_util::BodyExt as _;
    let drained = async {
        let mut read = 0;
        while let Some(Ok(frame)) = body.frame().await {
            read += frame.data_ref().map_or(0, |d| d.len());
            if read > REFUSED_BODY_READ {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(REFUSED_BODY_WAIT, drained).await;
    Err(error)
}

/// Records a refused destination (for the run's error) and answers the plugin with
/// wasi:http's "denied". Each distinct reason is logged once, however often it repeats.
fn refuse(
    denied: &Mutex<Refusals>,
    redactor: &Redactor,
    reason: Denied,
    cause: RefusalCause,
) -> wasmtime_wasi_http::Error {
    let reason = redactor.redacted(&reason.to_string());
    let first = denied
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .record(reason.clone(), cause);
    if first {
        tracing::warn!("plugin request denied: {reason}");
    }
    wasmtime_wasi_http::Error::HttpRequestDenied
}

/// Everything one run's `Store` holds.
pub(crate) struct RunState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub limits: super::limiter::CallLimiter,
    pub policy: HttpPolicy,
    pub stderr: super::stderr::TailPipe,
    pub sink: Box<dyn RunSink>,
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RunState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.policy,
        }
    }
}
