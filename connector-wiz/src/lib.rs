//! The Wiz connector: pulls Wiz issues and the cloud resources they concern, and hands
//! them to the host as normalised findings and assets.
//!
//! Everything but [`component`] is plain Rust without I/O of its own, so it builds and
//! is unit-tested natively; `component` binds it to the `connector` WIT world and to
//! wasi:http when built for `wasm32-wasip2`.
#![deny(missing_docs)]

pub mod client;
pub mod config;
pub mod connection;
pub mod error;
pub mod mapping;
pub mod model;
pub mod pagination;
pub mod protocol;
pub mod records;
pub mod retry;
pub mod state;
pub mod sync;

#[cfg(all(target_arch = "wasm32", feature = "component"))]
mod component;
