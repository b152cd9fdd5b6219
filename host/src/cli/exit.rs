//! Exit codes: what a script can tell from `$?`.

use connector_host::service::{ErrorKind, ServiceError, store_kind};
use connector_host::store::StoreError;

/// The documented table, shown at the end of `--help`.
pub const TABLE: &str = "Exit codes:
  0  success
  1  failure (a sync that failed, a missing integration, a plugin error, …)
  2  usage: the command line is wrong (an argument, a setting, a --db value, an import file)
  3  the connection test failed
  4  a sync of that integration is already running
  5  the database cannot be reached or opened, or is newer than this host";

/// Success.
pub const OK: u8 = 0;
/// Any other failure.
pub const FAILURE: u8 = 1;
/// The command line is wrong (clap uses 2 as well).
pub const USAGE: u8 = 2;
/// The connection test failed.
pub const CONNECTION_TEST: u8 = 3;
/// A sync of the integration is already running.
pub const BUSY: u8 = 4;
/// The store is unreachable.
pub const STORE_UNREACHABLE: u8 = 5;

/// The exit code of a command's error: from the first typed error in its chain.
pub fn code(error: &anyhow::Error) -> u8 {
    let kind = error.chain().find_map(|cause| {
        cause
            .downcast_ref::<ServiceError>()
            .map(ServiceError::kind)
            .or_else(|| cause.downcast_ref::<StoreError>().map(store_kind))
    });
    match kind {
        Some(ErrorKind::Invalid) => USAGE,
        Some(ErrorKind::ConnectionTest) => CONNECTION_TEST,
        Some(ErrorKind::Busy) => BUSY,
        Some(ErrorKind::StoreUnreachable) => STORE_UNREACHABLE,
        _ => FAILURE,
    }
}
