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

/// An error's messages, outermost first, joined by `: `, each cause added only when the
/// text so far does not already end with it. Errors here say their cause in their own
/// message, so that the API, the console and history (which show one message) read whole;
/// many also carry it as their source (the database driver's and the standard library's
/// do the same), and the operator should read each part once.
pub fn chain_text(messages: impl IntoIterator<Item = String>) -> String {
    let mut text = String::new();
    for message in messages {
        let message = message.trim();
        if message.is_empty() || text.ends_with(message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(message);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::chain_text;

    #[test]
    fn each_part_of_a_chain_is_said_once() {
        let chain = |parts: &[&str]| chain_text(parts.iter().map(|p| p.to_string()));
        assert_eq!(
            chain(&[
                "cannot reach the database at 127.0.0.1:1: error connecting to server: Connection refused (os error 111)",
                "error connecting to server: Connection refused (os error 111)",
                "Connection refused (os error 111)",
            ]),
            "cannot reach the database at 127.0.0.1:1: error connecting to server: Connection refused (os error 111)"
        );
        assert_eq!(
            chain(&[
                "loading plugins",
                "cannot read plugins folder /x",
                "No such file"
            ]),
            "loading plugins: cannot read plugins folder /x: No such file"
        );
        // A cause is dropped only when the text ends with it, not when its words
        // appear earlier.
        assert_eq!(
            chain(&["timeout reading x: io", "timeout"]),
            "timeout reading x: io: timeout"
        );
    }
}
