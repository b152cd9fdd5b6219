//! Compiles each component once and keeps the artifact on disk, keyed by the hash of the
//! component's bytes and of the engine's compatibility settings, so later runs only
//! deserialize.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Errors of the compile cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The cache folder cannot be created or written.
    #[error("cache folder {path} is not usable: {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The folder is not the user's alone: whoever else can write it could plant native
    /// code that the host would run.
    #[error("cache folder {} {reason}; compiled plugins are loaded from it as native code, so it must be yours and writable by you alone (chmod 700, or another --cache-dir)", path.display())]
    Unsafe {
        /// The folder.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Compilation failed.
    #[error("compiling the component failed: {0:#}")]
    Compile(wasmtime::Error),
}

/// An on-disk cache of compiled components.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// A cache in `dir`, created (mode 0700) if missing; refused unless it belongs to the
    /// user running the host and nobody else may write it.
    pub fn open(dir: &Path) -> Result<Self, CacheError> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        let folder_error = |source| CacheError::Folder {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(folder_error)?;
        let probe = dir.join(".write-test");
        std::fs::write(&probe, b"").map_err(folder_error)?;
        // A file just written is ours: its owner is the user the host runs as.
        let me = std::fs::metadata(&probe).map_err(folder_error)?.uid();
        let _ = std::fs::remove_file(probe);
        let folder = std::fs::metadata(dir).map_err(folder_error)?;
        let unsafe_because = |reason: String| CacheError::Unsafe {
            path: dir.to_path_buf(),
            reason,
        };
        if folder.uid() != me {
            return Err(unsafe_because(format!(
                "belongs to uid {}, not to this user (uid {me})",
                folder.uid()
            )));
        }
        if folder.mode() & 0o022 != 0 {
            return Err(unsafe_because(format!(
                "is writable by others (mode {:o})",
                folder.mode() & 0o7777
            )));
        }
        Ok(CompileCache {
            dir: dir.to_path_buf(),
        })
    }

    /// The compiled component for `bytes`, from the cache or freshly compiled and stored.
    pub fn component(&self, engine: &Engine, bytes: &[u8]) -> Result<Component, CacheError> {
        let mut hash = Sha256::new();
        hash.update(bytes);
        std::hash::Hash::hash(
            &engine.precompile_compatibility_hash(),
            &mut HashWriter(&mut hash),
        );
        let path = self
            .dir
            .join(format!("{}.cwasm", hex::encode(hash.finalize())));
        if path.exists() {
            // SAFETY: files in the cache folder are written only by `store` below, from
            // `Engine::precompile_component` of an engine with the same compatibility hash
            // (part of the file name). A file that fails to load is recompiled.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => {
                    tracing::debug!(path = %path.display(), "compiled component loaded from the cache");
                    return Ok(component);
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), "recompiling unreadable cache entry: {e:#}")
                }
            }
        }
        let started = std::time::Instant::now();
        let compiled = engine
            .precompile_component(bytes)
            .map_err(CacheError::Compile)?;
        tracing::debug!(
            path = %path.display(),
            "compiled a component of {} KiB in {} ms",
            bytes.len() / 1024,
            started.elapsed().as_millis()
        );
        self.store(&path, &compiled);
        // SAFETY: `compiled` was just produced by this engine.
        unsafe { Component::deserialize(engine, &compiled) }.map_err(CacheError::Compile)
    }

    /// Writes an entry atomically; a failure only costs a recompile next time.
    fn store(&self, path: &Path, compiled: &[u8]) {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let result = std::fs::write(&tmp, compiled).and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(path = %path.display(), "cannot store compiled component: {e}");
        }
    }
}

/// Feeds `std::hash::Hash` output into a SHA-256.
struct HashWriter<'a>(&'a mut Sha256);

impl std::hash::Hasher for HashWriter<'_> {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
