//! The connector SDK: everything a plugin author needs to pull assets and findings from
//! one source into the connector host, and nothing specific to any source.
//!
//! A connector implements [`Connector`] in plain async Rust over a [`http::Transport`]
//! and a [`Host`], and exports it with [`export_connector!`]. Built for `wasm32-wasip2`,
//! the SDK binds it to contract `safe:connector@0.2.0` and to wasi:http; built natively,
//! [`testkit`] runs the same code against a scripted transport and a recording host.
//!
//! ```ignore
//! struct MyConnector;
//! impl connector_sdk::Connector for MyConnector { /* describe, test_connection, sync */ }
//! connector_sdk::export_connector!(MyConnector);
//! ```
#![deny(missing_docs)]

extern crate self as connector_sdk;

pub mod connector;
pub mod error;
pub mod gate;
pub mod host;
pub mod http;
pub mod paging;
pub mod records;
pub mod retry;
pub mod schema;
pub mod settings;
pub mod testkit;

#[cfg(all(target_arch = "wasm32", feature = "component"))]
#[doc(hidden)]
pub mod component;

pub use connector::{Checklist, ConnectionFailure, Connector, Outcome, Step, check_streams};
pub use error::ConnectorError;
pub use host::{Host, Pages, SyncSummary};
pub use schema::{Description, Field, FieldKind, Stream};
pub use settings::Settings;

/// Exports a [`Connector`]; outside `wasm32` (or without the `component` feature) there is
/// nothing to export, so it expands to nothing and the connector builds natively for tests.
#[cfg(not(all(target_arch = "wasm32", feature = "component")))]
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {};
}
