//! `medlake bench`: simulator and sync throughput in rows per second, with peak memory.
//! Figures, not pass/fail: the README keeps the latest ones.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;

use crate::config::Config;
use crate::simulate_cmd::{self, SimulationPlan};
use crate::sync_cmd::{self, Handles, SyncArgs, SyncPart};

/// Benchmark settings.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Scale factor (1 = 100,000 consultations a day).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Folder to work in (default: a temporary folder, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Benchmark the warehouse build instead: simulate, sync and build --days days, and
    /// report the build time of each day and the peak memory.
    #[arg(long)]
    pub warehouse: bool,
    /// Days of the warehouse benchmark.
    #[arg(long, default_value_t = 30, requires = "warehouse")]
    pub days: u32,
    /// Benchmark serving instead, over the lake a warehouse benchmark left in --dir:
    /// dashboard API latency, then PostgreSQL-protocol clients under load.
    #[arg(long, requires = "dir", conflicts_with = "warehouse")]
    pub serve: bool,
    /// Seconds of PostgreSQL-protocol load (with --serve).
    #[arg(long, default_value_t = 300, requires = "serve")]
    pub seconds: u64,
    /// Concurrent PostgreSQL clients (with --serve).
    #[arg(long, default_value_t = 50, requires = "serve")]
    pub clients: usize,
    /// Internal to --warehouse: build this one day of the lake in --dir in this process and
    /// print its figures as one JSON line.
    #[arg(long, hide = true, requires = "dir", conflicts_with_all = ["warehouse", "serve"])]
    pub build_day: Option<NaiveDate>,
}

struct Figure {
    what: &'static str,
    rows: u64,
    seconds: f64,
    peak_rss: u64,
}

impl Figure {
    fn measured(what: &'static str, rows: u64, started: Instant) -> Figure {
        Figure {
            what,
            rows,
            seconds: started.elapsed().as_secs_f64(),
            peak_rss: peak_rss_bytes(),
        }
    }
}

/// The folder a benchmark works in: `dir`, or a temporary folder removed when the
/// returned guard drops.
pub fn work_dir(dir: Option<&std::path::Path>) -> Result<(tempfile::TempDir, PathBuf)> {
    let temp = tempfile::tempdir().context("creating a temporary folder")?;
    let dir = dir.map_or_else(|| temp.path().to_path_buf(), std::path::Path::to_path_buf);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok((temp, dir))
}

/// Peak resident memory of this process so far (VmHWM), in bytes.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
        })
        .map_or(0, |kb| kb * 1024)
}

/// CPU time this process has used so far (user and system, every thread), in seconds.
///
/// A day's build on a shared 2-core machine varies by tenths of a second of wall time with
/// what else runs; the CPU it used varies far less, so the bench prints both.
pub fn cpu_seconds() -> f64 {
    // /proc/self/stat: fields 14 and 15 (utime, stime) in USER_HZ ticks, 100 a second on Linux.
    const USER_HZ: f64 = 100.0;
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // The command name (field 2) may hold spaces; count fields after its ')'.
            let rest = &s[s.rfind(')')? + 1..];
            let mut fields = rest.split_whitespace().skip(11);
            let utime: f64 = fields.next()?.parse().ok()?;
            let stime: f64 = fields.next()?.parse().ok()?;
            Some((utime + stime) / USER_HZ)
        })
        .unwrap_or(0.0)
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: &BenchArgs) -> Result<()> {
    if args.warehouse {
        return warehouse(args).await;
    }
    if let (Some(day), Some(dir)) = (args.build_day, &args.dir) {
        return build_one_day(dir, day).await;
    }
    if let (true, Some(dir)) = (args.serve, &args.dir) {
        return crate::serve_bench::run(dir, args.seconds, args.clients).await;
    }
    let (_temp, dir) = work_dir(args.dir.as_deref())?;
    let mut config = Config::defaults_in(&dir);
    config.simulate.scale = args.scale;
    config.simulate.start = NaiveDate::from_ymd_opt(2026, 1, 5).context("start day")?;
    let day = config.simulate.start;
    println!(
        "medlake bench: scale {} (one day, {}), in {}",
        args.scale,
        day,
        dir.display()
    );
    let mut figures = Vec::new();

    let simulate = |days: u32| {
        let plan = SimulationPlan::from_config(&config, days);
        let url = config.business.url.clone();
        async move {
            simulate_cmd::simulate(&url, &plan, false)
                .await
                .map(|s| s.rows_written)
        }
    };
    let started = Instant::now();
    let rows = simulate(0).await?;
    figures.push(Figure::measured(
        "simulate: initial population into SQLite",
        rows,
        started,
    ));

    let handles = Handles::open(&config)?;
    let sync = |part: SyncPart| {
        let args = SyncArgs {
            day: Some(day),
            only: Some(part),
            no_reconcile: true,
            ..Default::default()
        };
        let (handles, config) = (&handles, &config);
        async move {
            let outcome = sync_cmd::run(handles, config, &args, false).await?;
            Ok::<u64, anyhow::Error>(outcome.reports.iter().map(|r| r.rows).sum())
        }
    };
    let started = Instant::now();
    let rows = sync(SyncPart::Inc).await?;
    figures.push(Figure::measured(
        "incremental sync: bootstrap of the population",
        rows,
        started,
    ));

    let started = Instant::now();
    let rows = simulate(1).await?;
    figures.push(Figure::measured(
        "simulate: one day into SQLite (rows inserted + updated)",
        rows,
        started,
    ));

    let started = Instant::now();
    let rows = sync(SyncPart::Full).await?;
    figures.push(Figure::measured(
        "full sync: master snapshots of the day",
        rows,
        started,
    ));

    let started = Instant::now();
    let rows = sync(SyncPart::Inc).await?;
    figures.push(Figure::measured(
        "incremental sync: the day's change records",
        rows,
        started,
    ));

    println!("\n| step | rows | seconds | rows/s | peak RSS so far |");
    println!("|---|---:|---:|---:|---:|");
    for f in &figures {
        println!(
            "| {} | {} | {:.2} | {:.0} | {} |",
            f.what,
            f.rows,
            f.seconds,
            f.rows as f64 / f.seconds.max(1e-9),
            crate::report::human_bytes(f.peak_rss)
        );
    }
    print_machine();
    Ok(())
}

/// The warehouse benchmark: day after day, simulate and sync (not timed), then build the
/// day (timed) in a fresh process, the way a scheduler runs `medlake build --day` each day.
///
/// A fresh process per day also keeps the figures about the lake: built in one process
/// that had simulated, synced and built every earlier day, day 30's small models took
/// twice as long as in a fresh process over the same lake (README, warehouse figures).
async fn warehouse(args: &BenchArgs) -> Result<()> {
    let (_temp, dir) = work_dir(args.dir.as_deref())?;
    let mut config = Config::defaults_in(&dir);
    config.simulate.scale = args.scale;
    config.simulate.start = NaiveDate::from_ymd_opt(2026, 1, 5).context("start day")?;
    println!(
        "medlake bench --warehouse: scale {}, {} days from {}, in {}",
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
            crate::report::human_bytes(figures.peak_rss)
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
    /// Each model: name, seconds, rows.
    steps: Vec<(String, f64, u64)>,
}

/// Runs `medlake bench --build-day DAY --dir DIR` and reads the figures it prints.
fn build_in_fresh_process(dir: &std::path::Path, day: NaiveDate) -> Result<DayFigures> {
    let exe = std::env::current_exe().context("finding the medlake executable")?;
    let output = std::process::Command::new(exe)
        .arg("bench")
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
async fn build_one_day(dir: &std::path::Path, day: NaiveDate) -> Result<()> {
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
        crate::build_cmd::print_day(&report);
        anyhow::bail!("the build of {day} failed");
    }
    let figures = DayFigures {
        day,
        seconds: report.seconds,
        cpu_seconds: cpu_seconds(),
        peak_rss: peak_rss_bytes(),
        rows: report.rows(),
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
    let max = days.iter().map(|d| d.seconds).fold(0.0, f64::max);
    let peak = days.iter().map(|d| d.peak_rss).max().unwrap_or(0);
    println!(
        "\nday 1 build {:.2} s, day {} build {:.2} s (ratio {:.2}), slowest day {max:.2} s, peak RSS {}",
        first.seconds,
        days.len(),
        last.seconds,
        last.seconds / first.seconds.max(1e-9),
        crate::report::human_bytes(peak)
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

/// The median of a few timings.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
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

pub fn print_machine() {
    println!(
        "\nmachine: {} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |s| s.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_string())
            )
            .unwrap_or_else(|| "unknown CPU".into())
    );
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
