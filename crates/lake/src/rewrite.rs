//! Rewriting a whole table and forgetting its past: the lake's part in removing a column
//! that must not be kept (`medlake lake forget-secrets` drops password hashes an older
//! medlake landed).
//!
//! A Delta table remembers. An overwrite only marks the old Parquet files removed (time
//! travel still reads them), and its log keeps every old file's statistics, the minimum and
//! maximum of each column. [`Lake::purge_history`] deletes both, so the latest version is
//! all the table holds: a vacuum with zero retention deletes the data files it no longer
//! references, and the log before a fresh checkpoint of the latest version is deleted.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{Duration, Utc};
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::vacuum::{Clock, VacuumBuilder, VacuumMode};
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTable;
use futures::TryStreamExt;

use crate::{
    count_rows, without_checkpoint, CommitStats, Lake, LakeError, Result, PARTITION_COLUMN,
};

/// What [`Lake::purge_history`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeStats {
    /// Data files the latest version does not reference.
    pub data_files: usize,
    /// Log files (commits and checkpoints) before the new checkpoint.
    pub log_files: usize,
}

/// The clock the purge's vacuum reads: a minute ahead, so the files the rewrite just
/// removed count as expired even when the vacuum runs in the same millisecond, or the
/// object store's clock is a little behind.
#[derive(Debug)]
struct AMinuteAhead;

impl Clock for AMinuteAhead {
    fn current_timestamp_millis(&self) -> i64 {
        (Utc::now() + Duration::minutes(1)).timestamp_millis()
    }
}

impl Lake {
    /// The Arrow schema of table `name` at its latest version (the partition column
    /// included), `None` for a table never written. Writers ask it before writing, to
    /// refuse a table holding a column that must not be there.
    pub async fn table_schema(&self, name: &str) -> Result<Option<SchemaRef>> {
        let Some(table) = self.load(name).await? else {
            return Ok(None);
        };
        let state = table.snapshot().map_err(|e| LakeError::delta(name, e))?;
        Ok(Some(state.snapshot().arrow_schema()))
    }

    /// Every row of table `name` at its latest version, `dt` included as a plain string
    /// column; nothing for a table never written. Held in memory: for rewriting a table
    /// whole ([`overwrite_table`](Self::overwrite_table)), not for reading a large one.
    pub async fn read_table(&self, name: &str) -> Result<Vec<RecordBatch>> {
        if self.load(name).await?.is_none() {
            return Ok(Vec::new());
        }
        let ctx = SessionContext::new();
        self.register(&ctx, name).await?;
        let frame = ctx.table(name).await.map_err(LakeError::query)?;
        frame.collect().await.map_err(LakeError::query)
    }

    /// Replaces every row of table `name` with `batches` (in `schema`, which carries `dt`)
    /// in one commit, the table's schema becoming `schema`: the way to drop a column from
    /// a table, which a partition overwrite's schema merge never does. The table's `txn`
    /// markers stay (Delta keeps each writer's latest version across commits), so capture
    /// resumes where it was. The files of earlier versions stay until
    /// [`purge_history`](Self::purge_history).
    pub async fn overwrite_table(
        &self,
        name: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<CommitStats> {
        let rows = count_rows(&batches);
        let batches = if batches.is_empty() {
            vec![RecordBatch::new_empty(schema)]
        } else {
            batches
        };
        let table = self.handle(name).await?;
        let table = table
            .write(batches)
            .with_partition_columns([PARTITION_COLUMN])
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(SchemaMode::Overwrite)
            .with_commit_properties(without_checkpoint(CommitProperties::default()))
            .await
            .map_err(|e| LakeError::delta(name, e))?;
        self.committed(name, &table, rows).await
    }

    /// Physically deletes what table `name` no longer holds at its latest version: every
    /// data file that version does not reference (a vacuum in full mode with zero
    /// retention, its retention check off), then the log before a checkpoint of the latest
    /// version (old commits and checkpoints carry the removed files' column statistics).
    /// Time travel to earlier versions ends here. Idempotent: a second purge deletes and
    /// commits nothing.
    ///
    /// Delta refuses a retention under seven days by default because a reader or writer
    /// still working on an older version would lose its files; the caller must know that
    /// no one writes the table meanwhile (`medlake lake forget-secrets` says to stop
    /// capture first). A reader that had the table open reopens it.
    pub async fn purge_history(&self, name: &str) -> Result<PurgeStats> {
        let table = self.handle(name).await?;
        if table.version().is_none() {
            return Ok(PurgeStats::default());
        }
        let (table, data_files) = vacuum_everything(name, table).await?;
        deltalake::checkpoints::create_checkpoint(&table, None)
            .await
            .map_err(|e| LakeError::delta(name, e))?;
        let version = table.version().unwrap_or_default();
        // Every log file before the checkpoint goes, however recent: the cut-off is ahead.
        let cutoff = (Utc::now() + Duration::minutes(1)).timestamp_millis();
        let log_files = deltalake::checkpoints::cleanup_expired_logs_for(
            version,
            table.log_store().as_ref(),
            cutoff,
            None,
        )
        .await
        .map_err(|e| LakeError::delta(name, e))?;
        self.remember(name, &table);
        Ok(PurgeStats {
            data_files,
            log_files,
        })
    }
}

/// A vacuum of every data file the latest version of a table does not reference: full
/// mode (files no commit names too), zero retention with the check off, a clock ahead.
fn vacuum_of(table: DeltaTable) -> VacuumBuilder {
    table
        .vacuum()
        .with_retention_period(Duration::zero())
        .with_enforce_retention_duration(false)
        .with_mode(VacuumMode::Full)
        .with_clock(Arc::new(AMinuteAhead))
}

/// Vacuums `table` (of lake table `name`) when a file it would delete still exists, and
/// returns the table and how many files were deleted. The log keeps a removed file's
/// tombstone for a week after a vacuum deleted the file, and a vacuum lists it again: run
/// unconditionally, every purge would commit a vacuum of files long gone.
async fn vacuum_everything(name: &str, table: DeltaTable) -> Result<(DeltaTable, usize)> {
    let (_, planned) = vacuum_of(table.clone())
        .with_dry_run(true)
        .await
        .map_err(|e| LakeError::delta(name, e))?;
    let existing: HashSet<String> = table
        .log_store()
        .object_store(None)
        .list(None)
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .map_err(LakeError::storage)?;
    let doomed = planned
        .files_deleted
        .iter()
        .filter(|f| existing.contains(f.as_str()))
        .count();
    if doomed == 0 {
        return Ok((table, 0));
    }
    let (table, _) = vacuum_of(table)
        .with_commit_properties(without_checkpoint(CommitProperties::default()))
        .await
        .map_err(|e| LakeError::delta(name, e))?;
    Ok((table, doomed))
}

#[cfg(test)]
mod tests;
