//! Small helpers for running SQL in a DataFusion session, shared by the materialisation of
//! models and the metric steps.
//!
//! They live apart so that both can use them without depending on each other: this module
//! uses no other module of the crate but the error type.

use std::sync::Arc;

use deltalake::arrow::datatypes::{Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::prelude::SessionContext;

use crate::error::WarehouseError;

/// A result's schema and its batches.
pub(crate) type Batches = (SchemaRef, Vec<RecordBatch>);

/// The schema `sql` would produce, planned in `ctx` without running it; errors name `name`.
pub(crate) async fn plan_schema(
    ctx: &SessionContext,
    name: &str,
    sql: &str,
) -> Result<Schema, WarehouseError> {
    let df = ctx
        .sql(sql)
        .await
        .map_err(|e| WarehouseError::engine(name, e))?;
    Ok(df.schema().as_arrow().clone())
}

/// Runs `sql` in `ctx` and collects its result; errors name `name`.
pub(crate) async fn collect(
    ctx: &SessionContext,
    name: &str,
    sql: &str,
) -> Result<Batches, WarehouseError> {
    Ok(collect_planned(ctx, name, sql).await?.1)
}

/// Runs `sql` in `ctx` and collects its result, with the logical plan it ran (before
/// optimisation: what lineage reads); errors name `name`.
pub(crate) async fn collect_planned(
    ctx: &SessionContext,
    name: &str,
    sql: &str,
) -> Result<(LogicalPlan, Batches), WarehouseError> {
    let df = ctx
        .sql(sql)
        .await
        .map_err(|e| WarehouseError::engine(name, e))?;
    let plan = df.logical_plan().clone();
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let batches = df
        .collect()
        .await
        .map_err(|e| WarehouseError::engine(name, e))?;
    Ok((plan, (schema, batches)))
}
