//! The step that computes `dws_metric_partial`: for one day, the partial aggregates of every
//! measure source, one row per (source, dimension, dimension value, part).
//!
//! A day reads only its own partition of each measure source, so building day 30 costs about
//! as much as day 1. How a measure splits into parts and how parts merge is decided in
//! [`crate::partials`]; this module runs the day's queries and writes the rows. A part's
//! day is a number, or in the binary column `ids` a Roaring set of ids (distinct counts) or
//! the counts per whole minute ([`crate::histogram`], quantiles). The window values are
//! merged from these rows by the values step (`values_step.rs`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use deltalake::arrow::array::{
    Array, BinaryArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::SessionContext;
use medlake_lake::PARTITION_COLUMN;
use roaring::RoaringTreemap;

use crate::arrow_columns::{float_column, text_column, typed_column};
use crate::error::WarehouseError;
use crate::histogram::{counts_to_bytes, parse_quantile_call, Counts};
use crate::metrics::{Dimension, MetricCatalog, SourceParts, OVERALL_VALUE};
use crate::partials::{ids_to_bytes, Combine, Part, METRIC_PARTIAL_TABLE};
use crate::sql::{collect, Batches};

/// The schema of `dws_metric_partial` (without `dt`).
pub fn metric_partial_schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        text("source"),
        text("dimension"),
        text("dimension_value"),
        text("dimension_label"),
        text("part"),
        text("combine"),
        Field::new("number", DataType::Float64, true),
        Field::new("ids", DataType::Binary, true),
    ]))
}

/// One row of `dws_metric_partial`.
#[derive(Debug, Clone, PartialEq)]
struct PartialRow {
    source: String,
    dimension: String,
    dimension_value: String,
    dimension_label: Option<String>,
    part: Part,
    number: Option<f64>,
    ids: Option<Vec<u8>>,
}

/// Computes day `dt`'s partial aggregates of every measure source.
pub(crate) async fn metric_partials(
    ctx: &SessionContext,
    catalog: &MetricCatalog,
    dt: NaiveDate,
) -> Result<Batches, WarehouseError> {
    let mut rows = Vec::new();
    for (source, parts) in catalog.source_parts() {
        let (day, columns) = day_rows(ctx, &source, dt).await?;
        for dimension in &parts.dimensions {
            let dim = catalog.dimensions.get(dimension).ok_or_else(|| {
                WarehouseError::model(
                    METRIC_PARTIAL_TABLE,
                    format!("unknown dimension {dimension}"),
                )
            })?;
            let cut = Cut {
                source: &source,
                parts: &parts,
                dimension,
                dim,
                columns: &columns,
            };
            rows.extend(dimension_partials(&day, &cut).await?);
        }
    }
    rows.sort_by(|a, b| {
        (&a.source, &a.dimension, &a.dimension_value, &a.part).cmp(&(
            &b.source,
            &b.dimension,
            &b.dimension_value,
            &b.part,
        ))
    });
    partial_batch(rows)
}

/// A session holding `source`'s rows of day `dt` as the table `day_rows`, and their schema.
async fn day_rows(
    ctx: &SessionContext,
    source: &str,
    dt: NaiveDate,
) -> Result<(SessionContext, SchemaRef), WarehouseError> {
    let sql = format!("SELECT * FROM {source} WHERE {PARTITION_COLUMN} = '{dt}'");
    let (schema, batches) = collect(ctx, METRIC_PARTIAL_TABLE, &sql).await?;
    let schema = batches.first().map(|b| b.schema()).unwrap_or(schema);
    let table = MemTable::try_new(schema.clone(), vec![batches])
        .map_err(|e| WarehouseError::model(METRIC_PARTIAL_TABLE, e))?;
    let day = SessionContext::new();
    day.register_table("day_rows", Arc::new(table))
        .map_err(|e| WarehouseError::model(METRIC_PARTIAL_TABLE, e))?;
    Ok((day, schema))
}

/// One source cut by one dimension.
struct Cut<'a> {
    source: &'a str,
    parts: &'a SourceParts,
    dimension: &'a str,
    dim: &'a Dimension,
    columns: &'a Schema,
}

/// The partials of one source cut by one dimension: one row per dimension value and part.
async fn dimension_partials(
    day: &SessionContext,
    cut: &Cut<'_>,
) -> Result<Vec<PartialRow>, WarehouseError> {
    let Cut {
        source,
        parts,
        dimension,
        dim,
        columns,
    } = *cut;
    let failed = |e: &dyn std::fmt::Display| {
        WarehouseError::model(METRIC_PARTIAL_TABLE, format!("{source}, {dimension}: {e}"))
    };
    let numbers: Vec<(&Part, String)> = parts
        .parts
        .iter()
        .filter_map(|p| p.day_number_sql().map(|sql| (p, sql)))
        .collect();
    let values: String = numbers
        .iter()
        .enumerate()
        .map(|(i, (_, sql))| format!(", {sql} AS n{i}"))
        .collect();
    let (grouped, key_value) = match &dim.key {
        None => (String::new(), format!("'{OVERALL_VALUE}'")),
        Some(key) => (
            format!(" WHERE {key} IS NOT NULL GROUP BY {key}"),
            format!("CAST({key} AS VARCHAR)"),
        ),
    };
    let label = match (&dim.key, &dim.label) {
        (None, _) => format!("'{}'", dim.label_zh.replace('\'', "''")),
        (Some(_), Some(l)) if columns.field_with_name(l).is_ok() => {
            format!("CAST(max({l}) AS VARCHAR)")
        }
        (Some(_), _) => key_value.clone(),
    };
    // `row_count` makes the overall query an aggregate even when every part is a distinct
    // count (kept as ids, not numbers): one row per dimension value, never one per fact.
    let sql = format!(
        "SELECT {key_value} AS dimension_value, {label} AS dimension_label{values}, \
         count(*) AS row_count FROM day_rows{grouped}"
    );
    let (_, batches) = collect(day, METRIC_PARTIAL_TABLE, &sql)
        .await
        .map_err(|e| failed(&e))?;
    let mut ids_of: BTreeMap<&Part, HashMap<String, RoaringTreemap>> = BTreeMap::new();
    for part in parts
        .parts
        .iter()
        .filter(|p| p.combine == Combine::Distinct)
    {
        ids_of.insert(
            part,
            day_ids(day, dim, part, &key_value)
                .await
                .map_err(|e| failed(&e))?,
        );
    }
    let minutes_of = day_minutes_of_parts(day, dim, parts, &key_value)
        .await
        .map_err(|e| failed(&e))?;
    let mut rows = Vec::new();
    for b in &batches {
        let (dvs, labels) = (
            text_column(b, 0, METRIC_PARTIAL_TABLE)?,
            text_column(b, 1, METRIC_PARTIAL_TABLE)?,
        );
        let number_columns = (0..numbers.len())
            .map(|i| float_column(b, 2 + i, METRIC_PARTIAL_TABLE))
            .collect::<Result<Vec<_>, _>>()?;
        for r in 0..b.num_rows() {
            let dv = dvs.value(r).to_string();
            let label = labels.is_valid(r).then(|| labels.value(r).to_string());
            for part in &parts.parts {
                let number = numbers.iter().position(|(p, _)| *p == part).and_then(|i| {
                    let c = &number_columns[i];
                    c.is_valid(r).then(|| c.value(r))
                });
                let ids = ids_of
                    .get(part)
                    .map(|by_value| {
                        by_value
                            .get(&dv)
                            .map(ids_to_bytes)
                            .unwrap_or_else(|| ids_to_bytes(&RoaringTreemap::new()))
                    })
                    .or_else(|| {
                        minutes_of.get(part).map(|by_value| {
                            by_value
                                .get(&dv)
                                .map(counts_to_bytes)
                                .unwrap_or_else(|| counts_to_bytes(&Counts::new()))
                        })
                    });
                rows.push(PartialRow {
                    source: source.to_string(),
                    dimension: dimension.to_string(),
                    dimension_value: dv.clone(),
                    dimension_label: label.clone(),
                    part: part.clone(),
                    number,
                    ids,
                });
            }
        }
    }
    Ok(rows)
}

/// The distinct ids of a distinct-count part per dimension value of one day.
async fn day_ids(
    day: &SessionContext,
    dim: &Dimension,
    part: &Part,
    key_value: &str,
) -> Result<HashMap<String, RoaringTreemap>, WarehouseError> {
    let key_filter = dim
        .key
        .as_ref()
        .map(|k| format!(" AND {k} IS NOT NULL"))
        .unwrap_or_default();
    let arg = &part.call;
    let sql = format!(
        "SELECT DISTINCT {key_value} AS dimension_value, CAST({arg} AS BIGINT) AS id \
         FROM day_rows WHERE ({arg}) IS NOT NULL{key_filter}"
    );
    let (_, batches) = collect(day, METRIC_PARTIAL_TABLE, &sql).await?;
    let mut out: HashMap<String, RoaringTreemap> = HashMap::new();
    for b in &batches {
        let dvs = text_column(b, 0, METRIC_PARTIAL_TABLE)?;
        let ids: Int64Array = typed_column(b, 1, &DataType::Int64, METRIC_PARTIAL_TABLE)?;
        for r in 0..b.num_rows() {
            let id = u64::try_from(ids.value(r)).map_err(|_| {
                WarehouseError::model(
                    METRIC_PARTIAL_TABLE,
                    format!("count(DISTINCT {arg}) counts ids of zero or more; one is negative"),
                )
            })?;
            out.entry(dvs.value(r).to_string()).or_default().insert(id);
        }
    }
    Ok(out)
}

/// The counts per whole minute of each quantile part per dimension value of one day; parts
/// that count the same value (a median and a P90 of it) share one query.
async fn day_minutes_of_parts<'p>(
    day: &SessionContext,
    dim: &Dimension,
    parts: &'p SourceParts,
    key_value: &str,
) -> Result<BTreeMap<&'p Part, HashMap<String, Counts>>, WarehouseError> {
    let mut by_value: BTreeMap<String, HashMap<String, Counts>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for part in parts
        .parts
        .iter()
        .filter(|p| p.combine == Combine::Histogram)
    {
        let (value, _) = parse_quantile_call(&part.call)
            .map_err(|e| WarehouseError::model(METRIC_PARTIAL_TABLE, e))?;
        if !by_value.contains_key(&value) {
            let counts = day_minutes(day, dim, &value, key_value).await?;
            by_value.insert(value.clone(), counts);
        }
        if let Some(counts) = by_value.get(&value) {
            out.insert(part, counts.clone());
        }
    }
    Ok(out)
}

/// The counts per whole minute (the value floored; NULLs skipped) of `value` per dimension
/// value of one day.
async fn day_minutes(
    day: &SessionContext,
    dim: &Dimension,
    value: &str,
    key_value: &str,
) -> Result<HashMap<String, Counts>, WarehouseError> {
    let key_filter = dim
        .key
        .as_ref()
        .map(|k| format!(" AND {k} IS NOT NULL"))
        .unwrap_or_default();
    let sql = format!(
        "SELECT dimension_value, minute, count(*) AS n FROM (\
         SELECT {key_value} AS dimension_value, \
         CAST(floor(CAST({value} AS DOUBLE)) AS BIGINT) AS minute \
         FROM day_rows WHERE ({value}) IS NOT NULL{key_filter}) v \
         GROUP BY dimension_value, minute"
    );
    let (_, batches) = collect(day, METRIC_PARTIAL_TABLE, &sql).await?;
    let mut out: HashMap<String, Counts> = HashMap::new();
    for b in &batches {
        let dvs = text_column(b, 0, METRIC_PARTIAL_TABLE)?;
        let minutes: Int64Array = typed_column(b, 1, &DataType::Int64, METRIC_PARTIAL_TABLE)?;
        let counts: Int64Array = typed_column(b, 2, &DataType::Int64, METRIC_PARTIAL_TABLE)?;
        for r in 0..b.num_rows() {
            if !minutes.is_valid(r) {
                continue;
            }
            let n = u64::try_from(counts.value(r)).unwrap_or(0);
            *out.entry(dvs.value(r).to_string())
                .or_default()
                .entry(minutes.value(r))
                .or_insert(0) += n;
        }
    }
    Ok(out)
}

fn partial_batch(rows: Vec<PartialRow>) -> Result<Batches, WarehouseError> {
    let schema = metric_partial_schema();
    let text = |f: &dyn Fn(&PartialRow) -> Option<&str>| -> Arc<dyn Array> {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            text(&|r| Some(&r.source)),
            text(&|r| Some(&r.dimension)),
            text(&|r| Some(&r.dimension_value)),
            text(&|r| r.dimension_label.as_deref()),
            text(&|r| Some(&r.part.call)),
            text(&|r| Some(r.part.combine.as_str())),
            Arc::new(rows.iter().map(|r| r.number).collect::<Float64Array>()),
            Arc::new(
                rows.iter()
                    .map(|r| r.ids.as_deref())
                    .collect::<BinaryArray>(),
            ),
        ],
    )
    .map_err(|e| WarehouseError::model(METRIC_PARTIAL_TABLE, e))?;
    Ok((schema, vec![batch]))
}
