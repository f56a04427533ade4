//! One captured row change, and its two shapes: Maxwell's JSON (for Kafka and any Maxwell
//! consumer) and the lake's change records (`medlake_changes::change_record_schema`).

use std::collections::BTreeMap;

use deltalake::arrow::record_batch::RecordBatch;
use medlake_schema::{SourceColumn, Table};
use mysql_async::Value as MyValue;
use serde_json::{json, Value as Json};

use crate::{BinlogPosition, CdcError, Result};

mod maxwell;

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A row inserted.
    Insert,
    /// A row updated (the change carries the previous values).
    Update,
    /// A row deleted (the change's `data` is the row as it was).
    Delete,
    /// A row read by a bootstrap snapshot.
    BootstrapInsert,
}

impl ChangeKind {
    /// Maxwell's name of the kind (`insert`, `update`, `delete`, `bootstrap-insert`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Insert => "insert",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
            ChangeKind::BootstrapInsert => "bootstrap-insert",
        }
    }
}

/// One row change of a business table, values as the server sent them.
#[derive(Debug, Clone)]
pub struct RowChange {
    /// Database the table is in.
    pub database: String,
    /// The business table.
    pub table: &'static Table,
    /// Insert, update, delete or bootstrap insert.
    pub kind: ChangeKind,
    /// Event time, seconds since the epoch (UTC).
    pub ts: i64,
    /// Transaction id (binlog XID), `None` for bootstrap rows and non-transactional tables.
    pub xid: Option<u64>,
    /// Whether this is the last change of its transaction.
    pub commit: bool,
    /// Binlog position after the transaction's commit, `None` for bootstrap rows.
    pub position: Option<BinlogPosition>,
    /// The row after the change (before it, for a delete), in the order of the table's
    /// captured columns (`Table::captured_columns`: no secret column).
    pub data: Vec<MyValue>,
    /// For an update: the row before it, in the same order.
    pub before: Option<Vec<MyValue>>,
    /// Columns of the source row that the business schema does not declare (added by DDL),
    /// after the change, by name. Never a secret column: those are dropped by name.
    pub extra: BTreeMap<String, MyValue>,
    /// Those columns before an update.
    pub extra_before: BTreeMap<String, MyValue>,
}

/// Splits a source row (column names and values) into the table's captured columns in
/// their order (missing ones NULL) and the columns the schema does not declare. Secret
/// columns (password hashes) are dropped here, by name: they are expected in every row of
/// their table and must reach neither `data` nor `data_extra`, in the lake or in Maxwell's
/// JSON.
pub fn split_by_schema<'n>(
    table: &Table,
    names: impl IntoIterator<Item = std::borrow::Cow<'n, str>>,
    values: Vec<MyValue>,
) -> (Vec<MyValue>, BTreeMap<String, MyValue>) {
    let mut data = vec![MyValue::NULL; table.captured_columns().len()];
    let mut extra = BTreeMap::new();
    for (name, value) in names.into_iter().zip(values) {
        match table.source_column(&name) {
            SourceColumn::Captured(i, _) => data[i] = value,
            SourceColumn::Undeclared => {
                extra.insert(name.into_owned(), value);
            }
            SourceColumn::Secret => {}
        }
    }
    (data, extra)
}

impl RowChange {
    /// The value of `id`, the primary key of every business table.
    pub fn id(&self) -> Option<i64> {
        match self.data.first() {
            Some(MyValue::Int(v)) => Some(*v),
            Some(MyValue::UInt(v)) => i64::try_from(*v).ok(),
            _ => None,
        }
    }

    /// The Kafka message key Maxwell writes: `{"database":..,"table":..,"pk.id":..}`.
    pub fn kafka_key(&self) -> String {
        json!({"database": self.database, "table": self.table.name, "pk.id": self.id()}).to_string()
    }

    /// The business day the change belongs to: the local day of its `update_time` (the
    /// binlog event's own time for a row without one, or with a zero or invalid one).
    pub fn event_day(&self) -> String {
        let update = self.table.captured_index("update_time");
        match update.and_then(|i| self.data.get(i)) {
            Some(MyValue::Date(y, m, d, ..))
                if chrono::NaiveDate::from_ymd_opt(i32::from(*y), u32::from(*m), u32::from(*d))
                    .is_some() =>
            {
                format!("{y:04}-{m:02}-{d:02}")
            }
            _ => medlake_changes::event_day_of_epoch(self.ts),
        }
    }
}

/// Whether `changes` (all of one table) are a bootstrap: an empty list is one too (a table
/// that was empty at the snapshot).
pub(crate) fn is_bootstrap(changes: &[&RowChange]) -> bool {
    changes
        .first()
        .is_none_or(|c| c.kind == ChangeKind::BootstrapInsert)
}

/// Maxwell's `bootstrap-start` / `bootstrap-complete` message around a table's bootstrap.
pub(crate) fn bootstrap_marker(kind: &str, database: &str, table: &str, ts: i64) -> Json {
    json!({"database": database, "table": table, "type": kind, "ts": ts, "data": {}})
}

/// The changes of one table as lake change records (`ods_<table>_inc` rows).
pub fn lake_records(table: &'static Table, changes: &[&RowChange]) -> Result<RecordBatch> {
    let mut rows = medlake_source::RowsBuilder::new(table, changes.len());
    let mut columns = medlake_changes::ChangeColumns::default();
    let database = changes
        .first()
        .map(|c| c.database.clone())
        .unwrap_or_default();
    for change in changes {
        for (i, value) in change.data.iter().enumerate() {
            let cell = medlake_source::mysql_cell(value).map_err(|reason| CdcError::Decode {
                position: change
                    .position
                    .as_ref()
                    .map_or_else(|| "bootstrap".into(), ToString::to_string),
                reason: format!(
                    "{}.{}: {reason}",
                    table.name,
                    table.captured_columns()[i].name
                ),
            })?;
            rows.push(i, cell)?;
        }
        columns.types.push(change.kind.as_str());
        columns.ts.push(change.ts);
        columns
            .xid
            .push(change.xid.and_then(|x| i64::try_from(x).ok()));
        columns.commit.push(Some(change.commit));
        columns
            .position
            .push(change.position.as_ref().map(ToString::to_string));
        columns.old.push(change.old_object().map(|o| o.to_text()));
        columns
            .data_extra
            .push(change.extra_object().map(|o| o.to_text()));
        columns.dt.push(change.event_day());
    }
    let data = rows.finish()?;
    Ok(medlake_changes::change_record_batch(
        table, &database, &data, columns,
    )?)
}

#[cfg(test)]
mod tests;
