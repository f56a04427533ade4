//! `medlake demo`: the whole chain on one machine with no server installed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;

use crate::config::Config;
use crate::simulate_cmd::{self, SimulationPlan};
use crate::sync_cmd::{self, Handles, SyncArgs};
use crate::{progress, report};

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
}

/// Runs the demo: simulate and sync day by day, then show the lake.
pub async fn run(args: &DemoArgs, quiet: bool) -> Result<()> {
    if args.days == 0 {
        bail!("--days must be at least 1");
    }
    prepare_dir(&args.dir)?;
    let mut config = Config::defaults_in(&args.dir);
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
    let bar = progress::steps_bar(u64::from(args.days), "simulate + sync day", quiet);
    let mut handles: Option<Handles> = None;
    let mut mismatches = Vec::new();
    let mut business_rows = 0u64;
    for day_index in 0..args.days {
        let day = args.start + chrono::Duration::days(i64::from(day_index));
        bar.set_message(day.to_string());
        let plan = SimulationPlan::from_config(&config, 1);
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
        handles = Some(h);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let h = handles.context("no day was synced")?;
    println!(
        "simulated and synced {} days in {:.1} s ({} business rows written)\n",
        args.days,
        started.elapsed().as_secs_f64(),
        business_rows
    );
    report::print_lake(&h.lake.summary().await.context("reading the lake")?, false);
    let runs = h.catalog.recent_runs(usize::MAX)?;
    println!(
        "\n{} sync runs recorded in {}",
        runs.len(),
        config.catalog.path.display()
    );
    if mismatches.is_empty() {
        println!("reconciliation: every table matched the source on every day");
    } else {
        bail!(
            "reconciliation found differences: {}",
            mismatches.join(", ")
        );
    }
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
        "  python3 scripts/read_lake.py {}   # any Delta reader works",
        args.dir.join("lake").display()
    );
    Ok(())
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
