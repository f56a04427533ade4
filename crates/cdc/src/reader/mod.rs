//! Reading a MySQL/MariaDB server as a replica: checks, the current position, a bootstrap
//! snapshot with its binlog position, and the binlog as a stream of committed transactions.
//!
//! This module connects and reads the snapshot; `stream` turns the binlog's events into
//! [`Transaction`]s.

mod statement;
mod status;
mod stream;
mod xa;

pub use status::ServerStatus;

use medlake_schema::Table;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStreamRequest, Conn, Opts, Row};
use tracing::info;

use crate::change::{split_by_schema, ChangeKind, RowChange};
use crate::{BinlogPosition, CdcError, Filter, Result};

pub use stream::TransactionStream;
pub use xa::XaId;

/// A MySQL or MariaDB server whose binlog is captured.
#[derive(Debug, Clone)]
pub struct BinlogSource {
    opts: Opts,
    url: String,
}

/// The rows of the captured tables as of one binlog position.
#[derive(Debug)]
pub struct Snapshot {
    /// Every later change is in the binlog after this position; none before it is missing.
    pub position: BinlogPosition,
    /// The snapshot's time, seconds since the epoch.
    pub ts: i64,
    /// Per table, its rows as `bootstrap-insert` changes.
    pub tables: Vec<(&'static Table, Vec<RowChange>)>,
}

/// One committed transaction's changes of the captured tables.
#[derive(Debug, Default)]
pub struct Transaction {
    /// The position after its commit event: where the next transaction starts.
    pub end: Option<BinlogPosition>,
    /// Where reading must start again after a restart so that nothing is lost: `end`, or
    /// the start of the oldest XA transaction prepared but not yet committed or rolled
    /// back (its rows are only in the binlog before `end`). Restarting there reads again
    /// transactions up to `end`; capture drops what a table already holds.
    pub resume: Option<BinlogPosition>,
    /// Its row changes (possibly none: a DDL, an XA prepare or rollback, or changes of
    /// tables not captured).
    pub changes: Vec<RowChange>,
    /// Changes of captured tables that the binlog does not carry as full rows.
    pub skipped: Vec<SkippedChange>,
    /// The commit's time, seconds since the epoch.
    pub ts: i64,
}

/// A change of a captured table that capture could not land: the binlog holds it in a
/// form that is not a full row. Capture goes on with everything else; the table needs
/// a resync (`medlake cdc --resync TABLE`) once the server logs full rows again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedChange {
    /// The business table.
    pub table: &'static str,
    /// Where the event is in the binlog.
    pub position: BinlogPosition,
    /// Why it could not be landed.
    pub reason: SkipReason,
    /// Rows in the event (0 when a statement does not say).
    pub rows: usize,
}

/// Why a change was not landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// Logged as a statement (`binlog_format=STATEMENT` or `MIXED` in a session).
    StatementLogged,
    /// A row image without every column (`binlog_row_image=MINIMAL` or `NOBLOB`).
    PartialRowImage,
    /// An `XA COMMIT` of a transaction prepared before the position capture started
    /// from: its rows were never read.
    XaPreparedBeforeStart,
    /// A rows event the decoder could not read (the warning says why).
    Undecodable,
    /// A change of a table capture stopped earlier in the run (its changes do not fit
    /// the lake table).
    TableStopped,
}

impl SkipReason {
    /// A short name for labels and logs.
    pub fn label(self) -> &'static str {
        match self {
            SkipReason::StatementLogged => "statement",
            SkipReason::PartialRowImage => "partial-row-image",
            SkipReason::XaPreparedBeforeStart => "xa-prepared-before-start",
            SkipReason::Undecodable => "undecodable",
            SkipReason::TableStopped => "table-stopped",
        }
    }

    /// What happened, and what to do about it, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::StatementLogged => {
                "logged as a statement (a session set binlog_format to STATEMENT or MIXED)"
            }
            SkipReason::PartialRowImage => {
                "logged without every column (a session set binlog_row_image to MINIMAL or NOBLOB)"
            }
            SkipReason::XaPreparedBeforeStart => {
                "an XA transaction prepared before capture's start position committed"
            }
            SkipReason::Undecodable => "could not be decoded",
            SkipReason::TableStopped => "came after its table stopped",
        }
    }
}

impl BinlogSource {
    /// A source at `url` (`mysql://user:password@host:port/db`); connects lazily.
    pub fn new(url: &str) -> Result<BinlogSource> {
        let url = url.replacen("mariadb://", "mysql://", 1);
        let opts = Opts::from_url(&url)
            .map_err(|e| CdcError::BadUrl(format!("{}: {e}", medlake_source::redact_url(&url))))?;
        Ok(BinlogSource { opts, url })
    }

    /// The database named in the URL, if any.
    pub fn database(&self) -> Option<&str> {
        self.opts.db_name()
    }

    /// The server's address without password: the key of its position in the catalog.
    pub fn describe(&self) -> String {
        let mut u = match url::Url::parse(&self.url) {
            Ok(u) => u,
            Err(_) => return medlake_source::redact_url(&self.url),
        };
        let _ = u.set_password(None);
        u.set_path("/");
        u.to_string()
    }

    fn server_error(&self, e: impl std::fmt::Display) -> CdcError {
        CdcError::Server {
            url: medlake_source::redact_url(&self.url),
            reason: e.to_string(),
        }
    }

    async fn connect(&self) -> Result<Conn> {
        Conn::new(self.opts.clone())
            .await
            .map_err(|e| self.server_error(e))
    }

    /// Checks that the server logs what capture needs: binlog on, row format, full row
    /// images, and column names in the table maps (`binlog_row_metadata=FULL`), so rows
    /// decode by name whatever DDL ran since.
    pub async fn check(&self) -> Result<()> {
        let mut conn = self.connect().await?;
        let row: Option<(i64, String, String, Option<String>)> = conn
            .query_first(
                "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata",
            )
            .await
            .map_err(|e| self.server_error(e))?;
        let Some((log_bin, format, image, metadata)) = row else {
            return Err(self.server_error("no answer to the configuration query"));
        };
        let problem = if log_bin != 1 {
            Some("the binlog is off (start the server with --log-bin)".to_string())
        } else if !format.eq_ignore_ascii_case("ROW") {
            Some(format!("binlog_format is {format}; set it to ROW"))
        } else if !image.eq_ignore_ascii_case("FULL") {
            Some(format!("binlog_row_image is {image}; set it to FULL"))
        } else if !metadata
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case("FULL"))
        {
            Some(format!(
                "binlog_row_metadata is {}; set it to FULL so rows carry column names",
                metadata.as_deref().unwrap_or("unknown")
            ))
        } else {
            None
        };
        // MariaDB's compressed events hold rows capture cannot read (MySQL has no such
        // setting: the answer is empty).
        let compress: Option<(String, String)> = conn
            .query_first("SHOW GLOBAL VARIABLES LIKE 'log_bin_compress'")
            .await
            .map_err(|e| self.server_error(e))?;
        let problem = problem.or_else(|| {
            compress
                .filter(|(_, v)| v.eq_ignore_ascii_case("ON"))
                .map(|_| {
                    "log_bin_compress is ON; set it to OFF (compressed row events cannot be read)"
                        .to_string()
                })
        });
        let _ = conn.disconnect().await;
        match problem {
            Some(reason) => Err(CdcError::NotConfigured {
                url: medlake_source::redact_url(&self.url),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// The server's current end of binlog.
    pub async fn master_position(&self) -> Result<BinlogPosition> {
        let mut conn = self.connect().await?;
        let position = master_status(&mut conn)
            .await
            .map_err(|e| self.server_error(e))?;
        let _ = conn.disconnect().await;
        position.ok_or_else(|| self.server_error("SHOW MASTER STATUS is empty: is the binlog on?"))
    }

    /// Reads `tables` of `database` from one consistent snapshot and the binlog position it
    /// corresponds to. On MariaDB the position comes with the snapshot without any lock
    /// (`binlog_snapshot_file/position`); elsewhere a global read lock is held just long
    /// enough to start the snapshot and read the position.
    pub async fn snapshot(&self, database: &str, tables: &[&'static Table]) -> Result<Snapshot> {
        let mut conn = self.connect().await?;
        let e = |e: mysql_async::Error| self.server_error(e);
        conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .await
            .map_err(e)?;
        conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            .await
            .map_err(e)?;
        let status: Vec<(String, String)> = conn
            .query("SHOW STATUS LIKE 'binlog_snapshot_%'")
            .await
            .map_err(e)?;
        let value = |name: &str| {
            status
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let position = match (
            value("binlog_snapshot_file"),
            value("binlog_snapshot_position"),
        ) {
            (Some(file), Some(offset)) if !file.is_empty() => {
                let offset = offset
                    .parse()
                    .map_err(|_| self.server_error("binlog_snapshot_position is not a number"))?;
                BinlogPosition::new(file, offset)
            }
            _ => {
                // MySQL: no snapshot position; take it under a short global read lock.
                conn.query_drop("ROLLBACK").await.map_err(e)?;
                conn.query_drop("FLUSH TABLES WITH READ LOCK")
                    .await
                    .map_err(e)?;
                conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                    .await
                    .map_err(e)?;
                let p = master_status(&mut conn).await.map_err(e)?;
                conn.query_drop("UNLOCK TABLES").await.map_err(e)?;
                p.ok_or_else(|| self.server_error("SHOW MASTER STATUS is empty"))?
            }
        };
        let ts: i64 = conn
            .query_first("SELECT UNIX_TIMESTAMP()")
            .await
            .map_err(e)?
            .unwrap_or_default();
        let mut out = Vec::new();
        for &table in tables {
            let sql = format!("SELECT * FROM `{database}`.`{}` ORDER BY id", table.name);
            let rows: Vec<Row> = conn.exec(sql, ()).await.map_err(|err| CdcError::Server {
                url: medlake_source::redact_url(&self.url),
                reason: format!("reading {}: {err}", table.name),
            })?;
            let changes = rows
                .into_iter()
                .map(|row| {
                    let names: Vec<String> = row
                        .columns_ref()
                        .iter()
                        .map(|c| c.name_str().into_owned())
                        .collect();
                    let (data, extra) = split_by_schema(
                        table,
                        names.iter().map(|n| n.as_str().into()),
                        row.unwrap(),
                    );
                    RowChange {
                        database: database.to_string(),
                        table,
                        kind: ChangeKind::BootstrapInsert,
                        ts,
                        xid: None,
                        commit: false,
                        position: None,
                        data,
                        before: None,
                        extra,
                        extra_before: Default::default(),
                    }
                })
                .collect();
            out.push((table, changes));
        }
        conn.query_drop("COMMIT").await.map_err(e)?;
        let _ = conn.disconnect().await;
        info!(position = %position, tables = out.len(), "bootstrap snapshot read");
        Ok(Snapshot {
            position,
            ts,
            tables: out,
        })
    }

    /// The binlog from `from` on, as committed transactions of the tables `filter` keeps.
    /// With `follow` the stream waits for new transactions; without, it ends at the end of
    /// the binlog. `server_id` must differ from every other replica of the server.
    pub async fn stream(
        &self,
        from: &BinlogPosition,
        server_id: u32,
        follow: bool,
        filter: Filter,
    ) -> Result<TransactionStream> {
        let mut conn = self.connect().await?;
        // A GTID-aware replica (MariaDB's capability 4): the server sends its GTID events
        // as they are instead of rewriting them for old replicas, which it cannot do for
        // XA transactions ("Failed to replace GTID event"). MySQL ignores the variable.
        conn.query_drop("SET @mariadb_slave_capability = 4")
            .await
            .map_err(|e| self.server_error(e))?;
        let mut request = BinlogStreamRequest::new(server_id)
            .with_filename(from.file.as_bytes())
            .with_pos(from.offset);
        if !follow {
            request = request.with_non_blocking();
        }
        let stream = conn
            .get_binlog_stream(request)
            .await
            .map_err(|e| self.server_error(e))?;
        Ok(TransactionStream::new(stream, from.file.clone(), filter))
    }
}

async fn master_status(
    conn: &mut Conn,
) -> std::result::Result<Option<BinlogPosition>, mysql_async::Error> {
    let row: Option<Row> = conn.query_first("SHOW MASTER STATUS").await?;
    Ok(row.and_then(|r| {
        let file: String = r.get(0)?;
        let offset: u64 = r.get(1)?;
        Some(BinlogPosition::new(file, offset))
    }))
}

/// The file name of a rotate event: `base.000123`, without anything after the number.
pub(super) fn binlog_file_name(raw: &str) -> String {
    match raw.rfind('.') {
        Some(dot) => {
            let digits = raw[dot + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .count();
            raw[..dot + 1 + digits].to_string()
        }
        None => raw.chars().take_while(|c| c.is_ascii_graphic()).collect(),
    }
}

#[cfg(test)]
mod rotate_tests {
    #[test]
    fn rotate_names_keep_only_the_file_name() {
        assert_eq!(
            super::binlog_file_name("binlog.000002\u{fffd}\u{fffd}Y"),
            "binlog.000002"
        );
        assert_eq!(
            super::binlog_file_name("mysql-bin.000042"),
            "mysql-bin.000042"
        );
    }
}
