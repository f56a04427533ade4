//! The figures: one Prometheus registry per process, which `/metrics` serves, the alert
//! evaluator reads back ([`Figures::snapshot`]) and the monitoring page charts.
//!
//! Counters and histograms are bumped where things happen (a statement's audit row, a
//! login); gauges that describe state (tables, builds, checks, the scheduler, the host)
//! are set by the sampler that runs every evaluation interval ([`state`]). Labels carry
//! names (channels, tables, days, checks), never a row value, so nothing a figure carries
//! can leak health information into a scrape, an alert or a notification.

pub mod capture;
pub mod host;
pub mod state;

use std::sync::OnceLock;

use prometheus::core::Collector;
use prometheus::proto::MetricType;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::series::{Labels, Sample, Snapshot};

/// The exposition's content type (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Latency buckets of a statement, seconds: from a cached dashboard tile to a long scan.
const QUERY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Every figure medlake exposes.
pub struct Figures {
    registry: Registry,
    /// Statements run, by channel (`http`, `pg`, `dashboard`, ...) and outcome.
    pub queries: IntCounterVec,
    /// Their latency, by channel and outcome.
    pub query_seconds: HistogramVec,
    /// Login attempts by channel and outcome (`ok`, `refused`).
    pub logins: IntCounterVec,
    /// Statements that read PHI unmasked (allowed by a policy, and audited).
    pub phi_unmasked_reads: IntCounterVec,
    /// Open sessions by channel (web sessions, PostgreSQL connections).
    pub sessions: IntGaugeVec,
    /// Gauges set by the sampler; see [`state`].
    pub state: state::StateGauges,
    /// The capture processes' figures.
    pub capture: capture::CaptureFigures,
}

impl Figures {
    fn new() -> Figures {
        let registry = Registry::new();
        let figures = Figures {
            queries: counter(
                "medlake_queries_total",
                "Statements run, by channel and outcome.",
                &["channel", "outcome"],
            ),
            query_seconds: histogram(
                "medlake_query_duration_seconds",
                "Statement latency, by channel and outcome.",
                &["channel", "outcome"],
            ),
            logins: counter(
                "medlake_logins_total",
                "Login attempts by channel and outcome (ok, refused).",
                &["channel", "outcome"],
            ),
            phi_unmasked_reads: counter(
                "medlake_phi_unmasked_reads_total",
                "Statements that read protected health information unmasked, by channel.",
                &["channel"],
            ),
            sessions: IntGaugeVec::new(
                Opts::new("medlake_sessions", "Open sessions by channel."),
                &["channel"],
            )
            .unwrap_or_else(|e| unreachable_figure(e)),
            state: state::StateGauges::new(),
            capture: capture::CaptureFigures::new(),
            registry,
        };
        let own: Vec<Box<dyn Collector>> = vec![
            Box::new(figures.queries.clone()),
            Box::new(figures.query_seconds.clone()),
            Box::new(figures.logins.clone()),
            Box::new(figures.phi_unmasked_reads.clone()),
            Box::new(figures.sessions.clone()),
        ];
        let all = own
            .into_iter()
            .chain(figures.state.collectors())
            .chain(figures.capture.collectors());
        for collector in all {
            if let Err(e) = figures.registry.register(collector) {
                tracing::error!(error = %e, "a figure could not be registered");
            }
        }
        figures
    }

    /// Counts a statement's end (called where its audit row is written).
    pub fn query_finished(&self, channel: &str, outcome: &str, seconds: f64, phi_unmasked: bool) {
        self.queries.with_label_values(&[channel, outcome]).inc();
        self.query_seconds
            .with_label_values(&[channel, outcome])
            .observe(seconds);
        if phi_unmasked {
            self.phi_unmasked_reads.with_label_values(&[channel]).inc();
        }
    }

    /// Counts a login attempt.
    pub fn login(&self, channel: &str, ok: bool) {
        let outcome = if ok { "ok" } else { "refused" };
        self.logins.with_label_values(&[channel, outcome]).inc();
    }

    /// The registry in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot render the figures");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// Every series now, flattened as a scrape would read them (histograms as `_bucket`,
    /// `_sum`, `_count`), for the evaluator's history.
    pub fn snapshot(&self, at_ms: i64) -> Snapshot {
        let mut samples = Vec::new();
        for family in self.registry.gather() {
            let name = family.name();
            for metric in family.get_metric() {
                let labels: Labels = metric
                    .get_label()
                    .iter()
                    .map(|l| (l.name().to_string(), l.value().to_string()))
                    .collect();
                match family.get_field_type() {
                    MetricType::COUNTER => push(
                        &mut samples,
                        name,
                        &labels,
                        metric.get_counter().get_value(),
                    ),
                    MetricType::GAUGE => {
                        push(&mut samples, name, &labels, metric.get_gauge().get_value())
                    }
                    MetricType::HISTOGRAM => {
                        let h = metric.get_histogram();
                        for bucket in h.get_bucket() {
                            let mut with_le = labels.clone();
                            with_le.insert("le".into(), le(bucket.upper_bound()));
                            push(
                                &mut samples,
                                &format!("{name}_bucket"),
                                &with_le,
                                bucket.cumulative_count() as f64,
                            );
                        }
                        let mut inf = labels.clone();
                        inf.insert("le".into(), "+Inf".into());
                        push(
                            &mut samples,
                            &format!("{name}_bucket"),
                            &inf,
                            h.get_sample_count() as f64,
                        );
                        push(
                            &mut samples,
                            &format!("{name}_sum"),
                            &labels,
                            h.get_sample_sum(),
                        );
                        push(
                            &mut samples,
                            &format!("{name}_count"),
                            &labels,
                            h.get_sample_count() as f64,
                        );
                    }
                    // medlake declares no summaries or untyped figures.
                    _ => {}
                }
            }
        }
        Snapshot { at_ms, samples }
    }
}

/// The process' figures.
pub fn global() -> &'static Figures {
    static FIGURES: OnceLock<Figures> = OnceLock::new();
    FIGURES.get_or_init(Figures::new)
}

fn push(samples: &mut Vec<Sample>, name: &str, labels: &Labels, value: f64) {
    samples.push(Sample {
        name: name.to_string(),
        labels: labels.clone(),
        value,
    });
}

/// A bucket bound as Prometheus writes it.
fn le(bound: f64) -> String {
    if bound.is_infinite() {
        "+Inf".into()
    } else {
        bound.to_string()
    }
}

/// A figure whose name or labels are wrong is a bug in this file, found by the first test.
pub(crate) fn unreachable_figure(e: prometheus::Error) -> ! {
    panic!("a figure is declared wrongly: {e}")
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| unreachable_figure(e))
}

fn histogram(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(QUERY_BUCKETS.to_vec()),
        labels,
    )
    .unwrap_or_else(|e| unreachable_figure(e))
}

/// A gauge vector (used by [`state`]).
pub(crate) fn gauge(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    GaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| unreachable_figure(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_figure_registers_renders_and_snapshots() {
        let figures = Figures::new();
        figures.query_finished("pg", "ok", 0.03, false);
        figures.query_finished("pg", "ok", 3.0, true);
        figures.login("http", false);
        figures
            .state
            .db_up
            .with_label_values(&["business"])
            .set(1.0);
        let text = figures.render();
        assert!(
            text.contains("medlake_queries_total{channel=\"pg\",outcome=\"ok\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("medlake_query_duration_seconds_bucket"),
            "{text}"
        );
        assert!(
            text.contains("medlake_phi_unmasked_reads_total{channel=\"pg\"} 1"),
            "{text}"
        );
        let snapshot = figures.snapshot(1_000);
        let find = |name: &str, le: Option<&str>| {
            snapshot
                .samples
                .iter()
                .find(|s| s.name == name && s.labels.get("le").map(String::as_str) == le)
                .map(|s| s.value)
        };
        assert_eq!(
            find("medlake_query_duration_seconds_bucket", Some("+Inf")),
            Some(2.0)
        );
        assert_eq!(
            find("medlake_query_duration_seconds_bucket", Some("0.05")),
            Some(1.0)
        );
        assert_eq!(
            find("medlake_query_duration_seconds_count", None),
            Some(2.0)
        );
        assert_eq!(find("medlake_logins_total", None), Some(1.0));
        assert_eq!(find("medlake_business_db_up", None), Some(1.0));
    }
}
