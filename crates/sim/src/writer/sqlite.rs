//! SQLite writer: prepared statements, many business transactions per SQLite
//! transaction (WAL, synchronous=NORMAL) for speed; each batch and its progress row
//! commit atomically.

use std::collections::HashMap;
use std::path::Path;

use chrono::{Datelike, NaiveDateTime, Timelike};
use medlake_schema::{business_tables, Dialect, Table, Value};
use rusqlite::{types::Null, Connection, Statement};

use super::{FaultRow, SimState, FAULTS_TABLE, STATE_TABLE};
use crate::error::{Result, SimError};
use crate::model::{Change, Txn};

/// Business transactions per SQLite transaction.
pub(super) const BATCH: usize = 100_000;

/// A SQLite business database.
pub(super) struct SqliteWriter {
    conn: Connection,
    /// `INSERT` statement text per table name.
    inserts: HashMap<&'static str, String>,
}

impl SqliteWriter {
    /// Opens or creates the file and sets write-friendly pragmas.
    pub(super) fn open(path: &Path) -> Result<SqliteWriter> {
        let connect = |e: rusqlite::Error| SimError::Connect {
            target: path.display().to_string(),
            reason: e.to_string(),
        };
        let conn = Connection::open(path).map_err(connect)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(connect)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(connect)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(connect)?;
        // A large page cache (an upper bound, allocated as used) and no spilling: a
        // batch's updates touch recent pages of every table and index, and writing them
        // out mid-transaction only to rewrite them later is slow.
        conn.execute_batch("PRAGMA cache_size = -524288; PRAGMA cache_spill = OFF;")
            .map_err(connect)?;
        conn.set_prepared_statement_cache_capacity(128);
        let inserts = business_tables()
            .iter()
            .map(|t| (t.name, insert_sql(t)))
            .collect();
        Ok(SqliteWriter { conn, inserts })
    }

    pub(super) fn ensure_schema(&mut self) -> Result<()> {
        for t in business_tables() {
            self.conn.execute_batch(&t.ddl(Dialect::Sqlite))?;
        }
        self.conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {STATE_TABLE} (id INTEGER PRIMARY KEY, seed TEXT NOT NULL, \
             scale TEXT NOT NULL, start_date TEXT NOT NULL, days_done INTEGER NOT NULL, \
             population_loaded INTEGER NOT NULL, txns_done INTEGER NOT NULL)"
        ))?;
        self.conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {FAULTS_TABLE} (day_index INTEGER PRIMARY KEY, \
             business_date TEXT NOT NULL, kinds TEXT NOT NULL, rate TEXT NOT NULL)"
        ))?;
        Ok(())
    }

    pub(super) fn fault_rows(&mut self) -> Result<Vec<FaultRow>> {
        let exists: i64 = self.conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [FAULTS_TABLE],
            |r| r.get(0),
        )?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT day_index, business_date, kinds, rate FROM {FAULTS_TABLE} ORDER BY day_index"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(day, date, kinds, rate)| FaultRow::from_columns(day, &date, kinds, rate))
            .collect()
    }

    pub(super) fn record_faults(&mut self, from_day: u32, rows: &[FaultRow]) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            &format!("DELETE FROM {FAULTS_TABLE} WHERE day_index >= ?1"),
            [i64::from(from_day)],
        )?;
        for r in rows {
            tx.execute(
                &format!(
                    "INSERT INTO {FAULTS_TABLE} (day_index, business_date, kinds, rate) \
                     VALUES (?1, ?2, ?3, ?4)"
                ),
                rusqlite::params![
                    i64::from(r.day),
                    r.date.format("%Y-%m-%d").to_string(),
                    r.kinds,
                    r.rate,
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub(super) fn state(&mut self) -> Result<Option<SimState>> {
        let exists: i64 = self.conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [STATE_TABLE],
            |r| r.get(0),
        )?;
        if exists == 0 {
            return Ok(None);
        }
        let sql = format!(
            "SELECT seed, scale, start_date, days_done, population_loaded, txns_done FROM {STATE_TABLE} WHERE id = 1"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let Some(r) = rows.next()? else {
            return Ok(None);
        };
        let text = |i: usize| r.get::<_, String>(i);
        SimState::from_columns(
            &text(0)?,
            &text(1)?,
            &text(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        )
        .map(Some)
    }

    pub(super) fn write_state(&mut self, state: &SimState) -> Result<()> {
        write_state(&self.conn, state)
    }

    /// Commits all `txns` and the advanced progress in one SQLite transaction.
    pub(super) fn apply(&mut self, txns: &[Txn], before: &SimState) -> Result<()> {
        let tx = self.conn.transaction()?;
        let mut sql = String::with_capacity(256);
        for txn in txns {
            for change in &txn.changes {
                match change {
                    Change::Insert { table, row } => {
                        let text = self.inserts.get(table.name).ok_or_else(|| unknown(table))?;
                        let mut stmt = tx.prepare_cached(text)?;
                        execute(&mut stmt, row.iter(), None)?;
                    }
                    Change::Update { table, id, set } => {
                        update_sql(&mut sql, table, set);
                        let mut stmt = tx.prepare_cached(&sql)?;
                        execute(&mut stmt, set.iter().map(|(_, v)| v), Some(*id))?;
                    }
                }
            }
        }
        let after = SimState {
            txns_done: before.txns_done + txns.len() as u64,
            ..*before
        };
        write_state(&tx, &after)?;
        tx.commit()?;
        Ok(())
    }
}

fn unknown(table: &Table) -> SimError {
    SimError::Schema(format!("table {} is not a business table", table.name))
}

/// Upserts the single progress row.
fn write_state(conn: &Connection, s: &SimState) -> Result<()> {
    conn.execute(
        &format!(
            "INSERT INTO {STATE_TABLE} (id, seed, scale, start_date, days_done, population_loaded, txns_done) \
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(id) DO UPDATE SET seed = excluded.seed, \
             scale = excluded.scale, start_date = excluded.start_date, days_done = excluded.days_done, \
             population_loaded = excluded.population_loaded, txns_done = excluded.txns_done"
        ),
        rusqlite::params![
            s.params.seed.to_string(),
            s.params.scale.to_string(),
            s.params.start.format("%Y-%m-%d").to_string(),
            i64::from(s.days_done),
            i64::from(s.population_loaded),
            s.txns_done as i64,
        ],
    )?;
    Ok(())
}

/// `INSERT INTO "t" ("c1", ...) VALUES (?1, ...)`.
fn insert_sql(t: &Table) -> String {
    let cols: Vec<String> = t.column_names().map(|c| format!("\"{c}\"")).collect();
    let params: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO \"{}\" ({}) VALUES ({})",
        t.name,
        cols.join(", "),
        params.join(", ")
    )
}

/// `UPDATE "t" SET "a" = ?1, ... WHERE "id" = ?n`, written into a reused buffer.
fn update_sql(sql: &mut String, t: &Table, set: &[(&'static str, Value)]) {
    use std::fmt::Write;
    sql.clear();
    let _ = write!(sql, "UPDATE \"{}\" SET ", t.name);
    for (i, (col, _)) in set.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(sql, "{sep}\"{col}\" = ?{}", i + 1);
    }
    let _ = write!(sql, " WHERE \"id\" = ?{}", set.len() + 1);
}

/// Binds the values (and a trailing id) and runs the statement.
fn execute<'v>(
    stmt: &mut Statement<'_>,
    values: impl Iterator<Item = &'v Value>,
    id: Option<i64>,
) -> Result<()> {
    let mut n = 0;
    for (i, v) in values.enumerate() {
        bind(stmt, i + 1, v)?;
        n = i + 1;
    }
    if let Some(id) = id {
        stmt.raw_bind_parameter(n + 1, id)?;
    }
    stmt.raw_execute()?;
    Ok(())
}

/// Binds one value the way medlake stores it in SQLite: money as REAL (reads back
/// exactly when rounded to cents), datetimes as fixed-width text, dates as text, bools 0/1.
fn bind(stmt: &mut Statement<'_>, i: usize, v: &Value) -> rusqlite::Result<()> {
    match v {
        Value::Null => stmt.raw_bind_parameter(i, Null),
        Value::Int(x) => stmt.raw_bind_parameter(i, x),
        Value::Money(cents) => stmt.raw_bind_parameter(i, *cents as f64 / 100.0),
        Value::Text(s) => stmt.raw_bind_parameter(i, s.as_str()),
        Value::DateTime(t) => {
            let mut buf = [0u8; DATETIME_LEN];
            stmt.raw_bind_parameter(i, datetime_text(t, &mut buf))
        }
        Value::Date(d) => stmt.raw_bind_parameter(i, d.format("%Y-%m-%d").to_string()),
        Value::Bool(b) => stmt.raw_bind_parameter(i, i64::from(*b)),
    }
}

/// Length of `YYYY-MM-DD HH:MM:SS.ffffff`.
const DATETIME_LEN: usize = 26;

/// Formats like [`medlake_schema::format_datetime`] without allocating (years 0-9999);
/// a hot path: every row written carries one or two datetimes.
fn datetime_text<'b>(t: &NaiveDateTime, buf: &'b mut [u8; DATETIME_LEN]) -> &'b str {
    fn put(buf: &mut [u8], mut v: u32) {
        for b in buf.iter_mut().rev() {
            *b = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    put(&mut buf[0..4], t.year().clamp(0, 9999) as u32);
    put(&mut buf[5..7], t.month());
    put(&mut buf[8..10], t.day());
    put(&mut buf[11..13], t.hour());
    put(&mut buf[14..16], t.minute());
    put(&mut buf[17..19], t.second());
    put(&mut buf[20..26], t.nanosecond() / 1000);
    for (i, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b' '),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ] {
        buf[i] = c;
    }
    std::str::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use medlake_schema::format_datetime;

    #[test]
    fn write_pragmas_are_in_effect() {
        let dir = tempfile::tempdir().unwrap();
        let w = SqliteWriter::open(&dir.path().join("x.db")).unwrap();
        let pragma = |p: &str| -> rusqlite::types::Value {
            w.conn
                .query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
                .unwrap()
        };
        use rusqlite::types::Value as V;
        assert_eq!(pragma("journal_mode"), V::Text("wal".into()));
        assert_eq!(pragma("synchronous"), V::Integer(1));
        assert_eq!(pragma("cache_size"), V::Integer(-524_288));
        assert_eq!(pragma("cache_spill"), V::Integer(0));
    }

    #[test]
    fn fast_datetime_text_matches_the_schema_format() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        for (h, m, s, us) in [(0, 0, 0, 0), (23, 59, 59, 999_999), (7, 5, 3, 120)] {
            let t = d.and_hms_micro_opt(h, m, s, us).unwrap();
            let mut buf = [0u8; DATETIME_LEN];
            assert_eq!(datetime_text(&t, &mut buf), format_datetime(&t));
        }
    }
}
