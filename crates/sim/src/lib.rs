//! medlake-sim: a deterministic simulator of the online medical consultation business
//! (see docs/domain.md, 'The consultation life cycle' and 'The imaging exam life cycle').
//! It writes the business (OLTP) database the way the application would: inserts and
//! updates in transactions, in time order, so `update_time` (and on MySQL the binlog)
//! shows each consultation's and each exam's life cycle.
//! It knows nothing of the lake.
//!
//! ```no_run
//! # async fn run() -> Result<(), medlake_sim::SimError> {
//! use medlake_sim::{simulate, BusinessWriter, Faults, SimParams, Target};
//! let params = SimParams { seed: 42, scale: 0.01, start: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() };
//! let mut writer = BusinessWriter::open(&Target::parse("sqlite://business.db")?).await?;
//! let state = simulate(&mut writer, &params, 7, &Faults::none(), |_progress| {}).await?;
//! assert_eq!(state.days_done, 7);
//! # Ok(()) }
//! ```
//!
//! Determinism: every random choice comes from a `ChaCha8Rng` (or a SplitMix hash)
//! keyed by (seed, purpose, index), never from the clock or hash-map order, so the same
//! (seed, scale, start, days) always gives the same rows, and day d can be computed
//! alone (it regenerates the plans of days d-2..d).
//!
//! The initial population holds the master data and the business of the two days before
//! the start date, so the start date begins like any day of a running business, with
//! consultations in flight, rather than like a launch.
//!
//! Faults: [`simulate`] can write days with deterministic data-quality faults
//! ([`FaultKind`]: NULL or negative amounts, double charges, unknown status codes, orphan
//! doctors, a volume drop, skewed clocks, late-arriving changes), for testing the checks
//! downstream. They obey the same determinism: whether a fault hits a row is a hash of
//! (seed, kind, row id), so the same (seed, scale, start, days, faults) give the same
//! rows; which faults each day got is recorded in [`FAULTS_TABLE`], so resumed and later
//! runs stay consistent with it (see the `faults` module).
//!
//! Ids are explicit: consultations are numbered in creation order across days; a
//! consultation's prescription has the consultation's id, its fee payment id `2*id-1`,
//! its prescription payment id `2*id`, and prescription line k (0-based) id `8*id+k`;
//! the imaging exam it orders has `exam_order` id `2*id-1`, the exam's repeat `2*id`, and
//! an `exam_report` its exam order's id. Scanner k (1-based) of hospital h has id
//! `100*h+k`. Doctors, users and patients are numbered after the initial population, day
//! by day.

#![warn(missing_docs)]

mod catalog;
mod consult;
mod error;
mod exam;
mod faults;
mod identity;
mod master;
mod model;
mod params;
mod rng;
mod run;
mod setting;
mod sim;
mod target;
mod text;
mod writer;

pub use error::{Result, SimError};
pub use faults::{
    FaultKind, FaultSchedule, Faults, FaultyDay, DUPLICATE_PAYMENT_OFFSET, ORPHAN_DOCTOR_OFFSET,
    UNKNOWN_STATUS, VOLUME_DROP_SHARE,
};
pub use identity::{is_valid_id_card, is_valid_mobile};
pub use model::{Change, RowCounts, TableCounts, Txn, Unit, UnitStats};
pub use params::SimParams;
pub use run::{simulate, Progress};
pub use sim::{DayTxns, Population, Simulator};
pub use target::Target;
pub use writer::{BusinessWriter, SimState, FAULTS_TABLE, STATE_TABLE};
