//! One captured row change, and its two shapes: Maxwell's JSON (for Kafka and any Maxwell
//! consumer) and the lake's change records (`medlake_changes::change_record_schema`).

use std::collections::BTreeMap;

use deltalake::arrow::record_batch::RecordBatch;
use medlake_schema::{ColumnType, Table};
use mysql_async::Value as MyValue;
use serde_json::{json, Map, Value as Json};

use crate::{BinlogPosition, CdcError, Result};

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
    /// The row after the change (before it, for a delete), in the schema's column order.
    pub data: Vec<MyValue>,
    /// For an update: the row before it, in the schema's column order.
    pub before: Option<Vec<MyValue>>,
    /// Columns of the source row that the business schema does not declare (added by DDL),
    /// after the change, by name.
    pub extra: BTreeMap<String, MyValue>,
    /// Those columns before an update.
    pub extra_before: BTreeMap<String, MyValue>,
}

/// Splits a source row (column names and values) into the schema's columns in schema order
/// (missing ones NULL) and the columns the schema does not declare.
pub fn split_by_schema<'n>(
    table: &Table,
    names: impl IntoIterator<Item = std::borrow::Cow<'n, str>>,
    values: Vec<MyValue>,
) -> (Vec<MyValue>, BTreeMap<String, MyValue>) {
    let mut data = vec![MyValue::NULL; table.columns.len()];
    let mut extra = BTreeMap::new();
    for (name, value) in names.into_iter().zip(values) {
        match table.column_index(&name) {
            Some(i) => data[i] = value,
            None => {
                extra.insert(name.into_owned(), value);
            }
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

    /// The changed columns' previous values as a JSON object (Maxwell's `old`), `None`
    /// unless the change is an update.
    pub fn old_json(&self) -> Option<Map<String, Json>> {
        let before = self.before.as_ref()?;
        let mut old = Map::new();
        for ((column, after), before) in self.table.columns.iter().zip(&self.data).zip(before) {
            if after != before {
                old.insert(column.name.into(), json_value(Some(column.ty), before));
            }
        }
        for (name, before) in &self.extra_before {
            if self.extra.get(name) != Some(before) {
                old.insert(name.clone(), json_value(None, before));
            }
        }
        Some(old)
    }

    /// The columns the schema does not declare as a JSON object, `None` when there are none.
    pub fn extra_json(&self) -> Option<Map<String, Json>> {
        (!self.extra.is_empty()).then(|| {
            self.extra
                .iter()
                .map(|(k, v)| (k.clone(), json_value(None, v)))
                .collect()
        })
    }

    /// The change in Maxwell's JSON shape: `database, table, type, ts, xid, commit,
    /// position, primary_key, data` and, for updates, `old` with only the changed columns.
    pub fn maxwell_json(&self) -> Json {
        let mut data = Map::new();
        for (column, value) in self.table.columns.iter().zip(&self.data) {
            data.insert(column.name.into(), json_value(Some(column.ty), value));
        }
        for (name, value) in &self.extra {
            data.insert(name.clone(), json_value(None, value));
        }
        let mut out = Map::new();
        out.insert("database".into(), json!(self.database));
        out.insert("table".into(), json!(self.table.name));
        out.insert("type".into(), json!(self.kind.as_str()));
        out.insert("ts".into(), json!(self.ts));
        if let Some(xid) = self.xid {
            out.insert("xid".into(), json!(xid));
        }
        if self.commit {
            out.insert("commit".into(), json!(true));
        }
        if let Some(p) = &self.position {
            out.insert("position".into(), json!(p.to_string()));
        }
        out.insert("primary_key".into(), json!([self.id()]));
        out.insert("data".into(), Json::Object(data));
        if let Some(old) = self.old_json() {
            out.insert("old".into(), Json::Object(old));
        }
        Json::Object(out)
    }

    /// The Kafka message key Maxwell writes: `{"database":..,"table":..,"pk.id":..}`.
    pub fn kafka_key(&self) -> String {
        json!({"database": self.database, "table": self.table.name, "pk.id": self.id()}).to_string()
    }

    /// The business day the change belongs to: the local day of its `update_time` (the
    /// binlog event's own time for a row without one).
    pub fn event_day(&self) -> String {
        let update = self.table.column_index("update_time");
        match update.and_then(|i| self.data.get(i)) {
            Some(MyValue::Date(y, m, d, ..)) => format!("{y:04}-{m:02}-{d:02}"),
            _ => medlake_changes::event_day_of_epoch(self.ts),
        }
    }
}

impl RowChange {
    /// Reads a change back from Maxwell's JSON (as [`maxwell_json`](Self::maxwell_json)
    /// writes it), typed by the business schema, so that a change that went through Kafka
    /// lands exactly as one captured directly. The error names the field, never a value.
    pub fn from_maxwell_json(json: &Json) -> std::result::Result<RowChange, String> {
        let field = |name: &str| json.get(name).ok_or_else(|| format!("no '{name}'"));
        let text = |name: &str| {
            field(name)?
                .as_str()
                .ok_or_else(|| format!("'{name}' is not text"))
        };
        let table_name = text("table")?;
        let table = medlake_schema::table(table_name)
            .ok_or_else(|| format!("unknown table '{table_name}'"))?;
        let kind = match text("type")? {
            "insert" => ChangeKind::Insert,
            "update" => ChangeKind::Update,
            "delete" => ChangeKind::Delete,
            "bootstrap-insert" => ChangeKind::BootstrapInsert,
            other => return Err(format!("'{other}' is not a row change")),
        };
        let data = field("data")?
            .as_object()
            .ok_or("'data' is not an object")?;
        let (values, extra) = values_from_json(table, data)?;
        let (before, extra_before) = match json.get("old").and_then(Json::as_object) {
            Some(old) => {
                let mut merged = data.clone();
                merged.extend(old.iter().map(|(k, v)| (k.clone(), v.clone())));
                let (b, e) = values_from_json(table, &merged)?;
                (Some(b), e)
            }
            None if kind == ChangeKind::Update => (Some(values.clone()), extra.clone()),
            None => (None, BTreeMap::new()),
        };
        let position = match json.get("position").and_then(Json::as_str) {
            Some(p) => {
                let (file, offset) = p.rsplit_once(':').ok_or("'position' is not file:offset")?;
                let offset = offset
                    .parse()
                    .map_err(|_| "'position' offset is not a number")?;
                Some(BinlogPosition::new(file, offset))
            }
            None => None,
        };
        Ok(RowChange {
            database: text("database")?.to_string(),
            table,
            kind,
            ts: field("ts")?.as_i64().ok_or("'ts' is not an integer")?,
            xid: json.get("xid").and_then(Json::as_u64),
            commit: json.get("commit").and_then(Json::as_bool).unwrap_or(false),
            position,
            data: values,
            before,
            extra,
            extra_before,
        })
    }
}

/// A JSON row as the schema's values (in column order) and the undeclared columns.
fn values_from_json(
    table: &Table,
    row: &Map<String, Json>,
) -> std::result::Result<(Vec<MyValue>, BTreeMap<String, MyValue>), String> {
    let mut values = vec![MyValue::NULL; table.columns.len()];
    let mut extra = BTreeMap::new();
    for (name, json) in row {
        match table.column_index(name) {
            Some(i) => {
                let column = &table.columns[i];
                values[i] = value_from_json(column.ty, json)
                    .ok_or_else(|| format!("{}.{} does not fit its type", table.name, name))?;
            }
            None => {
                extra.insert(name.clone(), untyped_value_from_json(json));
            }
        }
    }
    Ok((values, extra))
}

/// The inverse of [`json_value`] for a column of the schema.
fn value_from_json(ty: ColumnType, json: &Json) -> Option<MyValue> {
    if json.is_null() {
        return Some(MyValue::NULL);
    }
    Some(match ty {
        ColumnType::BigInt | ColumnType::Int => MyValue::Int(json.as_i64()?),
        ColumnType::Bool => match json {
            Json::Bool(b) => MyValue::Int(i64::from(*b)),
            _ => MyValue::Int(json.as_i64()?),
        },
        ColumnType::Varchar(_) | ColumnType::Text => MyValue::Bytes(json.as_str()?.into()),
        ColumnType::Money => match json {
            Json::String(s) => MyValue::Bytes(s.clone().into_bytes()),
            _ => {
                let cents = (json.as_f64()? * 100.0).round() as i64;
                MyValue::Bytes(medlake_schema::Value::money_string(cents).into_bytes())
            }
        },
        ColumnType::DateTime => {
            let t = medlake_schema::parse_datetime(json.as_str()?)?;
            date_value(t.date(), t.time())
        }
        ColumnType::Date => {
            let d = chrono::NaiveDate::parse_from_str(json.as_str()?, "%Y-%m-%d").ok()?;
            date_value(d, chrono::NaiveTime::MIN)
        }
    })
}

fn date_value(d: chrono::NaiveDate, t: chrono::NaiveTime) -> MyValue {
    use chrono::{Datelike, Timelike};
    MyValue::Date(
        u16::try_from(d.year()).unwrap_or(0),
        d.month() as u8,
        d.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond() / 1000,
    )
}

/// A column the schema does not declare keeps the JSON's own shape: integers, floats, and
/// everything else as text (which [`json_value`] writes back unchanged).
fn untyped_value_from_json(json: &Json) -> MyValue {
    match json {
        Json::Null => MyValue::NULL,
        Json::Bool(b) => MyValue::Int(i64::from(*b)),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => MyValue::Int(i),
            (None, Some(u)) => MyValue::UInt(u),
            _ => MyValue::Double(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => MyValue::Bytes(s.clone().into_bytes()),
        other => MyValue::Bytes(other.to_string().into_bytes()),
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

/// A value as JSON, the way Maxwell writes it: numbers for integers and decimals, text for
/// strings, `YYYY-MM-DD HH:MM:SS.ffffff` for datetimes and `YYYY-MM-DD` for dates.
pub fn json_value(ty: Option<ColumnType>, value: &MyValue) -> Json {
    match value {
        MyValue::NULL => Json::Null,
        MyValue::Int(v) => json!(v),
        MyValue::UInt(v) => json!(v),
        MyValue::Float(v) => json!(v),
        MyValue::Double(v) => json!(v),
        MyValue::Bytes(b) => {
            let text = String::from_utf8_lossy(b);
            match ty {
                Some(ColumnType::Money) => medlake_source::parse_decimal_cents(&text)
                    .and_then(|c| serde_json::Number::from_f64(c as f64 / 100.0))
                    .map_or_else(|| json!(text), Json::Number),
                _ => json!(text),
            }
        }
        MyValue::Date(y, m, d, h, mi, s, us) => {
            if ty == Some(ColumnType::Date) || (ty.is_none() && (*h, *mi, *s, *us) == (0, 0, 0, 0))
            {
                json!(format!("{y:04}-{m:02}-{d:02}"))
            } else {
                json!(format!(
                    "{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}"
                ))
            }
        }
        MyValue::Time(neg, days, h, mi, s, us) => {
            let sign = if *neg { "-" } else { "" };
            let hours = u64::from(*days) * 24 + u64::from(*h);
            json!(format!("{sign}{hours:02}:{mi:02}:{s:02}.{us:06}"))
        }
    }
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
                reason: format!("{}.{}: {reason}", table.name, table.columns[i].name),
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
        columns
            .old
            .push(change.old_json().map(|o| Json::Object(o).to_string()));
        columns
            .data_extra
            .push(change.extra_json().map(|o| Json::Object(o).to_string()));
        columns.dt.push(change.event_day());
    }
    let data = rows.finish()?;
    Ok(medlake_changes::change_record_batch(
        table, &database, &data, columns,
    )?)
}

#[cfg(test)]
mod tests;
