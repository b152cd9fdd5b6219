//! The application layer: what a person can ask of the host, as a library API that every
//! front end calls (the CLI now, the HTTP API next) and that returns typed results and
//! typed errors. A front end parses and prints; the preamble (integration, its plugin,
//! its settings opened with the key) and every rule of an operation live here.

mod access;
mod error;
mod export;
mod findings;
mod history;
mod integration_rules;
mod integrations;
mod inventory;
mod pace;
mod paging;
mod plugins;
mod statuses;
mod syncs;
mod upgrades;
mod workers;

pub use access::{ADMIN, ADMIN_TOKEN_ENV, Access, AdminToken, Login, Token};
pub use error::{ErrorKind, ServiceError, store_kind};
pub use export::{EXPORT_PAGE, ExportFormat, defused};
pub use findings::{
    FindingDetail, FindingFilterText, FindingList, FindingQuery, Findings, FindingsPage,
    SeverityCount, parse_since,
};
pub use history::{History, HistoryPage};
pub use integrations::{
    AddIntegration, Added, IntegrationSummary, IntegrationView, Integrations, MASK, Overview,
    PolicyChange, ShownSetting, TestReport, UpdateIntegration, Updated, UpgradeIntegration,
    Upgraded,
};
pub use inventory::{AssetQuery, AssetsPage, Inventory};
pub use paging::MAX_PAGE;
pub use plugins::{InstallOutcome, PluginVersion, PluginVersions};
pub use statuses::{MAX_REASON, Selection, StatusRequest, StatusSet, StatusesSet, status_warning};
pub use syncs::{SyncRequest, SyncStatus, Syncs};
pub use workers::{WorkerView, Workers};

use crate::catalog::Catalog;
use crate::model::Integration;
use crate::plugin::resolve::Resolver;
use crate::plugin::{Limits, LoadedPlugin, PluginHost};
use crate::runner::{EmitLimits, StoreBacklog};
use crate::schedule::{DEFAULT_SYNC_TIME, SyncTime};
use crate::secrets::{SealedFor, SecretKey};
use crate::settings::Settings;
use crate::store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Where plugins come from and how they run.
#[derive(Debug, Clone)]
pub struct PluginSource {
    /// Folder of `*.wasm` components.
    pub folder: PathBuf,
    /// Folder of compiled components.
    pub cache_dir: PathBuf,
    /// Memory and deadline of each call.
    pub limits: Limits,
    /// How plugin destinations' names are answered (the operator's `--resolve`).
    pub resolver: Resolver,
}

/// The plugin host and the plugins folder's plugins.
pub struct Plugins {
    /// The engine that runs them.
    pub host: PluginHost,
    /// What loaded from the folder, and what did not.
    pub catalog: Catalog,
}

/// What every service works with: the store, and the key and plugins, each opened the
/// first time an operation needs it (listing findings loads no plugin).
pub struct Platform {
    store: Arc<dyn Store>,
    key_file: PathBuf,
    key: OnceCell<SecretKey>,
    plugin_source: PluginSource,
    plugins: OnceCell<Plugins>,
    loaded_builds: plugins::LoadedBuilds,
    limits: EmitLimits,
    /// What all its syncs together have emitted and not yet stored.
    backlog: StoreBacklog,
    running: syncs::Running,
    sync_time: SyncTime,
    lease_ttl: Duration,
    /// This process's worker id: what its leases and runs name.
    worker: String,
    /// What it tells Prometheus.
    metrics: Arc<crate::metrics::Metrics>,
}

impl Platform {
    /// A platform over `store`; the key comes from `CONNECTOR_HOST_KEY` or `key_file`.
    pub fn new(
        store: Arc<dyn Store>,
        key_file: PathBuf,
        plugin_source: PluginSource,
        limits: EmitLimits,
    ) -> Self {
        Platform {
            store,
            key_file,
            key: OnceCell::new(),
            plugin_source,
            plugins: OnceCell::new(),
            sync_time: DEFAULT_SYNC_TIME
                .parse()
                .expect("the default sync time reads"),
            lease_ttl: crate::policy::lease::LEASE_TTL,
            worker: crate::policy::lease::worker_id(),
            metrics: Default::default(),
            loaded_builds: Default::default(),
            backlog: StoreBacklog::new(limits.max_bytes_in_flight_per_process),
            limits,
            running: Default::default(),
        }
    }

    /// The same platform, its auto syncs run at `sync_time` (UTC) as `serve --sync-time`
    /// sets it.
    pub fn with_sync_time(mut self, sync_time: SyncTime) -> Self {
        self.sync_time = sync_time;
        self
    }

    /// This process's worker id.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// This process's metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// How long its syncs' leases last unrenewed.
    pub fn lease_ttl(&self) -> Duration {
        self.lease_ttl
    }

    /// The same platform, its syncs holding leases of `ttl` (`--lease-ttl-s`).
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// When auto syncs run each day (UTC): what the scheduler waits for, and what the
    /// console says.
    pub fn sync_time(&self) -> SyncTime {
        self.sync_time
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Integrations: add, update, test, remove, list, show.
    pub fn integrations(&self) -> Integrations<'_> {
        Integrations { platform: self }
    }

    /// Syncs: run now, cancel, status.
    pub fn syncs(&self) -> Syncs<'_> {
        Syncs { platform: self }
    }

    /// Findings: query, show, set status.
    pub fn findings(&self) -> Findings<'_> {
        Findings { platform: self }
    }

    /// The shared inventory: query, import.
    pub fn inventory(&self) -> Inventory<'_> {
        Inventory { platform: self }
    }

    /// Users, tokens and console sessions.
    pub fn access(&self) -> Access<'_> {
        Access { platform: self }
    }

    /// History of runs.
    pub fn history(&self) -> History<'_> {
        History { platform: self }
    }

    /// Workers: the `serve` processes sharing the store.
    pub fn workers(&self) -> Workers<'_> {
        Workers { platform: self }
    }

    /// Plugin versions: install, list, remove.
    pub fn plugin_versions(&self) -> PluginVersions<'_> {
        PluginVersions { platform: self }
    }

    /// The key that seals secrets. Loading it re-seals the secrets that an older version
    /// stored unbound (see [`SealedFor`]), so every stored value is bound to its
    /// integration from then on.
    pub async fn key(&self) -> Result<&SecretKey, ServiceError> {
        self.key
            .get_or_try_init(|| async {
                let key = SecretKey::load(&self.key_file)?;
                self.reseal_legacy_secrets(&key).await?;
                Ok(key)
            })
            .await
    }

    /// Re-seals every integration's secrets still in the unbound form. One the key does
    /// not open is left as it is: using that integration says why.
    async fn reseal_legacy_secrets(&self, key: &SecretKey) -> Result<(), ServiceError> {
        for integration in self.store.integrations().await? {
            let owner = SealedFor::integration(&integration.name, &integration.connector);
            match key.reseal_legacy(&integration.sealed_secrets, &owner) {
                Some(Ok(resealed)) => {
                    // Another process may have re-sealed (or changed) them first: fine.
                    let swapped = self
                        .store
                        .replace_sealed_secrets(
                            integration.id,
                            &integration.sealed_secrets,
                            &resealed,
                        )
                        .await?;
                    if swapped {
                        tracing::info!(integration = %integration.name, "re-sealed its secrets, bound to it");
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(integration = %integration.name, "cannot re-seal its secrets: {e}")
                }
                None => {}
            }
        }
        Ok(())
    }

    /// The plugins, loaded (and compiled, or read from the cache) on first use.
    pub async fn plugins(&self) -> Result<&Plugins, ServiceError> {
        self.plugins
            .get_or_try_init(|| async {
                let source = &self.plugin_source;
                let mut host = PluginHost::new(&source.cache_dir, source.limits)?
                    .resolving_with(source.resolver.clone());
                if let Some(per_second) = source.limits.requests_per_second_per_host {
                    let pace = pace::StorePace::new(self.store.clone(), per_second);
                    host = host.pacing_destinations_with(Arc::new(pace));
                }
                let catalog = Catalog::load(&host, &source.folder).await?;
                Ok::<_, ServiceError>(Plugins { host, catalog })
            })
            .await
    }

    /// An integration with its plugin and its settings opened: what running or testing it
    /// needs.
    async fn prepare(&self, name: &str) -> Result<Prepared<'_>, ServiceError> {
        let integration = self.integration(name).await?;
        self.prepare_integration(integration).await
    }

    /// An integration's row, read once the key is loaded: loading it re-seals an older
    /// store's secrets, and a row read before would hold the old seal.
    async fn integration(&self, name: &str) -> Result<Integration, ServiceError> {
        self.key().await?;
        Ok(self.store.integration(name).await?)
    }

    async fn prepare_integration(
        &self,
        mut integration: Integration,
    ) -> Result<Prepared<'_>, ServiceError> {
        let plugins = self.plugins().await?;
        let plugin = self.pinned_plugin(&mut integration).await?;
        let settings = Settings::open(&integration, &plugin.info.config_schema, self.key().await?)?;
        Ok(Prepared {
            integration,
            plugins,
            plugin,
            settings,
        })
    }
}

/// An integration ready to test or run.
struct Prepared<'a> {
    integration: Integration,
    plugins: &'a Plugins,
    plugin: Arc<LoadedPlugin>,
    settings: Settings,
}

impl Prepared<'_> {
    /// Refuses to run the plugin while it defaults a host this integration never
    /// accepted (see [`Settings::check_accepted`]).
    fn check_runnable(&self) -> Result<(), ServiceError> {
        Ok(self
            .settings
            .check_accepted(&self.integration.name, &self.plugin.info.config_schema)?)
    }

    /// The streams a sync pulls: the integration's choice, else the plugin's defaults.
    fn streams(&self) -> Result<Vec<String>, ServiceError> {
        Ok(integration_rules::streams_to_pull(
            &self.plugin,
            self.integration.streams.as_deref(),
        )?)
    }
}
