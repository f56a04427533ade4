//! Gauges that describe the state of things, set by the sampler every evaluation
//! interval rather than where things happen: the lake's tables, each day's build, the
//! newest check results, the scheduler, capture, the business database and the host.
//!
//! A gauge set with one value per day or table is reset before it is set again, so a day
//! that left the window or a table that was dropped stops being a series (Prometheus
//! then sees it go stale), instead of keeping its last value for ever.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use medlake_catalog::{Catalog, CheckFilter, CheckStatus, DayState, Outcome, RunKind};
use prometheus::core::Collector;
use prometheus::GaugeVec;

use super::gauge;

/// Days of builds and checks the figures cover, up to the newest recorded (older ones are
/// history, not state).
pub const RECENT_DAYS: u64 = 7;

/// The sampler's gauges.
pub struct StateGauges {
    /// Seconds since each lake table's last commit.
    pub table_commit_age: GaugeVec,
    /// Days between the newest due business day and each table's newest partition.
    pub table_partition_lag: GaugeVec,
    /// How many days behind each table may be (its freshness bound).
    pub table_freshness_bound: GaugeVec,
    /// 1 when a day's build failed (its newest run of some step failed), else 0.
    pub build_failed: GaugeVec,
    /// A day's build time, seconds (sum over its steps' newest runs).
    pub build_seconds: GaugeVec,
    /// Rows a day's build wrote.
    pub build_rows: GaugeVec,
    /// 1 for each check whose newest result on a recent day is not passing.
    pub check_failed: GaugeVec,
    /// 1 when this process' scheduler holds the lease.
    pub scheduler_leader: GaugeVec,
    /// Days of the schedule by state.
    pub schedule_days: GaugeVec,
    /// 1 for a day that failed after its retries (the days after it wait).
    pub schedule_blocked: GaugeVec,
    /// 1 for a due day not done by its deadline.
    pub schedule_late: GaugeVec,
    /// Seconds since capture was last seen caught up with the server's binlog.
    pub capture_lag_seconds: GaugeVec,
    /// Bytes of binlog between the server's position and capture's committed one.
    pub capture_lag_bytes: GaugeVec,
    /// Messages the Kafka lander is behind the end of its topics.
    pub land_lag_messages: GaugeVec,
    /// Seconds from the last landed change's commit to its landing.
    pub land_lag_seconds: GaugeVec,
    /// 1 when the business database answers.
    pub db_up: GaugeVec,
    /// A replica's delay behind its primary, seconds (only when the database is a replica).
    pub db_replica_lag: GaugeVec,
    /// Each component's state for the monitoring page: 1 up, 0 down.
    pub component_up: GaugeVec,
    /// The host's CPU use, 0..1.
    pub host_cpu: GaugeVec,
    /// The host's memory, used and total, bytes.
    pub host_memory: GaugeVec,
    /// How full the volumes of the lake and the catalog are, 0..1.
    pub volume_used_ratio: GaugeVec,
    /// Their free space, bytes.
    pub volume_free_bytes: GaugeVec,
    /// This process' resident memory, bytes.
    pub process_resident_bytes: GaugeVec,
    /// This process' open files.
    pub process_open_files: GaugeVec,
}

impl StateGauges {
    pub(crate) fn new() -> StateGauges {
        StateGauges {
            table_commit_age: gauge(
                "medlake_table_last_commit_age_seconds",
                "Seconds since the table's last commit.",
                &["table"],
            ),
            table_partition_lag: gauge(
                "medlake_table_partition_lag_days",
                "Days between the newest due business day and the table's newest partition.",
                &["table"],
            ),
            table_freshness_bound: gauge(
                "medlake_table_freshness_bound_days",
                "How many days behind the table may be before it is stale.",
                &["table"],
            ),
            build_failed: gauge(
                "medlake_build_day_failed",
                "1 when the day's build failed (the newest run of one of its steps failed).",
                &["day"],
            ),
            build_seconds: gauge(
                "medlake_build_day_seconds",
                "Seconds the day's build took (its steps' newest runs).",
                &["day"],
            ),
            build_rows: gauge(
                "medlake_build_day_rows",
                "Rows the day's build wrote.",
                &["day"],
            ),
            check_failed: gauge(
                "medlake_check_failed",
                "1 for each check whose newest result on a recent day is not passing.",
                &["day", "table", "check", "severity"],
            ),
            scheduler_leader: gauge(
                "medlake_scheduler_leader",
                "1 when this process' scheduler holds the lease.",
                &[],
            ),
            schedule_days: gauge(
                "medlake_schedule_days",
                "Business days in the scheduler's book, by state.",
                &["state"],
            ),
            schedule_blocked: gauge(
                "medlake_schedule_blocked",
                "1 for a day that failed after its retries; the days after it wait.",
                &["day"],
            ),
            schedule_late: gauge(
                "medlake_schedule_late",
                "1 for a due day not done by its deadline.",
                &["day"],
            ),
            capture_lag_seconds: gauge(
                "medlake_capture_lag_seconds",
                "Seconds since capture was last seen caught up with the server's binlog.",
                &["source"],
            ),
            capture_lag_bytes: gauge(
                "medlake_capture_lag_bytes",
                "Bytes of binlog between the server's position and capture's committed position.",
                &["source"],
            ),
            land_lag_messages: gauge(
                "medlake_land_lag_messages",
                "Messages the Kafka lander is behind the end of its topics.",
                &[],
            ),
            land_lag_seconds: gauge(
                "medlake_land_lag_seconds",
                "Seconds from the last landed change's source commit to its landing.",
                &[],
            ),
            db_up: gauge(
                "medlake_business_db_up",
                "1 when the business database answers.",
                &["database"],
            ),
            db_replica_lag: gauge(
                "medlake_business_db_replica_lag_seconds",
                "A replica's delay behind its primary.",
                &["database"],
            ),
            component_up: gauge(
                "medlake_component_up",
                "1 when the component works, 0 when it does not.",
                &["component"],
            ),
            host_cpu: gauge("medlake_host_cpu_ratio", "The host's CPU use, 0 to 1.", &[]),
            host_memory: gauge(
                "medlake_host_memory_bytes",
                "The host's memory, by kind (used, total).",
                &["kind"],
            ),
            volume_used_ratio: gauge(
                "medlake_volume_used_ratio",
                "How full a volume is, 0 to 1.",
                &["volume", "mount"],
            ),
            volume_free_bytes: gauge(
                "medlake_volume_free_bytes",
                "A volume's free space.",
                &["volume", "mount"],
            ),
            process_resident_bytes: gauge(
                "medlake_process_resident_bytes",
                "This process' resident memory.",
                &[],
            ),
            process_open_files: gauge(
                "medlake_process_open_files",
                "This process' open files.",
                &[],
            ),
        }
    }

    pub(crate) fn collectors(&self) -> Vec<Box<dyn Collector>> {
        [
            &self.table_commit_age,
            &self.table_partition_lag,
            &self.table_freshness_bound,
            &self.build_failed,
            &self.build_seconds,
            &self.build_rows,
            &self.check_failed,
            &self.scheduler_leader,
            &self.schedule_days,
            &self.schedule_blocked,
            &self.schedule_late,
            &self.capture_lag_seconds,
            &self.capture_lag_bytes,
            &self.land_lag_messages,
            &self.land_lag_seconds,
            &self.db_up,
            &self.db_replica_lag,
            &self.component_up,
            &self.host_cpu,
            &self.host_memory,
            &self.volume_used_ratio,
            &self.volume_free_bytes,
            &self.process_resident_bytes,
            &self.process_open_files,
        ]
        .into_iter()
        .map(|g| Box::new(g.clone()) as Box<dyn Collector>)
        .collect()
    }

    /// Sets the builds', checks' and schedule's gauges from the catalog: the builds and
    /// checks of the newest day recorded and the [`RECENT_DAYS`] before it (a day rebuilt
    /// long after it falls out of the window: its figures are history then).
    pub fn sample_catalog(&self, catalog: &Catalog) -> Result<(), medlake_catalog::CatalogError> {
        self.sample_builds(catalog)?;
        self.sample_checks(catalog)?;
        self.sample_schedule(catalog)?;
        Ok(())
    }

    fn sample_builds(&self, catalog: &Catalog) -> Result<(), medlake_catalog::CatalogError> {
        // The newest run of each step of each day: a retried step counts by its retry.
        let runs: Vec<_> = catalog
            .recent_runs(20_000)?
            .into_iter()
            .filter(|r| r.kind == RunKind::Build && r.outcome != Outcome::Running)
            .collect();
        let since = window_start(runs.iter().filter_map(|r| r.dt).max());
        let mut newest: BTreeMap<(NaiveDate, String), (Outcome, f64, u64)> = BTreeMap::new();
        for run in runs {
            let Some(dt) = run.dt.filter(|d| *d >= since) else {
                continue;
            };
            let seconds = run
                .ended
                .map(|e| (e - run.started).num_milliseconds() as f64 / 1000.0)
                .unwrap_or(0.0);
            newest
                .entry((dt, run.target.clone()))
                .or_insert((run.outcome, seconds, run.rows));
        }
        let mut days: BTreeMap<NaiveDate, (bool, f64, u64)> = BTreeMap::new();
        for ((dt, _), (outcome, seconds, rows)) in newest {
            let day = days.entry(dt).or_default();
            day.0 |= outcome == Outcome::Failed;
            day.1 += seconds;
            day.2 += rows;
        }
        for g in [&self.build_failed, &self.build_seconds, &self.build_rows] {
            g.reset();
        }
        for (dt, (failed, seconds, rows)) in days {
            let day = dt.to_string();
            self.build_failed
                .with_label_values(&[&day])
                .set(f64::from(u8::from(failed)));
            self.build_seconds.with_label_values(&[&day]).set(seconds);
            self.build_rows.with_label_values(&[&day]).set(rows as f64);
        }
        Ok(())
    }

    fn sample_checks(&self, catalog: &Catalog) -> Result<(), medlake_catalog::CatalogError> {
        let newest = catalog.check_results(&CheckFilter {
            latest: true,
            limit: 1,
            ..Default::default()
        })?;
        let since = window_start(newest.first().map(|r| r.dt));
        let results = catalog.check_results(&CheckFilter {
            since: Some(since),
            latest: true,
            ..Default::default()
        })?;
        self.check_failed.reset();
        for r in results {
            if matches!(r.status, CheckStatus::Fail | CheckStatus::Error) {
                self.check_failed
                    .with_label_values(&[&r.dt.to_string(), &r.table, &r.check_id, &r.severity])
                    .set(1.0);
            }
        }
        Ok(())
    }

    fn sample_schedule(&self, catalog: &Catalog) -> Result<(), medlake_catalog::CatalogError> {
        let book = catalog.schedule_days(None, usize::MAX >> 1)?;
        self.schedule_days.reset();
        for state in [
            DayState::Pending,
            DayState::Running,
            DayState::Succeeded,
            DayState::Failed,
        ] {
            let n = book.iter().filter(|d| d.state == state).count();
            self.schedule_days
                .with_label_values(&[state.as_str()])
                .set(n as f64);
        }
        Ok(())
    }

    /// Sets the scheduler's own gauges from its status.
    pub fn sample_scheduler(&self, status: &crate::schedule::SchedulerStatus) {
        self.scheduler_leader
            .with_label_values::<&str>(&[])
            .set(f64::from(u8::from(status.leader)));
        self.schedule_blocked.reset();
        self.schedule_late.reset();
        if !status.leader {
            return;
        }
        if let Some(day) = status.blocked {
            self.schedule_blocked
                .with_label_values(&[&day.to_string()])
                .set(1.0);
        }
        for day in &status.late_days {
            self.schedule_late
                .with_label_values(&[&day.to_string()])
                .set(1.0);
        }
    }

    /// Sets the tables' gauges: for each table, seconds since its last commit and its
    /// newest partition, against `newest_due` and the bound of days it may lag.
    pub fn sample_tables(&self, tables: &[TableState], newest_due: NaiveDate) {
        for g in [
            &self.table_commit_age,
            &self.table_partition_lag,
            &self.table_freshness_bound,
        ] {
            g.reset();
        }
        for t in tables {
            if let Some(age) = t.commit_age_seconds {
                self.table_commit_age.with_label_values(&[&t.name]).set(age);
            }
            if let Some(newest) = t.newest_partition {
                let lag = (newest_due - newest).num_days().max(0);
                self.table_partition_lag
                    .with_label_values(&[&t.name])
                    .set(lag as f64);
                self.table_freshness_bound
                    .with_label_values(&[&t.name])
                    .set(f64::from(t.freshness_bound_days));
            }
        }
    }
}

/// The first day of the recent window ending at `newest` (none: every day).
fn window_start(newest: Option<NaiveDate>) -> NaiveDate {
    newest
        .and_then(|d| d.checked_sub_days(chrono::Days::new(RECENT_DAYS - 1)))
        .unwrap_or(NaiveDate::MIN)
}

/// What the sampler knows of one lake table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableState {
    /// The table.
    pub name: String,
    /// Seconds since its last commit (none when unknown).
    pub commit_age_seconds: Option<f64>,
    /// Its newest partition.
    pub newest_partition: Option<NaiveDate>,
    /// Days it may lag behind the newest due day.
    pub freshness_bound_days: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_gauges_follow_the_newest_due_day_and_forget_dropped_tables() {
        let gauges = StateGauges::new();
        let d = |n| NaiveDate::from_ymd_opt(2026, 3, n).unwrap();
        let table = |name: &str, newest| TableState {
            name: name.into(),
            commit_age_seconds: Some(5.0),
            newest_partition: Some(newest),
            freshness_bound_days: 1,
        };
        gauges.sample_tables(&[table("ads_a", d(8)), table("ads_b", d(10))], d(10));
        assert_eq!(
            gauges
                .table_partition_lag
                .with_label_values(&["ads_a"])
                .get(),
            2.0
        );
        assert_eq!(
            gauges
                .table_partition_lag
                .with_label_values(&["ads_b"])
                .get(),
            0.0
        );
        gauges.sample_tables(&[table("ads_b", d(10))], d(10));
        let families = gauges.table_partition_lag.collect();
        assert_eq!(
            families[0].get_metric().len(),
            1,
            "ads_a is no longer a series"
        );
    }
}
