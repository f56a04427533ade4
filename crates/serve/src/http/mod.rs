//! The HTTP front: the login page, the web UI's pages, and the JSON API they call.
//! `auth` (who is asking), `pages` (login and the web UI), `api` (the JSON API),
//! `catalog` (search, lineage and metric pages of the data catalog), `quality` (check
//! results, histories and profiles) and `imaging` (DICOM studies, series and previews)
//! hang off the router here.
//!
//! A browser logs in with a form and gets an HttpOnly, SameSite=Strict session cookie;
//! every state-changing request of a session must carry the session's CSRF token in
//! `X-CSRF-Token`. Programs use `Authorization: Bearer <API token>` instead. Nothing but
//! the login page, static assets and `/healthz` answers without one of the two.
//!
//! With `[serve.tls]` the front speaks HTTPS only ([`crate::tls`]); the login form is
//! checked by [`Logins`] (the throttle, then the account's own password or the directory).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::dashboards::Dashboards;
use crate::login::Logins;
use crate::query::{QueryError, QueryService};
use crate::sessions::Sessions;
use crate::{Result, ServeError};

mod api;
mod auth;
mod catalog;
mod governance;
mod imaging;
mod monitoring;
mod pages;
mod quality;

pub use governance::audit_csv;

use api::{
    dashboard, dashboard_list, history, me, new_token, query, runs, start_build, table_detail,
    tables,
};
use catalog::{lineage, lineage_tables, metric, search, LineageCache};
use pages::{app_page, login, login_page, logout, static_file};

/// How the HTTP front behaves.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// How long a login lasts.
    pub session_lifetime: Duration,
    /// Mark the session cookie `Secure` (browsers then send it over HTTPS and to
    /// localhost only).
    pub secure_cookies: bool,
    /// Starts a warehouse build of a day in the background (the run history shows it);
    /// `None` when this server cannot start builds.
    pub build_launcher: Option<BuildLauncher>,
    /// What the models declare about their tables, for the table catalog pages.
    pub table_docs: BTreeMap<String, TableDoc>,
    /// The models and metrics, for the catalog's search, lineage and metric pages (`None`
    /// when they do not load: those pages then say they are unavailable).
    pub project: Option<Arc<medlake_warehouse::Project>>,
    /// The PACS login previews fetch images with (`[imaging]`), for instances ingested
    /// from Orthanc or DICOMweb.
    pub imaging_login: PacsLogin,
}

/// A PACS login (user, password), or none; its `Debug` hides the password.
#[derive(Clone, Default)]
pub struct PacsLogin(pub Option<(String, String)>);

impl std::fmt::Debug for PacsLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some((user, _)) => write!(f, "PacsLogin({user}:***)"),
            None => f.write_str("PacsLogin(none)"),
        }
    }
}

/// A table's documentation from its model declaration.
#[derive(Debug, Clone, Default)]
pub struct TableDoc {
    /// What the table holds.
    pub description: String,
    /// One row per what.
    pub grain: String,
    /// Column docs by name.
    pub columns: BTreeMap<String, String>,
    /// Columns holding protected health information.
    pub phi: Vec<String>,
}

/// Starts `medlake build --day D` in the background. Given by whoever runs the server,
/// which knows how builds are configured; serving itself never writes the lake.
#[derive(Clone)]
pub struct BuildLauncher(
    pub Arc<dyn Fn(chrono::NaiveDate) -> std::result::Result<(), LaunchError> + Send + Sync>,
);

/// Why a build could not be started (the build's own outcome is in the run history).
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The program that builds could not be found.
    #[error("cannot find the medlake program: {0}")]
    Program(#[source] std::io::Error),
    /// The build process could not be started.
    #[error("cannot start the build: {0}")]
    Spawn(#[source] std::io::Error),
}

impl std::fmt::Debug for BuildLauncher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BuildLauncher")
    }
}

/// Everything a request handler may need.
pub struct AppState {
    queries: Arc<QueryService>,
    logins: Arc<Logins>,
    /// Whether this front is HTTPS.
    tls: bool,
    sessions: Sessions,
    options: HttpOptions,
    dashboards: Dashboards,
    /// The platform's lineage graph, read again from the catalog when older than 30 s
    /// (`catalog::LINEAGE_MAX_AGE`).
    lineage: LineageCache,
    /// The monitor and scheduler of this process (`None`: no monitoring here).
    operations: Option<Arc<crate::operations::OperationsState>>,
}

/// Serves the web UI and API on `addr` until the process ends.
pub async fn serve(
    queries: Arc<QueryService>,
    logins: Arc<Logins>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut options: HttpOptions,
    operations: Option<Arc<crate::operations::OperationsState>>,
    addr: &str,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ServeError::Listen {
            what: "HTTP",
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
    let sessions = Sessions::new(queries.catalog().clone(), options.session_lifetime);
    // Over HTTPS the session cookie is always Secure.
    options.secure_cookies |= tls.is_some();
    let state = Arc::new(AppState {
        queries,
        logins,
        tls: tls.is_some(),
        sessions,
        options,
        dashboards: Dashboards::builtin()?,
        lineage: LineageCache::default(),
        operations,
    });
    let app = router(state).into_make_service_with_connect_info::<ClientAddr>();
    let served = match tls {
        Some(acceptor) => {
            let listener = crate::tls::TlsListener::new(listener, acceptor);
            axum::serve(listener, app).await
        }
        None => axum::serve(listener, app).await,
    };
    served.map_err(|e| ServeError::Listen {
        what: "HTTP",
        addr: addr.to_string(),
        reason: e.to_string(),
    })
}

/// The client's address, for the failed-login throttle; unknown (`None`) when the router
/// runs without a listener (tests).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) Option<std::net::IpAddr>);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for ClientAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        ClientAddr(Some(stream.remote_addr().ip()))
    }
}

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>>
    for ClientAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, crate::tls::TlsListener>) -> Self {
        ClientAddr(Some(stream.remote_addr().ip()))
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> std::result::Result<ClientAddr, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<axum::extract::ConnectInfo<ClientAddr>>()
            .map_or(ClientAddr(None), |info| info.0))
    }
}

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(monitoring::metrics))
        .route("/api/monitoring", get(monitoring::overview))
        .route("/api/monitoring/charts", get(monitoring::charts))
        .route("/api/monitoring/silences", post(monitoring::add_silence))
        .route(
            "/api/monitoring/silences/{id}",
            axum::routing::delete(monitoring::end_silence),
        )
        .route("/api/schedule/rerun", post(monitoring::rerun))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/", get(app_page))
        .route("/static/{file}", get(static_file))
        .route("/api/me", get(me))
        .route("/api/query", post(query))
        .route("/api/history", get(history))
        .route("/api/audit", get(governance::audit))
        .route("/api/logins", get(governance::logins))
        .route(
            "/api/policies",
            get(governance::policies).post(governance::store_policies),
        )
        .route("/api/tables", get(tables))
        .route("/api/tables/{name}", get(table_detail))
        .route("/api/search", get(search))
        .route("/api/lineage", get(lineage))
        .route("/api/lineage/tables", get(lineage_tables))
        .route("/api/metrics/{name}", get(metric))
        .route("/api/quality", get(quality::overview))
        .route(
            "/api/quality/checks/{check_id}",
            get(quality::check_history),
        )
        .route("/api/quality/tables/{table}", get(quality::table_quality))
        .route("/api/imaging/studies", get(imaging::studies))
        .route("/api/imaging/studies/{study_uid}", get(imaging::study))
        .route(
            "/api/imaging/series/{series_uid}/preview.png",
            get(imaging::preview),
        )
        .route("/api/runs", get(runs))
        .route("/api/tokens", post(new_token))
        .route("/api/builds", post(start_build))
        .route("/api/dashboards", get(dashboard_list))
        .route("/api/dashboards/{id}", get(dashboard))
        .layer(axum::middleware::map_request(read_body_first))
        .with_state(state)
}

/// The largest request body the server reads (axum's default limit for JSON bodies).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Reads a request's whole body (up to [`MAX_BODY_BYTES`]) before any handler sees it.
/// A refusal (no session, forged CSRF token) is answered before the handler would read the
/// body; a server that answers and closes with unread bytes resets the connection, and the
/// client, still writing, may lose the answer. Reading first makes every refusal arrive.
async fn read_body_first(
    request: axum::extract::Request,
) -> std::result::Result<axum::extract::Request, ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the request body is over {MAX_BODY_BYTES} bytes or was cut short"),
            )
        })?;
    Ok(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
}

/// An API refusal: a status and one clear message, as `{"error": {...}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({ "error": { "kind": kind, "message": message.into() } }),
        }
    }

    fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "log in first, or send Authorization: Bearer <API token>",
        )
    }

    fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> ApiError {
        let message = e.to_string();
        match e {
            QueryError::Parse { line, column, .. } => ApiError {
                status: StatusCode::BAD_REQUEST,
                body: json!({ "error": {
                    "kind": "syntax", "message": message, "line": line, "column": column
                } }),
            },
            QueryError::Refused(_) => ApiError::new(StatusCode::FORBIDDEN, "refused", message),
            QueryError::Failed(_) => ApiError::new(StatusCode::BAD_REQUEST, "failed", message),
            QueryError::Timeout(_) => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout", message)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// A `YYYY-MM-DD` day from a request, or a 400 that says so.
fn parse_day(text: &str) -> Result<chrono::NaiveDate, ApiError> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            format!("day {text:?} is not YYYY-MM-DD"),
        )
    })
}

/// Escapes text for HTML.
pub fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
