//! `medlake-bench --warehouse`: a month of daily builds, each day built in a fresh process
//! as a scheduler would run `medlake build --day`, with time, CPU, rows and peak memory per
//! day and the growth of each step from the first day to the last.

use anyhow::{Context, Result};
use chrono::NaiveDate;

use medlake_cli::config::Config;
use medlake_cli::simulate_cmd::{self, SimulationPlan};
use medlake_cli::sync_cmd::{self, Handles, SyncArgs};

use crate::machine::{cpu_seconds, median, peak_rss_bytes, print_machine, work_dir};
use crate::pipeline::BenchArgs;

/// The warehouse benchmark: day after day, simulate and sync (not timed), then build the
/// day (timed) in a fresh process, the way a scheduler runs `medlake build --day` each day.
///
/// A fresh process per day also keeps the figures about the lake: built in one process
/// that had simulated, synced and built every earlier day, day 30's small models took
/// twice as long as in a fresh process over the same lake (README, warehouse figures).
pub async fn run(args: &BenchArgs) -> Result<()> {
    let (_temp, dir) = work_dir(args.dir.as_deref())?;
    let mut config = Config::defaults_in(&dir);
    config.simulate.scale = args.scale;
    config.simulate.start = NaiveDate::from_ymd_opt(2026, 1, 5).context("start day")?;
    println!(
        "medlake-bench --warehouse: scale {}, {} days from {}, in {}",
        args.scale,
        args.days,
        config.simulate.start,
        dir.display()
    );
    // Checked before simulating anything: a broken project should not cost a day's simulation.
    config.project()?;
    let mut handles: Option<Handles> = None;
    println!("\n| day | build seconds | CPU seconds | rows written | peak RSS of the build |");
    println!("|---|---:|---:|---:|---:|");
    let mut days: Vec<DayFigures> = Vec::new();
    for i in 0..args.days {
        let day = config.simulate.start + chrono::Duration::days(i64::from(i));
        simulate_cmd::simulate(
            &config.business.url,
            &SimulationPlan::from_config(&config, 1),
            true,
        )
        .await?;
        let sync = SyncArgs {
            day: Some(day),
            no_reconcile: true,
            ..Default::default()
        };
        // Opened after the first simulation, which creates the business database.
        let h = match handles.take() {
            Some(h) => h,
            None => Handles::open(&config)?,
        };
        sync_cmd::run(&h, &config, &sync, true).await?;
        handles = Some(h);
        let figures = build_in_fresh_process(&dir, day)?;
        println!(
            "| {day} | {:.2} | {:.2} | {} | {} |",
            figures.seconds,
            figures.cpu_seconds,
            figures.rows,
            medlake_cli::report::human_bytes(figures.peak_rss)
        );
        days.push(figures);
    }
    print_summary(&days);
    print_machine();
    Ok(())
}

/// What building one day cost, as the process that built it measured.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct DayFigures {
    day: NaiveDate,
    /// Wall time of the build (every model of the day).
    seconds: f64,
    /// CPU time of the whole process (user and system).
    cpu_seconds: f64,
    /// Peak resident memory of the whole process.
    peak_rss: u64,
    rows: u64,
    /// Seconds the steps spent on lineage (read off the plans, recorded in the catalog).
    lineage_seconds: f64,
    /// Seconds spent on quality checks and profiles: the ODS tables' before the steps
    /// (not part of `step_seconds`) and each model's inside its step.
    #[serde(default)]
    checks_seconds: f64,
    /// Of those, the ODS tables' (run before the steps, outside `step_seconds`).
    #[serde(default)]
    source_checks_seconds: f64,
    /// Seconds of all steps together (steps run side by side: work, not wall time).
    step_seconds: f64,
    /// Each model: name, seconds, rows.
    steps: Vec<(String, f64, u64)>,
}

/// Runs `medlake-bench --build-day DAY --dir DIR` and reads the figures it prints.
fn build_in_fresh_process(dir: &std::path::Path, day: NaiveDate) -> Result<DayFigures> {
    let exe = std::env::current_exe().context("finding the medlake-bench executable")?;
    let output = std::process::Command::new(exe)
        .arg("--build-day")
        .arg(day.to_string())
        .arg("--dir")
        .arg(dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("starting the build of {day}"))?;
    if !output.status.success() {
        anyhow::bail!("the build of {day} failed ({})", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .last()
        .with_context(|| format!("the build of {day} printed no figures"))?;
    serde_json::from_str(line).with_context(|| format!("reading the figures of {day}: {line}"))
}

/// The child side of [`build_in_fresh_process`]: builds `day` and prints its figures.
pub async fn build_one_day(dir: &std::path::Path, day: NaiveDate) -> Result<()> {
    use medlake_warehouse::{BuildOptions, NoBuildProgress, Warehouse};
    let config = Config::defaults_in(dir);
    let project = config.project()?;
    let handles = Handles::open(&config)?;
    let options = BuildOptions {
        parallelism: config.warehouse.parallelism,
        retries: 0,
        ..Default::default()
    };
    let report = Warehouse::new(&handles.lake, &handles.catalog, &project)
        .build_day(day, &options, &NoBuildProgress)
        .await?;
    if !report.succeeded() {
        medlake_cli::build_cmd::print_day(&report);
        anyhow::bail!("the build of {day} failed");
    }
    let figures = DayFigures {
        day,
        seconds: report.seconds,
        cpu_seconds: cpu_seconds(),
        peak_rss: peak_rss_bytes(),
        rows: report.rows(),
        lineage_seconds: report.lineage_seconds(),
        checks_seconds: report.checks_seconds(),
        source_checks_seconds: report.source_checks_seconds,
        step_seconds: report.steps.iter().map(|s| s.seconds).sum(),
        steps: report
            .steps
            .iter()
            .map(|s| (s.name.clone(), s.seconds, s.rows))
            .collect(),
    };
    println!("{}", serde_json::to_string(&figures)?);
    Ok(())
}

/// The first and last day side by side, by step, and the ratios of the run.
fn print_summary(days: &[DayFigures]) {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return;
    };
    print_step_growth(first, last);
    let lineage: f64 = days.iter().map(|d| d.lineage_seconds).sum();
    let work: f64 = days.iter().map(|d| d.step_seconds).sum();
    println!(
        "\nlineage (read off the plans and recorded): {lineage:.2} s of {work:.2} s of step work over the run ({:.1}%)",
        100.0 * lineage / work.max(1e-9)
    );
    let checks: f64 = days.iter().map(|d| d.checks_seconds).sum();
    let sources: f64 = days.iter().map(|d| d.source_checks_seconds).sum();
    let work_with_sources = work + sources;
    println!(
        "quality checks and profiles (write-audit-publish): {checks:.2} s of {work_with_sources:.2} s of build work over the run ({:.1}%; {sources:.2} s of it the ODS tables' before the steps)",
        100.0 * checks / work_with_sources.max(1e-9)
    );
    let max = days.iter().map(|d| d.seconds).fold(0.0, f64::max);
    let peak = days.iter().map(|d| d.peak_rss).max().unwrap_or(0);
    println!(
        "\nday 1 build {:.2} s, day {} build {:.2} s (ratio {:.2}), slowest day {max:.2} s, peak RSS {}",
        first.seconds,
        days.len(),
        last.seconds,
        last.seconds / first.seconds.max(1e-9),
        medlake_cli::report::human_bytes(peak)
    );
    // The business is not in its steady state on day 1: no consultation placed before it
    // is finished, prescribed or reviewed that day. Time per row written tells a cost that
    // grows with history from one that grows with the day's volume.
    let per_million = |d: &DayFigures| d.seconds / (d.rows as f64 / 1e6).max(1e-9);
    println!(
        "rows written: day 1 {}, day {} {} (ratio {:.2}); build seconds per million rows written: {:.2} and {:.2} (ratio {:.2})",
        first.rows,
        days.len(),
        last.rows,
        last.rows as f64 / (first.rows as f64).max(1.0),
        per_million(first),
        per_million(last),
        per_million(last) / per_million(first).max(1e-9)
    );
    // One day's time varies by a few tenths of a second; medians of five days compare the
    // start and the end of the run more fairly than two single days.
    if days.len() >= 10 {
        let times: Vec<f64> = days.iter().map(|d| d.seconds).collect();
        let cpu_times: Vec<f64> = days.iter().map(|d| d.cpu_seconds).collect();
        for (what, values) in [("build", &times), ("CPU", &cpu_times)] {
            let (head, tail) = (median(&values[..5]), median(&values[values.len() - 5..]));
            println!(
                "{what} seconds: median of the first 5 days {head:.2}, of the last 5 days {tail:.2} (ratio {:.2})",
                tail / head.max(1e-9)
            );
        }
    }
}

/// Where the time of the last day went, beside the first day: the steps that grew most
/// first, so a cost that grows with history stands out.
fn print_step_growth(first: &DayFigures, last: &DayFigures) {
    let mut steps: Vec<(&str, f64, f64, u64, u64)> = last
        .steps
        .iter()
        .map(|(name, seconds, rows)| {
            let f = first.steps.iter().find(|f| &f.0 == name);
            (
                name.as_str(),
                f.map_or(0.0, |f| f.1),
                *seconds,
                f.map_or(0, |f| f.2),
                *rows,
            )
        })
        .collect();
    steps.sort_by(|a, b| (b.2 - b.1).total_cmp(&(a.2 - a.1)));
    println!(
        "\n| step | {} seconds | {} seconds | {} rows | {} rows |",
        first.day, last.day, first.day, last.day
    );
    println!("|---|---:|---:|---:|---:|");
    for (name, s1, s2, r1, r2) in steps {
        println!("| {name} | {s1:.2} | {s2:.2} | {r1} | {r2} |");
    }
}
