//! The monitor: every evaluation interval it samples what the figures describe (the host,
//! the catalog's builds, checks and schedule, the lake's tables, the business database and
//! its captures), evaluates the alert rules over the figures' history, records what
//! changed, and hands firing and resolved alerts to the notification dispatcher. Once a
//! minute it keeps a point of each chart series in the catalog for the monitoring page.
//!
//! It runs inside `medlake serve`; nothing in it needs a Prometheus. A team that runs one
//! scrapes `/metrics` and loads the exported rules instead (or as well).

pub mod capture;
pub mod config;
mod sources;
mod view;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use medlake_catalog::{AlertEvent, FigurePoint, NotificationRecord};
use tokio::sync::watch;

use crate::alerts::engine::Engine;
use crate::alerts::{eval, Alert, AlertState};
use crate::figures::host::HostSampler;
use crate::notify::{deliver_with_retries, Dispatcher, Notification, NotifyConfig, Silence};

pub use capture::{CaptureProgress, LagTracker};
pub use config::MonitorConfig;
pub use sources::{BusinessProbe, BusinessStatus, Sources, TablesProbe};
pub use view::{Component, ComponentState, MonitorView, CHARTS};

/// The shared view of the monitor, read by the web pages and the API.
pub type SharedView = Arc<Mutex<MonitorView>>;

/// The running monitor.
pub struct Monitor {
    config: MonitorConfig,
    sources: Sources,
    engine: Engine,
    dispatcher: Dispatcher,
    host: HostSampler,
    lag: LagTracker,
    http: reqwest::Client,
    view: SharedView,
    last_points: Option<DateTime<Utc>>,
    /// The chart series' expressions, parsed once.
    charts: Vec<(&'static str, promql_parser::parser::Expr)>,
}

impl Monitor {
    /// A monitor of `sources` with `config`.
    pub fn new(config: MonitorConfig, sources: Sources) -> Monitor {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let view = MonitorView::new(&config);
        let mut engine = Engine::new(config.rules.clone());
        engine.restore(still_firing(&sources));
        Monitor {
            engine,
            dispatcher: Dispatcher::new(config.notify.clone()),
            host: HostSampler::new(sources.volumes.clone()),
            lag: LagTracker::default(),
            http,
            view: Arc::new(Mutex::new(view)),
            config,
            sources,
            last_points: None,
            charts: CHARTS
                .iter()
                .filter_map(|(series, expr, _)| Some((*series, eval::parse(expr).ok()?)))
                .collect(),
        }
    }

    /// The view the pages read.
    pub fn view(&self) -> SharedView {
        self.view.clone()
    }

    /// Samples, evaluates and notifies every interval until `stop` turns true.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.config.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.once(Utc::now()).await,
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// One round: sample, evaluate, record, notify.
    pub async fn once(&mut self, now: DateTime<Utc>) {
        let gauges = &crate::figures::global().state;
        self.host.sample(gauges);
        let components = sources::sample(&self.sources, gauges, &mut self.lag, now).await;
        let snapshot = crate::figures::global().snapshot(now.timestamp_millis());
        let evaluation = self.engine.evaluate(snapshot, now);
        for change in &evaluation.changes {
            self.record_change(change, now);
        }
        for (rule, error) in &evaluation.errors {
            tracing::warn!(rule = %rule, error = %error, "an alert rule could not be evaluated");
        }
        let mut alerts: Vec<Alert> = self
            .engine
            .active()
            .filter(|a| a.state == AlertState::Firing)
            .cloned()
            .collect();
        alerts.extend(
            evaluation
                .changes
                .iter()
                .filter(|a| a.state == AlertState::Resolved)
                .cloned(),
        );
        let silences = self.silences(now);
        let notifications = self.dispatcher.tick(now, &alerts, &silences);
        for n in notifications {
            self.deliver(n);
        }
        self.keep_chart_points(now);
        let mut view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        view.updated = Some(now);
        view.components = components;
        view.alerts = self.engine.active().cloned().collect();
        view.silenced = alerts
            .iter()
            .filter(|a| silences.iter().any(|s| s.mutes(a, now)))
            .map(Alert::fingerprint)
            .collect();
        view.rule_errors = evaluation.errors;
    }

    fn record_change(&self, alert: &Alert, now: DateTime<Utc>) {
        let event = AlertEvent {
            fingerprint: alert.fingerprint(),
            rule: alert.rule.clone(),
            severity: alert.severity().to_string(),
            labels: serde_json::to_string(&alert.labels).unwrap_or_default(),
            summary: alert.summary.clone(),
            state: match alert.state {
                AlertState::Resolved => "resolved",
                _ => "firing",
            }
            .to_string(),
            value: alert.value,
            starts_at: alert.starts_at,
            ends_at: alert.ends_at,
            recorded: now,
        };
        tracing::info!(rule = %alert.rule, state = %event.state, "alert");
        if let Err(e) = self.sources.catalog.record_alert_event(&event) {
            tracing::warn!(error = %e, "cannot record an alert");
        }
    }

    fn silences(&self, now: DateTime<Utc>) -> Vec<Silence> {
        match self.sources.catalog.active_silences(now) {
            Ok(records) => records
                .into_iter()
                .filter_map(|r| {
                    let matchers: BTreeMap<String, String> =
                        serde_json::from_str(&r.matchers).ok()?;
                    Some(Silence {
                        id: r.id,
                        matchers,
                        starts_at: r.starts_at,
                        ends_at: r.ends_at,
                        reason: r.reason,
                        created_by: r.created_by,
                    })
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the silences");
                Vec::new()
            }
        }
    }

    /// Sends a notification in the background, retrying with backoff, and records it.
    fn deliver(&self, n: Notification) {
        let Some(receiver) = self.config.notify.receiver(&n.receiver).cloned() else {
            return;
        };
        let http = self.http.clone();
        let catalog = self.sources.catalog.clone();
        let attempts = self.config.delivery_attempts;
        tokio::spawn(async move {
            let outcome =
                deliver_with_retries(&receiver, &n, &http, attempts, Duration::from_secs(2)).await;
            if let Some(error) = &outcome.error {
                tracing::warn!(receiver = %n.receiver, error = %error, "a notification was not delivered");
            }
            let record = NotificationRecord {
                receiver: n.receiver.clone(),
                group_key: n.group_key.clone(),
                status: n.status.as_str().to_string(),
                alerts: n.alerts.len() as i64,
                attempts: i64::from(outcome.attempts),
                delivered: outcome.ok,
                error: outcome.error,
                sent: Utc::now(),
            };
            if let Err(e) = catalog.record_notification(&record) {
                tracing::warn!(error = %e, "cannot record a notification");
            }
        });
    }

    /// Once a minute, a point of each chart series, a day of them kept.
    fn keep_chart_points(&mut self, now: DateTime<Utc>) {
        if self
            .last_points
            .is_some_and(|last| now - last < chrono::Duration::seconds(60))
        {
            return;
        }
        self.last_points = Some(now);
        let history = self.engine.history();
        let points: Vec<FigurePoint> = self
            .charts
            .iter()
            .filter_map(|(series, expr)| {
                let value = eval::evaluate(expr, history, now.timestamp_millis())
                    .ok()?
                    .first()?
                    .value;
                value.is_finite().then(|| FigurePoint {
                    series: series.to_string(),
                    at: now,
                    value,
                })
            })
            .collect();
        let keep_from = now - chrono::Duration::hours(24);
        if let Err(e) = self
            .sources
            .catalog
            .record_figure_points(&points, keep_from)
        {
            tracing::warn!(error = %e, "cannot keep the chart points");
        }
    }
}

/// The alerts whose newest recorded event says firing: what the previous process left
/// firing when it stopped.
fn still_firing(sources: &Sources) -> Vec<Alert> {
    let events = match sources.catalog.alert_events(5_000) {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the alert history");
            return Vec::new();
        }
    };
    let mut seen = std::collections::BTreeSet::new();
    events
        .into_iter()
        .filter(|e| seen.insert(e.fingerprint.clone()))
        .filter(|e| e.state == "firing")
        .filter_map(|e| {
            Some(Alert {
                rule: e.rule,
                labels: serde_json::from_str(&e.labels).ok()?,
                summary: e.summary,
                value: e.value,
                state: AlertState::Firing,
                starts_at: e.starts_at,
                ends_at: None,
            })
        })
        .collect()
}

/// Whether a notification config sends anything at all (for the startup line).
pub fn describe_receivers(notify: &NotifyConfig) -> String {
    if notify.receivers.is_empty() {
        return "no receivers: alerts are shown and recorded, not sent".into();
    }
    let names: Vec<String> = notify
        .receivers
        .iter()
        .map(|r| format!("{} ({})", r.name, r.kind.as_str()))
        .collect();
    format!("alerts go to {}", names.join(", "))
}
