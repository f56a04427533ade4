//! Serving: where people and BI tools read the lake.
//!
//! One process answers HTTP (the web UI and its JSON API) and the PostgreSQL wire protocol
//! (psql, DBeaver, Grafana, Superset, drivers), both over the same DataFusion session and
//! through the one query path ([`QueryService`]): every statement is admitted for an
//! authenticated account, planned, run and written to the audit with its outcome.
//! Accounts live in the catalog ([`Accounts`]).

pub mod accounts;
mod compat;
pub mod dashboards;
mod error;
pub mod http;
pub mod pg;
mod pg_functions;
pub mod query;
mod rows;
mod sessions;
mod web;

use std::sync::Arc;
use std::time::Duration;

use medlake_catalog::Catalog;
use medlake_lake::Lake;
use tracing::warn;

pub use accounts::{Accounts, Principal, Role};
pub use error::{Result, ServeError};
pub use http::{BuildLauncher, HttpOptions, LaunchError, TableDoc};
pub use query::{Channel, QueryError, QueryOutput, QueryService};

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// HTTP address, e.g. `127.0.0.1:8787`.
    pub http_addr: String,
    /// PostgreSQL protocol host.
    pub pg_host: String,
    /// PostgreSQL protocol port.
    pub pg_port: u16,
    /// HTTP behaviour (sessions, cookies).
    pub http: HttpOptions,
    /// How often new lake versions (a finished build or sync) are picked up.
    pub refresh_every: Duration,
    /// Rows a PostgreSQL query returns at most (`None`: all; results stream, so the
    /// server's memory does not grow with them).
    pub pg_row_limit: Option<usize>,
}

/// Serves HTTP and the PostgreSQL protocol until one of them fails.
pub async fn serve(lake: Lake, catalog: Arc<Catalog>, options: ServeOptions) -> Result<()> {
    let accounts = Accounts::new(catalog.clone())?;
    let queries = Arc::new(QueryService::open(lake, catalog).await?);
    let refresher = queries.clone();
    let every = options.refresh_every;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = refresher.refresh().await {
                warn!(error = %e, "cannot pick up new lake versions");
            }
        }
    });
    let http = http::serve(
        queries.clone(),
        accounts.clone(),
        options.http.clone(),
        &options.http_addr,
    );
    let pg = pg::serve(
        queries,
        accounts,
        &options.pg_host,
        options.pg_port,
        options.pg_row_limit,
    );
    tokio::try_join!(http, pg).map(|_| ())
}
