//! The engine, plugin loading, and calls into a plugin, each in a fresh `Store` with a
//! memory limit and a wall-clock deadline.

use super::bindings::v0_1::{Connector, ConnectorPre, config_entries};
use super::cache::{CacheError, CompileCache};
use super::inspect::{self, InspectError};
use super::policy::AllowList;
use super::state::{HttpPolicy, NoEmit, RunSink, RunState};
use crate::model::{CheckStep, ConnectionFailure, LogLevel, PluginInfo, SourceError, SyncSummary};
use crate::policy::failure::FailureClass;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimitsBuilder};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi_http::WasiHttpCtx;

/// How often the epoch ticks; the deadline's resolution.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Plugin stderr kept for error messages (a panic message fits easily).
const STDERR_CAPTURE_BYTES: usize = 64 * 1024;

/// Default memory a plugin may use, in MiB.
pub const DEFAULT_MEMORY_MIB: u64 = 512;
/// Default longest run of one plugin call, in seconds (a full sync of a large tenant at
/// the default request rate takes hours).
pub const DEFAULT_DEADLINE_S: u64 = 4 * 3600;

/// Resource limits of one run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest linear memory a plugin may grow to, in bytes.
    pub memory_bytes: usize,
    /// Longest a call may run.
    pub deadline: Duration,
}

impl Default for Limits {
    /// [`DEFAULT_MEMORY_MIB`] and [`DEFAULT_DEADLINE_S`].
    fn default() -> Self {
        Limits {
            memory_bytes: (DEFAULT_MEMORY_MIB << 20) as usize,
            deadline: Duration::from_secs(DEFAULT_DEADLINE_S),
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
    #[error("plugin {path} refused: {source}")]
    Refused {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: InspectError,
    },
    /// Compilation or the cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Linking or instantiation failed.
    #[error("cannot instantiate plugin {path}: {message}")]
    Instantiate {
        /// The file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
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
            RunError::Deadline(_) => FailureClass::Sandbox,
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
    /// Destinations the plugin tried to reach and was refused.
    pub blocked: Vec<String>,
}

/// A compiled, pre-linked plugin and what it says about itself.
pub struct LoadedPlugin {
    /// Where it was loaded from.
    pub path: PathBuf,
    /// Its `describe` answer.
    pub info: PluginInfo,
    pre: ConnectorPre<RunState>,
}

/// How plugins are compiled and run: components, interrupted by epochs for deadlines.
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
}

impl PluginHost {
    /// A host that caches compiled plugins in `cache_dir`.
    pub fn new(cache_dir: &Path, limits: Limits) -> Result<Self, RunError> {
        let engine = Engine::new(&engine_config()).map_err(|e| RunError::Instantiate {
            path: PathBuf::new(),
            message: format!("engine: {e:#}"),
        })?;
        let cache = CompileCache::open(cache_dir)?;
        let mut linker = Linker::new(&engine);
        let link = |r: wasmtime::Result<()>| {
            r.map_err(|e| RunError::Instantiate {
                path: PathBuf::new(),
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
        link(Connector::add_to_linker::<_, HasSelf<_>>(
            &mut linker,
            |state| state,
        ))?;
        start_epoch_ticker(&engine);
        Ok(PluginHost {
            engine,
            linker,
            cache,
            limits,
        })
    }

    /// Inspects, compiles (or loads from the cache), pre-links and describes a plugin.
    pub async fn load(&self, path: &Path) -> Result<LoadedPlugin, RunError> {
        let bytes = std::fs::read(path).map_err(|source| RunError::Read {
            path: path.into(),
            source,
        })?;
        inspect::inspect(&bytes).map_err(|source| RunError::Refused {
            path: path.into(),
            source,
        })?;
        let component = self.cache.component(&self.engine, &bytes)?;
        let instantiate_error = |e: wasmtime::Error| RunError::Instantiate {
            path: path.into(),
            message: format!("{e:#}"),
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(instantiate_error)?;
        let pre = ConnectorPre::new(pre).map_err(instantiate_error)?;
        let mut plugin = LoadedPlugin {
            path: path.into(),
            info: PluginInfo {
                name: String::new(),
                version: String::new(),
                contract_version: String::new(),
                config_schema: vec![],
            },
            pre,
        };
        plugin.info = self
            .call(
                &plugin,
                AllowList::default(),
                Box::new(NoEmit),
                async |c, s| c.safe_connector_plugin().call_describe(s).await,
            )
            .await?
            .into();
        Ok(plugin)
    }

    /// Runs `test-connection`.
    pub async fn test_connection(
        &self,
        plugin: &LoadedPlugin,
        config: Vec<(String, String)>,
        allow: AllowList,
    ) -> Result<Result<Vec<CheckStep>, ConnectionFailure>, RunError> {
        let config = config_entries(config);
        let answer = self
            .call(plugin, allow, Box::new(NoEmit), async move |c, s| {
                c.safe_connector_plugin()
                    .call_test_connection(s, &config)
                    .await
            })
            .await?;
        Ok(answer
            .map(|steps| steps.into_iter().map(Into::into).collect())
            .map_err(Into::into))
    }

    /// Runs `sync`, handing what the plugin emits to `sink`.
    pub async fn sync(
        &self,
        plugin: &LoadedPlugin,
        config: Vec<(String, String)>,
        state: Option<String>,
        allow: AllowList,
        sink: Box<dyn RunSink>,
    ) -> Result<SyncResult, RunError> {
        let config = config_entries(config);
        let (result, blocked) = self
            .call_recording_denials(plugin, allow, sink, async move |c, s| {
                c.safe_connector_plugin()
                    .call_sync(s, &config, state.as_deref())
                    .await
            })
            .await?;
        Ok(SyncResult {
            result: result.map(Into::into).map_err(Into::into),
            blocked,
        })
    }

    /// Instantiates the plugin in a fresh store and runs one export under the limits.
    async fn call<R>(
        &self,
        plugin: &LoadedPlugin,
        allow: AllowList,
        sink: Box<dyn RunSink>,
        f: impl AsyncFnOnce(&Connector, &mut Store<RunState>) -> wasmtime::Result<R>,
    ) -> Result<R, RunError> {
        self.call_recording_denials(plugin, allow, sink, f)
            .await
            .map(|(r, _)| r)
    }

    /// [`call`](Self::call), also returning the destinations the sandbox refused.
    async fn call_recording_denials<R>(
        &self,
        plugin: &LoadedPlugin,
        allow: AllowList,
        sink: Box<dyn RunSink>,
        f: impl AsyncFnOnce(&Connector, &mut Store<RunState>) -> wasmtime::Result<R>,
    ) -> Result<(R, Vec<String>), RunError> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE_BYTES);
        let denied = Arc::new(Mutex::new(Vec::new()));
        let state = RunState {
            wasi: WasiCtxBuilder::new().stderr(stderr.clone()).build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.memory_bytes)
                .instances(64)
                .build(),
            policy: HttpPolicy {
                allow,
                denied: denied.clone(),
            },
            stderr: stderr.clone(),
            sink,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks = (self.limits.deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        let deadline = self.limits.deadline;
        let run = async {
            let connector = plugin.pre.instantiate_async(&mut store).await?;
            f(&connector, &mut store).await
        };
        let result = match tokio::time::timeout(deadline, run).await {
            Err(_) => return Err(RunError::Deadline(deadline)),
            Ok(result) => result,
        };
        let denied = std::mem::take(&mut *denied.lock().expect("denied list lock"));
        result.map(|r| (r, denied)).map_err(|e| {
            if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
                return RunError::Deadline(deadline);
            }
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
                detail: message,
                source: e.into(),
            }
        })
    }
}

/// Ticks the engine's epoch so deadlines fire; stops when the engine is dropped.
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
