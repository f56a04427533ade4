//! `GET /metrics` for the long-running commands (`cdc`, `cdc land`, `schedule run`): the
//! process' figures (medlake-ops' registry, the same `medlake serve` serves) in
//! Prometheus' text format, so lag, throughput and position can be scraped, graphed and
//! alerted on the way the classic stack watches Maxwell and Flume.

use anyhow::{Context, Result};
use axum::http::{header, StatusCode};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

/// Serves `GET /metrics` on `addr` (`host:port`) in the background.
pub async fn serve(addr: &str) -> Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("metrics endpoint: cannot listen on {addr}"))?;
    let app = Router::new()
        .route(
            "/metrics",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, medlake_ops::figures::CONTENT_TYPE)],
                    medlake_ops::figures::global().render(),
                )
            }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "only GET /metrics is served here\n") });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "the metrics endpoint stopped");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_the_figures_and_nothing_else() {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap().to_string();
        drop(probe);
        serve(&addr).await.unwrap();
        medlake_ops::figures::global()
            .capture
            .landed(5, 1, 1.0, 7, 3);
        let client = reqwest::Client::new();
        let ok = client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(
            ok.headers()["content-type"].to_str().unwrap(),
            medlake_ops::figures::CONTENT_TYPE
        );
        let body = ok.text().await.unwrap();
        assert!(body.contains("medlake_land_lag_messages 7\n"), "{body}");
        assert!(
            body.contains("# TYPE medlake_land_changes_total counter"),
            "{body}"
        );
        let other = client.get(format!("http://{addr}/")).send().await.unwrap();
        assert_eq!(other.status(), 404);
    }
}
