//! `medlake sync`: full snapshots and incremental capture for a business day, then the
//! reconciliation report.

use anyhow::{Context, Result};
use chrono::{NaiveDate, NaiveDateTime};
use medlake_catalog::Catalog;
use medlake_ingest::{
    FullSyncOptions, IncSyncOptions, Reconciliation, SyncProgress, TableSyncReport,
};
use medlake_lake::Lake;
use medlake_source::BusinessSource;

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

/// What a sync did.
#[derive(Debug, Default)]
pub struct SyncOutcome {
    /// The business day synced.
    pub day: Option<NaiveDate>,
    /// One report per table and part.
    pub reports: Vec<TableSyncReport>,
    /// The reconciliation, unless skipped.
    pub reconciliation: Option<Reconciliation>,
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
        let catalog = Catalog::open(&config.catalog.path).context("catalog")?;
        Ok(Handles {
            source,
            lake,
            catalog,
        })
    }
}

/// Runs a sync as `args` say.
pub async fn run(
    handles: &Handles,
    config: &Config,
    args: &SyncArgs,
    quiet: bool,
) -> Result<SyncOutcome> {
    let source = handles.source.as_ref();
    let day = match args.day {
        Some(d) => Some(d),
        None => latest_day(source).await?,
    };
    let Some(day) = day else {
        anyhow::bail!(
            "the business database {} has no rows yet (run `medlake simulate` first)",
            source.describe()
        );
    };
    let dt = day.to_string();
    let until = day.succ_opt().map(|d| d.and_time(chrono::NaiveTime::MIN));
    let mut outcome = SyncOutcome {
        day: Some(day),
        ..Default::default()
    };
    check_tables_known(&args.tables)?;
    let wanted = |t: &&'static medlake_schema::Table| {
        args.tables.is_empty() || args.tables.iter().any(|n| n == t.name)
    };
    let part = |full: bool| -> Vec<&'static medlake_schema::Table> {
        let skip = if full {
            args.only == Some(SyncPart::Inc)
        } else {
            args.only == Some(SyncPart::Full)
        };
        if skip {
            Vec::new()
        } else {
            medlake_ingest::tables_for(full)
                .into_iter()
                .filter(wanted)
                .collect()
        }
    };
    let (full_tables, inc_tables) = (part(true), part(false));
    if !full_tables.is_empty() {
        let bars = TableBars::new("snapshot", quiet);
        let options = FullSyncOptions {
            parallelism: config.sync.parallelism,
            chunk_ids: config.sync.chunk_ids,
        };
        let progress: &dyn SyncProgress = &bars;
        outcome.reports.extend(
            medlake_ingest::full_sync(
                source,
                &handles.lake,
                &handles.catalog,
                &full_tables,
                &dt,
                options,
                progress,
            )
            .await
            .context("full sync")?,
        );
    }
    if !inc_tables.is_empty() {
        let bars = TableBars::new("capture", quiet);
        let options = IncSyncOptions {
            batch_rows: config.sync.batch_rows,
            until,
            crash_at: None,
        };
        outcome.reports.extend(
            medlake_ingest::inc_sync(
                source,
                &handles.lake,
                &handles.catalog,
                &inc_tables,
                options,
                &bars,
            )
            .await
            .context("incremental sync")?,
        );
    }
    if !args.no_reconcile {
        let full_dt = (!full_tables.is_empty()).then_some(dt.as_str());
        outcome.reconciliation = Some(
            medlake_ingest::reconcile(
                source,
                &handles.lake,
                &handles.catalog,
                &full_tables,
                &inc_tables,
                full_dt,
            )
            .await
            .context("reconciliation")?,
        );
    }
    Ok(outcome)
}

fn check_tables_known(names: &[String]) -> Result<()> {
    for n in names {
        if medlake_schema::table(n).is_none() {
            let known: Vec<_> = medlake_schema::business_tables()
                .iter()
                .map(|t| t.name)
                .collect();
            anyhow::bail!("unknown table '{n}' (known: {})", known.join(", "));
        }
    }
    Ok(())
}

/// The business day of the latest change in any table of the source.
pub async fn latest_day(source: &dyn BusinessSource) -> Result<Option<NaiveDate>> {
    let mut latest: Option<NaiveDateTime> = None;
    for table in medlake_schema::business_tables() {
        let t = source
            .latest_change(table)
            .await
            .context("reading the business database")?;
        latest = latest.max(t);
    }
    Ok(latest.map(|t| t.date()))
}

/// Prints what a sync moved and the reconciliation report.
pub fn print_outcome(outcome: &SyncOutcome) {
    if let Some(day) = outcome.day {
        println!("sync of business day {day}");
    }
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
