//! The plugins folder: every `*.wasm` in it is loaded, and plugins are found by the name
//! they describe themselves with.

use crate::plugin::{LoadedPlugin, PluginHost, RunError};
use std::path::{Path, PathBuf};

/// Errors finding plugins.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The folder cannot be read.
    #[error("cannot read plugins folder {path}: {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No plugin has that name.
    #[error("no plugin named `{name}` in {folder}{hint}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The folder searched.
        folder: String,
        /// What is there, or what failed to load.
        hint: String,
    },
    /// A plugin failed to load.
    #[error(transparent)]
    Load(#[from] RunError),
}

/// The loaded plugins, and the files that failed to load.
pub struct Catalog {
    folder: PathBuf,
    /// Plugins that loaded, sorted by name.
    pub plugins: Vec<LoadedPlugin>,
    /// Files that did not load, with the reason.
    pub failed: Vec<(PathBuf, RunError)>,
}

impl Catalog {
    /// Loads every `*.wasm` file in `folder`.
    pub async fn load(host: &PluginHost, folder: &Path) -> Result<Self, CatalogError> {
        let entries = std::fs::read_dir(folder).map_err(|source| CatalogError::Folder {
            path: folder.into(),
            source,
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm") && p.is_file())
            .collect();
        files.sort();
        let mut catalog = Catalog {
            folder: folder.into(),
            plugins: vec![],
            failed: vec![],
        };
        for file in files {
            match host.load(&file).await {
                Ok(plugin) => catalog.plugins.push(plugin),
                Err(e) => {
                    tracing::warn!("skipping plugin: {e}");
                    catalog.failed.push((file, e));
                }
            }
        }
        catalog
            .plugins
            .sort_by(|a, b| a.info.name.cmp(&b.info.name));
        Ok(catalog)
    }

    /// The plugin called `name`.
    pub fn get(&self, name: &str) -> Result<&LoadedPlugin, CatalogError> {
        self.plugins
            .iter()
            .find(|p| p.info.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.plugins.iter().map(|p| p.info.name.as_str()).collect();
                let mut hint = if names.is_empty() {
                    "; the folder has no loadable plugins".to_string()
                } else {
                    format!("; available: {}", names.join(", "))
                };
                for (file, error) in &self.failed {
                    hint.push_str(&format!("; {} did not load: {error}", file.display()));
                }
                CatalogError::Unknown {
                    name: name.into(),
                    folder: self.folder.display().to_string(),
                    hint,
                }
            })
    }
}
