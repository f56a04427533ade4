//! Writing simulated transactions into a business database, and the progress row
//! (`medlake_sim_state`) that lets a later run continue where this one stopped.

mod mysql;
mod sqlite;

use chrono::NaiveDate;

use crate::error::{Result, SimError};
use crate::faults::FaultSchedule;
use crate::model::Txn;
use crate::params::SimParams;
use crate::target::Target;

/// Name of the progress table; not a business table, so the sync never reads it.
pub const STATE_TABLE: &str = "medlake_sim_state";

/// Name of the fault log: which faults each simulated day was written with (one row per
/// day that has faults). Kept in the business database, next to the progress row, so a
/// resumed or later run regenerates a day exactly as it was first written (see
/// [`crate::Faults`]); not a business table, so the sync never reads it.
pub const FAULTS_TABLE: &str = "medlake_sim_faults";

/// One row of [`FAULTS_TABLE`]: the faults one day was written with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FaultRow {
    /// Day index (0 = start date).
    pub day: u32,
    /// The business date of the day (for people reading the table).
    pub date: NaiveDate,
    /// Fault kinds, comma-separated names.
    pub kinds: String,
    /// The rate, as Rust prints an f64 (reads back exactly).
    pub rate: String,
}

impl FaultRow {
    /// Parses the stored columns.
    fn from_columns(day: i64, date: &str, kinds: String, rate: String) -> Result<FaultRow> {
        let bad =
            |what: &str| SimError::CorruptState(format!("unreadable {what} in {FAULTS_TABLE}"));
        Ok(FaultRow {
            day: u32::try_from(day).map_err(|_| bad("day_index"))?,
            date: NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| bad("business_date"))?,
            kinds,
            rate,
        })
    }
}

/// How far a business database has been simulated, and with which parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimState {
    /// The parameters the database was created with; later runs must use the same.
    pub params: SimParams,
    /// Whether the initial population is fully loaded.
    pub population_loaded: bool,
    /// Days fully simulated (the next day to simulate has this index).
    pub days_done: u32,
    /// Transactions of the next unit (population or day) already committed by an
    /// interrupted run; they are skipped when resuming.
    pub txns_done: u64,
}

impl SimState {
    /// A fresh state: nothing written yet.
    pub fn new(params: SimParams) -> SimState {
        SimState {
            params,
            population_loaded: false,
            days_done: 0,
            txns_done: 0,
        }
    }

    /// Parses the stored columns.
    fn from_columns(
        seed: &str,
        scale: &str,
        start: &str,
        days: i64,
        loaded: i64,
        txns: i64,
    ) -> Result<SimState> {
        let bad = |what: &str| SimError::CorruptState(format!("unreadable {what}"));
        let params = SimParams {
            seed: seed.parse().map_err(|_| bad("seed"))?,
            scale: scale.parse().map_err(|_| bad("scale"))?,
            start: NaiveDate::parse_from_str(start, "%Y-%m-%d").map_err(|_| bad("start_date"))?,
        };
        Ok(SimState {
            params,
            population_loaded: loaded != 0,
            days_done: u32::try_from(days).map_err(|_| bad("days_done"))?,
            txns_done: u64::try_from(txns).map_err(|_| bad("txns_done"))?,
        })
    }
}

/// A connection to a business database that the simulator writes.
///
/// The API is async for MySQL; SQLite work runs synchronously on the calling task
/// (a CLI's progress bar should draw from its own thread, as indicatif does).
pub struct BusinessWriter {
    inner: Inner,
}

enum Inner {
    Sqlite(sqlite::SqliteWriter),
    Mysql(mysql::MysqlWriter),
}

impl BusinessWriter {
    /// Opens (SQLite: creates) the target database; on MySQL also creates the database.
    pub async fn open(target: &Target) -> Result<BusinessWriter> {
        let inner = match target {
            Target::Sqlite(path) => Inner::Sqlite(sqlite::SqliteWriter::open(path)?),
            Target::Mysql(url) => Inner::Mysql(mysql::MysqlWriter::open(url).await?),
        };
        Ok(BusinessWriter { inner })
    }

    /// Creates the business tables and the progress table if missing.
    pub async fn ensure_schema(&mut self) -> Result<()> {
        match &mut self.inner {
            Inner::Sqlite(w) => w.ensure_schema(),
            Inner::Mysql(w) => w.ensure_schema().await,
        }
    }

    /// The recorded progress, or `None` for a database never simulated.
    pub async fn state(&mut self) -> Result<Option<SimState>> {
        match &mut self.inner {
            Inner::Sqlite(w) => w.state(),
            Inner::Mysql(w) => w.state().await,
        }
    }

    /// Records progress on its own (start of a run, end of a unit).
    pub(crate) async fn write_state(&mut self, state: &SimState) -> Result<()> {
        match &mut self.inner {
            Inner::Sqlite(w) => w.write_state(state),
            Inner::Mysql(w) => w.write_state(state).await,
        }
    }

    /// The faults each simulated day of this database was written with (empty for a
    /// database simulated without faults), so tools and tests know which days carry
    /// injected faults.
    pub async fn fault_schedule(&mut self) -> Result<FaultSchedule> {
        FaultSchedule::from_rows(self.fault_rows().await?)
    }

    /// The rows of the fault log, by day (none when the table does not exist yet).
    pub(crate) async fn fault_rows(&mut self) -> Result<Vec<FaultRow>> {
        match &mut self.inner {
            Inner::Sqlite(w) => w.fault_rows(),
            Inner::Mysql(w) => w.fault_rows().await,
        }
    }

    /// Replaces the fault log's rows of days `from_day` and later by `rows`, atomically.
    pub(crate) async fn record_faults(&mut self, from_day: u32, rows: &[FaultRow]) -> Result<()> {
        match &mut self.inner {
            Inner::Sqlite(w) => w.record_faults(from_day, rows),
            Inner::Mysql(w) => w.record_faults(from_day, rows).await,
        }
    }

    /// How many transactions the driver should hand over per [`BusinessWriter::apply`].
    pub(crate) fn batch_size(&self) -> usize {
        match &self.inner {
            Inner::Sqlite(_) => sqlite::BATCH,
            Inner::Mysql(_) => mysql::BATCH,
        }
    }

    /// Commits `txns` (in order) and, atomically with them, the progress `before`
    /// advanced by the transactions committed.
    pub(crate) async fn apply(&mut self, txns: &[Txn], before: &SimState) -> Result<()> {
        match &mut self.inner {
            Inner::Sqlite(w) => w.apply(txns, before),
            Inner::Mysql(w) => w.apply(txns, before).await,
        }
    }

    /// After an interruption the next `n` transactions may already be in the database:
    /// write them so that re-applying is harmless (MySQL only; SQLite batches are atomic).
    pub(crate) fn tolerate_replay(&mut self, n: u64) {
        if let Inner::Mysql(w) = &mut self.inner {
            w.tolerate_replay(n);
        }
    }

    /// Drops a scratch MySQL database (tests only; no-op on SQLite).
    #[cfg(test)]
    pub(crate) async fn drop_mysql_database(&mut self, db: &str) -> Result<()> {
        match &mut self.inner {
            Inner::Sqlite(_) => Ok(()),
            Inner::Mysql(w) => w.drop_database(db).await,
        }
    }

    /// Closes the connection cleanly.
    pub async fn close(self) -> Result<()> {
        match self.inner {
            Inner::Sqlite(_) => Ok(()),
            Inner::Mysql(w) => w.close().await,
        }
    }
}
