//! The binlog as a stream of committed transactions: decodes the events a replica
//! receives (rotations, GTID events, BEGIN/COMMIT/XID, XA prepare/commit/rollback, table
//! maps, row events) into [`Transaction`]s of the captured tables. Kept apart from the
//! connection and snapshot logic in `reader`.
//!
//! A transaction opens with a GTID event (MariaDB as a GTID-aware replica; the event is
//! *standalone* for a DDL statement or an XA COMMIT/ROLLBACK, which then follows as one
//! query), a `BEGIN` query, or an `XA START` query; it ends with an XID event, a `COMMIT`
//! query, or an XA prepare event. An XA transaction's rows are held at its prepare and
//! become one transaction at its `XA COMMIT` (see `xa`); while one is held, every
//! transaction's [`resume`](Transaction::resume) position stays at the start of the
//! held one, so a restart reads its rows again.

use std::collections::BTreeMap;

use futures::StreamExt;
use medlake_schema::Table;
use mysql_async::binlog::events::{Event, EventData, RowsEventData};
use mysql_async::{BinlogStream, Value as MyValue};
use tracing::{debug, warn};

use super::binlog_file_name;
use super::statement::{dml_target, log_statement};
use super::xa::{self, XaId, XaStatement};
use super::{SkipReason, SkippedChange, Transaction};
use crate::change::{split_by_schema, ChangeKind, RowChange};
use crate::{BinlogPosition, CdcError, Filter, Result};

/// The binlog as committed transactions (see [`BinlogSource::stream`]).
///
/// [`BinlogSource::stream`]: super::BinlogSource::stream
pub struct TransactionStream {
    stream: BinlogStream,
    file: String,
    filter: Filter,
    /// The open transaction's row changes and skipped changes.
    pending: Vec<RowChange>,
    skipped: Vec<SkippedChange>,
    /// Between a transaction's start and its end.
    in_transaction: bool,
    /// Where the open transaction started (its first event).
    tx_start: Option<BinlogPosition>,
    /// The open transaction's XA id, when it is the prepare part of one.
    tx_xa: Option<XaId>,
    /// The start of the event before this one, when it was a MySQL GTID event: the
    /// transaction it opens starts there.
    gtid_start: Option<BinlogPosition>,
    /// The XA id a standalone MariaDB GTID event announced for the XA COMMIT/ROLLBACK
    /// query that follows it.
    completing_xa: Option<XaId>,
    /// XA transactions prepared and not yet committed or rolled back.
    prepared: BTreeMap<XaId, Prepared>,
    /// Where the last event read ends (for errors).
    last_pos: u64,
    /// Per table id of the binlog: the business table it maps, or `None` when filtered out.
    mapping: std::collections::HashMap<u64, Option<(&'static Table, String)>>,
}

/// The rows of an XA transaction between its prepare and its commit.
struct Prepared {
    start: BinlogPosition,
    changes: Vec<RowChange>,
    skipped: Vec<SkippedChange>,
}

impl TransactionStream {
    /// A stream of the binlog events of `stream`, which starts in binlog file `file`.
    pub(super) fn new(stream: BinlogStream, file: String, filter: Filter) -> TransactionStream {
        TransactionStream {
            stream,
            file,
            filter,
            pending: Vec::new(),
            skipped: Vec::new(),
            in_transaction: false,
            tx_start: None,
            tx_xa: None,
            gtid_start: None,
            completing_xa: None,
            prepared: BTreeMap::new(),
            last_pos: 0,
            mapping: Default::default(),
        }
    }

    /// The next committed transaction, `None` at the end of the binlog (without follow).
    /// Cancel-safe: state lives in the stream, so a timeout around it loses nothing.
    pub async fn next(&mut self) -> Result<Option<Transaction>> {
        loop {
            let Some(event) = self.stream.next().await else {
                return Ok(None);
            };
            let event = event.map_err(|e| self.decode_error(self.last_pos, e))?;
            if let Some(tx) = self.event(&event)? {
                return Ok(Some(tx));
            }
        }
    }

    /// Where reading stands between transactions: the end of the last event read, when no
    /// transaction is open and no XA transaction waits for its commit. Every captured change
    /// before it has then been handed out by [`next`](Self::next) (the rest of the binlog
    /// there is other tables' or nobody's), so a capture with nothing pending may resume
    /// from it. `None` otherwise, or before the first event.
    pub fn idle_position(&self) -> Option<BinlogPosition> {
        (!self.in_transaction && self.prepared.is_empty() && self.last_pos != 0)
            .then(|| self.position(self.last_pos))
    }

    /// Reads one event; a transaction when it ends one.
    fn event(&mut self, event: &Event) -> Result<Option<Transaction>> {
        let header = event.header();
        let log_pos = u64::from(header.log_pos());
        let start = log_pos.saturating_sub(u64::from(header.event_size()));
        let ts = header.timestamp();
        if log_pos != 0 {
            self.last_pos = log_pos;
        }
        let raw_type = header.event_type_raw();
        if raw_type == xa::event_type::MARIADB_GTID {
            self.mariadb_gtid(event.data(), start, log_pos)?;
            return Ok(None);
        }
        if (xa::event_type::MARIADB_FIRST_COMPRESSED..=xa::event_type::MARIADB_LAST_COMPRESSED)
            .contains(&raw_type)
        {
            return Err(self.decode_error(
                log_pos,
                "a compressed event (log_bin_compress=ON): capture reads only uncompressed events",
            ));
        }
        let data = match event.read_data() {
            Ok(Some(d)) => d,
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.decode_error(log_pos, e)),
        };
        let gtid_start = self.gtid_start.take();
        match data {
            EventData::RotateEvent(r) => {
                let name = r.name();
                // The stream opens with a rotate to the file asked for, read before the
                // checksum setting is known: its name may carry the checksum's bytes.
                if !name.starts_with(&self.file) {
                    self.file = binlog_file_name(&name);
                    self.last_pos = r.position();
                }
                debug!(file = %self.file, "binlog file");
            }
            EventData::GtidEvent(_) | EventData::AnonymousGtidEvent(_) => {
                self.gtid_start = Some(self.position(start));
            }
            EventData::QueryEvent(q) => {
                let sql = q.query();
                let begin = gtid_start.unwrap_or_else(|| self.position(start));
                return Ok(self.query(&q.schema(), sql.trim(), begin, log_pos, ts));
            }
            EventData::XidEvent(x) => {
                return Ok(Some(self.commit(Some(x.xid), log_pos, ts)));
            }
            EventData::XaPrepareLogEvent(body) => {
                let Some((one_phase, id)) = xa::parse_xa_prepare(&body) else {
                    return Err(self.decode_error(log_pos, "an XA prepare event cut short"));
                };
                return Ok(Some(if one_phase {
                    self.commit(None, log_pos, ts)
                } else {
                    self.prepare(id, log_pos, ts)
                }));
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
                self.rows(&rows, log_pos, i64::from(ts))?;
            }
            _ => {}
        }
        Ok(None)
    }

    fn position(&self, offset: u64) -> BinlogPosition {
        BinlogPosition::new(self.file.clone(), offset)
    }

    /// MariaDB's GTID event: opens a transaction, or announces a standalone statement.
    fn mariadb_gtid(&mut self, body: &[u8], start: u64, log_pos: u64) -> Result<()> {
        let Some(gtid) = xa::parse_mariadb_gtid(body) else {
            return Err(self.decode_error(log_pos, "a GTID event cut short"));
        };
        self.completing_xa = gtid.completed_xa;
        if !gtid.standalone {
            self.open(self.position(start));
            self.tx_xa = gtid.prepared_xa;
        }
        Ok(())
    }

    /// Opens a transaction that starts at `start`.
    fn open(&mut self, start: BinlogPosition) {
        self.pending.clear();
        self.skipped.clear();
        self.in_transaction = true;
        self.tx_start = Some(start);
        self.tx_xa = None;
    }

    fn query(
        &mut self,
        schema: &str,
        statement: &str,
        begin: BinlogPosition,
        log_pos: u64,
        ts: u32,
    ) -> Option<Transaction> {
        if let Some(xa) = xa::parse_xa_statement(statement) {
            return self.xa_statement(xa, begin, log_pos, ts);
        }
        if statement.eq_ignore_ascii_case("BEGIN") {
            self.open(begin);
            return None;
        }
        if statement.eq_ignore_ascii_case("COMMIT") {
            return Some(self.commit(None, log_pos, ts));
        }
        if statement.starts_with('#') {
            // MariaDB's stand-ins for events a replica need not understand.
            return None;
        }
        if let Some((database, table)) = dml_target(schema, statement) {
            self.statement_change(&database, &table, log_pos);
            return (!self.in_transaction).then(|| self.commit(None, log_pos, ts));
        }
        if self.in_transaction {
            return None;
        }
        log_statement(schema, statement);
        // A DDL statement is a transaction of its own: capture goes on past it; later
        // table maps carry the new columns by name.
        Some(self.commit(None, log_pos, ts))
    }

    /// A data change logged as a statement: if it writes a captured table, it is counted
    /// as skipped (capture cannot know its rows).
    fn statement_change(&mut self, database: &str, table: &str, log_pos: u64) {
        let Some(table) =
            medlake_schema::table(table).filter(|_| self.filter.keeps(database, table))
        else {
            return;
        };
        self.skipped.push(SkippedChange {
            table: table.name,
            position: self.position(log_pos),
            reason: SkipReason::StatementLogged,
            rows: 0,
        });
    }

    fn xa_statement(
        &mut self,
        statement: XaStatement,
        begin: BinlogPosition,
        log_pos: u64,
        ts: u32,
    ) -> Option<Transaction> {
        match statement {
            XaStatement::Start(id) => {
                if !self.in_transaction {
                    self.open(begin);
                }
                if self.tx_xa.is_none() {
                    self.tx_xa = id;
                }
                None
            }
            XaStatement::End => None,
            XaStatement::Prepare(id) => {
                let id = self.tx_xa.clone().or(id)?;
                Some(self.prepare(id, log_pos, ts))
            }
            XaStatement::Commit {
                one_phase: true, ..
            } => Some(self.commit(None, log_pos, ts)),
            XaStatement::Commit { id, .. } => {
                let id = self.completing_xa.take().or(id);
                let held = id.as_ref().and_then(|id| self.prepared.remove(id));
                debug!(found = held.is_some(), "XA commit");
                match held {
                    Some(held) => {
                        self.pending = held.changes;
                        self.skipped = held.skipped;
                    }
                    None => {
                        self.pending.clear();
                        self.skipped.clear();
                        self.skipped.push(SkippedChange {
                            table: "?",
                            position: self.position(log_pos),
                            reason: SkipReason::XaPreparedBeforeStart,
                            rows: 0,
                        });
                    }
                }
                Some(self.commit(None, log_pos, ts))
            }
            XaStatement::Rollback(id) => {
                if let Some(id) = self.completing_xa.take().or(id) {
                    self.prepared.remove(&id);
                }
                self.pending.clear();
                self.skipped.clear();
                Some(self.commit(None, log_pos, ts))
            }
        }
    }

    /// The prepare of XA transaction `id`: its rows are held until its commit.
    fn prepare(&mut self, id: XaId, log_pos: u64, ts: u32) -> Transaction {
        let start = self
            .tx_start
            .take()
            .unwrap_or_else(|| self.position(log_pos));
        let held = Prepared {
            start,
            changes: std::mem::take(&mut self.pending),
            skipped: std::mem::take(&mut self.skipped),
        };
        debug!(
            changes = held.changes.len(),
            held = self.prepared.len() + 1,
            "XA transaction prepared"
        );
        self.prepared.insert(id, held);
        self.commit(None, log_pos, ts)
    }

    fn decode_error(&self, offset: u64, e: impl std::fmt::Display) -> CdcError {
        CdcError::Decode {
            position: self.position(offset).to_string(),
            reason: e.to_string(),
        }
    }

    /// Ends the open transaction at `log_pos` with the changes collected.
    fn commit(&mut self, xid: Option<u64>, log_pos: u64, ts: u32) -> Transaction {
        self.in_transaction = false;
        self.tx_start = None;
        self.tx_xa = None;
        let end = self.position(log_pos);
        let mut changes = std::mem::take(&mut self.pending);
        let n = changes.len();
        for (i, c) in changes.iter_mut().enumerate() {
            c.xid = xid;
            c.position = Some(end.clone());
            c.commit = i + 1 == n;
        }
        let resume = self
            .prepared
            .values()
            .map(|p| &p.start)
            .min_by_key(|p| p.version())
            .cloned()
            .unwrap_or_else(|| end.clone());
        Transaction {
            end: Some(end),
            resume: Some(resume),
            changes,
            skipped: std::mem::take(&mut self.skipped),
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
                let count = rows.rows(tme).count();
                self.skip_rows(table, count, log_pos);
                return Ok(());
            }
        };
        let before_full = rows.columns_before_image().is_none_or(|bits| bits.all());
        let after_full = rows.columns_after_image().is_none_or(|bits| bits.all());
        if !before_full || !after_full {
            let count = rows.rows(tme).count();
            self.skip_rows(table, count, log_pos);
            return Ok(());
        }
        let mut decoded = Vec::new();
        let mut undecodable = None;
        for row in rows.rows(tme) {
            let (before, after) = match row {
                Ok(images) => images,
                Err(e) => {
                    undecodable = Some(e.to_string());
                    break;
                }
            };
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
        if let Some(error) = undecodable {
            // One table's event, not the stream: counted and reported, capture goes on.
            warn!(table = table.name, position = %self.position(log_pos), error, "rows event not decoded");
            let count = rows.rows(tme).count();
            self.skipped.push(SkippedChange {
                table: table.name,
                position: self.position(log_pos),
                reason: SkipReason::Undecodable,
                rows: count,
            });
            return Ok(());
        }
        self.pending.extend(decoded);
        Ok(())
    }

    /// A rows event without full rows (a partial image or a partial JSON update):
    /// counted as skipped, its table needs a resync.
    fn skip_rows(&mut self, table: &'static Table, count: usize, log_pos: u64) {
        self.skipped.push(SkippedChange {
            table: table.name,
            position: self.position(log_pos),
            reason: SkipReason::PartialRowImage,
            rows: count,
        });
    }
}
