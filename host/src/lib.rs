//! The connector host: loads connector plugins (WebAssembly components implementing the
//! `safe:connector` contract), runs them in a sandbox, and stores what they report.
#![deny(missing_docs)]

pub mod catalog;
pub mod clock;
pub mod inventory;
pub mod plugin;
pub mod runner;
pub mod schedule;
pub mod scheduler;
pub mod secrets;
pub mod settings;
pub mod store;
pub mod validate;
