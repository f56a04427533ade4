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
pub mod governance;
pub mod http;
pub mod lineage_graph;
pub mod login;
pub mod operations;
pub mod pg;
mod pg_functions;
pub mod query;
mod rows;
mod sessions;
pub mod tls;
mod web;

use std::sync::Arc;
use std::time::Duration;

use medlake_catalog::Catalog;
use medlake_lake::Lake;
use tracing::warn;

pub use accounts::{Accounts, Principal, Role};
pub use error::{Result, ServeError};
pub use governance::GovernanceOptions;
pub use http::{BuildLauncher, HttpOptions, LaunchError, PacsLogin, TableDoc};
pub use login::{DirectoryOptions, ThrottleRules};
pub use operations::Operations;
pub use query::{
    Channel, Limits, QueryError, QueryLimits, QueryOutput, QueryService,
    MAX_STATEMENT_BYTES_CEILING, SERVE_STACK_BYTES,
};
pub use tls::TlsOptions;

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
    /// What one statement and one account may use.
    pub limits: QueryLimits,
    /// Where the policies come from.
    pub governance: GovernanceOptions,
    /// The certificate and key of HTTPS and PostgreSQL TLS (`None`: plain text).
    pub tls: Option<TlsOptions>,
    /// The directory for directory logins (`None`: local accounts only).
    pub directory: Option<DirectoryOptions>,
    /// Lockout and rate limits of failed logins.
    pub throttle: ThrottleRules,
    /// The monitor (and the scheduler's status) to run beside serving; `None`: none.
    pub operations: Option<Operations>,
}

/// Serves HTTP and the PostgreSQL protocol until one of them fails.
pub async fn serve(lake: Lake, catalog: Arc<Catalog>, options: ServeOptions) -> Result<()> {
    let accounts = Accounts::new(catalog.clone())?;
    // Settings that cannot work stop the server before it listens.
    let tls = options.tls.as_ref().map(tls::Tls::load).transpose()?;
    let directory = options
        .directory
        .clone()
        .map(login::Directory::new)
        .transpose()?;
    let logins = Arc::new(login::Logins::new(accounts, directory, options.throttle));
    let queries = Arc::new(
        QueryService::open_governed(lake, catalog, options.limits.clone(), &options.governance)
            .await?,
    );
    let operations = options
        .operations
        .clone()
        .map(|ops| Arc::new(operations::start(ops, queries.clone())));
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
    tokio::spawn(release_freed_memory_regularly());
    let http = http::serve(
        queries.clone(),
        logins.clone(),
        tls.as_ref().map(|t| t.http.clone()),
        options.http.clone(),
        operations,
        &options.http_addr,
    );
    let pg = pg::serve(
        queries,
        logins,
        tls.map(|t| t.pg),
        &options.pg_host,
        options.pg_port,
        options.pg_row_limit,
    );
    tokio::try_join!(http, pg).map(|_| ())
}

/// Hands memory that finished statements freed back to the operating system every few
/// seconds. glibc's allocator keeps freed memory in its per-thread arenas: one large
/// statement (a long `IN` list is planned through hundreds of MB) would otherwise leave
/// the server that much bigger for good. Elsewhere the allocator decides by itself.
async fn release_freed_memory_regularly() {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // SAFETY: malloc_trim only returns free memory of the allocator's own arenas
            // to the kernel; it takes the arenas' locks and touches no live allocation.
            let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
        }
    }
}
