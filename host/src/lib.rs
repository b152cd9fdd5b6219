//! The connector host: loads connector plugins (WebAssembly components implementing the
//! `safe:connector` contract), runs them in a sandbox, and stores what they report.
//!
//! Floors, bottom up: [`model`] (the host's types), [`policy`] (its rules, pure),
//! [`store`] (persistence without rules), [`plugin`] (the sandbox, and the contract
//! bindings that convert into the model), [`runner`] and [`scheduler`] (running syncs),
//! and [`service`] (the operations every front end calls).
#![deny(missing_docs)]

pub mod catalog;
pub mod clock;
pub mod import;
pub mod metrics;
pub mod model;
pub mod plugin;
pub mod policy;
pub mod private_file;
pub mod redact;
pub mod runner;
pub mod schedule;
pub mod scheduler;
pub mod secrets;
pub mod service;
pub mod settings;
pub mod store;
pub mod web;
