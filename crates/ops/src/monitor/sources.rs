//! Where the monitor's state figures come from. The catalog, the scheduler and the host
//! are read here; the lake's tables and the business database are read through probes the
//! serving process hands in (this crate depends on neither the lake nor a database driver).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use medlake_catalog::Catalog;

use super::capture::{CaptureProgress, LagTracker};
use super::view::{Component, ComponentState};
use crate::figures::state::{StateGauges, TableState};
use crate::schedule::SchedulerStatus;

/// A boxed future, as probes return them.
pub type Probe<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Reads the lake's tables: each one's last commit and newest partition.
pub type TablesProbe = Arc<dyn Fn() -> Probe<Result<Vec<TableState>, String>> + Send + Sync>;

/// Asks the business database how it is, with its captures' progress.
pub type BusinessProbe = Arc<dyn Fn() -> Probe<BusinessStatus> + Send + Sync>;

/// The business database as one probe saw it.
#[derive(Debug, Clone, Default)]
pub struct BusinessStatus {
    /// Its name for labels (host and database, no credentials).
    pub database: String,
    /// Whether it answered.
    pub up: bool,
    /// Why not, or what it is (one line).
    pub detail: String,
    /// Where its binlog ends, as a growing number (none: no binlog, or no answer).
    pub binlog_end: Option<i64>,
    /// The captures reading it.
    pub captures: Vec<CaptureProgress>,
    /// How far it trails its primary, when it is a replica.
    pub replica_lag_seconds: Option<f64>,
}

/// Everything the monitor reads.
#[derive(Clone)]
pub struct Sources {
    /// The catalog (builds, checks, schedule; and where alerts are recorded).
    pub catalog: Arc<Catalog>,
    /// The lake's tables.
    pub tables: Option<TablesProbe>,
    /// The business database.
    pub business: Option<BusinessProbe>,
    /// This process' scheduler.
    pub scheduler: Option<Arc<Mutex<SchedulerStatus>>>,
    /// Volumes to watch: (name, a path on it), e.g. the lake's root and the catalog file.
    pub volumes: Vec<(String, PathBuf)>,
}

/// Samples every source into `gauges`; returns the components' states.
pub(crate) async fn sample(
    sources: &Sources,
    gauges: &StateGauges,
    lag: &mut LagTracker,
    now: DateTime<Utc>,
) -> Vec<Component> {
    let mut components = Vec::new();
    let status = sources
        .scheduler
        .as_ref()
        .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).clone());
    // The day the tables should have reached: the scheduler's newest due day. Without a
    // scheduler nothing runs by the clock, so a table is stale when it lags the lake's
    // newest partition (the data's own clock), not the calendar.
    let newest_due = status.as_ref().and_then(|s| s.newest_due);
    components.push(match gauges.sample_catalog(&sources.catalog) {
        Err(e) => Component::new("catalog", ComponentState::Down, e.to_string()),
        Ok(()) => Component::new("catalog", ComponentState::Up, "answering"),
    });
    components.push(scheduler_component(status.as_ref(), gauges));
    components.push(tables_component(sources, gauges, newest_due).await);
    match &sources.business {
        Some(probe) => {
            let business = probe().await;
            components.extend(business_components(&business, gauges, lag, now));
        }
        None => {
            components.push(Component::new(
                "business_db",
                ComponentState::Unknown,
                "not watched",
            ));
            components.push(Component::new(
                "capture",
                ComponentState::Unknown,
                "not watched",
            ));
        }
    }
    components.push(Component::new(
        "lander",
        ComponentState::Unknown,
        "`medlake cdc land` serves its own /metrics (--metrics)",
    ));
    components.push(Component::new(
        "kafka",
        ComponentState::Unknown,
        "watched through the lander's lag",
    ));
    components.push(Component::new("serving", ComponentState::Up, "answering"));
    components
}

fn scheduler_component(status: Option<&SchedulerStatus>, gauges: &StateGauges) -> Component {
    let Some(status) = status else {
        return Component::new(
            "scheduler",
            ComponentState::Unknown,
            "no [schedule] in the config",
        );
    };
    gauges.sample_scheduler(status);
    let state = if !status.leader {
        ComponentState::Up
    } else if status.blocked.is_some() || !status.late_days.is_empty() {
        ComponentState::Degraded
    } else {
        ComponentState::Up
    };
    let detail = match &status.running {
        Some((day, step)) if status.leader => format!("running {step} of {day}"),
        _ => status.note.clone(),
    };
    Component::new("scheduler", state, detail)
}

async fn tables_component(
    sources: &Sources,
    gauges: &StateGauges,
    newest_due: Option<chrono::NaiveDate>,
) -> Component {
    let Some(probe) = &sources.tables else {
        return Component::new("lake", ComponentState::Unknown, "not watched");
    };
    match probe().await {
        Ok(tables) => {
            let newest_due =
                newest_due.or_else(|| tables.iter().filter_map(|t| t.newest_partition).max());
            if let Some(day) = newest_due {
                gauges.sample_tables(&tables, day);
            }
            let stale = tables
                .iter()
                .filter(|t| match (t.newest_partition, newest_due) {
                    (Some(p), Some(d)) => (d - p).num_days() > i64::from(t.freshness_bound_days),
                    _ => false,
                })
                .count();
            let state = if stale > 0 {
                ComponentState::Degraded
            } else {
                ComponentState::Up
            };
            Component::new(
                "lake",
                state,
                format!(
                    "{} tables, {stale} behind their freshness bound",
                    tables.len()
                ),
            )
        }
        Err(e) => Component::new("lake", ComponentState::Down, e),
    }
}

fn business_components(
    business: &BusinessStatus,
    gauges: &StateGauges,
    lag: &mut LagTracker,
    now: DateTime<Utc>,
) -> Vec<Component> {
    gauges
        .db_up
        .with_label_values(&[&business.database])
        .set(f64::from(u8::from(business.up)));
    gauges.db_replica_lag.reset();
    if let Some(seconds) = business.replica_lag_seconds {
        gauges
            .db_replica_lag
            .with_label_values(&[&business.database])
            .set(seconds);
    }
    let db = Component::new(
        "business_db",
        if business.up {
            ComponentState::Up
        } else {
            ComponentState::Down
        },
        business.detail.clone(),
    );
    if business.captures.is_empty() {
        return vec![
            db,
            Component::new(
                "capture",
                ComponentState::Unknown,
                "no binlog capture on record",
            ),
        ];
    }
    let lags = lag.sample(now, business.binlog_end, &business.captures);
    gauges.capture_lag_seconds.reset();
    gauges.capture_lag_bytes.reset();
    let mut worst = 0.0f64;
    for ((key, seconds), progress) in lags.iter().zip(&business.captures) {
        gauges
            .capture_lag_seconds
            .with_label_values(&[key])
            .set(*seconds);
        if let Some(bytes) = progress.bytes_behind {
            gauges
                .capture_lag_bytes
                .with_label_values(&[key])
                .set(bytes as f64);
        }
        worst = worst.max(*seconds);
    }
    let state = if worst > 60.0 {
        ComponentState::Degraded
    } else {
        ComponentState::Up
    };
    vec![
        db,
        Component::new(
            "capture",
            state,
            format!("{} capture(s), at most {worst:.0} s behind", lags.len()),
        ),
    ]
}
