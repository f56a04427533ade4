//! What the monitoring page shows, kept by the monitor after each round: every component
//! with its state and key figure, the alerts pending and firing, which of them a silence
//! mutes, and the rules that could not be evaluated.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::config::MonitorConfig;
use crate::alerts::Alert;

/// The series kept for the monitoring page's 24-hour charts: (name, PromQL, what it is).
/// Each is evaluated once a minute over the figures and kept a day in the catalog.
pub const CHARTS: &[(&str, &str, &str)] = &[
    (
        "query_p95_seconds",
        "histogram_quantile(0.95, sum by (le) (rate(medlake_query_duration_seconds_bucket[5m])))",
        "95th percentile of statement latency, seconds",
    ),
    (
        "queries_per_second",
        "sum(rate(medlake_queries_total[5m]))",
        "statements per second",
    ),
    (
        "capture_lag_seconds",
        "max(medlake_capture_lag_seconds)",
        "change capture behind its server, seconds",
    ),
    (
        "lake_volume_used_ratio",
        "max(medlake_volume_used_ratio{volume=\"lake\"})",
        "how full the lake's volume is",
    ),
    ("host_cpu_ratio", "medlake_host_cpu_ratio", "host CPU use"),
    (
        "process_resident_bytes",
        "medlake_process_resident_bytes",
        "the server's resident memory, bytes",
    ),
    (
        "refused_logins_5m",
        "sum(increase(medlake_logins_total{outcome=\"refused\"}[5m]))",
        "refused logins over 5 minutes",
    ),
];

/// A component's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentState {
    /// Works.
    Up,
    /// Does not work.
    Down,
    /// Works, but something needs a look (lagging, standing by, nearly full).
    Degraded,
    /// Not configured or not watched by this server.
    Unknown,
}

/// One component of the platform on the monitoring page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    /// `business_db`, `capture`, `lander`, `kafka`, `lake`, `catalog`, `scheduler`, `serving`.
    pub name: String,
    /// Its state.
    pub state: ComponentState,
    /// Its key figure or why it is in that state, one line without row values.
    pub detail: String,
}

impl Component {
    /// A component.
    pub fn new(name: &str, state: ComponentState, detail: impl Into<String>) -> Component {
        Component {
            name: name.to_string(),
            state,
            detail: detail.into(),
        }
    }
}

/// The monitor's latest round.
#[derive(Debug, Clone, Serialize)]
pub struct MonitorView {
    /// When the round ran.
    pub updated: Option<DateTime<Utc>>,
    /// How often rounds run, seconds.
    pub interval_seconds: u64,
    /// Where the rules came from.
    pub rules_origin: String,
    /// The rules: name, severity, expression, `for` in seconds, summary.
    pub rules: Vec<RuleShown>,
    /// The receivers' names and kinds.
    pub receivers: Vec<(String, String)>,
    /// Every component.
    pub components: Vec<Component>,
    /// Alerts pending or firing.
    pub alerts: Vec<Alert>,
    /// Fingerprints of the firing alerts a silence mutes.
    pub silenced: Vec<String>,
    /// Rules that could not be evaluated, with why.
    pub rule_errors: Vec<(String, String)>,
}

/// A rule as the page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RuleShown {
    /// Its name.
    pub name: String,
    /// Its severity.
    pub severity: String,
    /// Its expression.
    pub expr: String,
    /// Its `for`, seconds.
    pub for_seconds: u64,
    /// Its summary template.
    pub summary: String,
}

impl MonitorView {
    pub(crate) fn new(config: &MonitorConfig) -> MonitorView {
        MonitorView {
            updated: None,
            interval_seconds: config.interval.as_secs(),
            rules_origin: config.rules_origin.clone(),
            rules: config
                .rules
                .rules
                .iter()
                .map(|r| RuleShown {
                    name: r.name.clone(),
                    severity: r.severity.clone(),
                    expr: r.expr_text.clone(),
                    for_seconds: r.for_.as_secs(),
                    summary: r.summary.clone(),
                })
                .collect(),
            receivers: config
                .notify
                .receivers
                .iter()
                .map(|r| (r.name.clone(), r.kind.as_str().to_string()))
                .collect(),
            components: Vec::new(),
            alerts: Vec::new(),
            silenced: Vec::new(),
            rule_errors: Vec::new(),
        }
    }
}
