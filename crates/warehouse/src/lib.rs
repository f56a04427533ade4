//! The warehouse: layered SQL models (dim, dwd, dws, ads) over the ODS tables of the lake,
//! a declared metric catalog, and the DAG runner that builds them for a business day.
//!
//! Models are data: one SQL file per model under `models/<layer>/`, with a declaration
//! (grain, materialization, description, column docs, PHI columns) in its leading
//! comment. Dependencies are read from the SQL. Metrics are declared in
//! `models/metrics.toml` as base measures x dimensions x windows and evaluated into one
//! long table, `ads_metric_value`. The runner ([`Warehouse`]) builds a day in dependency
//! order, replacing each table's partition `dt` in one Delta commit.
//!
//! ```no_run
//! # async fn demo(lake: &medlake_lake::Lake, catalog: &medlake_catalog::Catalog) -> Result<(), medlake_warehouse::WarehouseError> {
//! use medlake_warehouse::{BuildOptions, NoBuildProgress, Project, Warehouse};
//! let project = Project::builtin()?;
//! let day = "2026-01-01".parse().unwrap();
//! let report = Warehouse::new(lake, catalog, &project)
//!     .build_day(day, &BuildOptions::default(), &NoBuildProgress)
//!     .await?;
//! assert!(report.succeeded());
//! # Ok(()) }
//! ```

mod arrow_columns;
mod error;
mod events;
pub mod histogram;
mod lineage;
mod materialize;
pub mod metrics;
pub mod model;
pub mod partials;
mod partials_step;
mod project;
mod runner;
mod source_checks;
mod sql;
pub mod template;
mod values;
mod values_step;
mod window_merge;

pub use error::WarehouseError;
pub use events::BuildEvents;
pub use lineage::{instance_dataset, measure_dataset};
pub use materialize::OPEN_END_DATE;
pub use metrics::{Instance, Measure, MetricCatalog, METRIC_CATALOG_TABLE, METRIC_VALUE_TABLE};
pub use model::{Declaration, Materialization, Model};
pub use partials::METRIC_PARTIAL_TABLE;
pub use partials_step::metric_partial_schema;
pub use project::{tables_read, Project, Step, StepKind, METRICS_FILE, QUALITY_FILE};
pub use runner::{
    BuildOptions, BuildProgress, DayBuild, NoBuildProgress, StepOutcome, StepRun, Warehouse,
};
pub use values::{metric_values, MetricValue};
pub use values_step::metric_value_schema;
