//! The engine, plugin loading, and calls into a plugin, each in a fresh `Store` with a
//! memory limit and a wall-clock deadline.

use super::bindings::{self, Instance, Pre};
use super::budget::{self, DestinationBudgets, DestinationPace, RunBudget};
use super::cache::{CacheError, CompileCache};
use super::inspect::{self, InspectError};
use super::limiter::{CallLimiter, MAX_FIELDS_BYTES, MAX_RESOURCES};
use super::pinned::PinnedConnector;
use super::policy::Grants;
use super::resolve::Resolver;
use super::state::{HttpPolicy, NoEmit, RunSink, RunState};
use super::stderr::TailPipe;
use crate::model::{
    CheckStep, ConnectionFailure, LogLevel, PluginInfo, Refusals, SourceError, SourceErrorKind,
    SyncSummary,
};
use crate::policy::failure::FailureClass;
use crate::redact::Redactor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::WasiHttpCtx;

/// How often the epoch ticks: how long a plugin runs before it yields its thread.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Plugin stderr kept for error messages: the last this many bytes (a panic message fits
/// easily).
const STDERR_CAPTURE_BYTES: usize = 64 * 1024;

/// Longest a plugin's `describe` may run: it only returns constants, so a plugin that
/// takes longer is broken or hostile, and loading the catalog must not wait for it.
pub const DESCRIBE_DEADLINE: Duration = Duration::from_secs(10);
/// Longest a connection test may run (never longer than the run deadline): a person is
/// waiting for it, in `integration add` or at the console.
pub const TEST_CONNECTION_DEADLINE: Duration = Duration::from_secs(120);

/// How long a cancelled sync may take to end on its own (its `emit` answers false from
/// then on) before it is stopped where it is.
pub const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// Default memory a plugin may use, in MiB.
pub const DEFAULT_MEMORY_MIB: u64 = 512;
/// Default longest run of one plugin call, in seconds (a full sync of a large tenant at
/// the default request rate takes hours).
pub const DEFAULT_DEADLINE_S: u64 = 4 * 3600;

/// Resource limits of one run, and the request rate all runs share.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most memory a plugin call may hold, in bytes, all its linear memories together.
    pub memory_bytes: usize,
    /// Longest a call may run.
    pub deadline: Duration,
    /// Most requests one call may have in flight; more wait for a free slot.
    pub max_requests_in_flight: usize,
    /// Requests a second one run (one integration) may send, all destinations together.
    pub requests_per_second_per_run: u32,
    /// Requests a second to one destination, across every run of the process: off unless
    /// the operator sets it.
    pub requests_per_second_per_host: Option<u32>,
}

impl Default for Limits {
    /// [`DEFAULT_MEMORY_MIB`], [`DEFAULT_DEADLINE_S`] and the request budgets'
    /// defaults.
    fn default() -> Self {
        Limits {
            memory_bytes: (DEFAULT_MEMORY_MIB << 20) as usize,
            deadline: Duration::from_secs(DEFAULT_DEADLINE_S),
            max_requests_in_flight: budget::DEFAULT_MAX_IN_FLIGHT,
            requests_per_second_per_run: budget::DEFAULT_PER_RUN_PER_SECOND,
            requests_per_second_per_host: None,
        }
    }
}

/// Why a plugin could not be loaded or a call did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The plugin file cannot be read.
    #[error("cannot read plugin {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The binary was refused before compiling.
    #[error("plugin {from} refused: {source}")]
    Refused {
        /// Where it came from (a file, or the store).
        from: String,
        /// The cause.
        source: InspectError,
    },
    /// Compilation or the cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Linking or instantiation failed.
    #[error("cannot instantiate plugin {from}: {message}")]
    Instantiate {
        /// Where it came from (a file, or the store).
        from: String,
        /// The cause.
        message: String,
    },
    /// The sync was cancelled and did not end within [`CANCEL_GRACE`].
    #[error("the run was cancelled and the plugin, still running {0:?} later, was stopped")]
    Cancelled(Duration),
    /// The call ran past its deadline.
    #[error("the plugin ran longer than its {0:?} deadline and was stopped")]
    Deadline(Duration),
    /// The plugin trapped (panic, out of memory, bad instruction).
    #[error("the plugin crashed: {detail}")]
    Trap {
        /// The trap and the last lines the plugin wrote to stderr.
        detail: String,
        /// The trap.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl RunError {
    /// Whose fault it is: a limit of the sandbox, or the plugin.
    pub fn class(&self) -> FailureClass {
        match self {
            RunError::Deadline(_) | RunError::Cancelled(_) => FailureClass::Sandbox,
            RunError::Cache(_) => FailureClass::Config,
            _ => FailureClass::PluginBug,
        }
    }
}

/// What a sync call returned, and what the sandbox refused along the way.
#[derive(Debug)]
pub struct SyncResult {
    /// The plugin's answer.
    pub result: Result<SyncSummary, SourceError>,
    /// Requests the sandbox refused.
    pub blocked: Refusals,
    /// The linear memory the plugin's instances held when it returned: their peak, and
    /// most of what a running sync costs in memory.
    pub memory_bytes: u64,
}

/// What a call that returned leaves besides its answer.
struct CallEnd {
    /// Requests the sandbox refused.
    refused: Refusals,
    /// The linear memory its instances held at the end (their peak).
    memory_bytes: u64,
}

/// A compiled, pre-linked plugin and what it says about itself.
pub struct LoadedPlugin {
    /// Where it was loaded from.
    pub origin: Origin,
    /// The sha256 of its component, in hex: which build it is.
    pub digest: String,
    /// Its `describe` answer; its contract version is the one its binary exports.
    pub info: PluginInfo,
    pre: Pre,
}

impl LoadedPlugin {
    /// This build as loaded from `origin`, sharing its compiled code and description: a
    /// build both the store and the plugins folder hold is compiled, mapped and described
    /// once a process.
    pub fn with_origin(&self, origin: Origin) -> LoadedPlugin {
        LoadedPlugin {
            origin,
            digest: self.digest.clone(),
            info: self.info.clone(),
            pre: self.pre.clone(),
        }
    }
}

/// Where a loaded plugin's component came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file (in the plugins folder, or given to `plugins install`).
    File(PathBuf),
    /// The store's copy of an installed build.
    Installed,
    /// A component sent to the HTTP API.
    Uploaded,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Installed => f.write_str("(installed)"),
            Origin::Uploaded => f.write_str("(uploaded)"),
        }
    }
}

/// The sha256 of a component, in hex: how builds are told apart.
pub fn digest_of(component: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(component))
}

/// How plugins are compiled and run: components, with epochs that make a running plugin
/// yield its thread.
pub fn engine_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true).wasm_component_model(true);
    config
}

/// The engine and linker shared by every plugin in this process.
pub struct PluginHost {
    engine: Engine,
    linker: Linker<RunState>,
    cache: CompileCache,
    limits: Limits,
    destinations: Option<Arc<dyn DestinationPace>>,
    connector: PinnedConnector,
    resolver: Resolver,
}

impl PluginHost {
    /// A host that caches compiled plugins in `cache_dir`.
    pub fn new(cache_dir: &Path, limits: Limits) -> Result<Self, RunError> {
        let engine = Engine::new(&engine_config()).map_err(|e| RunError::Instantiate {
            from: String::new(),
            message: format!("engine: {e:#}"),
        })?;
        let cache = CompileCache::open(cache_dir)?;
        let mut linker = Linker::new(&engine);
        let link = |r: wasmtime::Result<()>| {
            r.map_err(|e| RunError::Instantiate {
                from: String::new(),
                message: format!("linker: {e:#}"),
            })
        };
        // All of WASI p2 is linked, but the context grants nothing: no preopened
        // directories, no environment, no arguments, sockets denied. The import check in
        // `inspect` already refuses components that ask for files or sockets.
        link(wasmtime_wasi::p2::add_to_linker_async(&mut linker))?;
        link(wasmtime_wasi_http::p2::add_only_http_to_linker_async(
            &mut linker,
        ))?;
        link(bindings::add_to_linker(&mut linker))?;
        start_epoch_ticker(&engine);
        Ok(PluginHost {
            engine,
            linker,
            cache,
            limits,
            destinations: limits.requests_per_second_per_host.map(|per_second| {
                Arc::new(DestinationBudgets::new(per_second)) as Arc<dyn DestinationPace>
            }),
            connector: PinnedConnector::public_roots(),
            resolver: Resolver::default(),
        })
    }

    /// This host, pacing every destination by `pace` (shared with other processes) rather
    /// than by a pace of its own, when the operator set a ceiling per destination.
    pub fn pacing_destinations_with(mut self, pace: Arc<dyn DestinationPace>) -> Self {
        if self.destinations.is_some() {
            self.destinations = Some(pace);
        }
        self
    }

    /// This host, answering plugin destinations' names with `resolver` (the operator's
    /// fixed answers) instead of only the system's resolver.
    pub fn resolving_with(mut self, resolver: Resolver) -> Self {
        self.resolver = resolver;
        self
    }

    /// How plugin destinations' names are resolved: settings are checked with the same
    /// answers their requests will get.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Inspects, compiles (or loads from the cache), pre-links and describes a plugin.
    pub async fn load(&self, path: &Path) -> Result<LoadedPlugin, RunError> {
        let bytes = std::fs::read(path).map_err(|source| RunError::Read {
            path: path.into(),
            source,
        })?;
        self.load_component(Origin::File(path.into()), &bytes).await
    }

    /// Checks, compiles (or reads from the cache) and describes the component `bytes`.
    pub async fn load_component(
        &self,
        origin: Origin,
        bytes: &[u8],
    ) -> Result<LoadedPlugin, RunError> {
        let from = origin.to_string();
        let contract = inspect::inspect(bytes).map_err(|source| RunError::Refused {
            from: from.clone(),
            source,
        })?;
        let component = self.cache.component(&self.engine, bytes)?;
        let instantiate_error = |e: wasmtime::Error| RunError::Instantiate {
            from: from.clone(),
            message: format!("{e:#}"),
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(instantiate_error)?;
        let pre = Pre::new(contract, pre).map_err(instantiate_error)?;
        let mut plugin = LoadedPlugin {
            origin,
            digest: digest_of(bytes),
            info: PluginInfo {
                name: String::new(),
                version: String::new(),
                contract_version: String::new(),
                config_schema: vec![],
                streams: vec![],
                fixed_endpoints: vec![],
            },
            pre,
        };
        plugin.info = self
            .call(
                &plugin,
                Stop::after(DESCRIBE_DEADLINE.min(self.limits.deadline)),
                // No settings: nothing to reach, no secrets to scrub.
                Grants::default(),
                Box::new(NoEmit),
                async |c, s| c.describe(s).await,
            )
            .await?;
        // What the binary exports is what the host calls it by, whatever it says.
        plugin.info.contract_version = contract.to_string();
        Ok(plugin)
    }

    /// Runs `test-connection`. Every text that comes back (steps, error, trap, stderr)
    /// and every log line has the secrets of `grants` scrubbed.
    pub async fn test_connection(
        &self,
        plugin: &LoadedPlugin,
        config: Vec<(String, String)>,
        grants: Grants,
    ) -> Result<Result<Vec<CheckStep>, ConnectionFailure>, RunError> {
        let redactor = grants.redactor.clone();
        let (answer, end) = self
            .call_to_its_end(
                plugin,
                Stop::after(TEST_CONNECTION_DEADLINE.min(self.limits.deadline)),
                grants,
                Box::new(NoEmit),
                async move |c, s| c.test_connection(s, config).await,
            )
            .await?;
        let scrub = |steps: Vec<CheckStep>| -> Vec<CheckStep> {
            steps
                .into_iter()
                .map(|step| CheckStep {
                    // A step's name is the plugin's text too: it may quote a secret.
                    name: redactor.redacted(&step.name),
                    detail: redactor.redacted(&step.detail),
                    ..step
                })
                .collect()
        };
        Ok(match answer {
            Ok(steps) => Ok(scrub(steps)),
            Err(failure) => Err(ConnectionFailure {
                error: scrubbed(blamed_on_policy(failure.error, &end.refused), &redactor),
                steps: scrub(failure.steps),
            }),
        })
    }

    /// Runs `sync` of `streams`, handing what the plugin emits to `sink`. Once `cancel`
    /// is set, the plugin has [`CANCEL_GRACE`] to end before it is stopped. Log lines,
    /// the error and any trap have the secrets of `grants` scrubbed.
    #[allow(clippy::too_many_arguments)]
    pub async fn sync(
        &self,
        plugin: &LoadedPlugin,
        config: Vec<(String, String)>,
        streams: Vec<String>,
        state: Option<String>,
        grants: Grants,
        sink: Box<dyn RunSink>,
        cancel: Arc<AtomicBool>,
    ) -> Result<SyncResult, RunError> {
        let stop = Stop {
            deadline: self.limits.deadline,
            cancel: Some(cancel),
        };
        let redactor = grants.redactor.clone();
        let (result, end) = self
            .call_to_its_end(plugin, stop, grants, sink, async move |c, s| {
                c.sync(s, config, streams, state).await
            })
            .await?;
        Ok(SyncResult {
            result: result.map_err(|e| scrubbed(e, &redactor)),
            blocked: end.refused,
            memory_bytes: end.memory_bytes,
        })
    }

    /// Instantiates the plugin in a fresh store and runs one export under the limits,
    /// until it returns or `stop` says.
    async fn call<R>(
        &self,
        plugin: &LoadedPlugin,
        stop: Stop,
        grants: Grants,
        sink: Box<dyn RunSink>,
        f: impl AsyncFnOnce(&Instance, &mut Store<RunState>) -> wasmtime::Result<R>,
    ) -> Result<R, RunError> {
        self.call_to_its_end(plugin, stop, grants, sink, f)
            .await
            .map(|(r, _)| r)
    }

    /// [`call`](Self::call), also returning what the sandbox refused and the memory the
    /// plugin held.
    async fn call_to_its_end<R>(
        &self,
        plugin: &LoadedPlugin,
        stop: Stop,
        grants: Grants,
        sink: Box<dyn RunSink>,
        f: impl AsyncFnOnce(&Instance, &mut Store<RunState>) -> wasmtime::Result<R>,
    ) -> Result<(R, CallEnd), RunError> {
        let Grants { allow, redactor } = grants;
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(MAX_FIELDS_BYTES);
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let stderr = TailPipe::new(STDERR_CAPTURE_BYTES);
        let denied = Arc::new(Mutex::new(Refusals::default()));
        let state = RunState {
            wasi: WasiCtxBuilder::new().stderr(stderr.clone()).build(),
            http,
            table,
            limits: CallLimiter::new(self.limits.memory_bytes),
            policy: HttpPolicy {
                allow,
                redactor: redactor.clone(),
                budget: RunBudget::new(
                    self.limits.max_requests_in_flight,
                    self.limits.requests_per_second_per_run,
                    self.destinations.clone(),
                ),
                connector: self.connector.clone(),
                resolver: self.resolver.clone(),
                denied: denied.clone(),
            },
            stderr: stderr.clone(),
            sink,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // The guest yields to tokio on every epoch tick, so a spinning plugin shares its
        // worker thread: the lease renewal, the scheduler and signals still run, and the
        // timeout below can stop it.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        let run = async {
            let connector = plugin.pre.instantiate_async(&mut store).await?;
            f(&connector, &mut store).await
        };
        let deadline = stop.deadline;
        let result = tokio::select! {
            finished = tokio::time::timeout(deadline, run) => match finished {
                Err(_) => return Err(RunError::Deadline(deadline)),
                Ok(result) => result,
            },
            () = stop.cancelled() => return Err(RunError::Cancelled(CANCEL_GRACE)),
        };
        let end = CallEnd {
            refused: std::mem::take(&mut *denied.lock().unwrap_or_else(PoisonError::into_inner)),
            memory_bytes: store.data().limits.memory_bytes() as u64,
        };
        result.map(|r| (r, end)).map_err(|e| {
            let stderr = String::from_utf8_lossy(&store.data().stderr.contents())
                .trim()
                .to_string();
            let mut message = format!("{e:#}");
            if !stderr.is_empty() {
                message = format!(
                    "{message}; plugin stderr: {}",
                    stderr
                        .lines()
                        .rev()
                        .take(5)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join(" | ")
                );
            }
            RunError::Trap {
                // A plugin's panic message, or what it printed, may quote a secret.
                detail: redactor.redacted(&message),
                source: e.into(),
            }
        })
    }
}

/// A plugin's error with the secrets it may quote scrubbed.
fn scrubbed(error: SourceError, redactor: &Redactor) -> SourceError {
    SourceError {
        message: redactor.redacted(&error.message),
        ..error
    }
}

/// When a call must end besides returning: its deadline and, for a sync, the grace
/// after its run was cancelled.
struct Stop {
    deadline: Duration,
    cancel: Option<Arc<AtomicBool>>,
}

impl Stop {
    /// Only the deadline.
    fn after(deadline: Duration) -> Self {
        Stop {
            deadline,
            cancel: None,
        }
    }

    /// Resolves [`CANCEL_GRACE`] after the run was cancelled; never without a flag.
    async fn cancelled(&self) {
        let Some(flag) = &self.cancel else {
            return std::future::pending().await;
        };
        while !flag.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(CANCEL_GRACE).await;
    }
}

/// Ticks the engine's epoch so running plugins yield; stops when the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn the epoch ticker thread");
}

/// Forwards a plugin log line to tracing.
pub(crate) fn trace_plugin_log(level: LogLevel, message: &str) {
    match level {
        LogLevel::Trace => tracing::trace!(target: "plugin", "{message}"),
        LogLevel::Debug => tracing::debug!(target: "plugin", "{message}"),
        LogLevel::Info => tracing::info!(target: "plugin", "{message}"),
        LogLevel::Warn => tracing::warn!(target: "plugin", "{message}"),
        LogLevel::Error => tracing::error!(target: "plugin", "{message}"),
    }
}

/// A failure while the sandbox refused requests is the operator's to fix (a setting the
/// policy refuses), never a network blip to retry: it names the policy and what it refused.
fn blamed_on_policy(error: SourceError, blocked: &Refusals) -> SourceError {
    if blocked.is_empty() {
        return error;
    }
    SourceError {
        kind: SourceErrorKind::Config,
        message: format!(
            "the host's sandbox policy refused {blocked}; {}",
            error.message
        ),
        retry_after_seconds: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_while_the_sandbox_refused_is_a_setting_to_fix_naming_the_policy() {
        let transient = SourceError {
            kind: SourceErrorKind::Transient,
            message: "cannot reach the token endpoint: connection reset".into(),
            retry_after_seconds: Some(5),
        };
        assert_eq!(
            blamed_on_policy(transient.clone(), &Refusals::default()),
            transient,
            "nothing refused: the plugin's word stands"
        );
        let mut blocked = Refusals::default();
        blocked.record(
            "https://100.100.100.200:443 is a link-local or metadata address, which plugins may never reach".into(),
            crate::model::RefusalCause::Settings,
        );
        let blamed = blamed_on_policy(transient, &blocked);
        assert_eq!(blamed.kind, SourceErrorKind::Config);
        assert_eq!(blamed.retry_after_seconds, None);
        assert!(
            blamed.message.starts_with(
                "the host's sandbox policy refused 1 request(s): https://100.100.100.200:443 is a link-local"
            ),
            "{}",
            blamed.message
        );
    }
}
