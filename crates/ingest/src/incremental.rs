//! Incremental capture by query: rows changed since the watermark become change records.
//!
//! Each batch goes: read rows after the committed position -> note the batch as pending
//! in the catalog -> append to the lake in one commit carrying `txn(APP_ID, batch)` ->
//! mark it committed in the catalog. A crash between any two steps is mended by
//! [`recover`]: the lake's own `txn` version says whether the pending batch landed.

use chrono::NaiveDateTime;
use medlake_catalog::{Catalog, RunKind};
use medlake_lake::{AppTransaction, Lake};
use medlake_schema::Table;
use medlake_source::{BusinessSource, Watermark};
use tracing::{info, warn};

use crate::change_records::{change_records, last_position, CaptureMode};
use crate::{IngestError, Result, SyncProgress, TableSyncReport, APP_ID};

/// How an incremental sync reads.
#[derive(Debug, Clone, Copy)]
pub struct IncSyncOptions {
    /// Rows per batch (one Delta commit each).
    pub batch_rows: usize,
    /// Capture only changes before this local time (`None`: everything there is).
    pub until: Option<NaiveDateTime>,
    /// Stop with an error at this point of this batch, as a crash would (for crash tests).
    pub crash_at: Option<(CrashPoint, i64)>,
}

/// The points between the steps of a capture batch where a crash test can stop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// The batch is noted pending in the catalog but not written to the lake.
    BeforeLakeCommit,
    /// The batch is in the lake but the catalog still has it pending.
    AfterLakeCommit,
}

impl Default for IncSyncOptions {
    fn default() -> Self {
        IncSyncOptions {
            batch_rows: 200_000,
            until: None,
            crash_at: None,
        }
    }
}

/// Captures the changes of every table in `tables`.
pub async fn inc_sync(
    source: &dyn BusinessSource,
    lake: &Lake,
    catalog: &Catalog,
    tables: &[&'static Table],
    options: IncSyncOptions,
    progress: &dyn SyncProgress,
) -> Result<Vec<TableSyncReport>> {
    let mut reports = Vec::with_capacity(tables.len());
    for table in tables {
        reports.push(inc_sync_table(source, lake, catalog, table, options, progress).await?);
    }
    Ok(reports)
}

/// Captures one table's changes; the run is recorded in the catalog whatever its outcome.
pub async fn inc_sync_table(
    source: &dyn BusinessSource,
    lake: &Lake,
    catalog: &Catalog,
    table: &'static Table,
    options: IncSyncOptions,
    progress: &dyn SyncProgress,
) -> Result<TableSyncReport> {
    let job = capture(source, lake, catalog, table, options, progress);
    crate::recorded_run(catalog, RunKind::IncSync, table.name, None, job).await
}

async fn capture(
    source: &dyn BusinessSource,
    lake: &Lake,
    catalog: &Catalog,
    table: &'static Table,
    options: IncSyncOptions,
    progress: &dyn SyncProgress,
) -> Result<TableSyncReport> {
    let lake_table = table.ods_inc_name();
    medlake_changes::refuse_landed_secrets(lake, table, &lake_table).await?;
    recover(lake, catalog, table).await?;
    let mut state = catalog.capture_state(table.name)?;
    if state.committed.is_none() && state.bootstrap_dt.is_none() {
        let dt = bootstrap_day(source, table, options.until).await?;
        catalog.set_bootstrap(table.name, Some(dt))?;
        state.bootstrap_dt = Some(dt);
    }
    let mode = match state.bootstrap_dt {
        Some(dt) => CaptureMode::Bootstrap { dt: dt.to_string() },
        None => CaptureMode::Stream,
    };
    let database = source.database();
    let mut report = TableSyncReport {
        table: table.name.into(),
        lake_table: lake_table.clone(),
        ..Default::default()
    };
    progress.table_started(table.name, None);
    let mut after = state
        .committed
        .map(|(update_time, id)| Watermark { update_time, id });
    let mut batch = state.committed_batch;
    loop {
        let rows = source
            .read_changes(table, after, options.until, options.batch_rows)
            .await?;
        let Some(position) = last_position(&rows)? else {
            break;
        };
        let n = rows.num_rows();
        progress.rows_read(table.name, n as u64);
        report.bytes += rows.get_array_memory_size() as u64;
        let records = change_records(table, &database, &rows, &mode)?;
        batch += 1;
        catalog.set_pending(table.name, batch, position)?;
        crash_if(options, CrashPoint::BeforeLakeCommit, batch)?;
        let marker = AppTransaction {
            app_id: APP_ID.into(),
            version: batch,
        };
        lake.append(&lake_table, vec![records], Some(marker))
            .await?;
        crash_if(options, CrashPoint::AfterLakeCommit, batch)?;
        catalog.commit_batch(table.name, batch, position)?;
        report.rows += n as u64;
        report.commits += 1;
        after = Some(Watermark {
            update_time: position.0,
            id: position.1,
        });
        if n < options.batch_rows {
            break;
        }
    }
    if state.bootstrap_dt.is_some() {
        catalog.set_bootstrap(table.name, None)?;
    }
    progress.table_finished(table.name, report.rows);
    info!(
        table = table.name,
        rows = report.rows,
        commits = report.commits,
        "changes captured"
    );
    Ok(report)
}

fn crash_if(options: IncSyncOptions, point: CrashPoint, batch: i64) -> Result<()> {
    match options.crash_at {
        Some(at) if at == (point, batch) => Err(IngestError::Inconsistent(format!(
            "injected crash {point:?} in batch {batch}"
        ))),
        _ => Ok(()),
    }
}

/// Settles a batch left pending by a crash: committed if the lake has it, forgotten if not.
async fn recover(lake: &Lake, catalog: &Catalog, table: &'static Table) -> Result<()> {
    let state = catalog.capture_state(table.name)?;
    let in_lake = lake
        .app_transaction_version(&table.ods_inc_name(), APP_ID)
        .await?
        .unwrap_or(0);
    match state.pending {
        Some((batch, position)) if in_lake >= batch => {
            warn!(
                table = table.name,
                batch, "resuming: the interrupted batch reached the lake; keeping it"
            );
            catalog.commit_batch(table.name, batch, position)?;
        }
        Some((batch, _)) => {
            warn!(
                table = table.name,
                batch, "resuming: the interrupted batch never reached the lake; reading it again"
            );
            catalog.clear_pending(table.name)?;
        }
        None => {}
    }
    let committed = catalog.capture_state(table.name)?.committed_batch;
    if in_lake != committed {
        return Err(IngestError::Inconsistent(format!(
            "lake table {} holds capture batch {in_lake} but the catalog knows batch {committed}: \
             the catalog does not belong to this lake (restore it, or drop the table to capture again)",
            table.ods_inc_name()
        )));
    }
    Ok(())
}

/// The day a table's bootstrap belongs to: the day being synced (the last day before
/// `until`), or without a bound the day of the table's latest change.
async fn bootstrap_day(
    source: &dyn BusinessSource,
    table: &'static Table,
    until: Option<NaiveDateTime>,
) -> Result<chrono::NaiveDate> {
    let day = match until {
        Some(u) => (u - chrono::Duration::microseconds(1)).date(),
        None => match source.latest_change(table).await? {
            Some(latest) => latest.date(),
            None => chrono::Local::now().date_naive(),
        },
    };
    Ok(day)
}
