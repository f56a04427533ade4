//! One business day's sync, the unit every caller runs: `medlake sync`, the demo, the
//! benchmarks and the tests. In order:
//!
//! 1. full snapshots of the master tables into partition `dt` of `ods_<table>_full`;
//! 2. change capture of every changing table up to the end of the day (local midnight
//!    after `dt`), into `ods_<table>_inc`;
//! 3. the reconciliation of the source against the lake (unless the plan skips it).
//!
//! Each table's job is a recorded run in the catalog; a failure stops the day with the
//! tables before it landed and the failing one untouched (each commit is atomic).

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use medlake_catalog::Catalog;
use medlake_lake::Lake;
use medlake_schema::Table;
use medlake_source::BusinessSource;

use crate::{
    full_sync, inc_sync, reconcile, FullSyncOptions, IncSyncOptions, IngestError, Reconciliation,
    Result, SyncProgress, TableSyncReport,
};

/// Which halves of a day's sync to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncParts {
    /// Snapshots and change capture.
    #[default]
    Both,
    /// Full snapshots of master tables only.
    SnapshotsOnly,
    /// Change capture only.
    ChangesOnly,
}

/// The phases of a day's sync, announced to [`SyncProgress::phase_started`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPhase {
    /// Full snapshots.
    Snapshot,
    /// Change capture.
    Capture,
    /// Source against lake.
    Reconcile,
}

impl SyncPhase {
    /// The verb a progress display labels the phase's tables with.
    pub fn verb(self) -> &'static str {
        match self {
            SyncPhase::Snapshot => "snapshot",
            SyncPhase::Capture => "capture",
            SyncPhase::Reconcile => "reconcile",
        }
    }
}

/// What to sync for one business day.
#[derive(Debug, Clone)]
pub struct SyncPlan {
    /// The business day: snapshots land in its partition, changes are captured up to its end.
    pub day: NaiveDate,
    /// Which halves run.
    pub parts: SyncParts,
    /// Business tables to cover; empty means all.
    pub tables: Vec<&'static Table>,
    /// Whether to compare source and lake afterwards.
    pub reconcile: bool,
    /// How snapshots read.
    pub full: FullSyncOptions,
    /// Change records per lake commit.
    pub batch_rows: usize,
}

impl SyncPlan {
    /// Everything for `day`: both halves, every table, reconciled, default options.
    pub fn for_day(day: NaiveDate) -> SyncPlan {
        SyncPlan {
            day,
            parts: SyncParts::Both,
            tables: Vec::new(),
            reconcile: true,
            full: FullSyncOptions::default(),
            batch_rows: IncSyncOptions::default().batch_rows,
        }
    }

    /// Limits the plan to the business tables named; an unknown name is an error that
    /// lists the known ones.
    pub fn with_table_names(mut self, names: &[String]) -> Result<SyncPlan> {
        self.tables = names
            .iter()
            .map(|n| medlake_schema::table(n).ok_or_else(|| unknown_table(n)))
            .collect::<Result<_>>()?;
        Ok(self)
    }

    /// The tables one half covers (`snapshots`: master tables, else changing tables),
    /// empty when the plan skips that half.
    pub fn tables_for(&self, snapshots: bool) -> Vec<&'static Table> {
        let skipped = match self.parts {
            SyncParts::Both => false,
            SyncParts::SnapshotsOnly => !snapshots,
            SyncParts::ChangesOnly => snapshots,
        };
        if skipped {
            return Vec::new();
        }
        crate::tables_for(snapshots)
            .into_iter()
            .filter(|t| self.tables.is_empty() || self.tables.iter().any(|w| w.name == t.name))
            .collect()
    }

    /// Changes are captured up to this local time: the midnight that ends the day.
    pub fn capture_until(&self) -> Option<NaiveDateTime> {
        self.day.succ_opt().map(|d| d.and_time(NaiveTime::MIN))
    }
}

fn unknown_table(name: &str) -> IngestError {
    let known: Vec<_> = medlake_schema::business_tables()
        .iter()
        .map(|t| t.name)
        .collect();
    IngestError::Plan(format!(
        "unknown table '{name}' (known: {})",
        known.join(", ")
    ))
}

/// What a day's sync did.
#[derive(Debug, Clone)]
pub struct DaySync {
    /// The business day synced.
    pub day: NaiveDate,
    /// One report per table and half.
    pub reports: Vec<TableSyncReport>,
    /// The reconciliation, unless the plan skipped it.
    pub reconciliation: Option<Reconciliation>,
}

impl DaySync {
    /// Rows written to the lake by every table's job.
    pub fn rows(&self) -> u64 {
        self.reports.iter().map(|r| r.rows).sum()
    }
}

/// Runs `plan`: snapshots, capture, reconciliation, reporting each phase to `progress`.
pub async fn sync_day(
    source: &dyn BusinessSource,
    lake: &Lake,
    catalog: &Catalog,
    plan: &SyncPlan,
    progress: &dyn SyncProgress,
) -> Result<DaySync> {
    let dt = plan.day.to_string();
    let (full_tables, inc_tables) = (plan.tables_for(true), plan.tables_for(false));
    let mut outcome = DaySync {
        day: plan.day,
        reports: Vec::new(),
        reconciliation: None,
    };
    if !full_tables.is_empty() {
        progress.phase_started(SyncPhase::Snapshot);
        let reports = full_sync(
            source,
            lake,
            catalog,
            &full_tables,
            plan.day,
            plan.full,
            progress,
        );
        outcome.reports.extend(reports.await?);
    }
    if !inc_tables.is_empty() {
        progress.phase_started(SyncPhase::Capture);
        let options = IncSyncOptions {
            batch_rows: plan.batch_rows,
            until: plan.capture_until(),
            crash_at: None,
        };
        let reports = inc_sync(source, lake, catalog, &inc_tables, options, progress);
        outcome.reports.extend(reports.await?);
    }
    if plan.reconcile {
        progress.phase_started(SyncPhase::Reconcile);
        let full_dt = (!full_tables.is_empty()).then_some(dt.as_str());
        let started = std::time::Instant::now();
        let rec = reconcile(source, lake, catalog, &full_tables, &inc_tables, full_dt).await?;
        let seconds = started.elapsed().as_secs_f64();
        catalog.record_check_results(&rec.check_records(plan.day, seconds))?;
        outcome.reconciliation = Some(rec);
    }
    Ok(outcome)
}

/// The business day of the latest change in any table of the source: the day a sync
/// without `--day` covers. `None` when the source has no rows yet.
pub async fn latest_business_day(source: &dyn BusinessSource) -> Result<Option<NaiveDate>> {
    let mut latest: Option<NaiveDateTime> = None;
    for table in medlake_schema::business_tables() {
        latest = latest.max(source.latest_change(table).await?);
    }
    Ok(latest.map(|t| t.date()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 7).unwrap()
    }

    #[test]
    fn a_plan_for_a_day_covers_every_table_of_both_halves() {
        let plan = SyncPlan::for_day(day());
        let names = |tables: Vec<&Table>| tables.iter().map(|t| t.name).collect::<Vec<_>>();
        assert_eq!(names(plan.tables_for(true)), names(crate::tables_for(true)));
        assert_eq!(
            names(plan.tables_for(false)),
            names(crate::tables_for(false))
        );
        assert!(!plan.tables_for(true).is_empty() && !plan.tables_for(false).is_empty());
        let until = plan.capture_until().unwrap();
        assert_eq!(until.to_string(), "2026-01-08 00:00:00");
    }

    #[test]
    fn a_half_left_out_covers_no_table() {
        let mut plan = SyncPlan::for_day(day());
        plan.parts = SyncParts::ChangesOnly;
        assert!(plan.tables_for(true).is_empty());
        assert!(!plan.tables_for(false).is_empty());
        plan.parts = SyncParts::SnapshotsOnly;
        assert!(plan.tables_for(false).is_empty());
    }

    #[test]
    fn named_tables_limit_the_plan_and_an_unknown_name_lists_the_known_ones() {
        let plan = SyncPlan::for_day(day())
            .with_table_names(&["payment".to_string()])
            .unwrap();
        let names: Vec<_> = plan.tables_for(false).iter().map(|t| t.name).collect();
        assert_eq!(names, ["payment"]);
        assert!(
            plan.tables_for(true).is_empty(),
            "payment is not a master table"
        );
        let err = SyncPlan::for_day(day())
            .with_table_names(&["paymnet".to_string()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown table 'paymnet'") && err.contains("payment"),
            "{err}"
        );
    }
}
