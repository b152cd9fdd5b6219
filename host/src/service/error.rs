//! What an operation can fail with, and the kind of failure a front end maps to an exit
//! code or an HTTP status.

use super::integrations::TestReport;
use crate::catalog::CatalogError;
use crate::import::ImportError;
use crate::plugin::RunError;
use crate::policy::failure::FailureClass;
use crate::secrets::SecretError;
use crate::settings::{OpenSettingsError, SettingError};
use crate::store::StoreError;

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// An integration of that name exists.
    #[error(
        "integration `{0}` already exists; change it with `integration update` or pick another name"
    )]
    Exists(String),
    /// A given setting is wrong.
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// A URL setting changes while stored secrets would follow it unasked.
    #[error(
        "{} changes, so the stored {} must be entered again in the same change: a stored secret is only sent to the URLs it was entered for",
        .urls.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "),
        .secrets.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
    )]
    SecretsNotReentered {
        /// The URL settings that change.
        urls: Vec<String>,
        /// The secret settings to enter again.
        secrets: Vec<String>,
    },
    /// An integration's stored settings cannot be used.
    #[error(transparent)]
    StoredSettings(#[from] OpenSettingsError),
    /// The connection test failed; `saved` says whether anything was saved.
    #[error("connection test failed{}: {}", if *.saved { "" } else { ", nothing saved (use --no-test to save anyway)" }, .report.error.as_deref().unwrap_or("unknown error"))]
    ConnectionTest {
        /// Every step, and the cause (secrets scrubbed).
        report: TestReport,
        /// Whether the operation saved anything before failing (a test of a stored one).
        saved: bool,
    },
    /// Another process is syncing the integration.
    #[error(
        "integration `{name}` is already syncing (held by {holder}); try again when that run finishes, or, if its process died, once its lease lapses (--lease-ttl-s)"
    )]
    AlreadyRunning {
        /// The integration.
        name: String,
        /// Who holds its lease.
        holder: String,
    },
    /// A finding id is reported by several integrations.
    #[error(
        "finding `{id}` is reported by several integrations ({}); choose one with --integration",
        .integrations.join(", ")
    )]
    Ambiguous {
        /// The id.
        id: String,
        /// Who reports it.
        integrations: Vec<String>,
    },
    /// No plugin loaded at all.
    #[error("no plugins loaded from the plugins folder")]
    NoPlugins,
    /// The plugins folder or a plugin.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The plugin host.
    #[error(transparent)]
    Plugin(#[from] RunError),
    /// The key that seals secrets.
    #[error(transparent)]
    Secrets(#[from] SecretError),
    /// An import file.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No valid token or session came with the request.
    #[error("not logged in: a valid token or session is needed")]
    Unauthenticated,
    /// The user may not do this.
    #[error("user `{user}` is a {role} and may not change anything; ask an admin")]
    Forbidden {
        /// Who asked.
        user: String,
        /// What they are.
        role: crate::model::Role,
    },
    /// An integration name that is not plain (quoted escaped, cut short).
    #[error(
        "integration name \"{0}\" is not allowed: use 1 to 64 letters, digits and `-`, `_`, `.`"
    )]
    BadIntegrationName(String),
    /// A user name that is not plain.
    #[error("user name `{0}` is not allowed: use 1 to 64 letters, digits and `.`, `_`, `@`, `-`")]
    BadUserName(String),
    /// The admin token file cannot be read or written.
    #[error("admin token file {}: {source}", .path.display())]
    TokenFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The environment's admin token is too short to be one.
    #[error(
        "CONNECTOR_HOST_ADMIN_TOKEN must be at least 16 characters (for example from `openssl rand -base64 32`)"
    )]
    WeakAdminToken,
    /// The admin token file holds too little to be a token (an empty file would make the
    /// empty string the admin's token).
    #[error(
        "admin token file {} holds fewer than 16 characters, too few for a token; delete it and start the host again to have a new one written, or write one of at least 16 characters (for example from `openssl rand -base64 32`)",
        .0.display()
    )]
    WeakTokenFile(std::path::PathBuf),
    /// The admin token is another user's.
    #[error(
        "the admin token is already user `{0}`'s token, or user `admin` is not an admin; rotate that user's token or remove it"
    )]
    TokenTaken(String),
    /// The admin's token is set by the environment, so it cannot be rotated here.
    #[error("the admin token comes from CONNECTOR_HOST_ADMIN_TOKEN; change it there")]
    AdminTokenFromEnvironment,
    /// A page cursor that no page handed out.
    #[error("`{0}` is not a page cursor; use the `next` of the previous page")]
    BadCursor(String),
    /// A cursor handed out for one sort, used with another.
    #[error("this cursor pages the `{cursor}` sort, not `{asked}`; start again without a cursor")]
    CursorOfAnotherSort {
        /// The cursor's sort.
        cursor: String,
        /// The sort asked for.
        asked: String,
    },
    /// A filter value that cannot be read.
    #[error("{field}: {problem}")]
    BadFilter {
        /// The filter.
        field: &'static str,
        /// What is wrong with its value.
        problem: String,
    },
    /// A status change without a usable reason.
    #[error("{0}")]
    BadReason(String),
    /// A status change that names no finding.
    #[error("choose the findings to set, or every finding that matches")]
    NothingChosen,
    /// A page size out of range.
    #[error("a page holds 1 to 500 rows, not {0}")]
    BadPageSize(usize),
    /// A component given to install does not load: not a component, a contract this host
    /// does not speak, imports beyond the sandbox, or a `describe` that fails.
    #[error("not installed: {0}")]
    NotAPlugin(#[source] RunError),
    /// A plugin build cannot be removed while integrations run it.
    #[error("{what} is in use by {}; move them to another version with `integration upgrade NAME --to VERSION` first", users.join(", "))]
    PluginInUse {
        /// The plugin and version.
        what: String,
        /// The integrations that run it.
        users: Vec<String>,
    },
    /// A plugin build that changed under the command's feet, or an upgrade to the version
    /// already run.
    #[error("{0}")]
    PluginVersion(String),
    /// The admin user cannot be removed.
    #[error("the admin user cannot be removed; rotate its token instead")]
    KeepAdmin,
}

/// The kind of a failure, for exit codes and HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself is wrong (a setting, a file, an argument).
    Invalid,
    /// What it names does not exist.
    NotFound,
    /// It clashes with what exists.
    Conflict,
    /// A connection test failed.
    ConnectionTest,
    /// A run of the integration is already going.
    Busy,
    /// The store cannot be reached or opened.
    StoreUnreachable,
    /// No valid credentials came with the request.
    Unauthenticated,
    /// The credentials do not allow it.
    Forbidden,
    /// Anything else, with whose fault it is.
    Failed(FailureClass),
}

impl ServiceError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ServiceError::Exists(_) | ServiceError::Ambiguous { .. } => ErrorKind::Conflict,
            ServiceError::Setting(_)
            | ServiceError::SecretsNotReentered { .. }
            | ServiceError::Import(_) => ErrorKind::Invalid,
            ServiceError::StoredSettings(_) | ServiceError::Secrets(_) => {
                ErrorKind::Failed(FailureClass::Config)
            }
            ServiceError::ConnectionTest { .. } => ErrorKind::ConnectionTest,
            ServiceError::AlreadyRunning { .. } => ErrorKind::Busy,
            ServiceError::NoPlugins
            | ServiceError::Catalog(CatalogError::Folder { .. })
            | ServiceError::Catalog(CatalogError::Ambiguous { .. }) => {
                ErrorKind::Failed(FailureClass::Config)
            }
            ServiceError::Catalog(CatalogError::Unknown { .. })
            | ServiceError::Catalog(CatalogError::NoVersion { .. }) => ErrorKind::NotFound,
            ServiceError::Catalog(CatalogError::ChangedBuild { .. })
            | ServiceError::PluginInUse { .. } => ErrorKind::Conflict,
            ServiceError::Catalog(CatalogError::NotSemver { .. })
            | ServiceError::PluginVersion(_)
            | ServiceError::NotAPlugin(_) => ErrorKind::Invalid,
            ServiceError::Catalog(CatalogError::Load(e)) | ServiceError::Plugin(e) => {
                ErrorKind::Failed(e.class())
            }
            ServiceError::Store(e) => store_kind(e),
            ServiceError::Unauthenticated => ErrorKind::Unauthenticated,
            ServiceError::Forbidden { .. } => ErrorKind::Forbidden,
            ServiceError::BadUserName(_)
            | ServiceError::BadIntegrationName(_)
            | ServiceError::WeakAdminToken
            | ServiceError::WeakTokenFile(_)
            | ServiceError::BadCursor(_)
            | ServiceError::CursorOfAnotherSort { .. }
            | ServiceError::BadFilter { .. }
            | ServiceError::BadReason(_)
            | ServiceError::NothingChosen
            | ServiceError::BadPageSize(_) => ErrorKind::Invalid,
            ServiceError::TokenTaken(_)
            | ServiceError::AdminTokenFromEnvironment
            | ServiceError::KeepAdmin => ErrorKind::Conflict,
            ServiceError::TokenFile { .. } => ErrorKind::Failed(FailureClass::Config),
        }
    }
}

/// The kind of a store failure.
pub fn store_kind(e: &StoreError) -> ErrorKind {
    match e {
        StoreError::NotFound { .. } => ErrorKind::NotFound,
        StoreError::Conflict { .. } | StoreError::InUse { .. } => ErrorKind::Conflict,
        StoreError::BadTarget { .. } => ErrorKind::Invalid,
        e if e.is_unreachable() || matches!(e, StoreError::TooNew { .. }) => {
            ErrorKind::StoreUnreachable
        }
        _ => ErrorKind::Failed(FailureClass::Store),
    }
}
