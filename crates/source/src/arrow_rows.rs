//! Building Arrow record batches from business rows, one typed builder per column.

use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use deltalake::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Int32Builder, Int64Builder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::arrow::record_batch::RecordBatch;
use medlake_schema::{Column, ColumnType, Table};

use crate::SourceError;

/// The Arrow type a business column is read as. DATETIME(6) is a timestamp without time
/// zone (local business time), money is Decimal128(19, 2).
pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::BigInt => DataType::Int64,
        ColumnType::Int => DataType::Int32,
        ColumnType::Varchar(_) | ColumnType::Text => DataType::Utf8,
        ColumnType::Money => DataType::Decimal128(19, 2),
        ColumnType::DateTime => DataType::Timestamp(TimeUnit::Microsecond, None),
        ColumnType::Date => DataType::Date32,
        ColumnType::Bool => DataType::Boolean,
    }
}

/// The Arrow schema of a business table as captured: [`Table::captured_columns`] in
/// storage order, so no secret column (a password hash) is ever read or landed.
pub fn arrow_schema(table: &Table) -> SchemaRef {
    let fields: Vec<Field> = table
        .captured_columns()
        .iter()
        .map(|c| Field::new(c.name, arrow_type(c.ty), c.nullable))
        .collect();
    Arc::new(Schema::new(fields))
}

enum ColumnBuilder {
    Int64(Int64Builder),
    Int32(Int32Builder),
    Utf8(StringBuilder),
    Money(Decimal128Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Date(Date32Builder),
    Bool(BooleanBuilder),
}

/// A cell as a database driver hands it over, before it is checked against the column type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// SQL NULL.
    Null,
    /// Any integer.
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text (also decimals and dates as text).
    Text(&'a str),
    /// A date and time (a DATE arrives with time 00:00).
    DateTime(NaiveDateTime),
    /// A value the driver could not represent (e.g. MySQL's zero date).
    Invalid,
}

/// Accumulates the rows of one table and turns them into a [`RecordBatch`] in
/// [`arrow_schema`]`(table)`: push every cell of a row in captured-column order
/// ([`Table::captured_columns`], no secrets), then the next row.
pub struct RowsBuilder {
    table: &'static Table,
    columns: Vec<ColumnBuilder>,
    /// Per column, the zero or invalid dates landed as NULL or [`invalid_date_sentinel`].
    invalid_dates: Vec<u64>,
}

/// What a zero or otherwise invalid date (`0000-00-00 00:00:00`, `2026-02-31`, which
/// MySQL and MariaDB keep under a lenient `sql_mode`) lands as in a NOT NULL column:
/// `0001-01-01 00:00:00`, a value no business row holds, so quality checks can find it.
/// A nullable column gets NULL. Either way the row lands and capture goes on.
pub fn invalid_date_sentinel() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .unwrap_or(NaiveDate::MIN)
        .and_time(chrono::NaiveTime::MIN)
}

impl RowsBuilder {
    /// A builder for about `capacity` rows of `table`.
    pub fn new(table: &'static Table, capacity: usize) -> Self {
        let columns = table
            .captured_columns()
            .iter()
            .map(|c| match c.ty {
                ColumnType::BigInt => ColumnBuilder::Int64(Int64Builder::with_capacity(capacity)),
                ColumnType::Int => ColumnBuilder::Int32(Int32Builder::with_capacity(capacity)),
                ColumnType::Varchar(_) | ColumnType::Text => {
                    ColumnBuilder::Utf8(StringBuilder::with_capacity(capacity, capacity * 16))
                }
                ColumnType::Money => ColumnBuilder::Money(
                    Decimal128Builder::with_capacity(capacity)
                        .with_data_type(DataType::Decimal128(19, 2)),
                ),
                ColumnType::DateTime => {
                    ColumnBuilder::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity))
                }
                ColumnType::Date => ColumnBuilder::Date(Date32Builder::with_capacity(capacity)),
                ColumnType::Bool => ColumnBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
            })
            .collect();
        let invalid_dates = vec![0; table.captured_columns().len()];
        RowsBuilder {
            table,
            columns,
            invalid_dates,
        }
    }

    /// Appends cell `index` (a position in [`Table::captured_columns`]) of the current row.
    pub fn push(&mut self, index: usize, cell: Cell<'_>) -> Result<(), SourceError> {
        let column = &self.table.captured_columns()[index];
        let cell = match cell {
            Cell::Invalid if matches!(column.ty, ColumnType::DateTime | ColumnType::Date) => {
                self.invalid_dates[index] += 1;
                if column.nullable {
                    Cell::Null
                } else {
                    Cell::DateTime(invalid_date_sentinel())
                }
            }
            cell => cell,
        };
        let ok = match (&mut self.columns[index], cell) {
            (_, Cell::Null) if !column.nullable => false,
            (b, Cell::Null) => {
                append_null(b);
                true
            }
            (ColumnBuilder::Int64(b), Cell::Int(v)) => {
                b.append_value(v);
                true
            }
            (ColumnBuilder::Int32(b), Cell::Int(v)) => match i32::try_from(v) {
                Ok(v) => {
                    b.append_value(v);
                    true
                }
                Err(_) => false,
            },
            (ColumnBuilder::Bool(b), Cell::Int(v)) => {
                b.append_value(v != 0);
                true
            }
            (ColumnBuilder::Utf8(b), Cell::Text(v)) => {
                b.append_value(v);
                true
            }
            (ColumnBuilder::Money(b), cell) => match money_cents(&cell) {
                Some(c) => {
                    b.append_value(c);
                    true
                }
                None => false,
            },
            (ColumnBuilder::Timestamp(b), Cell::DateTime(t)) => {
                b.append_value(t.and_utc().timestamp_micros());
                true
            }
            (ColumnBuilder::Timestamp(b), Cell::Text(s)) => match medlake_schema::parse_datetime(s)
            {
                Some(t) => {
                    b.append_value(t.and_utc().timestamp_micros());
                    true
                }
                None => false,
            },
            (ColumnBuilder::Date(b), Cell::DateTime(t)) if t.time() == chrono::NaiveTime::MIN => {
                b.append_value(days_since_epoch(t.date()));
                true
            }
            (ColumnBuilder::Date(b), Cell::Text(s)) => {
                match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                    Ok(d) => {
                        b.append_value(days_since_epoch(d));
                        true
                    }
                    Err(_) => false,
                }
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(bad_value(self.table, column))
        }
    }

    /// The rows pushed so far as one batch. Zero or invalid dates among them are logged
    /// per column (counts, never values).
    pub fn finish(self) -> Result<RecordBatch, SourceError> {
        for (column, &n) in self
            .table
            .captured_columns()
            .iter()
            .zip(&self.invalid_dates)
        {
            if n > 0 {
                tracing::warn!(
                    table = self.table.name,
                    column = column.name,
                    rows = n,
                    landed_as = if column.nullable {
                        "NULL"
                    } else {
                        "0001-01-01 00:00:00"
                    },
                    "zero or invalid dates in the source"
                );
            }
        }
        let arrays: Vec<ArrayRef> = self
            .columns
            .into_iter()
            .map(|b| -> ArrayRef {
                match b {
                    ColumnBuilder::Int64(mut b) => Arc::new(b.finish()),
                    ColumnBuilder::Int32(mut b) => Arc::new(b.finish()),
                    ColumnBuilder::Utf8(mut b) => Arc::new(b.finish()),
                    ColumnBuilder::Money(mut b) => Arc::new(b.finish()),
                    ColumnBuilder::Timestamp(mut b) => Arc::new(b.finish()),
                    ColumnBuilder::Date(mut b) => Arc::new(b.finish()),
                    ColumnBuilder::Bool(mut b) => Arc::new(b.finish()),
                }
            })
            .collect();
        Ok(RecordBatch::try_new(arrow_schema(self.table), arrays)?)
    }
}

fn append_null(b: &mut ColumnBuilder) {
    match b {
        ColumnBuilder::Int64(b) => b.append_null(),
        ColumnBuilder::Int32(b) => b.append_null(),
        ColumnBuilder::Utf8(b) => b.append_null(),
        ColumnBuilder::Money(b) => b.append_null(),
        ColumnBuilder::Timestamp(b) => b.append_null(),
        ColumnBuilder::Date(b) => b.append_null(),
        ColumnBuilder::Bool(b) => b.append_null(),
    }
}

fn bad_value(table: &Table, column: &Column) -> SourceError {
    SourceError::BadValue {
        table: table.name.to_string(),
        column: column.name.to_string(),
        expected: format!(
            "{:?}{}",
            column.ty,
            if column.nullable { "" } else { " NOT NULL" }
        ),
    }
}

fn days_since_epoch(d: NaiveDate) -> i32 {
    // 719_163 days from 0001-01-01 (CE day 1) to 1970-01-01.
    d.num_days_from_ce() - 719_163
}

use chrono::Datelike;

/// Cents of a money cell, exact for the two-decimal values a DECIMAL(19,2) column holds.
fn money_cents(cell: &Cell<'_>) -> Option<i128> {
    match cell {
        Cell::Int(v) => Some(i128::from(*v) * 100),
        Cell::Real(v) if v.is_finite() => Some((v * 100.0).round() as i128),
        Cell::Text(s) => parse_decimal_cents(s),
        _ => None,
    }
}

/// Parses `"12.5"`, `"-0.05"`, `"3"` into cents; more than two decimals must be zeros.
pub fn parse_decimal_cents(s: &str) -> Option<i128> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    let whole: i128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac_digits = frac.as_bytes();
    if !frac_digits.iter().all(u8::is_ascii_digit) || frac_digits.iter().skip(2).any(|&c| c != b'0')
    {
        return None;
    }
    let cents = frac_digits
        .iter()
        .take(2)
        .chain(std::iter::repeat(&b'0'))
        .take(2)
        .fold(0i128, |acc, c| acc * 10 + i128::from(c - b'0'));
    let v = whole * 100 + cents;
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_parses_to_exact_cents() {
        assert_eq!(parse_decimal_cents("12.50"), Some(1250));
        assert_eq!(parse_decimal_cents("12.5"), Some(1250));
        assert_eq!(parse_decimal_cents("3"), Some(300));
        assert_eq!(parse_decimal_cents("-0.05"), Some(-5));
        assert_eq!(parse_decimal_cents("1.234"), None);
        assert_eq!(parse_decimal_cents("abc"), None);
    }

    #[test]
    fn real_money_rounds_to_cents() {
        assert_eq!(money_cents(&Cell::Real(0.1 + 0.2)), Some(30));
        assert_eq!(money_cents(&Cell::Real(199.99)), Some(19999));
    }

    #[test]
    fn secret_columns_are_neither_in_the_schema_nor_built() {
        for name in ["user", "doctor"] {
            let t = medlake_schema::table(name).unwrap();
            let schema = arrow_schema(t);
            assert!(t.secret_columns().count() > 0, "{name} has no secret");
            for secret in t.secret_columns() {
                assert!(
                    schema.field_with_name(secret.name).is_err(),
                    "{name}.{} is in the lake schema",
                    secret.name
                );
            }
            // A full row of captured cells makes a batch in that schema.
            let mut rows = RowsBuilder::new(t, 1);
            for (i, column) in t.captured_columns().iter().enumerate() {
                let cell = match column.ty {
                    ColumnType::DateTime => Cell::Text("2026-01-01 00:00:00.000000"),
                    ColumnType::Date => Cell::Text("2000-01-01"),
                    ColumnType::Money => Cell::Text("1.00"),
                    ColumnType::Varchar(_) | ColumnType::Text => Cell::Text("x"),
                    _ => Cell::Int(1),
                };
                rows.push(i, cell).unwrap();
            }
            assert_eq!(rows.finish().unwrap().schema(), schema);
        }
    }

    #[test]
    fn null_in_not_null_column_is_an_error_naming_the_column() {
        let t = medlake_schema::table("consultation").unwrap();
        let mut rows = RowsBuilder::new(t, 1);
        let err = rows.push(1, Cell::Null).unwrap_err().to_string();
        assert!(
            err.contains("consultation") && err.contains("user_id"),
            "{err}"
        );
    }

    #[test]
    fn a_zero_date_lands_as_null_or_the_sentinel_and_is_counted() {
        let t = medlake_schema::table("payment").unwrap();
        let mut rows = RowsBuilder::new(t, 1);
        let create = t.captured_index("create_time").unwrap();
        assert!(!t.captured_columns()[create].nullable);
        for (i, column) in t.captured_columns().iter().enumerate() {
            let cell = match column.ty {
                ColumnType::DateTime | ColumnType::Date => Cell::Invalid,
                ColumnType::Money => Cell::Text("1.00"),
                ColumnType::Varchar(_) | ColumnType::Text => Cell::Text("x"),
                _ => Cell::Int(1),
            };
            rows.push(i, cell).unwrap();
        }
        assert_eq!(rows.invalid_dates[create], 1);
        let batch = rows.finish().unwrap();
        let times = batch
            .column(create)
            .as_any()
            .downcast_ref::<deltalake::arrow::array::TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(
            times.value(0),
            invalid_date_sentinel().and_utc().timestamp_micros()
        );
        // Text in a date column that is no date stays an error: only the driver's own
        // invalid dates are landed.
        let mut rows = RowsBuilder::new(t, 1);
        assert!(rows.push(create, Cell::Text("not a date")).is_err());
    }
}
