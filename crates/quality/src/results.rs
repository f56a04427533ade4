//! `dq_check_result`, the lake table BI tools read: per day, the newest result of every
//! check of that day's partitions, as the catalog holds them. The catalog is the record
//! (every run's results); this table mirrors its latest state per day and is rewritten
//! whole for a day after every audit of that day, so it never holds a stale result.

use std::sync::Arc;

use chrono::NaiveDate;
use deltalake::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use medlake_catalog::{Catalog, CheckFilter, CheckRecord};
use medlake_lake::Lake;

use crate::error::QualityError;

/// The lake table of check results.
pub const CHECK_RESULT_TABLE: &str = "dq_check_result";

/// The schema of [`CHECK_RESULT_TABLE`] (without `dt`, which the lake adds).
pub fn check_result_schema() -> SchemaRef {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("check_id", false),
        text("table_name", false),
        text("kind", false),
        text("severity", false),
        text("status", false),
        Field::new("observed", DataType::Float64, true),
        text("expected", false),
        Field::new("failing_rows", DataType::Int64, false),
        text("sample_keys", true),
        text("message", true),
        Field::new("seconds", DataType::Float64, false),
        Field::new("run_id", DataType::Int64, true),
        text("checked_at", true),
    ]))
}

/// The results as one batch of [`check_result_schema`].
pub fn check_result_batch(results: &[CheckRecord]) -> Result<RecordBatch, QualityError> {
    let text = |f: &dyn Fn(&CheckRecord) -> Option<String>| -> ArrayRef {
        Arc::new(results.iter().map(f).collect::<StringArray>())
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|r| Some(r.check_id.clone())),
        text(&|r| Some(r.table.clone())),
        text(&|r| Some(r.kind.clone())),
        text(&|r| Some(r.severity.clone())),
        text(&|r| Some(r.status.as_str().to_string())),
        Arc::new(results.iter().map(|r| r.observed).collect::<Float64Array>()),
        text(&|r| Some(r.expected.clone())),
        Arc::new(
            results
                .iter()
                .map(|r| Some(r.failing_rows as i64))
                .collect::<Int64Array>(),
        ),
        text(&|r| (!r.sample.is_empty()).then(|| r.sample.join(","))),
        text(&|r| r.message.clone()),
        Arc::new(
            results
                .iter()
                .map(|r| Some(r.seconds))
                .collect::<Float64Array>(),
        ),
        Arc::new(results.iter().map(|r| r.run_id).collect::<Int64Array>()),
        text(&|r| {
            r.checked_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        }),
    ];
    RecordBatch::try_new(check_result_schema(), columns).map_err(|source| QualityError::Arrow {
        what: CHECK_RESULT_TABLE.into(),
        source,
    })
}

/// Rewrites day `dt` of [`CHECK_RESULT_TABLE`] from the catalog's newest result of each
/// check of that day. Returns the rows written.
pub async fn publish_results(
    lake: &Lake,
    catalog: &Catalog,
    dt: NaiveDate,
) -> Result<u64, QualityError> {
    let mut results = catalog.check_results(&CheckFilter {
        dt: Some(dt),
        latest: true,
        ..CheckFilter::default()
    })?;
    results.sort_by(|a, b| a.check_id.cmp(&b.check_id));
    let batch = check_result_batch(&results)?;
    let commit = lake
        .replace_partition(CHECK_RESULT_TABLE, dt, check_result_schema(), vec![batch])
        .await?;
    Ok(commit.rows)
}
