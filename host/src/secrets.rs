//! Secret settings at rest: sealed with ChaCha20-Poly1305 under a 32-byte key that comes
//! from `CONNECTOR_HOST_KEY` (base64) or from a key file the host creates with mode 0600.
//! A wrong key is an error, never a silent reset.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::path::{Path, PathBuf};

/// Environment variable that holds the key, base64-encoded.
pub const KEY_ENV: &str = "CONNECTOR_HOST_KEY";
/// Sealed before values were bound to their integration: opened only to re-seal them.
const LEGACY_PREFIX: &str = "v1:";
/// Sealed with the integration as associated data (see [`SecretKey::seal`]).
const SEALED_PREFIX: &str = "v2:";
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
    /// Sealed in the old unbound form and not yet re-sealed (a store opened by this
    /// version re-seals them; one the key does not open stays so).
    #[error(
        "the stored secrets were sealed by an older version and could not be re-sealed: the encryption key differs from the one they were saved with (check {KEY_ENV} or the key file)"
    )]
    NotResealed,
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

    /// Seals `plaintext` with a fresh random nonce, bound to `owner` as associated data:
    /// it opens only for the same owner, so a sealed value copied into another
    /// integration's row does not open there.
    pub fn seal(&self, plaintext: &[u8], owner: &SealedFor) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).expect("the OS random source works");
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: owner.0.as_bytes(),
                },
            )
            .expect("encryption of in-memory data cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{SEALED_PREFIX}{}", B64.encode(out))
    }

    /// Opens what [`seal`](Self::seal) produced for the same `owner`.
    pub fn open(&self, sealed: &str, owner: &SealedFor) -> Result<Vec<u8>, SecretError> {
        if sealed.starts_with(LEGACY_PREFIX) {
            return Err(SecretError::NotResealed);
        }
        self.open_with(sealed, SEALED_PREFIX, owner.0.as_bytes())
    }

    /// Re-seals a value sealed before values were bound to their owner, bound to `owner`
    /// now; `None` when it is not such a value. Opening a store migrates it this way.
    pub fn reseal_legacy(
        &self,
        sealed: &str,
        owner: &SealedFor,
    ) -> Option<Result<String, SecretError>> {
        sealed.starts_with(LEGACY_PREFIX).then(|| {
            self.open_with(sealed, LEGACY_PREFIX, b"")
                .map(|plain| self.seal(&plain, owner))
        })
    }

    fn open_with(&self, sealed: &str, prefix: &str, aad: &[u8]) -> Result<Vec<u8>, SecretError> {
        let wrong = || SecretError::WrongKey(self.origin.clone());
        let bytes = sealed
            .strip_prefix(prefix)
            .and_then(|b| B64.decode(b).ok())
            .ok_or_else(wrong)?;
        // Shorter than a nonce and a tag, it was never sealed (and could not be split).
        if bytes.len() < NONCE_BYTES + TAG_BYTES {
            return Err(wrong());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| wrong())
    }
}

/// Whose secrets a sealed value holds: the associated data it is sealed with. The
/// setting names are inside the sealed map, so they are authenticated too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedFor(String);

impl SealedFor {
    /// The secrets of integration `name`, of connector `connector`.
    pub fn integration(name: &str, connector: &str) -> Self {
        SealedFor(format!(
            "connector-host secrets\0integration={name}\0connector={connector}"
        ))
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
        let owner = SealedFor::integration("prod", "wiz");
        let sealed = a.seal(b"top secret", &owner);
        assert!(!sealed.contains("top secret"));
        assert_eq!(a.open(&sealed, &owner).unwrap(), b"top secret");
        assert!(matches!(
            b.open(&sealed, &owner),
            Err(SecretError::WrongKey(_))
        ));
        assert!(matches!(
            a.open("garbage", &owner),
            Err(SecretError::WrongKey(_))
        ));
        // The same file gives the same key again.
        let again = SecretKey::load(&dir.path().join("a.key")).unwrap();
        assert_eq!(again.open(&sealed, &owner).unwrap(), b"top secret");
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
        let owner = SealedFor::integration("prod", "wiz");
        // Nothing, part of a nonce, a nonce alone, a nonce and part of a tag.
        for len in 0..NONCE_BYTES + TAG_BYTES {
            let forged = format!("{SEALED_PREFIX}{}", B64.encode(vec![7u8; len]));
            assert!(
                matches!(key.open(&forged, &owner), Err(SecretError::WrongKey(_))),
                "{len} bytes"
            );
        }
        // The shortest sealed value, a nonce and the tag of nothing, opens.
        let empty = key.seal(b"", &owner);
        assert_eq!(
            B64.decode(empty.strip_prefix(SEALED_PREFIX).unwrap())
                .unwrap()
                .len(),
            NONCE_BYTES + TAG_BYTES
        );
        assert_eq!(key.open(&empty, &owner).unwrap(), b"");
    }

    #[test]
    fn a_sealed_value_opens_only_for_the_integration_it_was_sealed_for() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::load(&dir.path().join("k.key")).unwrap();
        let prod = SealedFor::integration("prod", "wiz");
        let sealed = key.seal(b"{\"client-secret\":\"s\"}", &prod);
        for other in [
            SealedFor::integration("staging", "wiz"),
            SealedFor::integration("prod", "github"),
            SealedFor::integration("prod\0x", "wiz"),
        ] {
            assert!(
                matches!(key.open(&sealed, &other), Err(SecretError::WrongKey(_))),
                "{other:?}"
            );
        }
        assert!(key.open(&sealed, &prod).is_ok());
    }

    #[test]
    fn a_value_sealed_unbound_is_refused_until_resealed_for_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::load(&dir.path().join("k.key")).unwrap();
        let prod = SealedFor::integration("prod", "wiz");
        // What the version before bindings wrote: no associated data, the v1 prefix.
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).unwrap();
        let mut bytes = nonce.to_vec();
        bytes.extend(
            key.cipher
                .encrypt(Nonce::from_slice(&nonce), b"old".as_slice())
                .unwrap(),
        );
        let legacy = format!("{LEGACY_PREFIX}{}", B64.encode(bytes));
        assert!(matches!(
            key.open(&legacy, &prod),
            Err(SecretError::NotResealed)
        ));
        let resealed = key.reseal_legacy(&legacy, &prod).unwrap().unwrap();
        assert_eq!(key.open(&resealed, &prod).unwrap(), b"old");
        assert!(key.reseal_legacy(&resealed, &prod).is_none(), "once only");
        let other = SecretKey::load(&dir.path().join("other.key")).unwrap();
        assert!(matches!(
            other.reseal_legacy(&legacy, &prod),
            Some(Err(SecretError::WrongKey(_)))
        ));
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
