//! `medlake-bench` (no subcommand): simulator and sync throughput in rows per second, with peak memory.
//! Figures, not pass/fail: the README keeps the latest ones.

use std::path::PathBuf;
use std::time::Instant;

use crate::machine::{peak_rss_bytes, print_machine, work_dir};

use anyhow::{Context, Result};
use chrono::NaiveDate;

use medlake_cli::config::Config;
use medlake_cli::simulate_cmd::{self, SimulationPlan};
use medlake_cli::sync_cmd::{self, Handles, SyncArgs, SyncPart};

/// Benchmark settings.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Scale factor (1 = 100,000 consultations a day).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Folder to work in (default: a temporary folder, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Benchmark the warehouse build instead: simulate, sync and build --days days, and
    /// report the build time of each day and the peak memory.
    #[arg(long)]
    pub warehouse: bool,
    /// Days of the warehouse benchmark.
    #[arg(long, default_value_t = 30, requires = "warehouse")]
    pub days: u32,
    /// Benchmark serving instead, over the lake a warehouse benchmark left in --dir:
    /// dashboard API latency, then PostgreSQL-protocol clients under load.
    #[arg(long, requires = "dir", conflicts_with = "warehouse")]
    pub serve: bool,
    /// Seconds of PostgreSQL-protocol load (with --serve).
    #[arg(long, default_value_t = 300, requires = "serve")]
    pub seconds: u64,
    /// Concurrent PostgreSQL clients (with --serve).
    #[arg(long, default_value_t = 50, requires = "serve")]
    pub clients: usize,
    /// Abusive PostgreSQL clients (with --serve): each runs a cross join of the users table
    /// with itself, again and again, for the whole stretch.
    #[arg(long, default_value_t = 2, requires = "serve")]
    pub abusers: usize,
    /// Internal to --warehouse: build this one day of the lake in --dir in this process and
    /// print its figures as one JSON line.
    #[arg(long, hide = true, requires = "dir", conflicts_with_all = ["warehouse", "serve"])]
    pub build_day: Option<NaiveDate>,
}

struct Figure {
    what: &'static str,
    rows: u64,
    seconds: f64,
    peak_rss: u64,
}

impl Figure {
    fn measured(what: &'static str, rows: u64, started: Instant) -> Figure {
        Figure {
            what,
            rows,
            seconds: started.elapsed().as_secs_f64(),
            peak_rss: peak_rss_bytes(),
        }
    }
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: &BenchArgs) -> Result<()> {
    if args.warehouse {
        return crate::warehouse::run(args).await;
    }
    if let (Some(day), Some(dir)) = (args.build_day, &args.dir) {
        return crate::warehouse::build_one_day(dir, day).await;
    }
    if let (true, Some(dir)) = (args.serve, &args.dir) {
        return crate::serve::run(dir, args.seconds, args.clients, args.abusers).await;
    }
    let (_temp, dir) = work_dir(args.dir.as_deref())?;
    let mut config = Config::defaults_in(&dir);
    config.simulate.scale = args.scale;
    config.simulate.start = NaiveDate::from_ymd_opt(2026, 1, 5).context("start day")?;
    let day = config.simulate.start;
    println!(
        "medlake-bench: scale {} (one day, {}), in {}",
        args.scale,
        day,
        dir.display()
    );
    let mut figures = Vec::new();

    let simulate = |days: u32| {
        let plan = SimulationPlan::from_config(&config, days);
        let url = config.business.url.clone();
        async move {
            simulate_cmd::simulate(&url, &plan, false)
                .await
                .map(|s| s.rows_written)
        }
    };
    let started = Instant::now();
    let rows = simulate(0).await?;
    figures.push(Figure::measured(
        "simulate: initial population into SQLite",
        rows,
        started,
    ));

    let handles = Handles::open(&config)?;
    let sync = |part: SyncPart| {
        let args = SyncArgs {
            day: Some(day),
            only: Some(part),
            no_reconcile: true,
            ..Default::default()
        };
        let (handles, config) = (&handles, &config);
        async move {
            let outcome = sync_cmd::run(handles, config, &args, false).await?;
            Ok::<u64, anyhow::Error>(outcome.rows())
        }
    };
    let started = Instant::now();
    let rows = sync(SyncPart::Inc).await?;
    figures.push(Figure::measured(
        "incremental sync: bootstrap of the population",
        rows,
        started,
    ));

    let started = Instant::now();
    let rows = simulate(1).await?;
    figures.push(Figure::measured(
        "simulate: one day into SQLite (rows inserted + updated)",
        rows,
        started,
    ));

    let started = Instant::now();
    let rows = sync(SyncPart::Full).await?;
    figures.push(Figure::measured(
        "full sync: master snapshots of the day",
        rows,
        started,
    ));

    let started = Instant::now();
    let rows = sync(SyncPart::Inc).await?;
    figures.push(Figure::measured(
        "incremental sync: the day's change records",
        rows,
        started,
    ));

    println!("\n| step | rows | seconds | rows/s | peak RSS so far |");
    println!("|---|---:|---:|---:|---:|");
    for f in &figures {
        println!(
            "| {} | {} | {:.2} | {:.0} | {} |",
            f.what,
            f.rows,
            f.seconds,
            f.rows as f64 / f.seconds.max(1e-9),
            medlake_cli::report::human_bytes(f.peak_rss)
        );
    }
    print_machine();
    Ok(())
}
