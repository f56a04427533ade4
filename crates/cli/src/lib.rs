//! medlake-cli: the `medlake` command line. Parses arguments and config, then hands each
//! command to the crate that owns the capability; errors become one line on stderr.
//!
//! The command modules are a library so that `medlake-bench` (the benchmarks, a binary of
//! their own so `medlake` links no benchmark-only client) drives the same code paths.

pub mod alerts_cmd;
pub mod build_cmd;
pub mod capture_events;
pub mod cdc_cmd;
pub mod check_cmd;
pub mod config;
pub mod demo;
pub mod governance_cmd;
pub mod imaging_cmd;
pub mod lake_cmd;
pub mod lineage_cmd;
pub mod metrics_endpoint;
pub mod operations;
pub mod progress;
pub mod report;
pub mod schedule_cmd;
pub mod serve_cmd;
pub mod simulate_cmd;
pub mod sync_cmd;
