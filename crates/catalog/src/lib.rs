//! The catalog database: where medlake remembers what it did.
//!
//! Capture watermarks (how far each table's incremental sync has read, and the batch in
//! flight) and run records (every sync, with start, end, rows, bytes and outcome) live
//! here, in SQLite by default. A run after a crash reads its state from here and from the
//! lake's own commit markers, so it resumes with nothing lost and nothing doubled.
//!
//! ```
//! let catalog = medlake_catalog::Catalog::open_in_memory().unwrap();
//! let run = catalog.start_run("full-sync", "hospital", Some("2026-01-01")).unwrap();
//! catalog.finish_run(run, medlake_catalog::Outcome::Succeeded, 200, 12_345, None).unwrap();
//! assert_eq!(catalog.recent_runs(10).unwrap().len(), 1);
//! ```

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use chrono::{Local, NaiveDateTime};
use rusqlite::{params, Connection, OptionalExtension};
use thiserror::Error;

mod accounts;
pub use accounts::{Account, AuditRecord, NewAccount};

/// What can go wrong in the catalog.
#[derive(Debug, Error)]
pub enum CatalogError {
    /// The catalog database cannot be opened or created.
    #[error("cannot open catalog {path}: {reason}")]
    Open {
        /// File path.
        path: String,
        /// Why.
        reason: String,
    },
    /// A catalog statement failed.
    #[error("catalog: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A stored value is not what medlake writes (the file was edited or is from elsewhere).
    #[error("catalog holds an unreadable value in {0}")]
    Corrupt(&'static str),
}

/// Result of catalog operations.
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// A position in a table's change order: `(update_time, id)` of the last row captured.
pub type Position = (NaiveDateTime, i64);

/// How far incremental capture of one table has come.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureState {
    /// Sequence number of the last batch known to be committed to the lake.
    pub committed_batch: i64,
    /// Position after the last committed batch (`None` before the first).
    pub committed: Option<Position>,
    /// A batch that was being written when the last run stopped: its number and the
    /// position it would reach. Whether it reached the lake is read from the lake.
    pub pending: Option<(i64, Position)>,
    /// While a first capture (bootstrap) is in progress: the day its records belong to.
    pub bootstrap_dt: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Still running, or died without recording an end.
    Running,
    /// Finished.
    Succeeded,
    /// Stopped with an error.
    Failed,
    /// Not run because something it needs failed.
    Skipped,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Outcome {
        match s {
            "succeeded" => Outcome::Succeeded,
            "failed" => Outcome::Failed,
            "skipped" => Outcome::Skipped,
            _ => Outcome::Running,
        }
    }
}

/// One recorded run of a job on one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// Run id.
    pub id: i64,
    /// Job kind, e.g. `full-sync`, `inc-sync`.
    pub kind: String,
    /// What it worked on, e.g. a table name.
    pub target: String,
    /// Business day, where the job has one.
    pub dt: Option<String>,
    /// Local start time.
    pub started: NaiveDateTime,
    /// Local end time, `None` while running.
    pub ended: Option<NaiveDateTime>,
    /// Outcome.
    pub outcome: Outcome,
    /// Rows moved.
    pub rows: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// Error message of a failed run (never holds row values).
    pub message: Option<String>,
}

/// The catalog database.
pub struct Catalog {
    conn: Mutex<Connection>,
}

const MIGRATIONS: &[&str] = &[
    "CREATE TABLE capture_state (
        table_name TEXT PRIMARY KEY,
        committed_batch INTEGER NOT NULL DEFAULT 0,
        committed_time TEXT,
        committed_id INTEGER,
        pending_batch INTEGER,
        pending_time TEXT,
        pending_id INTEGER,
        bootstrap_dt TEXT
    );
    CREATE TABLE run (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        dt TEXT,
        started TEXT NOT NULL,
        ended TEXT,
        outcome TEXT NOT NULL,
        rows INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        message TEXT
    );
    CREATE INDEX run_kind_target ON run(kind, target, started);",
    "CREATE TABLE binlog_position (
        source TEXT PRIMARY KEY,
        file TEXT NOT NULL,
        offset INTEGER NOT NULL,
        updated TEXT NOT NULL
    );",
    "CREATE TABLE account (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        scram_salt BLOB NOT NULL,
        scram_salted_password BLOB NOT NULL,
        created TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE api_token (
        token_hash TEXT PRIMARY KEY,
        account TEXT NOT NULL REFERENCES account(name) ON DELETE CASCADE,
        label TEXT NOT NULL,
        created TEXT NOT NULL
    );
    CREATE TABLE query_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        account TEXT NOT NULL,
        channel TEXT NOT NULL,
        statement TEXT NOT NULL,
        outcome TEXT NOT NULL,
        rows INTEGER,
        millis INTEGER,
        error TEXT
    );
    CREATE INDEX query_audit_account ON query_audit(account, id);",
];

const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

fn fmt_time(t: &NaiveDateTime) -> String {
    t.format(TIME_FORMAT).to_string()
}

fn parse_time(s: &str, what: &'static str) -> Result<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .map_err(|_| CatalogError::Corrupt(what))
}

impl Catalog {
    /// Opens (creating if needed) the catalog in a SQLite file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Catalog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| CatalogError::Open {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        let conn = Connection::open(path).map_err(|e| CatalogError::Open {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Self::migrate(conn)
    }

    /// A throwaway catalog in memory, for tests and dry runs.
    pub fn open_in_memory() -> Result<Catalog> {
        Self::migrate(Connection::open_in_memory()?)
    }

    fn migrate(mut conn: Connection) -> Result<Catalog> {
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let tx = conn.transaction()?;
        for (i, sql) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(version).unwrap_or(0))
        {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
        }
        tx.commit()?;
        Ok(Catalog {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A poisoned lock only means another thread panicked mid-call; SQLite's own
        // transactions keep the data consistent, so the connection is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The capture state of `table` (default state when it was never captured).
    pub fn capture_state(&self, table: &str) -> Result<CaptureState> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT committed_batch, committed_time, committed_id, pending_batch, pending_time, pending_id,
                        bootstrap_dt
                 FROM capture_state WHERE table_name = ?1",
                [table],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                    ))
                },
            )
            .optional()?;
        let Some((batch, ct, cid, pb, pt, pid, bootstrap_dt)) = row else {
            return Ok(CaptureState::default());
        };
        let committed = match (ct, cid) {
            (Some(t), Some(id)) => Some((parse_time(&t, "capture_state.committed_time")?, id)),
            _ => None,
        };
        let pending = match (pb, pt, pid) {
            (Some(b), Some(t), Some(id)) => {
                Some((b, (parse_time(&t, "capture_state.pending_time")?, id)))
            }
            _ => None,
        };
        Ok(CaptureState {
            committed_batch: batch,
            committed,
            pending,
            bootstrap_dt,
        })
    }

    /// Records that batch `batch` reaching `position` is about to be written to the lake.
    pub fn set_pending(&self, table: &str, batch: i64, position: Position) -> Result<()> {
        self.conn().execute(
            "INSERT INTO capture_state (table_name, pending_batch, pending_time, pending_id)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(table_name) DO UPDATE SET pending_batch = ?2, pending_time = ?3, pending_id = ?4",
            params![table, batch, fmt_time(&position.0), position.1],
        )?;
        Ok(())
    }

    /// Records that batch `batch` is in the lake: the watermark moves to `position`.
    pub fn commit_batch(&self, table: &str, batch: i64, position: Position) -> Result<()> {
        self.conn().execute(
            "INSERT INTO capture_state (table_name, committed_batch, committed_time, committed_id)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(table_name) DO UPDATE SET committed_batch = ?2, committed_time = ?3,
               committed_id = ?4, pending_batch = NULL, pending_time = NULL, pending_id = NULL",
            params![table, batch, fmt_time(&position.0), position.1],
        )?;
        Ok(())
    }

    /// Marks a bootstrap of `table` as started (records belong to `dt`) or, with `None`, complete.
    pub fn set_bootstrap(&self, table: &str, dt: Option<&str>) -> Result<()> {
        self.conn().execute(
            "INSERT INTO capture_state (table_name, bootstrap_dt) VALUES (?1, ?2)
             ON CONFLICT(table_name) DO UPDATE SET bootstrap_dt = ?2",
            params![table, dt],
        )?;
        Ok(())
    }

    /// Forgets a pending batch that never reached the lake.
    pub fn clear_pending(&self, table: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE capture_state SET pending_batch = NULL, pending_time = NULL, pending_id = NULL
             WHERE table_name = ?1",
            [table],
        )?;
        Ok(())
    }

    /// Where binlog capture from `source` resumes: the binlog file and offset after the last
    /// transaction whose changes are all in the lake. `None` before the first capture.
    pub fn binlog_position(&self, source: &str) -> Result<Option<(String, u64)>> {
        let row = self
            .conn()
            .query_row(
                "SELECT file, offset FROM binlog_position WHERE source = ?1",
                [source],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()?;
        row.map(|(file, offset)| {
            u64::try_from(offset)
                .map(|o| (file, o))
                .map_err(|_| CatalogError::Corrupt("binlog_position.offset"))
        })
        .transpose()
    }

    /// Records that capture from `source` has everything before `file:offset` in the lake.
    pub fn set_binlog_position(&self, source: &str, file: &str, offset: u64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO binlog_position (source, file, offset, updated) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(source) DO UPDATE SET file = ?2, offset = ?3, updated = ?4",
            params![
                source,
                file,
                i64::try_from(offset).unwrap_or(i64::MAX),
                fmt_time(&Local::now().naive_local())
            ],
        )?;
        Ok(())
    }

    /// Starts a run record and returns its id.
    pub fn start_run(&self, kind: &str, target: &str, dt: Option<&str>) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO run (kind, target, dt, started, outcome) VALUES (?1, ?2, ?3, ?4, 'running')",
            params![kind, target, dt, fmt_time(&Local::now().naive_local())],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Ends run `id` with its outcome and figures.
    pub fn finish_run(
        &self,
        id: i64,
        outcome: Outcome,
        rows: u64,
        bytes: u64,
        message: Option<&str>,
    ) -> Result<()> {
        self.conn().execute(
            "UPDATE run SET ended = ?2, outcome = ?3, rows = ?4, bytes = ?5, message = ?6 WHERE id = ?1",
            params![
                id,
                fmt_time(&Local::now().naive_local()),
                outcome.as_str(),
                i64::try_from(rows).unwrap_or(i64::MAX),
                i64::try_from(bytes).unwrap_or(i64::MAX),
                message
            ],
        )?;
        Ok(())
    }

    /// The most recent runs, newest first.
    pub fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, kind, target, dt, started, ended, outcome, rows, bytes, message
             FROM run ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, i64>(8)?,
                r.get::<_, Option<String>>(9)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, kind, target, dt, started, ended, outcome, nrows, bytes, message) = row?;
            out.push(RunRecord {
                id,
                kind,
                target,
                dt,
                started: parse_time(&started, "run.started")?,
                ended: ended.map(|e| parse_time(&e, "run.ended")).transpose()?,
                outcome: Outcome::parse(&outcome),
                rows: nrows.max(0) as u64,
                bytes: bytes.max(0) as u64,
                message,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn t(h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
    }

    #[test]
    fn pending_then_commit_moves_the_watermark() {
        let c = Catalog::open_in_memory().unwrap();
        assert_eq!(c.capture_state("payment").unwrap(), CaptureState::default());
        c.set_pending("payment", 1, (t(1), 7)).unwrap();
        let s = c.capture_state("payment").unwrap();
        assert_eq!(s.pending, Some((1, (t(1), 7))));
        assert_eq!(s.committed, None);
        c.commit_batch("payment", 1, (t(1), 7)).unwrap();
        let s = c.capture_state("payment").unwrap();
        assert_eq!(
            (s.committed_batch, s.committed, s.pending),
            (1, Some((t(1), 7)), None)
        );
    }

    #[test]
    fn binlog_position_is_kept_per_source() {
        let c = Catalog::open_in_memory().unwrap();
        assert_eq!(c.binlog_position("a").unwrap(), None);
        c.set_binlog_position("a", "binlog.000002", 4567).unwrap();
        c.set_binlog_position("b", "binlog.000001", 4).unwrap();
        c.set_binlog_position("a", "binlog.000003", 8).unwrap();
        assert_eq!(
            c.binlog_position("a").unwrap(),
            Some(("binlog.000003".to_string(), 8))
        );
        assert_eq!(
            c.binlog_position("b").unwrap(),
            Some(("binlog.000001".to_string(), 4))
        );
    }

    #[test]
    fn catalog_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/catalog.db");
        {
            let c = Catalog::open(&path).unwrap();
            c.commit_batch("user", 3, (t(2), 9)).unwrap();
            let id = c.start_run("inc-sync", "user", None).unwrap();
            c.finish_run(id, Outcome::Failed, 1, 2, Some("boom"))
                .unwrap();
        }
        let c = Catalog::open(&path).unwrap();
        assert_eq!(c.capture_state("user").unwrap().committed, Some((t(2), 9)));
        let runs = c.recent_runs(5).unwrap();
        assert_eq!(runs[0].outcome, Outcome::Failed);
        assert_eq!(runs[0].message.as_deref(), Some("boom"));
    }
}
