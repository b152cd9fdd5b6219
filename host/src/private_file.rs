//! Files only their owner may read (mode 0600, in a folder created 0700): the secrets key
//! and the admin token.

use std::io::Write;
use std::path::Path;

fn open(path: &Path, create_new: bool) -> std::io::Result<std::fs::File> {
    if let Some(parent) = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty() && !p.exists())
    {
        // The user's config folder for database URLs: readable by its owner alone.
        let mut folder = std::fs::DirBuilder::new();
        folder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
        folder.create(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    match create_new {
        true => options.create_new(true),
        false => options.create(true).truncate(true),
    };
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Writes `contents` to a new file at `path`; fails if one exists, so two hosts starting
/// at once cannot each write their own.
pub fn create(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = open(path, true)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Replaces the file at `path` with `contents` at once: a reader sees the old contents or
/// the new, never part of either.
pub fn replace(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".new");
    let staged = path.with_file_name(name);
    let mut file = open(&staged, false)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&staged, path)
}
