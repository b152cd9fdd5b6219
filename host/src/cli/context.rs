//! What commands share: the store, the key, the plugin host and catalog, opened on demand.

use super::Global;
use connector_host::catalog::Catalog;
use connector_host::plugin::{Limits, PluginHost};
use connector_host::secrets::SecretKey;
use connector_host::settings::Settings;
use connector_host::store::{Integration, SqliteStore, Storage};
use std::path::PathBuf;
use std::time::Duration;

/// Lazily opened resources of one command.
pub struct Context {
    global: Global,
}

impl Context {
    pub fn new(global: Global) -> Self {
        Context { global }
    }

    /// Opens the store.
    pub fn store(&self) -> anyhow::Result<Box<dyn Storage>> {
        Ok(Box::new(SqliteStore::open(&self.global.db)?))
    }

    /// The secret key.
    pub fn key(&self) -> anyhow::Result<SecretKey> {
        let file = self
            .global
            .key_file
            .clone()
            .unwrap_or_else(|| self.global.db.with_extension("key"));
        Ok(SecretKey::load(&file)?)
    }

    /// The plugin host and every plugin in the folder.
    pub async fn plugins(&self) -> anyhow::Result<(PluginHost, Catalog)> {
        let cache = match &self.global.cache_dir {
            Some(dir) => dir.clone(),
            None => default_cache_dir(),
        };
        let limits = Limits {
            memory_bytes: (self.global.memory_limit_mib as usize) << 20,
            deadline: Duration::from_secs(self.global.run_timeout_s),
        };
        let host = PluginHost::new(&cache, limits)?;
        let catalog = Catalog::load(&host, &self.global.plugins).await?;
        Ok((host, catalog))
    }

    /// An integration's settings with its secrets opened, validated against `schema`.
    pub fn settings(
        &self,
        integration: &Integration,
        schema: &[connector_host::plugin::contract::ConfigField],
    ) -> anyhow::Result<Settings> {
        Ok(Settings::open(integration, schema, &self.key()?)?)
    }

    /// The global options.
    pub fn global(&self) -> &Global {
        &self.global
    }

    /// Ceilings on what one sync may emit.
    pub fn emit_limits(&self) -> connector_host::runner::EmitLimits {
        connector_host::runner::EmitLimits {
            max_records: self.global.max_records_per_run,
            max_bytes: self.global.max_mib_per_run << 20,
        }
    }
}

/// `$XDG_CACHE_HOME/connector-host`, `~/.cache/connector-host`, or a temp folder.
fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("connector-host")
}

/// The OS user, for history rows: `$USER`/`$LOGNAME`, else the passwd name of our uid.
pub fn os_user() -> String {
    if let Some(name) = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|n| !n.is_empty()))
    {
        return name;
    }
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata("/proc/self") {
        let uid = std::os::unix::fs::MetadataExt::uid(&meta).to_string();
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let name = passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() > 2 && f[2] == uid)
            .map(|f| f[0].to_string());
        return name.unwrap_or(format!("uid {uid}"));
    }
    "unknown".into()
}
