//! `medlake cdc`: change capture from the MySQL/MariaDB binlog into the lake (exactly once)
//! or as Maxwell JSON lines on stdout.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use medlake_catalog::Catalog;
use medlake_cdc::{
    capture, BinlogSource, CaptureFigures, CaptureOptions, CaptureProgress, ChangeSink, LakeSink,
    MaxwellSink,
};
use medlake_lake::Lake;

use crate::config::Config;

/// Where captured changes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Destination {
    /// ods_<table>_inc tables of the lake, exactly once (positions in the catalog).
    Lake,
    /// Maxwell's JSON, one change per line on stdout (at least once).
    Maxwell,
}

/// `medlake cdc [OPTIONS]` captures; `medlake cdc bench` measures.
#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CdcCommand {
    /// Measure instead of capturing.
    #[command(subcommand)]
    pub sub: Option<CdcSub>,
    /// What to capture and where.
    #[command(flatten)]
    pub args: CdcArgs,
}

/// Subcommands of `medlake cdc`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum CdcSub {
    /// Measure capture against a real binlog: bootstrap rows/s, reader changes/s,
    /// binlog-to-lake changes/s, and commit-to-lake latency p50/p99 at a steady load.
    Bench(crate::cdc_bench::CdcBenchArgs),
}

/// What to capture and where.
#[derive(Debug, Clone, clap::Args)]
pub struct CdcArgs {
    /// Stop at the current end of the binlog instead of following it.
    #[arg(long)]
    pub once: bool,
    /// Where the changes go.
    #[arg(long, value_enum, default_value_t = Destination::Lake)]
    pub to: Destination,
    /// Database to capture (default: the one named in the business URL).
    #[arg(long)]
    pub database: Option<String>,
    /// Capture only these business tables (repeatable or comma-separated; default: every
    /// table that changes, those with an ods_<table>_inc).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Never capture these tables.
    #[arg(long, value_delimiter = ',')]
    pub exclude_tables: Vec<String>,
}

/// Runs capture as `args` say, until the binlog's end (`--once`) or Ctrl-C.
pub async fn run(config: &Config, args: &CdcArgs, quiet: bool) -> Result<()> {
    let url = &config.business.url;
    anyhow::ensure!(
        url.starts_with("mysql://") || url.starts_with("mariadb://"),
        "change capture reads a MySQL/MariaDB binlog; the business URL {} is not mysql://",
        medlake_source::redact_url(url)
    );
    let source = BinlogSource::new(url).context("binlog source")?;
    let database = match (&args.database, source.database()) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => d.to_string(),
        (None, None) => {
            anyhow::bail!("no database: name it in the business URL or with --database")
        }
    };
    for name in args.tables.iter().chain(&args.exclude_tables) {
        anyhow::ensure!(
            medlake_schema::table(name).is_some(),
            "unknown table '{name}'"
        );
    }
    let filter = medlake_cdc::Filter {
        include_tables: args.tables.clone(),
        exclude_tables: args.exclude_tables.clone(),
        ..Default::default()
    };
    let candidates: Vec<_> = if args.tables.is_empty() {
        medlake_ingest::tables_for(false)
    } else {
        medlake_schema::business_tables().iter().collect()
    };
    let options = CaptureOptions {
        database,
        tables: filter.tables(candidates),
        batch_rows: config.cdc.batch_rows.max(1),
        flush_interval: Duration::from_millis(config.cdc.flush_ms),
        follow: !args.once,
        server_id: match config.cdc.server_id {
            0 => 100_000 + std::process::id() % 1_000_000,
            id => id,
        },
    };
    let catalog = Catalog::open(&config.catalog.path).context("catalog")?;
    let mut sink: Box<dyn ChangeSink> = match args.to {
        Destination::Lake => Box::new(LakeSink::new(
            Lake::open(&config.lake.url, config.lake_options()).context("lake")?,
        )),
        Destination::Maxwell => Box::new(MaxwellSink::new(std::io::stdout())),
    };
    let progress = CaptureBar::new(quiet);
    let job = capture(&source, sink.as_mut(), &catalog, &options, &progress);
    let figures = tokio::select! {
        r = job => r.context("change capture")?,
        _ = tokio::signal::ctrl_c() => {
            // Stopping between any two steps is safe: the next run resumes exactly.
            progress.bar.finish_and_clear();
            eprintln!("stopped; the next run resumes from the last committed position");
            return Ok(());
        }
    };
    progress.bar.finish_and_clear();
    if args.to == Destination::Lake {
        println!(
            "captured {} row changes in {} transactions ({} lake commits); position {}",
            figures.changes,
            figures.transactions,
            figures.commits,
            figures
                .position
                .as_ref()
                .map_or_else(|| "-".into(), ToString::to_string)
        );
    }
    Ok(())
}

/// A status line: changes, changes per second, position and lag.
pub struct CaptureBar {
    bar: ProgressBar,
    started: Instant,
}

impl CaptureBar {
    /// A bar on stderr, hidden when `quiet`.
    pub fn new(quiet: bool) -> Self {
        let bar = if quiet {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
        } else {
            ProgressBar::new_spinner()
        };
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} {spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix("cdc");
        bar.enable_steady_tick(Duration::from_millis(200));
        CaptureBar {
            bar,
            started: Instant::now(),
        }
    }
}

impl CaptureProgress for CaptureBar {
    fn bootstrapped(&self, table: &str, rows: u64) {
        self.bar
            .println(format!("bootstrapped {table}: {rows} rows"));
    }

    fn flushed(&self, f: &CaptureFigures) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_message(format!(
            "{} changes, {:.0}/s, {} commits, position {}, lag {} s",
            f.changes,
            f.changes as f64 / secs,
            f.commits,
            f.position
                .as_ref()
                .map_or_else(|| "-".into(), ToString::to_string),
            f.lag_seconds.max(0)
        ));
    }
}
