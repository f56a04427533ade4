//! The integration tests of medlake-warehouse, one binary (one link of the dependency tree)
//! with a module per promise, the way rust-analyzer lays out its tests.

mod common;

mod failures;
mod late_data;
mod metrics_verified;
mod quality;
