//! Maxwell's JSON shape of a change, written and read with money exact.
//!
//! Maxwell writes a DECIMAL as a JSON number with the column's exact digits
//! (`12345678901234567.89`). A `serde_json::Value` would hold that number as a binary float
//! (`1.2345678901234568e16`, off by cents), so money never passes through one: it is
//! written as raw number text ([`RawValue`]) and read back from the raw text of the
//! message. Zero dates (`0000-00-00 00:00:00`) are written as Maxwell writes them and
//! read back as the driver's zero date, so both paths land them the same way.

use std::collections::BTreeMap;

use medlake_schema::{ColumnType, SourceColumn, Table};
use mysql_async::Value as MyValue;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{json, Value as Json};

use super::{ChangeKind, RowChange};
use crate::BinlogPosition;

/// One value of a message: JSON, number text kept as written, or a nested object.
pub(crate) enum Cell {
    Json(Json),
    Raw(Box<RawValue>),
    Object(Object),
}

/// A JSON object whose keys keep the order given (the table's column order, as Maxwell).
#[derive(Default)]
pub(crate) struct Object(Vec<(String, Cell)>);

impl Object {
    fn push(&mut self, key: impl Into<String>, value: Cell) {
        self.0.push((key.into(), value));
    }

    /// The object as JSON text.
    pub(crate) fn to_text(&self) -> String {
        // Serializing values, raw numbers and string keys cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Json(v) => v.serialize(s),
            Cell::Raw(v) => v.serialize(s),
            Cell::Object(o) => o.serialize(s),
        }
    }
}

impl Serialize for Object {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A value as JSON, the way Maxwell writes it: numbers for integers and decimals (money
/// with its exact digits), text for strings, `YYYY-MM-DD HH:MM:SS.ffffff` for datetimes
/// and `YYYY-MM-DD` for dates.
pub(crate) fn json_cell(ty: Option<ColumnType>, value: &MyValue) -> Cell {
    match value {
        MyValue::NULL => Cell::Json(Json::Null),
        MyValue::Int(v) => Cell::Json(json!(v)),
        MyValue::UInt(v) => Cell::Json(json!(v)),
        MyValue::Float(v) => Cell::Json(json!(v)),
        MyValue::Double(v) => Cell::Json(json!(v)),
        MyValue::Bytes(b) => {
            let text = String::from_utf8_lossy(b);
            match ty {
                Some(ColumnType::Money) => money_cell(&text),
                _ => Cell::Json(json!(text)),
            }
        }
        MyValue::Date(y, m, d, h, mi, s, us) => {
            let text = if ty == Some(ColumnType::Date)
                || (ty.is_none() && (*h, *mi, *s, *us) == (0, 0, 0, 0))
            {
                format!("{y:04}-{m:02}-{d:02}")
            } else {
                format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
            };
            Cell::Json(json!(text))
        }
        MyValue::Time(neg, days, h, mi, s, us) => {
            let sign = if *neg { "-" } else { "" };
            let hours = u64::from(*days) * 24 + u64::from(*h);
            Cell::Json(json!(format!("{sign}{hours:02}:{mi:02}:{s:02}.{us:06}")))
        }
    }
}

/// Money as a JSON number with exactly its digits (two decimals); text that is no
/// decimal stays text.
fn money_cell(text: &str) -> Cell {
    medlake_source::parse_decimal_cents(text)
        .and_then(|cents| RawValue::from_string(cents_text(cents)).ok())
        .map_or_else(|| Cell::Json(json!(text)), Cell::Raw)
}

fn cents_text(cents: i128) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

impl RowChange {
    /// The changed columns' previous values (Maxwell's `old`), `None` unless the change
    /// is an update.
    pub(crate) fn old_object(&self) -> Option<Object> {
        let before = self.before.as_ref()?;
        let mut old = Object::default();
        let columns = self.table.captured_columns().iter();
        for ((column, after), before) in columns.zip(&self.data).zip(before) {
            if after != before {
                old.push(column.name, json_cell(Some(column.ty), before));
            }
        }
        for (name, before) in &self.extra_before {
            if self.extra.get(name) != Some(before) {
                old.push(name.clone(), json_cell(None, before));
            }
        }
        Some(old)
    }

    /// The columns the schema does not declare, `None` when there are none.
    pub(crate) fn extra_object(&self) -> Option<Object> {
        let mut extra = Object::default();
        for (name, value) in &self.extra {
            extra.push(name.clone(), json_cell(None, value));
        }
        (!extra.is_empty()).then_some(extra)
    }

    /// The change as one line of Maxwell's JSON: `database, table, type, ts, xid, commit,
    /// position, primary_key, data` and, for updates, `old` with only the changed columns.
    /// Money keeps its exact digits.
    pub fn maxwell_line(&self) -> String {
        let mut data = Object::default();
        for (column, value) in self.table.captured_columns().iter().zip(&self.data) {
            data.push(column.name, json_cell(Some(column.ty), value));
        }
        for (name, value) in &self.extra {
            data.push(name.clone(), json_cell(None, value));
        }
        let mut out = Object::default();
        out.push("database", Cell::Json(json!(self.database)));
        out.push("table", Cell::Json(json!(self.table.name)));
        out.push("type", Cell::Json(json!(self.kind.as_str())));
        out.push("ts", Cell::Json(json!(self.ts)));
        if let Some(xid) = self.xid {
            out.push("xid", Cell::Json(json!(xid)));
        }
        if self.commit {
            out.push("commit", Cell::Json(json!(true)));
        }
        if let Some(p) = &self.position {
            out.push("position", Cell::Json(json!(p.to_string())));
        }
        out.push("primary_key", Cell::Json(json!([self.id()])));
        out.push("data", Cell::Object(data));
        if let Some(old) = self.old_object() {
            out.push("old", Cell::Object(old));
        }
        out.to_text()
    }

    /// The change in Maxwell's JSON shape as a value, for inspection. Numbers in a value
    /// are binary floats: [`maxwell_line`](Self::maxwell_line) is what is written.
    pub fn maxwell_json(&self) -> Json {
        serde_json::from_str(&self.maxwell_line()).unwrap_or(Json::Null)
    }

    /// Reads a change back from a line of Maxwell's JSON (as
    /// [`maxwell_line`](Self::maxwell_line) writes it), typed by the business schema, so
    /// that a change that went through Kafka lands exactly as one captured directly, money
    /// to the cent. A secret column in `data` or `old` (a message an older medlake or
    /// Maxwell itself published) is dropped, not an error. The error names the field,
    /// never a value.
    pub fn from_maxwell_text(text: &str) -> Result<RowChange, String> {
        let fields: BTreeMap<String, &RawValue> =
            serde_json::from_str(text).map_err(|_| "not a JSON object".to_string())?;
        let field = |name: &str| {
            fields
                .get(name)
                .copied()
                .ok_or_else(|| format!("no '{name}'"))
        };
        let text_field = |name: &str| -> Result<String, String> {
            serde_json::from_str::<String>(field(name)?.get())
                .map_err(|_| format!("'{name}' is not text"))
        };
        let table_name = text_field("table")?;
        let table = medlake_schema::table(&table_name)
            .ok_or_else(|| format!("unknown table '{table_name}'"))?;
        let kind = match text_field("type")?.as_str() {
            "insert" => ChangeKind::Insert,
            "update" => ChangeKind::Update,
            "delete" => ChangeKind::Delete,
            "bootstrap-insert" => ChangeKind::BootstrapInsert,
            other => return Err(format!("'{other}' is not a row change")),
        };
        let object = |name: &str| -> Result<Option<BTreeMap<String, &RawValue>>, String> {
            match fields.get(name) {
                None => Ok(None),
                Some(raw) if raw.get() == "null" => Ok(None),
                Some(raw) => serde_json::from_str(raw.get())
                    .map(Some)
                    .map_err(|_| format!("'{name}' is not an object")),
            }
        };
        let data = object("data")?.ok_or("no 'data'")?;
        let (values, extra) = values_from_json(table, &data)?;
        let (before, extra_before) = match object("old")? {
            Some(old) => {
                let mut merged = data.clone();
                merged.extend(old);
                let (b, e) = values_from_json(table, &merged)?;
                (Some(b), e)
            }
            None if kind == ChangeKind::Update => (Some(values.clone()), extra.clone()),
            None => (None, BTreeMap::new()),
        };
        let number = |name: &str| -> Result<Option<Json>, String> {
            fields
                .get(name)
                .map(|raw| serde_json::from_str::<Json>(raw.get()))
                .transpose()
                .map_err(|_| format!("'{name}' is not JSON"))
        };
        let position = match number("position")?.as_ref().and_then(Json::as_str) {
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
            database: text_field("database")?,
            table,
            kind,
            ts: number("ts")?
                .as_ref()
                .and_then(Json::as_i64)
                .ok_or("'ts' is not an integer")?,
            xid: number("xid")?.as_ref().and_then(Json::as_u64),
            commit: number("commit")?
                .as_ref()
                .and_then(Json::as_bool)
                .unwrap_or(false),
            position,
            data: values,
            before,
            extra,
            extra_before,
        })
    }

    /// [`from_maxwell_text`](Self::from_maxwell_text) of a JSON value (numbers in it are
    /// already floats: for tests and values built in code).
    pub fn from_maxwell_json(json: &Json) -> Result<RowChange, String> {
        RowChange::from_maxwell_text(&json.to_string())
    }
}

/// A JSON row as the table's captured values (in captured-column order) and the
/// undeclared columns; secret columns are dropped by name, never kept as undeclared.
fn values_from_json(
    table: &Table,
    row: &BTreeMap<String, &RawValue>,
) -> Result<(Vec<MyValue>, BTreeMap<String, MyValue>), String> {
    let mut values = vec![MyValue::NULL; table.captured_columns().len()];
    let mut extra = BTreeMap::new();
    for (name, raw) in row {
        let place = table.source_column(name);
        if matches!(place, SourceColumn::Secret) {
            continue;
        }
        let json: Json = serde_json::from_str(raw.get())
            .map_err(|_| format!("{}.{} is not JSON", table.name, name))?;
        match place {
            SourceColumn::Captured(i, column) => {
                let value = match column.ty {
                    ColumnType::Money => money_from_json(raw, &json),
                    ty => value_from_json(ty, &json),
                };
                values[i] = value
                    .ok_or_else(|| format!("{}.{} does not fit its type", table.name, name))?;
            }
            SourceColumn::Undeclared => {
                extra.insert(name.clone(), untyped_value_from_json(&json));
            }
            SourceColumn::Secret => {}
        }
    }
    Ok((values, extra))
}

/// Money from its raw number text (exact), or from text; a float in exponent notation
/// (written by an older medlake) is rounded to cents.
fn money_from_json(raw: &RawValue, json: &Json) -> Option<MyValue> {
    let cents = match json {
        Json::Null => return Some(MyValue::NULL),
        Json::String(s) => medlake_source::parse_decimal_cents(s)?,
        // The float's own decimal expansion to the cent, not a product that rounds again.
        Json::Number(_) => medlake_source::parse_decimal_cents(raw.get()).or_else(|| {
            json.as_f64()
                .and_then(|f| medlake_source::parse_decimal_cents(&format!("{f:.2}")))
        })?,
        _ => return None,
    };
    Some(MyValue::Bytes(cents_text(cents).into_bytes()))
}

/// The inverse of [`json_cell`] for a column of the schema (money aside).
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
        ColumnType::Money => MyValue::Bytes(json.as_str()?.into()),
        ColumnType::DateTime => {
            let text = json.as_str()?;
            match medlake_schema::parse_datetime(text) {
                Some(t) => date_value(t.date(), t.time()),
                None => invalid_date(text)?,
            }
        }
        ColumnType::Date => {
            let text = json.as_str()?;
            match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                Ok(d) => date_value(d, chrono::NaiveTime::MIN),
                Err(_) => invalid_date(text)?,
            }
        }
    })
}

/// A date the server kept but the calendar has not (`0000-00-00 00:00:00`,
/// `2026-02-31`): its digits as the driver's date value, which lands like one captured
/// directly (see `medlake_source::invalid_date_sentinel`).
fn invalid_date(text: &str) -> Option<MyValue> {
    let digits: Vec<u32> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let part = |i: usize| digits.get(i).copied().unwrap_or(0);
    if digits.len() < 3 || part(1) > 99 || part(2) > 99 {
        return None;
    }
    Some(MyValue::Date(
        u16::try_from(part(0)).ok()?,
        part(1) as u8,
        part(2) as u8,
        u8::try_from(part(3)).ok()?,
        u8::try_from(part(4)).ok()?,
        u8::try_from(part(5)).ok()?,
        part(6),
    ))
}

pub(crate) fn date_value(d: chrono::NaiveDate, t: chrono::NaiveTime) -> MyValue {
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
/// everything else as text (which [`json_cell`] writes back unchanged).
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
