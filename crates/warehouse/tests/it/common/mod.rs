//! A business database, lake and catalog in a temp folder, with the simulator, the sync
//! and the warehouse build driven day by day through the library APIs.
#![allow(dead_code)]

pub mod oracle;
pub mod oracle_imaging;

use chrono::NaiveDate;
use medlake_catalog::Catalog;
use medlake_ingest::{NoProgress, SyncParts, SyncPlan};
use medlake_lake::Lake;
use medlake_sim::{BusinessWriter, SimParams, Target};
use medlake_warehouse::{BuildOptions, DayBuild, NoBuildProgress, Project, Warehouse};

/// One isolated platform.
pub struct Platform {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub params: SimParams,
    pub lake: Lake,
    pub catalog: Catalog,
    pub project: Project,
    pub days_simulated: u32,
}

impl Platform {
    pub fn new(seed: u64, scale: f64, start: &str) -> Platform {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("business.db").display());
        let lake = Lake::open(
            dir.path().join("lake").to_str().unwrap(),
            Default::default(),
        )
        .unwrap();
        let catalog = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        Platform {
            url,
            params: SimParams {
                seed,
                scale,
                start: start.parse().unwrap(),
            },
            lake,
            catalog,
            project: Project::builtin().unwrap(),
            days_simulated: 0,
            dir,
        }
    }

    pub fn business_db(&self) -> std::path::PathBuf {
        self.dir.path().join("business.db")
    }

    /// Simulates the next day and returns it.
    pub async fn simulate_day(&mut self) -> NaiveDate {
        self.simulate_day_with(&medlake_sim::Faults::none()).await
    }

    /// Simulates the next day with `faults` injected and returns it.
    pub async fn simulate_day_with(&mut self, faults: &medlake_sim::Faults) -> NaiveDate {
        let mut writer = BusinessWriter::open(&Target::parse(&self.url).unwrap())
            .await
            .unwrap();
        medlake_sim::simulate(&mut writer, &self.params, 1, faults, |_| {})
            .await
            .unwrap();
        self.days_simulated += 1;
        self.params.date(self.days_simulated - 1)
    }

    /// Full snapshots of day `dt` (when `full`) and change capture up to its end (when `inc`).
    pub async fn sync(&self, dt: NaiveDate, full: bool, inc: bool) {
        self.sync_day(dt, full, inc, false).await;
    }

    /// Both halves of day `dt`'s sync, then the source-vs-lake reconciliation (recorded as
    /// a quality check).
    pub async fn sync_reconciled(&self, dt: NaiveDate) {
        self.sync_day(dt, true, true, true).await;
    }

    async fn sync_day(&self, dt: NaiveDate, full: bool, inc: bool, reconcile: bool) {
        let mut plan = SyncPlan::for_day(dt);
        plan.reconcile = reconcile;
        plan.parts = match (full, inc) {
            (true, true) => SyncParts::Both,
            (true, false) => SyncParts::SnapshotsOnly,
            (false, true) => SyncParts::ChangesOnly,
            (false, false) => return,
        };
        let source = medlake_source::open(&self.url).unwrap();
        medlake_ingest::sync_day(
            source.as_ref(),
            &self.lake,
            &self.catalog,
            &plan,
            &NoProgress,
        )
        .await
        .unwrap();
    }

    pub async fn build_with(
        &self,
        project: &Project,
        dt: NaiveDate,
        options: &BuildOptions,
    ) -> DayBuild {
        Warehouse::new(&self.lake, &self.catalog, project)
            .build_day(dt, options, &NoBuildProgress)
            .await
            .unwrap()
    }

    /// Builds day `dt` and fails the test, naming the step, unless every step succeeded.
    pub async fn build(&self, dt: NaiveDate) -> DayBuild {
        let report = self
            .build_with(&self.project, dt, &BuildOptions::default())
            .await;
        for s in &report.steps {
            assert_eq!(
                s.outcome,
                medlake_warehouse::StepOutcome::Succeeded,
                "step {} of {dt}",
                s.name
            );
        }
        report
    }
}
