//! Host-side bindings, one module per supported contract line. A new minor gets a new
//! module bound to its frozen WIT, and old plugins keep theirs.

/// Contract 0.1.
#[allow(missing_docs)] // generated; the WIT carries the docs
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "connector",
        exports: { default: async },
    });
}

/// The newest contract's types, which the rest of the host works with.
pub use v0_1::safe::connector::types as contract;
