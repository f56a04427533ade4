//! `medlake-bench`: the benchmarks, a binary of their own so that `medlake` links none of
//! their clients (tokio-postgres, the load generators). Figures, not pass/fail:
//! docs/benchmarks.md keeps them with the machine they came from.
//!
//! - `medlake-bench`: simulator and sync throughput (rows/s) and peak memory;
//! - `medlake-bench --warehouse`: a day's build time over a month, each day in a fresh process;
//! - `medlake-bench --serve --dir DIR`: dashboard API latency and PostgreSQL clients under load;
//! - `medlake-bench cdc --url mysql://...`: change capture from a real binlog (and Kafka);
//! - `medlake-bench stream --rows N`: pulling N rows over the PostgreSQL protocol through
//!   `COPY` and a cursor, with the server's memory;
//! - `medlake-bench policy`: what the policy rewrite adds to a statement's planning.
//! - `medlake-bench alerts`: what the embedded monitor's round and a `/metrics` render cost.
//! - `medlake-bench imaging`: DICOM metadata ingest from a local folder, files per second.

mod alerts;
mod cdc;
mod imaging;
mod machine;
mod pipeline;
mod policy;
mod serve;
mod stream;
mod warehouse;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// medlake-bench: measure medlake (release build: `cargo run --release -p medlake-bench`).
///
/// Without a subcommand: simulator and sync throughput; --warehouse and --serve measure
/// the build and the server instead.
#[derive(Debug, Parser)]
#[command(
    name = "medlake-bench",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<BenchCommand>,
    #[command(flatten)]
    pipeline: pipeline::BenchArgs,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Measure capture against a real binlog: bootstrap rows/s, reader changes/s,
    /// binlog-to-lake changes/s, and commit-to-lake latency p50/p99 at a steady load (with
    /// --kafka also binlog-to-Kafka, Kafka-to-lake, and the latency through Kafka).
    Cdc(cdc::CdcBenchArgs),
    /// Measure pulling a large result over the PostgreSQL protocol (psql's \copy in csv and
    /// binary, and a cursor): rows/s and the server's peak memory against before.
    Stream(stream::StreamArgs),
    /// Measure the policy rewrite: planning time and the rewrite's own time (p50, p95) for
    /// a dashboard read under a row filter and patient reads under PHI masks.
    Policy(policy::PolicyArgs),
    /// Measure the embedded monitor: one round (snapshot of the figures and every built-in
    /// alert rule over an hour of history) and one /metrics render, p50 and p95.
    Alerts(alerts::AlertsArgs),
    /// Measure DICOM metadata ingest from a local folder: files/s and MB/s of a first run
    /// (every file new) and a second (nothing changed), and the header read alone.
    Imaging(imaging::ImagingArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        // Deep enough for any statement serving admits (see medlake_serve's query limits).
        .thread_stack_size(medlake_serve::SERVE_STACK_BYTES)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Some(BenchCommand::Cdc(args)) => cdc::run(args).await,
            Some(BenchCommand::Stream(args)) => stream::run(args).await,
            Some(BenchCommand::Policy(args)) => policy::run(args).await,
            Some(BenchCommand::Alerts(args)) => alerts::run(args).await,
            Some(BenchCommand::Imaging(args)) => imaging::run(args).await,
            None => pipeline::run(&cli.pipeline).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
