//! End-to-end tests: the real host binary, the real components, the simulator, loopback.

mod api;
mod backends;
mod browser;
mod connection;
mod console;
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
mod tls;
mod views;
