//! The scheduler: runs each business day's declared pipeline (`[schedule]`) as child
//! processes, oldest day first, catching up after downtime, retrying a failed day and then
//! holding the days after it; the job DolphinScheduler or Azkaban does in the classic
//! stack.
//!
//! Only the holder of the catalog's `scheduler` lease acts (ZooKeeper's job there): every
//! poll it renews the lease or, when the holder stopped renewing, takes it over. Why no
//! day runs twice at once is argued in the catalog's `schedule.rs`; here:
//! - the lease is renewed while a step runs, and a holder that cannot renew it kills its
//!   step (fail closed) before the lease can lapse into another holder's hands;
//! - a day's end is written with the token that claimed it, so a late writer is ignored.

pub mod config;
pub mod plan;
pub mod runner;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{Days, NaiveDate, NaiveDateTime, Utc};
use medlake_catalog::{Catalog, DayFailure, DayState, SCHEDULER_LEASE};
use serde::Serialize;
use tokio::sync::watch;

pub use config::{Readiness, ScheduleConfig, ScheduleSection, Step};
pub use plan::{next_action, window_dependents, Next};
pub use runner::{StepFailure, StepRunner};

/// Why the scheduler cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// `[schedule]` is not right.
    #[error("{0}")]
    Config(String),
    /// The catalog refused.
    #[error("catalog: {0}")]
    Catalog(#[from] medlake_catalog::CatalogError),
}

/// Hours the business' clock is ahead of UTC (Asia/Shanghai, no daylight saving).
pub const BUSINESS_UTC_OFFSET_HOURS: i64 = 8;

/// Now on the business' clock.
pub fn business_now() -> NaiveDateTime {
    Utc::now().naive_utc() + chrono::Duration::hours(BUSINESS_UTC_OFFSET_HOURS)
}

/// The newest day whose pipeline may start at `now` (business time): day D at D+1 `start`.
pub fn clock_due(now: NaiveDateTime, start: chrono::NaiveTime) -> Option<NaiveDate> {
    let back = if now.time() >= start { 1 } else { 2 };
    now.date().checked_sub_days(Days::new(back))
}

/// Asks the business which day it has completed (the simulator's progress, say).
pub type ReadyProbe = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<Option<NaiveDate>, String>> + Send>>
        + Send
        + Sync,
>;

/// What the scheduler is doing, for `/metrics`, the monitoring page and its alerts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SchedulerStatus {
    /// This scheduler's name (host, process).
    pub holder: String,
    /// Whether it holds the lease (the others stand by).
    pub leader: bool,
    /// The lease's fencing token when held.
    pub token: i64,
    /// When it last looked for work (business time).
    pub last_tick: Option<NaiveDateTime>,
    /// The newest day due.
    pub newest_due: Option<NaiveDate>,
    /// The day and step running now.
    pub running: Option<(NaiveDate, String)>,
    /// A day that failed for good and holds the days after it.
    pub blocked: Option<NaiveDate>,
    /// Due days not done past their deadline.
    pub late_days: Vec<NaiveDate>,
    /// Days that succeeded since this scheduler started.
    pub days_succeeded: u64,
    /// Attempts that failed since it started.
    pub attempts_failed: u64,
    /// What it last said (the last error, or what it waits for).
    pub note: String,
}

/// The one scheduler of this process.
pub struct Scheduler {
    catalog: Arc<Catalog>,
    config: ScheduleConfig,
    runner: StepRunner,
    ready: Option<ReadyProbe>,
    holder: String,
    status: Arc<Mutex<SchedulerStatus>>,
    due_since: Mutex<BTreeMap<NaiveDate, Instant>>,
}

impl Scheduler {
    /// A scheduler named `holder` (unique per process). `ready` answers "which day has
    /// the business completed" when `[schedule] ready` is not the clock.
    pub fn new(
        catalog: Arc<Catalog>,
        config: ScheduleConfig,
        runner: StepRunner,
        ready: Option<ReadyProbe>,
        holder: String,
    ) -> Result<Scheduler, ScheduleError> {
        if config.ready != Readiness::Clock && ready.is_none() {
            return Err(ScheduleError::Config(
                "[schedule] ready = \"simulator\" needs the business database".into(),
            ));
        }
        let status = SchedulerStatus {
            holder: holder.clone(),
            ..Default::default()
        };
        Ok(Scheduler {
            catalog,
            config,
            runner,
            ready,
            holder,
            status: Arc::new(Mutex::new(status)),
            due_since: Mutex::new(BTreeMap::new()),
        })
    }

    /// The status, shared: read it for figures and pages while the scheduler runs.
    pub fn status(&self) -> Arc<Mutex<SchedulerStatus>> {
        self.status.clone()
    }

    /// Runs until `stop` turns true; gives the lease up on the way out.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(holder = %self.holder, "scheduler started");
        loop {
            let worked = tokio::select! {
                worked = self.tick() => worked,
                _ = stop.changed() => false,
            };
            if *stop.borrow() {
                break;
            }
            if !worked {
                tokio::select! {
                    _ = tokio::time::sleep(self.config.poll) => {}
                    _ = stop.changed() => {}
                }
                if *stop.borrow() {
                    break;
                }
            }
        }
        if let Err(e) = self.catalog.release_lease(SCHEDULER_LEASE, &self.holder) {
            tracing::warn!(error = %e, "cannot give the scheduler lease up");
        }
        self.update(|s| s.leader = false);
    }

    fn update(&self, change: impl FnOnce(&mut SchedulerStatus)) {
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut status);
    }

    fn ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.lease_ttl).unwrap_or(chrono::Duration::seconds(60))
    }

    /// One look for work; true when a day ran (look again at once).
    async fn tick(&self) -> bool {
        let now = business_now();
        self.update(|s| s.last_tick = Some(now));
        let lease = match self
            .catalog
            .acquire_lease(SCHEDULER_LEASE, &self.holder, self.ttl())
        {
            Ok(lease) => lease,
            Err(e) => {
                self.update(|s| {
                    s.leader = false;
                    s.note = format!("cannot reach the catalog: {e}");
                });
                return false;
            }
        };
        let Some(lease) = lease else {
            let other = self.catalog.lease(SCHEDULER_LEASE).ok().flatten();
            self.update(|s| {
                s.leader = false;
                s.token = 0;
                s.note = match other {
                    Some(l) => format!("standing by: {} holds the lease", l.holder),
                    None => "standing by".into(),
                };
            });
            return false;
        };
        self.update(|s| {
            s.leader = true;
            s.token = lease.token;
        });
        let newest_due = match self.newest_due(now).await {
            Ok(day) => day,
            Err(e) => {
                self.update(|s| s.note = format!("cannot tell which days are due: {e}"));
                return false;
            }
        };
        let book = match self.catalog.schedule_days(None, usize::MAX >> 1) {
            Ok(book) => book,
            Err(e) => {
                self.update(|s| s.note = format!("cannot read the schedule: {e}"));
                return false;
            }
        };
        let first = self
            .config
            .from
            .or_else(|| book.first().map(|d| d.day))
            .or(newest_due);
        let Some(first) = first else {
            self.update(|s| s.note = "no day is due yet".into());
            return false;
        };
        self.note_lateness(&book, first, newest_due, now);
        match next_action(&book, first, newest_due, now, lease.token) {
            Next::Run(day) => {
                self.update(|s| s.blocked = None);
                self.run_day(day, lease.token).await;
                true
            }
            Next::Retry { day, until } => {
                self.update(|s| s.note = format!("{day} failed; retried at {until}"));
                false
            }
            Next::Blocked { day, waiting } => {
                self.update(|s| {
                    s.blocked = Some(day);
                    s.note = format!("{day} failed after its retries; {waiting} later days wait for a rerun of it");
                });
                false
            }
            Next::Busy(day) => {
                self.update(|s| s.note = format!("{day} is running"));
                false
            }
            Next::Idle => {
                self.update(|s| {
                    s.blocked = None;
                    s.note = "every due day is done".into();
                });
                false
            }
        }
    }

    async fn newest_due(&self, now: NaiveDateTime) -> Result<Option<NaiveDate>, String> {
        let due = match (&self.config.ready, &self.ready) {
            (Readiness::Simulator, Some(probe)) => probe().await?,
            _ => clock_due(now, self.config.start),
        };
        self.update(|s| s.newest_due = due);
        Ok(due)
    }

    /// Due days not done within the time from `start` to `deadline` after they fell due.
    fn note_lateness(
        &self,
        book: &[medlake_catalog::ScheduleDay],
        first: NaiveDate,
        newest_due: Option<NaiveDate>,
        now: NaiveDateTime,
    ) {
        let Some(deadline) = self.config.deadline else {
            self.update(|s| s.late_days.clear());
            return;
        };
        let allowance = (deadline - self.config.start).to_std().unwrap_or_default();
        let done: Vec<NaiveDate> = book
            .iter()
            .filter(|d| d.state == DayState::Succeeded)
            .map(|d| d.day)
            .collect();
        let mut due_since = self.due_since.lock().unwrap_or_else(|p| p.into_inner());
        let mut late = Vec::new();
        for day in first.iter_days().take_while(|d| Some(*d) <= newest_due) {
            if done.contains(&day) {
                due_since.remove(&day);
                continue;
            }
            let overdue = match self.config.ready {
                // On the clock a day falls due at D+1 `start`.
                Readiness::Clock => day
                    .checked_add_days(Days::new(1))
                    .map(|next| now > next.and_time(deadline))
                    .unwrap_or(false),
                // Simulated days fall due when the simulator finishes them.
                Readiness::Simulator => {
                    due_since.entry(day).or_insert_with(Instant::now).elapsed() > allowance
                }
            };
            if overdue {
                late.push(day);
            }
        }
        self.update(|s| s.late_days = late);
    }

    async fn run_day(&self, day: NaiveDate, token: i64) {
        let claimed = match self.catalog.claim_day(day, &self.holder, token) {
            Ok(Some(claimed)) => claimed,
            Ok(None) => return,
            Err(e) => {
                self.update(|s| s.note = format!("cannot claim {day}: {e}"));
                return;
            }
        };
        tracing::info!(day = %day, attempt = claimed.attempts, "running the day's pipeline");
        let mut failure = None;
        for step in &self.config.steps {
            self.update(|s| s.running = Some((day, step.as_str().to_string())));
            if let Err(e) = self.catalog.set_day_step(day, token, step.as_str()) {
                tracing::warn!(error = %e, "cannot record the step");
            }
            let outcome = tokio::select! {
                outcome = self.runner.run(*step, day) => outcome,
                _ = self.keep_lease() => Err(StepFailure {
                    message: format!("{}: stopped, this scheduler lost its lease", step.as_str()),
                }),
            };
            if let Err(f) = outcome {
                failure = Some((*step, f.message));
                break;
            }
        }
        self.update(|s| s.running = None);
        let next_try = (claimed.attempts <= i64::from(self.config.retries)).then(|| {
            business_now() + chrono::Duration::from_std(self.config.retry_delay).unwrap_or_default()
        });
        let recorded = match &failure {
            None => self.catalog.finish_day(day, token, None),
            Some((step, message)) => self.catalog.finish_day(
                day,
                token,
                Some(DayFailure {
                    step: step.as_str(),
                    message,
                    next_try,
                }),
            ),
        };
        match (&failure, recorded) {
            (None, Ok(true)) => {
                tracing::info!(day = %day, "the day's pipeline succeeded");
                self.update(|s| s.days_succeeded += 1);
            }
            (Some((_, message)), Ok(true)) => {
                tracing::warn!(day = %day, error = %message, "the day's pipeline failed");
                self.update(|s| {
                    s.attempts_failed += 1;
                    s.note = message.clone();
                });
            }
            (_, Ok(false)) => {
                tracing::warn!(day = %day, "another scheduler took the day over; its end is not recorded here")
            }
            (_, Err(e)) => tracing::warn!(day = %day, error = %e, "cannot record the day's end"),
        }
    }

    /// Renews the lease every poll while a step runs; returns when it is lost (another
    /// holder has it, or it could not be renewed for a whole lease time).
    async fn keep_lease(&self) {
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(self.config.poll).await;
            match self
                .catalog
                .acquire_lease(SCHEDULER_LEASE, &self.holder, self.ttl())
            {
                Ok(Some(_)) => renewed = Instant::now(),
                Ok(None) => return,
                // Give up before the lease can lapse to someone else: half its time.
                Err(_) if renewed.elapsed() > self.config.lease_ttl / 2 => return,
                Err(e) => tracing::warn!(error = %e, "cannot renew the scheduler lease"),
            }
        }
    }
}

/// Asks for `day` to run again, and the days after it whose windows of up to
/// `window_days` read it, up to the newest day in the book; returns the days set pending.
pub fn request_rerun(
    catalog: &Catalog,
    day: NaiveDate,
    window_days: u32,
    who: &str,
) -> Result<Vec<NaiveDate>, ScheduleError> {
    let book = catalog.schedule_days(Some(day), usize::MAX >> 1)?;
    let newest = book.iter().map(|d| d.day).max().unwrap_or(day);
    let mut days = vec![day];
    days.extend(window_dependents(day, window_days, newest));
    let why = format!("rerun asked by {who}");
    Ok(catalog.request_rerun(&days, &why)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_falls_due_at_the_next_days_start() {
        let start = chrono::NaiveTime::from_hms_opt(1, 30, 0).unwrap();
        let at = |h, m| {
            NaiveDate::from_ymd_opt(2026, 3, 10)
                .unwrap()
                .and_hms_opt(h, m, 0)
                .unwrap()
        };
        let day = |d| NaiveDate::from_ymd_opt(2026, 3, d);
        assert_eq!(clock_due(at(1, 29), start), day(8));
        assert_eq!(clock_due(at(1, 30), start), day(9));
        assert_eq!(clock_due(at(23, 0), start), day(9));
    }
}
