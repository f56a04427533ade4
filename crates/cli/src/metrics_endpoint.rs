//! A Prometheus text endpoint (`GET /metrics`) for the long-running commands (`cdc`,
//! `cdc land`), so that lag, throughput and position can be scraped, graphed and alerted on
//! the way the classic stack watches Maxwell and Flume.

use std::fmt::Write;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::http::{header, StatusCode};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

/// The exposition format's content type (Prometheus text, version 0.0.4).
const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// One figure of the exposition.
pub struct Metric {
    /// The metric name, `medlake_...`.
    pub name: &'static str,
    /// What it measures.
    pub help: &'static str,
    /// `counter` or `gauge`.
    pub kind: &'static str,
    /// Labels as `key="value",...` (may be empty).
    pub labels: String,
    /// The value.
    pub value: f64,
}

/// The latest figures, served to every scrape.
#[derive(Clone, Default)]
pub struct Exporter {
    text: Arc<Mutex<String>>,
}

impl Exporter {
    /// Serves `GET /metrics` on `addr` (`host:port`) in the background.
    pub async fn serve(addr: &str) -> Result<Exporter> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("metrics endpoint: cannot listen on {addr}"))?;
        let exporter = Exporter::default();
        let text = exporter.text.clone();
        let app = Router::new()
            .route(
                "/metrics",
                get(move || {
                    let body = text.lock().map(|t| t.clone()).unwrap_or_default();
                    async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], body) }
                }),
            )
            .fallback(|| async { (StatusCode::NOT_FOUND, "only GET /metrics is served here\n") });
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "the metrics endpoint stopped");
            }
        });
        Ok(exporter)
    }

    /// Replaces the figures served.
    pub fn publish(&self, metrics: &[Metric]) {
        if let Ok(mut text) = self.text.lock() {
            *text = render(metrics);
        }
    }
}

/// The Prometheus text exposition format (version 0.0.4).
pub fn render(metrics: &[Metric]) -> String {
    let mut out = String::new();
    let mut described = std::collections::BTreeSet::new();
    for m in metrics {
        if described.insert(m.name) {
            let _ = writeln!(out, "# HELP {} {}", m.name, m.help);
            let _ = writeln!(out, "# TYPE {} {}", m.name, m.kind);
        }
        match m.labels.as_str() {
            "" => {
                let _ = writeln!(out, "{} {}", m.name, m.value);
            }
            labels => {
                let _ = writeln!(out, "{}{{{labels}}} {}", m.name, m.value);
            }
        }
    }
    out
}

/// A label value with `\`, `"` and newlines escaped.
pub fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_describes_each_name_once() {
        let m = |labels: &str, value| Metric {
            name: "medlake_cdc_changes_total",
            help: "Row changes captured.",
            kind: "counter",
            labels: labels.into(),
            value,
        };
        let text = render(&[m("sink=\"lake\"", 3.0), m("sink=\"kafka\"", 4.0)]);
        assert_eq!(
            text,
            "# HELP medlake_cdc_changes_total Row changes captured.\n\
             # TYPE medlake_cdc_changes_total counter\n\
             medlake_cdc_changes_total{sink=\"lake\"} 3\n\
             medlake_cdc_changes_total{sink=\"kafka\"} 4\n"
        );
        assert_eq!(label_value("a\"b"), "a\\\"b");
    }

    #[tokio::test]
    async fn serves_the_latest_figures_and_nothing_else() {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap().to_string();
        drop(probe);
        let exporter = Exporter::serve(&addr).await.unwrap();
        exporter.publish(&[Metric {
            name: "medlake_land_lag_messages",
            help: "Messages behind.",
            kind: "gauge",
            labels: String::new(),
            value: 7.0,
        }]);
        let client = reqwest::Client::new();
        let ok = client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.headers()["content-type"].to_str().unwrap(), CONTENT_TYPE);
        let body = ok.text().await.unwrap();
        assert!(body.ends_with("medlake_land_lag_messages 7\n"), "{body}");
        let other = client.get(format!("http://{addr}/")).send().await.unwrap();
        assert_eq!(other.status(), 404);
    }
}
