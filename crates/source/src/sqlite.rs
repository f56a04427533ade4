//! The embedded default source: a SQLite file, read through short-lived read-only
//! connections so that chunks can be read in parallel.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::NaiveDateTime;
use deltalake::arrow::record_batch::RecordBatch;
use medlake_schema::{format_datetime, quote, Dialect, Table};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, ToSql};

use crate::arrow_rows::{Cell, RowsBuilder};
use crate::{BusinessSource, Result, SourceError, TableFingerprint, Watermark};

/// A business database in a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteSource {
    path: PathBuf,
}

impl SqliteSource {
    /// A source over the file at `path`; fails when the file does not exist.
    pub fn new(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        if !path.is_file() {
            return Err(SourceError::Connect {
                url: path.display().to_string(),
                reason: "no such file (run `medlake simulate` first, or fix business.url)".into(),
            });
        }
        Ok(SqliteSource { path })
    }

    fn connect(path: &Path) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| SourceError::Connect {
            url: path.display().to_string(),
            reason: e.to_string(),
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| SourceError::Connect {
                url: path.display().to_string(),
                reason: e.to_string(),
            })?;
        Ok(conn)
    }

    /// Runs `work` with a fresh connection on the blocking thread pool.
    async fn with_conn<T: Send + 'static>(
        &self,
        table: &'static Table,
        work: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = Self::connect(&path)?;
            work(&conn)
        })
        .await
        .map_err(|e| query_error(table, e))?
    }
}

fn query_error(table: &Table, e: impl std::fmt::Display) -> SourceError {
    SourceError::Query {
        table: table.name.to_string(),
        reason: e.to_string(),
    }
}

/// The captured columns (no secrets: they are never read) as a SELECT list.
fn select_list(table: &Table) -> String {
    let q = quote(Dialect::Sqlite);
    table
        .captured_names()
        .map(|c| format!("{q}{c}{q}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_rows(
    conn: &Connection,
    table: &'static Table,
    sql: &str,
    params: &[&dyn ToSql],
    capacity: usize,
) -> Result<RecordBatch> {
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(|e| query_error(table, e))?;
    let mut rows = stmt.query(params).map_err(|e| query_error(table, e))?;
    let mut builder = RowsBuilder::new(table, capacity);
    let width = table.captured_columns().len();
    while let Some(row) = rows.next().map_err(|e| query_error(table, e))? {
        for i in 0..width {
            let cell = match row.get_ref(i).map_err(|e| query_error(table, e))? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(v) => Cell::Int(v),
                ValueRef::Real(v) => Cell::Real(v),
                ValueRef::Text(t) => {
                    Cell::Text(std::str::from_utf8(t).map_err(|e| query_error(table, e))?)
                }
                ValueRef::Blob(_) => return Err(query_error(table, "unexpected BLOB value")),
            };
            builder.push(i, cell)?;
        }
    }
    builder.finish()
}

#[async_trait]
impl BusinessSource for SqliteSource {
    fn describe(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    fn database(&self) -> String {
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "business".into())
    }

    async fn latest_change(&self, table: &'static Table) -> Result<Option<NaiveDateTime>> {
        let sql = format!("SELECT MAX(update_time) FROM \"{}\"", table.name);
        let latest: Option<String> = self
            .with_conn(table, move |conn| {
                conn.query_row(&sql, [], |r| r.get(0))
                    .map_err(|e| query_error(table, e))
            })
            .await?;
        latest
            .map(|s| {
                medlake_schema::parse_datetime(&s).ok_or_else(|| SourceError::BadValue {
                    table: table.name.into(),
                    column: "update_time".into(),
                    expected: "DateTime".into(),
                })
            })
            .transpose()
    }

    async fn id_bounds(&self, table: &'static Table) -> Result<Option<(i64, i64)>> {
        let sql = format!("SELECT MIN(id), MAX(id) FROM \"{}\"", table.name);
        self.with_conn(table, move |conn| {
            conn.query_row(&sql, [], |r| {
                Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?))
            })
            .map(|(lo, hi)| lo.zip(hi))
            .map_err(|e| query_error(table, e))
        })
        .await
    }

    async fn read_ids(&self, table: &'static Table, lo: i64, hi: i64) -> Result<RecordBatch> {
        let sql = format!(
            "SELECT {} FROM \"{}\" WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
            select_list(table),
            table.name
        );
        let capacity = usize::try_from(hi.saturating_sub(lo).saturating_add(1))
            .unwrap_or(0)
            .min(1 << 20);
        self.with_conn(table, move |conn| {
            read_rows(conn, table, &sql, &[&lo, &hi], capacity)
        })
        .await
    }

    async fn read_changes(
        &self,
        table: &'static Table,
        after: Option<Watermark>,
        until: Option<NaiveDateTime>,
        limit: usize,
    ) -> Result<RecordBatch> {
        let (after_time, after_id) = match after {
            Some(w) => (format_datetime(&w.update_time), w.id),
            None => (String::new(), i64::MIN),
        };
        // An upper bound past any real time when none is given keeps one prepared statement.
        let until = until
            .map(|t| format_datetime(&t))
            .unwrap_or_else(|| "9999".into());
        let sql = format!(
            "SELECT {} FROM \"{}\" WHERE update_time >= ?1 AND (update_time > ?1 OR id > ?2) \
             AND update_time < ?3 ORDER BY update_time, id LIMIT ?4",
            select_list(table),
            table.name
        );
        let limit_i = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(table, move |conn| {
            read_rows(
                conn,
                table,
                &sql,
                &[&after_time, &after_id, &until, &limit_i],
                limit.min(1 << 20),
            )
        })
        .await
    }

    async fn fingerprint(
        &self,
        table: &'static Table,
        created_before: Option<NaiveDateTime>,
    ) -> Result<TableFingerprint> {
        let until = created_before
            .map(|t| format_datetime(&t))
            .unwrap_or_else(|| "9999".into());
        // SUM over i64 ids could overflow in SQLite; sum in two halves of 32 bits instead.
        let sql = format!(
            "SELECT COUNT(*), COALESCE(SUM(id >> 32), 0), COALESCE(SUM(id & 4294967295), 0), \
             COALESCE(SUM(update_time >= ?1), 0) FROM \"{}\" WHERE create_time < ?1",
            table.name
        );
        self.with_conn(table, move |conn| {
            conn.query_row(&sql, [&until], |r| {
                let rows: i64 = r.get(0)?;
                let high: i64 = r.get(1)?;
                let low: i64 = r.get(2)?;
                let changed_after: i64 = r.get(3)?;
                Ok(TableFingerprint {
                    rows: rows.max(0) as u64,
                    id_sum: (i128::from(high) << 32) + i128::from(low),
                    changed_after: changed_after.max(0) as u64,
                })
            })
            .map_err(|e| query_error(table, e))
        })
        .await
    }
}
