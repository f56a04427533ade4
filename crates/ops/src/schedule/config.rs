//! `[schedule]`: the declared daily pipeline.
//!
//! ```toml
//! [schedule]
//! start = "01:30"            # business time (UTC+08:00): day D runs from D+1 01:30
//! steps = ["sync", "build", "check"]
//! from = "2026-03-01"        # the first day to run (default: the newest due day)
//! ready = "clock"            # or "simulator": a day is ready when the simulator finished it
//! retries = 2                # a failed day is tried this many more times
//! retry_delay = "5m"
//! deadline = "06:00"         # day D late when not done by D+1 06:00 (an alert)
//! poll = "30s"
//! lease_ttl = "60s"
//! ```

use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

use super::ScheduleError;
use crate::duration::parse_duration;

/// One step of a day's pipeline, each run as `medlake <step> --day D`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Land the business database's day in the lake (`medlake sync --day D`).
    Sync,
    /// Build the warehouse's day (`medlake build --day D`), checks gating each table.
    Build,
    /// Run every table's checks on the published day and record them (`medlake check`).
    Check,
}

impl Step {
    /// The command's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Sync => "sync",
            Step::Build => "build",
            Step::Check => "check",
        }
    }
}

/// When a business day counts as complete, so that it can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Readiness {
    /// Day D is ready at D+1 `start`, business time (the business runs around the clock).
    #[default]
    Clock,
    /// Day D is ready once the simulator has written it (`medlake_sim_state` in the
    /// business database): simulated days keep their own calendar.
    Simulator,
}

/// The `[schedule]` section as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSection {
    start: Option<String>,
    steps: Option<Vec<Step>>,
    from: Option<NaiveDate>,
    #[serde(default)]
    ready: Readiness,
    retries: Option<u32>,
    retry_delay: Option<String>,
    deadline: Option<String>,
    poll: Option<String>,
    lease_ttl: Option<String>,
}

/// The schedule, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleConfig {
    /// When a day's pipeline starts on the next day, business time.
    pub start: NaiveTime,
    /// Its steps, in order.
    pub steps: Vec<Step>,
    /// The first day to run.
    pub from: Option<NaiveDate>,
    /// When a day is complete.
    pub ready: Readiness,
    /// Extra attempts of a failed day.
    pub retries: u32,
    /// The wait before each retry.
    pub retry_delay: Duration,
    /// When the day's pipeline should be done, on the next day, business time.
    pub deadline: Option<NaiveTime>,
    /// How often the scheduler looks for work.
    pub poll: Duration,
    /// How long the scheduler's lease lasts unless renewed.
    pub lease_ttl: Duration,
}

impl Default for ScheduleConfig {
    fn default() -> ScheduleConfig {
        ScheduleConfig {
            start: NaiveTime::from_hms_opt(1, 30, 0).unwrap_or_default(),
            steps: vec![Step::Sync, Step::Build, Step::Check],
            from: None,
            ready: Readiness::Clock,
            retries: 2,
            retry_delay: Duration::from_secs(300),
            deadline: NaiveTime::from_hms_opt(6, 0, 0),
            poll: Duration::from_secs(30),
            lease_ttl: Duration::from_secs(60),
        }
    }
}

impl ScheduleSection {
    /// The schedule this section declares, or the first mistake in it.
    pub fn check(&self) -> Result<ScheduleConfig, ScheduleError> {
        let d = ScheduleConfig::default();
        let config = ScheduleConfig {
            start: self
                .start
                .as_deref()
                .map_or(Ok(d.start), |t| time("start", t))?,
            steps: self.steps.clone().unwrap_or(d.steps),
            from: self.from,
            ready: self.ready,
            retries: self.retries.unwrap_or(d.retries),
            retry_delay: duration("retry_delay", self.retry_delay.as_deref(), d.retry_delay)?,
            deadline: match self.deadline.as_deref() {
                Some("") | Some("none") => None,
                Some(t) => Some(time("deadline", t)?),
                None => d.deadline,
            },
            poll: duration("poll", self.poll.as_deref(), d.poll)?,
            lease_ttl: duration("lease_ttl", self.lease_ttl.as_deref(), d.lease_ttl)?,
        };
        if config.steps.is_empty() {
            return Err(bad("steps", "name at least one of sync, build, check"));
        }
        if config.poll.is_zero() || config.lease_ttl < config.poll * 2 {
            return Err(bad(
                "lease_ttl",
                "must be at least twice `poll` (the holder renews it every poll)",
            ));
        }
        Ok(config)
    }
}

fn bad(key: &str, reason: &str) -> ScheduleError {
    ScheduleError::Config(format!("[schedule] {key}: {reason}"))
}

fn time(key: &str, text: &str) -> Result<NaiveTime, ScheduleError> {
    NaiveTime::parse_from_str(text, "%H:%M")
        .map_err(|_| bad(key, &format!("{text:?} is not a time of day as HH:MM")))
}

fn duration(key: &str, text: Option<&str>, default: Duration) -> Result<Duration, ScheduleError> {
    text.map_or(Ok(default), |t| parse_duration(t).map_err(|e| bad(key, &e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> ScheduleSection {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_and_mistakes() {
        let config = section("").check().unwrap();
        assert_eq!(config, ScheduleConfig::default());
        let config = section(
            "start = \"02:15\"\nsteps = [\"build\"]\nready = \"simulator\"\npoll = \"1s\"\nlease_ttl = \"5s\"\ndeadline = \"none\"",
        )
        .check()
        .unwrap();
        assert_eq!(config.start, NaiveTime::from_hms_opt(2, 15, 0).unwrap());
        assert_eq!(config.steps, vec![Step::Build]);
        assert_eq!(config.ready, Readiness::Simulator);
        assert_eq!(config.deadline, None);
        let e = section("start = \"25:00\"")
            .check()
            .unwrap_err()
            .to_string();
        assert!(e.contains("[schedule] start"), "{e}");
        let e = section("poll = \"1m\"\nlease_ttl = \"1m\"")
            .check()
            .unwrap_err()
            .to_string();
        assert!(e.contains("lease_ttl"), "{e}");
        assert!(toml::from_str::<ScheduleSection>("steps = [\"deploy\"]").is_err());
        assert!(toml::from_str::<ScheduleSection>("startt = \"01:00\"").is_err());
    }
}
