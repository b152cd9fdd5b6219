//! Who may use the console and the HTTP API, and what they may do.

use super::record::{UnknownName, named_enum};
use chrono::{DateTime, Utc};
use serde::Serialize;

named_enum!(
    /// What a user may do.
    Role: "role" {
        /// Configures, tests, syncs, changes statuses, imports.
        Admin = "admin",
        /// Reads every view and changes nothing.
        Viewer = "viewer",
    }
);

/// A person or a program that holds a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Unique name, shown in history as who started a run.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// When the user was added.
    pub created_at: DateTime<Utc>,
}

/// A console login: a browser holds its id in a cookie, the store holds its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Whose it is.
    pub user: User,
    /// The token every state-changing form of this session must carry.
    pub csrf: String,
    /// When it stops being valid.
    pub expires_at: DateTime<Utc>,
}

/// A session to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// SHA-256 of the id the cookie carries (the id itself is never stored).
    pub id_hash: Vec<u8>,
    /// The user's name.
    pub user: String,
    /// Its CSRF token.
    pub csrf: String,
    /// When it stops being valid.
    pub expires_at: DateTime<Utc>,
}

impl Role {
    /// Whether this role may change anything.
    pub fn may_change(self) -> bool {
        self == Role::Admin
    }
}
