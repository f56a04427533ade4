//! Query capture's change records: business rows read by `update_time` turned into the
//! change-record shape of `medlake-changes` (`bootstrap-insert` on a first capture,
//! `insert`/`update` after).

use chrono::{DateTime, NaiveDateTime};
use deltalake::arrow::array::{Array, Int64Array, TimestampMicrosecondArray};
use deltalake::arrow::record_batch::RecordBatch;
use medlake_changes::{
    change_record_batch, event_day, local_micros_to_epoch_seconds, ChangeColumns,
};
use medlake_schema::Table;

use crate::{IngestError, Result};

/// The writer id carried in the `txn` action of every capture commit.
pub const APP_ID: &str = "medlake-capture";

/// How the rows of one capture batch are labelled.
#[derive(Debug, Clone)]
pub(crate) enum CaptureMode {
    /// First capture of a table: every row is a `bootstrap-insert` of day `dt`.
    Bootstrap { dt: String },
    /// Later captures: `insert` when the row was created at its last update, else `update`.
    Stream,
}

/// Turns business rows of `table` into change records.
pub(crate) fn change_records(
    table: &Table,
    database: &str,
    rows: &RecordBatch,
    mode: &CaptureMode,
) -> Result<RecordBatch> {
    let n = rows.num_rows();
    let create = timestamp_column(rows, "create_time")?;
    let update = timestamp_column(rows, "update_time")?;
    let (types, dt): (Vec<&'static str>, Vec<String>) = (0..n)
        .map(|i| match mode {
            CaptureMode::Bootstrap { dt } => ("bootstrap-insert", dt.clone()),
            CaptureMode::Stream => {
                let kind = if create.value(i) == update.value(i) {
                    "insert"
                } else {
                    "update"
                };
                (kind, event_day(update.value(i)))
            }
        })
        .unzip();
    let ts = (0..n)
        .map(|i| local_micros_to_epoch_seconds(update.value(i)))
        .collect();
    let columns = ChangeColumns {
        types,
        ts,
        xid: vec![None; n],
        commit: vec![None; n],
        position: vec![None; n],
        old: vec![None; n],
        data_extra: vec![None; n],
        dt,
    };
    Ok(change_record_batch(table, database, rows, columns)?)
}

fn timestamp_column<'a>(
    rows: &'a RecordBatch,
    name: &str,
) -> Result<&'a TimestampMicrosecondArray> {
    rows.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>())
        .ok_or_else(|| IngestError::Inconsistent(format!("rows have no timestamp column {name}")))
}

/// The `(update_time, id)` of the last row of a batch ordered by them.
pub(crate) fn last_position(rows: &RecordBatch) -> Result<Option<(NaiveDateTime, i64)>> {
    let n = rows.num_rows();
    if n == 0 {
        return Ok(None);
    }
    let update = timestamp_column(rows, "update_time")?;
    let ids = rows
        .column_by_name("id")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .ok_or_else(|| IngestError::Inconsistent("rows have no id column".into()))?;
    let time = DateTime::from_timestamp_micros(update.value(n - 1))
        .map(|t| t.naive_utc())
        .ok_or_else(|| IngestError::Inconsistent("update_time out of range".into()))?;
    Ok(Some((time, ids.value(n - 1))))
}
