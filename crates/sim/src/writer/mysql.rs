//! MySQL/MariaDB writer. Every business transaction is its own real transaction
//! (`START TRANSACTION; ...; COMMIT;`), so the binlog shows each life-cycle step; for
//! speed, many of them travel in one multi-statement round trip, values as escaped
//! literals. The last transaction of each round trip also records progress.

use std::fmt::Write;

use chrono::{Datelike, NaiveDateTime, Timelike};
use medlake_schema::{business_tables, Dialect, Table, Value};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};

use super::{FaultRow, SimState, FAULTS_TABLE, STATE_TABLE};
use crate::error::{Result, SimError};
use crate::model::{Change, Txn};
use crate::target::redact;

/// Business transactions per call of `apply` (split further by size).
pub(super) const BATCH: usize = 2_000;
/// Maximum statement text per round trip (well under the default max_allowed_packet).
const MAX_ROUND_TRIP: usize = 2 << 20;
/// Maximum business transactions per round trip.
const MAX_TXNS_PER_TRIP: usize = 200;

/// A MySQL/MariaDB business database.
pub(super) struct MysqlWriter {
    conn: Conn,
    /// Whether the session has NO_BACKSLASH_ESCAPES (changes string escaping).
    no_backslash: bool,
    /// Transactions still to write with `INSERT IGNORE` after a resumed run.
    replay: u64,
}

impl MysqlWriter {
    /// Connects, creates the database if missing and selects it.
    pub(super) async fn open(url: &str) -> Result<MysqlWriter> {
        let target = redact(url);
        let opts = Opts::from_url(url).map_err(|e| SimError::BadUrl(format!("{target}: {e}")))?;
        let db = opts
            .db_name()
            .map(str::to_owned)
            .ok_or_else(|| SimError::BadUrl(format!("{target}: no database name")))?;
        let connect = |e: mysql_async::Error| SimError::Connect {
            target: target.clone(),
            reason: e.to_string(),
        };
        let mut conn = Conn::new(OptsBuilder::from_opts(opts).db_name(None::<String>))
            .await
            .map_err(connect)?;
        let db = quote_ident(&db);
        conn.query_drop(format!(
            "CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET utf8mb4"
        ))
        .await?;
        conn.query_drop(format!("USE {db}")).await?;
        conn.query_drop("SET NAMES utf8mb4").await?;
        let mode: Option<String> = conn.query_first("SELECT @@SESSION.sql_mode").await?;
        let no_backslash = mode.is_some_and(|m| m.contains("NO_BACKSLASH_ESCAPES"));
        Ok(MysqlWriter {
            conn,
            no_backslash,
            replay: 0,
        })
    }

    pub(super) async fn ensure_schema(&mut self) -> Result<()> {
        for t in business_tables() {
            self.conn.query_drop(t.ddl(Dialect::Mysql)).await?;
        }
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS `{STATE_TABLE}` (id INT PRIMARY KEY, seed VARCHAR(20) NOT NULL, \
             scale VARCHAR(32) NOT NULL, start_date VARCHAR(10) NOT NULL, days_done BIGINT NOT NULL, \
             population_loaded INT NOT NULL, txns_done BIGINT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        );
        self.conn.query_drop(ddl).await?;
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS `{FAULTS_TABLE}` (day_index BIGINT PRIMARY KEY, \
             business_date VARCHAR(10) NOT NULL, kinds VARCHAR(255) NOT NULL, \
             rate VARCHAR(32) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        );
        self.conn.query_drop(ddl).await?;
        Ok(())
    }

    pub(super) async fn fault_rows(&mut self) -> Result<Vec<FaultRow>> {
        let exists: Option<i64> = self
            .conn
            .query_first(format!(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '{FAULTS_TABLE}'"
            ))
            .await?;
        if exists.unwrap_or(0) == 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, String, String, String)> = self
            .conn
            .query(format!(
                "SELECT day_index, business_date, kinds, rate FROM `{FAULTS_TABLE}` ORDER BY day_index"
            ))
            .await?;
        rows.into_iter()
            .map(|(day, date, kinds, rate)| FaultRow::from_columns(day, &date, kinds, rate))
            .collect()
    }

    pub(super) async fn record_faults(&mut self, from_day: u32, rows: &[FaultRow]) -> Result<()> {
        let mut sql = format!(
            "START TRANSACTION;DELETE FROM `{FAULTS_TABLE}` WHERE day_index >= {from_day};"
        );
        for r in rows {
            let _ = write!(
                sql,
                "INSERT INTO `{FAULTS_TABLE}` (day_index, business_date, kinds, rate) VALUES ({}, '{}', ",
                r.day,
                r.date.format("%Y-%m-%d")
            );
            push_string(&mut sql, &r.kinds, self.no_backslash);
            sql.push(',');
            push_string(&mut sql, &r.rate, self.no_backslash);
            sql.push_str(");");
        }
        sql.push_str("COMMIT;");
        self.conn.query_drop(sql).await?;
        Ok(())
    }

    pub(super) async fn state(&mut self) -> Result<Option<SimState>> {
        let exists: Option<i64> = self
            .conn
            .query_first(format!(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '{STATE_TABLE}'"
            ))
            .await?;
        if exists.unwrap_or(0) == 0 {
            return Ok(None);
        }
        type Row = (String, String, String, i64, i64, i64);
        let row: Option<Row> = self
            .conn
            .query_first(format!(
                "SELECT seed, scale, start_date, days_done, population_loaded, txns_done FROM `{STATE_TABLE}` WHERE id = 1"
            ))
            .await?;
        match row {
            None => Ok(None),
            Some((seed, scale, start, days, loaded, txns)) => {
                SimState::from_columns(&seed, &scale, &start, days, loaded, txns).map(Some)
            }
        }
    }

    pub(super) async fn write_state(&mut self, state: &SimState) -> Result<()> {
        let mut sql = String::new();
        state_sql(&mut sql, state);
        self.conn.query_drop(sql).await?;
        Ok(())
    }

    pub(super) fn tolerate_replay(&mut self, n: u64) {
        self.replay = n;
    }

    /// Sends the transactions in multi-statement round trips; each round trip's last
    /// transaction also records the progress reached.
    pub(super) async fn apply(&mut self, txns: &[Txn], before: &SimState) -> Result<()> {
        let mut sql = String::with_capacity(MAX_ROUND_TRIP + (64 << 10));
        let mut in_trip = 0;
        for (i, txn) in txns.iter().enumerate() {
            let ignore = self.replay > 0;
            self.replay = self.replay.saturating_sub(1);
            sql.push_str("START TRANSACTION;");
            txn_sql(&mut sql, txn, self.no_backslash, ignore);
            in_trip += 1;
            let last = i + 1 == txns.len();
            if last || in_trip >= MAX_TXNS_PER_TRIP || sql.len() >= MAX_ROUND_TRIP {
                let after = SimState {
                    txns_done: before.txns_done + i as u64 + 1,
                    ..*before
                };
                state_sql(&mut sql, &after);
                sql.push_str("COMMIT;");
                self.conn.query_drop(sql.as_str()).await?;
                sql.clear();
                in_trip = 0;
            } else {
                sql.push_str("COMMIT;");
            }
        }
        Ok(())
    }

    /// Drops a (test) database.
    #[cfg(test)]
    pub(super) async fn drop_database(&mut self, db: &str) -> Result<()> {
        self.conn
            .query_drop(format!("DROP DATABASE IF EXISTS {}", quote_ident(db)))
            .await?;
        Ok(())
    }

    pub(super) async fn close(self) -> Result<()> {
        self.conn.disconnect().await?;
        Ok(())
    }
}

/// Upserts the progress row (one statement, ends with `;`).
fn state_sql(sql: &mut String, s: &SimState) {
    let _ = write!(
        sql,
        "INSERT INTO `{STATE_TABLE}` (id, seed, scale, start_date, days_done, population_loaded, txns_done) \
         VALUES (1, '{}', '{}', '{}', {}, {}, {}) ON DUPLICATE KEY UPDATE seed = VALUES(seed), \
         scale = VALUES(scale), start_date = VALUES(start_date), days_done = VALUES(days_done), \
         population_loaded = VALUES(population_loaded), txns_done = VALUES(txns_done);",
        s.params.seed,
        s.params.scale,
        s.params.start.format("%Y-%m-%d"),
        s.days_done,
        i32::from(s.population_loaded),
        s.txns_done,
    );
}

/// The statements of one transaction; consecutive inserts into one table become one
/// multi-row `INSERT`.
fn txn_sql(sql: &mut String, txn: &Txn, no_backslash: bool, ignore: bool) {
    let mut open_insert: Option<&'static str> = None;
    for change in &txn.changes {
        match change {
            Change::Insert { table, row } => {
                if open_insert == Some(table.name) {
                    sql.push(',');
                } else {
                    close_insert(sql, &mut open_insert);
                    insert_head(sql, table, ignore);
                    open_insert = Some(table.name);
                }
                sql.push('(');
                for (i, v) in row.iter().enumerate() {
                    if i > 0 {
                        sql.push(',');
                    }
                    push_literal(sql, v, no_backslash);
                }
                sql.push(')');
            }
            Change::Update { table, id, set } => {
                close_insert(sql, &mut open_insert);
                let _ = write!(sql, "UPDATE `{}` SET ", table.name);
                for (i, (col, v)) in set.iter().enumerate() {
                    if i > 0 {
                        sql.push(',');
                    }
                    let _ = write!(sql, "`{col}`=");
                    push_literal(sql, v, no_backslash);
                }
                let _ = write!(sql, " WHERE `id`={id};");
            }
        }
    }
    close_insert(sql, &mut open_insert);
}

fn insert_head(sql: &mut String, table: &Table, ignore: bool) {
    let verb = if ignore { "INSERT IGNORE" } else { "INSERT" };
    let _ = write!(sql, "{verb} INTO `{}` (", table.name);
    for (i, c) in table.column_names().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(sql, "{sep}`{c}`");
    }
    sql.push_str(") VALUES ");
}

fn close_insert(sql: &mut String, open: &mut Option<&'static str>) {
    if open.take().is_some() {
        sql.push(';');
    }
}

/// Appends a SQL literal: DECIMAL as an exact decimal number, datetimes with microseconds.
pub(super) fn push_literal(sql: &mut String, v: &Value, no_backslash: bool) {
    match v {
        Value::Null => sql.push_str("NULL"),
        Value::Int(x) => {
            let _ = write!(sql, "{x}");
        }
        Value::Money(cents) => sql.push_str(&Value::money_string(*cents)),
        Value::Text(s) => push_string(sql, s, no_backslash),
        Value::DateTime(t) => push_datetime(sql, t),
        Value::Date(d) => {
            let _ = write!(sql, "'{:04}-{:02}-{:02}'", d.year(), d.month(), d.day());
        }
        Value::Bool(b) => sql.push(if *b { '1' } else { '0' }),
    }
}

fn push_datetime(sql: &mut String, t: &NaiveDateTime) {
    let _ = write!(
        sql,
        "'{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}'",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 1000
    );
}

/// A quoted string literal, escaped for the session's mode.
fn push_string(sql: &mut String, s: &str, no_backslash: bool) {
    sql.push('\'');
    for c in s.chars() {
        match c {
            '\'' if no_backslash => sql.push_str("''"),
            _ if no_backslash => sql.push(c),
            '\'' => sql.push_str("\\'"),
            '\\' => sql.push_str("\\\\"),
            '"' => sql.push_str("\\\""),
            '\0' => sql.push_str("\\0"),
            '\n' => sql.push_str("\\n"),
            '\r' => sql.push_str("\\r"),
            '\x1a' => sql.push_str("\\Z"),
            _ => sql.push(c),
        }
    }
    sql.push('\'');
}

/// A backquoted identifier.
fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn literals_are_escaped_and_exact() {
        let mut s = String::new();
        push_literal(&mut s, &Value::Text("a'b\\c\n".into()), false);
        assert_eq!(s, r"'a\'b\\c\n'");
        s.clear();
        push_literal(&mut s, &Value::Text("a'b\\".into()), true);
        assert_eq!(s, r"'a''b\'");
        s.clear();
        push_literal(&mut s, &Value::Money(1205), false);
        assert_eq!(s, "12.05");
        s.clear();
        let t = NaiveDate::from_ymd_opt(2026, 3, 4)
            .unwrap()
            .and_hms_micro_opt(5, 6, 7, 89)
            .unwrap();
        push_literal(&mut s, &Value::DateTime(t), false);
        assert_eq!(s, "'2026-03-04 05:06:07.000089'");
    }
}
