//! MySQL and MariaDB as a source, through a connection pool (one connection per chunk).

use async_trait::async_trait;
use chrono::{NaiveDate, NaiveDateTime};
use deltalake::arrow::record_batch::RecordBatch;
use medlake_schema::{format_datetime, quote, Dialect, Table};
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, Pool, Row, Value as MyValue};

use crate::arrow_rows::{Cell, RowsBuilder};
use crate::{redact_url, BusinessSource, Result, SourceError, TableFingerprint, Watermark};

/// A business database on a MySQL or MariaDB server.
pub struct MysqlSource {
    pool: Pool,
    url: String,
    database: String,
}

impl MysqlSource {
    /// A source over the database named in `url` (`mysql://user:password@host:port/db`).
    /// Connections are made lazily; the first query reports an unreachable server.
    pub fn new(url: &str) -> Result<Self> {
        let url = url.replacen("mariadb://", "mysql://", 1);
        let opts = Opts::from_url(&url)
            .map_err(|e| SourceError::BadUrl(format!("{}: {e}", redact_url(&url))))?;
        if opts.db_name().is_none() {
            return Err(SourceError::BadUrl(format!(
                "{}: no database name in the URL path",
                redact_url(&url)
            )));
        }
        let database = opts.db_name().unwrap_or_default().to_string();
        Ok(MysqlSource {
            pool: Pool::new(opts),
            url,
            database,
        })
    }

    async fn conn(&self) -> Result<mysql_async::Conn> {
        self.pool
            .get_conn()
            .await
            .map_err(|e| SourceError::Connect {
                url: redact_url(&self.url),
                reason: e.to_string(),
            })
    }

    async fn read(
        &self,
        table: &'static Table,
        sql: String,
        params: Vec<MyValue>,
    ) -> Result<RecordBatch> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .exec(sql, mysql_async::Params::Positional(params))
            .await
            .map_err(|e| query_error(table, e))?;
        let mut builder = RowsBuilder::new(table, rows.len());
        for row in &rows {
            for i in 0..table.captured_columns().len() {
                let cell = match row.as_ref(i) {
                    None => Cell::Null,
                    Some(v) => mysql_cell(v).map_err(|e| query_error(table, e))?,
                };
                builder.push(i, cell)?;
            }
        }
        builder.finish()
    }
}

/// A value as the MySQL protocol (or the binlog) carries it, as a cell for [`RowsBuilder`].
pub fn mysql_cell(value: &MyValue) -> std::result::Result<Cell<'_>, String> {
    Ok(match value {
        MyValue::NULL => Cell::Null,
        MyValue::Int(v) => Cell::Int(*v),
        MyValue::UInt(v) => Cell::Int(i64::try_from(*v).map_err(|e| e.to_string())?),
        MyValue::Float(v) => Cell::Real(f64::from(*v)),
        MyValue::Double(v) => Cell::Real(*v),
        MyValue::Bytes(b) => Cell::Text(std::str::from_utf8(b).map_err(|e| e.to_string())?),
        MyValue::Date(y, m, d, h, mi, s, us) => date_cell(*y, *m, *d, *h, *mi, *s, *us),
        MyValue::Time(..) => return Err("unexpected TIME value".into()),
    })
}

/// MySQL returns DATE and DATETIME alike; the column type decides which part counts.
fn date_cell<'a>(y: u16, m: u8, d: u8, h: u8, mi: u8, s: u8, us: u32) -> Cell<'a> {
    NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(d))
        .and_then(|date| date.and_hms_micro_opt(u32::from(h), u32::from(mi), u32::from(s), us))
        .map_or(Cell::Invalid, Cell::DateTime)
}

fn query_error(table: &Table, e: impl std::fmt::Display) -> SourceError {
    SourceError::Query {
        table: table.name.to_string(),
        reason: e.to_string(),
    }
}

/// The captured columns (no secrets: they are never read) as a SELECT list.
fn select_list(table: &Table) -> String {
    let q = quote(Dialect::Mysql);
    table
        .captured_names()
        .map(|c| format!("{q}{c}{q}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn datetime_param(t: &NaiveDateTime) -> MyValue {
    MyValue::from(format_datetime(t))
}

#[async_trait]
impl BusinessSource for MysqlSource {
    fn describe(&self) -> String {
        redact_url(&self.url)
    }

    fn database(&self) -> String {
        self.database.clone()
    }

    async fn latest_change(&self, table: &'static Table) -> Result<Option<NaiveDateTime>> {
        let mut conn = self.conn().await?;
        let sql = format!("SELECT MAX(update_time) FROM `{}`", table.name);
        let latest: Option<Option<NaiveDateTime>> = conn
            .query_first(sql)
            .await
            .map_err(|e| query_error(table, e))?;
        Ok(latest.flatten())
    }

    async fn id_bounds(&self, table: &'static Table) -> Result<Option<(i64, i64)>> {
        let mut conn = self.conn().await?;
        let sql = format!("SELECT MIN(id), MAX(id) FROM `{}`", table.name);
        let row: Option<(Option<i64>, Option<i64>)> = conn
            .query_first(sql)
            .await
            .map_err(|e| query_error(table, e))?;
        Ok(row.and_then(|(lo, hi)| lo.zip(hi)))
    }

    async fn read_ids(&self, table: &'static Table, lo: i64, hi: i64) -> Result<RecordBatch> {
        let sql = format!(
            "SELECT {} FROM `{}` WHERE id BETWEEN ? AND ? ORDER BY id",
            select_list(table),
            table.name
        );
        self.read(table, sql, vec![lo.into(), hi.into()]).await
    }

    async fn read_changes(
        &self,
        table: &'static Table,
        after: Option<Watermark>,
        until: Option<NaiveDateTime>,
        limit: usize,
    ) -> Result<RecordBatch> {
        let (after_time, after_id) = match after {
            Some(w) => (datetime_param(&w.update_time), w.id),
            None => (MyValue::from("1000-01-01 00:00:00"), i64::MIN),
        };
        let until = until
            .map(|t| datetime_param(&t))
            .unwrap_or_else(|| MyValue::from("9999-12-31 23:59:59"));
        let sql = format!(
            "SELECT {} FROM `{}` WHERE update_time >= ? AND (update_time > ? OR id > ?) \
             AND update_time < ? ORDER BY update_time, id LIMIT ?",
            select_list(table),
            table.name
        );
        let params = vec![
            after_time.clone(),
            after_time,
            after_id.into(),
            until,
            (limit as u64).into(),
        ];
        self.read(table, sql, params).await
    }

    async fn fingerprint(
        &self,
        table: &'static Table,
        created_before: Option<NaiveDateTime>,
    ) -> Result<TableFingerprint> {
        let mut conn = self.conn().await?;
        let until = created_before
            .map(|t| datetime_param(&t))
            .unwrap_or_else(|| MyValue::from("9999-12-31 23:59:59"));
        let sql = format!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(id), 0) AS CHAR), \
             CAST(COALESCE(SUM(update_time >= ?), 0) AS SIGNED) FROM `{}` WHERE create_time < ?",
            table.name
        );
        let row: Option<(i64, String, i64)> = conn
            .exec_first(sql, (until.clone(), until))
            .await
            .map_err(|e| query_error(table, e))?;
        let (rows, sum, changed_after) = row.unwrap_or((0, "0".into(), 0));
        Ok(TableFingerprint {
            rows: rows.max(0) as u64,
            id_sum: sum.parse().map_err(|e| query_error(table, e))?,
            changed_after: changed_after.max(0) as u64,
        })
    }
}
