//! Terminal progress: indicatif bars for syncs and simulations, hidden when not a terminal.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use medlake_ingest::SyncProgress;

/// One bar per table, under a shared multi-bar.
pub struct TableBars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    verb: Mutex<&'static str>,
}

impl TableBars {
    /// Bars labelled with `verb` (e.g. "snapshot", "capture").
    pub fn new(verb: &'static str, quiet: bool) -> Self {
        let multi = if quiet {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        } else {
            MultiProgress::new()
        };
        TableBars {
            multi,
            bars: Mutex::new(HashMap::new()),
            verb: Mutex::new(verb),
        }
    }

    fn bars(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProgressBar>> {
        self.bars.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn style(known_total: bool) -> ProgressStyle {
    let template = if known_total {
        "{prefix:>30} [{bar:30}] {pos:>9}/{len:9} rows {per_sec:>12} {msg}"
    } else {
        "{prefix:>30} {spinner} {pos:>9} rows {per_sec:>12} {msg}"
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl SyncProgress for TableBars {
    fn phase_started(&self, phase: medlake_ingest::SyncPhase) {
        *self.verb.lock().unwrap_or_else(|p| p.into_inner()) = phase.verb();
    }

    fn table_started(&self, table: &str, total: Option<u64>) {
        let bar = self.multi.add(ProgressBar::new(total.unwrap_or(0)));
        bar.set_style(style(total.is_some()));
        let verb = *self.verb.lock().unwrap_or_else(|p| p.into_inner());
        bar.set_prefix(format!("{verb} {table}"));
        bar.enable_steady_tick(Duration::from_millis(200));
        self.bars().insert(table.to_string(), bar);
    }

    fn rows_read(&self, table: &str, rows: u64) {
        if let Some(bar) = self.bars().get(table) {
            bar.inc(rows);
        }
    }

    fn table_finished(&self, table: &str, rows: u64) {
        if let Some(bar) = self.bars().remove(table) {
            bar.set_length(rows.max(bar.position()));
            bar.set_position(rows);
            bar.finish_with_message("done");
        }
    }
}

/// A bar over a known number of steps (days, tables).
pub fn steps_bar(len: u64, label: &str, quiet: bool) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(len)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>30} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}
