//! Content hashes: how the host tells that a record changed without reading it back.

use sha2::{Digest, Sha256};

/// SHA-256 over the parts, each prefixed by its length so that no two part lists that
/// differ collide by concatenation.
pub fn content_hash(parts: &[&str]) -> Vec<u8> {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().to_vec()
}

/// An optional text as a hash part: missing is empty.
pub fn or_empty(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or_default()
}

/// Plain data as JSON text, as stored and hashed.
pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_boundaries_matter() {
        assert_ne!(content_hash(&["ab", "c"]), content_hash(&["a", "bc"]));
        assert_eq!(content_hash(&["ab", "c"]), content_hash(&["ab", "c"]));
    }
}
