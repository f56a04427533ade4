//! The figures of the long-running capture processes (`medlake cdc`, `medlake cdc land`),
//! served on their own `--metrics` address. Capture reports running totals; counters are
//! advanced to them, so a scrape sees a counter that only grows, as Prometheus expects.

use prometheus::core::Collector;
use prometheus::{GaugeVec, IntCounterVec, Opts};

use super::{gauge, unreachable_figure};

/// What one flush of capture reports.
#[derive(Debug, Clone, Default)]
pub struct CaptureTotals {
    /// Row changes written since the start.
    pub changes: u64,
    /// Transactions read since the start.
    pub transactions: u64,
    /// Sink commits since the start.
    pub commits: u64,
    /// Seconds from the last flushed transaction's commit to its flush.
    pub lag_seconds: f64,
    /// How long the last flush took.
    pub flush_seconds: f64,
    /// Where capture stands: binlog file and offset.
    pub position: Option<(String, u64)>,
    /// Skipped events per (table, reason), since the start.
    pub skipped: Vec<(String, String, u64)>,
}

/// The capture processes' figures.
pub struct CaptureFigures {
    changes: IntCounterVec,
    transactions: IntCounterVec,
    commits: IntCounterVec,
    changes_per_second: GaugeVec,
    lag_seconds: GaugeVec,
    flush_seconds: GaugeVec,
    skipped: IntCounterVec,
    binlog_offset: GaugeVec,
    land_changes: IntCounterVec,
    land_commits: IntCounterVec,
    land_changes_per_second: GaugeVec,
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| unreachable_figure(e))
}

/// Advances `counter` to `total` (never back).
fn advance(counter: &IntCounterVec, labels: &[&str], total: u64) {
    let c = counter.with_label_values(labels);
    let now = c.get();
    if total > now {
        c.inc_by(total - now);
    }
}

impl CaptureFigures {
    pub(crate) fn new() -> CaptureFigures {
        CaptureFigures {
            changes: counter("medlake_cdc_changes_total", "Row changes captured since the start (bootstrap rows not counted).", &["sink"]),
            transactions: counter("medlake_cdc_transactions_total", "Source transactions read since the start.", &["sink"]),
            commits: counter("medlake_cdc_commits_total", "Sink commits made since the start.", &["sink"]),
            changes_per_second: gauge("medlake_cdc_changes_per_second", "Row changes captured per second since the start.", &["sink"]),
            lag_seconds: gauge("medlake_cdc_lag_seconds", "Seconds from the last flushed transaction's commit to its flush.", &["sink"]),
            flush_seconds: gauge("medlake_cdc_flush_seconds", "How long the last flush took.", &["sink"]),
            skipped: counter("medlake_cdc_skipped_events_total", "Binlog events of captured tables not landed (statement-logged, partial row image).", &["sink", "table", "reason"]),
            binlog_offset: gauge("medlake_cdc_binlog_offset", "Byte offset in the binlog file up to which changes are committed.", &["sink", "file"]),
            land_changes: counter("medlake_land_changes_total", "Row changes landed from Kafka since the start.", &[]),
            land_commits: counter("medlake_land_commits_total", "Lake commits made since the start.", &[]),
            land_changes_per_second: gauge("medlake_land_changes_per_second", "Row changes landed per second since the start.", &[]),
        }
    }

    pub(crate) fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.changes.clone()),
            Box::new(self.transactions.clone()),
            Box::new(self.commits.clone()),
            Box::new(self.changes_per_second.clone()),
            Box::new(self.lag_seconds.clone()),
            Box::new(self.flush_seconds.clone()),
            Box::new(self.skipped.clone()),
            Box::new(self.binlog_offset.clone()),
            Box::new(self.land_changes.clone()),
            Box::new(self.land_commits.clone()),
            Box::new(self.land_changes_per_second.clone()),
        ]
    }

    /// Records a flush of capture into `sink`, `seconds` after it started.
    pub fn flushed(&self, sink: &str, t: &CaptureTotals, seconds: f64) {
        advance(&self.changes, &[sink], t.changes);
        advance(&self.transactions, &[sink], t.transactions);
        advance(&self.commits, &[sink], t.commits);
        self.changes_per_second
            .with_label_values(&[sink])
            .set(t.changes as f64 / seconds.max(1e-3));
        self.lag_seconds
            .with_label_values(&[sink])
            .set(t.lag_seconds.max(0.0));
        self.flush_seconds
            .with_label_values(&[sink])
            .set(t.flush_seconds);
        for (table, reason, events) in &t.skipped {
            advance(&self.skipped, &[sink, table, reason], *events);
        }
        if let Some((file, offset)) = &t.position {
            self.binlog_offset.reset();
            self.binlog_offset
                .with_label_values(&[sink, file])
                .set(*offset as f64);
        }
    }

    /// Records the lander's progress: totals since the start, how far behind it is.
    pub fn landed(
        &self,
        changes: u64,
        commits: u64,
        seconds: f64,
        lag_messages: i64,
        lag_seconds: i64,
    ) {
        advance(&self.land_changes, &[], changes);
        advance(&self.land_commits, &[], commits);
        self.land_changes_per_second
            .with_label_values::<&str>(&[])
            .set(changes as f64 / seconds.max(1e-3));
        let state = &super::global().state;
        state
            .land_lag_messages
            .with_label_values::<&str>(&[])
            .set(lag_messages.max(0) as f64);
        state
            .land_lag_seconds
            .with_label_values::<&str>(&[])
            .set(lag_seconds.max(0) as f64);
    }
}
