//! Full snapshots of master tables, chunked by primary-key ranges and read in parallel.
//! Rows carry the captured columns (`medlake_source::arrow_schema`): no secret lands.

use chrono::NaiveDate;
use futures::{stream, StreamExt, TryStreamExt};
use medlake_catalog::{Catalog, RunKind};
use medlake_lake::Lake;
use medlake_schema::Table;
use medlake_source::BusinessSource;
use tracing::info;

use crate::{Result, SyncProgress, TableSyncReport};

/// How a full sync reads.
#[derive(Debug, Clone, Copy)]
pub struct FullSyncOptions {
    /// Chunks read at the same time (DataX's channels).
    pub parallelism: usize,
    /// Ids per chunk.
    pub chunk_ids: i64,
}

impl Default for FullSyncOptions {
    fn default() -> Self {
        FullSyncOptions {
            parallelism: 4,
            chunk_ids: 50_000,
        }
    }
}

/// Snapshots every table in `tables` into `ods_<table>_full`, partition `dt`.
pub async fn full_sync(
    source: &dyn BusinessSource,
    lake: &Lake,
    catalog: &Catalog,
    tables: &[&'static Table],
    dt: NaiveDate,
    options: FullSyncOptions,
    progress: &dyn SyncProgress,
) -> Result<Vec<TableSyncReport>> {
    let mut reports = Vec::with_capacity(tables.len());
    for table in tables {
        reports.push(full_sync_table(source, lake, catalog, table, dt, options, progress).await?);
    }
    Ok(reports)
}

/// Snapshots one table; the run is recorded in the catalog whatever its outcome.
pub async fn full_sync_table(
    source: &dyn BusinessSource,
    lake: &Lake,
    catalog: &Catalog,
    table: &'static Table,
    dt: NaiveDate,
    options: FullSyncOptions,
    progress: &dyn SyncProgress,
) -> Result<TableSyncReport> {
    let job = snapshot(source, lake, table, dt, options, progress);
    crate::recorded_run(catalog, RunKind::FullSync, table.name, Some(dt), job).await
}

async fn snapshot(
    source: &dyn BusinessSource,
    lake: &Lake,
    table: &'static Table,
    dt: NaiveDate,
    options: FullSyncOptions,
    progress: &dyn SyncProgress,
) -> Result<TableSyncReport> {
    let lake_table = table.ods_full_name();
    // A partition overwrite would merge into a schema still holding a password hash.
    medlake_changes::refuse_landed_secrets(lake, table, &lake_table).await?;
    let bounds = source.id_bounds(table).await?;
    let chunks = id_chunks(bounds, options.chunk_ids.max(1));
    let expected = bounds.map(|(lo, hi)| u64::try_from(hi - lo + 1).unwrap_or(0));
    progress.table_started(table.name, expected);
    let batches: Vec<_> = stream::iter(chunks)
        .map(|(lo, hi)| async move {
            let batch = source.read_ids(table, lo, hi).await?;
            progress.rows_read(table.name, (hi - lo + 1) as u64);
            Ok::<_, crate::IngestError>(batch)
        })
        .buffered(options.parallelism.max(1))
        .try_collect()
        .await?;
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    let bytes: u64 = batches
        .iter()
        .map(|b| b.get_array_memory_size() as u64)
        .sum();
    let schema = medlake_source::arrow_schema(table);
    lake.replace_partition(&lake_table, dt, schema, batches)
        .await?;
    progress.table_finished(table.name, rows);
    info!(table = table.name, rows, %dt, "full snapshot committed");
    Ok(TableSyncReport {
        table: table.name.into(),
        lake_table,
        rows,
        bytes,
        commits: 1,
    })
}

/// Splits `lo..=hi` into consecutive ranges of at most `size` ids.
fn id_chunks(bounds: Option<(i64, i64)>, size: i64) -> Vec<(i64, i64)> {
    let Some((lo, hi)) = bounds else {
        return Vec::new();
    };
    let mut chunks = Vec::new();
    let mut start = lo;
    while start <= hi {
        let end = start.saturating_add(size - 1).min(hi);
        chunks.push((start, end));
        if end == i64::MAX {
            break;
        }
        start = end + 1;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::id_chunks;

    #[test]
    fn chunks_cover_the_range_exactly_once() {
        assert_eq!(id_chunks(Some((1, 10)), 4), vec![(1, 4), (5, 8), (9, 10)]);
        assert_eq!(id_chunks(Some((5, 5)), 4), vec![(5, 5)]);
        assert!(id_chunks(None, 4).is_empty());
        assert_eq!(
            id_chunks(Some((i64::MAX - 1, i64::MAX)), 10),
            vec![(i64::MAX - 1, i64::MAX)]
        );
    }
}
