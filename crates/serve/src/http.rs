//! The HTTP front: the login page, the web UI's pages, and the JSON API they call.
//!
//! A browser logs in with a form and gets an HttpOnly, SameSite=Strict session cookie;
//! every state-changing request of a session must carry the session's CSRF token in
//! `X-CSRF-Token`. Programs use `Authorization: Bearer <API token>` instead. Nothing but
//! the login page, static assets and `/healthz` answers without one of the two.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Form, FromRequestParts, Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, LOCATION,
    SET_COOKIE,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::info;

use crate::accounts::{Accounts, Principal, Role};
use crate::dashboards::{self, Dashboards, Filters};
use crate::query::{Channel, QueryError, QueryService};
use crate::rows::{to_csv, to_json_rows};
use crate::sessions::{same_secret, Sessions, COOKIE as SESSION_COOKIE};
use crate::{Result, ServeError};

/// Rows a query returns when the client does not ask for a limit.
const DEFAULT_ROW_LIMIT: usize = 1000;
/// Most rows one query may return over HTTP.
const MAX_ROW_LIMIT: usize = 100_000;

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
pub struct BuildLauncher(pub Arc<dyn Fn(chrono::NaiveDate) -> Result<(), String> + Send + Sync>);

impl std::fmt::Debug for BuildLauncher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BuildLauncher")
    }
}

/// Everything a request handler may need.
pub struct AppState {
    queries: Arc<QueryService>,
    accounts: Accounts,
    sessions: Sessions,
    options: HttpOptions,
    dashboards: Dashboards,
}

/// Serves the web UI and API on `addr` until the process ends.
pub async fn serve(
    queries: Arc<QueryService>,
    accounts: Accounts,
    options: HttpOptions,
    addr: &str,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ServeError::Listen {
            what: "HTTP",
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
    let state = Arc::new(AppState {
        queries,
        accounts,
        sessions: Sessions::new(options.session_lifetime),
        options,
        dashboards: Dashboards::builtin()?,
    });
    axum::serve(listener, router(state))
        .await
        .map_err(|e| ServeError::Listen {
            what: "HTTP",
            addr: addr.to_string(),
            reason: e.to_string(),
        })
}

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/", get(app_page))
        .route("/static/{file}", get(static_file))
        .route("/api/me", get(me))
        .route("/api/query", post(query))
        .route("/api/history", get(history))
        .route("/api/tables", get(tables))
        .route("/api/tables/{name}", get(table_detail))
        .route("/api/runs", get(runs))
        .route("/api/tokens", post(new_token))
        .route("/api/builds", post(start_build))
        .route("/api/dashboards", get(dashboard_list))
        .route("/api/dashboards/{id}", get(dashboard))
        .with_state(state)
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
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Who sent a request, and whether it came with a session (which needs CSRF checks).
struct Caller {
    principal: Principal,
    session_csrf: Option<String>,
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Every API handler takes a `Caller`: the request is refused before the handler runs
/// unless it carries a valid token or session (and CSRF token).
impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Caller, ApiError> {
        state.caller(&parts.method, &parts.headers)
    }
}

impl AppState {
    /// Authenticates a request by bearer token or session cookie. For a session, a
    /// request that is not a GET must carry the session's CSRF token.
    fn caller(&self, method: &Method, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
            let token = auth
                .strip_prefix("Bearer ")
                .ok_or_else(ApiError::unauthenticated)?;
            let principal = self
                .accounts
                .token_principal(token.trim())
                .map_err(ApiError::internal)?
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "unauthenticated",
                        "the API token is not valid",
                    )
                })?;
            return Ok(Caller {
                principal,
                session_csrf: None,
            });
        }
        let id = cookie_value(headers, SESSION_COOKIE).ok_or_else(ApiError::unauthenticated)?;
        let session = self.sessions.get(id).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "the session has expired or ended; log in again",
            )
        })?;
        if method != Method::GET {
            let sent = headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !same_secret(sent, &session.csrf) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "the request's CSRF token does not match the session",
                ));
            }
        }
        Ok(Caller {
            principal: session.principal,
            session_csrf: Some(session.csrf),
        })
    }

    fn session_cookie(&self, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.options.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        );
        // Built from base64url and digits only.
        HeaderValue::from_str(&cookie).expect("a cookie of safe characters")
    }
}

fn page(html: String) -> Response {
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn login_html(message: Option<&str>) -> String {
    let message = message
        .map(|m| format!(r#"<p class="error" role="alert">{}</p>"#, escape_html(m)))
        .unwrap_or_default();
    crate::web::LOGIN_HTML.replace("{{message}}", &message)
}

async fn login_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if state.caller(&Method::GET, &headers).is_ok() {
        return redirect("/");
    }
    page(login_html(None))
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
}

async fn login(State(state): State<Arc<AppState>>, Form(form): Form<LoginForm>) -> Response {
    let accounts = state.accounts.clone();
    let (name, password) = (form.name.trim().to_string(), form.password);
    // Argon2 takes tens of milliseconds of CPU: off the async workers.
    let checked =
        tokio::task::spawn_blocking(move || accounts.verify_password(&name, &password)).await;
    match checked {
        Ok(Ok(Some(principal))) => {
            info!(account = %principal.name, "web login");
            let id = state.sessions.start(principal);
            let mut response = redirect("/");
            let max_age = state.sessions.lifetime().as_secs();
            response
                .headers_mut()
                .insert(SET_COOKIE, state.session_cookie(&id, max_age));
            response
        }
        Ok(Ok(None)) => {
            info!("web login refused");
            let mut response = page(login_html(Some(
                "Wrong account name or password. 账号或密码错误。",
            )));
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response
        }
        Ok(Err(e)) => ApiError::internal(e).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let caller = match state.caller(&Method::POST, &headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Some(id) = cookie_value(&headers, SESSION_COOKIE) {
        state.sessions.end(id);
    }
    info!(account = %caller.principal.name, "web logout");
    let mut response = redirect("/login");
    response
        .headers_mut()
        .insert(SET_COOKIE, state.session_cookie("", 0));
    response
}

fn redirect(to: &'static str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, HeaderValue::from_static(to))],
    )
        .into_response()
}

async fn app_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match state.caller(&Method::GET, &headers) {
        Ok(_) => page(crate::web::APP_HTML.to_string()),
        Err(_) => redirect("/login"),
    }
}

async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match crate::web::asset(&file) {
        Some((content_type, body)) => (
            [
                (CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (CACHE_CONTROL, HeaderValue::from_static("max-age=3600")),
            ],
            body,
        )
            .into_response(),
        None => ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such file").into_response(),
    }
}

async fn me(caller: Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({
        "name": caller.principal.name,
        "role": caller.principal.role.as_str(),
        "csrf": caller.session_csrf,
    })))
}

#[derive(Deserialize)]
struct QueryRequest {
    sql: String,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    format: Option<String>,
}

async fn query(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(request): Json<QueryRequest>,
) -> Result<Response, ApiError> {
    let limit = request
        .limit
        .unwrap_or(DEFAULT_ROW_LIMIT)
        .clamp(1, MAX_ROW_LIMIT);
    let output = state
        .queries
        .run(&caller.principal, Channel::Http, &request.sql, limit)
        .await?;
    if request.format.as_deref() == Some("csv") {
        let csv = to_csv(&output.schema, &output.batches).map_err(ApiError::internal)?;
        return Ok((
            [
                (
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                ),
                (
                    CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment; filename=\"medlake-query.csv\""),
                ),
            ],
            csv,
        )
            .into_response());
    }
    let columns: Vec<Value> = output
        .schema
        .fields()
        .iter()
        .map(|f| json!({ "name": f.name(), "type": f.data_type().to_string() }))
        .collect();
    let rows = to_json_rows(&output.batches).map_err(ApiError::internal)?;
    Ok(Json(json!({
        "columns": columns,
        "rows": rows,
        "row_count": output.rows,
        "truncated": output.truncated,
        "millis": output.millis,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct LimitParam {
    #[serde(default)]
    limit: Option<usize>,
}

async fn history(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(p): Query<LimitParam>,
) -> Result<Json<Value>, ApiError> {
    let records = state
        .queries
        .catalog()
        .audit_records(Some(&caller.principal.name), p.limit.unwrap_or(50).min(500))
        .map_err(ApiError::internal)?;
    let items: Vec<Value> = records
        .into_iter()
        .filter(|r| r.channel == Channel::Http.as_str())
        .map(|r| {
            json!({
                "at": r.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                "sql": r.statement, "outcome": r.outcome, "rows": r.rows,
                "millis": r.millis, "error": r.error,
            })
        })
        .collect();
    Ok(Json(json!({ "history": items })))
}

async fn tables(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let summary = state.queries.tables().await;
    let visible = |name: &str| caller.principal.role != Role::Viewer || name.starts_with("ads_");
    let items: Vec<Value> = summary
        .iter()
        .filter(|t| visible(&t.name))
        .map(|t| {
            let doc = state.options.table_docs.get(&t.name);
            json!({
                "name": t.name,
                "description": doc.map(|d| d.description.as_str()),
                "grain": doc.map(|d| d.grain.as_str()),
                "layer": t.name.split('_').next().unwrap_or_default(),
                "partitions": t.partitions.len(),
                "rows": t.rows(),
                "bytes": t.bytes(),
            })
        })
        .collect();
    Ok(Json(json!({ "tables": items })))
}

async fn table_detail(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let summary = state.queries.tables().await;
    let table = summary.iter().find(|t| t.name == name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no table {name:?}"),
        )
    })?;
    // The columns come through the query path, so the asker's role decides what is shown.
    let sql = format!(
        "SELECT column_name, data_type FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name = '{}' ORDER BY ordinal_position",
        name.replace('\'', "''")
    );
    let output = state
        .queries
        .run(&caller.principal, Channel::Http, &sql, 10_000)
        .await?;
    let doc = state
        .options
        .table_docs
        .get(&name)
        .cloned()
        .unwrap_or_default();
    let columns: Vec<Value> = to_json_rows(&output.batches)
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|r| {
            let column = r[0].as_str().unwrap_or_default().to_string();
            json!({
                "name": column,
                "type": r[1],
                "phi": doc.phi.contains(&column),
                "doc": doc.columns.get(&column),
            })
        })
        .collect();
    let partitions: Vec<Value> = table
        .partitions
        .iter()
        .rev()
        .map(|p| json!({ "dt": p.dt, "files": p.files, "rows": p.rows, "bytes": p.bytes }))
        .collect();
    Ok(Json(json!({
        "name": table.name,
        "description": doc.description,
        "grain": doc.grain,
        "version": table.version,
        "columns": columns,
        "partitions": partitions,
    })))
}

async fn runs(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Query(p): Query<LimitParam>,
) -> Result<Json<Value>, ApiError> {
    let runs = state
        .queries
        .catalog()
        .recent_runs(p.limit.unwrap_or(100).min(1000))
        .map_err(ApiError::internal)?;
    let items: Vec<Value> = runs
        .iter()
        .map(|r| {
            let seconds = r
                .ended
                .map(|e| (e - r.started).num_milliseconds() as f64 / 1000.0);
            json!({
                "id": r.id, "kind": r.kind, "target": r.target, "dt": r.dt,
                "started": r.started.format("%Y-%m-%d %H:%M:%S").to_string(),
                "seconds": seconds, "outcome": format!("{:?}", r.outcome).to_lowercase(),
                "rows": r.rows, "bytes": r.bytes, "message": r.message,
            })
        })
        .collect();
    Ok(Json(json!({ "runs": items })))
}

#[derive(Deserialize)]
struct TokenRequest {
    label: String,
}

async fn new_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(request): Json<TokenRequest>,
) -> Result<Json<Value>, ApiError> {
    let token = state
        .accounts
        .issue_token(&caller.principal.name, request.label.trim())
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "token": token })))
}

#[derive(Deserialize)]
struct BuildRequest {
    day: String,
}

async fn start_build(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(request): Json<BuildRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if caller.principal.role != Role::Admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "refused",
            "only an admin starts builds",
        ));
    }
    let day = parse_day(request.day.trim())?;
    let launcher = state.options.build_launcher.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "unavailable",
            "this server cannot start builds",
        )
    })?;
    (launcher.0)(day).map_err(ApiError::internal)?;
    info!(account = %caller.principal.name, %day, "build started from the web");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "started": day.to_string() })),
    ))
}

async fn dashboard_list(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let items: Vec<Value> = state
        .dashboards
        .list
        .iter()
        .map(|d| json!({ "id": d.id, "title_zh": d.title_zh, "title_en": d.title_en }))
        .collect();
    Ok(Json(json!({ "dashboards": items })))
}

#[derive(Deserialize)]
struct DashboardParams {
    #[serde(default)]
    day: Option<String>,
    #[serde(default)]
    window: Option<u32>,
    #[serde(default)]
    hospital: Option<String>,
    #[serde(default)]
    province: Option<String>,
}

async fn dashboard(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    caller: Caller,
    Query(p): Query<DashboardParams>,
) -> Result<Json<Value>, ApiError> {
    let board = state.dashboards.get(&id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no dashboard {id:?}"),
        )
    })?;
    let day = p
        .day
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(parse_day)
        .transpose()?;
    let filters = Filters {
        day,
        window: p.window.unwrap_or(1),
        hospital: p.hospital.filter(|h| !h.is_empty()),
        province: p.province.filter(|h| !h.is_empty()),
    };
    Ok(Json(
        dashboards::data(&state.queries, &caller.principal, board, &filters).await?,
    ))
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
