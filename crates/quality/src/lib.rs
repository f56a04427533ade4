//! Data quality: checks declared beside the tables they check, run on a partition before
//! it is published (write-audit-publish), with column profiles and a recorded history.
//! Griffin's job in the classic stack.
//!
//! - `check.rs`: a declared check (`[[checks]]` in a model's header, `[[ods_x]]` in the
//!   project's `quality.toml`): kinds `not_null`, `unique`, `accepted_values`,
//!   `relationships`, `range`, `row_count`, `volume`, `freshness`, `distribution`,
//!   `reconcile`, `sql`, each `warn` or `error`.
//! - `rules.rs`: every table's checks, with the key a failing row is sampled by and the PHI
//!   columns that are never sampled or profiled by value.
//! - `audit.rs`: [`Auditor`] runs a table's checks on one partition, staged (computed, not
//!   yet written) or published, and profiles it; [`Audit::blocking`] says whether it may
//!   be published.
//! - `profile.rs`, `baseline.rs`: the profiles and the trailing-window bounds `volume` and
//!   `distribution` checks hold a partition to.
//! - `results.rs`: `dq_check_result`, the lake table of the latest results per day.
//!
//! Results and profiles are recorded in the catalog (`dq_check_result`, `dq_profile`).
//! Failing rows are sampled by their key columns alone, never a PHI column.
//!
//! ```
//! use medlake_quality::QualityRules;
//! let rules = QualityRules::parse_file(
//!     "[[ods_payment_inc]]\nkind = \"range\"\ncolumn = \"data.payment_amount\"\nmin = 0\n",
//!     "quality.toml",
//! ).unwrap();
//! assert_eq!(rules.checks().next().unwrap().id, "ods_payment_inc.range_data_payment_amount");
//! ```

mod audit;
#[cfg(test)]
mod audit_tests;
mod baseline;
mod check;
mod error;
mod finding;
mod profile;
mod query;
mod results;
mod rules;
mod session;

pub use audit::{blocks, describe, Audit, Auditor};
pub use check::{Baseline, Check, CheckKind, Measure, Severity, Tolerance};
pub use error::QualityError;
pub use profile::ROWS;
pub use results::{check_result_batch, check_result_schema, publish_results, CHECK_RESULT_TABLE};
pub use rules::{ods_key, QualityRules, TableRules};
pub use session::Partition;
