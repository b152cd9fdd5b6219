//! What can go wrong with a store, each with its cause.

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Errors of a storage backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was asked for (`integration `x``).
        what: String,
    },
    /// It exists already.
    #[error("{what} already exists")]
    Conflict {
        /// What (`integration `x``).
        what: String,
    },
    /// The `--db` value is not a path or a database URL this host opens.
    #[error("--db `{shown}`: {reason}")]
    BadTarget {
        /// The value, password masked.
        shown: String,
        /// What is wrong with it.
        reason: String,
    },
    /// It is still used by these integrations.
    #[error("{what} is in use by {}", users.join(", "))]
    InUse {
        /// What (`wiz 0.1.0`).
        what: String,
        /// Who uses it.
        users: Vec<String>,
    },
    /// The database server does not answer.
    #[error("cannot reach the database at {target}: {source}")]
    Unreachable {
        /// Host and port (never credentials).
        target: String,
        /// Why.
        source: Cause,
    },
    /// The database cannot be opened or is not one of ours.
    #[error("database {target}: {source}")]
    Open {
        /// Where (a path, or host, port and database name).
        target: String,
        /// Why.
        source: Cause,
    },
    /// The schema is newer than this binary knows; nothing was changed.
    #[error(
        "database {target} has schema version {found}, newer than this host's {known}; upgrade connector-host (the database was left untouched)"
    )]
    TooNew {
        /// Where.
        target: String,
        /// Its version.
        found: i64,
        /// The newest this binary knows.
        known: i64,
    },
    /// A stored value cannot be read back.
    #[error("stored {what} is unreadable: {detail}")]
    Corrupt {
        /// What.
        what: String,
        /// Why.
        detail: String,
    },
    /// Another process took the run's lease over (this run stalled past it): the write
    /// was refused, and nothing more of the run is stored.
    #[error(
        "this run lost its lease to another process (it stalled past the lease's expiry and was taken over); nothing it sent since was stored"
    )]
    LeaseLost,
    /// The database restarted (or failed over) while the run wrote: the groups it
    /// committed without waiting for the disk may be gone, so the run must not go on past
    /// them.
    #[error(
        "the database restarted while this run was writing (its last writes may be gone with it); the run stops, and the next sync resumes from its last stored checkpoint"
    )]
    ServerRestarted,
    /// SQLite failed.
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had from the pool.
    #[error("PostgreSQL connection pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The blocking task running a SQLite call died.
    #[error("the database worker stopped: {0}")]
    Worker(#[from] tokio::task::JoinError),
}

impl StoreError {
    /// A missing thing.
    pub fn not_found(what: impl Into<String>) -> Self {
        StoreError::NotFound { what: what.into() }
    }

    /// Whether a unique index refused the write (on either backend).
    pub(crate) fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ),
            StoreError::Postgres(e) => {
                e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
            }
            _ => false,
        }
    }

    /// Whether the database could not be reached or opened at all, or is too busy to
    /// answer in time (no free connection, or a listing past its statement timeout).
    pub fn is_unreachable(&self) -> bool {
        match self {
            StoreError::Unreachable { .. } | StoreError::Open { .. } | StoreError::Pool(_) => true,
            StoreError::Postgres(e) => {
                e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED)
            }
            _ => false,
        }
    }
}
