//! The host's rules, as pure functions over the model: what the plugin may send
//! ([`screen`]), what a batch does to the inventory and findings ([`ingest`],
//! [`inventory`]), how a run's end is judged ([`outcome`]), whose fault a failure is
//! ([`failure`]) and who may run an integration ([`lease`]). No database, no I/O but the
//! process check of a lease holder: every rule is unit-tested here, and every backend
//! applies the same decisions.

pub mod failure;
pub mod hash;
pub mod ingest;
pub mod inventory;
pub mod lease;
pub mod outcome;
pub mod screen;
