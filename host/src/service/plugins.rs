//! Plugin versions side by side: which builds there are (the plugins folder's files and
//! the builds kept in the store), installing and removing builds, and which build an
//! integration runs. The store is the authority: a build an integration was set up with
//! is kept there, so replacing or deleting the folder's file never changes what runs,
//! and every process of a fleet can run it. One build per name and version: a changed
//! build under a version already installed is refused, wherever it comes from.

use super::{Platform, ServiceError};
use crate::catalog::{Catalog, CatalogError, check_version, compare_versions};
use crate::model::{InstalledPlugin, Integration, PluginInfo, PluginPin, now};
use crate::plugin::{LoadedPlugin, Origin, digest_of};
use crate::store::{Installed, StoreError};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// Installed builds this process has loaded, by digest: a build never changes, so one
/// loaded is good for the life of the process.
#[derive(Default)]
pub(super) struct LoadedBuilds(Mutex<HashMap<String, Arc<LoadedPlugin>>>);

impl LoadedBuilds {
    fn get(&self, digest: &str) -> Option<Arc<LoadedPlugin>> {
        let builds = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        builds.get(digest).cloned()
    }

    fn insert(&self, plugin: Arc<LoadedPlugin>) {
        let mut builds = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        builds.insert(plugin.digest.clone(), plugin);
    }
}

/// The plugin versions service.
pub struct PluginVersions<'a> {
    pub(super) platform: &'a Platform,
}

/// One version of a plugin, wherever it is.
#[derive(Debug, Clone)]
pub struct PluginVersion {
    /// What it says about itself.
    pub info: PluginInfo,
    /// The sha256 of its component.
    pub digest: String,
    /// When it was installed, if the store keeps it.
    pub installed_at: Option<DateTime<Utc>>,
    /// Its file in the plugins folder, if there is one with this very build.
    pub file: Option<PathBuf>,
    /// The integrations that run it.
    pub used_by: Vec<String>,
}

/// What `plugins install` did.
#[derive(Debug, Clone)]
pub struct InstallOutcome {
    /// The build.
    pub version: PluginVersion,
    /// Whether it was installed already (nothing changed).
    pub already: bool,
}

impl Platform {
    /// The installed build `listed`, loaded: from this process's builds when it has it,
    /// else from the plugins folder's copy of the same build, else read from the store
    /// (its bytes checked against its sha256) and compiled. `None` when it was removed
    /// meanwhile.
    async fn load_installed(
        &self,
        listed: &InstalledPlugin,
    ) -> Result<Option<Arc<LoadedPlugin>>, ServiceError> {
        if let Some(plugin) = self.loaded_builds.get(&listed.digest) {
            return Ok(Some(plugin));
        }
        let (name, version) = (&listed.name, &listed.version);
        let corrupt = |detail: String| StoreError::Corrupt {
            what: format!("plugin {name} {version}"),
            detail,
        };
        let plugins = self.plugins().await?;
        let folder_copy = plugins
            .catalog
            .plugins
            .iter()
            .find(|p| p.digest == listed.digest);
        let plugin = match folder_copy {
            // The folder holds this very build, loaded already: its bytes are the ones
            // the store recorded, so they need no second reading, compiling or mapping.
            Some(file) => file.with_origin(Origin::Installed),
            None => {
                let Some((digest, component)) = self.store.plugin_component(name, version).await?
                else {
                    return Ok(None);
                };
                if digest_of(&component) != digest {
                    return Err(
                        corrupt("its component does not match its recorded sha256".into()).into(),
                    );
                }
                plugins
                    .host
                    .load_component(Origin::Installed, &component)
                    .await?
            }
        };
        if &plugin.info.name != name || &plugin.info.version != version {
            return Err(corrupt(format!(
                "its component describes itself as {} {}",
                plugin.info.name, plugin.info.version
            ))
            .into());
        }
        let plugin = Arc::new(plugin);
        self.loaded_builds.insert(plugin.clone());
        Ok(Some(plugin))
    }

    /// Every version of `name` there is, installed or in the folder, oldest first.
    fn versions_here(installed: &[InstalledPlugin], catalog: &Catalog, name: &str) -> Vec<String> {
        let mut versions: Vec<String> = installed
            .iter()
            .filter(|p| p.name == name)
            .map(|p| p.version.clone())
            .chain(catalog.versions(name).map(|p| p.info.version.clone()))
            .collect();
        versions.sort_by(|a, b| compare_versions(a, b));
        versions.dedup();
        versions
    }

    /// `name` at `version`: the installed build, else the folder's.
    pub(super) async fn plugin_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Arc<LoadedPlugin>, ServiceError> {
        let installed = self.store.installed_plugins().await?;
        self.version_in(&installed, name, version).await
    }

    /// [`plugin_version`](Self::plugin_version) over the store's listing `installed`.
    async fn version_in(
        &self,
        installed: &[InstalledPlugin],
        name: &str,
        version: &str,
    ) -> Result<Arc<LoadedPlugin>, ServiceError> {
        let listed = installed
            .iter()
            .find(|p| p.name == name && p.version == version);
        if let Some(listed) = listed
            && let Some(plugin) = self.load_installed(listed).await?
        {
            return Ok(plugin);
        }
        let plugins = self.plugins().await?;
        if let Some(plugin) = plugins.catalog.find(name, version)? {
            return Ok(plugin.clone());
        }
        let known = Self::versions_here(installed, &plugins.catalog, name);
        if known.is_empty() {
            return Err(self.unknown_plugin(name, installed).await?.into());
        }
        Err(CatalogError::NoVersion {
            name: name.into(),
            version: version.into(),
            folder: plugins.catalog.folder().display().to_string(),
            hint: format!("; its versions here: {}", known.join(", ")),
        }
        .into())
    }

    async fn unknown_plugin(
        &self,
        name: &str,
        installed: &[InstalledPlugin],
    ) -> Result<CatalogError, ServiceError> {
        let plugins = self.plugins().await?;
        let names: Vec<String> = installed.iter().map(|p| p.name.clone()).collect();
        Ok(plugins.catalog.unknown(name, &names))
    }

    /// The newest version of `name`, installed or in the folder.
    pub(super) async fn newest_plugin(
        &self,
        name: &str,
    ) -> Result<Arc<LoadedPlugin>, ServiceError> {
        let plugins = self.plugins().await?;
        let installed = self.store.installed_plugins().await?;
        match Self::versions_here(&installed, &plugins.catalog, name).last() {
            Some(version) => self.version_in(&installed, name, version).await,
            None => {
                // Only ambiguous files claim it: say so rather than "unknown".
                if let Some(version) = plugins.catalog.ambiguous_versions(name).first() {
                    plugins.catalog.find(name, version)?;
                }
                Err(self.unknown_plugin(name, &installed).await?.into())
            }
        }
    }

    /// Keeps `plugin`'s build, `component`, in the store; refused if another build has
    /// its name and version.
    async fn keep_build(
        &self,
        plugin: &LoadedPlugin,
        component: &[u8],
    ) -> Result<Installed, ServiceError> {
        if digest_of(component) != plugin.digest {
            return Err(ServiceError::PluginVersion(format!(
                "{} changed since it was loaded; run the command again",
                plugin.origin
            )));
        }
        let record = InstalledPlugin {
            name: plugin.info.name.clone(),
            version: plugin.info.version.clone(),
            digest: plugin.digest.clone(),
            contract_version: plugin.info.contract_version.clone(),
            installed_at: now(),
        };
        match self.store.install_plugin(&record, component).await? {
            Installed::Differs(installed) => Err(CatalogError::ChangedBuild {
                name: record.name,
                version: record.version,
                from: plugin.origin.to_string(),
                found: record.digest,
                expected: installed,
            }
            .into()),
            outcome => Ok(outcome),
        }
    }

    /// The pin of `plugin`, its build kept in the store first.
    pub(super) async fn pin_of(&self, plugin: &LoadedPlugin) -> Result<PluginPin, ServiceError> {
        if let Origin::File(path) = &plugin.origin {
            // The folder's file, read again: it is checked against what was loaded.
            self.keep_build(plugin, &read_component(path)?).await?;
        }
        Ok(PluginPin {
            version: plugin.info.version.clone(),
            digest: plugin.digest.clone(),
        })
    }

    /// The build `integration` runs. One stored before versions were pinned is pinned to
    /// the newest now, once, whichever process gets there first.
    pub(super) async fn pinned_plugin(
        &self,
        integration: &mut Integration,
    ) -> Result<Arc<LoadedPlugin>, ServiceError> {
        let name = integration.connector.clone();
        let pin = match &integration.plugin {
            Some(pin) => pin.clone(),
            None => {
                let newest = self.newest_plugin(&name).await?;
                let pin = self.pin_of(&newest).await?;
                if !self
                    .store
                    .pin_plugin(integration.id, None, &pin, None)
                    .await?
                {
                    *integration = self.store.integration(&integration.name).await?;
                    return Box::pin(self.pinned_plugin(integration)).await;
                }
                tracing::info!(integration = %integration.name, "pinned to {name} {}", pin.version);
                integration.plugin = Some(pin);
                return Ok(newest);
            }
        };
        let plugin = self.plugin_version(&name, &pin.version).await.map_err(|e| match e {
            ServiceError::Catalog(CatalogError::NoVersion { hint, folder, .. }) => {
                ServiceError::Catalog(CatalogError::NoVersion {
                    name: name.clone(),
                    version: pin.version.clone(),
                    folder,
                    hint: format!(
                        "{hint}; integration `{}` runs it: `integration upgrade {}` moves it to another",
                        integration.name, integration.name
                    ),
                })
            }
            e => e,
        })?;
        if plugin.digest != pin.digest {
            return Err(CatalogError::ChangedBuild {
                name,
                version: pin.version,
                from: plugin.origin.to_string(),
                found: plugin.digest.clone(),
                expected: pin.digest,
            }
            .into());
        }
        Ok(plugin)
    }
}

fn read_component(path: &Path) -> Result<Vec<u8>, ServiceError> {
    std::fs::read(path).map_err(|source| {
        crate::plugin::RunError::Read {
            path: path.into(),
            source,
        }
        .into()
    })
}

impl PluginVersions<'_> {
    /// Checks the component in `file` (contract, imports, its description), compiles it,
    /// and keeps it in the store under its name and version. Installing the same build
    /// again changes nothing; another build under an installed version is refused.
    pub async fn install(&self, file: &Path) -> Result<InstallOutcome, ServiceError> {
        let component = read_component(file)?;
        self.install_component(Origin::File(file.into()), &component)
            .await
    }

    /// [`install`](Self::install) for a component given as bytes (an upload).
    pub async fn install_component(
        &self,
        origin: Origin,
        component: &[u8],
    ) -> Result<InstallOutcome, ServiceError> {
        let plugins = self.platform.plugins().await?;
        let plugin = match plugins.host.load_component(origin, component).await {
            Ok(plugin) => plugin,
            // The compile cache failing is the host's trouble, not the component's.
            Err(e @ crate::plugin::RunError::Cache(_)) => return Err(e.into()),
            Err(e) => return Err(ServiceError::NotAPlugin(e)),
        };
        check_version(&plugin)?;
        let outcome = self.platform.keep_build(&plugin, component).await?;
        let version = self
            .list()
            .await?
            .into_iter()
            .find(|v| v.info.name == plugin.info.name && v.info.version == plugin.info.version)
            .ok_or_else(|| {
                ServiceError::PluginVersion("the installed build is not listed".into())
            })?;
        Ok(InstallOutcome {
            version,
            already: outcome == Installed::Already,
        })
    }

    /// Every version of every plugin, installed or in the folder, by name then version
    /// (oldest first), with the integrations that run each; and the folder's files that
    /// did not load, with why.
    pub async fn list(&self) -> Result<Vec<PluginVersion>, ServiceError> {
        Ok(self.list_with_failures().await?.0)
    }

    /// [`list`](Self::list), and the folder's files that are not used, with why (a file
    /// that changed a build installed under its version among them).
    pub async fn list_with_failures(
        &self,
    ) -> Result<(Vec<PluginVersion>, Vec<(PathBuf, String)>), ServiceError> {
        let platform = self.platform;
        let plugins = platform.plugins().await?;
        let mut failed = plugins.catalog.failed.clone();
        let mut users: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for integration in platform.store.integrations().await? {
            if let Some(pin) = integration.plugin {
                users
                    .entry((integration.connector, pin.version))
                    .or_default()
                    .push(integration.name);
            }
        }
        let mut versions: BTreeMap<(String, String), PluginVersion> = BTreeMap::new();
        for installed in platform.store.installed_plugins().await? {
            let Some(plugin) = platform.load_installed(&installed).await? else {
                continue; // removed meanwhile
            };
            let key = (installed.name.clone(), installed.version.clone());
            versions.insert(
                key.clone(),
                PluginVersion {
                    info: plugin.info.clone(),
                    digest: plugin.digest.clone(),
                    installed_at: Some(installed.installed_at),
                    file: None,
                    used_by: users.remove(&key).unwrap_or_default(),
                },
            );
        }
        for plugin in &plugins.catalog.plugins {
            let key = (plugin.info.name.clone(), plugin.info.version.clone());
            let Origin::File(path) = &plugin.origin else {
                continue;
            };
            match versions.get_mut(&key) {
                Some(version) if version.digest == plugin.digest => {
                    version.file = Some(path.clone())
                }
                Some(version) => failed.push((
                    path.clone(),
                    CatalogError::ChangedBuild {
                        name: key.0,
                        version: key.1,
                        from: path.display().to_string(),
                        found: plugin.digest.clone(),
                        expected: version.digest.clone(),
                    }
                    .to_string(),
                )),
                None => {
                    versions.insert(
                        key.clone(),
                        PluginVersion {
                            info: plugin.info.clone(),
                            digest: plugin.digest.clone(),
                            installed_at: None,
                            file: Some(path.clone()),
                            used_by: users.remove(&key).unwrap_or_default(),
                        },
                    );
                }
            }
        }
        let mut versions: Vec<PluginVersion> = versions.into_values().collect();
        versions.sort_by(|a, b| {
            (a.info.name.cmp(&b.info.name))
                .then_with(|| compare_versions(&a.info.version, &b.info.version))
        });
        Ok((versions, failed))
    }

    /// Every version of `name`, oldest first.
    pub async fn versions_of(&self, name: &str) -> Result<Vec<PluginVersion>, ServiceError> {
        let all = self.list().await?;
        Ok(all.into_iter().filter(|v| v.info.name == name).collect())
    }

    /// What `name` at `version` (the newest when `None`) says about itself: what a form
    /// for one of its integrations shows.
    pub async fn describe(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<PluginInfo, ServiceError> {
        let plugin = match version {
            Some(version) => self.platform.plugin_version(name, version).await?,
            None => self.platform.newest_plugin(name).await?,
        };
        Ok(plugin.info.clone())
    }

    /// Forgets the installed build of `name` at `version`; refused while an integration
    /// runs it. A file of that build in the plugins folder still offers it.
    pub async fn remove(&self, name: &str, version: &str) -> Result<(), ServiceError> {
        match self.platform.store.remove_plugin(name, version).await {
            Err(StoreError::InUse { what, users }) => {
                Err(ServiceError::PluginInUse { what, users })
            }
            other => Ok(other?),
        }
    }
}
