//! Secret settings at rest: sealed with ChaCha20-Poly1305 under a 32-byte key that comes
//! from `CONNECTOR_HOST_KEY` (base64) or from a key file the host creates with mode 0600.
//! A wrong key is an error, never a silent reset.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::path::{Path, PathBuf};

/// Environment variable that holds the key, base64-encoded.
pub const KEY_ENV: &str = "CONNECTOR_HOST_KEY";
const SEALED_PREFIX: &str = "v1:";
/// Bytes of the random nonce at the front of a sealed value.
const NONCE_BYTES: usize = 12;
/// Bytes of the authentication tag that ends every ciphertext, even an empty one's.
const TAG_BYTES: usize = 16;

/// Errors about keys and sealed secrets.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key in the environment is malformed.
    #[error(
        "{KEY_ENV} must be 32 bytes, base64-encoded (for example from `openssl rand -base64 32`)"
    )]
    BadEnvKey,
    /// The key file is malformed or unreadable.
    #[error("key file {path}: {message}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Sealed secrets do not open with this key.
    #[error(
        "cannot decrypt the stored secrets: the encryption key differs from the one they were saved with (check {KEY_ENV} or the key file {0})"
    )]
    WrongKey(String),
}

/// The key that seals secrets, and where it came from.
pub struct SecretKey {
    cipher: ChaCha20Poly1305,
    origin: String,
}

impl SecretKey {
    /// The key from the environment when set, else from `key_file`, created if missing.
    pub fn load(key_file: &Path) -> Result<Self, SecretError> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            let bytes = B64
                .decode(text.trim())
                .map_err(|_| SecretError::BadEnvKey)?;
            return Self::from_bytes(&bytes, KEY_ENV.to_string()).ok_or(SecretError::BadEnvKey);
        }
        let bytes = load_key_file(key_file)?;
        Self::from_bytes(&bytes, key_file.display().to_string()).ok_or(SecretError::KeyFile {
            path: key_file.to_path_buf(),
            message: "the key must be 32 bytes".into(),
        })
    }

    fn from_bytes(bytes: &[u8], origin: String) -> Option<Self> {
        (bytes.len() == 32).then(|| SecretKey {
            cipher: ChaCha20Poly1305::new(Key::from_slice(bytes)),
            origin,
        })
    }

    /// Seals `plaintext` with a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).expect("the OS random source works");
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .expect("encryption of in-memory data cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{SEALED_PREFIX}{}", B64.encode(out))
    }

    /// Opens what [`seal`](Self::seal) produced.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SecretError> {
        let wrong = || SecretError::WrongKey(self.origin.clone());
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b| B64.decode(b).ok())
            .ok_or_else(wrong)?;
        // Shorter than a nonce and a tag, it was never sealed (and could not be split).
        if bytes.len() < NONCE_BYTES + TAG_BYTES {
            return Err(wrong());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| wrong())
    }
}

/// The 32-byte key in the file at `path` (base64), which is created with a new random
/// key when missing. Two hosts creating it at once both end with the one that won; a file
/// that is not the user's alone is refused (see [`crate::private_file::read`]).
pub fn load_key_file(path: &Path) -> Result<[u8; 32], SecretError> {
    let file_error = |message: String| SecretError::KeyFile {
        path: path.to_path_buf(),
        message,
    };
    if !path.exists() {
        match create_key_file(path) {
            // Another host created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(file_error(format!("cannot create it: {e}"))),
            Ok(()) => {}
        }
    }
    let text = crate::private_file::read(path).map_err(|e| file_error(e.to_string()))?;
    let bytes = B64
        .decode(text.trim())
        .map_err(|_| file_error("not base64".into()))?;
    bytes
        .try_into()
        .map_err(|_| file_error("the key must be 32 bytes".into()))
}

fn create_key_file(path: &Path) -> std::io::Result<()> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
    crate::private_file::create(path, B64.encode(key).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_opens_and_refuses_another_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = SecretKey::load(&dir.path().join("a.key")).unwrap();
        let b = SecretKey::load(&dir.path().join("b.key")).unwrap();
        let sealed = a.seal(b"top secret");
        assert!(!sealed.contains("top secret"));
        assert_eq!(a.open(&sealed).unwrap(), b"top secret");
        assert!(matches!(b.open(&sealed), Err(SecretError::WrongKey(_))));
        assert!(matches!(a.open("garbage"), Err(SecretError::WrongKey(_))));
        // The same file gives the same key again.
        let again = SecretKey::load(&dir.path().join("a.key")).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), b"top secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("a.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_value_too_short_to_be_sealed_is_the_wrong_key_never_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::load(&dir.path().join("k.key")).unwrap();
        // Nothing, part of a nonce, a nonce alone, a nonce and part of a tag.
        for len in 0..NONCE_BYTES + TAG_BYTES {
            let forged = format!("{SEALED_PREFIX}{}", B64.encode(vec![7u8; len]));
            assert!(
                matches!(key.open(&forged), Err(SecretError::WrongKey(_))),
                "{len} bytes"
            );
        }
        // The shortest sealed value, a nonce and the tag of nothing, opens.
        let empty = key.seal(b"");
        assert_eq!(
            B64.decode(empty.strip_prefix(SEALED_PREFIX).unwrap())
                .unwrap()
                .len(),
            NONCE_BYTES + TAG_BYTES
        );
        assert_eq!(key.open(&empty).unwrap(), b"");
    }

    #[test]
    fn hosts_creating_the_key_file_at_once_all_use_the_one_that_won() {
        // Each round races fresh threads through the existence check to the exclusive
        // create; the losers must read the winner's key, not fail or keep their own.
        let dir = tempfile::tempdir().unwrap();
        for round in 0..20 {
            let path = dir.path().join(format!("race-{round}.key"));
            let start = std::sync::Barrier::new(4);
            let keys: Vec<_> = std::thread::scope(|s| {
                let racers: Vec<_> = (0..4)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            load_key_file(&path)
                        })
                    })
                    .collect();
                racers.into_iter().map(|r| r.join().unwrap()).collect()
            });
            let on_disk = load_key_file(&path).unwrap();
            for key in keys {
                assert_eq!(key.unwrap(), on_disk, "round {round}");
            }
        }
    }

    #[test]
    fn a_key_file_that_cannot_be_created_is_an_error_that_says_so() {
        let dir = tempfile::tempdir().unwrap();
        // Its folder is a file: no key can be created there, whoever runs the test.
        let not_a_folder = dir.path().join("plain-file");
        std::fs::write(&not_a_folder, "x").unwrap();
        let path = not_a_folder.join("connector-host.key");
        match load_key_file(&path) {
            Err(SecretError::KeyFile { path: p, message }) => {
                assert_eq!(p, path);
                assert!(message.starts_with("cannot create it: "), "{message}");
            }
            other => panic!("expected a key file error, got {other:?}"),
        }
    }
}
