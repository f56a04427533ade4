//! Merging the daily partials of `dws_metric_partial` into window values, in memory: the
//! heavy half of the values step (`values_step.rs`), which then evaluates each measure's
//! expression over the merged table this module builds.
//!
//! The partials of the longest window are read once and merged per (source, dimension), each
//! on its own core, newest day first: a window closes once its days are in, so a day's ids
//! are united once however many windows it falls in.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{Days, NaiveDate};
use deltalake::arrow::array::{
    Array, BinaryArray, Float64Array, RecordBatch, StringArray, UInt32Array,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::SessionContext;
use medlake_lake::PARTITION_COLUMN;

use crate::arrow_columns::{float_column, text_column, typed_column};
use crate::error::WarehouseError;
use crate::metrics::{MeasureKind, MetricCatalog, METRIC_VALUE_TABLE};
use crate::partials::{ids_from_bytes, Combine, Merged, Part, METRIC_PARTIAL_TABLE};
use crate::sql::collect;

/// The partials of one (source, dimension) merged per window: dimension values and parts
/// are numbered once, so that merging a row allocates nothing. Days are added newest
/// first into one running merge per (value, part); when the days of a window are all in,
/// the running values are that window's values (so each day's ids are united once, however
/// many windows it falls in).
#[derive(Default)]
pub(crate) struct CutMerge {
    /// Windows evaluated for this cut, shortest first.
    windows: Vec<u32>,
    /// Dimension values seen, by number.
    values: Vec<String>,
    value_ids: HashMap<String, usize>,
    /// Parts seen, by number.
    pub(crate) parts: Vec<Part>,
    /// An empty merge per part number (a quantile part's knows its quantile).
    empties: Vec<Merged>,
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

    fn part_id(&mut self, call: &str, combine: Combine) -> Result<usize, WarehouseError> {
        if let Some(id) = self
            .parts
            .iter()
            .position(|p| p.combine == combine && p.call == call)
        {
            return Ok(id);
        }
        let part = Part {
            call: call.to_string(),
            combine,
        };
        let empty =
            Merged::for_part(&part).map_err(|e| WarehouseError::model(METRIC_VALUE_TABLE, e))?;
        self.parts.push(part);
        self.empties.push(empty);
        Ok(self.parts.len() - 1)
    }
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
pub(crate) async fn merge_partials(
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
    let part = cut.part_id(c.calls.value(r), combine)?;
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
    let merged = match cut.running.entry((value, part)) {
        Entry::Occupied(o) => o.into_mut(),
        Entry::Vacant(v) => v.insert(cut.empties[part].clone()),
    };
    match combine {
        Combine::Distinct if c.ids.is_valid(r) => {
            let ids = ids_from_bytes(c.ids.value(r))
                .map_err(|e| WarehouseError::model(METRIC_VALUE_TABLE, e))?;
            merged.add_ids(ids);
        }
        Combine::Histogram => {
            if c.ids.is_valid(r) {
                merged
                    .add_minutes(c.ids.value(r))
                    .map_err(|e| WarehouseError::model(METRIC_VALUE_TABLE, e))?;
            }
        }
        _ => merged.add_number(combine, c.numbers.is_valid(r).then(|| c.numbers.value(r))),
    }
    Ok(())
}

/// The first day of a window of `days` ending on `dt`.
pub(crate) fn window_start(dt: NaiveDate, days: u32) -> Result<NaiveDate, WarehouseError> {
    dt.checked_sub_days(Days::new(u64::from(days.max(1)) - 1))
        .ok_or_else(|| WarehouseError::BadDay(dt.to_string()))
}

/// A cut's merged windows as a table: window_days, dimension_value, dimension_label and one
/// DOUBLE column `c<i>` per part.
pub(crate) fn merged_table(cut: &CutMerge) -> Result<MemTable, WarehouseError> {
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
