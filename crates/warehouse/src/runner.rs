//! The DAG runner: builds the steps of a project for a business day, in dependency order,
//! several at once where the graph allows, with retries and a run record per step.
//!
//! Every step replaces partition `dt` of its table in one Delta commit, so a rebuild of a
//! day gives the same result and a crash leaves each table at its last good version. A
//! failed step stops its descendants (recorded as skipped); the others go on. What one
//! attempt of a step does (the SQL it runs, how it writes) is `materialize.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use futures::stream::{FuturesUnordered, StreamExt};
use medlake_catalog::{Catalog, Outcome, RunKind};
use medlake_lake::Lake;

use medlake_lineage::openlineage::RunRef;
use medlake_quality::{describe, Auditor};

use crate::error::WarehouseError;
use crate::events::BuildEvents;
use crate::materialize::{execute, StepChecks};
use crate::project::{Project, Step};
use crate::source_checks::audit_sources;

/// How a build runs.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Steps executing at once.
    pub parallelism: usize,
    /// Extra attempts of a failing step.
    pub retries: u32,
    /// Pause before the first retry; doubles after each.
    pub retry_backoff: Duration,
    /// Build only these steps (their inputs must exist); `None` builds all.
    pub only: Option<BTreeSet<String>>,
    /// Publish without running the quality checks (`--skip-checks`, for emergencies); every
    /// step's run record says so.
    pub skip_checks: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            parallelism: 2,
            retries: 2,
            retry_backoff: Duration::from_millis(500),
            only: None,
            skip_checks: false,
        }
    }
}

/// How one step of one day ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Its partition was written.
    Succeeded,
    /// It failed after every attempt; the message says why.
    Failed(String),
    /// It did not run because a step it reads failed.
    Skipped(String),
}

/// The record of one step of one day.
#[derive(Debug, Clone)]
pub struct StepRun {
    /// Table.
    pub name: String,
    /// Business day.
    pub dt: NaiveDate,
    /// Outcome.
    pub outcome: StepOutcome,
    /// Rows written.
    pub rows: u64,
    /// Approximate bytes written (Arrow in-memory size).
    pub bytes: u64,
    /// Wall time in seconds, all attempts.
    pub seconds: f64,
    /// Attempts made.
    pub attempts: u32,
    /// Seconds of it spent on lineage: reading it off the plans and recording it.
    pub lineage_seconds: f64,
    /// Seconds of it spent on the quality checks of its partition (and its profile).
    pub checks_seconds: f64,
    /// The `warn` checks that failed on its published partition, one line each.
    pub warnings: Vec<String>,
}

/// The steps of one day.
#[derive(Debug, Clone)]
pub struct DayBuild {
    /// Business day.
    pub dt: NaiveDate,
    /// Every step, in the order they finished.
    pub steps: Vec<StepRun>,
    /// Wall time of the day's build in seconds.
    pub seconds: f64,
    /// Seconds spent checking the ODS tables the steps read, before they ran.
    pub source_checks_seconds: f64,
    /// ODS tables whose `error` checks failed (their readers were skipped), with why.
    pub blocked_sources: BTreeMap<String, String>,
}

impl DayBuild {
    /// Whether every step succeeded.
    pub fn succeeded(&self) -> bool {
        self.steps
            .iter()
            .all(|s| s.outcome == StepOutcome::Succeeded)
    }

    /// Rows written by all steps.
    pub fn rows(&self) -> u64 {
        self.steps.iter().map(|s| s.rows).sum()
    }

    /// Seconds all steps spent on lineage (steps run side by side, so this is work, not
    /// wall time).
    pub fn lineage_seconds(&self) -> f64 {
        self.steps.iter().map(|s| s.lineage_seconds).sum()
    }

    /// Seconds spent on quality checks and profiles: the sources' before the build and
    /// every step's (work, not wall time).
    pub fn checks_seconds(&self) -> f64 {
        self.source_checks_seconds + self.steps.iter().map(|s| s.checks_seconds).sum::<f64>()
    }
}

/// Receives build progress (a terminal shows bars; tests ignore it).
pub trait BuildProgress: Send + Sync {
    /// A day starts with `steps` steps.
    fn day_started(&self, _dt: NaiveDate, _steps: usize) {}
    /// A step starts.
    fn step_started(&self, _dt: NaiveDate, _name: &str) {}
    /// A step ended.
    fn step_finished(&self, _run: &StepRun) {}
}

/// Progress that goes nowhere.
pub struct NoBuildProgress;
impl BuildProgress for NoBuildProgress {}

/// Builds a project into a lake, recording runs in a catalog.
pub struct Warehouse<'a> {
    lake: &'a Lake,
    catalog: &'a Catalog,
    project: &'a Project,
    events: Option<BuildEvents>,
}

impl<'a> Warehouse<'a> {
    /// A runner over `lake` and `catalog` for `project`.
    pub fn new(lake: &'a Lake, catalog: &'a Catalog, project: &'a Project) -> Self {
        Warehouse {
            lake,
            catalog,
            project,
            events: None,
        }
    }

    /// Sends the build's OpenLineage events (see `events.rs`).
    pub fn with_events(mut self, events: BuildEvents) -> Self {
        self.events = Some(events);
        self
    }

    /// Builds each day in order (a day may read the previous day's partitions).
    pub async fn build_days(
        &self,
        days: &[NaiveDate],
        options: &BuildOptions,
        progress: &dyn BuildProgress,
    ) -> Result<Vec<DayBuild>, WarehouseError> {
        let mut out = Vec::new();
        for &dt in days {
            out.push(self.build_day(dt, options, progress).await?);
        }
        Ok(out)
    }

    /// Builds every step for day `dt`. Step failures are in the report, not an error; an
    /// error means the catalog itself failed.
    pub async fn build_day(
        &self,
        dt: NaiveDate,
        options: &BuildOptions,
        progress: &dyn BuildProgress,
    ) -> Result<DayBuild, WarehouseError> {
        let started = Instant::now();
        let selected: Vec<&Step> = self
            .project
            .steps
            .iter()
            .filter(|s| options.only.as_ref().is_none_or(|o| o.contains(&s.name)))
            .collect();
        let names: BTreeSet<&str> = selected.iter().map(|s| s.name.as_str()).collect();
        progress.day_started(dt, selected.len());
        let day_run = self.events.as_ref().map(|e| e.day_run());
        if let (Some(events), Some(run)) = (&self.events, &day_run) {
            events.day(run, dt, None).await;
        }
        let sources = match options.skip_checks {
            true => Default::default(),
            false => {
                audit_sources(
                    self.lake,
                    self.catalog,
                    &self.project.quality,
                    &selected,
                    dt,
                )
                .await?
            }
        };
        let mut status: BTreeMap<&str, Option<bool>> =
            selected.iter().map(|s| (s.name.as_str(), None)).collect();
        let mut waiting: Vec<&Step> = selected.clone();
        let mut running = FuturesUnordered::new();
        let mut runs = Vec::new();
        loop {
            let mut i = 0;
            while i < waiting.len() {
                let step = waiting[i];
                let inputs: Vec<Option<bool>> = step
                    .depends_on
                    .iter()
                    .filter(|d| names.contains(d.as_str()))
                    .map(|d| status.get(d.as_str()).copied().flatten())
                    .collect();
                let failed_input = step
                    .depends_on
                    .iter()
                    .find(|d| status.get(d.as_str()) == Some(&Some(false)))
                    .map(|d| format!("{d} failed"))
                    .or_else(|| {
                        step.sources
                            .iter()
                            .find_map(|t| sources.blocked.get(t).map(|why| format!("{t}: {why}")))
                    });
                if let Some(why) = failed_input {
                    waiting.remove(i);
                    let run = self.record_skip(step, dt, &why)?;
                    progress.step_finished(&run);
                    status.insert(step.name.as_str(), Some(false));
                    runs.push(run);
                    i = 0;
                    continue;
                }
                if running.len() < options.parallelism.max(1)
                    && inputs.iter().all(|s| *s == Some(true))
                {
                    waiting.remove(i);
                    progress.step_started(dt, &step.name);
                    running.push(self.run_step(step, dt, options, day_run.as_ref()));
                    continue;
                }
                i += 1;
            }
            match running.next().await {
                Some(run) => {
                    let run = run?;
                    progress.step_finished(&run);
                    if let Some(done) = status.get_mut(run.name.as_str()) {
                        *done = Some(run.outcome == StepOutcome::Succeeded);
                    }
                    runs.push(run);
                }
                None => break,
            }
        }
        if !options.skip_checks {
            if let Err(e) = medlake_quality::publish_results(self.lake, self.catalog, dt).await {
                tracing::warn!(%dt, "dq_check_result not written: {e}");
            }
        }
        let build = DayBuild {
            dt,
            steps: runs,
            seconds: started.elapsed().as_secs_f64(),
            source_checks_seconds: sources.seconds,
            blocked_sources: sources.blocked,
        };
        if let (Some(events), Some(run)) = (&self.events, &day_run) {
            let failed: Vec<&str> = build
                .steps
                .iter()
                .filter(|s| matches!(s.outcome, StepOutcome::Failed(_)))
                .map(|s| s.name.as_str())
                .collect();
            let error = (!failed.is_empty()).then(|| format!("failed: {}", failed.join(", ")));
            events.day(run, dt, Some(error.as_deref())).await;
        }
        Ok(build)
    }

    fn record_skip(
        &self,
        step: &Step,
        dt: NaiveDate,
        why: &str,
    ) -> Result<StepRun, WarehouseError> {
        let message = format!("skipped: {why}");
        let id = self
            .catalog
            .start_run(RunKind::Build, &step.name, Some(dt))?;
        self.catalog
            .finish_run(id, Outcome::Skipped, 0, 0, Some(&message))?;
        Ok(StepRun {
            name: step.name.clone(),
            dt,
            outcome: StepOutcome::Skipped(message),
            rows: 0,
            bytes: 0,
            seconds: 0.0,
            attempts: 0,
            lineage_seconds: 0.0,
            checks_seconds: 0.0,
            warnings: Vec::new(),
        })
    }

    async fn run_step(
        &self,
        step: &Step,
        dt: NaiveDate,
        options: &BuildOptions,
        day_run: Option<&RunRef>,
    ) -> Result<StepRun, WarehouseError> {
        let started = Instant::now();
        let step_run = self.events.as_ref().map(|e| e.step_run(step));
        if let (Some(events), Some(run), Some(parent)) = (&self.events, &step_run, day_run) {
            events.step_started(run, parent, step).await;
        }
        let id = self
            .catalog
            .start_run(RunKind::Build, &step.name, Some(dt))?;
        let checks = (!options.skip_checks).then(|| StepChecks {
            auditor: Auditor::new(self.lake, self.catalog, &self.project.quality),
            run_id: id,
        });
        let mut attempts = 0;
        let mut backoff = options.retry_backoff;
        let result = loop {
            attempts += 1;
            match execute(self.lake, self.project, step, dt, checks.as_ref()).await {
                Ok(written) => break Ok(written),
                Err(e) if attempts > options.retries || !e.is_transient() => break Err(e),
                Err(e) => {
                    tracing::warn!(step = %step.name, %dt, attempt = attempts, "retrying: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        };
        if let (Some(events), Some(run), Some(parent)) = (&self.events, &step_run, day_run) {
            let error = result.as_ref().err().map(ToString::to_string);
            let outcome = match &result {
                Ok(written) => Ok(written),
                Err(_) => Err(error.as_deref().unwrap_or_default()),
            };
            events.step_ended(run, parent, step, outcome).await;
        }
        let mut lineage_seconds = 0.0;
        let mut checks_seconds = 0.0;
        let mut warnings = Vec::new();
        let (outcome, rows, bytes) = match result {
            Ok(written) => {
                let (rows, bytes) = (written.rows, written.bytes);
                if let Some(audit) = &written.audit {
                    checks_seconds = audit.seconds;
                    warnings = audit.warnings().into_iter().map(describe).collect();
                }
                let note = if options.skip_checks {
                    Some("published without checks (--skip-checks)".to_string())
                } else {
                    (!warnings.is_empty())
                        .then(|| format!("published with warnings: {}", warnings.join("; ")))
                };
                self.catalog
                    .finish_run(id, Outcome::Succeeded, rows, bytes, note.as_deref())?;
                // Lineage never fails a build: a step that wrote its partition succeeded.
                let recording = Instant::now();
                if let Err(e) = medlake_lineage::record(self.catalog, &written.lineage, dt) {
                    tracing::warn!(step = %step.name, %dt, "lineage not recorded: {e}");
                }
                lineage_seconds = written.lineage_seconds + recording.elapsed().as_secs_f64();
                (StepOutcome::Succeeded, rows, bytes)
            }
            Err(e) => {
                let message = e.to_string();
                self.catalog
                    .finish_run(id, Outcome::Failed, 0, 0, Some(&message))?;
                (StepOutcome::Failed(message), 0, 0)
            }
        };
        Ok(StepRun {
            name: step.name.clone(),
            dt,
            outcome,
            rows,
            bytes,
            seconds: started.elapsed().as_secs_f64(),
            attempts,
            lineage_seconds,
            checks_seconds,
            warnings,
        })
    }
}
