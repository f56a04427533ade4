//! Operations inside the server: the monitor (figures sampled, alert rules evaluated,
//! notifications sent) started beside serving, with the lake's tables read through the
//! server's own view of the lake; what the monitoring pages and API read.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{NaiveDate, Utc};
use medlake_ops::figures::state::TableState;
use medlake_ops::monitor::{
    BusinessProbe, Monitor, MonitorConfig, SharedView, Sources, TablesProbe,
};
use medlake_ops::schedule::SchedulerStatus;
use tokio::sync::watch;

use crate::query::QueryService;

/// What the server runs for operations (`medlake serve` builds it from the config).
#[derive(Clone)]
pub struct Operations {
    /// Rules, interval, receivers and routes.
    pub monitor: MonitorConfig,
    /// The business database's probe (none: not watched).
    pub business: Option<BusinessProbe>,
    /// The scheduler running in this process, if any.
    pub scheduler: Option<Arc<Mutex<SchedulerStatus>>>,
    /// The longest window of any measure (a rerun of a day also reruns the days whose
    /// windows read it).
    pub window_days: u32,
    /// Volumes to watch: (name, a path on it).
    pub volumes: Vec<(String, PathBuf)>,
}

impl std::fmt::Debug for Operations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operations")
            .field("rules", &self.monitor.rules.rules.len())
            .field("interval", &self.monitor.interval)
            .field("scheduler", &self.scheduler.is_some())
            .finish_non_exhaustive()
    }
}

/// What the HTTP handlers reach.
pub struct OperationsState {
    /// The monitor's latest round.
    pub(crate) view: SharedView,
    /// The scheduler of this process.
    pub(crate) scheduler: Option<Arc<Mutex<SchedulerStatus>>>,
    /// See [`Operations::window_days`].
    pub(crate) window_days: u32,
    /// Stops the monitor when the server stops.
    _stop: watch::Sender<bool>,
}

/// Starts the monitor in the background.
pub(crate) fn start(ops: Operations, queries: Arc<QueryService>) -> OperationsState {
    let sources = Sources {
        catalog: queries.catalog().clone(),
        tables: Some(tables_probe(queries)),
        business: ops.business.clone(),
        scheduler: ops.scheduler.clone(),
        volumes: ops.volumes.clone(),
    };
    let monitor = Monitor::new(ops.monitor, sources);
    let view = monitor.view();
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(monitor.run(stopped));
    OperationsState {
        view,
        scheduler: ops.scheduler,
        window_days: ops.window_days,
        _stop: stop,
    }
}

/// Each table's version as last seen, with its commit time (ms since the epoch).
type CommitTimes = BTreeMap<String, (u64, Option<i64>)>;

/// Reads the lake's tables as the server sees them (refreshed every `refresh_seconds`);
/// a table's last commit time is read from its log only when its version changed.
fn tables_probe(queries: Arc<QueryService>) -> TablesProbe {
    let commits: Arc<Mutex<CommitTimes>> = Arc::default();
    Arc::new(move || {
        let queries = queries.clone();
        let commits = commits.clone();
        Box::pin(async move {
            let now = Utc::now().timestamp_millis();
            let mut out = Vec::new();
            for table in queries.tables().await {
                let known = lock(&commits).get(&table.name).copied();
                let millis = match known {
                    Some((version, millis)) if version == table.version => millis,
                    _ => {
                        let millis = queries
                            .lake()
                            .last_commit_millis(&table.name)
                            .await
                            .unwrap_or(None);
                        lock(&commits).insert(table.name.clone(), (table.version, millis));
                        millis
                    }
                };
                let newest_partition = table
                    .partitions
                    .iter()
                    .rev()
                    .find_map(|p| NaiveDate::parse_from_str(&p.dt, "%Y-%m-%d").ok());
                out.push(TableState {
                    name: table.name.clone(),
                    commit_age_seconds: millis.map(|m| (now - m).max(0) as f64 / 1000.0),
                    newest_partition,
                    freshness_bound_days: 1,
                });
            }
            Ok(out)
        })
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
