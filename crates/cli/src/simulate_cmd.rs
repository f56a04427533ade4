//! `medlake simulate`: play the business into the business database, with progress.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use medlake_sim::{
    BusinessWriter, FaultKind, Faults, Progress, RowCounts, SimParams, Target, Unit,
};

use crate::config::Config;
use crate::progress;

/// What to simulate; unset options come from the `[simulate]` config section.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Days to add after the last simulated day (the first run also loads the population
    /// and the two days of business before the start, so the first day has consultations
    /// in flight).
    #[arg(long, default_value_t = 1)]
    pub days: u32,
    /// Random seed (the same seed gives the same rows).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Scale factor: 1 = 100,000 consultations a day, ~20,000 doctors, ~200 hospitals.
    #[arg(long)]
    pub scale: Option<f64>,
    /// First simulated business day.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub start: Option<NaiveDate>,
    /// Business database to write (default: business.url from the config).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Inject deterministic data-quality faults into the simulated days, comma-separated:
    /// null_amounts, duplicate_payments, unknown_status, orphan_doctors, negative_amounts,
    /// volume_drop, clock_skew, late_arriving (--help describes each).
    #[arg(long, value_name = "KIND[,KIND...]", long_help = faults_long_help())]
    pub faults: Option<String>,
    /// Share of the eligible rows each of the --faults kinds hits, in (0, 1]; volume_drop
    /// always removes 60% of the day's consultations. Kinds: null_amounts,
    /// duplicate_payments, unknown_status, orphan_doctors, negative_amounts, volume_drop,
    /// clock_skew, late_arriving.
    #[arg(long, value_name = "R", default_value_t = 0.05)]
    pub fault_rate: f64,
    /// Days that get the --faults kinds (default: every day this call simulates). Kinds:
    /// null_amounts, duplicate_payments, unknown_status, orphan_doctors, negative_amounts,
    /// volume_drop, clock_skew, late_arriving.
    #[arg(
        long,
        value_name = "YYYY-MM-DD[,..]",
        value_delimiter = ',',
        requires = "faults"
    )]
    pub fault_days: Vec<NaiveDate>,
}

/// The long help of `--faults`: every kind with what it does, from the simulator itself
/// so that it never lags behind the kinds it knows.
fn faults_long_help() -> String {
    format!(
        "Inject deterministic data-quality faults into the simulated days (the same seed and \
         options always hit the same rows), comma-separated kinds:\n{}\n\nWhich faults each \
         day got is recorded in the business database (table medlake_sim_faults); a day an \
         interrupted run started keeps its faults when resumed.",
        FaultKind::help()
            .lines()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// Parameters and length of one simulation call.
#[derive(Debug, Clone)]
pub struct SimulationPlan {
    /// Seed, scale, start.
    pub params: SimParams,
    /// Days to add.
    pub days: u32,
    /// Faults to inject into the days of this call (none by default).
    pub faults: Faults,
}

impl SimulationPlan {
    /// The plan for `days` more days with the config's parameters.
    pub fn from_config(config: &Config, days: u32) -> Self {
        let s = &config.simulate;
        SimulationPlan {
            params: SimParams {
                seed: s.seed,
                scale: s.scale,
                start: s.start,
            },
            days,
            faults: Faults::none(),
        }
    }
}

/// What a simulation wrote.
#[derive(Debug, Default)]
pub struct SimulationSummary {
    /// Rows inserted plus rows updated.
    pub rows_written: u64,
    /// Business transactions committed.
    pub txns: u64,
    /// Days simulated in the database after this call.
    pub days_done: u32,
    /// Rows per table.
    pub tables: BTreeMap<&'static str, RowCounts>,
    /// The days this call wrote that carry injected faults, with their faults (as
    /// recorded in the business database).
    pub faults: Vec<(NaiveDate, Faults)>,
}

/// Simulates `plan` into the business database at `url`.
pub async fn simulate(url: &str, plan: &SimulationPlan, quiet: bool) -> Result<SimulationSummary> {
    let target = Target::parse(url).context("business database")?;
    if let Target::Sqlite(path) = &target {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    let mut writer = BusinessWriter::open(&target)
        .await
        .context("business database")?;
    let bar = progress::steps_bar(0, "simulate", quiet);
    let mut summary = SimulationSummary::default();
    let mut dates = Vec::new();
    let simulation = medlake_sim::simulate(
        &mut writer,
        &plan.params,
        plan.days,
        &plan.faults,
        |p| match p {
            Progress::Txns { unit, done, total } => {
                bar.set_length(total);
                bar.set_position(done);
                bar.set_message(match unit {
                    Unit::Population => "population".to_string(),
                    Unit::Day { date, .. } => date.to_string(),
                });
            }
            Progress::UnitDone(stats) => {
                if let Unit::Day { date, .. } = stats.unit {
                    dates.push(date);
                }
                summary.txns += stats.txns;
                summary.rows_written += stats.tables.rows();
                for (table, counts) in stats.tables.iter() {
                    let entry = summary.tables.entry(table).or_default();
                    entry.inserted += counts.inserted;
                    entry.updated += counts.updated;
                }
            }
        },
    );
    let state = simulation.await.context("simulation")?;
    bar.finish_and_clear();
    summary.days_done = state.days_done;
    let schedule = writer
        .fault_schedule()
        .await
        .context("reading the fault log")?;
    summary.faults = dates
        .iter()
        .filter_map(|d| schedule.get(*d).map(|f| (*d, f.clone())))
        .collect();
    Ok(summary)
}

/// Runs `medlake simulate` and prints what it wrote.
pub async fn run(config: &Config, args: &SimulateArgs, quiet: bool) -> Result<()> {
    let mut plan = SimulationPlan::from_config(config, args.days);
    plan.params.seed = args.seed.unwrap_or(plan.params.seed);
    plan.params.scale = args.scale.unwrap_or(plan.params.scale);
    plan.params.start = args.start.unwrap_or(plan.params.start);
    if let Some(list) = &args.faults {
        plan.faults = Faults::parse(list, args.fault_rate, args.fault_days.clone())?;
    }
    let url = args
        .target
        .clone()
        .unwrap_or_else(|| config.business.url.clone());
    let started = std::time::Instant::now();
    let summary = simulate(&url, &plan, quiet).await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "simulated into {}: {} transactions, {} rows written in {:.1} s ({:.0} rows/s); {} days simulated in total",
        medlake_source::redact_url(&url),
        summary.txns,
        summary.rows_written,
        seconds,
        summary.rows_written as f64 / seconds.max(1e-9),
        summary.days_done
    );
    if args.faults.is_some() || !summary.faults.is_empty() {
        println!("{}", faults_line(&summary.faults));
    }
    println!("  {:<22} {:>10} {:>10}", "table", "inserted", "updated");
    for (table, c) in &summary.tables {
        if c.inserted + c.updated > 0 {
            println!("  {:<22} {:>10} {:>10}", table, c.inserted, c.updated);
        }
    }
    Ok(())
}

/// One line saying which faults were injected on which days of this call.
fn faults_line(faults: &[(NaiveDate, Faults)]) -> String {
    if faults.is_empty() {
        return "faults injected: none (no day of this call is a fault day)".to_string();
    }
    let days: Vec<String> = faults
        .iter()
        .map(|(day, f)| format!("{day} {} (rate {})", f.kind_names(), f.rate))
        .collect();
    format!("faults injected: {}", days.join("; "))
}
