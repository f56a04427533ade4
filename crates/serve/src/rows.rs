//! Query results as JSON rows (for the web UI and API) and CSV (for download).

use deltalake::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef, UInt64Type};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Number, Value};

/// How one column becomes JSON: numbers as numbers, booleans as booleans, the rest as text.
enum ColumnJson {
    Int(ArrayRef),
    UInt(ArrayRef),
    Float(ArrayRef),
    Bool(ArrayRef),
    Text(ArrayRef),
}

impl ColumnJson {
    fn of(column: &ArrayRef) -> Result<ColumnJson, ArrowError> {
        let t = column.data_type();
        Ok(
            if matches!(
                t,
                DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
            ) {
                ColumnJson::Int(cast(column, &DataType::Int64)?)
            } else if matches!(
                t,
                DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64
            ) {
                ColumnJson::UInt(cast(column, &DataType::UInt64)?)
            } else if t.is_floating()
                || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))
            {
                ColumnJson::Float(cast(column, &DataType::Float64)?)
            } else if *t == DataType::Boolean {
                ColumnJson::Bool(column.clone())
            } else {
                ColumnJson::Text(column.clone())
            },
        )
    }

    fn value(&self, row: usize, text: &ArrayFormatter<'_>) -> Value {
        let array = match self {
            ColumnJson::Int(a)
            | ColumnJson::UInt(a)
            | ColumnJson::Float(a)
            | ColumnJson::Bool(a)
            | ColumnJson::Text(a) => a,
        };
        if array.is_null(row) {
            return Value::Null;
        }
        match self {
            ColumnJson::Int(a) => Value::from(a.as_primitive::<Int64Type>().value(row)),
            ColumnJson::UInt(a) => Value::from(a.as_primitive::<UInt64Type>().value(row)),
            ColumnJson::Float(a) => Number::from_f64(a.as_primitive::<Float64Type>().value(row))
                .map_or(Value::Null, Value::Number),
            ColumnJson::Bool(a) => Value::Bool(a.as_boolean().value(row)),
            ColumnJson::Text(_) => Value::String(text.value(row).to_string()),
        }
    }
}

/// One text formatter per column of `batch`.
fn text_formatters<'a>(
    batch: &'a RecordBatch,
    options: &'a FormatOptions<'a>,
) -> Result<Vec<ArrayFormatter<'a>>, ArrowError> {
    batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), options))
        .collect()
}

/// Every row of `batches` as a JSON array of cells, in column order.
pub fn to_json_rows(batches: &[RecordBatch]) -> Result<Vec<Value>, ArrowError> {
    let options = FormatOptions::default();
    let mut rows = Vec::new();
    for batch in batches {
        let columns: Vec<ColumnJson> = batch
            .columns()
            .iter()
            .map(ColumnJson::of)
            .collect::<Result<_, _>>()?;
        let texts = text_formatters(batch, &options)?;
        for row in 0..batch.num_rows() {
            rows.push(Value::Array(
                columns
                    .iter()
                    .zip(&texts)
                    .map(|(c, t)| c.value(row, t))
                    .collect(),
            ));
        }
    }
    Ok(rows)
}

/// The rows as CSV (RFC 4180 quoting), with a header line.
pub fn to_csv(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<String, ArrowError> {
    let mut out = String::new();
    let header: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| csv_field(f.name()))
        .collect();
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    let options = FormatOptions::default();
    for batch in batches {
        let texts = text_formatters(batch, &options)?;
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = batch
                .columns()
                .iter()
                .zip(&texts)
                .map(|(c, t)| {
                    if c.is_null(row) {
                        String::new()
                    } else {
                        csv_field(&t.value(row).to_string())
                    }
                })
                .collect();
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
    }
    Ok(out)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::array::{Decimal128Array, Int32Array, StringArray};
    use deltalake::arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int32, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("amount", DataType::Decimal128(10, 2), true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(vec![Some(1), None])),
                Arc::new(StringArray::from(vec![Some("a,\"b\""), Some("c")])),
                Arc::new(
                    Decimal128Array::from(vec![Some(1250), None])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ],
        )
        .unwrap()
    }

    #[test]
    fn json_keeps_numbers_numbers_and_nulls_null() {
        let rows = to_json_rows(&[batch()]).unwrap();
        assert_eq!(rows[0], serde_json::json!([1, "a,\"b\"", 12.5]));
        assert_eq!(rows[1], serde_json::json!([null, "c", null]));
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let b = batch();
        let csv = to_csv(&b.schema(), std::slice::from_ref(&b)).unwrap();
        assert_eq!(csv, "n,name,amount\r\n1,\"a,\"\"b\"\"\",12.50\r\n,c,\r\n");
    }
}
