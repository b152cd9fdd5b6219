//! Compiles each component once and keeps the artifact on disk, keyed by the hash of the
//! component's bytes and of the engine's compatibility settings, so later runs only
//! deserialize. An artifact is native code, so each entry carries an HMAC, bound to the
//! entry's name, under a key in a file beside the folder (`<folder>.key`, the user's
//! alone): a file planted or swapped in the folder is recompiled, never run.

use crate::private_file::Exposure;
use ring::hmac;
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
    /// The key that authenticates entries cannot be had.
    #[error("compile cache key: {0}")]
    Key(#[from] crate::secrets::SecretError),
    /// Compilation failed.
    #[error("compiling the component failed: {0:#}")]
    Compile(wasmtime::Error),
}

/// An on-disk cache of compiled components.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    key: hmac::Key,
}

/// The key file of the cache folder `dir`: beside it, named after it (`cache.key`).
fn key_file_of(dir: &Path) -> PathBuf {
    match dir.file_name() {
        Some(name) => {
            let mut name = name.to_owned();
            name.push(".key");
            dir.with_file_name(name)
        }
        None => dir.join(".key"),
    }
}

/// Bytes of the tag at the start of each entry.
const TAG_BYTES: usize = 32;

impl CompileCache {
    /// A cache in `dir`, created (mode 0700) if missing, with its key file beside it
    /// (created 0600 if missing); refused unless both belong to the user running the host
    /// and nobody else may write the folder or read the key.
    pub fn open(dir: &Path) -> Result<Self, CacheError> {
        use std::os::unix::fs::DirBuilderExt;
        let folder_error = |source| CacheError::Folder {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(folder_error)?;
        let folder = std::fs::metadata(dir).map_err(folder_error)?;
        if let Err(exposure) = Exposure::of(&folder, 0o022) {
            return Err(CacheError::Unsafe {
                path: dir.to_path_buf(),
                reason: exposure.describe("is writable by others"),
            });
        }
        let key = crate::secrets::load_key_file(&key_file_of(dir))?;
        Ok(CompileCache {
            dir: dir.to_path_buf(),
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
        })
    }

    /// The key that tags the entry `name` (the component's hash): an entry's tag is
    /// only valid under its own name.
    fn entry_key(&self, name: &str) -> hmac::Key {
        hmac::Key::new(
            hmac::HMAC_SHA256,
            hmac::sign(&self.key, name.as_bytes()).as_ref(),
        )
    }

    /// The entry `name` (its tag, then its compiled bytes), when it exists and its tag
    /// is ours.
    fn read(&self, name: &str, path: &Path) -> Option<Vec<u8>> {
        let entry = std::fs::read(path).ok()?;
        let authentic = entry.len() > TAG_BYTES
            && hmac::verify(
                &self.entry_key(name),
                &entry[TAG_BYTES..],
                &entry[..TAG_BYTES],
            )
            .is_ok();
        if !authentic {
            tracing::warn!(path = %path.display(), "recompiling a cache entry this host did not write");
            return None;
        }
        Some(entry)
    }

    /// The compiled component for `bytes`, from the cache or freshly compiled and stored.
    pub fn component(&self, engine: &Engine, bytes: &[u8]) -> Result<Component, CacheError> {
        let mut hash = Sha256::new();
        hash.update(bytes);
        std::hash::Hash::hash(
            &engine.precompile_compatibility_hash(),
            &mut HashWriter(&mut hash),
        );
        let name = hex::encode(hash.finalize());
        let path = self.dir.join(format!("{name}.cwasm"));
        if let Some(entry) = self.read(&name, &path) {
            let compiled = &entry[TAG_BYTES..];
            // SAFETY: the tag proves `store` below wrote these bytes under this name, from
            // `Engine::precompile_component` of an engine with the same compatibility hash
            // (part of the name). A file that fails to load is recompiled.
            match unsafe { Component::deserialize(engine, compiled) } {
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
        self.store(&name, &path, &compiled);
        // SAFETY: `compiled` was just produced by this engine.
        unsafe { Component::deserialize(engine, &compiled) }.map_err(CacheError::Compile)
    }

    /// Writes an entry, its tag first, through a temporary file created exclusively
    /// under a random name (nothing planted at a name is followed) and renamed into
    /// place; a failure only costs a recompile next time.
    fn store(&self, name: &str, path: &Path, compiled: &[u8]) {
        use std::io::Write;
        let result = tempfile::Builder::new()
            .prefix(".entry-")
            .tempfile_in(&self.dir)
            .and_then(|mut file| {
                file.write_all(hmac::sign(&self.entry_key(name), compiled).as_ref())?;
                file.write_all(compiled)?;
                file.persist(path).map_err(|e| e.error)?;
                Ok(())
            });
        if let Err(e) = result {
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
