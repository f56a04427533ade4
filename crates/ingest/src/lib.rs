//! Ingestion: business database -> lake, the jobs DataX (full snapshots) and Maxwell by
//! query (incremental change records) do in the classic stack.
//!
//! - [`full_sync`]: snapshots master tables into `ods_<table>_full`, partition `dt`,
//!   reading chunks of primary-key ranges in parallel; one atomic partition overwrite per table.
//! - [`inc_sync`]: captures every changed row since the table's watermark into
//!   `ods_<table>_inc` as Maxwell-shaped change records, partitioned by the event's own day.
//!   The batch number rides inside the Delta commit, so a crash at any point is resumed
//!   with nothing lost and nothing doubled.
//! - [`reconcile`]: rows and id sums per table in the source against the lake.
//! - [`sync_day`]: the three in order for one business day, as a [`SyncPlan`] says; the
//!   one call the CLI, the demo, the benchmarks and the tests make.
//!
//! Ingestion knows sources and the lake; it knows nothing of the warehouse built on top.

mod change_records;
mod error;
mod full;
mod incremental;
mod progress;
mod reconcile;
mod sync_day;

pub use change_records::APP_ID;
pub use error::IngestError;
pub use full::{full_sync, full_sync_table, FullSyncOptions};
pub use incremental::{inc_sync, inc_sync_table, CrashPoint, IncSyncOptions};
pub use progress::{NoProgress, SyncProgress};
pub use reconcile::{reconcile, ReconcileRow, Reconciliation};
pub use sync_day::{latest_business_day, sync_day, DaySync, SyncParts, SyncPhase, SyncPlan};

/// Result of ingestion jobs.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;

/// What one table's sync moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSyncReport {
    /// Business table.
    pub table: String,
    /// Lake table written.
    pub lake_table: String,
    /// Rows written to the lake.
    pub rows: u64,
    /// Approximate in-memory bytes of the rows moved.
    pub bytes: u64,
    /// Delta commits made.
    pub commits: u64,
}

/// The business tables a kind of sync covers, in schema order.
pub fn tables_for(full: bool) -> Vec<&'static medlake_schema::Table> {
    medlake_schema::business_tables()
        .iter()
        .filter(|t| {
            if full {
                t.kind == medlake_schema::TableKind::Master
            } else {
                t.changes
            }
        })
        .collect()
}

/// Runs one table's job with a run record in the catalog, whatever its outcome.
async fn recorded_run(
    catalog: &medlake_catalog::Catalog,
    kind: medlake_catalog::RunKind,
    table: &str,
    dt: Option<chrono::NaiveDate>,
    job: impl std::future::Future<Output = Result<TableSyncReport>>,
) -> Result<TableSyncReport> {
    use medlake_catalog::Outcome;
    let run = catalog.start_run(kind, table, dt)?;
    let result = job.await;
    match &result {
        Ok(r) => catalog.finish_run(run, Outcome::Succeeded, r.rows, r.bytes, None)?,
        Err(e) => catalog.finish_run(run, Outcome::Failed, 0, 0, Some(&e.to_string()))?,
    }
    result
}
