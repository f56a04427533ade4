//! The capture loop: bootstrap what the sink lacks, then stream the binlog into the sink,
//! exactly once.
//!
//! Each flush writes every captured table's changes up to a transaction boundary `end` in
//! one sink commit per table, marked with `end`'s version; only then is `end` stored in
//! the catalog. On start, capture resumes from the catalog's position and, per table,
//! drops the changes at or before the version the sink already holds. So a crash between
//! two table commits, or between the lake and the catalog, loses and doubles nothing.
//! With nothing pending (idle for a while, or at the end of a `--once` run), the stored
//! position moves on to where reading stands: every captured change before it is already in
//! the sink, so this too loses nothing, and an idle capture counts as caught up.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use medlake_catalog::{Catalog, Outcome};
use medlake_schema::Table;
use tracing::{info, warn};

use crate::change::RowChange;
use crate::reader::{BinlogSource, SkipReason, SkippedChange, Transaction, TransactionStream};

mod figures;

use crate::sink::ChangeSink;
use crate::{BinlogPosition, CdcError, Filter, Result};
pub use figures::{CaptureFigures, SkippedTally};

/// How capture runs.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// The database whose tables are captured.
    pub database: String,
    /// The business tables captured.
    pub tables: Vec<&'static Table>,
    /// Row changes after which a flush is forced.
    pub batch_rows: usize,
    /// Longest time a change waits before its flush.
    pub flush_interval: Duration,
    /// Keep reading as the binlog grows (`false`: stop at its current end).
    pub follow: bool,
    /// The replica id capture registers with; unique among the server's replicas.
    pub server_id: u32,
    /// Tables to bootstrap again before streaming, whatever the sink holds: the way back
    /// after changes were skipped (docs/cdc.md). Their current rows are restated as
    /// `bootstrap-insert` records at the snapshot's position; the stream drops their
    /// changes up to it.
    pub resync: Vec<&'static Table>,
}

/// What capture reports as it goes (the CLI draws it on the terminal).
pub trait CaptureProgress: Send + Sync {
    /// A table's bootstrap landed with `rows` rows.
    fn bootstrapped(&self, _table: &str, _rows: u64) {}
    /// A flush landed.
    fn flushed(&self, _figures: &CaptureFigures) {}
}

/// Progress that goes nowhere.
pub struct NoCaptureProgress;
impl CaptureProgress for NoCaptureProgress {}

#[derive(Default)]
struct Pending {
    changes: Vec<RowChange>,
    end: Option<BinlogPosition>,
    /// Where a restart must read from (`end`, or before an XA transaction still held).
    resume: Option<BinlogPosition>,
    since: Option<Instant>,
    last_commit_ts: i64,
}

/// Captures `options.tables` of `source` into `sink` until the end of the binlog (or, with
/// `follow`, until the future is dropped: dropping it at any point is safe).
pub async fn capture(
    source: &BinlogSource,
    sink: &mut dyn ChangeSink,
    catalog: &Catalog,
    options: &CaptureOptions,
    progress: &dyn CaptureProgress,
) -> Result<CaptureFigures> {
    let key = format!(
        "{}{} -> {}",
        source.describe(),
        options.database,
        sink.name()
    );
    let run = catalog.start_run(medlake_catalog::RunKind::Cdc, &key, None)?;
    let result = capture_inner(source, sink, catalog, options, progress, &key, run).await;
    match &result {
        Ok(f) => catalog.finish_run(
            run,
            Outcome::Succeeded,
            f.changes,
            0,
            f.skipped_summary().as_deref(),
        )?,
        Err(e) => catalog.finish_run(run, Outcome::Failed, 0, 0, Some(&e.to_string()))?,
    }
    result
}

async fn capture_inner(
    source: &BinlogSource,
    sink: &mut dyn ChangeSink,
    catalog: &Catalog,
    options: &CaptureOptions,
    progress: &dyn CaptureProgress,
    key: &str,
    run: i64,
) -> Result<CaptureFigures> {
    source.check().await?;
    let committed = catalog.binlog_position(key)?;
    let committed_version = match &committed {
        Some((file, offset)) => Some(version_of(&BinlogPosition::new(file.clone(), *offset))?),
        None => None,
    };
    let mut versions: HashMap<&'static str, Option<i64>> = HashMap::new();
    for &table in &options.tables {
        let v = if sink.keeps_markers() {
            sink.table_version(table).await?
        } else {
            committed_version
        };
        versions.insert(table.name, v);
    }
    let missing: Vec<&'static Table> = options
        .tables
        .iter()
        .copied()
        .filter(|t| {
            versions.get(t.name).copied().flatten().is_none()
                || options.resync.iter().any(|r| r.name == t.name)
        })
        .collect();
    let mut like_file = committed.as_ref().map(|(f, _)| f.clone());
    if !missing.is_empty() {
        let snapshot = source.snapshot(&options.database, &missing).await?;
        let version = version_of(&snapshot.position)?;
        for (table, rows) in &snapshot.tables {
            let refs: Vec<&RowChange> = rows.iter().collect();
            sink.write_table(table, &refs, version).await?;
            versions.insert(table.name, Some(version));
            progress.bootstrapped(table.name, rows.len() as u64);
            info!(table = table.name, rows = rows.len(), position = %snapshot.position, "bootstrapped");
        }
        like_file = Some(snapshot.position.file.clone());
    }
    let start = match committed.clone() {
        Some((file, offset)) => BinlogPosition::new(file, offset),
        None => {
            let oldest = versions.values().flatten().min().copied();
            let like = match like_file {
                Some(f) => f,
                None => source.master_position().await?.file,
            };
            oldest
                .and_then(|v| BinlogPosition::from_version(v, &like))
                .ok_or_else(|| CdcError::Decode {
                    position: like.clone(),
                    reason: "no position to start from".into(),
                })?
        }
    };
    if committed.is_none() {
        catalog.set_binlog_position(key, &start.file, start.offset)?;
    }
    info!(position = %start, "streaming the binlog");
    let filter = Filter {
        include_databases: vec![options.database.clone()],
        include_tables: options.tables.iter().map(|t| t.name.to_string()).collect(),
        ..Default::default()
    };
    let mut stream = source
        .stream(&start, options.server_id, options.follow, filter)
        .await?;
    let mut figures = CaptureFigures {
        position: Some(start),
        ..Default::default()
    };
    let mut pending = Pending::default();
    loop {
        let wait = match pending.since {
            Some(since) => options.flush_interval.saturating_sub(since.elapsed()),
            None => IDLE_HEARTBEAT,
        };
        match tokio::time::timeout(wait, stream.next()).await {
            Ok(Ok(Some(tx))) => {
                figures.transactions += 1;
                let stuck_before = figures.stuck.len();
                let reported = report_skipped(&tx, &versions, &mut figures);
                add(&mut pending, tx, &versions, &mut figures)?;
                if reported || figures.stuck.len() > stuck_before {
                    catalog.set_run_message(run, figures.skipped_summary().as_deref())?;
                }
                if pending.changes.len() >= options.batch_rows {
                    flush(
                        &mut pending,
                        sink,
                        catalog,
                        key,
                        &mut versions,
                        &mut figures,
                    )
                    .await?;
                    progress.flushed(&figures);
                }
            }
            Ok(Ok(None)) => {
                flush(
                    &mut pending,
                    sink,
                    catalog,
                    key,
                    &mut versions,
                    &mut figures,
                )
                .await?;
                record_idle_position(&stream, catalog, key, &mut figures)?;
                progress.flushed(&figures);
                return Ok(figures);
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                flush(
                    &mut pending,
                    sink,
                    catalog,
                    key,
                    &mut versions,
                    &mut figures,
                )
                .await?;
                record_idle_position(&stream, catalog, key, &mut figures)?;
                progress.flushed(&figures);
            }
        }
    }
}

/// How long capture waits for an event, with nothing pending, before it records how far it
/// has read (see [`record_idle_position`]).
const IDLE_HEARTBEAT: Duration = Duration::from_secs(10);

/// With nothing pending (everything read is in the sink), moves the committed position to
/// where reading stands, past events of other tables and databases and past the start of a
/// new binlog file. The protocol's promise holds: every captured change before the
/// committed position is in the sink. So a restart does not read them again, and the
/// monitoring sees an idle capture as caught up with its server (docs/operations.md).
fn record_idle_position(
    stream: &TransactionStream,
    catalog: &Catalog,
    key: &str,
    figures: &mut CaptureFigures,
) -> Result<()> {
    let Some(position) = stream.idle_position() else {
        return Ok(());
    };
    let ahead = match (&figures.position, position.version()) {
        (Some(known), Some(new)) => known.version().is_none_or(|old| new > old),
        (None, _) => true,
        (Some(_), None) => false,
    };
    if ahead {
        catalog.set_binlog_position(key, &position.file, position.offset)?;
        figures.position = Some(position);
    }
    Ok(())
}

/// Warns of the transaction's skipped changes that no earlier run reported (a restart
/// reads again from its resume position), and counts them; whether there were any.
fn report_skipped(
    tx: &Transaction,
    versions: &HashMap<&'static str, Option<i64>>,
    figures: &mut CaptureFigures,
) -> bool {
    let version = tx.end.as_ref().and_then(BinlogPosition::version);
    let mut any = false;
    for skipped in &tx.skipped {
        let held = versions.get(skipped.table).copied().flatten();
        if matches!((held, version), (Some(held), Some(v)) if held >= v) {
            continue;
        }
        warn!(
            table = skipped.table,
            position = %skipped.position,
            rows = skipped.rows,
            "change not landed: {}",
            skipped.reason.describe()
        );
        figures.count_skipped(skipped);
        any = true;
    }
    any
}

fn version_of(p: &BinlogPosition) -> Result<i64> {
    p.version().ok_or_else(|| CdcError::Decode {
        position: p.to_string(),
        reason: "binlog file name has no sequence number".into(),
    })
}

/// Adds a transaction's changes, minus those a table already has in the sink.
fn add(
    pending: &mut Pending,
    tx: Transaction,
    versions: &HashMap<&'static str, Option<i64>>,
    figures: &mut CaptureFigures,
) -> Result<()> {
    let Some(end) = tx.end else {
        return Ok(());
    };
    let version = version_of(&end)?;
    for change in tx.changes {
        if versions.get(change.table.name).copied().flatten() >= Some(version) {
            continue;
        }
        if figures.stuck.contains_key(change.table.name) {
            // A stopped table's later changes are counted, not landed.
            figures.count_skipped(&SkippedChange {
                table: change.table.name,
                position: end.clone(),
                reason: SkipReason::TableStopped,
                rows: 1,
            });
            continue;
        }
        pending.changes.push(change);
    }
    pending.end = Some(end);
    pending.resume = tx.resume;
    pending.since.get_or_insert_with(Instant::now);
    pending.last_commit_ts = tx.ts;
    Ok(())
}

async fn flush(
    pending: &mut Pending,
    sink: &mut dyn ChangeSink,
    catalog: &Catalog,
    key: &str,
    versions: &mut HashMap<&'static str, Option<i64>>,
    figures: &mut CaptureFigures,
) -> Result<()> {
    let Some(end) = pending.end.take() else {
        return Ok(());
    };
    let started = Instant::now();
    let version = version_of(&end)?;
    let changes = std::mem::take(&mut pending.changes);
    let mut by_table: BTreeMap<&'static str, (&'static Table, Vec<&RowChange>)> = BTreeMap::new();
    for c in &changes {
        by_table
            .entry(c.table.name)
            .or_insert_with(|| (c.table, Vec::new()))
            .1
            .push(c);
    }
    let mut landed = 0;
    for (name, (table, rows)) in by_table {
        match sink.write_table(table, &rows, version).await {
            Ok(()) => {
                versions.insert(name, Some(version));
                figures.commits += 1;
                landed += rows.len();
            }
            // This table's changes do not fit its lake table: it stops, the others go on.
            Err(e) if e.is_table_specific() => {
                warn!(table = name, position = %end, error = %e, "table stopped: its changes cannot be landed");
                figures.stuck.insert(name, format!("{e} (at {end})"));
            }
            Err(e) => return Err(e),
        }
    }
    let resume = pending.resume.take().unwrap_or_else(|| end.clone());
    catalog.set_binlog_position(key, &resume.file, resume.offset)?;
    figures.changes += landed as u64;
    figures.lag_seconds = chrono::Utc::now().timestamp() - pending.last_commit_ts;
    figures.flush_time = started.elapsed();
    figures.position = Some(end);
    pending.since = None;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::ChangeKind;

    fn change(table: &'static str) -> RowChange {
        let table = medlake_schema::table(table).unwrap();
        RowChange {
            database: "medical".into(),
            table,
            kind: ChangeKind::Insert,
            ts: 0,
            xid: None,
            commit: false,
            position: None,
            data: vec![mysql_async::Value::NULL; table.captured_columns().len()],
            before: None,
            extra: Default::default(),
            extra_before: Default::default(),
        }
    }

    #[test]
    fn changes_a_table_already_holds_are_dropped_per_table() {
        let end = BinlogPosition::new("binlog.000002", 500);
        let v = end.version().unwrap();
        // payment already holds this transaction (a crash after its commit); user is
        // behind; consultation was never written.
        let versions = HashMap::from([
            ("payment", Some(v)),
            ("user", Some(v - 1)),
            ("consultation", None),
        ]);
        let tx = Transaction {
            end: Some(end.clone()),
            changes: vec![change("payment"), change("user"), change("consultation")],
            ..Default::default()
        };
        let mut pending = Pending::default();
        add(&mut pending, tx, &versions, &mut CaptureFigures::default()).unwrap();
        let kept: Vec<_> = pending.changes.iter().map(|c| c.table.name).collect();
        assert_eq!(kept, vec!["user", "consultation"]);
        assert_eq!(pending.end, Some(end));
    }

    /// A sink that refuses one table's changes as not fitting, and takes the others.
    struct RefusingSink {
        refused: &'static str,
        written: Vec<&'static str>,
    }

    #[async_trait::async_trait]
    impl ChangeSink for RefusingSink {
        fn name(&self) -> &str {
            "refusing"
        }

        async fn table_version(&mut self, _table: &'static Table) -> Result<Option<i64>> {
            Ok(None)
        }

        async fn write_table(
            &mut self,
            table: &'static Table,
            _changes: &[&RowChange],
            _version: i64,
        ) -> Result<()> {
            if table.name == self.refused {
                return Err(CdcError::Rows(medlake_source::SourceError::BadValue {
                    table: table.name.into(),
                    column: "payment_amount".into(),
                    expected: "Money NOT NULL".into(),
                }));
            }
            self.written.push(table.name);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_table_the_sink_refuses_stops_alone_and_the_others_land() {
        let catalog = Catalog::open_in_memory().unwrap();
        let mut sink = RefusingSink {
            refused: "payment",
            written: Vec::new(),
        };
        let mut versions = HashMap::new();
        let mut figures = CaptureFigures::default();
        let mut pending = Pending::default();
        let first = BinlogPosition::new("binlog.000002", 500);
        let tx = |end: &BinlogPosition| Transaction {
            end: Some(end.clone()),
            changes: vec![change("payment"), change("user")],
            ..Default::default()
        };
        add(&mut pending, tx(&first), &versions, &mut figures).unwrap();
        flush(
            &mut pending,
            &mut sink,
            &catalog,
            "k",
            &mut versions,
            &mut figures,
        )
        .await
        .unwrap();
        assert_eq!(sink.written, vec!["user"]);
        assert!(figures.stuck["payment"].contains("binlog.000002:500"));
        assert_eq!(versions.get("payment"), None);
        assert_eq!(figures.changes, 1);
        assert_eq!(
            catalog.binlog_position("k").unwrap(),
            Some(("binlog.000002".to_string(), 500))
        );
        // Later changes of the stopped table are counted, not written; the others land.
        let second = BinlogPosition::new("binlog.000002", 900);
        add(&mut pending, tx(&second), &versions, &mut figures).unwrap();
        flush(
            &mut pending,
            &mut sink,
            &catalog,
            "k",
            &mut versions,
            &mut figures,
        )
        .await
        .unwrap();
        assert_eq!(sink.written, vec!["user", "user"]);
        assert_eq!(
            figures.skipped[&("payment", SkipReason::TableStopped)].events,
            1
        );
        let summary = figures.skipped_summary().unwrap();
        assert!(summary.contains("payment: stopped"), "{summary}");
        assert!(summary.contains("--resync payment"), "{summary}");
    }
}
