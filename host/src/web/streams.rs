//! Server-sent event streams are held open for as long as a sync runs, each holding a
//! connection: a console session (or a user's token) may keep a few, and the host a
//! bounded number in all, so streams cannot take every connection the web front may hold.

use super::auth::{Caller, Credential};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Most event streams one session, or one user's token, may have open at once (a few
/// console tabs).
pub const PER_USER: usize = 8;
/// Most event streams open at once in all.
pub const TOTAL: usize = 256;

/// Whose streams count together: a session, or a user's token.
type Owner = (String, Credential);

/// The open event streams, by owner.
#[derive(Debug, Default)]
pub struct StreamSlots {
    open: Mutex<HashMap<Owner, usize>>,
}

/// Why no stream may open now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TooManyStreams {
    /// The host holds as many as it keeps.
    #[error(
        "{TOTAL} event streams are open, the most this host keeps; poll the sync's status instead"
    )]
    Total,
    /// This session (or token) holds as many as one may.
    #[error("{0} has {PER_USER} event streams open, the most one session or token may; close one")]
    Owner(String),
}

/// One open stream; dropping it (the stream ended or its client left) frees the slot.
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    owner: Owner,
}

impl StreamSlots {
    /// A slot for one more stream of `caller`, or why there is none.
    pub fn take(self: &Arc<Self>, caller: &Caller) -> Result<StreamSlot, TooManyStreams> {
        let owner = (caller.user.name.clone(), caller.credential.clone());
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let total: usize = open.values().sum();
        if total >= TOTAL {
            return Err(TooManyStreams::Total);
        }
        let mine = open.entry(owner.clone()).or_default();
        if *mine >= PER_USER {
            let shown = match owner.1 {
                Credential::Session(_) => format!("this session of user `{}`", owner.0),
                Credential::Token => format!("user `{}`'s token", owner.0),
            };
            return Err(TooManyStreams::Owner(shown));
        }
        *mine += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            owner,
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
        if let Some(n) = open.get_mut(&self.owner) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.owner);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(user: &str, credential: Credential) -> Caller {
        Caller {
            user: crate::model::User {
                name: user.into(),
                role: crate::model::Role::Viewer,
                created_at: chrono::Utc::now(),
            },
            credential,
        }
    }

    #[test]
    fn a_session_keeps_a_few_streams_and_the_host_a_bounded_number() {
        let slots = Arc::new(StreamSlots::default());
        let tab = caller("ops", Credential::Session("s1".into()));
        let mine: Vec<_> = (0..PER_USER).map(|_| slots.take(&tab).unwrap()).collect();
        assert_eq!(
            slots.take(&tab).unwrap_err().to_string(),
            "this session of user `ops` has 8 event streams open, the most one session or token may; close one"
        );
        // The same user's other session, and its token, have their own.
        assert!(
            slots
                .take(&caller("ops", Credential::Session("s2".into())))
                .is_ok()
        );
        assert!(slots.take(&caller("ops", Credential::Token)).is_ok());
        drop(mine);
        assert!(slots.take(&tab).is_ok(), "freed when they end");
        let many: Vec<_> = (0..TOTAL)
            .map(|i| {
                let who = caller(&format!("user{}", i / PER_USER), Credential::Token);
                slots.take(&who).unwrap()
            })
            .collect();
        assert_eq!(
            slots
                .take(&caller("someone", Credential::Token))
                .unwrap_err(),
            TooManyStreams::Total
        );
        drop(many);
        assert!(slots.open.lock().unwrap().is_empty());
    }
}
