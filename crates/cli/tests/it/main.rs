//! The integration tests of medlake-cli, one binary (one link of the dependency tree)
//! with a module per promise, the way rust-analyzer lays out its tests.

mod common;

mod alerts;
mod alerts_mariadb;
mod architecture;
mod build;
mod catalog_postgres;
mod cdc;
mod cdc_server_events;
mod cli_errors;
mod directory_logins;
mod governance;
mod imaging_files;
mod imaging_orthanc;
#[path = "../../../ingest/tests/it/lake_secrets.rs"]
mod lake_secrets;
mod lineage;
mod mariadb;
mod outside_reader;
mod pg_clients;
mod prometheus;
mod quality;
mod schedule;
mod secrets;
mod serve;
mod serve_fuzz;
mod serve_limits;
mod sync_to_lake;
