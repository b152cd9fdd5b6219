//! What commands share: the platform (store, key, plugins) opened from the global options.

use super::Global;
use anyhow::Context as _;
use connector_host::plugin::Limits;
use connector_host::plugin::resolve::Resolver;
use connector_host::runner::EmitLimits;
use connector_host::service::{Platform, PluginSource};
use connector_host::store::{StoreTarget, open_store};
use std::path::PathBuf;
use std::time::Duration;

/// The resources of one command, from its global options.
pub struct Context {
    global: Global,
}

impl Context {
    pub fn new(global: Global) -> Self {
        Context { global }
    }

    /// The database `--db` names.
    pub fn target(&self) -> anyhow::Result<StoreTarget> {
        Ok(StoreTarget::parse(&self.global.db)?)
    }

    /// The platform: the store opened (schema brought up to date), the key and plugins
    /// ready to open when an operation needs them.
    pub async fn platform(&self) -> anyhow::Result<Platform> {
        let target = self.target()?;
        let store = open_store(&target).await?;
        let key_file = self
            .global
            .key_file
            .clone()
            .unwrap_or_else(|| target.default_key_file());
        Ok(
            Platform::new(store, key_file, self.plugin_source(), self.emit_limits())
                .with_lease_ttl(Duration::from_secs(self.global.lease_ttl_s)),
        )
    }

    fn plugin_source(&self) -> PluginSource {
        PluginSource {
            folder: self.global.plugins.clone(),
            cache_dir: self
                .global
                .cache_dir
                .clone()
                .unwrap_or_else(default_cache_dir),
            limits: Limits {
                memory_bytes: (self.global.memory_limit_mib as usize) << 20,
                deadline: Duration::from_secs(self.global.run_timeout_s),
                max_requests_in_flight: self.global.max_requests_in_flight as usize,
                requests_per_second_per_run: self.global.max_requests_per_second_per_integration,
                requests_per_second_per_host: self.global.max_requests_per_second_per_host,
            },
            resolver: Resolver::with_fixed(self.global.resolve.iter().cloned()),
        }
    }

    /// Ceilings on what one sync may emit.
    fn emit_limits(&self) -> EmitLimits {
        EmitLimits {
            max_records: self.global.max_records_per_run,
            max_bytes: self.global.max_mib_per_run << 20,
            max_bytes_in_flight: self.global.max_mib_in_flight << 20,
            max_bytes_in_flight_per_process: self.global.max_mib_in_flight_per_process << 20,
        }
    }
}

/// Reads a file a command was given.
pub fn read_file(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
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
