//! What `medlake serve` runs for operations beside serving: the scheduler of `[schedule]`,
//! and the monitor with its probe of the business database and its captures (binlog
//! positions read from the server and from the catalog), the volumes of the lake and the
//! catalog, and the rules and receivers of `[alerts]`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use medlake_catalog::Catalog;
use medlake_cdc::{BinlogPosition, BinlogSource};
use medlake_ops::monitor::{BusinessProbe, BusinessStatus, CaptureProgress, MonitorConfig};
use medlake_ops::schedule::SchedulerStatus;
use medlake_serve::Operations;
use tokio::sync::watch;

use crate::config::Config;
use crate::schedule_cmd;

/// A scheduler running in this process: its status, and the switch that stops it.
pub struct RunningScheduler {
    /// What it is doing.
    pub status: Arc<Mutex<SchedulerStatus>>,
    /// Turn true to stop it (it gives its lease up).
    pub stop: watch::Sender<bool>,
    /// Ends when it has stopped.
    pub handle: tokio::task::JoinHandle<()>,
}

impl RunningScheduler {
    /// Stops it and waits (a few seconds at most) for it to give its lease up.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.handle).await;
    }
}

/// Starts the scheduler of `[schedule]`, if the config declares one.
pub fn start_scheduler(
    config: &Config,
    catalog: Arc<Catalog>,
    config_file: Option<&Path>,
) -> Result<Option<RunningScheduler>> {
    let Some(schedule) = schedule_cmd::schedule_config(config)? else {
        return Ok(None);
    };
    let scheduler = schedule_cmd::scheduler(config, schedule, catalog, config_file)?;
    let status = scheduler.status();
    let (stop, stopped) = watch::channel(false);
    let handle = tokio::spawn(scheduler.run(stopped));
    Ok(Some(RunningScheduler {
        status,
        stop,
        handle,
    }))
}

/// The monitor's settings and sources for `medlake serve`.
pub fn operations(
    config: &Config,
    config_file: Option<&Path>,
    catalog: Arc<Catalog>,
    scheduler: Option<Arc<Mutex<SchedulerStatus>>>,
) -> Result<Operations> {
    Ok(Operations {
        monitor: monitor_config(config, config_file)?,
        business: business_probe(&config.business.url, catalog),
        scheduler,
        window_days: schedule_cmd::window_days(config),
        volumes: volumes(config),
    })
}

/// The rules, interval, receivers and routes of `[alerts]`; a rule file named there is
/// read beside the config file.
pub fn monitor_config(config: &Config, config_file: Option<&Path>) -> Result<MonitorConfig> {
    let base = config_file
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    MonitorConfig::from_section(config.alerts.as_ref(), &base)
        .map_err(anyhow::Error::msg)
        .context("config")
}

/// The lake's folder (when the lake is local) and the catalog file's.
fn volumes(config: &Config) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let lake = config
        .lake
        .url
        .strip_prefix("file://")
        .unwrap_or(&config.lake.url);
    if !lake.contains("://") {
        out.push(("lake".to_string(), existing_ancestor(Path::new(lake))));
    }
    if config.catalog.url.is_empty() {
        out.push((
            "catalog".to_string(),
            existing_ancestor(&config.catalog.path),
        ));
    }
    out
}

/// `path`, or its nearest ancestor that exists (a lake not yet written).
fn existing_ancestor(path: &Path) -> PathBuf {
    let absolute = std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf());
    absolute
        .ancestors()
        .find(|p| p.exists())
        .map(Path::to_path_buf)
        .unwrap_or(absolute)
}

/// The business database's probe: MySQL/MariaDB are asked for their binlog and replica
/// state, and the catalog for the captures reading them; a SQLite file is up when it
/// exists.
fn business_probe(url: &str, catalog: Arc<Catalog>) -> Option<BusinessProbe> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = PathBuf::from(path);
        return Some(Arc::new(move || {
            let path = path.clone();
            Box::pin(async move {
                let up = path.is_file();
                BusinessStatus {
                    database: "sqlite".into(),
                    up,
                    detail: if up {
                        "SQLite file".into()
                    } else {
                        format!("{} is missing", path.display())
                    },
                    ..Default::default()
                }
            })
        }));
    }
    let source = Arc::new(BinlogSource::new(url).ok()?);
    Some(Arc::new(move || {
        let source = source.clone();
        let catalog = catalog.clone();
        Box::pin(async move { probe_server(&source, &catalog).await })
    }))
}

/// How long one probe of the business database may take before it counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

async fn probe_server(source: &BinlogSource, catalog: &Catalog) -> BusinessStatus {
    let prefix = source.describe();
    let mut status = BusinessStatus {
        database: prefix.clone(),
        ..Default::default()
    };
    let committed: Vec<(String, BinlogPosition)> = catalog
        .binlog_positions()
        .unwrap_or_default()
        .into_iter()
        .filter(|(key, _, _)| key.starts_with(&prefix))
        .map(|(key, file, offset)| (key, BinlogPosition::new(file, offset)))
        .collect();
    match tokio::time::timeout(PROBE_TIMEOUT, source.ping()).await {
        Ok(Ok(())) => status.up = true,
        Ok(Err(e)) => status.detail = e.to_string(),
        Err(_) => status.detail = format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
    }
    let server = if status.up {
        match tokio::time::timeout(PROBE_TIMEOUT, source.server_status()).await {
            Ok(Ok(server)) => Some(server),
            Ok(Err(e)) => {
                status.detail = format!("answers; binlog not readable: {e}");
                None
            }
            Err(_) => None,
        }
    } else {
        None
    };
    if let Some(server) = &server {
        status.detail = format!(
            "binlog at {}:{}",
            server.position.file, server.position.offset
        );
        status.binlog_end = server.position.version();
        status.replica_lag_seconds = server.replica_lag_seconds;
    }
    status.captures = committed
        .into_iter()
        .filter_map(|(key, position)| {
            Some(CaptureProgress {
                key,
                committed: position.version()?,
                bytes_behind: server.as_ref().and_then(|s| s.bytes_after(&position)),
            })
        })
        .collect();
    status
}
