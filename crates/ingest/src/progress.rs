/// Receives progress of a sync, so a terminal can draw bars without ingestion knowing it.
pub trait SyncProgress: Send + Sync {
    /// A phase of a day's sync begins (snapshots, capture, reconciliation).
    fn phase_started(&self, _phase: crate::SyncPhase) {}
    /// Work on `table` starts; `total` rows are expected when known.
    fn table_started(&self, table: &str, total: Option<u64>);
    /// `rows` more rows of `table` were read.
    fn rows_read(&self, table: &str, rows: u64);
    /// Work on `table` ended.
    fn table_finished(&self, table: &str, rows: u64);
}

/// Progress that goes nowhere, for tests and quiet runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl SyncProgress for NoProgress {
    fn table_started(&self, _: &str, _: Option<u64>) {}
    fn rows_read(&self, _: &str, _: u64) {}
    fn table_finished(&self, _: &str, _: u64) {}
}
