//! Operations: what keeps the daily pipeline running without a person at the keyboard,
//! and tells people when it does not.
//!
//! - [`schedule`]: the declared daily pipeline, run as child processes by the one
//!   scheduler holding the catalog's lease.
//! - [`figures`]: the registry `/metrics` serves.
//! - [`series`]: a short history of the figures, read by the evaluator and the charts.
//! - [`alerts`]: rules as data, evaluated here and exported for Prometheus.
//! - [`notify`]: receivers (group robots, email, webhooks), routing, grouping, silences.
//! - [`monitor`]: samples the figures, evaluates the rules and notifies, inside `serve`.

pub mod alerts;
pub mod duration;
pub mod figures;
pub mod monitor;
pub mod notify;
pub mod schedule;
pub mod series;
