//! `medlake schedule`: the daily pipeline of `[schedule]` run without a person: in the
//! foreground (`run`; `medlake serve` runs the same scheduler beside serving), its book of
//! days (`status`), and reruns of a day with the days whose windows read it (`rerun`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use medlake_catalog::{Catalog, DayState, SCHEDULER_LEASE};
use medlake_ops::schedule::{
    request_rerun, Readiness, ReadyProbe, ScheduleConfig, Scheduler, StepRunner,
};
use medlake_sim::{BusinessWriter, Target};
use tokio::sync::watch;

use crate::config::Config;

/// `medlake schedule`.
#[derive(Debug, clap::Args)]
pub struct ScheduleCommand {
    #[command(subcommand)]
    sub: ScheduleSub,
}

#[derive(Debug, clap::Subcommand)]
enum ScheduleSub {
    /// Run the scheduler in the foreground until Ctrl-C: each due day's steps as child
    /// processes, oldest day first. Several may run on one catalog: one acts, the others
    /// stand by and take over when it stops.
    Run,
    /// Show the book of days (state, attempts, step, message) and who holds the lease.
    Status {
        /// Days shown, newest last.
        #[arg(long, default_value_t = 30)]
        limit: usize,
    },
    /// Run a day again, and the days after it whose windows read it (the scheduler picks
    /// them up in order).
    Rerun {
        /// The day.
        #[arg(long, value_name = "YYYY-MM-DD")]
        day: NaiveDate,
        /// Only this day, not the days whose windows read it.
        #[arg(long)]
        only: bool,
    },
}

/// Runs `medlake schedule`.
pub async fn run(
    config: &Config,
    command: &ScheduleCommand,
    config_file: Option<&Path>,
) -> Result<()> {
    match &command.sub {
        ScheduleSub::Run => run_foreground(config, config_file).await,
        ScheduleSub::Status { limit } => status(&config.open_catalog()?, *limit),
        ScheduleSub::Rerun { day, only } => {
            let catalog = config.open_catalog()?;
            let window = if *only { 1 } else { window_days(config) };
            let days = request_rerun(&catalog, *day, window, &whoami())?;
            if days.is_empty() {
                bail!("{day} is running now; ask again when it has ended");
            }
            let shown: Vec<String> = days.iter().map(NaiveDate::to_string).collect();
            println!("set to run again: {}", shown.join(", "));
            Ok(())
        }
    }
}

/// The schedule the config declares, or why it cannot run.
pub fn schedule_config(config: &Config) -> Result<Option<ScheduleConfig>> {
    config
        .schedule
        .as_ref()
        .map(|s| s.check().context("config"))
        .transpose()
}

/// The scheduler of this process for `config`, to run with [`Scheduler::run`].
pub fn scheduler(
    config: &Config,
    schedule: ScheduleConfig,
    catalog: Arc<Catalog>,
    config_file: Option<&Path>,
) -> Result<Scheduler> {
    let runner = StepRunner {
        program: std::env::current_exe().context("cannot find the medlake program")?,
        config_file: config_file.map(Path::to_path_buf),
        log_dir: log_dir(config),
    };
    let ready = match schedule.ready {
        Readiness::Clock => None,
        Readiness::Simulator => Some(simulator_progress(config.business.url.clone())),
    };
    Ok(Scheduler::new(
        catalog,
        schedule,
        runner,
        ready,
        holder_name(),
    )?)
}

async fn run_foreground(config: &Config, config_file: Option<&Path>) -> Result<()> {
    let Some(schedule) = schedule_config(config)? else {
        bail!("no [schedule] in the config: declare the daily pipeline first (docs/operations.md)");
    };
    let catalog = Arc::new(config.open_catalog()?);
    let scheduler = scheduler(config, schedule, catalog, config_file)?;
    let status = scheduler.status();
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(scheduler.run(stopped));
    println!(
        "scheduler {} started; Ctrl-C stops it",
        lock(&status).holder
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    let _ = stop.send(true);
    running.await.context("the scheduler stopped abnormally")?;
    println!("stopped; the lease is free for another scheduler");
    Ok(())
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn status(catalog: &Catalog, limit: usize) -> Result<()> {
    match catalog.lease(SCHEDULER_LEASE)? {
        Some(l) if l.expires > chrono::Local::now().naive_local() => {
            println!(
                "scheduler: {} (token {}, lease until {})",
                l.holder,
                l.token,
                l.expires.format("%H:%M:%S")
            )
        }
        Some(l) => println!(
            "scheduler: none running (last: {}, lease lapsed {})",
            l.holder,
            l.expires.format("%Y-%m-%d %H:%M:%S")
        ),
        None => println!("scheduler: never ran on this catalog"),
    }
    let book = catalog.schedule_days(None, usize::MAX >> 1)?;
    let shown = &book[book.len().saturating_sub(limit)..];
    if shown.is_empty() {
        println!("no day scheduled yet");
        return Ok(());
    }
    println!(
        "{:<10}  {:<9}  {:>8}  {:<5}  {:<19}  message",
        "day", "state", "attempts", "step", "finished"
    );
    for d in shown {
        let finished = d
            .finished
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let message = match (d.state, d.next_try) {
            (DayState::Failed, Some(at)) => format!(
                "{} (retry at {})",
                d.message.clone().unwrap_or_default(),
                at.format("%H:%M:%S")
            ),
            (DayState::Failed, None) => format!(
                "{} (retries spent: rerun it)",
                d.message.clone().unwrap_or_default()
            ),
            _ => d.message.clone().unwrap_or_default(),
        };
        println!(
            "{:<10}  {:<9}  {:>8}  {:<5}  {:<19}  {}",
            d.day,
            d.state.as_str(),
            d.attempts,
            d.step.as_deref().unwrap_or(""),
            finished,
            message
        );
    }
    Ok(())
}

/// The longest window of any measure: rebuilding a day makes that many days stale.
pub fn window_days(config: &Config) -> u32 {
    config
        .project()
        .map(|p| p.metrics.longest_window())
        .unwrap_or(1)
}

/// Where the scheduled days' logs go: beside the catalog file.
fn log_dir(config: &Config) -> PathBuf {
    config
        .catalog
        .path
        .parent()
        .unwrap_or(Path::new("."))
        .join("schedule-logs")
}

/// This process as a lease holder: host, process id and a random part (a restarted
/// process with the same pid is another holder).
pub fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "host".into());
    let random = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{host}:{}:{random:08x}", std::process::id())
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "the command line".into())
}

/// The newest day the simulator has finished in the business database.
fn simulator_progress(url: String) -> ReadyProbe {
    Arc::new(move || {
        let url = url.clone();
        Box::pin(async move {
            let target = Target::parse(&url).map_err(|e| e.to_string())?;
            let mut writer = BusinessWriter::open(&target)
                .await
                .map_err(|e| e.to_string())?;
            let state = writer.state().await.map_err(|e| e.to_string());
            let _ = writer.close().await;
            Ok(state?.and_then(|s| {
                let done = u64::from(s.days_done);
                (done > 0)
                    .then(|| s.params.start.checked_add_days(chrono::Days::new(done - 1)))
                    .flatten()
            }))
        })
    })
}
