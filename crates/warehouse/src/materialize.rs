//! Materialisation: computing one step's rows for a day and writing them as partition `dt`
//! of its table, in one Delta commit.
//!
//! The runner (`runner.rs`) decides when a step runs and records the outcome; this module
//! does the work of one attempt. A step gets a session holding only the tables it reads.
//! Snapshot and incremental models are their SQL; SCD2 and accumulating models are merged
//! with their table's previous partition by generated SQL; the metric steps are computed by
//! `partials_step.rs` and `values_step.rs`.

use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use deltalake::arrow::array::{Array, StringArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::prelude::SessionContext;
use medlake_lake::{Lake, PARTITION_COLUMN};
use medlake_lineage::StepLineage;
use medlake_quality::{Audit, Auditor, Partition};

use crate::error::WarehouseError;
use crate::lineage::{catalog_lineage, model_lineage, partials_lineage, values_lineage};
use crate::model::{Materialization, Model};
use crate::partials_step::metric_partials;
use crate::project::{Project, Step, StepKind};
use crate::sql::{collect, collect_planned, plan_schema};
use crate::template::{render, Vars};
use crate::values_step::{metric_catalog_batch, metric_values};

/// `end_date` of a current SCD2 version.
pub const OPEN_END_DATE: &str = "9999-12-31";

/// What one step wrote: rows, bytes, the Delta version, the schema, and its lineage.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub(crate) rows: u64,
    pub(crate) bytes: u64,
    pub(crate) version: u64,
    pub(crate) schema: SchemaRef,
    pub(crate) lineage: StepLineage,
    /// Seconds spent reading lineage off the plans (the benchmark's figure).
    pub(crate) lineage_seconds: f64,
    /// The checks of the partition before it was written (none with `--skip-checks` or
    /// for the metric steps).
    pub(crate) audit: Option<Audit>,
}

/// The audit of write-audit-publish: who checks a model's new partition, and the run its
/// results belong to.
pub(crate) struct StepChecks<'a> {
    /// Runs and records the checks.
    pub(crate) auditor: Auditor<'a>,
    /// The step's run record.
    pub(crate) run_id: i64,
}

/// Computes one step's partition, checks it (a model's, unless `checks` is `None`) and,
/// if no `error` check failed, writes it. A failed check leaves the previous partition.
pub(crate) async fn execute(
    lake: &Lake,
    project: &Project,
    step: &Step,
    dt: NaiveDate,
    checks: Option<&StepChecks<'_>>,
) -> Result<Written, WarehouseError> {
    let ctx = session_for(lake, step).await?;
    let mut lineage_seconds = 0.0;
    let (schema, batches, lineage) = match &step.kind {
        StepKind::Model(model) => {
            let (schema, batches, plan) = run_model(&ctx, model, dt).await?;
            let started = Instant::now();
            let lineage = model_lineage(&model.name, &model.sql, &plan);
            lineage_seconds += started.elapsed().as_secs_f64();
            (schema, batches, lineage)
        }
        StepKind::MetricPartials => {
            let (schema, batches) = metric_partials(&ctx, &project.metrics, dt).await?;
            let started = Instant::now();
            let lineage = partials_lineage(&ctx, &project.metrics).await?;
            lineage_seconds += started.elapsed().as_secs_f64();
            (schema, batches, lineage)
        }
        StepKind::MetricValues => {
            let (schema, batches) = metric_values(&ctx, &project.metrics, dt).await?;
            let started = Instant::now();
            let lineage = values_lineage(&ctx, &project.metrics, dt).await?;
            lineage_seconds += started.elapsed().as_secs_f64();
            (schema, batches, lineage)
        }
        StepKind::MetricCatalog => {
            let (schema, batches) = metric_catalog_batch(&project.metrics)?;
            let lineage = catalog_lineage(&step.name, &schema, &project.metrics);
            (schema, batches, lineage)
        }
    };
    let (schema, batches) = nullable(schema, batches)?;
    let audit = match (checks, step.declaration()) {
        (Some(checks), Some(declaration)) => {
            let staged = Partition::Staged {
                schema: schema.clone(),
                batches: &batches,
                inputs: Some(&ctx),
            };
            let audit = checks
                .auditor
                .audit(
                    &step.name,
                    dt,
                    staged,
                    &declaration.phi,
                    Some(checks.run_id),
                )
                .await?;
            checks.auditor.record(&audit)?;
            if let Some(verdict) = audit.verdict() {
                return Err(WarehouseError::ChecksFailed {
                    step: step.name.clone(),
                    verdict,
                });
            }
            Some(audit)
        }
        _ => None,
    };
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    let bytes: u64 = batches
        .iter()
        .map(|b| b.get_array_memory_size() as u64)
        .sum();
    let commit = lake
        .replace_partition(&step.name, dt, schema.clone(), batches)
        .await?;
    Ok(Written {
        rows,
        bytes,
        version: commit.version,
        schema,
        lineage,
        lineage_seconds,
        audit,
    })
}

/// A session with every table the step reads (and its own table, if it reads itself).
async fn session_for(lake: &Lake, step: &Step) -> Result<SessionContext, WarehouseError> {
    let ctx = SessionContext::new();
    for name in step.depends_on.iter().chain(&step.sources) {
        lake.register(&ctx, name).await?;
        if !ctx.table_exist(name.as_str()).unwrap_or(false) {
            let hint = if name.starts_with("ods_") {
                "sync the business database first (medlake sync)"
            } else {
                "build it first"
            };
            return Err(WarehouseError::model(
                &step.name,
                format!("reads {name}, which the lake does not have; {hint}"),
            ));
        }
    }
    if step.reads_itself {
        lake.register(&ctx, &step.name).await?;
    }
    Ok(ctx)
}

async fn run_model(
    ctx: &SessionContext,
    model: &Model,
    dt: NaiveDate,
) -> Result<(SchemaRef, Vec<RecordBatch>, LogicalPlan), WarehouseError> {
    let render_with =
        |vars: &Vars| render(&model.sql, vars).map_err(|e| WarehouseError::model(&model.name, e));
    let sql = match model.declaration.materialization {
        Materialization::Snapshot | Materialization::Incremental => {
            render_with(&Vars::for_day(dt))?
        }
        Materialization::Scd2 | Materialization::Accumulate => {
            let previous = previous_partition(ctx, &model.name, dt).await?;
            let sql = render_with(&Vars::for_day(dt).with("since", since(previous.as_deref())))?;
            let day_schema = plan_schema(ctx, &model.name, &sql).await?;
            keyed_merge_sql(model, &sql, &day_schema, previous, dt)?
        }
    };
    let (plan, (schema, batches)) = collect_planned(ctx, &model.name, &sql).await?;
    if schema.field_with_name(PARTITION_COLUMN).is_ok() {
        return Err(WarehouseError::model(
            &model.name,
            format!(
                "the result has a column {PARTITION_COLUMN:?}; \
                 the runner adds it, select the others"
            ),
        ));
    }
    if model.declaration.expect_rows && batches.iter().all(|b| b.num_rows() == 0) {
        return Err(WarehouseError::model(
            &model.name,
            format!("no rows for {dt}, and the model expects rows (is the day synced?)"),
        ));
    }
    Ok((schema, batches, plan))
}

/// The latest partition of `table` before `dt`, if the table exists and has one.
async fn previous_partition(
    ctx: &SessionContext,
    table: &str,
    dt: NaiveDate,
) -> Result<Option<String>, WarehouseError> {
    if !ctx.table_exist(table).unwrap_or(false) {
        return Ok(None);
    }
    let sql = format!(
        "SELECT max({PARTITION_COLUMN}) AS p FROM {table} WHERE {PARTITION_COLUMN} < '{dt}'"
    );
    let (_, batches) = collect(ctx, table, &sql).await?;
    let value = batches.first().and_then(|b| {
        let col = cast(b.column(0), &DataType::Utf8).ok()?;
        let s = col.as_any().downcast_ref::<StringArray>()?;
        (!s.is_empty() && s.is_valid(0)).then(|| s.value(0).to_string())
    });
    Ok(value)
}

/// `'{{ since }}'` of a keyed model: the first day its previous partition has not merged
/// (the day after it), or, on the first build, the beginning of all history, so that the
/// first build takes in everything earlier partitions of its inputs hold (a to-date model
/// first built after the day its source was first captured still sees that capture).
fn since(previous: Option<&str>) -> NaiveDate {
    previous
        .and_then(|p| NaiveDate::parse_from_str(p, "%Y-%m-%d").ok())
        .and_then(|p| p.succ_opt())
        .unwrap_or(HISTORY_BEGINS)
}

/// The first day of all history, for `'{{ since }}'` on a keyed model's first build.
const HISTORY_BEGINS: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => panic!("1900-01-01 is a date"),
};

/// The SQL merging a keyed model's rows of the day into its previous partition.
fn keyed_merge_sql(
    model: &Model,
    day_sql: &str,
    day_schema: &Schema,
    previous: Option<String>,
    dt: NaiveDate,
) -> Result<String, WarehouseError> {
    let decl = &model.declaration;
    let columns: Vec<String> = day_schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    if let Some(k) = decl.unique_key.iter().find(|k| !columns.contains(k)) {
        return Err(WarehouseError::model(
            &model.name,
            format!("unique_key column {k} is not in the result"),
        ));
    }
    let cols = columns.join(", ");
    let this = &model.name;
    match decl.materialization {
        Materialization::Scd2 => {
            let new_versions = format!(
                "SELECT {cols}, DATE '{dt}' AS start_date, \
                 DATE '{OPEN_END_DATE}' AS end_date FROM day_rows"
            );
            let Some(prev) = previous else {
                return Ok(format!("WITH day_rows AS ({day_sql}) {new_versions}"));
            };
            let yesterday = dt
                .pred_opt()
                .ok_or_else(|| WarehouseError::BadDay(dt.to_string()))?;
            let keys = decl.unique_key.join(", ");
            let join = decl
                .unique_key
                .iter()
                .map(|k| format!("p.{k} = c.{k}"))
                .collect::<Vec<_>>()
                .join(" AND ");
            let first_key = &decl.unique_key[0];
            let prev_cols = columns
                .iter()
                .map(|c| format!("p.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            Ok(format!(
                "WITH day_rows AS ({day_sql}), changed AS (SELECT DISTINCT {keys} FROM day_rows) \
                 SELECT {prev_cols}, p.start_date, \
                   CASE WHEN p.end_date = DATE '{OPEN_END_DATE}' AND c.{first_key} IS NOT NULL \
                        THEN DATE '{yesterday}' ELSE p.end_date END AS end_date \
                 FROM {this} p LEFT JOIN changed c ON {join} \
                 WHERE p.{PARTITION_COLUMN} = '{prev}' \
                 UNION ALL {new_versions}"
            ))
        }
        Materialization::Accumulate => {
            let mut select = Vec::new();
            for c in &columns {
                if decl.unique_key.contains(c) {
                    select.push(c.clone());
                } else {
                    let rule = decl.merge.get(c).ok_or_else(|| {
                        WarehouseError::model(
                            &model.name,
                            format!("column {c} has no merge rule (min, max or sum)"),
                        )
                    })?;
                    select.push(format!("{}({c}) AS {c}", rule.sql()));
                }
            }
            let union = match previous {
                Some(prev) => format!(
                    "SELECT {cols} FROM {this} WHERE {PARTITION_COLUMN} = '{prev}' \
                     UNION ALL SELECT {cols} FROM day_rows"
                ),
                None => format!("SELECT {cols} FROM day_rows"),
            };
            Ok(format!(
                "WITH day_rows AS ({day_sql}) SELECT {} FROM ({union}) merged GROUP BY {}",
                select.join(", "),
                decl.unique_key.join(", ")
            ))
        }
        Materialization::Snapshot | Materialization::Incremental => Ok(day_sql.to_string()),
    }
}

/// Marks every column nullable, so that a table's schema does not depend on how one day's
/// plan inferred nullability.
fn nullable(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(SchemaRef, Vec<RecordBatch>), WarehouseError> {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batches = batches
        .into_iter()
        .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| WarehouseError::model("(output)", e))?;
    Ok((schema, batches))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_the_day_after_the_previous_partition_or_all_history_on_a_first_build() {
        assert_eq!(since(Some("2026-01-05")).to_string(), "2026-01-06");
        assert_eq!(since(None), HISTORY_BEGINS);
        assert_eq!(since(Some("not a day")), HISTORY_BEGINS);
    }
}
