//! `medlake sync`: full snapshots and incremental capture for a business day, then the
//! reconciliation report.

use anyhow::{Context, Result};
use chrono::NaiveDate;
use medlake_catalog::Catalog;
use medlake_ingest::{latest_business_day, DaySync, FullSyncOptions, SyncParts, SyncPlan};
use medlake_lake::Lake;
use medlake_lineage::openlineage::JobType;
use medlake_source::BusinessSource;

use crate::capture_events::LandingRun;
use crate::config::Config;
use crate::progress::TableBars;

/// Which half of a sync to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncPart {
    /// Full snapshots of master tables only.
    Full,
    /// Incremental change capture only.
    Inc,
}

/// What to sync.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SyncArgs {
    /// Business day to sync: snapshots go to partition DAY, changes are captured up to
    /// the end of DAY. Default: the day of the latest change in the source.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub day: Option<NaiveDate>,
    /// Run only the full snapshots or only the incremental capture.
    #[arg(long, value_enum)]
    pub only: Option<SyncPart>,
    /// Limit to these business tables (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Skip the reconciliation report.
    #[arg(long)]
    pub no_reconcile: bool,
}

/// The handles every job needs, opened once.
pub struct Handles {
    /// The business database.
    pub source: Box<dyn BusinessSource>,
    /// The lake.
    pub lake: Lake,
    /// The catalog.
    pub catalog: Catalog,
}

impl Handles {
    /// Opens source, lake and catalog as configured.
    pub fn open(config: &Config) -> Result<Handles> {
        let source = medlake_source::open(&config.business.url).context("business database")?;
        let lake = Lake::open(&config.lake.url, config.lake_options()).context("lake")?;
        let catalog = config.open_catalog()?;
        Ok(Handles {
            source,
            lake,
            catalog,
        })
    }
}

/// The plan `args` describe under `config`'s sync settings; without `--day`, the day of
/// the latest change in the source.
pub async fn plan(handles: &Handles, config: &Config, args: &SyncArgs) -> Result<SyncPlan> {
    let source = handles.source.as_ref();
    let day = match args.day {
        Some(d) => d,
        None => latest_business_day(source)
            .await
            .context("reading the business database")?
            .with_context(|| {
                format!(
                    "the business database {} has no rows yet (run `medlake simulate` first)",
                    source.describe()
                )
            })?,
    };
    let mut plan = SyncPlan::for_day(day).with_table_names(&args.tables)?;
    plan.parts = match args.only {
        None => SyncParts::Both,
        Some(SyncPart::Full) => SyncParts::SnapshotsOnly,
        Some(SyncPart::Inc) => SyncParts::ChangesOnly,
    };
    plan.reconcile = !args.no_reconcile;
    plan.full = FullSyncOptions {
        parallelism: config.sync.parallelism,
        chunk_ids: config.sync.chunk_ids,
    };
    plan.batch_rows = config.sync.batch_rows;
    Ok(plan)
}

/// Runs a sync as `args` say, with progress bars unless `quiet`.
pub async fn run(
    handles: &Handles,
    config: &Config,
    args: &SyncArgs,
    quiet: bool,
) -> Result<DaySync> {
    let plan = plan(handles, config, args).await?;
    let bars = TableBars::new("sync", quiet);
    let (source, lake, catalog) = (handles.source.as_ref(), &handles.lake, &handles.catalog);
    let emitter = config.lineage.emitter()?;
    let events = LandingRun::start(config, &emitter, "sync", JobType::Sync).await;
    let result = medlake_ingest::sync_day(source, lake, catalog, &plan, &bars)
        .await
        .with_context(|| format!("sync of {}", plan.day));
    if let Some(events) = &events {
        match &result {
            Ok(outcome) => {
                let written: Vec<(String, Option<u64>)> = outcome
                    .reports
                    .iter()
                    .map(|r| (r.lake_table.clone(), Some(r.rows)))
                    .collect();
                events.complete(&written).await;
            }
            Err(e) => events.fail(&format!("{e:#}")).await,
        }
    }
    crate::lineage_cmd::report_delivery(&emitter);
    result
}

/// Prints what a sync moved and the reconciliation report.
pub fn print_outcome(outcome: &DaySync) {
    println!("sync of business day {}", outcome.day);
    println!(
        "  {:<24} {:<30} {:>10} {:>8}",
        "table", "lake table", "rows", "commits"
    );
    for r in &outcome.reports {
        println!(
            "  {:<24} {:<30} {:>10} {:>8}",
            r.table, r.lake_table, r.rows, r.commits
        );
    }
    if let Some(rec) = &outcome.reconciliation {
        println!("reconciliation (source vs lake):");
        println!(
            "  {:<30} {:>10} {:>10}  result",
            "lake table", "source", "lake"
        );
        for row in &rec.rows {
            let result = if row.matches() {
                "ok".to_string()
            } else if row.behind_only() {
                format!(
                    "ok ({} rows changed after the day: a later day's sync brings them)",
                    row.source.changed_after
                )
            } else if row.source.rows == row.lake.rows {
                "MISMATCH (same count, different ids)".to_string()
            } else {
                format!(
                    "MISMATCH ({:+} rows)",
                    row.lake.rows as i64 - row.source.rows as i64
                )
            };
            println!(
                "  {:<30} {:>10} {:>10}  {result}",
                row.lake_table, row.source.rows, row.lake.rows
            );
        }
    }
}
