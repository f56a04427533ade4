//! The change-record shape: Maxwell's JSON fields as Arrow, the rows of every
//! `ods_<table>_inc` table: `database, table, type, ts, xid, commit, position, data, old,
//! data_extra`, plus the partition `dt` (the event's own business day).
//!
//! `data` is a struct with the table's typed columns, so the warehouse reads
//! `data['consultation_fee']` as a decimal rather than parsing JSON. `old` holds the
//! changed columns' previous values as a JSON object where the capture knows them
//! (binlog capture does; capture by query does not, and leaves it null). `data_extra` holds,
//! as a JSON object, source columns the business schema does not declare (a column added by
//! DDL after the schema was written): the lake's schema stays the contract, nothing is lost.
//! Secret columns (password hashes, `Column::secret`) are in none of them: `data` holds the
//! table's captured columns only, and the writers drop secrets by name before `old` and
//! `data_extra` are written. [`refuse_landed_secrets`] and [`forget_secrets`] deal with a
//! lake an older medlake wrote with them (module `secrets`).
//!
//! Both writers of change records, query capture (`medlake-ingest`) and binlog capture
//! (`medlake-cdc`), assemble their batches with [`change_record_batch`], so the two paths
//! land the same shape and neither depends on the other.
//!
//! ```
//! let payment = medlake_schema::table("payment").unwrap();
//! let schema = medlake_changes::change_record_schema(payment);
//! assert!(schema.field_with_name("data").is_ok());
//! assert_eq!(medlake_changes::event_day_of_epoch(1_767_196_799), "2025-12-31");
//! ```

use std::sync::Arc;

use chrono::DateTime;
use deltalake::arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray, StructArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::record_batch::RecordBatch;
use medlake_schema::Table;

mod secrets;

pub use secrets::{
    forget_secrets, landed_secret_columns, refuse_landed_secrets, ForgetReport, SecretsError,
};

/// What can go wrong assembling change records.
#[derive(Debug, thiserror::Error)]
pub enum ChangeRecordError {
    /// The per-record columns do not have one entry per row.
    #[error("change records of {table}: {rows} rows but column lengths {lengths:?}")]
    Lengths {
        /// Business table.
        table: String,
        /// Rows of `data`.
        rows: usize,
        /// Lengths of the per-record columns.
        lengths: Vec<usize>,
    },
    /// Building the Arrow batch failed (a bug if it happens).
    #[error("change records: {0}")]
    Arrow(#[from] ArrowError),
}

/// Seconds the business' local time is ahead of UTC (Asia/Shanghai has no daylight saving;
/// docs/domain.md, 'Event time').
const LOCAL_OFFSET_SECONDS: i64 = 8 * 3600;

/// The schema of `ods_<table>_inc`; `data` holds the table's captured columns (no secret).
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
) -> Result<RecordBatch, ChangeRecordError> {
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
        return Err(ChangeRecordError::Lengths {
            table: table.name.to_string(),
            rows: n,
            lengths: lengths.to_vec(),
        });
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

/// Epoch seconds (UTC) of a local business time given in microseconds.
pub fn local_micros_to_epoch_seconds(local_micros: i64) -> i64 {
    local_micros.div_euclid(1_000_000) - LOCAL_OFFSET_SECONDS
}

/// The business day of an epoch time in seconds (UTC), e.g. a binlog event's timestamp.
pub fn event_day_of_epoch(seconds: i64) -> String {
    event_day((seconds + LOCAL_OFFSET_SECONDS) * 1_000_000)
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
