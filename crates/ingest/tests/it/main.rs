//! The integration tests of medlake-ingest, one binary (one link of the dependency tree)
//! with a module per promise, the way rust-analyzer lays out its tests.

mod crash_windows;
mod lake_secrets;
mod secrets;
