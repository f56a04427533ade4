//! `medlake cdc`: change capture from the MySQL/MariaDB binlog into the lake or Kafka
//! (exactly once) or as Maxwell JSON lines on stdout; `medlake cdc land`: Kafka into the
//! lake (exactly once).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use medlake_cdc::{
    capture, land as land_topics, BinlogSource, CaptureFigures, CaptureOptions, CaptureProgress,
    ChangeSink, KafkaSink, LakeSink, LandFigures, LandOptions, LandProgress, MaxwellSink,
};
use medlake_lake::Lake;
use medlake_lineage::openlineage::JobType;
use medlake_ops::figures::capture::CaptureTotals;

use crate::capture_events::LandingRun;
use crate::config::Config;

/// Where captured changes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Destination {
    /// ods_<table>_inc tables of the lake, exactly once (positions in the catalog).
    Lake,
    /// Maxwell's JSON, one change per line on stdout (at least once).
    Maxwell,
    /// Maxwell's JSON to Kafka, a topic per table (`cdc.kafka_brokers`, `cdc.kafka_topic`),
    /// exactly once; `medlake cdc land` lands the topics in the lake.
    Kafka,
}

/// `medlake cdc [OPTIONS]` captures; `medlake cdc land` lands Kafka in the lake.
#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CdcCommand {
    /// Land Kafka instead of capturing.
    #[command(subcommand)]
    pub sub: Option<CdcSub>,
    /// What to capture and where.
    #[command(flatten)]
    pub args: CdcArgs,
}

/// Subcommands of `medlake cdc`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum CdcSub {
    /// Land the Kafka topics that `cdc --to kafka` publishes into ods_<table>_inc, exactly
    /// once: each lake commit carries the topic offset it has read up to.
    Land(LandArgs),
}

/// What to land.
#[derive(Debug, Clone, clap::Args)]
pub struct LandArgs {
    /// Stop at the end the topics have now instead of following them.
    #[arg(long)]
    pub once: bool,
    /// Database whose topics are landed (default: the one named in the business URL).
    #[arg(long)]
    pub database: Option<String>,
    /// Land only these business tables (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Serve landed changes, lag and commits for Prometheus on HOST:PORT (`GET /metrics`).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics: Option<String>,
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
    /// Bootstrap these tables again before streaming: their current rows are restated
    /// (`bootstrap-insert`), so changes capture had to skip are made good (docs/cdc.md).
    #[arg(long, value_delimiter = ',', value_name = "TABLES")]
    pub resync: Vec<String>,
    /// Serve lag, throughput and position for Prometheus on HOST:PORT (`GET /metrics`).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics: Option<String>,
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
    let database = database_of(args.database.as_deref(), source.database())?;
    let tables = chosen_tables(&args.tables, &args.exclude_tables)?;
    let mut resync = Vec::new();
    for name in &args.resync {
        let table = tables.iter().find(|t| t.name == name.as_str());
        resync.push(
            *table.with_context(|| format!("--resync {name}: not a table this capture follows"))?,
        );
    }
    let options = CaptureOptions {
        database: database.clone(),
        tables,
        resync,
        batch_rows: config.cdc.batch_rows.max(1),
        flush_interval: Duration::from_millis(config.cdc.flush_ms),
        follow: !args.once,
        server_id: match config.cdc.server_id {
            0 => 100_000 + std::process::id() % 1_000_000,
            id => id,
        },
    };
    let catalog = config.open_catalog()?;
    let mut sink: Box<dyn ChangeSink> = match args.to {
        Destination::Lake => Box::new(LakeSink::new(
            Lake::open(&config.lake.url, config.lake_options()).context("lake")?,
        )),
        Destination::Maxwell => Box::new(MaxwellSink::new(std::io::stdout())),
        Destination::Kafka => {
            // The error names the brokers and why they did not answer.
            let client = medlake_cdc::connect(&config.cdc.kafka_brokers).await?;
            Box::new(KafkaSink::new(client, &config.cdc.kafka_topic, &database)?)
        }
    };
    if let Some(addr) = &args.metrics {
        crate::metrics_endpoint::serve(addr).await?;
    }
    let progress = CaptureBar::new(quiet, sink.name());
    let emitter = config.lineage.emitter()?;
    let events = match args.to {
        Destination::Lake => LandingRun::start(config, &emitter, "capture", JobType::Capture).await,
        _ => None,
    };
    // Capture counts changes, not rows per table: the tables go without statistics.
    let landed: Vec<(String, Option<u64>)> = options
        .tables
        .iter()
        .map(|t| (t.ods_inc_name(), None))
        .collect();
    let job = capture(&source, sink.as_mut(), &catalog, &options, &progress);
    let figures = tokio::select! {
        r = job => match r.context("change capture") {
            Ok(figures) => figures,
            Err(e) => {
                if let Some(events) = &events {
                    events.fail(&format!("{e:#}")).await;
                }
                return Err(e);
            }
        },
        _ = tokio::signal::ctrl_c() => {
            // Stopping between any two steps is safe: the next run resumes exactly.
            progress.bar.finish_and_clear();
            if let Some(events) = &events {
                events.complete(&landed).await;
            }
            eprintln!("stopped; the next run resumes from the last committed position");
            return Ok(());
        }
    };
    if let Some(events) = &events {
        events.complete(&landed).await;
    }
    crate::lineage_cmd::report_delivery(&emitter);
    progress.bar.finish_and_clear();
    if args.to != Destination::Maxwell {
        println!(
            "captured {} row changes in {} transactions ({} commits); position {}",
            figures.changes,
            figures.transactions,
            figures.commits,
            figures
                .position
                .as_ref()
                .map_or_else(|| "-".into(), ToString::to_string)
        );
    }
    if let Some(summary) = figures.skipped_summary() {
        eprintln!("warning: {summary}");
    }
    Ok(())
}

/// The database named by `--database`, else by the business URL.
fn database_of(flag: Option<&str>, url_database: Option<&str>) -> Result<String> {
    match flag.or(url_database) {
        Some(d) => Ok(d.to_string()),
        None => anyhow::bail!("no database: name it in the business URL or with --database"),
    }
}

/// The tables `--tables` and `--exclude-tables` leave: by default every table that
/// changes (those with an ods_<table>_inc).
fn chosen_tables(
    include: &[String],
    exclude: &[String],
) -> Result<Vec<&'static medlake_schema::Table>> {
    for name in include.iter().chain(exclude) {
        anyhow::ensure!(
            medlake_schema::table(name).is_some(),
            "unknown table '{name}'"
        );
    }
    let filter = medlake_cdc::Filter {
        include_tables: include.to_vec(),
        exclude_tables: exclude.to_vec(),
        ..Default::default()
    };
    let candidates: Vec<_> = if include.is_empty() {
        medlake_ingest::tables_for(false)
    } else {
        medlake_schema::business_tables().iter().collect()
    };
    Ok(filter.tables(candidates))
}

/// Lands the Kafka topics into the lake as `args` say, until their ends (`--once`) or
/// Ctrl-C.
pub async fn land(config: &Config, args: &LandArgs, quiet: bool) -> Result<()> {
    // The topics are named after the source database; the lander never connects to it.
    let url_database = BinlogSource::new(&config.business.url)
        .ok()
        .and_then(|s| s.database().map(String::from));
    let options = LandOptions {
        database: database_of(args.database.as_deref(), url_database.as_deref())?,
        tables: chosen_tables(&args.tables, &[])?,
        topic: config.cdc.kafka_topic.clone(),
        batch_rows: config.cdc.batch_rows.max(1),
        flush_interval: Duration::from_millis(config.cdc.flush_ms),
        follow: !args.once,
    };
    // The error names the brokers and why they did not answer.
    let client = medlake_cdc::connect(&config.cdc.kafka_brokers).await?;
    let lake = Lake::open(&config.lake.url, config.lake_options()).context("lake")?;
    if let Some(addr) = &args.metrics {
        crate::metrics_endpoint::serve(addr).await?;
    }
    let progress = LandBar(CaptureBar::new(quiet, "lake"));
    let job = land_topics(&client, &lake, &options, &progress);
    let figures = tokio::select! {
        r = job => r.context("landing kafka")?,
        _ = tokio::signal::ctrl_c() => {
            progress.0.bar.finish_and_clear();
            eprintln!("stopped; the next run resumes from the offsets in the lake");
            return Ok(());
        }
    };
    progress.0.bar.finish_and_clear();
    println!(
        "landed {} row changes in {} lake commits",
        figures.changes, figures.commits
    );
    Ok(())
}

/// Capture's figures as medlake-ops records them.
fn capture_totals(f: &CaptureFigures) -> CaptureTotals {
    CaptureTotals {
        changes: f.changes,
        transactions: f.transactions,
        commits: f.commits,
        lag_seconds: f.lag_seconds as f64,
        flush_seconds: f.flush_time.as_secs_f64(),
        position: f.position.as_ref().map(|p| (p.file.clone(), p.offset)),
        skipped: f
            .skipped
            .iter()
            .map(|((table, reason), tally)| {
                (table.to_string(), reason.label().to_string(), tally.events)
            })
            .collect(),
    }
}

/// The capture bar, showing the lander's figures.
struct LandBar(CaptureBar);

impl LandProgress for LandBar {
    fn landed(&self, topic: &str, _changes: &[medlake_cdc::RowChange], f: &LandFigures) {
        let secs = self.0.started.elapsed().as_secs_f64().max(1e-3);
        medlake_ops::figures::global().capture.landed(
            f.changes,
            f.commits,
            secs,
            f.lag_messages,
            f.lag_seconds,
        );
        self.0.bar.set_message(format!(
            "{} changes, {:.0}/s, {} commits, last {topic}, {} messages behind, lag {} s",
            f.changes,
            f.changes as f64 / secs,
            f.commits,
            f.lag_messages,
            f.lag_seconds.max(0)
        ));
    }
}

/// A status line: changes, changes per second, position and lag; the same figures on the
/// metrics endpoint when one is served.
pub struct CaptureBar {
    bar: ProgressBar,
    started: Instant,
    sink: String,
}

impl CaptureBar {
    /// A bar on stderr, hidden when `quiet`; its figures also go to the process' registry
    /// (served when `--metrics` is given).
    pub fn new(quiet: bool, sink: &str) -> Self {
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
            sink: sink.to_string(),
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
        medlake_ops::figures::global()
            .capture
            .flushed(&self.sink, &capture_totals(f), secs);
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
