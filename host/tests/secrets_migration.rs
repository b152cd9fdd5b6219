//! Secrets sealed by a version before they were bound to their integration are re-sealed,
//! bound, the first time the key is loaded, and a sealed value copied into another
//! integration's row does not open there. Real SQLite store, real key file.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use connector_host::model::NewIntegration;
use connector_host::plugin::Limits;
use connector_host::runner::EmitLimits;
use connector_host::secrets::{SealedFor, load_key_file};
use connector_host::service::{Platform, PluginSource};
use connector_host::store::{Store, StoreTarget, open_store};
use std::sync::Arc;

/// What the version before bindings wrote: `v1:` and nonce, ciphertext and tag, no
/// associated data.
fn sealed_unbound(key: &[u8; 32], plaintext: &[u8]) -> String {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let nonce = [9u8; 12];
    let mut bytes = nonce.to_vec();
    bytes.extend(
        cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .unwrap(),
    );
    format!("v1:{}", B64.encode(bytes))
}

/// A platform over `store` with its key file and (empty) plugin folders in `dir`.
fn platform_over(store: &Arc<dyn Store>, dir: &std::path::Path) -> Platform {
    Platform::new(
        store.clone(),
        dir.join("store.key"),
        PluginSource {
            folder: dir.join("plugins"),
            cache_dir: dir.join("cache"),
            limits: Limits::default(),
            resolver: Default::default(),
        },
        EmitLimits::default(),
    )
}

#[tokio::test]
async fn an_older_stores_secrets_are_resealed_bound_to_their_integration() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("store.key");
    let raw_key = load_key_file(&key_file).unwrap();
    let store = open_store(&StoreTarget::Sqlite(dir.path().join("store.db")))
        .await
        .unwrap();
    let secrets = br#"{"client-secret":"old-and-sealed"}"#;
    for name in ["prod", "staging"] {
        store
            .add_integration(&NewIntegration {
                name: name.into(),
                connector: "wiz".into(),
                settings: vec![],
                sealed_secrets: sealed_unbound(&raw_key, secrets),
                policy: Default::default(),
                plugin: connector_host::model::PluginPin {
                    version: "0.2.0".into(),
                    digest: "not-run-here".into(),
                },
                streams: None,
            })
            .await
            .unwrap();
    }
    let platform = platform_over(&store, dir.path());
    let key = platform.key().await.unwrap();
    let prod = store.integration("prod").await.unwrap();
    let staging = store.integration("staging").await.unwrap();
    assert!(prod.sealed_secrets.starts_with("v2:"), "re-sealed");
    let prod_owner = SealedFor::integration("prod", "wiz");
    assert_eq!(
        key.open(&prod.sealed_secrets, &prod_owner).unwrap(),
        secrets
    );
    // Copied into another integration's row, it does not open there.
    let staging_owner = SealedFor::integration("staging", "wiz");
    assert!(key.open(&prod.sealed_secrets, &staging_owner).is_err());
    assert!(key.open(&staging.sealed_secrets, &staging_owner).is_ok());
    // Loading the key again (another process) changes nothing more.
    let again = platform_over(&store, dir.path());
    again.key().await.unwrap();
    assert_eq!(
        store.integration("prod").await.unwrap().sealed_secrets,
        prod.sealed_secrets
    );
}
