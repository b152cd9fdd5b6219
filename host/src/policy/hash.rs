//! Content hashes: how the host tells that a record changed without reading it back.

use sha2::{Digest, Sha256};

/// A SHA-256 fed part by part, each part prefixed by its length so that no two part lists
/// that differ collide by concatenation. Parts go in as they are, so hashing a record
/// allocates nothing.
#[derive(Default)]
pub struct ContentHasher(Sha256);

impl ContentHasher {
    /// Adds one text part.
    pub fn part(&mut self, part: &str) -> &mut Self {
        self.0.update((part.len() as u64).to_le_bytes());
        self.0.update(part.as_bytes());
        self
    }

    /// Adds a whole number as the part its decimal text would be.
    pub fn number(&mut self, n: i64) -> &mut Self {
        use std::io::Write;
        let mut text = [0u8; 20];
        let mut cursor = std::io::Cursor::new(&mut text[..]);
        write!(cursor, "{n}").expect("20 bytes hold every i64");
        let len = cursor.position() as usize;
        self.part(std::str::from_utf8(&text[..len]).expect("digits are UTF-8"))
    }

    /// The hash.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0).finalize().to_vec()
    }
}

/// The hash of a list of text parts.
pub fn content_hash(parts: &[&str]) -> Vec<u8> {
    let mut h = ContentHasher::default();
    parts.iter().for_each(|p| {
        h.part(p);
    });
    h.finish()
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

    #[test]
    fn a_number_hashes_as_its_text() {
        for n in [0, -1, 42, i64::MIN, i64::MAX] {
            assert_eq!(
                ContentHasher::default().number(n).finish(),
                content_hash(&[&n.to_string()])
            );
        }
    }
}
