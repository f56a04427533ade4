//! The reconciliation report: each table's rows in the source against the lake.
//!
//! Rows and the sum of ids are compared: a missing, doubled or foreign id changes at least
//! one of them. For change-record tables the lake side counts distinct ids, and the source
//! side counts rows created up to the capture watermark.

use deltalake::arrow::array::{Array, Int64Array};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::prelude::SessionContext;
use medlake_catalog::{Catalog, CheckRecord, CheckStatus, SOURCE_RECONCILE_CHECK};
use medlake_lake::Lake;
use medlake_schema::Table;
use medlake_source::{BusinessSource, TableFingerprint};

use crate::{IngestError, Result};

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileRow {
    /// Business table.
    pub table: String,
    /// Lake table compared.
    pub lake_table: String,
    /// Rows (and id sum) in the source.
    pub source: TableFingerprint,
    /// Rows (and id sum) in the lake.
    pub lake: TableFingerprint,
}

impl ReconcileRow {
    /// Whether source and lake agree.
    pub fn matches(&self) -> bool {
        self.source.same_rows(&self.lake)
    }

    /// Whether the lake lacks only rows that changed after the watermark: their new
    /// version is captured by the sync of a later day, so this is not a loss.
    pub fn behind_only(&self) -> bool {
        let changed = self.source.changed_after;
        changed > 0
            && self.lake.rows <= self.source.rows
            && self.lake.rows + changed >= self.source.rows
    }
}

/// The whole report.
#[derive(Debug, Clone, Default)]
pub struct Reconciliation {
    /// One row per table compared.
    pub rows: Vec<ReconcileRow>,
}

impl Reconciliation {
    /// Whether every table agrees (or lacks only rows changed after its watermark).
    pub fn all_match(&self) -> bool {
        self.rows.iter().all(|r| r.matches() || r.behind_only())
    }

    /// The reconciliation as quality check results of day `dt` (`<lake table>.reconcile_source`,
    /// error severity), so it joins every other check's history, and a build of the day
    /// does not read a table that lost rows on the way to the lake.
    pub fn check_records(&self, dt: chrono::NaiveDate, seconds: f64) -> Vec<CheckRecord> {
        self.rows
            .iter()
            .map(|r| {
                let agrees = r.matches() || r.behind_only();
                let missing = r.source.rows as i64 - r.lake.rows as i64;
                CheckRecord {
                    check_id: format!("{}.{SOURCE_RECONCILE_CHECK}", r.lake_table),
                    table: r.lake_table.clone(),
                    dt,
                    kind: "reconcile".into(),
                    severity: "error".into(),
                    status: if agrees {
                        CheckStatus::Pass
                    } else {
                        CheckStatus::Fail
                    },
                    observed: Some(missing as f64),
                    expected: format!(
                        "the lake holds the source's {} rows with the same ids{}",
                        r.source.rows,
                        if r.source.changed_after > 0 {
                            format!(
                                " ({} changed after the watermark may be missing)",
                                r.source.changed_after
                            )
                        } else {
                            String::new()
                        }
                    ),
                    failing_rows: if agrees { 0 } else { missing.unsigned_abs() },
                    sample: Vec::new(),
                    message: None,
                    seconds: seconds / self.rows.len().max(1) as f64,
                    run_id: None,
                    checked_at: None,
                }
            })
            .collect()
    }
}

/// Compares `full_tables` (partition `dt` of `ods_<t>_full`) and `inc_tables` (all of
/// `ods_<t>_inc`) with the source.
pub async fn reconcile(
    source: &dyn BusinessSource,
    lake: &Lake,
    catalog: &Catalog,
    full_tables: &[&'static Table],
    inc_tables: &[&'static Table],
    dt: Option<&str>,
) -> Result<Reconciliation> {
    let ctx = SessionContext::new();
    let mut report = Reconciliation::default();
    if let Some(dt) = dt {
        for table in full_tables {
            let name = table.ods_full_name();
            lake.register(&ctx, &name).await?;
            let sql = format!("SELECT count(*), sum(id) FROM {name} WHERE dt = '{dt}'");
            report.rows.push(ReconcileRow {
                table: table.name.into(),
                lake_table: name.clone(),
                source: source.fingerprint(table, None).await?,
                lake: lake_fingerprint(&ctx, &name, &sql).await?,
            });
        }
    }
    for table in inc_tables {
        let name = table.ods_inc_name();
        lake.register(&ctx, &name).await?;
        let watermark = catalog.capture_state(table.name)?.committed;
        let created_before = watermark.map(|(t, _)| t + chrono::Duration::microseconds(1));
        let source_side = match created_before {
            Some(t) => source.fingerprint(table, Some(t)).await?,
            None => TableFingerprint::default(),
        };
        let sql = format!(
            "SELECT count(*), sum(id) FROM (SELECT DISTINCT get_field(data, 'id') AS id FROM {name})"
        );
        report.rows.push(ReconcileRow {
            table: table.name.into(),
            lake_table: name.clone(),
            source: source_side,
            lake: lake_fingerprint(&ctx, &name, &sql).await?,
        });
    }
    Ok(report)
}

async fn lake_fingerprint(ctx: &SessionContext, name: &str, sql: &str) -> Result<TableFingerprint> {
    if !ctx.table_exist(name)? {
        return Ok(TableFingerprint::default());
    }
    let batches = ctx.sql(sql).await?.collect().await?;
    let Some(batch) = batches.first().filter(|b| b.num_rows() == 1) else {
        return Err(IngestError::Inconsistent(format!("no count from {name}")));
    };
    let value = |i: usize| -> Result<i64> {
        let col = cast(batch.column(i), &DataType::Int64)?;
        let col = col.as_any().downcast_ref::<Int64Array>().ok_or_else(|| {
            IngestError::Inconsistent(format!("count from {name} is not an integer"))
        })?;
        Ok(if col.is_null(0) { 0 } else { col.value(0) })
    };
    Ok(TableFingerprint {
        rows: value(0)?.max(0) as u64,
        id_sum: i128::from(value(1)?),
        changed_after: 0,
    })
}
