//! Host-side bindings, one module per supported contract line. Each binds its frozen WIT
//! and converts its types into the host's `model` at this edge, so nothing past
//! `plugin/` names a contract type and a new line is a sibling module, not a rewrite.

pub mod v0_1;
