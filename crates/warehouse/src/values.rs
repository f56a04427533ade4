//! Reading metric values back from the long table, the way every consumer reads a metric.

use chrono::NaiveDate;
use deltalake::arrow::array::{Array, Float64Array, StringArray, UInt32Array};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::prelude::SessionContext;
use medlake_lake::{Lake, PARTITION_COLUMN};

use crate::error::WarehouseError;
use crate::metrics::METRIC_VALUE_TABLE;

/// One value of one metric instance on one report day.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricValue {
    /// Instance name, `<measure>.<dimension>.<window>d`.
    pub metric: String,
    /// Base measure.
    pub measure: String,
    /// Dimension.
    pub dimension: String,
    /// Value of the dimension (`all` for overall).
    pub dimension_value: String,
    /// Label of that value, where the source has one.
    pub dimension_label: Option<String>,
    /// Window in days.
    pub window_days: u32,
    /// The value.
    pub value: f64,
}

/// Every metric value of report day `dt`, ordered by metric and dimension value.
pub async fn metric_values(lake: &Lake, dt: NaiveDate) -> Result<Vec<MetricValue>, WarehouseError> {
    let ctx = SessionContext::new();
    lake.register(&ctx, METRIC_VALUE_TABLE).await?;
    if !ctx.table_exist(METRIC_VALUE_TABLE).unwrap_or(false) {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT metric, measure, dimension, dimension_value, dimension_label, window_days, value \
         FROM {METRIC_VALUE_TABLE} WHERE {PARTITION_COLUMN} = '{dt}' ORDER BY metric, dimension_value"
    );
    let model =
        |e: &dyn std::fmt::Display| WarehouseError::model(METRIC_VALUE_TABLE, e.to_string());
    let batches = ctx
        .sql(&sql)
        .await
        .map_err(|e| model(&e))?
        .collect()
        .await
        .map_err(|e| model(&e))?;
    let mut out = Vec::new();
    for b in &batches {
        // Parquet strings come back as Utf8View; read every column in one known type.
        let typed = |i: usize, ty: DataType| cast(b.column(i), &ty).ok();
        let text = |i: usize| {
            typed(i, DataType::Utf8).and_then(|a| a.as_any().downcast_ref::<StringArray>().cloned())
        };
        let (Some(metric), Some(measure), Some(dimension), Some(value_of), Some(label)) =
            (text(0), text(1), text(2), text(3), text(4))
        else {
            return Err(model(&"unexpected column types"));
        };
        let windows = typed(5, DataType::UInt32)
            .and_then(|a| a.as_any().downcast_ref::<UInt32Array>().cloned());
        let values = typed(6, DataType::Float64)
            .and_then(|a| a.as_any().downcast_ref::<Float64Array>().cloned());
        let (Some(windows), Some(values)) = (windows, values) else {
            return Err(model(&"unexpected column types"));
        };
        for r in 0..b.num_rows() {
            out.push(MetricValue {
                metric: metric.value(r).to_string(),
                measure: measure.value(r).to_string(),
                dimension: dimension.value(r).to_string(),
                dimension_value: value_of.value(r).to_string(),
                dimension_label: label.is_valid(r).then(|| label.value(r).to_string()),
                window_days: windows.value(r),
                value: values.value(r),
            });
        }
    }
    Ok(out)
}
