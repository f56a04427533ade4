//! `medlake demo`: the whole chain on one machine with no server installed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;

use crate::config::Config;
use crate::simulate_cmd::{self, SimulationPlan};
use crate::sync_cmd::{self, Handles, SyncArgs};
use crate::{build_cmd, progress, report};
use medlake_warehouse::{metric_values, BuildOptions, NoBuildProgress, Project, Warehouse};

/// Marks a folder as made by `medlake demo`, so a re-run may wipe it and nothing else.
const MARKER: &str = ".medlake-demo";

/// Demo settings.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Folder for the demo's business database, lake and catalog (wiped on a re-run).
    #[arg(long, default_value = "medlake-demo")]
    pub dir: PathBuf,
    /// Simulated days.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Scale factor (1 = 100,000 consultations a day).
    #[arg(long, default_value_t = 0.02)]
    pub scale: f64,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// First simulated day.
    #[arg(long, default_value = "2026-01-01")]
    pub start: NaiveDate,
    /// Stop after building instead of serving the web UI and PostgreSQL protocol.
    #[arg(long)]
    pub no_serve: bool,
    /// A fault injected on one day (two thirds into the run) for the quality gate to catch,
    /// so the quality page has something to show; `none` for a clean run. Kinds: see
    /// `medlake simulate --help`.
    #[arg(long, default_value = "duplicate_payments", value_name = "KIND|none")]
    pub fault: String,
}

/// Measures shown at the end of the demo, overall, for the last day and its 7-day window.
const HEADLINES: [&str; 8] = [
    "consultation_placed_count",
    "consultation_paid_amount",
    "total_paid_amount",
    "pay_conversion_rate",
    "paying_users",
    "prescription_rate",
    "good_review_rate",
    "median_paid_to_finished_minutes",
];

/// Runs the demo: simulate, sync and build day by day, then show the lake and headlines.
pub async fn run(args: &DemoArgs, quiet: bool) -> Result<()> {
    if args.days == 0 {
        bail!("--days must be at least 1");
    }
    prepare_dir(&args.dir)?;
    let mut config = Config::defaults_in(&args.dir);
    // The demo does not load a config (Config::load checks the environment for every other
    // command), yet a misspelt MEDLAKE_CATALOG_URL must not pass silently here either.
    let env: std::collections::HashMap<String, String> = std::env::vars().collect();
    crate::config::check_env(&env)?;
    // The one setting the demo takes from the environment: a PostgreSQL catalog to run on
    // instead of the embedded one (it must be empty, see below).
    if let Ok(url) = std::env::var("MEDLAKE_CATALOG_URL") {
        config.catalog.url = url;
        // The demo starts from nothing; a catalog that remembers captures and runs would
        // make it resume someone else's work.
        let held = config.open_catalog()?.recent_runs(1)?.len();
        if held > 0 {
            bail!(
                "the demo needs an empty catalog, and {} already records runs",
                config.catalog_location()
            );
        }
    }
    config.simulate.seed = args.seed;
    config.simulate.scale = args.scale;
    config.simulate.start = args.start;
    std::fs::write(args.dir.join("medlake.toml"), config.to_toml_redacted())
        .with_context(|| format!("writing {}", args.dir.join("medlake.toml").display()))?;
    println!(
        "medlake demo: {} days from {} at scale {} (about {} consultations a day) in {}",
        args.days,
        args.start,
        args.scale,
        (args.scale * 100_000.0).round(),
        args.dir.display()
    );
    let started = Instant::now();
    let bar = progress::steps_bar(u64::from(args.days), "simulate + sync + build", quiet);
    let project = config.project()?;
    let build_options = BuildOptions {
        parallelism: config.warehouse.parallelism,
        retries: config.warehouse.retries,
        ..Default::default()
    };
    let mut build_seconds = 0.0;
    let mut handles: Option<Handles> = None;
    let mut mismatches = Vec::new();
    let mut business_rows = 0u64;
    let (fault_day, fault) = demo_fault(args)?;
    let mut stopped = Vec::new();
    for day_index in 0..args.days {
        let day = args.start + chrono::Duration::days(i64::from(day_index));
        bar.set_message(day.to_string());
        let mut plan = SimulationPlan::from_config(&config, 1);
        if day_index == fault_day {
            plan.faults = fault.clone();
        }
        business_rows += simulate_cmd::simulate(&config.business.url, &plan, true)
            .await?
            .rows_written;
        let h = match handles.take() {
            Some(h) => h,
            None => Handles::open(&config)?,
        };
        let sync = SyncArgs {
            day: Some(day),
            ..Default::default()
        };
        let outcome = sync_cmd::run(&h, &config, &sync, true)
            .await
            .with_context(|| format!("sync of {day}"))?;
        if let Some(rec) = &outcome.reconciliation {
            mismatches.extend(
                rec.rows
                    .iter()
                    .filter(|r| !r.matches() && !r.behind_only())
                    .map(|r| format!("{day} {}", r.lake_table)),
            );
        }
        let built = Warehouse::new(&h.lake, &h.catalog, &project)
            .build_day(day, &build_options, &NoBuildProgress)
            .await
            .with_context(|| format!("build of {day}"))?;
        if !built.succeeded() {
            if day_index != fault_day || fault.is_empty() {
                build_cmd::print_day(&built);
                bail!("the warehouse build of {day} failed (see above)");
            }
            // The injected fault: the quality gate kept that day out of the reports.
            stopped.extend(
                built
                    .blocked_sources
                    .iter()
                    .map(|(table, why)| format!("{day} {table}: {why}")),
            );
            stopped.extend(built.steps.iter().filter_map(|s| match &s.outcome {
                medlake_warehouse::StepOutcome::Failed(why) => Some(format!("{day} {why}")),
                _ => None,
            }));
        }
        build_seconds += built.seconds;
        handles = Some(h);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let h = handles.context("no day was synced")?;
    println!(
        "simulated, synced and built {} days in {:.1} s ({} business rows written; warehouse builds {:.1} s)\n",
        args.days,
        started.elapsed().as_secs_f64(),
        business_rows,
        build_seconds
    );
    report::print_lake(&h.lake.summary().await.context("reading the lake")?, false);
    let runs = h.catalog.recent_runs(usize::MAX)?;
    println!(
        "\n{} runs (sync and build) recorded in {}",
        runs.len(),
        config.catalog_location()
    );
    if mismatches.is_empty() {
        println!("reconciliation: every table matched the source on every day");
    } else {
        bail!(
            "reconciliation found differences: {}",
            mismatches.join(", ")
        );
    }
    print_quality(&h.catalog, &fault, &stopped)?;
    let last = args.start + chrono::Duration::days(i64::from(args.days) - 1);
    print_headlines(&h.lake, &project, last).await?;
    let exe = std::env::current_exe().ok();
    let exe = exe
        .as_deref()
        .and_then(|p| {
            std::env::current_dir()
                .ok()
                .and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf))
        })
        .or(exe.clone())
        .unwrap_or_else(|| PathBuf::from("medlake"));
    let config_path = args.dir.join("medlake.toml");
    println!("\nexplore:");
    println!(
        "  {} --config {} lake --partitions",
        exe.display(),
        config_path.display()
    );
    println!(
        "  {} --config {} runs",
        exe.display(),
        config_path.display()
    );
    println!(
        "  {} metrics 好评   # the metric catalog, searchable",
        exe.display()
    );
    println!(
        "  python3 scripts/read_lake.py {}   # any Delta reader works",
        args.dir.join("lake").display()
    );
    if args.no_serve {
        return Ok(());
    }
    println!("\nserving the demo (Ctrl-C stops):");
    crate::serve_cmd::serve(
        &config,
        &crate::serve_cmd::ServeArgs::default(),
        Some(&config_path),
    )
    .await
}

/// The day (index) and faults the demo injects: two thirds into the run.
fn demo_fault(args: &DemoArgs) -> Result<(u32, medlake_sim::Faults)> {
    let day = args.days * 2 / 3;
    if args.fault == "none" {
        return Ok((day, medlake_sim::Faults::none()));
    }
    let date = args.start + chrono::Duration::days(i64::from(day));
    let faults = medlake_sim::Faults::parse(&args.fault, 0.05, vec![date])
        .with_context(|| format!("--fault {}", args.fault))?;
    Ok((day, faults))
}

/// What the checks found over the run, and what the gate kept out of the reports.
fn print_quality(
    catalog: &medlake_catalog::Catalog,
    fault: &medlake_sim::Faults,
    stopped: &[String],
) -> Result<()> {
    use medlake_catalog::CheckStatus;
    let results = catalog.check_results(&medlake_catalog::CheckFilter {
        latest: true,
        ..Default::default()
    })?;
    let count = |s: CheckStatus| results.iter().filter(|r| r.status == s).count();
    println!(
        "quality: {} check results over the run: {} passed, {} warned, {} failed, {} could not run",
        results.len(),
        count(CheckStatus::Pass),
        count(CheckStatus::Warn),
        count(CheckStatus::Fail),
        count(CheckStatus::Error)
    );
    if !fault.is_empty() {
        println!("  injected fault: {fault}; the quality gate kept it out of the reports:");
        for line in stopped {
            println!("    {line}");
        }
    }
    Ok(())
}

async fn print_headlines(
    lake: &medlake_lake::Lake,
    project: &Project,
    day: NaiveDate,
) -> Result<()> {
    let values = metric_values(lake, day)
        .await
        .context("reading metric values")?;
    println!("\nheadline metrics for {day} (whole business; last day | last 7 days):");
    for name in HEADLINES {
        let Some(measure) = project.metrics.measure(name) else {
            continue;
        };
        // A missing value reads as zero, unless the measure has no such window at all.
        let value = |w: u32| {
            if !measure.windows.contains(&w) {
                return "-".to_string();
            }
            values
                .iter()
                .find(|v| v.measure == name && v.dimension == "overall" && v.window_days == w)
                .map_or_else(|| "0".to_string(), |v| format_value(v.value, &measure.unit))
        };
        println!(
            "  {:>14} | {:>14}  {} ({})",
            value(1),
            value(7),
            measure.label_en,
            measure.label_zh
        );
    }
    Ok(())
}

fn format_value(value: f64, unit: &str) -> String {
    match unit {
        "ratio" => format!("{:.1}%", value * 100.0),
        "CNY" => format!("¥{value:.2}"),
        "minutes" | "stars" => format!("{value:.1}"),
        _ => format!("{value:.0}"),
    }
}

fn prepare_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let is_demo = dir.join(MARKER).is_file();
        let is_empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !is_demo && !is_empty {
            bail!(
                "{} exists and was not made by `medlake demo`; choose another --dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "made by medlake demo; a re-run wipes this folder\n",
    )
    .with_context(|| format!("writing {}", dir.join(MARKER).display()))?;
    Ok(())
}
