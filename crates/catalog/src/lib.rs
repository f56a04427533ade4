//! The catalog database: where medlake remembers what it did.
//!
//! Capture watermarks (how far each table's incremental sync has read, and the batch in
//! flight), binlog positions, run records (every sync and build, with start, end, rows,
//! bytes and outcome), accounts and their attributes, API tokens, web sessions, the versions
//! of the policy set and the hash-chained query audit live here.
//! A run after a crash reads its state from here and from the lake's own commit markers,
//! so it resumes with nothing lost and nothing doubled. docs/catalog.md describes every
//! table.
//!
//! Two backends behind one API ([`Catalog::connect`]): SQLite, a file beside the lake (the
//! embedded default), and PostgreSQL (`postgres://...`), which several medlake processes
//! on several machines share. The same migrations and statements serve both (`db.rs`).
//!
//! ```
//! let catalog = medlake_catalog::Catalog::open_in_memory().unwrap();
//! let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1);
//! let run = catalog.start_run(medlake_catalog::RunKind::FullSync, "hospital", day).unwrap();
//! catalog.finish_run(run, medlake_catalog::Outcome::Succeeded, 200, 12_345, None).unwrap();
//! assert_eq!(catalog.recent_runs(10).unwrap().len(), 1);
//! ```

use std::path::Path;
use std::sync::Mutex;

use chrono::NaiveDateTime;
use thiserror::Error;

/// Parameters of a catalog statement, in `?1`, `?2`, ... order.
macro_rules! sql_params {
    ($($v:expr),* $(,)?) => {
        vec![$($crate::db::SqlValue::from($v)),*]
    };
}

mod accounts;
mod alerting;
mod audit;
mod capture;
mod db;
mod imaging;
mod lease;
mod lineage;
mod logins;
mod pg_connection;
mod policies;
mod quality;
mod runs;
mod schedule;
mod sessions;

pub use accounts::{Account, NewAccount};
pub use alerting::{AlertEvent, FigurePoint, NotificationRecord, SilenceRecord};
pub use audit::{AuditEntry, AuditFigures, AuditRecord, AuditSearch, ChainReport};
pub use capture::{CaptureState, Position};
pub use imaging::{ImagingFile, ImagingLocator, QuarantinedFile};
pub use lease::Lease;
pub use lineage::LineageRecord;
pub use logins::{LoginEvent, LoginRecord};
pub use policies::{PolicyVersion, PSEUDONYM_KEY};
pub use quality::{CheckFilter, CheckRecord, CheckStatus, ProfileRecord, SOURCE_RECONCILE_CHECK};
pub use runs::{Outcome, RunKind, RunRecord};
pub use schedule::{DayFailure, DayState, ScheduleDay, SCHEDULER_LEASE};
pub use sessions::WebSession;

use db::Db;
use pg_connection::PgConnection;

/// What can go wrong in the catalog.
#[derive(Debug, Error)]
pub enum CatalogError {
    /// The catalog database cannot be opened or created.
    #[error("cannot open catalog {path}: {reason}")]
    Open {
        /// File path or URL (without its password).
        path: String,
        /// Why.
        reason: String,
    },
    /// A statement of the SQLite catalog failed.
    #[error("catalog: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A statement of the PostgreSQL catalog failed.
    #[error("catalog: {message}")]
    Postgres {
        /// The server's message (its SQLSTATE and text), or the client's.
        message: String,
        /// The client's error.
        #[source]
        source: postgres::Error,
    },
    /// A stored value is not what medlake writes (the file was edited or is from elsewhere).
    #[error("catalog holds an unreadable value in {0}")]
    Corrupt(&'static str),
}

impl From<postgres::Error> for CatalogError {
    fn from(source: postgres::Error) -> Self {
        // The client's own Display says only "db error"; the server's text is underneath.
        let message = match source.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => source.to_string(),
        };
        CatalogError::Postgres { message, source }
    }
}

/// Result of catalog operations.
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// The catalog database.
pub struct Catalog {
    db: Db,
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
        \"offset\" INTEGER NOT NULL,
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
    "CREATE TABLE web_session (
        id_hash TEXT PRIMARY KEY,
        account TEXT NOT NULL REFERENCES account(name) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        expires TEXT NOT NULL
    );
    CREATE INDEX web_session_expires ON web_session(expires);",
    // Who runs a job: a run left `running` by a process that no longer exists (kill -9,
    // a crash, a lost machine) is found by the next run of its kind on that host.
    "ALTER TABLE run ADD COLUMN pid INTEGER;
    ALTER TABLE run ADD COLUMN host TEXT;",
    // Governance: what each audited statement read and which policies applied, the
    // audit's hash chain (audit.rs), the versions of the policy set, and account
    // attributes that row filters use (`${user.hospitals}`).
    "ALTER TABLE query_audit ADD COLUMN tables TEXT;
    ALTER TABLE query_audit ADD COLUMN policies TEXT;
    ALTER TABLE query_audit ADD COLUMN phi_unmasked INTEGER;
    ALTER TABLE query_audit ADD COLUMN prev_hash TEXT;
    ALTER TABLE query_audit ADD COLUMN hash TEXT;
    CREATE TABLE policy_version (
        version INTEGER PRIMARY KEY AUTOINCREMENT,
        body TEXT NOT NULL,
        changed_by TEXT NOT NULL,
        changed_at TEXT NOT NULL,
        note TEXT
    );
    CREATE TABLE account_attribute (
        account TEXT NOT NULL REFERENCES account(name) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (account, name, value)
    );
    CREATE TABLE secret (
        name TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );",
    // Directory logins: an account made by an LDAP login is `ldap`; its verifiers are
    // random and its role and attributes follow the directory at each login.
    // The login audit (logins.rs): every password login attempt on either front.
    "ALTER TABLE account ADD COLUMN source TEXT NOT NULL DEFAULT 'local';
    CREATE TABLE login_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        account TEXT NOT NULL,
        channel TEXT NOT NULL,
        address TEXT NOT NULL,
        outcome TEXT NOT NULL,
        reason TEXT
    );
    CREATE INDEX login_audit_account ON login_audit(account, id);",
    // Lineage (lineage.rs): the column lineage of each version of a step (a model's SQL
    // hash), kept once, and which version built each day's partition.
    "CREATE TABLE lineage_version (
        version TEXT PRIMARY KEY,
        step TEXT NOT NULL,
        body TEXT NOT NULL,
        recorded TEXT NOT NULL
    );
    CREATE TABLE lineage_build (
        step TEXT NOT NULL,
        dt TEXT NOT NULL,
        version TEXT NOT NULL,
        built TEXT NOT NULL,
        PRIMARY KEY (step, dt)
    );",
    // Data quality (quality.rs): every check run's result, and the column profiles of each
    // partition checked (the history `volume` and `distribution` checks compare against).
    // Numbers that may be fractional are kept as text (the catalog stores no floats).
    "CREATE TABLE dq_check_result (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER,
        check_id TEXT NOT NULL,
        table_name TEXT NOT NULL,
        dt TEXT NOT NULL,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL,
        status TEXT NOT NULL,
        observed TEXT,
        expected TEXT NOT NULL,
        failing_rows INTEGER NOT NULL,
        sample TEXT,
        message TEXT,
        seconds TEXT NOT NULL,
        checked_at TEXT NOT NULL
    );
    CREATE INDEX dq_check_result_day ON dq_check_result(dt, table_name, id);
    CREATE INDEX dq_check_result_check ON dq_check_result(check_id, dt, id);
    CREATE TABLE dq_profile (
        table_name TEXT NOT NULL,
        dt TEXT NOT NULL,
        column_name TEXT NOT NULL,
        row_count INTEGER NOT NULL,
        null_count INTEGER NOT NULL,
        distinct_count INTEGER,
        min_value TEXT,
        max_value TEXT,
        mean TEXT,
        p50 TEXT,
        p95 TEXT,
        profiled TEXT NOT NULL,
        PRIMARY KEY (table_name, dt, column_name)
    );",
    // Leases (lease.rs): one holder at a time for a named duty, such as the scheduler of a
    // shared catalog, with a fencing token that grows with every new holder.
    "CREATE TABLE lease (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        token INTEGER NOT NULL,
        expires TEXT NOT NULL,
        acquired TEXT NOT NULL
    );",
    // Operations (schedule.rs, alerting.rs): the scheduler's book of business days, the
    // history of alerts, silences, notifications, and a day of key figures for the charts.
    "CREATE TABLE schedule_day (
        dt TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        token INTEGER NOT NULL,
        holder TEXT NOT NULL,
        started TEXT,
        finished TEXT,
        next_try TEXT,
        step TEXT,
        message TEXT,
        updated TEXT NOT NULL
    );
    CREATE TABLE alert_event (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        fingerprint TEXT NOT NULL,
        rule TEXT NOT NULL,
        severity TEXT NOT NULL,
        labels TEXT NOT NULL,
        summary TEXT NOT NULL,
        state TEXT NOT NULL,
        value TEXT NOT NULL,
        starts_at TEXT NOT NULL,
        ends_at TEXT NOT NULL,
        recorded TEXT NOT NULL
    );
    CREATE TABLE alert_silence (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        matchers TEXT NOT NULL,
        starts_at TEXT NOT NULL,
        ends_at TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_by TEXT NOT NULL
    );
    CREATE TABLE alert_notification (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        receiver TEXT NOT NULL,
        group_key TEXT NOT NULL,
        status TEXT NOT NULL,
        alerts INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        delivered INTEGER NOT NULL,
        error TEXT NOT NULL,
        sent TEXT NOT NULL
    );
    CREATE TABLE figure_point (
        series TEXT NOT NULL,
        at TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (series, at)
    );",
    "CREATE TABLE imaging_cursor (
        source TEXT PRIMARY KEY,
        position TEXT NOT NULL,
        updated TEXT NOT NULL
    );
    CREATE TABLE imaging_file (
        source TEXT NOT NULL,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        PRIMARY KEY (source, path)
    );
    CREATE TABLE imaging_locator (
        sop_instance_uid TEXT PRIMARY KEY,
        series_instance_uid TEXT NOT NULL,
        instance_number INTEGER,
        source TEXT NOT NULL,
        locator TEXT NOT NULL
    );
    CREATE INDEX imaging_locator_series ON imaging_locator (series_instance_uid);
    CREATE TABLE imaging_quarantine (
        source TEXT NOT NULL,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        reason TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (source, path)
    );",
];

const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

pub(crate) fn fmt_time(t: &NaiveDateTime) -> String {
    t.format(TIME_FORMAT).to_string()
}

pub(crate) fn parse_time(s: &str, what: &'static str) -> Result<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .map_err(|_| CatalogError::Corrupt(what))
}

impl Catalog {
    /// Opens the catalog at `location`: `postgres://user:password@host:port/database` (or
    /// `postgresql://`) for PostgreSQL, otherwise a SQLite file path (`sqlite://PATH` or a
    /// plain path), created if missing. The schema is brought up to date either way.
    pub fn connect(location: &str) -> Result<Catalog> {
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            let catalog = Catalog {
                db: Db::Postgres(PgConnection::connect(location)?),
            };
            catalog.db.migrate(MIGRATIONS)?;
            return Ok(catalog);
        }
        let path = location.strip_prefix("sqlite://").unwrap_or(location);
        Catalog::open(Path::new(path))
    }

    /// Opens (creating if needed) the catalog in a SQLite file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Catalog> {
        let open_error = |reason: String| CatalogError::Open {
            path: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_error(e.to_string()))?;
        }
        let conn = rusqlite::Connection::open(path).map_err(|e| open_error(e.to_string()))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Self::sqlite(conn)
    }

    /// A throwaway catalog in memory, for tests and dry runs.
    pub fn open_in_memory() -> Result<Catalog> {
        Self::sqlite(rusqlite::Connection::open_in_memory()?)
    }

    fn sqlite(conn: rusqlite::Connection) -> Result<Catalog> {
        // Foreign keys (an account's tokens and sessions go with it) are off in SQLite
        // unless asked for.
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let catalog = Catalog {
            db: Db::Sqlite(Mutex::new(conn)),
        };
        catalog.db.migrate(MIGRATIONS)?;
        Ok(catalog)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Every catalog test runs against both backends: an in-memory SQLite and a database
    //! of its own on the PostgreSQL named by `MEDLAKE_TEST_POSTGRES_URL` (scripts/test.sh
    //! sets it), dropped afterwards.

    use super::Catalog;

    /// A catalog for a test, with what it takes to clean up.
    pub(crate) struct TestCatalog {
        pub(crate) catalog: Catalog,
        /// The PostgreSQL catalog's URL, for tests that open more connections to it.
        pub(crate) url: Option<String>,
        drop_database: Option<(String, String)>,
    }

    impl std::ops::Deref for TestCatalog {
        type Target = Catalog;
        fn deref(&self) -> &Catalog {
            &self.catalog
        }
    }

    impl Drop for TestCatalog {
        fn drop(&mut self) {
            if let Some((server, name)) = self.drop_database.take() {
                // The catalog's own connection must close first.
                let catalog =
                    std::mem::replace(&mut self.catalog, Catalog::open_in_memory().unwrap());
                drop(catalog);
                std::thread::spawn(move || {
                    if let Ok(mut admin) = postgres::Client::connect(&server, postgres::NoTls) {
                        let _ = admin
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                    }
                })
                .join()
                .ok();
            }
        }
    }

    /// The PostgreSQL server for catalog tests (an admin URL to its `postgres` database).
    fn postgres_server() -> String {
        std::env::var("MEDLAKE_TEST_POSTGRES_URL").unwrap_or_else(|_| {
            panic!(
                "MEDLAKE_TEST_POSTGRES_URL is not set: run the tests through scripts/test.sh, \
                 which starts PostgreSQL"
            )
        })
    }

    /// One catalog per backend, named for `test`.
    pub(crate) fn catalogs(test: &str) -> Vec<(&'static str, TestCatalog)> {
        let server = postgres_server();
        let name = format!("medlake_test_{test}_{}", std::process::id());
        std::thread::spawn({
            let (server, name) = (server.clone(), name.clone());
            move || -> Result<(), postgres::Error> {
                let mut admin = postgres::Client::connect(&server, postgres::NoTls)?;
                admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
                admin.batch_execute(&format!("CREATE DATABASE {name}"))
            }
        })
        .join()
        .expect("the database setup thread")
        .unwrap_or_else(|e| panic!("cannot create a test database on {server}: {e}"));
        let mut url = url::Url::parse(&server).expect("MEDLAKE_TEST_POSTGRES_URL is a URL");
        url.set_path(&format!("/{name}"));
        let postgres = Catalog::connect(url.as_str())
            .unwrap_or_else(|e| panic!("cannot open the PostgreSQL catalog: {e}"));
        vec![
            (
                "sqlite",
                TestCatalog {
                    catalog: Catalog::open_in_memory().unwrap(),
                    url: None,
                    drop_database: None,
                },
            ),
            (
                "postgres",
                TestCatalog {
                    catalog: postgres,
                    url: Some(url.to_string()),
                    drop_database: Some((server, name)),
                },
            ),
        ]
    }
}
