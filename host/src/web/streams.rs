//! Server-sent event streams are held open for as long as a sync runs, each holding a
//! connection: a user may keep a few, and the host a bounded number in all, so streams
//! cannot take every connection the web front may hold.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Most event streams one user may have open at once (a few console tabs).
pub const PER_USER: usize = 8;
/// Most event streams open at once in all.
pub const TOTAL: usize = 256;

/// The open event streams, by user.
#[derive(Debug, Default)]
pub struct StreamSlots {
    open: Mutex<HashMap<String, usize>>,
}

/// Why no stream may open now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TooManyStreams {
    /// The host holds as many as it keeps.
    #[error(
        "{TOTAL} event streams are open, the most this host keeps; poll the sync's status instead"
    )]
    Total,
    /// This user holds as many as one user may.
    #[error("user `{0}` has {PER_USER} event streams open, the most one user may; close one")]
    User(String),
}

/// One open stream; dropping it (the stream ended or its client left) frees the slot.
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    user: String,
}

impl StreamSlots {
    /// A slot for one more stream of `user`, or why there is none.
    pub fn take(self: &Arc<Self>, user: &str) -> Result<StreamSlot, TooManyStreams> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let total: usize = open.values().sum();
        if total >= TOTAL {
            return Err(TooManyStreams::Total);
        }
        let mine = open.entry(user.to_string()).or_default();
        if *mine >= PER_USER {
            return Err(TooManyStreams::User(user.to_string()));
        }
        *mine += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            user: user.to_string(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self
            .slots
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_keeps_a_few_streams_and_the_host_a_bounded_number() {
        let slots = Arc::new(StreamSlots::default());
        let mine: Vec<_> = (0..PER_USER).map(|_| slots.take("ops").unwrap()).collect();
        assert_eq!(
            slots.take("ops").unwrap_err(),
            TooManyStreams::User("ops".into())
        );
        drop(mine);
        assert!(slots.take("ops").is_ok(), "freed when they end");
        let many: Vec<_> = (0..TOTAL)
            .map(|i| slots.take(&format!("user{}", i / PER_USER)).unwrap())
            .collect();
        assert_eq!(slots.take("someone").unwrap_err(), TooManyStreams::Total);
        drop(many);
        assert!(slots.open.lock().unwrap().is_empty());
    }
}
