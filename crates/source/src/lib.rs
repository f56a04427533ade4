//! Business-database sources: read the tables of `medlake-schema` as Arrow record batches.
//!
//! A source is anything that holds the business tables and answers three questions: how
//! many rows and which id range a table has (for parallel snapshots chunked by primary
//! key), the rows in an id range (DataX's job), and the rows changed after a watermark
//! (query-based incremental capture). SQLite (the embedded default) and MySQL/MariaDB
//! implement [`BusinessSource`]; a new kind of database is a new impl. Rows carry the
//! table's captured columns ([`arrow_schema`]): a secret column (a password hash) is not
//! in the select list, so it never leaves the business database.
//!
//! ```no_run
//! # async fn demo() -> Result<(), medlake_source::SourceError> {
//! let source = medlake_source::open("sqlite://medlake-data/business.db")?;
//! let patient = medlake_schema::table("patient").unwrap();
//! let (lo, hi) = source.id_bounds(patient).await?.unwrap_or((0, -1));
//! let batch = source.read_ids(patient, lo, hi).await?;
//! println!("{} patients", batch.num_rows());
//! # Ok(()) }
//! ```

mod arrow_rows;
mod error;
mod mysql;
mod sqlite;

use async_trait::async_trait;
use chrono::NaiveDateTime;
use deltalake::arrow::record_batch::RecordBatch;
use medlake_schema::Table;

pub use arrow_rows::{
    arrow_schema, arrow_type, invalid_date_sentinel, parse_decimal_cents, Cell, RowsBuilder,
};
pub use error::SourceError;
pub use mysql::{mysql_cell, MysqlSource};
pub use sqlite::SqliteSource;

/// Result of source operations.
pub type Result<T, E = SourceError> = std::result::Result<T, E>;

/// Where incremental capture of a table stands: the last change read, ordered by
/// `(update_time, id)` so that rows sharing an `update_time` are neither skipped nor re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Watermark {
    /// `update_time` of the last row read.
    pub update_time: NaiveDateTime,
    /// `id` of the last row read.
    pub id: i64,
}

/// Counts a source reports for reconciliation: cheap, and they change when any id is
/// missing or doubled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableFingerprint {
    /// Number of rows.
    pub rows: u64,
    /// Sum of the ids (as i128, no overflow).
    pub id_sum: i128,
    /// Of those rows, how many were updated at or after the bound (source side only):
    /// their captured version belongs to a later sync.
    pub changed_after: u64,
}

impl TableFingerprint {
    /// Whether two fingerprints count the same rows with the same ids.
    pub fn same_rows(&self, other: &TableFingerprint) -> bool {
        self.rows == other.rows && self.id_sum == other.id_sum
    }
}

/// A database holding the business tables.
#[async_trait]
pub trait BusinessSource: Send + Sync {
    /// The source's address with any password removed, for messages and run records.
    fn describe(&self) -> String;

    /// The database name change records carry (Maxwell's `database`).
    fn database(&self) -> String;

    /// The latest `update_time` in `table`, `None` when it is empty.
    async fn latest_change(&self, table: &'static Table) -> Result<Option<NaiveDateTime>>;

    /// Smallest and largest id of `table`, `None` when it is empty.
    async fn id_bounds(&self, table: &'static Table) -> Result<Option<(i64, i64)>>;

    /// Every row with `lo <= id <= hi`, ordered by id.
    async fn read_ids(&self, table: &'static Table, lo: i64, hi: i64) -> Result<RecordBatch>;

    /// Up to `limit` rows changed after `after` (all rows when `None`) and before `until`
    /// (no bound when `None`), ordered by `(update_time, id)`.
    async fn read_changes(
        &self,
        table: &'static Table,
        after: Option<Watermark>,
        until: Option<NaiveDateTime>,
        limit: usize,
    ) -> Result<RecordBatch>;

    /// Rows (and their id sum) created before `created_before`, or all rows when `None`.
    async fn fingerprint(
        &self,
        table: &'static Table,
        created_before: Option<NaiveDateTime>,
    ) -> Result<TableFingerprint>;
}

/// Opens a source from its URL: `sqlite://PATH`, a plain file path, or `mysql://user:pw@host:port/db`.
pub fn open(url: &str) -> Result<Box<dyn BusinessSource>> {
    if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        Ok(Box::new(MysqlSource::new(url)?))
    } else {
        Ok(Box::new(SqliteSource::new(sqlite_path(url)?)?))
    }
}

/// The file path of a SQLite URL (`sqlite://rel/path.db`, `sqlite:///abs/path.db`) or a bare path.
pub fn sqlite_path(url: &str) -> Result<std::path::PathBuf> {
    if let Some(rest) = url.strip_prefix("sqlite://") {
        if rest.is_empty() {
            return Err(SourceError::BadUrl(format!(
                "{url}: no file path after sqlite://"
            )));
        }
        return Ok(rest.into());
    }
    if url.contains("://") {
        let scheme = url.split("://").next().unwrap_or_default();
        return Err(SourceError::BadUrl(format!(
            "unsupported database URL scheme '{scheme}' (use sqlite://PATH or mysql://USER:PASSWORD@HOST:PORT/DB)"
        )));
    }
    Ok(url.into())
}

/// A URL with its password replaced by `***`, safe for logs and errors.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
