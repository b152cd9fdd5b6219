//! Files only their owner may read (mode 0600, in a folder created 0700): the secrets key
//! and the admin token. Each is written whole to a temporary file of a random name first
//! and then put in place, so nobody ever reads half of one, and it is checked on every
//! read: a file others may read, or that is someone else's, is refused.

use std::io::Write;
use std::path::Path;

/// The folder of `path`, created 0700 when missing.
fn folder_of(path: &Path) -> std::io::Result<&Path> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.exists() {
        // The user's config folder for database URLs: readable by its owner alone.
        let mut folder = std::fs::DirBuilder::new();
        folder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
        folder.create(parent)?;
    }
    Ok(parent)
}

/// `contents` in a new 0600 file beside `path`, flushed to disk, not yet in place.
fn staged(path: &Path, contents: &[u8]) -> std::io::Result<tempfile::NamedTempFile> {
    // Created exclusively, under a random name, mode 0600.
    let mut file = tempfile::Builder::new()
        .prefix(".staged-")
        .tempfile_in(folder_of(path)?)?;
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    Ok(file)
}

/// Writes `contents` to a new file at `path`; fails with `AlreadyExists` if one is there,
/// so two hosts starting at once cannot each write their own: the loser reads the
/// winner's.
pub fn create(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    staged(path, contents)?
        .persist_noclobber(path)
        .map(drop)
        .map_err(|e| e.error)
}

/// Replaces the file at `path` with `contents` at once: a reader sees the old contents or
/// the new, never part of either.
pub fn replace(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    staged(path, contents)?
        .persist(path)
        .map(drop)
        .map_err(|e| e.error)
}

/// How a file or folder is not this user's alone.
#[cfg(unix)]
pub(crate) enum Exposure {
    /// Someone else owns it.
    Owner {
        /// Its owner.
        owner: u32,
        /// This user.
        me: u32,
    },
    /// A permission bit others must not have is set; its mode.
    Mode(u32),
}

#[cfg(unix)]
impl Exposure {
    /// Checks that `metadata` belongs to this user and has none of the `others` bits
    /// (0o022: writable by others; 0o077: any access by others).
    pub(crate) fn of(metadata: &std::fs::Metadata, others: u32) -> Result<(), Exposure> {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if metadata.uid() != me {
            return Err(Exposure::Owner {
                owner: metadata.uid(),
                me,
            });
        }
        match metadata.mode() & others {
            0 => Ok(()),
            _ => Err(Exposure::Mode(metadata.mode() & 0o7777)),
        }
    }

    /// What is wrong, given what the mode bits mean to the caller.
    pub(crate) fn describe(&self, mode_means: &str) -> String {
        match self {
            Exposure::Owner { owner, me } => {
                format!("belongs to uid {owner}, not to this user (uid {me})")
            }
            Exposure::Mode(mode) => format!("{mode_means} (mode {mode:o})"),
        }
    }
}

/// Reads the file at `path`, refused unless it belongs to this user and nobody else may
/// read or write it.
pub fn read(path: &Path) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    #[cfg(unix)]
    if let Err(exposure) = Exposure::of(&file.metadata()?, 0o077) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{}; it must be yours alone (chmod 600)",
                exposure.describe("others may read or write it")
            ),
        ));
    }
    std::io::read_to_string(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_read_back_and_refused_when_others_may_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/secret");
        create(&path, b"first").unwrap();
        let again = create(&path, b"second").unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(read(&path).unwrap(), "first");
        replace(&path, b"third").unwrap();
        assert_eq!(read(&path).unwrap(), "third");
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            1,
            "no staged file is left"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let refused = read(&path).unwrap_err();
            assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied);
            assert!(refused.to_string().contains("mode 644"), "{refused}");
        }
    }
}
