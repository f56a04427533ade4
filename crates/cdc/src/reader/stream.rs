//! The binlog as a stream of committed transactions: decodes the events a replica
//! receives (rotations, BEGIN/COMMIT/XID, table maps, row events) into [`Transaction`]s
//! of the captured tables. Kept apart from the connection and snapshot logic in `reader`.

use std::collections::HashMap;

use futures::StreamExt;
use medlake_schema::Table;
use mysql_async::binlog::events::{EventData, RowsEventData};
use mysql_async::{BinlogStream, Value as MyValue};
use tracing::{debug, info, warn};

use super::Transaction;
use crate::change::{split_by_schema, ChangeKind, RowChange};
use crate::{BinlogPosition, CdcError, Filter, Result};

/// The binlog as committed transactions (see [`BinlogSource::stream`]).
///
/// [`BinlogSource::stream`]: super::BinlogSource::stream
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
    /// A stream of the binlog events of `stream`, which starts in binlog file `file`.
    pub(super) fn new(stream: BinlogStream, file: String, filter: Filter) -> TransactionStream {
        TransactionStream {
            stream,
            file,
            filter,
            pending: Vec::new(),
            in_transaction: false,
            mapping: HashMap::new(),
        }
    }

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
            info!(
                schema,
                statement = %first,
                object,
                "DDL seen; later rows decode by the column names in their table maps"
            );
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
