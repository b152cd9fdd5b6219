//! Loading and running plugins: inspection, compilation with an on-disk cache, the
//! sandbox, and calls into the contract.

pub mod bindings;
pub mod budget;
pub mod cache;
pub mod inspect;
pub mod limiter;
mod pinned;
pub mod policy;
pub mod resolve;
pub mod runtime;
mod state;
mod stderr;

pub use runtime::{Limits, LoadedPlugin, Origin, PluginHost, RunError, SyncResult, digest_of};
pub use state::RunSink;
