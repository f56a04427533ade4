//! Reading a MySQL/MariaDB server as a replica: checks, the current position, a bootstrap
//! snapshot with its binlog position, and the binlog as a stream of committed transactions.

use std::collections::HashMap;

use futures::StreamExt;
use medlake_schema::Table;
use mysql_async::binlog::events::{EventData, RowsEventData};
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest, Conn, Opts, Row, Value as MyValue};
use tracing::{debug, info, warn};

use crate::change::{split_by_schema, ChangeKind, RowChange};
use crate::{BinlogPosition, CdcError, Filter, Result};

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
    /// Its row changes (possibly none: a DDL, or changes of tables not captured).
    pub changes: Vec<RowChange>,
    /// The commit's time, seconds since the epoch.
    pub ts: i64,
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
        let conn = self.connect().await?;
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
        Ok(TransactionStream {
            stream,
            file: from.file.clone(),
            filter,
            pending: Vec::new(),
            in_transaction: false,
            mapping: HashMap::new(),
        })
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

/// The binlog as committed transactions (see [`BinlogSource::stream`]).
pub struct TransactionStream {
    stream: BinlogStream,
    file: String,
    filter: Filter,
    pending: Vec<RowChange>,
    /// Between a transaction's BEGIN and its commit.
    in_transaction: bool,
    /// Per table id of the binlog: the business table it maps, or `None` when filtered out.
    mapping: HashMap<u64, Option<(&'static Table, String)>>,
}

impl TransactionStream {
    /// The next committed transaction, `None` at the end of the binlog (without follow).
    /// Cancel-safe: state lives in the stream, so a timeout around it loses nothing.
    pub async fn next(&mut self) -> Result<Option<Transaction>> {
        loop {
            let Some(event) = self.stream.next().await else {
                return Ok(None);
            };
            let event = event.map_err(|e| self.decode_error(0, e))?;
            let header = event.header();
            let log_pos = u64::from(header.log_pos());
            let data = match event.read_data() {
                Ok(Some(d)) => d,
                Ok(None) => continue,
                Err(e) => return Err(self.decode_error(log_pos, e)),
            };
            match data {
                EventData::RotateEvent(r) => {
                    let name = r.name();
                    // The stream opens with a rotate to the file asked for, read before the
                    // checksum setting is known: its name may carry the checksum's bytes.
                    if !name.starts_with(&self.file) {
                        self.file = binlog_file_name(&name);
                    }
                    debug!(file = %self.file, "binlog file");
                }
                EventData::QueryEvent(q) => {
                    let sql = q.query();
                    let statement = sql.trim();
                    if statement.eq_ignore_ascii_case("BEGIN") {
                        self.pending.clear();
                        self.in_transaction = true;
                    } else if statement.eq_ignore_ascii_case("COMMIT") {
                        return Ok(Some(self.commit(None, log_pos, header.timestamp())));
                    } else if statement.starts_with('#') || self.in_transaction {
                        // MariaDB's stand-ins for events a replica need not understand
                        // (e.g. the annotation of each row statement) come inside
                        // transactions: nothing to do.
                        continue;
                    } else {
                        log_statement(&q.schema(), statement);
                        // A DDL statement is a transaction of its own: capture goes on
                        // past it; later table maps carry the new columns by name.
                        return Ok(Some(self.commit(None, log_pos, header.timestamp())));
                    }
                }
                EventData::XidEvent(x) => {
                    return Ok(Some(self.commit(Some(x.xid), log_pos, header.timestamp())));
                }
                EventData::TableMapEvent(t) => {
                    let database = t.database_name();
                    let name = t.table_name();
                    let kept = self
                        .filter
                        .keeps(&database, &name)
                        .then(|| (medlake_schema::table(&name), database.into_owned()));
                    let entry = match kept {
                        Some((Some(table), db)) => Some((table, db)),
                        _ => None,
                    };
                    self.mapping.insert(t.table_id(), entry);
                }
                EventData::RowsEvent(rows) => {
                    self.rows(&rows, log_pos, i64::from(header.timestamp()))?;
                }
                _ => {}
            }
        }
    }

    fn decode_error(&self, offset: u64, e: impl std::fmt::Display) -> CdcError {
        CdcError::Decode {
            position: BinlogPosition::new(self.file.clone(), offset).to_string(),
            reason: e.to_string(),
        }
    }

    fn commit(&mut self, xid: Option<u64>, log_pos: u64, ts: u32) -> Transaction {
        self.in_transaction = false;
        let end = BinlogPosition::new(self.file.clone(), log_pos);
        let mut changes = std::mem::take(&mut self.pending);
        let n = changes.len();
        for (i, c) in changes.iter_mut().enumerate() {
            c.xid = xid;
            c.position = Some(end.clone());
            c.commit = i + 1 == n;
        }
        Transaction {
            end: Some(end),
            changes,
            ts: i64::from(ts),
        }
    }

    fn rows(&mut self, rows: &RowsEventData<'_>, log_pos: u64, ts: i64) -> Result<()> {
        let Some(Some((table, database))) = self.mapping.get(&rows.table_id()).cloned() else {
            return Ok(());
        };
        let Some(tme) = self.stream.get_tme(rows.table_id()) else {
            return Err(self.decode_error(log_pos, "rows event without its table map"));
        };
        let kind = match rows {
            RowsEventData::WriteRowsEventV1(_) | RowsEventData::WriteRowsEvent(_) => {
                ChangeKind::Insert
            }
            RowsEventData::UpdateRowsEventV1(_) | RowsEventData::UpdateRowsEvent(_) => {
                ChangeKind::Update
            }
            RowsEventData::DeleteRowsEventV1(_) | RowsEventData::DeleteRowsEvent(_) => {
                ChangeKind::Delete
            }
            _ => {
                warn!(table = table.name, "partial update rows event skipped");
                return Ok(());
            }
        };
        let mut decoded = Vec::new();
        for row in rows.rows(tme) {
            let (before, after) = row
                .map_err(|e| self.decode_error(log_pos, format!("rows of {}: {e}", table.name)))?;
            let split = |row: mysql_async::binlog::row::BinlogRow| {
                let names: Vec<String> = row
                    .columns_ref()
                    .iter()
                    .map(|c| c.name_str().into_owned())
                    .collect();
                let values: Vec<MyValue> = row
                    .unwrap()
                    .into_iter()
                    .map(|v| match v {
                        mysql_async::binlog::value::BinlogValue::Value(v) => v,
                        // JSON columns are not in the business schema; kept as NULL.
                        _ => MyValue::NULL,
                    })
                    .collect();
                split_by_schema(table, names.iter().map(|n| n.as_str().into()), values)
            };
            let (data, extra, before, extra_before) = match (kind, before, after) {
                (ChangeKind::Update, Some(b), Some(a)) => {
                    let (a, ae) = split(a);
                    let (b, be) = split(b);
                    (a, ae, Some(b), be)
                }
                (_, _, Some(a)) | (_, Some(a), None) => {
                    let (a, ae) = split(a);
                    (a, ae, None, Default::default())
                }
                (_, None, None) => continue,
            };
            decoded.push(RowChange {
                database: database.clone(),
                table,
                kind,
                ts,
                xid: None,
                commit: false,
                position: None,
                data,
                before,
                extra,
                extra_before,
            });
        }
        self.pending.extend(decoded);
        Ok(())
    }
}

/// Logs a non-transactional statement (DDL): its kind and object, never literals.
fn log_statement(schema: &str, statement: &str) {
    let words: Vec<&str> = statement.split_whitespace().take(6).collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let known = ["CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"];
    match upper.first() {
        Some(first) if known.contains(&first.as_str()) => {
            // e.g. ALTER TABLE `consultation` ADD COLUMN ...: the kind and the object name.
            let object = words
                .iter()
                .zip(&upper)
                .skip(1)
                .find(|(_, u)| {
                    !matches!(
                        u.as_str(),
                        "TABLE"
                            | "IF"
                            | "NOT"
                            | "EXISTS"
                            | "DATABASE"
                            | "TEMPORARY"
                            | "OR"
                            | "REPLACE"
                    )
                })
                .map(|(w, _)| w.trim_matches('`'))
                .unwrap_or("?");
            info!(schema, statement = %first, object, "DDL seen; later rows decode by the column names in their table maps");
        }
        first => {
            // The first word is a keyword (or garbage): never a value.
            let keyword = first
                .filter(|w| w.len() <= 20 && w.chars().all(|c| c.is_ascii_alphabetic()))
                .map_or("?", String::as_str);
            warn!(
                schema,
                keyword, "statement in the binlog not understood; skipped (capture goes on)"
            );
        }
    }
}

/// The file name of a rotate event: `base.000123`, without anything after the number.
fn binlog_file_name(raw: &str) -> String {
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
mod tests {
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
