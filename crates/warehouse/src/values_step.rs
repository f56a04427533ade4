//! The steps that compute `ads_metric_value` and `ads_metric_catalog`: every metric instance
//! of a report day, evaluated from the partials of its windows, and the catalog of instances
//! as a table.
//!
//! The partials are merged per window by `window_merge.rs`; this module evaluates each
//! measure's combined expression over the merged windows (one query per source and
//! dimension), runs the measures declared as whole queries, and writes the long table. Zero
//! and undefined values are left out. Reading the values back is `values.rs`.

use std::sync::Arc;

use chrono::NaiveDate;
use deltalake::arrow::array::{Array, Float64Array, RecordBatch, StringArray, UInt32Array};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::datafusion::prelude::SessionContext;

use crate::arrow_columns::{float_column, text_column, typed_column};
use crate::error::WarehouseError;
use crate::metrics::{
    instance_name, MeasureKind, MetricCatalog, METRIC_CATALOG_TABLE, METRIC_VALUE_TABLE,
    OVERALL_VALUE,
};
use crate::partials::{rename_parts, Part};
use crate::sql::{collect, Batches};
use crate::template::{render, Vars};
use crate::window_merge::{merge_partials, merged_table, window_start, CutMerge};

/// Evaluates every metric instance of report day `dt` from the partials of its windows.
pub(crate) async fn metric_values(
    ctx: &SessionContext,
    catalog: &MetricCatalog,
    dt: NaiveDate,
) -> Result<Batches, WarehouseError> {
    let started = std::time::Instant::now();
    let merged = merge_partials(ctx, catalog, dt).await?;
    let merged_at = started.elapsed();
    let mut rows = Vec::new();
    for ((source, dimension), cut) in &merged {
        rows.extend(evaluate_cut(catalog, source, dimension, cut).await?);
    }
    let evaluated_at = started.elapsed();
    rows.extend(query_measures(ctx, catalog, dt).await?);
    tracing::debug!(
        %dt,
        merge_seconds = merged_at.as_secs_f64(),
        evaluate_seconds = (evaluated_at - merged_at).as_secs_f64(),
        query_measure_seconds = (started.elapsed() - evaluated_at).as_secs_f64(),
        "metric values"
    );
    rows.sort_by(|a, b| (&a.metric, &a.dimension_value).cmp(&(&b.metric, &b.dimension_value)));
    metric_value_batch(rows)
}

/// Evaluates the measures of one (source, dimension) over its merged windows, in one query.
async fn evaluate_cut(
    catalog: &MetricCatalog,
    source: &str,
    dimension: &str,
    cut: &CutMerge,
) -> Result<Vec<MetricRow>, WarehouseError> {
    let measures: Vec<(&str, &Vec<u32>, &Vec<Part>, &String)> = catalog
        .measures
        .iter()
        .filter(|m| m.dimensions.iter().any(|d| d == dimension))
        .filter_map(|m| match &m.kind {
            MeasureKind::Aggregate {
                source: s,
                parts,
                combined,
            } if s == source => Some((m.name.as_str(), &m.windows, parts, combined)),
            _ => None,
        })
        .collect();
    let column_of = |p: &Part| {
        cut.parts
            .iter()
            .position(|q| q == p)
            .map(|i| format!("c{i}"))
    };
    let mut selects = Vec::new();
    let mut evaluated = Vec::new();
    for (name, measure_windows, parts, combined) in &measures {
        // A part no partial carries (a measure added after those days were built) has no value.
        let Some(columns) = parts.iter().map(column_of).collect::<Option<Vec<_>>>() else {
            continue;
        };
        let sql = rename_parts(combined, &columns)
            .map_err(|e| WarehouseError::model(METRIC_VALUE_TABLE, format!("{name}: {e}")))?;
        selects.push(format!("{sql} AS m{}", selects.len()));
        evaluated.push((*name, *measure_windows));
    }
    if evaluated.is_empty() {
        return Ok(Vec::new());
    }
    let ctx = SessionContext::new();
    ctx.register_table("merged", Arc::new(merged_table(cut)?))
        .map_err(|e| WarehouseError::model(METRIC_VALUE_TABLE, e))?;
    let sql = format!(
        "SELECT window_days, dimension_value, dimension_label, {} FROM merged",
        selects.join(", ")
    );
    let (_, batches) = collect(&ctx, METRIC_VALUE_TABLE, &sql).await?;
    let mut rows = Vec::new();
    for b in &batches {
        let window_days: UInt32Array = typed_column(b, 0, &DataType::UInt32, METRIC_VALUE_TABLE)?;
        let (dvs, labels) = (
            text_column(b, 1, METRIC_VALUE_TABLE)?,
            text_column(b, 2, METRIC_VALUE_TABLE)?,
        );
        for (m, (name, measure_windows)) in evaluated.iter().enumerate() {
            let values = float_column(b, 3 + m, METRIC_VALUE_TABLE)?;
            for r in 0..b.num_rows() {
                let w = window_days.value(r);
                if !measure_windows.contains(&w) {
                    continue;
                }
                push_value(
                    &mut rows,
                    MetricKey {
                        measure: name,
                        dimension,
                        window_days: w,
                    },
                    dvs.value(r),
                    labels.is_valid(r).then(|| labels.value(r)),
                    values.is_valid(r).then(|| values.value(r)),
                );
            }
        }
    }
    Ok(rows)
}

/// Measures declared as whole queries, evaluated per window straight from their tables.
async fn query_measures(
    ctx: &SessionContext,
    catalog: &MetricCatalog,
    dt: NaiveDate,
) -> Result<Vec<MetricRow>, WarehouseError> {
    let overall = catalog
        .dimensions
        .get(crate::metrics::OVERALL)
        .map(|d| d.label_zh.as_str());
    let mut rows = Vec::new();
    for m in &catalog.measures {
        let MeasureKind::Query(sql) = &m.kind else {
            continue;
        };
        for &w in &m.windows {
            let vars = Vars::for_day(dt).with("window_start", window_start(dt, w)?);
            let sql = render(
                &format!("SELECT CAST(value AS DOUBLE) AS value FROM ({sql}) q"),
                &vars,
            )
            .map_err(|e| WarehouseError::model(METRIC_VALUE_TABLE, format!("{}: {e}", m.name)))?;
            let (_, batches) = collect(ctx, METRIC_VALUE_TABLE, &sql).await?;
            for b in &batches {
                let values = float_column(b, 0, METRIC_VALUE_TABLE)?;
                for r in 0..b.num_rows() {
                    push_value(
                        &mut rows,
                        MetricKey {
                            measure: &m.name,
                            dimension: crate::metrics::OVERALL,
                            window_days: w,
                        },
                        OVERALL_VALUE,
                        overall,
                        values.is_valid(r).then(|| values.value(r)),
                    );
                }
            }
        }
    }
    Ok(rows)
}

/// Which instance a value belongs to.
struct MetricKey<'a> {
    measure: &'a str,
    dimension: &'a str,
    window_days: u32,
}

/// Adds a value to the long table unless it is zero or undefined (a missing row reads as zero).
fn push_value(
    rows: &mut Vec<MetricRow>,
    key: MetricKey<'_>,
    dimension_value: &str,
    dimension_label: Option<&str>,
    value: Option<f64>,
) {
    let Some(value) = value.filter(|v| v.is_finite() && *v != 0.0) else {
        return;
    };
    rows.push(MetricRow {
        metric: instance_name(key.measure, key.dimension, key.window_days),
        measure: key.measure.to_string(),
        dimension: key.dimension.to_string(),
        dimension_value: dimension_value.to_string(),
        dimension_label: dimension_label.map(str::to_string),
        window_days: key.window_days,
        value,
    });
}

struct MetricRow {
    metric: String,
    measure: String,
    dimension: String,
    dimension_value: String,
    dimension_label: Option<String>,
    window_days: u32,
    value: f64,
}

/// The schema of `ads_metric_value` (without `dt`).
pub fn metric_value_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("metric", DataType::Utf8, true),
        Field::new("measure", DataType::Utf8, true),
        Field::new("dimension", DataType::Utf8, true),
        Field::new("dimension_value", DataType::Utf8, true),
        Field::new("dimension_label", DataType::Utf8, true),
        Field::new("window_days", DataType::UInt32, true),
        Field::new("value", DataType::Float64, true),
    ]))
}

fn metric_value_batch(rows: Vec<MetricRow>) -> Result<Batches, WarehouseError> {
    let schema = metric_value_schema();
    let text = |f: &dyn Fn(&MetricRow) -> Option<&str>| -> Arc<dyn Array> {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            text(&|r| Some(&r.metric)),
            text(&|r| Some(&r.measure)),
            text(&|r| Some(&r.dimension)),
            text(&|r| Some(&r.dimension_value)),
            text(&|r| r.dimension_label.as_deref()),
            Arc::new(
                rows.iter()
                    .map(|r| Some(r.window_days))
                    .collect::<UInt32Array>(),
            ),
            Arc::new(rows.iter().map(|r| Some(r.value)).collect::<Float64Array>()),
        ],
    )
    .map_err(|e| WarehouseError::model(METRIC_VALUE_TABLE, e))?;
    Ok((schema, vec![batch]))
}

/// The rows of `ads_metric_catalog`: one per metric instance, with its measure's labels and
/// definition and its dimension's labels.
pub(crate) fn metric_catalog_batch(catalog: &MetricCatalog) -> Result<Batches, WarehouseError> {
    let instances = catalog.instances();
    let names = [
        "metric",
        "measure",
        "topic",
        "label_zh",
        "label_en",
        "definition",
        "unit",
        "dimension",
        "dimension_label_zh",
        "dimension_label_en",
    ];
    let mut fields: Vec<Field> = names
        .iter()
        .map(|n| Field::new(*n, DataType::Utf8, true))
        .collect();
    fields.push(Field::new("window_days", DataType::UInt32, true));
    let schema = Arc::new(Schema::new(fields));
    let mut columns: Vec<Vec<String>> = vec![Vec::with_capacity(instances.len()); names.len()];
    for i in &instances {
        let (Some(m), Some(d)) = (
            catalog.measure(&i.measure),
            catalog.dimensions.get(&i.dimension),
        ) else {
            continue;
        };
        let values = [
            &i.name,
            &m.name,
            &m.topic,
            &m.label_zh,
            &m.label_en,
            &m.definition,
            &m.unit,
            &i.dimension,
            &d.label_zh,
            &d.label_en,
        ];
        for (c, v) in columns.iter_mut().zip(values) {
            c.push(v.clone());
        }
    }
    let mut arrays: Vec<Arc<dyn Array>> = columns
        .into_iter()
        .map(|c| Arc::new(StringArray::from(c)) as Arc<dyn Array>)
        .collect();
    arrays.push(Arc::new(
        instances
            .iter()
            .map(|i| Some(i.window_days))
            .collect::<UInt32Array>(),
    ));
    let batch = RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| WarehouseError::model(METRIC_CATALOG_TABLE, e))?;
    Ok((schema, vec![batch]))
}
