//! The JSON API the web UI and programs call: queries (JSON or CSV), history, tables and
//! their documentation, runs, tokens, builds and dashboards. Every handler takes a
//! [`Caller`], so nothing here runs for an unauthenticated request, and every statement
//! goes through the one query path.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::info;

use super::auth::Caller;
use super::catalog::{declaration, phi_tag, table_history};
use super::{parse_day, ApiError, AppState};
use crate::accounts::Role;
use crate::dashboards::{self, Filters};
use crate::query::Channel;
use crate::rows::{to_csv, to_json_rows};

/// Rows a query returns when the client does not ask for a limit.
const DEFAULT_ROW_LIMIT: usize = 1000;
/// Most rows one query may return over HTTP.
const MAX_ROW_LIMIT: usize = 100_000;

/// `GET /api/me`: who is logged in, the session's CSRF token, and whether they may see
/// images (series previews; the same rule the preview route applies).
pub(super) async fn me(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({
        "name": caller.principal.name,
        "role": caller.principal.role.as_str(),
        "csrf": caller.session_csrf,
        "may_preview_images": super::imaging::may_see_images(&state, &caller.principal),
    })))
}

#[derive(Deserialize)]
pub(super) struct QueryRequest {
    sql: String,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    format: Option<String>,
}

pub(super) async fn query(
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
pub(super) struct LimitParam {
    #[serde(default)]
    limit: Option<usize>,
}

pub(super) async fn history(
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

pub(super) async fn tables(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let summary = state.queries.tables().await;
    let governance = state.queries.governance();
    let visible = |name: &str| governance.may_read(&caller.principal, name);
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

pub(super) async fn table_detail(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let summary = state.queries.tables().await;
    // A table the policies hide from the caller's listing is not described either.
    let visible = state
        .queries
        .governance()
        .may_read(&caller.principal, &name);
    let table = summary
        .iter()
        .find(|t| visible && t.name == name)
        .ok_or_else(|| {
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
    let project = state.options.project.as_deref();
    let decl = declaration(project, &name);
    // PHI tags, own and inherited, come from lineage (read from the catalog and kept).
    let lineage = match project {
        Some(_) => state.catalog_lineage().await.ok(),
        None => None,
    };
    let columns: Vec<Value> = to_json_rows(&output.batches)
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|r| {
            let column = r[0].as_str().unwrap_or_default().to_string();
            let declared = doc.phi.contains(&column);
            let (phi, origins) = phi_tag(lineage.as_deref(), &name, &column, declared);
            json!({
                "name": column,
                "type": r[1],
                "phi": phi,
                "phi_origins": origins,
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
    let (history, freshness, schema_changes) = table_history(&state, &name).await;
    Ok(Json(json!({
        "name": table.name,
        "description": doc.description,
        "grain": doc.grain,
        "owner": decl.and_then(|d| d.owner.as_deref()),
        "tags": decl.map(|d| d.tags.as_slice()).unwrap_or_default(),
        "layer": table.name.split('_').next().unwrap_or_default(),
        "version": table.version,
        "rows": table.rows(),
        "bytes": table.bytes(),
        "columns": columns,
        "partitions": partitions,
        "history": history,
        "freshness": freshness,
        "schema_changes": schema_changes,
    })))
}

pub(super) async fn runs(
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
                "id": r.id, "kind": r.kind.as_str(), "target": r.target, "dt": r.dt,
                "started": r.started.format("%Y-%m-%d %H:%M:%S").to_string(),
                "seconds": seconds, "outcome": format!("{:?}", r.outcome).to_lowercase(),
                "rows": r.rows, "bytes": r.bytes, "message": r.message,
            })
        })
        .collect();
    Ok(Json(json!({ "runs": items })))
}

#[derive(Deserialize)]
pub(super) struct TokenRequest {
    label: String,
}

pub(super) async fn new_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(request): Json<TokenRequest>,
) -> Result<Json<Value>, ApiError> {
    let token = state
        .logins
        .accounts()
        .issue_token(&caller.principal.name, request.label.trim())
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "token": token })))
}

#[derive(Deserialize)]
pub(super) struct BuildRequest {
    day: String,
}

pub(super) async fn start_build(
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

pub(super) async fn dashboard_list(
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
pub(super) struct DashboardParams {
    #[serde(default)]
    day: Option<String>,
    #[serde(default)]
    window: Option<u32>,
    #[serde(default)]
    hospital: Option<String>,
    #[serde(default)]
    province: Option<String>,
}

pub(super) async fn dashboard(
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
    let mut data = dashboards::data(&state.queries, &caller.principal, board, &filters).await?;
    // The banner of a dashboard built from a day whose checks did not all pass.
    let quality = super::quality::dashboard_quality(&state, data["day"].as_str());
    if let Some(fields) = data.as_object_mut() {
        fields.insert("quality".into(), quality);
    }
    Ok(Json(data))
}
