//! The DAG runner: builds the steps of a project for a business day, in dependency order,
//! several at once where the graph allows, with retries and a run record per step.
//!
//! Every step replaces partition `dt` of its table in one Delta commit, so a rebuild of a
//! day gives the same result and a crash leaves each table at its last good version. A
//! failed step stops its descendants (recorded as skipped); the others go on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use deltalake::arrow::array::{Array, StringArray, UInt32Array};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::SessionContext;
use futures::stream::{FuturesUnordered, StreamExt};
use medlake_catalog::{Catalog, Outcome};
use medlake_lake::{Lake, PARTITION_COLUMN};

use crate::error::WarehouseError;
use crate::metric_steps::{metric_partials, metric_values};
use crate::metrics::METRIC_CATALOG_TABLE;
use crate::model::{Materialization, Model};
use crate::project::{Project, Step, StepKind};
use crate::template::{render, Vars};

/// Run-record kind of a build step.
pub const RUN_KIND: &str = "build";

/// `end_date` of a current SCD2 version.
pub const OPEN_END_DATE: &str = "9999-12-31";

/// How a build runs.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Steps executing at once.
    pub parallelism: usize,
    /// Extra attempts of a failing step.
    pub retries: u32,
    /// Pause before the first retry; doubles after each.
    pub retry_backoff: Duration,
    /// Build only these steps (their inputs must exist); `None` builds all.
    pub only: Option<BTreeSet<String>>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            parallelism: 2,
            retries: 2,
            retry_backoff: Duration::from_millis(500),
            only: None,
        }
    }
}

/// How one step of one day ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Its partition was written.
    Succeeded,
    /// It failed after every attempt; the message says why.
    Failed(String),
    /// It did not run because a step it reads failed.
    Skipped(String),
}

/// The record of one step of one day.
#[derive(Debug, Clone)]
pub struct StepRun {
    /// Table.
    pub name: String,
    /// Business day.
    pub dt: NaiveDate,
    /// Outcome.
    pub outcome: StepOutcome,
    /// Rows written.
    pub rows: u64,
    /// Approximate bytes written (Arrow in-memory size).
    pub bytes: u64,
    /// Wall time in seconds, all attempts.
    pub seconds: f64,
    /// Attempts made.
    pub attempts: u32,
}

/// The steps of one day.
#[derive(Debug, Clone)]
pub struct DayBuild {
    /// Business day.
    pub dt: NaiveDate,
    /// Every step, in the order they finished.
    pub steps: Vec<StepRun>,
    /// Wall time of the day's build in seconds.
    pub seconds: f64,
}

impl DayBuild {
    /// Whether every step succeeded.
    pub fn succeeded(&self) -> bool {
        self.steps
            .iter()
            .all(|s| s.outcome == StepOutcome::Succeeded)
    }

    /// Rows written by all steps.
    pub fn rows(&self) -> u64 {
        self.steps.iter().map(|s| s.rows).sum()
    }
}

/// Receives build progress (a terminal shows bars; tests ignore it).
pub trait BuildProgress: Send + Sync {
    /// A day starts with `steps` steps.
    fn day_started(&self, _dt: NaiveDate, _steps: usize) {}
    /// A step starts.
    fn step_started(&self, _dt: NaiveDate, _name: &str) {}
    /// A step ended.
    fn step_finished(&self, _run: &StepRun) {}
}

/// Progress that goes nowhere.
pub struct NoBuildProgress;
impl BuildProgress for NoBuildProgress {}

/// Builds a project into a lake, recording runs in a catalog.
pub struct Warehouse<'a> {
    lake: &'a Lake,
    catalog: &'a Catalog,
    project: &'a Project,
}

impl<'a> Warehouse<'a> {
    /// A runner over `lake` and `catalog` for `project`.
    pub fn new(lake: &'a Lake, catalog: &'a Catalog, project: &'a Project) -> Self {
        Warehouse {
            lake,
            catalog,
            project,
        }
    }

    /// Builds each day in order (a day may read the previous day's partitions).
    pub async fn build_days(
        &self,
        days: &[NaiveDate],
        options: &BuildOptions,
        progress: &dyn BuildProgress,
    ) -> Result<Vec<DayBuild>, WarehouseError> {
        let mut out = Vec::new();
        for &dt in days {
            out.push(self.build_day(dt, options, progress).await?);
        }
        Ok(out)
    }

    /// Builds every step for day `dt`. Step failures are in the report, not an error; an
    /// error means the catalog itself failed.
    pub async fn build_day(
        &self,
        dt: NaiveDate,
        options: &BuildOptions,
        progress: &dyn BuildProgress,
    ) -> Result<DayBuild, WarehouseError> {
        let started = Instant::now();
        let selected: Vec<&Step> = self
            .project
            .steps
            .iter()
            .filter(|s| options.only.as_ref().is_none_or(|o| o.contains(&s.name)))
            .collect();
        let names: BTreeSet<&str> = selected.iter().map(|s| s.name.as_str()).collect();
        progress.day_started(dt, selected.len());
        let mut status: BTreeMap<&str, Option<bool>> =
            selected.iter().map(|s| (s.name.as_str(), None)).collect();
        let mut waiting: Vec<&Step> = selected.clone();
        let mut running = FuturesUnordered::new();
        let mut runs = Vec::new();
        loop {
            let mut i = 0;
            while i < waiting.len() {
                let step = waiting[i];
                let inputs: Vec<Option<bool>> = step
                    .depends_on
                    .iter()
                    .filter(|d| names.contains(d.as_str()))
                    .map(|d| status.get(d.as_str()).copied().flatten())
                    .collect();
                if let Some(failed) = step
                    .depends_on
                    .iter()
                    .find(|d| status.get(d.as_str()) == Some(&Some(false)))
                {
                    waiting.remove(i);
                    let run = self.record_skip(step, dt, failed)?;
                    progress.step_finished(&run);
                    status.insert(step.name.as_str(), Some(false));
                    runs.push(run);
                    i = 0;
                    continue;
                }
                if running.len() < options.parallelism.max(1)
                    && inputs.iter().all(|s| *s == Some(true))
                {
                    waiting.remove(i);
                    progress.step_started(dt, &step.name);
                    running.push(self.run_step(step, dt, options));
                    continue;
                }
                i += 1;
            }
            match running.next().await {
                Some(run) => {
                    let run = run?;
                    progress.step_finished(&run);
                    if let Some(done) = status.get_mut(run.name.as_str()) {
                        *done = Some(run.outcome == StepOutcome::Succeeded);
                    }
                    runs.push(run);
                }
                None => break,
            }
        }
        Ok(DayBuild {
            dt,
            steps: runs,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    fn record_skip(
        &self,
        step: &Step,
        dt: NaiveDate,
        failed: &str,
    ) -> Result<StepRun, WarehouseError> {
        let message = format!("skipped: {failed} failed");
        let id = self
            .catalog
            .start_run(RUN_KIND, &step.name, Some(&dt.to_string()))?;
        self.catalog
            .finish_run(id, Outcome::Skipped, 0, 0, Some(&message))?;
        Ok(StepRun {
            name: step.name.clone(),
            dt,
            outcome: StepOutcome::Skipped(message),
            rows: 0,
            bytes: 0,
            seconds: 0.0,
            attempts: 0,
        })
    }

    async fn run_step(
        &self,
        step: &Step,
        dt: NaiveDate,
        options: &BuildOptions,
    ) -> Result<StepRun, WarehouseError> {
        let started = Instant::now();
        let id = self
            .catalog
            .start_run(RUN_KIND, &step.name, Some(&dt.to_string()))?;
        let mut attempts = 0;
        let mut backoff = options.retry_backoff;
        let result = loop {
            attempts += 1;
            match self.execute(step, dt).await {
                Ok(written) => break Ok(written),
                Err(e) if attempts > options.retries => break Err(e),
                Err(e) => {
                    tracing::warn!(step = %step.name, %dt, attempt = attempts, "retrying: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        };
        let (outcome, rows, bytes) = match result {
            Ok((rows, bytes)) => {
                self.catalog
                    .finish_run(id, Outcome::Succeeded, rows, bytes, None)?;
                (StepOutcome::Succeeded, rows, bytes)
            }
            Err(e) => {
                let message = e.to_string();
                self.catalog
                    .finish_run(id, Outcome::Failed, 0, 0, Some(&message))?;
                (StepOutcome::Failed(message), 0, 0)
            }
        };
        Ok(StepRun {
            name: step.name.clone(),
            dt,
            outcome,
            rows,
            bytes,
            seconds: started.elapsed().as_secs_f64(),
            attempts,
        })
    }

    /// Computes and writes one step's partition; returns rows and bytes written.
    async fn execute(&self, step: &Step, dt: NaiveDate) -> Result<(u64, u64), WarehouseError> {
        let ctx = self.session_for(step).await?;
        let (schema, batches) = match &step.kind {
            StepKind::Model(model) => self.run_model(&ctx, model, dt).await?,
            StepKind::MetricPartials => metric_partials(&ctx, &self.project.metrics, dt).await?,
            StepKind::MetricValues => metric_values(&ctx, &self.project.metrics, dt).await?,
            StepKind::MetricCatalog => metric_catalog_batch(self.project)?,
        };
        let (schema, batches) = nullable(schema, batches)?;
        let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        let bytes: u64 = batches
            .iter()
            .map(|b| b.get_array_memory_size() as u64)
            .sum();
        self.lake
            .replace_partition(&step.name, &dt.to_string(), schema, batches)
            .await?;
        Ok((rows, bytes))
    }

    /// A session with every table the step reads (and its own table, if it reads itself).
    async fn session_for(&self, step: &Step) -> Result<SessionContext, WarehouseError> {
        let ctx = SessionContext::new();
        for name in step.depends_on.iter().chain(&step.sources) {
            self.lake.register(&ctx, name).await?;
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
            self.lake.register(&ctx, &step.name).await?;
        }
        Ok(ctx)
    }

    async fn run_model(
        &self,
        ctx: &SessionContext,
        model: &Model,
        dt: NaiveDate,
    ) -> Result<(SchemaRef, Vec<RecordBatch>), WarehouseError> {
        let vars = Vars::for_day(dt);
        let sql = render(&model.sql, &vars).map_err(|e| WarehouseError::model(&model.name, e))?;
        let sql = match model.declaration.materialization {
            Materialization::Snapshot | Materialization::Incremental => sql,
            Materialization::Scd2 | Materialization::Accumulate => {
                let day_schema = plan_schema(ctx, &model.name, &sql).await?;
                let previous = self.previous_partition(ctx, &model.name, dt).await?;
                keyed_merge_sql(model, &sql, &day_schema, previous, dt)?
            }
        };
        let (schema, batches) = collect(ctx, &model.name, &sql).await?;
        if schema.field_with_name(PARTITION_COLUMN).is_ok() {
            return Err(WarehouseError::model(
                &model.name,
                format!("the result has a column {PARTITION_COLUMN:?}; the runner adds it, select the others"),
            ));
        }
        if model.declaration.expect_rows && batches.iter().all(|b| b.num_rows() == 0) {
            return Err(WarehouseError::model(
                &model.name,
                format!("no rows for {dt}, and the model expects rows (is the day synced?)"),
            ));
        }
        Ok((schema, batches))
    }

    /// The latest partition of `table` before `dt`, if the table exists and has one.
    async fn previous_partition(
        &self,
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
}

fn metric_catalog_batch(
    project: &Project,
) -> Result<(SchemaRef, Vec<RecordBatch>), WarehouseError> {
    let catalog = &project.metrics;
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
                "SELECT {cols}, DATE '{dt}' AS start_date, DATE '{OPEN_END_DATE}' AS end_date FROM day_rows"
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
                    "SELECT {cols} FROM {this} WHERE {PARTITION_COLUMN} = '{prev}' UNION ALL SELECT {cols} FROM day_rows"
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

async fn plan_schema(
    ctx: &SessionContext,
    name: &str,
    sql: &str,
) -> Result<Schema, WarehouseError> {
    let df = ctx
        .sql(sql)
        .await
        .map_err(|e| WarehouseError::model(name, e))?;
    Ok(df.schema().as_arrow().clone())
}

pub(crate) async fn collect(
    ctx: &SessionContext,
    name: &str,
    sql: &str,
) -> Result<(SchemaRef, Vec<RecordBatch>), WarehouseError> {
    let df = ctx
        .sql(sql)
        .await
        .map_err(|e| WarehouseError::model(name, e))?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let batches = df
        .collect()
        .await
        .map_err(|e| WarehouseError::model(name, e))?;
    Ok((schema, batches))
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
