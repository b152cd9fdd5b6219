//! End-to-end tests: the real host binary, the real components, the simulator, loopback.

mod backends;
mod connection;
mod faults;
mod hardening;
mod harness;
mod incremental;
mod inventory;
mod plugins;
mod sandbox;
mod schedule;
mod service;
mod sync;
mod views;
