//! What each step tells lineage (`medlake-lineage`): a SQL model, the plan it ran; the
//! steps made in Rust, what `metrics.toml` declares, planned the same way.
//!
//! - A measure (`metric:<measure>`, field `value`) is the aggregate of the source columns
//!   its `value` (or `numerator`/`denominator`) reads, planned against the source's real
//!   table, so `sum(paid_amount)` resolves to `dws_consultation_1d.paid_amount` (a
//!   `quantile_minutes(x, q)` is planned as `median(x)`). A measure declared as a whole
//!   query is that query's plan.
//! - An instance (`metric:<measure>.<dimension>.<window>d`) is its measure's value over the
//!   window (AGGREGATION), grouped by the dimension's key and label columns (GROUP_BY).
//! - `dws_metric_partial` holds every measure's parts, `ads_metric_value` every instance's
//!   value; their columns link to the measures and instances, and `ads_metric_catalog`
//!   holds declarations only (constants).

use chrono::NaiveDate;
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::prelude::SessionContext;
use medlake_lineage::{
    plan_lineage, plan_lineage_with, version_of, ColumnLineage, DatasetLineage, FieldRef, Inputs,
    LongTable, StepLineage, Subtype, METRIC_PREFIX,
};

use crate::error::WarehouseError;
use crate::histogram::parse_quantile_call;
use crate::metrics::{
    instance_name, Dimension, Measure, MeasureKind, MetricCatalog, METRIC_VALUE_TABLE,
};
use crate::partials::{Combine, METRIC_PARTIAL_TABLE};
use crate::template::{render, Vars};
use crate::window_merge::window_start;

/// The lineage of a SQL model's step: the plan it ran, versioned by its SQL. A model that
/// picks measures out of `ads_metric_value` (`CASE WHEN measure = 'x' THEN value`) reads
/// the measure `metric:x`, not every value.
pub(crate) fn model_lineage(name: &str, sql_text: &str, plan: &LogicalPlan) -> StepLineage {
    let long_tables = [
        LongTable {
            table: METRIC_VALUE_TABLE.to_string(),
            key: "measure".to_string(),
            value: "value".to_string(),
            prefix: METRIC_PREFIX.to_string(),
        },
        LongTable {
            table: METRIC_VALUE_TABLE.to_string(),
            key: "metric".to_string(),
            value: "value".to_string(),
            prefix: METRIC_PREFIX.to_string(),
        },
    ];
    StepLineage {
        step: name.to_string(),
        version: version_of("model", sql_text),
        datasets: vec![plan_lineage_with(name, plan, &long_tables)],
    }
}

/// The dataset name of a measure.
pub fn measure_dataset(measure: &str) -> String {
    format!("{METRIC_PREFIX}{measure}")
}

/// The dataset name of an instance.
pub fn instance_dataset(measure: &str, dimension: &str, window_days: u32) -> String {
    format!(
        "{METRIC_PREFIX}{}",
        instance_name(measure, dimension, window_days)
    )
}

/// The version of the metric steps' lineage: what the catalog declares.
fn metrics_version(kind: &str, metrics: &MetricCatalog) -> String {
    version_of(kind, &format!("{metrics:?}"))
}

/// `dws_metric_partial` and the aggregate measures, planned in `ctx` (which holds every
/// measure source).
pub(crate) async fn partials_lineage(
    ctx: &SessionContext,
    metrics: &MetricCatalog,
) -> Result<StepLineage, WarehouseError> {
    let mut datasets = Vec::new();
    let mut number = Inputs::new();
    let mut keys = Inputs::new();
    for m in &metrics.measures {
        let MeasureKind::Aggregate { source, parts, .. } = &m.kind else {
            continue;
        };
        let calls: Vec<String> = parts
            .iter()
            .enumerate()
            .map(|(i, p)| match p.combine {
                Combine::Distinct => format!("count(DISTINCT {}) AS p{i}", p.call),
                // The engine has no quantile_minutes: the median of the same value reads
                // the same columns the same way (an aggregation).
                Combine::Histogram => match parse_quantile_call(&p.call) {
                    Ok((value, _)) => format!("median({value}) AS p{i}"),
                    Err(_) => format!("count(*) AS p{i}"),
                },
                _ => format!("{} AS p{i}", p.call),
            })
            .collect();
        let sql = format!("SELECT {} FROM {source}", calls.join(", "));
        let measure = measure_from_plan(m, &planned(ctx, &sql).await?);
        for c in &measure.columns {
            medlake_lineage::field::merge_inputs(&mut number, &c.inputs, |s| s);
        }
        for dim in m
            .dimensions
            .iter()
            .filter_map(|d| metrics.dimensions.get(d))
        {
            for field in dimension_fields(source, dim).into_iter().flatten() {
                medlake_lineage::field::add_input(&mut keys, field, Subtype::Identity);
            }
        }
        datasets.push(measure);
    }
    let mut table = DatasetLineage {
        dataset: METRIC_PARTIAL_TABLE.to_string(),
        columns: Vec::new(),
        dataset_inputs: Inputs::new(),
    };
    for (name, inputs) in [
        ("number", number.clone()),
        ("ids", number),
        ("dimension_value", keys.clone()),
        ("dimension_label", keys),
    ] {
        table.columns.push(ColumnLineage {
            name: name.to_string(),
            inputs,
        });
    }
    for constant in ["source", "dimension", "part", "combine"] {
        table.columns.push(ColumnLineage {
            name: constant.to_string(),
            inputs: Inputs::new(),
        });
    }
    datasets.push(table);
    Ok(StepLineage {
        step: METRIC_PARTIAL_TABLE.to_string(),
        version: metrics_version("partials", metrics),
        datasets,
    })
}

/// `ads_metric_value`, the instances, and the measures declared as whole queries, planned
/// in `ctx` (which holds the tables those read) for day `dt`.
pub(crate) async fn values_lineage(
    ctx: &SessionContext,
    metrics: &MetricCatalog,
    dt: NaiveDate,
) -> Result<StepLineage, WarehouseError> {
    let mut datasets = Vec::new();
    let mut value = Inputs::new();
    let (mut keys, mut labels) = (Inputs::new(), Inputs::new());
    for m in &metrics.measures {
        if let MeasureKind::Aggregate { source, .. } = &m.kind {
            for dim in m
                .dimensions
                .iter()
                .filter_map(|d| metrics.dimensions.get(d))
            {
                let [key, label] = dimension_fields(source, dim);
                for (field, into) in [(key, &mut keys), (label, &mut labels)] {
                    if let Some(field) = field {
                        medlake_lineage::field::add_input(into, field, Subtype::Identity);
                    }
                }
            }
        }
        if let MeasureKind::Query(sql) = &m.kind {
            let w = m.windows.first().copied().unwrap_or(1);
            let vars = Vars::for_day(dt).with("window_start", window_start(dt, w)?);
            let rendered =
                render(sql, &vars).map_err(|e| WarehouseError::model(METRIC_VALUE_TABLE, e))?;
            datasets.push(measure_from_plan(m, &planned(ctx, &rendered).await?));
        }
        let source = match &m.kind {
            MeasureKind::Aggregate { source, .. } => Some(source.as_str()),
            MeasureKind::Query(_) => None,
        };
        for dimension in &m.dimensions {
            for &w in &m.windows {
                let instance = instance_lineage(metrics, m, source, dimension, w);
                let field = FieldRef::new(instance.dataset.clone(), "value");
                medlake_lineage::field::add_input(&mut value, field, Subtype::Identity);
                datasets.push(instance);
            }
        }
    }
    // The metric, measure, dimension and window of a row are declarations (constants).
    let columns = [
        ("value", value),
        ("dimension_value", keys),
        ("dimension_label", labels),
    ]
    .into_iter()
    .chain(
        ["metric", "measure", "dimension", "window_days"]
            .into_iter()
            .map(|n| (n, Inputs::new())),
    )
    .map(|(name, inputs)| ColumnLineage {
        name: name.to_string(),
        inputs,
    })
    .collect();
    datasets.push(DatasetLineage {
        dataset: METRIC_VALUE_TABLE.to_string(),
        columns,
        dataset_inputs: Inputs::new(),
    });
    Ok(StepLineage {
        step: METRIC_VALUE_TABLE.to_string(),
        version: metrics_version("values", metrics),
        datasets,
    })
}

/// `ads_metric_catalog`: declarations, no input.
pub(crate) fn catalog_lineage(
    step: &str,
    schema: &deltalake::arrow::datatypes::Schema,
    metrics: &MetricCatalog,
) -> StepLineage {
    let columns = schema
        .fields()
        .iter()
        .map(|f| ColumnLineage {
            name: f.name().clone(),
            inputs: Inputs::new(),
        })
        .collect();
    StepLineage {
        step: step.to_string(),
        version: metrics_version("catalog", metrics),
        datasets: vec![DatasetLineage {
            dataset: step.to_string(),
            columns,
            dataset_inputs: Inputs::new(),
        }],
    }
}

async fn planned(ctx: &SessionContext, sql: &str) -> Result<LogicalPlan, WarehouseError> {
    let df = ctx
        .sql(sql)
        .await
        .map_err(|e| WarehouseError::engine(METRIC_VALUE_TABLE, e))?;
    Ok(df.logical_plan().clone())
}

/// A measure's dataset: one field `value` with every input of the planned expressions.
fn measure_from_plan(m: &Measure, plan: &LogicalPlan) -> DatasetLineage {
    let planned = plan_lineage(&measure_dataset(&m.name), plan);
    let mut inputs = Inputs::new();
    for c in &planned.columns {
        medlake_lineage::field::merge_inputs(&mut inputs, &c.inputs, |s| s);
    }
    DatasetLineage {
        dataset: planned.dataset,
        columns: vec![ColumnLineage {
            name: "value".to_string(),
            inputs,
        }],
        dataset_inputs: planned.dataset_inputs,
    }
}

/// The columns of `source` a dimension groups by: its key and the label shown beside it.
fn dimension_fields(source: &str, dim: &Dimension) -> [Option<FieldRef>; 2] {
    [&dim.key, &dim.label].map(|c| c.as_ref().map(|c| FieldRef::new(source, c.as_str())))
}

fn instance_lineage(
    metrics: &MetricCatalog,
    m: &Measure,
    source: Option<&str>,
    dimension: &str,
    window_days: u32,
) -> DatasetLineage {
    let mut inputs = Inputs::new();
    let measure = FieldRef::new(measure_dataset(&m.name), "value");
    medlake_lineage::field::add_input(&mut inputs, measure, Subtype::Aggregation);
    let mut rows = Inputs::new();
    if let (Some(source), Some(dim)) = (source, metrics.dimensions.get(dimension)) {
        for field in dimension_fields(source, dim).into_iter().flatten() {
            medlake_lineage::field::add_input(&mut rows, field, Subtype::GroupBy);
        }
    }
    DatasetLineage {
        dataset: instance_dataset(&m.name, dimension, window_days),
        columns: vec![ColumnLineage {
            name: "value".to_string(),
            inputs,
        }],
        dataset_inputs: rows,
    }
}
