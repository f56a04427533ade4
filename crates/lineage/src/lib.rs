//! Lineage: where every number comes from and what a change would touch, read from the
//! engine's own plans rather than from SQL text.
//!
//! - `plan.rs` + `expr.rs`: column-level lineage of a DataFusion logical plan, in
//!   OpenLineage's terms (DIRECT: IDENTITY, TRANSFORMATION, AGGREGATION; INDIRECT: JOIN,
//!   FILTER, GROUP_BY, SORT, WINDOW, CONDITIONAL), through CTEs, subqueries, unions and
//!   struct fields, down to table scans.
//! - `capture.rs`: the ODS layer's lineage from the business schema.
//! - `store.rs`: lineage per step version in the catalog.
//! - `graph.rs`: the whole graph, walked upstream and downstream; `render.rs` shows a walk.
//! - `phi.rs`: PHI tags carried along DIRECT lineage.
//! - `openlineage/`: run events with the schema and column-lineage facets, delivered to a
//!   JSON-lines file and/or an OpenLineage HTTP endpoint; delivery never fails a build.
//!
//! **Invariant:** knows the business schema and the catalog, nothing of how the warehouse
//! builds or how capture reads; the warehouse, sync and capture hand it plans and runs.

mod capture;
mod expr;
pub mod field;
mod graph;
pub mod openlineage;
mod phi;
mod plan;
#[cfg(test)]
mod plan_tests;
mod render;
mod store;

pub use capture::{all_ods_lineage, ods_lineage, CHANGE_EVENT_FIELDS, CHANGE_EXTRA_FIELD};
pub use field::{ColumnLineage, DatasetLineage, FieldRef, Inputs, Subtype};
pub use graph::{
    kind_of, Direction, Edge, GraphError, LineageGraph, NodeKind, Reached, Walk, DASHBOARD_PREFIX,
    METRIC_PREFIX,
};
pub use phi::{phi_columns, PhiColumn, PhiDeclarations};
pub use plan::{plan_lineage, plan_lineage_with, LongTable};
pub use render::{walk_dot, walk_json, walk_text};
pub use store::{load, record, version_of, StepLineage, StoreError};
