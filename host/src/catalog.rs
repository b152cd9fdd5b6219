//! The plugins folder: every `*.wasm` in it is loaded, and plugins are found by the name
//! they describe themselves with. Two files that give the same name are both refused:
//! which one received that connector's secrets must never depend on file order.

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
    /// Several files describe themselves with the name asked for.
    #[error("{} plugins call themselves `{name}` ({}); remove all but one from {folder}", files.len(), list(files))]
    Ambiguous {
        /// The name asked for.
        name: String,
        /// The files that claim it.
        files: Vec<PathBuf>,
        /// The folder searched.
        folder: String,
    },
    /// A plugin failed to load.
    #[error(transparent)]
    Load(#[from] RunError),
}

fn list(files: &[PathBuf]) -> String {
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    names.join(", ")
}

/// The loaded plugins, and the files that failed to load.
pub struct Catalog {
    folder: PathBuf,
    /// Plugins that loaded, sorted by name.
    pub plugins: Vec<LoadedPlugin>,
    /// Files that did not load, with the reason.
    pub failed: Vec<(PathBuf, String)>,
    /// Names that several files claim, with those files: none of them is used.
    pub ambiguous: Vec<(String, Vec<PathBuf>)>,
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
            ambiguous: vec![],
        };
        let mut loaded = Vec::new();
        for file in files {
            match host.load(&file).await {
                Ok(plugin) => loaded.push(plugin),
                Err(e) => {
                    tracing::warn!("skipping plugin: {e}");
                    catalog.failed.push((file, e.to_string()));
                }
            }
        }
        loaded.sort_by(|a, b| a.info.name.cmp(&b.info.name));
        for group in loaded.chunk_by(|a, b| a.info.name == b.info.name) {
            if let [_, _, ..] = group {
                let name = group[0].info.name.clone();
                let files: Vec<PathBuf> = group.iter().map(|p| p.path.clone()).collect();
                for plugin in group {
                    let others: Vec<PathBuf> = files
                        .iter()
                        .filter(|f| **f != plugin.path)
                        .cloned()
                        .collect();
                    let reason = format!(
                        "{} also calls itself `{name}`; neither is used until one is removed",
                        list(&others)
                    );
                    tracing::warn!("skipping plugin {}: {reason}", plugin.path.display());
                    catalog.failed.push((plugin.path.clone(), reason));
                }
                catalog.ambiguous.push((name, files));
            }
        }
        let ambiguous: Vec<&str> = catalog.ambiguous.iter().map(|(n, _)| n.as_str()).collect();
        catalog.plugins = loaded
            .into_iter()
            .filter(|p| !ambiguous.contains(&p.info.name.as_str()))
            .collect();
        Ok(catalog)
    }

    /// The plugin called `name`.
    pub fn get(&self, name: &str) -> Result<&LoadedPlugin, CatalogError> {
        if let Some((_, files)) = self.ambiguous.iter().find(|(n, _)| n == name) {
            return Err(CatalogError::Ambiguous {
                name: name.into(),
                files: files.clone(),
                folder: self.folder.display().to_string(),
            });
        }
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
