//! The two steps that turn the metric catalog into numbers: the daily partial aggregates
//! (`dws_metric_partial`) and the window values merged from them (`ads_metric_value`).
//!
//! A day reads only its own partition of each measure source; a 30-day value reads 30
//! small partitions of partials. That keeps the cost of building day 30 close to day 1.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{Days, NaiveDate};
use deltalake::arrow::array::{
    Array, BinaryArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array,
};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::SessionContext;
use medlake_lake::PARTITION_COLUMN;
use roaring::RoaringTreemap;

use crate::error::WarehouseError;
use crate::metrics::{
    instance_name, Dimension, MeasureKind, MetricCatalog, SourceParts, METRIC_VALUE_TABLE,
    OVERALL_VALUE,
};
use crate::partials::{
    ids_from_bytes, ids_to_bytes, rename_parts, Combine, Merged, Part, METRIC_PARTIAL_TABLE,
};
use crate::runner::collect;
use crate::template::{render, Vars};

type Batches = (SchemaRef, Vec<RecordBatch>);

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
                let ids = ids_of.get(part).map(|by_value| {
                    by_value
                        .get(&dv)
                        .map(ids_to_bytes)
                        .unwrap_or_else(|| ids_to_bytes(&RoaringTreemap::new()))
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

/// Column `i` of `b` cast to `ty` and read as the array type `A` (Parquet strings come back
/// as views; every reader here wants one known type); errors name `table`.
fn typed_column<A: Array + Clone + 'static>(
    b: &RecordBatch,
    i: usize,
    ty: &DataType,
    table: &str,
) -> Result<A, WarehouseError> {
    let c = cast(b.column(i), ty).map_err(|e| WarehouseError::model(table, e))?;
    c.as_any()
        .downcast_ref::<A>()
        .cloned()
        .ok_or_else(|| WarehouseError::model(table, format!("column {i} is not {ty}")))
}

/// Column `i` of `b` as text.
fn text_column(b: &RecordBatch, i: usize, table: &str) -> Result<StringArray, WarehouseError> {
    typed_column(b, i, &DataType::Utf8, table)
}

/// Column `i` of `b` as DOUBLE.
fn float_column(b: &RecordBatch, i: usize, table: &str) -> Result<Float64Array, WarehouseError> {
    typed_column(b, i, &DataType::Float64, table)
}

/// The partials of one (source, dimension) merged per window: dimension values and parts
/// are numbered once, so that merging a row allocates nothing. Days are added newest
/// first into one running merge per (value, part); when the days of a window are all in,
/// the running values are that window's values (so each day's ids are united once, however
/// many windows it falls in).
#[derive(Default)]
struct CutMerge {
    /// Windows evaluated for this cut, shortest first.
    windows: Vec<u32>,
    /// Dimension values seen, by number.
    values: Vec<String>,
    value_ids: HashMap<String, usize>,
    /// Parts seen, by number.
    parts: Vec<Part>,
    /// Running merge per (value number, part number) of the days added so far.
    running: HashMap<(usize, usize), Merged>,
    /// Largest label so far per value number.
    running_labels: HashMap<usize, String>,
    /// Value per (window, value number, part number) of the closed windows.
    results: HashMap<(u32, usize, usize), Option<f64>>,
    /// Largest label per (window, value number) of the closed windows.
    labels: HashMap<(u32, usize), String>,
}

impl CutMerge {
    fn value_id(&mut self, value: &str) -> usize {
        if let Some(&id) = self.value_ids.get(value) {
            return id;
        }
        self.values.push(value.to_string());
        self.value_ids
            .insert(value.to_string(), self.values.len() - 1);
        self.values.len() - 1
    }

    /// Records the running values as window `w`'s, once its days are all added.
    fn close_window(&mut self, w: u32) {
        for (&(value, part), merged) in &mut self.running {
            self.results.insert((w, value, part), merged.value());
        }
        for (&value, label) in &self.running_labels {
            self.labels.insert((w, value), label.clone());
        }
    }

    fn part_id(&mut self, call: &str, combine: Combine) -> usize {
        if let Some(id) = self
            .parts
            .iter()
            .position(|p| p.combine == combine && p.call == call)
        {
            return id;
        }
        self.parts.push(Part {
            call: call.to_string(),
            combine,
        });
        self.parts.len() - 1
    }
}

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

/// An empty merge for each (source, dimension) with the windows its measures declare.
fn cuts_of(catalog: &MetricCatalog) -> BTreeMap<(String, String), CutMerge> {
    let mut windows: BTreeMap<(String, String), BTreeSet<u32>> = BTreeMap::new();
    for m in &catalog.measures {
        if let MeasureKind::Aggregate { source, .. } = &m.kind {
            for d in &m.dimensions {
                windows
                    .entry((source.clone(), d.clone()))
                    .or_default()
                    .extend(m.windows.iter().copied());
            }
        }
    }
    windows
        .into_iter()
        .map(|(k, w)| {
            let cut = CutMerge {
                windows: w.into_iter().collect(),
                ..Default::default()
            };
            (k, cut)
        })
        .collect()
}

/// Reads the partials of the longest window ending on `dt` and merges them per window,
/// day by day from the newest, so that sums add up in the same order on every rebuild.
async fn merge_partials(
    ctx: &SessionContext,
    catalog: &MetricCatalog,
    dt: NaiveDate,
) -> Result<BTreeMap<(String, String), CutMerge>, WarehouseError> {
    let longest = catalog.longest_window();
    let start = window_start(dt, longest)?;
    let sql = format!(
        "SELECT CAST({PARTITION_COLUMN} AS VARCHAR), source, dimension, dimension_value, \
         dimension_label, part, combine, number, ids FROM {METRIC_PARTIAL_TABLE} \
         WHERE {PARTITION_COLUMN} >= '{start}' AND {PARTITION_COLUMN} <= '{dt}'"
    );
    let read_started = std::time::Instant::now();
    let (_, batches) = collect(ctx, METRIC_VALUE_TABLE, &sql).await?;
    tracing::debug!(
        %dt,
        rows = batches.iter().map(|b| b.num_rows()).sum::<usize>(),
        bytes = batches.iter().map(|b| b.get_array_memory_size()).sum::<usize>(),
        seconds = read_started.elapsed().as_secs_f64(),
        "partials read"
    );
    let cuts = cuts_of(catalog);
    let cut_index: HashMap<(&str, &str), usize> = cuts
        .keys()
        .enumerate()
        .map(|(i, (source, dimension))| ((source.as_str(), dimension.as_str()), i))
        .collect();
    let columns = batches
        .iter()
        .map(PartialColumns::of)
        .collect::<Result<Vec<_>, _>>()?;
    // Rows per cut, bucketed by how many days before `dt` they are.
    let mut rows_of: Vec<Vec<Vec<(usize, usize)>>> =
        vec![vec![Vec::new(); longest as usize]; cuts.len()];
    let mut days_back_of: HashMap<&str, usize> = HashMap::new();
    for (i, c) in columns.iter().enumerate() {
        for r in 0..c.days.len() {
            let Some(&cut) = cut_index.get(&(c.sources.value(r), c.dimensions.value(r))) else {
                continue;
            };
            let day = c.days.value(r);
            let back = match days_back_of.get(day) {
                Some(&b) => b,
                None => {
                    let parsed: NaiveDate = day
                        .parse()
                        .map_err(|_| WarehouseError::BadDay(day.to_string()))?;
                    let b = usize::try_from((dt - parsed).num_days()).unwrap_or(usize::MAX);
                    days_back_of.insert(day, b);
                    b
                }
            };
            if let Some(bucket) = rows_of[cut].get_mut(back) {
                bucket.push((i, r));
            }
        }
    }
    let keys: Vec<(String, String)> = cuts.keys().cloned().collect();
    let merged = merge_cuts_in_parallel(cuts.into_values().collect(), &rows_of, &columns)?;
    Ok(keys.into_iter().zip(merged).collect())
}

/// Merges each cut's rows (bucketed by days back) on every core: cuts are independent.
fn merge_cuts_in_parallel(
    cuts: Vec<CutMerge>,
    rows_of: &[Vec<Vec<(usize, usize)>>],
    columns: &[PartialColumns],
) -> Result<Vec<CutMerge>, WarehouseError> {
    let cuts: Vec<std::sync::Mutex<CutMerge>> =
        cuts.into_iter().map(std::sync::Mutex::new).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let results: Vec<Result<(), WarehouseError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers.min(cuts.len()).max(1))
            .map(|_| {
                scope.spawn(|| -> Result<(), WarehouseError> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(slot) = cuts.get(i) else {
                            return Ok(());
                        };
                        let mut cut = slot.lock().map_err(|_| {
                            WarehouseError::model(METRIC_VALUE_TABLE, "a merge failed")
                        })?;
                        merge_cut(&mut cut, &rows_of[i], columns)?;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(WarehouseError::model(
                        METRIC_VALUE_TABLE,
                        "a merge thread panicked",
                    ))
                })
            })
            .collect()
    });
    results.into_iter().collect::<Result<(), _>>()?;
    cuts.into_iter()
        .map(|m| {
            m.into_inner()
                .map_err(|_| WarehouseError::model(METRIC_VALUE_TABLE, "a merge failed"))
        })
        .collect()
}

/// Merges one cut's rows day by day from the newest, closing each window when its days are in.
fn merge_cut(
    cut: &mut CutMerge,
    by_day: &[Vec<(usize, usize)>],
    columns: &[PartialColumns],
) -> Result<(), WarehouseError> {
    for (back, rows) in by_day.iter().enumerate() {
        for &(i, r) in rows {
            merge_row(cut, &columns[i], r)?;
        }
        let days_in = back as u32 + 1;
        if cut.windows.contains(&days_in) {
            cut.close_window(days_in);
        }
    }
    Ok(())
}

/// The columns of one batch of `dws_metric_partial`, in the types merging reads.
struct PartialColumns {
    days: StringArray,
    sources: StringArray,
    dimensions: StringArray,
    values: StringArray,
    labels: StringArray,
    calls: StringArray,
    combines: StringArray,
    numbers: Float64Array,
    ids: BinaryArray,
}

impl PartialColumns {
    fn of(b: &RecordBatch) -> Result<PartialColumns, WarehouseError> {
        let text = |i| text_column(b, i, METRIC_VALUE_TABLE);
        Ok(PartialColumns {
            days: text(0)?,
            sources: text(1)?,
            dimensions: text(2)?,
            values: text(3)?,
            labels: text(4)?,
            calls: text(5)?,
            combines: text(6)?,
            numbers: float_column(b, 7, METRIC_VALUE_TABLE)?,
            ids: typed_column(b, 8, &DataType::Binary, METRIC_VALUE_TABLE)?,
        })
    }
}

/// Adds row `r` to the running merge of its cut.
fn merge_row(cut: &mut CutMerge, c: &PartialColumns, r: usize) -> Result<(), WarehouseError> {
    let combine = Combine::parse(c.combines.value(r)).ok_or_else(|| {
        WarehouseError::model(
            METRIC_VALUE_TABLE,
            format!(
                "unknown combine {:?} in {METRIC_PARTIAL_TABLE}",
                c.combines.value(r)
            ),
        )
    })?;
    let value = cut.value_id(c.values.value(r));
    let part = cut.part_id(c.calls.value(r), combine);
    if c.labels.is_valid(r) {
        let label = c.labels.value(r);
        match cut.running_labels.get_mut(&value) {
            Some(old) if old.as_str() >= label => {}
            Some(old) => *old = label.to_string(),
            None => {
                cut.running_labels.insert(value, label.to_string());
            }
        }
    }
    let merged = cut
        .running
        .entry((value, part))
        .or_insert_with(|| Merged::new(combine));
    match combine {
        Combine::Distinct if c.ids.is_valid(r) => {
            let ids = ids_from_bytes(c.ids.value(r))
                .map_err(|e| WarehouseError::model(METRIC_VALUE_TABLE, e))?;
            merged.add_ids(ids);
        }
        _ => merged.add_number(combine, c.numbers.is_valid(r).then(|| c.numbers.value(r))),
    }
    Ok(())
}

/// The first day of a window of `days` ending on `dt`.
fn window_start(dt: NaiveDate, days: u32) -> Result<NaiveDate, WarehouseError> {
    dt.checked_sub_days(Days::new(u64::from(days.max(1)) - 1))
        .ok_or_else(|| WarehouseError::BadDay(dt.to_string()))
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

/// A cut's merged windows as a table: window_days, dimension_value, dimension_label and one
/// DOUBLE column `c<i>` per part.
fn merged_table(cut: &CutMerge) -> Result<MemTable, WarehouseError> {
    let keys: BTreeSet<(u32, usize)> = cut.results.keys().map(|(w, v, _)| (*w, *v)).collect();
    let mut fields = vec![
        Field::new("window_days", DataType::UInt32, true),
        Field::new("dimension_value", DataType::Utf8, true),
        Field::new("dimension_label", DataType::Utf8, true),
    ];
    fields
        .extend((0..cut.parts.len()).map(|i| Field::new(format!("c{i}"), DataType::Float64, true)));
    let schema = Arc::new(Schema::new(fields));
    let mut columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(keys.iter().map(|(w, _)| Some(*w)).collect::<UInt32Array>()),
        Arc::new(
            keys.iter()
                .map(|(_, v)| Some(cut.values[*v].as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            keys.iter()
                .map(|k| cut.labels.get(k).map(String::as_str))
                .collect::<StringArray>(),
        ),
    ];
    for part in 0..cut.parts.len() {
        columns.push(Arc::new(
            keys.iter()
                .map(|(w, v)| cut.results.get(&(*w, *v, part)).copied().flatten())
                .collect::<Float64Array>(),
        ));
    }
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| WarehouseError::model(METRIC_VALUE_TABLE, e))?;
    MemTable::try_new(schema, vec![vec![batch]])
        .map_err(|e| WarehouseError::model(METRIC_VALUE_TABLE, e))
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
