//! Change records shaped like Maxwell's JSON, as Arrow: `database, table, type, ts, xid,
//! commit, position, data, old`, plus the partition `dt` (the event's own business day).
//!
//! `data` is a struct with the table's typed columns, so the warehouse reads
//! `data['consultation_fee']` as a decimal rather than parsing JSON. `old` holds the
//! changed columns' previous values as a JSON object where the capture knows them
//! (binlog capture does; capture by query does not, and leaves it null). `data_extra` holds,
//! as a JSON object, source columns the business schema does not declare (a column added by
//! DDL after the schema was written): the lake's schema stays the contract, nothing is lost.
//!
//! Every writer of change records (query capture here, binlog capture in `medlake-cdc`)
//! assembles its batches with [`change_record_batch`].

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime};
use deltalake::arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Array, StringArray, StructArray, TimestampMicrosecondArray,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use medlake_schema::Table;

use crate::{IngestError, Result};

/// The writer id carried in the `txn` action of every capture commit.
pub const APP_ID: &str = "medlake-capture";

/// Seconds the business' local time is ahead of UTC (Asia/Shanghai has no daylight saving).
const LOCAL_OFFSET_SECONDS: i64 = 8 * 3600;

/// The schema of `ods_<table>_inc`.
pub fn change_record_schema(table: &Table) -> SchemaRef {
    let data = medlake_source::arrow_schema(table);
    Arc::new(Schema::new(vec![
        Field::new("database", DataType::Utf8, false),
        Field::new("table", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("ts", DataType::Int64, false),
        Field::new("xid", DataType::Int64, true),
        Field::new("commit", DataType::Boolean, true),
        Field::new("position", DataType::Utf8, true),
        Field::new("data", DataType::Struct(data.fields().clone()), false),
        Field::new("old", DataType::Utf8, true),
        Field::new("data_extra", DataType::Utf8, true),
        Field::new(medlake_lake::PARTITION_COLUMN, DataType::Utf8, false),
    ]))
}

/// The business day (`YYYY-MM-DD`) of a local timestamp in microseconds.
pub fn event_day(local_micros: i64) -> String {
    DateTime::from_timestamp_micros(local_micros)
        .map(|t| t.naive_utc().date().to_string())
        .unwrap_or_default()
}

/// How the rows of one capture batch are labelled.
#[derive(Debug, Clone)]
pub(crate) enum CaptureMode {
    /// First capture of a table: every row is a `bootstrap-insert` of day `dt`.
    Bootstrap { dt: String },
    /// Later captures: `insert` when the row was created at its last update, else `update`.
    Stream,
}

/// The per-record columns of a batch of change records, one entry per row of `data`.
#[derive(Debug, Clone, Default)]
pub struct ChangeColumns {
    /// `insert`, `update`, `delete` or `bootstrap-insert`.
    pub types: Vec<&'static str>,
    /// Event time, seconds since the epoch (UTC).
    pub ts: Vec<i64>,
    /// Transaction id in the source, where known.
    pub xid: Vec<Option<i64>>,
    /// Whether the record is the last of its transaction, where known.
    pub commit: Vec<Option<bool>>,
    /// Source position (`file:offset` for a binlog), where known.
    pub position: Vec<Option<String>>,
    /// Previous values of the changed columns as a JSON object, where known.
    pub old: Vec<Option<String>>,
    /// Source columns the schema does not declare, as a JSON object.
    pub data_extra: Vec<Option<String>>,
    /// Partition: the event's business day.
    pub dt: Vec<String>,
}

/// Assembles change records of `table` from the rows `data` (in `arrow_schema(table)`) and
/// their per-record columns.
pub fn change_record_batch(
    table: &Table,
    database: &str,
    data: &RecordBatch,
    columns: ChangeColumns,
) -> Result<RecordBatch> {
    let n = data.num_rows();
    let lengths = [
        columns.types.len(),
        columns.ts.len(),
        columns.xid.len(),
        columns.commit.len(),
        columns.position.len(),
        columns.old.len(),
        columns.data_extra.len(),
        columns.dt.len(),
    ];
    if lengths.iter().any(|&l| l != n) {
        return Err(IngestError::Inconsistent(format!(
            "change records of {}: {n} rows but column lengths {lengths:?}",
            table.name
        )));
    }
    let schema = change_record_schema(table);
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![database; n])),
        Arc::new(StringArray::from(vec![table.name; n])),
        Arc::new(StringArray::from(columns.types)),
        Arc::new(Int64Array::from(columns.ts)),
        Arc::new(Int64Array::from(columns.xid)),
        Arc::new(BooleanArray::from(columns.commit)),
        Arc::new(StringArray::from(columns.position)),
        Arc::new(StructArray::from(data.clone())),
        Arc::new(StringArray::from(columns.old)),
        Arc::new(StringArray::from(columns.data_extra)),
        Arc::new(StringArray::from(columns.dt)),
    ];
    Ok(RecordBatch::try_new(schema, arrays)?)
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
    change_record_batch(table, database, rows, columns)
}

/// Epoch seconds (UTC) of a local business time given in microseconds.
pub fn local_micros_to_epoch_seconds(local_micros: i64) -> i64 {
    local_micros.div_euclid(1_000_000) - LOCAL_OFFSET_SECONDS
}

/// The business day of an epoch time in seconds (UTC), e.g. a binlog event's timestamp.
pub fn event_day_of_epoch(seconds: i64) -> String {
    event_day((seconds + LOCAL_OFFSET_SECONDS) * 1_000_000)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_day_is_the_local_date() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
            .unwrap()
            .and_hms_micro_opt(23, 59, 59, 999_999)
            .unwrap();
        assert_eq!(event_day(t.and_utc().timestamp_micros()), "2026-03-01");
    }
}
