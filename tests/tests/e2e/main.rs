//! End-to-end tests: the real host binary, the real components, the simulator, loopback.

mod api;
mod backends;
mod browser;
mod compatibility;
mod connection;
mod console;
mod egress;
mod example;
mod faults;
mod github;
mod hardening;
mod harness;
mod incremental;
mod inventory;
mod limits;
mod plugins;
mod reentry;
mod requests;
mod sandbox;
mod schedule;
mod service;
mod streams;
mod sync;
mod tls;
mod versions;
mod views;
