//! The catalog's one query layer over its two backends: SQLite (the embedded default, a
//! file beside the lake) and PostgreSQL (`[catalog] url = "postgres://..."`, for a catalog
//! several medlake processes on several machines share).
//!
//! Every catalog statement is written once, in the SQL both understand (`?1`-style
//! parameters, `INSERT ... ON CONFLICT ... DO UPDATE`, `RETURNING`), and values cross as
//! [`SqlValue`]s: integers, text, bytes or null. Times are stored as text in one format
//! (see `fmt_time`), so both backends compare and sort them the same way. The migrations
//! are the same text for both; [`Db::migration_sql`] maps the three type names that differ.
//!
//! PostgreSQL runs on a thread of its own that owns the connection (the synchronous
//! `postgres` client): catalog calls come from async tasks and from plain threads alike,
//! and a client that blocks on its own runtime must not run inside another. A call sends
//! its statement to that thread and waits for the answer, as a call waits for SQLite's
//! lock; a connection that broke is opened again on the next call.

use std::error::Error as StdError;
use std::sync::{Mutex, MutexGuard};

use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use rusqlite::types::Value as SqliteValue;

use crate::pg_connection::PgConnection;
use crate::{CatalogError, Result};

/// One value crossing the query layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SqlValue {
    /// SQL NULL.
    Null,
    /// An integer (BIGINT in PostgreSQL, INTEGER in SQLite).
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes (BYTEA / BLOB).
    Bytes(Vec<u8>),
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(v)
    }
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_string())
    }
}

impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}

impl From<&[u8]> for SqlValue {
    fn from(v: &[u8]) -> Self {
        SqlValue::Bytes(v.to_vec())
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SqlValue::Null, Into::into)
    }
}

/// One result row.
#[derive(Debug, Clone)]
pub(crate) struct Row(Vec<SqlValue>);

impl Row {
    fn at(&self, i: usize, what: &'static str) -> Result<&SqlValue> {
        self.0.get(i).ok_or(CatalogError::Corrupt(what))
    }

    /// Column `i` as an integer; `what` names it in the error when it is not one.
    pub(crate) fn int(&self, i: usize, what: &'static str) -> Result<i64> {
        self.opt_int(i, what)?.ok_or(CatalogError::Corrupt(what))
    }

    /// Column `i` as an integer or null.
    pub(crate) fn opt_int(&self, i: usize, what: &'static str) -> Result<Option<i64>> {
        match self.at(i, what)? {
            SqlValue::Null => Ok(None),
            SqlValue::Int(v) => Ok(Some(*v)),
            _ => Err(CatalogError::Corrupt(what)),
        }
    }

    /// Column `i` as text.
    pub(crate) fn text(&self, i: usize, what: &'static str) -> Result<String> {
        self.opt_text(i, what)?.ok_or(CatalogError::Corrupt(what))
    }

    /// Column `i` as text or null.
    pub(crate) fn opt_text(&self, i: usize, what: &'static str) -> Result<Option<String>> {
        match self.at(i, what)? {
            SqlValue::Null => Ok(None),
            SqlValue::Text(v) => Ok(Some(v.clone())),
            _ => Err(CatalogError::Corrupt(what)),
        }
    }

    /// Column `i` as bytes.
    pub(crate) fn bytes(&self, i: usize, what: &'static str) -> Result<Vec<u8>> {
        match self.at(i, what)? {
            SqlValue::Bytes(v) => Ok(v.clone()),
            _ => Err(CatalogError::Corrupt(what)),
        }
    }
}

/// A catalog database, whichever backend holds it.
pub(crate) enum Db {
    /// A SQLite file (or memory), one connection behind a lock.
    Sqlite(Mutex<rusqlite::Connection>),
    /// A PostgreSQL database, through its connection thread.
    Postgres(PgConnection),
}

impl Db {
    /// Runs a statement; returns the rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: Vec<SqlValue>) -> Result<u64> {
        match self {
            Db::Sqlite(conn) => {
                let values = params.into_iter().map(to_sqlite);
                let changed = lock(conn).execute(sql, rusqlite::params_from_iter(values))?;
                Ok(changed as u64)
            }
            Db::Postgres(pg) => {
                let sql = postgres_placeholders(sql);
                pg.run(move |client| {
                    let refs: Vec<&(dyn ToSql + Sync)> =
                        params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                    client.execute(sql.as_str(), &refs)
                })
            }
        }
    }

    /// Runs a query; returns every row.
    pub(crate) fn query(&self, sql: &str, params: Vec<SqlValue>) -> Result<Vec<Row>> {
        match self {
            Db::Sqlite(conn) => {
                let conn = lock(conn);
                let mut statement = conn.prepare(sql)?;
                let columns = statement.column_count();
                let values = params.into_iter().map(to_sqlite);
                let rows = statement.query_map(rusqlite::params_from_iter(values), |r| {
                    (0..columns)
                        .map(|i| r.get::<_, SqliteValue>(i).map(from_sqlite))
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .map(Row)
                })?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            }
            Db::Postgres(pg) => {
                let sql = postgres_placeholders(sql);
                pg.run(move |client| {
                    let refs: Vec<&(dyn ToSql + Sync)> =
                        params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                    let rows = client.query(sql.as_str(), &refs)?;
                    rows.iter()
                        .map(|r| {
                            (0..r.len())
                                .map(|i| {
                                    r.try_get::<_, Option<SqlValue>>(i)
                                        .map(|v| v.unwrap_or(SqlValue::Null))
                                })
                                .collect::<std::result::Result<Vec<_>, _>>()
                                .map(Row)
                        })
                        .collect()
                })
            }
        }
    }

    /// Runs one statement for each parameter list, all in one transaction (many rows in
    /// one commit, not one commit per row).
    pub(crate) fn execute_many(&self, sql: &str, rows: Vec<Vec<SqlValue>>) -> Result<u64> {
        match self {
            Db::Sqlite(conn) => {
                let mut conn = lock(conn);
                let tx = conn.transaction()?;
                let mut changed = 0;
                {
                    let mut statement = tx.prepare(sql)?;
                    for params in rows {
                        let values = params.into_iter().map(to_sqlite);
                        changed += statement.execute(rusqlite::params_from_iter(values))? as u64;
                    }
                }
                tx.commit()?;
                Ok(changed)
            }
            Db::Postgres(pg) => {
                let sql = postgres_placeholders(sql);
                pg.run(move |client| {
                    let mut tx = client.transaction()?;
                    let statement = tx.prepare(sql.as_str())?;
                    let mut changed = 0;
                    for params in &rows {
                        let refs: Vec<&(dyn ToSql + Sync)> =
                            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                        changed += tx.execute(&statement, &refs)?;
                    }
                    tx.commit()?;
                    Ok(changed)
                })
            }
        }
    }

    /// The first row of a query, if any.
    pub(crate) fn query_opt(&self, sql: &str, params: Vec<SqlValue>) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Appends a row that depends on the newest row before it (the audit's hash chain):
    /// `last_sql` reads the newest value, `insert` makes the INSERT ... RETURNING id from
    /// it, and both run in one transaction that no other append interleaves with (SQLite:
    /// an immediate transaction under the connection's lock; PostgreSQL: an advisory
    /// transaction lock, so several processes sharing the catalog still form one chain).
    pub(crate) fn append_after_last(
        &self,
        last_sql: &'static str,
        insert: impl FnOnce(Option<String>) -> (String, Vec<SqlValue>) + Send + 'static,
    ) -> Result<i64> {
        match self {
            Db::Sqlite(conn) => {
                let mut conn = lock(conn);
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let last: Option<String> = {
                    let mut statement = tx.prepare(last_sql)?;
                    let mut rows = statement.query([])?;
                    match rows.next()? {
                        Some(row) => row.get(0)?,
                        None => None,
                    }
                };
                let (sql, params) = insert(last);
                let values = params.into_iter().map(to_sqlite);
                let id: i64 =
                    tx.query_row(&sql, rusqlite::params_from_iter(values), |r| r.get(0))?;
                tx.commit()?;
                Ok(id)
            }
            Db::Postgres(pg) => pg.run(move |client| {
                let mut tx = client.transaction()?;
                tx.batch_execute("SELECT pg_advisory_xact_lock(5201347127)")?;
                let last: Option<String> = tx
                    .query_opt(last_sql, &[])?
                    .and_then(|r| r.get::<_, Option<String>>(0));
                let (sql, params) = insert(last);
                let sql = postgres_placeholders(&sql);
                let refs: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                let id: i64 = tx.query_one(sql.as_str(), &refs)?.get(0);
                tx.commit()?;
                Ok(id)
            }),
        }
    }

    /// Brings the schema up to date: runs the migrations not yet applied and records the
    /// version reached (SQLite: one immediate transaction per migration; PostgreSQL: one
    /// transaction for all, under an advisory lock).
    pub(crate) fn migrate(&self, migrations: &[&str]) -> Result<()> {
        match self {
            Db::Sqlite(conn) => {
                let mut conn = lock(conn);
                // Two processes starting on a new catalog file at once: each migration
                // reads the version under the write lock (an immediate transaction), so
                // the second finds what the first did instead of running it again.
                loop {
                    let tx =
                        conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
                    let Some(sql) = migrations.get(version.max(0) as usize) else {
                        return Ok(());
                    };
                    tx.execute_batch(&Db::migration_sql(sql, false))?;
                    tx.pragma_update(None, "user_version", version + 1)?;
                    tx.commit()?;
                }
            }
            Db::Postgres(pg) => {
                let migrations: Vec<String> = migrations
                    .iter()
                    .map(|sql| Db::migration_sql(sql, true))
                    .collect();
                pg.run(move |client| {
                    // Two processes starting on a new catalog at once: one migrates, the
                    // other waits on the lock and finds the schema done.
                    let mut tx = client.transaction()?;
                    tx.batch_execute(
                        "SELECT pg_advisory_xact_lock(5201347126);
                         CREATE TABLE IF NOT EXISTS catalog_version (version BIGINT NOT NULL);",
                    )?;
                    let version: i64 = tx
                        .query_opt("SELECT version FROM catalog_version", &[])?
                        .map_or(0, |r| r.get(0));
                    for (i, sql) in migrations.iter().enumerate().skip(version.max(0) as usize) {
                        tx.batch_execute(sql)?;
                        tx.execute("DELETE FROM catalog_version", &[])?;
                        tx.execute(
                            "INSERT INTO catalog_version (version) VALUES ($1)",
                            &[&(i as i64 + 1)],
                        )?;
                    }
                    tx.commit()
                })
            }
        }
    }

    /// A migration's text for a backend: the migrations are written for SQLite, and the
    /// three type names PostgreSQL spells differently are mapped (an auto-numbered key, 64-bit
    /// integers, bytes).
    pub(crate) fn migration_sql(sql: &str, postgres: bool) -> String {
        if !postgres {
            return sql.to_string();
        }
        sql.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
            .replace("INTEGER", "BIGINT")
            .replace("BLOB", "BYTEA")
    }
}

fn lock(conn: &Mutex<rusqlite::Connection>) -> MutexGuard<'_, rusqlite::Connection> {
    // A poisoned lock only means another thread panicked mid-call; SQLite's own
    // transactions keep the data consistent, so the connection is still usable.
    conn.lock().unwrap_or_else(|p| p.into_inner())
}

fn to_sqlite(v: SqlValue) -> SqliteValue {
    match v {
        SqlValue::Null => SqliteValue::Null,
        SqlValue::Int(i) => SqliteValue::Integer(i),
        SqlValue::Text(t) => SqliteValue::Text(t),
        SqlValue::Bytes(b) => SqliteValue::Blob(b),
    }
}

fn from_sqlite(v: SqliteValue) -> SqlValue {
    match v {
        SqliteValue::Null => SqlValue::Null,
        SqliteValue::Integer(i) => SqlValue::Int(i),
        // The catalog stores no floating-point numbers; one read back is kept as text.
        SqliteValue::Real(f) => SqlValue::Text(f.to_string()),
        SqliteValue::Text(t) => SqlValue::Text(t),
        SqliteValue::Blob(b) => SqlValue::Bytes(b),
    }
}

/// `?1`-style parameters as PostgreSQL's `$1`. The catalog's statements hold no `?`
/// inside string literals, so every `?` followed by digits is a parameter.
fn postgres_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

impl ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            SqlValue::Int(v) if *ty == Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
            SqlValue::Int(v) => v.to_sql(ty, out),
            SqlValue::Text(v) => v.to_sql(ty, out),
            SqlValue::Bytes(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for SqlValue {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<SqlValue, Box<dyn StdError + Sync + Send>> {
        Ok(match *ty {
            Type::INT8 => SqlValue::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => SqlValue::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => SqlValue::Int(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => SqlValue::Int(bool::from_sql(ty, raw)?.into()),
            Type::BYTEA => SqlValue::Bytes(Vec::<u8>::from_sql(ty, raw)?),
            _ => SqlValue::Text(String::from_sql(ty, raw)?),
        })
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8 | Type::INT4 | Type::INT2 | Type::BOOL | Type::BYTEA
        ) || <String as FromSql>::accepts(ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_for_postgres_and_types_mapped() {
        assert_eq!(
            postgres_placeholders("UPDATE t SET a = ?2 WHERE b = ?1 AND c = '?'"),
            "UPDATE t SET a = $2 WHERE b = $1 AND c = '?'"
        );
        let sql = "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER, b BLOB)";
        assert_eq!(
            Db::migration_sql(sql, true),
            "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, n BIGINT, b BYTEA)"
        );
        assert_eq!(Db::migration_sql(sql, false), sql);
    }

    #[test]
    fn processes_opening_a_new_catalog_file_at_once_migrate_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let opened: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..6)
                .map(|_| scope.spawn(|| crate::Catalog::open(&path).map(|_| ())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for result in opened {
            assert!(result.is_ok(), "{result:?}");
        }
        assert!(crate::Catalog::open(&path)
            .unwrap()
            .recent_runs(1)
            .unwrap()
            .is_empty());
    }
}
