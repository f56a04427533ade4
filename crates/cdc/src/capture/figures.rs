//! What capture reports: its figures after each flush, and the changes it could not land
//! (skipped per table and reason, tables the sink refused), summed up in one line.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::reader::{SkipReason, SkippedChange};
use crate::BinlogPosition;

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
    /// Changes of captured tables that could not be landed, per table and reason.
    pub skipped: BTreeMap<(&'static str, SkipReason), SkippedTally>,
    /// Tables whose changes the sink refused (they do not fit the lake table): the error,
    /// and where. Capture goes on with the others; these need a resync once fixed.
    pub stuck: BTreeMap<&'static str, String>,
}

/// How many changes of one table were skipped for one reason, and where the first was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedTally {
    /// Binlog events skipped.
    pub events: u64,
    /// Rows in them (where the event says).
    pub rows: u64,
    /// The first one's position.
    pub first: BinlogPosition,
}

impl CaptureFigures {
    /// The skipped changes in one line for the run record and the terminal; `None`
    /// when there were none. Names tables, reasons and positions, never values.
    pub fn skipped_summary(&self) -> Option<String> {
        if self.skipped.is_empty() && self.stuck.is_empty() {
            return None;
        }
        let stuck = self
            .stuck
            .iter()
            .map(|(table, error)| format!("{table}: stopped, {error}"));
        let parts: Vec<String> = self
            .skipped
            .iter()
            .map(|((table, reason), t)| {
                format!(
                    "{table}: {} event(s) {} (first at {})",
                    t.events,
                    reason.describe(),
                    t.first
                )
            })
            .chain(stuck)
            .collect();
        let mut tables: Vec<&str> = self
            .skipped
            .keys()
            .map(|(table, _)| *table)
            .chain(self.stuck.keys().copied())
            .filter(|t| *t != "?")
            .collect();
        tables.sort_unstable();
        tables.dedup();
        let resync = if tables.is_empty() {
            "resync the tables the transaction wrote".to_string()
        } else {
            format!("run `medlake cdc --resync {}`", tables.join(","))
        };
        Some(format!(
            "changes not landed: {}; set the session or server back to binlog_format=ROW and binlog_row_image=FULL, then {resync} (docs/cdc.md)",
            parts.join("; ")
        ))
    }

    pub(super) fn count_skipped(&mut self, skipped: &SkippedChange) {
        let tally = self
            .skipped
            .entry((skipped.table, skipped.reason))
            .or_insert_with(|| SkippedTally {
                events: 0,
                rows: 0,
                first: skipped.position.clone(),
            });
        tally.events += 1;
        tally.rows += skipped.rows as u64;
    }
}
