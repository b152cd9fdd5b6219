//! End-to-end tests: the real host binary, the real components, the simulator, loopback.

mod connection;
mod harness;
mod sandbox;
mod sync;
