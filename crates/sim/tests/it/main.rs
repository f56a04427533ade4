//! The integration tests of medlake-sim, one binary (one link of the dependency tree)
//! with a module per promise, the way rust-analyzer lays out its tests.

mod common;

mod business;
mod determinism;
mod imaging;
mod mysql;
