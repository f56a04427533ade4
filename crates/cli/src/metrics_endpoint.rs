//! A Prometheus text endpoint (`GET /metrics`) for the long-running commands (`cdc`,
//! `cdc land`), so that lag, throughput and position can be scraped, graphed and alerted on
//! the way the classic stack watches Maxwell and Flume.

use std::fmt::Write;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let text = text.clone();
                // A scraper that hangs up early costs nothing worth reporting.
                tokio::spawn(async move { answer(stream, &text).await.ok() });
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

async fn answer(mut stream: TcpStream, text: &Mutex<String>) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let line = request.split(|&b| b == b'\r').next().unwrap_or_default();
    let (status, body) = if line.starts_with(b"GET /metrics ") {
        let body = text.lock().map(|t| t.clone()).unwrap_or_default();
        ("200 OK", body)
    } else {
        (
            "404 Not Found",
            "only GET /metrics is served here\n".to_string(),
        )
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
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
        let get = |path: &'static str| {
            let addr = addr.clone();
            async move {
                let mut s = TcpStream::connect(&addr).await.unwrap();
                s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                    .await
                    .unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).await.unwrap();
                out
            }
        };
        let ok = get("/metrics").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
        assert!(ok.ends_with("medlake_land_lag_messages 7\n"), "{ok}");
        assert!(get("/").await.starts_with("HTTP/1.1 404"));
    }
}
