//! The plugins folder: every `*.wasm` in it is loaded, and plugins are found by the name
//! and version they describe themselves with. Versions of one plugin sit side by side; two
//! different files that give the same name and version are both refused: which one
//! received that connector's secrets must never depend on file order.

use crate::plugin::{LoadedPlugin, PluginHost, RunError};
use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    #[error("no plugin named `{name}` in {folder} or installed{hint}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The folder searched.
        folder: String,
        /// What is there, or what failed to load.
        hint: String,
    },
    /// The plugin has no such version.
    #[error("{name} {version} is neither installed nor in {folder}{hint}")]
    NoVersion {
        /// The plugin.
        name: String,
        /// The version asked for.
        version: String,
        /// The folder searched.
        folder: String,
        /// What to do about it.
        hint: String,
    },
    /// Several different files describe themselves with the name and version asked for.
    #[error("{} different files call themselves `{name}` {version} ({}); remove all but one from {folder}", files.len(), list(files))]
    Ambiguous {
        /// The name asked for.
        name: String,
        /// Their version.
        version: String,
        /// The files that claim it.
        files: Vec<PathBuf>,
        /// The folder searched.
        folder: String,
    },
    /// A build differs from the one installed (or pinned) under the same version.
    #[error(
        "{name} {version} from {from} is a different build (sha256 {}) from the one installed under that version (sha256 {}); a changed build must carry a new version",
        short(found),
        short(expected)
    )]
    ChangedBuild {
        /// The plugin.
        name: String,
        /// Its version.
        version: String,
        /// Where the other build came from.
        from: String,
        /// Its digest.
        found: String,
        /// The digest installed or pinned.
        expected: String,
    },
    /// The version is not one the host can order.
    #[error(
        "{name} from {from} calls its version `{version}`, which is not a semantic version (MAJOR.MINOR.PATCH): versions are ordered to find the newest"
    )]
    NotSemver {
        /// The plugin.
        name: String,
        /// What it says.
        version: String,
        /// Where it came from.
        from: String,
    },
    /// A plugin failed to load.
    #[error(transparent)]
    Load(#[from] RunError),
}

fn list(files: &[PathBuf]) -> String {
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    names.join(", ")
}

/// The first 12 hex digits of a digest: enough to tell builds apart in a message.
pub fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// Orders two plugin versions, oldest first (semantic versions; text for the rest).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => a.cmp(b),
    }
}

/// Refuses a plugin whose version is not a semantic version.
pub fn check_version(plugin: &LoadedPlugin) -> Result<(), CatalogError> {
    match semver::Version::parse(&plugin.info.version) {
        Ok(_) => Ok(()),
        Err(_) => Err(CatalogError::NotSemver {
            name: plugin.info.name.clone(),
            version: plugin.info.version.clone(),
            from: plugin.origin.to_string(),
        }),
    }
}

/// The loaded plugins of the folder, and the files that failed to load.
pub struct Catalog {
    folder: PathBuf,
    /// Plugins that loaded, by name, then version oldest first.
    pub plugins: Vec<Arc<LoadedPlugin>>,
    /// Files that did not load, with the reason.
    pub failed: Vec<(PathBuf, String)>,
    /// Names and versions that several different files claim, with those files: none of
    /// them is used.
    pub ambiguous: Vec<(String, String, Vec<PathBuf>)>,
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
            let plugin = host.load(&file).await.map_err(CatalogError::from);
            match plugin.and_then(|p| check_version(&p).map(|()| p)) {
                Ok(plugin) => loaded.push(plugin),
                Err(e) => {
                    tracing::warn!("skipping plugin {}: {e}", file.display());
                    catalog.failed.push((file, e.to_string()));
                }
            }
        }
        loaded.sort_by(|a, b| {
            (a.info.name.cmp(&b.info.name))
                .then_with(|| compare_versions(&a.info.version, &b.info.version))
        });
        let loaded: Vec<Arc<LoadedPlugin>> = loaded.into_iter().map(Arc::new).collect();
        for group in
            loaded.chunk_by(|a, b| a.info.name == b.info.name && a.info.version == b.info.version)
        {
            let first = &group[0];
            if group.iter().all(|p| p.digest == first.digest) {
                // The same build under several file names: one plugin.
                catalog.plugins.push(first.clone());
                continue;
            }
            let (name, version) = (first.info.name.clone(), first.info.version.clone());
            let files: Vec<PathBuf> = group.iter().filter_map(|p| file_of(p)).collect();
            for plugin in group {
                let others: Vec<PathBuf> = files
                    .iter()
                    .filter(|f| Some(*f) != file_of(plugin).as_ref())
                    .cloned()
                    .collect();
                let reason = format!(
                    "{} also calls itself `{name}` {version} but is a different build; neither is used until one is removed",
                    list(&others)
                );
                tracing::warn!("skipping plugin {}: {reason}", plugin.origin);
                if let Some(file) = file_of(plugin) {
                    catalog.failed.push((file, reason));
                }
            }
            catalog.ambiguous.push((name, version, files));
        }
        Ok(catalog)
    }

    /// The folder.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Every loadable version of `name` in the folder, oldest first.
    pub fn versions<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Arc<LoadedPlugin>> {
        self.plugins.iter().filter(move |p| p.info.name == name)
    }

    /// `name` at `version`, if the folder has it; refused if several files claim it.
    pub fn find(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<&Arc<LoadedPlugin>>, CatalogError> {
        if let Some((_, _, files)) = self
            .ambiguous
            .iter()
            .find(|(n, v, _)| n == name && v == version)
        {
            return Err(CatalogError::Ambiguous {
                name: name.into(),
                version: version.into(),
                files: files.clone(),
                folder: self.folder.display().to_string(),
            });
        }
        Ok(self
            .plugins
            .iter()
            .find(|p| p.info.name == name && p.info.version == version))
    }

    /// Whether several files claim some version of `name`.
    pub fn ambiguous_versions(&self, name: &str) -> Vec<&str> {
        self.ambiguous
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, v, _)| v.as_str())
            .collect()
    }

    /// Why there is no plugin called `name`: what the folder has, and what did not load.
    pub fn unknown(&self, name: &str, installed: &[String]) -> CatalogError {
        let mut names: Vec<&str> = self.plugins.iter().map(|p| p.info.name.as_str()).collect();
        names.extend(installed.iter().map(String::as_str));
        names.sort_unstable();
        names.dedup();
        let mut hint = if names.is_empty() {
            "; there are no loadable plugins".to_string()
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
    }
}

fn file_of(plugin: &LoadedPlugin) -> Option<PathBuf> {
    match &plugin.origin {
        crate::plugin::Origin::File(path) => Some(path.clone()),
        crate::plugin::Origin::Installed | crate::plugin::Origin::Uploaded => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_ordered_as_semantic_versions_not_as_text() {
        assert_eq!(compare_versions("0.10.0", "0.9.0"), Ordering::Greater);
        assert_eq!(compare_versions("1.0.0-rc.1", "1.0.0"), Ordering::Less);
        assert_eq!(compare_versions("0.2.0", "0.2.0"), Ordering::Equal);
        let newest = ["0.9.0", "0.10.0", "0.2.0"]
            .into_iter()
            .max_by(|a, b| compare_versions(a, b));
        assert_eq!(newest, Some("0.10.0"));
    }

    #[test]
    fn a_digest_is_shortened_for_messages_and_a_short_one_kept_whole() {
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
        assert_eq!(short("abc"), "abc");
    }
}
