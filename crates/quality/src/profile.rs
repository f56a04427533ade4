//! Column profiles of a partition (Griffin's profiling): row count, and per column the
//! nulls, an estimate of distinct values, and for numbers min, max, mean, p50 and p95; for
//! dates and times min and max. Text is never profiled by value (it may be PHI), nor is a
//! column tagged PHI. One aggregate query reads the whole partition once.
//!
//! The profiles are kept per partition in the catalog; `volume` and `distribution` checks
//! compare a new partition's figures with those of the partitions before it.

use chrono::NaiveDate;
use deltalake::arrow::array::{Array, Float64Array, StringArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Schema};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::SessionContext;
use medlake_catalog::ProfileRecord;
use medlake_lake::PARTITION_COLUMN;

use crate::check::column_sql;
use crate::error::QualityError;
use crate::query::collect;

/// The profile row holding the partition's row count alone.
pub const ROWS: &str = "*";

/// How much of a column is profiled, by its type.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Depth {
    /// Nulls only (PHI, nested and binary columns).
    Nulls,
    /// Nulls and distinct values (text, booleans).
    Distinct,
    /// Nulls, distinct values, min and max (dates and times).
    Bounds,
    /// Everything (numbers).
    Numeric,
}

impl Depth {
    fn of(name: &str, data_type: &DataType, phi: bool) -> Depth {
        if phi {
            return Depth::Nulls;
        }
        match data_type {
            // A key's mean and percentiles say nothing: bounds and distinct values do.
            t if t.is_numeric() && is_key(name) => Depth::Bounds,
            t if t.is_numeric() => Depth::Numeric,
            DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(_, _)
            | DataType::Time32(_)
            | DataType::Time64(_) => Depth::Bounds,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean => {
                Depth::Distinct
            }
            _ => Depth::Nulls,
        }
    }

    /// The aggregates of column `c` of type `data_type`, in the order `read` takes them.
    fn aggregates(self, c: &str, data_type: &DataType) -> Vec<String> {
        let number = format!("CAST({c} AS DOUBLE)");
        let mut out = vec![format!("count({c})")];
        if self != Depth::Nulls {
            // The engine's estimate takes no floating-point input; their text form counts
            // the same distinct values.
            if data_type.is_floating() {
                out.push(format!("approx_distinct(CAST({c} AS VARCHAR))"));
            } else {
                out.push(format!("approx_distinct({c})"));
            }
        }
        match self {
            Depth::Bounds => {
                out.push(format!("CAST(min({c}) AS VARCHAR)"));
                out.push(format!("CAST(max({c}) AS VARCHAR)"));
            }
            Depth::Numeric => {
                out.push(format!("CAST(min({c}) AS VARCHAR)"));
                out.push(format!("CAST(max({c}) AS VARCHAR)"));
                out.push(format!("avg({number})"));
                out.push(format!(
                    "approx_percentile_cont(0.5) WITHIN GROUP (ORDER BY {number})"
                ));
                out.push(format!(
                    "approx_percentile_cont(0.95) WITHIN GROUP (ORDER BY {number})"
                ));
            }
            Depth::Nulls | Depth::Distinct => {}
        }
        out
    }
}

/// Whether a column holds keys (`id`, `doctor_id`, `data.id`): numbers, but not measures.
fn is_key(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    last == "id" || last.ends_with("_id")
}

/// The columns profiled: top-level columns but `dt`, and the fields of a change record's
/// `data` struct (`data.status`). `old` (only the changed columns) is left out.
fn profiled_columns(schema: &Schema) -> Vec<(String, DataType)> {
    let mut out = Vec::new();
    for field in schema.fields() {
        match (field.name().as_str(), field.data_type()) {
            (PARTITION_COLUMN, _) | ("old", _) => {}
            ("data", DataType::Struct(children)) => {
                for child in children {
                    out.push((format!("data.{}", child.name()), child.data_type().clone()));
                }
            }
            (name, data_type) => out.push((name.to_string(), data_type.clone())),
        }
    }
    out
}

/// Profiles the partition registered as `table` in `ctx`. `phi` columns get nulls only.
pub(crate) async fn profile(
    ctx: &SessionContext,
    table: &str,
    dt: NaiveDate,
    phi: &[String],
) -> Result<Vec<ProfileRecord>, QualityError> {
    let frame = ctx
        .table(table)
        .await
        .map_err(|e| QualityError::engine(table, "profile", e))?;
    let schema = frame.schema().as_arrow().clone();
    let columns: Vec<(String, Depth, DataType)> = profiled_columns(&schema)
        .into_iter()
        .map(|(name, t)| {
            let is_phi = phi.contains(&name);
            let depth = Depth::of(&name, &t, is_phi);
            (name, depth, t)
        })
        .collect();
    let mut select = vec!["count(*)".to_string()];
    for (name, depth, data_type) in &columns {
        select.extend(depth.aggregates(&column_sql(name), data_type));
    }
    let sql = format!("SELECT {} FROM {table}", select.join(", "));
    let batches = collect(ctx, table, "profile", &sql).await?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() == 1) else {
        return Ok(Vec::new());
    };
    let mut at = Reader { batch, next: 0 };
    let rows = at.number().unwrap_or(0.0) as u64;
    let mut out = vec![ProfileRecord::new(table, dt, ROWS, rows)];
    for (name, depth, _) in columns {
        let non_null = at.number().unwrap_or(0.0) as u64;
        let mut record = ProfileRecord::new(table, dt, &name, rows);
        record.null_count = rows.saturating_sub(non_null);
        if depth != Depth::Nulls {
            record.distinct_count = at.number().map(|d| d as u64);
        }
        if matches!(depth, Depth::Bounds | Depth::Numeric) {
            record.min = at.text();
            record.max = at.text();
        }
        if depth == Depth::Numeric {
            record.mean = at.number();
            record.p50 = at.number();
            record.p95 = at.number();
        }
        out.push(record);
    }
    Ok(out)
}

/// Reads the one row of the profile query, column after column.
struct Reader<'a> {
    batch: &'a RecordBatch,
    next: usize,
}

impl Reader<'_> {
    fn take(&mut self, to: &DataType) -> Option<std::sync::Arc<dyn Array>> {
        let column = self.batch.columns().get(self.next)?;
        self.next += 1;
        cast(column, to).ok()
    }

    fn number(&mut self) -> Option<f64> {
        let column = self.take(&DataType::Float64)?;
        let numbers = column.as_any().downcast_ref::<Float64Array>()?;
        (numbers.is_valid(0) && numbers.value(0).is_finite()).then(|| numbers.value(0))
    }

    fn text(&mut self) -> Option<String> {
        let column = self.take(&DataType::Utf8)?;
        let strings = column.as_any().downcast_ref::<StringArray>()?;
        strings.is_valid(0).then(|| strings.value(0).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::datatypes::{Field, Fields};

    #[test]
    fn change_records_are_profiled_by_their_data_fields() {
        let data = Fields::from(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]);
        let schema = Schema::new(vec![
            Field::new("type", DataType::Utf8, true),
            Field::new("data", DataType::Struct(data.clone()), true),
            Field::new("old", DataType::Struct(data), true),
            Field::new("dt", DataType::Utf8, true),
        ]);
        let names: Vec<String> = profiled_columns(&schema).into_iter().map(|c| c.0).collect();
        assert_eq!(names, ["type", "data.id", "data.name"]);
        assert_eq!(Depth::of("name", &DataType::Utf8, true), Depth::Nulls);
        let amount = Depth::of("amount", &DataType::Decimal128(19, 2), false);
        assert_eq!(amount, Depth::Numeric);
        assert_eq!(
            Depth::of("data.doctor_id", &DataType::Int64, false),
            Depth::Bounds
        );
        assert_eq!(Depth::of("id", &DataType::Int64, false), Depth::Bounds);
        assert_eq!(Depth::Numeric.aggregates("a", &DataType::Int64).len(), 7);
        let float = Depth::Numeric.aggregates("a", &DataType::Float64);
        assert_eq!(float[1], "approx_distinct(CAST(a AS VARCHAR))");
    }
}
