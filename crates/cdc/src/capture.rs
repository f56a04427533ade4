//! The capture loop: bootstrap what the sink lacks, then stream the binlog into the sink,
//! exactly once.
//!
//! Each flush writes every captured table's changes up to a transaction boundary `end` in
//! one sink commit per table, marked with `end`'s version; only then is `end` stored in
//! the catalog. On start, capture resumes from the catalog's position and, per table,
//! drops the changes at or before the version the sink already holds. So a crash between
//! two table commits, or between the lake and the catalog, loses and doubles nothing.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use medlake_catalog::{Catalog, Outcome};
use medlake_schema::Table;
use tracing::info;

use crate::change::RowChange;
use crate::reader::{BinlogSource, Transaction};
use crate::sink::ChangeSink;
use crate::{BinlogPosition, CdcError, Filter, Result};

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
}

/// Figures after each flush, for progress and monitoring.
#[derive(Debug, Clone, Default)]
pub struct CaptureFigures {
    /// Row changes written since the start (bootstrap rows not counted).
    pub changes: u64,
    /// Transactions read since the start.
    pub transactions: u64,
    /// Sink commits made since the start.
    pub commits: u64,
    /// Where capture stands.
    pub position: Option<BinlogPosition>,
    /// Seconds between the last flushed transaction's commit and its flush.
    pub lag_seconds: i64,
    /// How long the last flush took.
    pub flush_time: Duration,
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
    let result = capture_inner(source, sink, catalog, options, progress, &key).await;
    match &result {
        Ok(f) => catalog.finish_run(run, Outcome::Succeeded, f.changes, 0, None)?,
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
        .filter(|t| versions.get(t.name).copied().flatten().is_none())
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
            None => Duration::from_secs(3600),
        };
        match tokio::time::timeout(wait, stream.next()).await {
            Ok(Ok(Some(tx))) => {
                figures.transactions += 1;
                add(&mut pending, tx, &versions)?;
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
                progress.flushed(&figures);
            }
        }
    }
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
) -> Result<()> {
    let Some(end) = tx.end else {
        return Ok(());
    };
    let version = version_of(&end)?;
    pending.changes.extend(
        tx.changes
            .into_iter()
            .filter(|c| versions.get(c.table.name).copied().flatten() < Some(version)),
    );
    pending.end = Some(end);
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
    for (name, (table, rows)) in by_table {
        sink.write_table(table, &rows, version).await?;
        versions.insert(name, Some(version));
        figures.commits += 1;
    }
    catalog.set_binlog_position(key, &end.file, end.offset)?;
    figures.changes += changes.len() as u64;
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
            data: vec![mysql_async::Value::NULL; table.columns.len()],
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
            ts: 0,
        };
        let mut pending = Pending::default();
        add(&mut pending, tx, &versions).unwrap();
        let kept: Vec<_> = pending.changes.iter().map(|c| c.table.name).collect();
        assert_eq!(kept, vec!["user", "consultation"]);
        assert_eq!(pending.end, Some(end));
    }
}
