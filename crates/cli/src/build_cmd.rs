//! `medlake build`: builds the warehouse for a day or a range of days, and lists models
//! and metrics.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use medlake_catalog::{Catalog, Outcome, RunKind};
use medlake_lake::Lake;
use medlake_lineage::openlineage::Emitter;
use medlake_warehouse::{
    BuildEvents, BuildOptions, BuildProgress, DayBuild, Project, StepOutcome, StepRun, Warehouse,
};

use crate::config::Config;

/// What to build.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BuildArgs {
    /// Business day to build. Default: the day of the latest successful sync.
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with_all = ["from", "to"])]
    pub day: Option<NaiveDate>,
    /// First day of a range (backfill), built day by day in order.
    #[arg(long, value_name = "YYYY-MM-DD", requires = "to")]
    pub from: Option<NaiveDate>,
    /// Last day of the range, included.
    #[arg(long, value_name = "YYYY-MM-DD", requires = "from")]
    pub to: Option<NaiveDate>,
    /// Build only these models (comma-separated); their inputs must already be built.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// With --models: also rebuild every model downstream of them.
    #[arg(long, requires = "models")]
    pub downstream: bool,
    /// Models built at once (default from config: warehouse.parallelism).
    #[arg(long)]
    pub parallelism: Option<usize>,
    /// Extra attempts of a failing model (default from config: warehouse.retries).
    #[arg(long)]
    pub retries: Option<u32>,
    /// Publish every partition without running the quality checks (an emergency: each
    /// step's run record says the checks were skipped).
    #[arg(long)]
    pub skip_checks: bool,
}

/// The days `args` name, or the latest synced day.
pub fn days(args: &BuildArgs, catalog: &Catalog) -> Result<Vec<NaiveDate>> {
    if let (Some(from), Some(to)) = (args.from, args.to) {
        if from > to {
            bail!("--from {from} is after --to {to}");
        }
        return Ok(from.iter_days().take_while(|d| *d <= to).collect());
    }
    if let Some(day) = args.day {
        return Ok(vec![day]);
    }
    let latest = catalog
        .recent_runs(usize::MAX)?
        .into_iter()
        .filter(|r| r.kind == RunKind::FullSync && r.outcome == Outcome::Succeeded)
        .filter_map(|r| r.dt)
        .max();
    match latest {
        Some(d) => Ok(vec![d]),
        None => bail!("no synced day found; run `medlake sync` first or pass --day"),
    }
}

/// Build options from args and config, checking model names against the project.
pub fn options(args: &BuildArgs, config: &Config, project: &Project) -> Result<BuildOptions> {
    let only = if args.models.is_empty() {
        None
    } else {
        let names: BTreeSet<String> = args.models.iter().map(|m| m.trim().to_string()).collect();
        if let Some(unknown) = names.iter().find(|n| project.step(n).is_none()) {
            bail!("unknown model {unknown:?} (see `medlake models`)");
        }
        Some(if args.downstream {
            project.with_descendants(&names)
        } else {
            names
        })
    };
    Ok(BuildOptions {
        parallelism: args
            .parallelism
            .unwrap_or(config.warehouse.parallelism)
            .max(1),
        retries: args.retries.unwrap_or(config.warehouse.retries),
        only,
        skip_checks: args.skip_checks,
        ..Default::default()
    })
}

/// Runs `medlake build`.
pub async fn run(config: &Config, args: &BuildArgs, quiet: bool) -> Result<Vec<DayBuild>> {
    let project = config.project()?;
    let lake = Lake::open(&config.lake.url, config.lake_options()).context("lake")?;
    let catalog = config.open_catalog()?;
    let days = days(args, &catalog)?;
    let options = options(args, config, &project)?;
    let bars = StepBars::new(quiet);
    let emitter = config.lineage.emitter()?;
    let mut warehouse = Warehouse::new(&lake, &catalog, &project);
    if emitter.is_enabled() {
        warehouse = warehouse.with_events(build_events(config, emitter.clone()));
    }
    let mut reports = Vec::new();
    for day in days {
        let report = warehouse
            .build_day(day, &options, &bars)
            .await
            .with_context(|| format!("build of {day}"))?;
        bars.clear();
        print_day(&report);
        reports.push(report);
    }
    if !reports.is_empty() {
        crate::lineage_cmd::warn_undeclared_phi(config, &project);
    }
    crate::lineage_cmd::report_delivery(&emitter);
    Ok(reports)
}

/// Where a build's OpenLineage events go, with the namespaces of this installation.
fn build_events(config: &Config, emitter: Emitter) -> BuildEvents {
    BuildEvents {
        emitter,
        job_namespace: config.lineage.namespace.clone(),
        namespaces: crate::lineage_cmd::namespaces(config),
    }
}

/// One line per step of a day's build, then a summary line.
pub fn print_day(report: &DayBuild) {
    let mut steps: Vec<&StepRun> = report.steps.iter().collect();
    steps.sort_by_key(|s| s.outcome == StepOutcome::Succeeded);
    let failed = steps
        .iter()
        .filter(|s| s.outcome != StepOutcome::Succeeded)
        .count();
    for s in steps.iter().filter(|s| s.outcome != StepOutcome::Succeeded) {
        let what = match &s.outcome {
            StepOutcome::Failed(m) => format!("FAILED after {} attempts: {m}", s.attempts),
            StepOutcome::Skipped(m) => m.clone(),
            StepOutcome::Succeeded => String::new(),
        };
        println!("  {:<34} {what}", s.name);
    }
    for s in steps.iter().filter(|s| !s.warnings.is_empty()) {
        println!(
            "  {:<34} published with warnings: {}",
            s.name,
            s.warnings.join("; ")
        );
    }
    println!(
        "{}: {} models built, {} rows, {:.1} s{}",
        report.dt,
        report.steps.len() - failed,
        report.rows(),
        report.seconds,
        if failed > 0 {
            format!(", {failed} FAILED or skipped")
        } else {
            String::new()
        }
    );
}

/// A day bar and a spinner per running model.
struct StepBars {
    multi: MultiProgress,
    day: Mutex<Option<ProgressBar>>,
    running: Mutex<Vec<(String, ProgressBar)>>,
}

impl StepBars {
    fn new(quiet: bool) -> Self {
        let multi = if quiet {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        } else {
            MultiProgress::new()
        };
        StepBars {
            multi,
            day: Mutex::new(None),
            running: Mutex::new(Vec::new()),
        }
    }

    fn clear(&self) {
        if let Some(bar) = self.day.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

impl BuildProgress for StepBars {
    fn day_started(&self, dt: NaiveDate, steps: usize) {
        let bar = self.multi.add(ProgressBar::new(steps as u64));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>20} [{bar:30}] {pos}/{len} models ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("build {dt}"));
        *self.day.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar);
    }

    fn step_started(&self, _dt: NaiveDate, name: &str) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{prefix:>34} {spinner} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((name.to_string(), bar));
    }

    fn step_finished(&self, run: &StepRun) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = running.iter().position(|(n, _)| *n == run.name) {
            let (_, bar) = running.remove(i);
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        if let Some(day) = self.day.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            day.inc(1);
        }
    }
}

/// `medlake models`: the build graph, one line per model.
pub fn print_models(project: &Project) {
    println!("models from {}", project.origin);
    println!("{:<5} {:<32} {:<12} reads", "layer", "model", "kept as");
    for s in &project.steps {
        let reads: Vec<&str> = s
            .depends_on
            .iter()
            .chain(&s.sources)
            .map(String::as_str)
            .collect();
        println!(
            "{:<5} {:<32} {:<12} {}",
            s.layer,
            s.name,
            s.materialization(),
            reads.join(", ")
        );
    }
}

/// `medlake metrics`: measures or instances matching `search` (Chinese or English).
pub fn print_metrics(project: &Project, search: Option<&str>, instances: bool) -> usize {
    let catalog = &project.metrics;
    let needle = search.map(str::to_lowercase);
    let matches = |m: &medlake_warehouse::Measure| {
        needle.as_deref().is_none_or(|n| {
            [&m.name, &m.label_zh, &m.label_en, &m.topic, &m.definition]
                .iter()
                .any(|f| f.to_lowercase().contains(n))
        })
    };
    let mut shown = 0;
    if instances {
        for i in catalog.instances() {
            if let Some(m) = catalog.measure(&i.measure).filter(|m| matches(m)) {
                println!("{:<58} {}", i.name, m.label_zh);
                shown += 1;
            }
        }
    } else {
        for m in catalog.measures.iter().filter(|m| matches(m)) {
            println!(
                "{:<34} {:<12} {:<10} {}  ({})\n{:<34} dimensions: {}; windows: {:?} days\n{:<34} {}",
                m.name,
                m.topic,
                m.unit,
                m.label_zh,
                m.label_en,
                "",
                m.dimensions.join(", "),
                m.windows,
                "",
                m.definition
            );
            shown += 1;
        }
    }
    let total = catalog.instances().len();
    println!(
        "\n{} base measures, {} metric instances in all",
        catalog.measures.len(),
        total
    );
    shown
}
