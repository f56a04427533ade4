//! The operations API: `/metrics` for Prometheus, and for the monitoring page every
//! component's state, the alerts pending and firing, their history, silences, the
//! notifications sent, the scheduler's book of days and the 24-hour charts; admins set and
//! end silences and rerun a day.
//!
//! Analysts and admins read (a viewer is refused, and the refusal audited); what is shown
//! are figures and names, never row values. `/metrics` needs no login: Prometheus scrapes
//! it, and it carries the same figures and names.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{Duration, Utc};
use medlake_catalog::SilenceRecord;
use medlake_ops::monitor::CHARTS;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{only_roles, Caller};
use super::{parse_day, ApiError, AppState};
use crate::accounts::Role;
use crate::operations::OperationsState;

/// Days of the scheduler's book the page shows.
const BOOK_DAYS: usize = 14;

/// `GET /metrics`: every figure in Prometheus' text format.
pub(super) async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, medlake_ops::figures::CONTENT_TYPE)],
        medlake_ops::figures::global().render(),
    )
}

fn operations(state: &AppState) -> Result<&OperationsState, ApiError> {
    state.operations.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "unavailable",
            "this server runs no monitor",
        )
    })
}

fn readers_only(state: &AppState, caller: &Caller, what: &str) -> Result<(), ApiError> {
    let roles = [Role::Admin, Role::Analyst];
    only_roles(state, caller, &roles, "an analyst or an admin", what)
}

fn admins_only(state: &AppState, caller: &Caller, what: &str) -> Result<(), ApiError> {
    only_roles(state, caller, &[Role::Admin], "an admin", what)
}

/// `GET /api/monitoring`: the monitoring page's data.
pub(super) async fn overview(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    readers_only(&state, &caller, "read the monitoring")?;
    let ops = operations(&state)?;
    let catalog = state.queries.catalog();
    let view = ops.view.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let scheduler = ops
        .scheduler
        .as_ref()
        .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).clone());
    let book = catalog
        .schedule_days(None, usize::MAX >> 1)
        .map_err(ApiError::internal)?;
    let book: Vec<Value> = book[book.len().saturating_sub(BOOK_DAYS)..]
        .iter()
        .map(|d| {
            json!({
                "day": d.day, "state": d.state.as_str(), "attempts": d.attempts,
                "step": d.step, "message": d.message, "holder": d.holder,
                "started": d.started.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
                "finished": d.finished.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
                "next_try": d.next_try.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
            })
        })
        .collect();
    let history: Vec<Value> = catalog
        .alert_events(100)
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|e| {
            json!({
                "rule": e.rule, "severity": e.severity, "state": e.state, "summary": e.summary,
                "labels": serde_json::from_str::<Value>(&e.labels).unwrap_or(Value::Null),
                "starts_at": e.starts_at, "ends_at": e.ends_at, "recorded": e.recorded,
            })
        })
        .collect();
    let silences: Vec<Value> = catalog
        .active_silences(Utc::now())
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|s| {
            json!({
                "id": s.id, "reason": s.reason, "created_by": s.created_by,
                "matchers": serde_json::from_str::<Value>(&s.matchers).unwrap_or(Value::Null),
                "starts_at": s.starts_at, "ends_at": s.ends_at,
            })
        })
        .collect();
    let notifications: Vec<Value> = catalog
        .notifications(30)
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|n| {
            json!({
                "receiver": n.receiver, "status": n.status, "alerts": n.alerts,
                "attempts": n.attempts, "delivered": n.delivered, "error": n.error, "sent": n.sent,
            })
        })
        .collect();
    Ok(Json(json!({
        "monitor": view,
        "scheduler": scheduler,
        "book": book,
        "history": history,
        "silences": silences,
        "notifications": notifications,
    })))
}

/// `GET /api/monitoring/charts`: each chart series' points of the last 24 hours.
pub(super) async fn charts(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    readers_only(&state, &caller, "read the monitoring")?;
    let catalog = state.queries.catalog();
    let from = Utc::now() - Duration::hours(24);
    let mut series = Vec::new();
    for (name, expr, what) in CHARTS {
        let points: Vec<Value> = catalog
            .figure_points(name, from)
            .map_err(ApiError::internal)?
            .into_iter()
            .map(|p| json!([p.at.timestamp_millis(), p.value]))
            .collect();
        series.push(json!({ "name": name, "expr": expr, "what": what, "points": points }));
    }
    Ok(Json(json!({ "series": series })))
}

#[derive(Deserialize)]
pub(super) struct SilenceRequest {
    matchers: BTreeMap<String, String>,
    /// How long, hours (fractions allowed).
    hours: f64,
    reason: String,
}

/// `POST /api/monitoring/silences`: silences the alerts matching `matchers` for `hours`.
pub(super) async fn add_silence(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(request): Json<SilenceRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admins_only(&state, &caller, "set a silence")?;
    let bad = |m: &str| ApiError::new(StatusCode::BAD_REQUEST, "bad-request", m.to_string());
    if request.matchers.is_empty() || request.matchers.values().all(String::is_empty) {
        return Err(bad(
            "a silence names at least one label to match (alertname, say)",
        ));
    }
    if !(request.hours > 0.0 && request.hours <= 24.0 * 30.0) {
        return Err(bad("a silence lasts more than 0 and at most 720 hours"));
    }
    if request.reason.trim().is_empty() {
        return Err(bad("a silence needs a reason"));
    }
    let now = Utc::now();
    let record = SilenceRecord {
        id: 0,
        matchers: serde_json::to_string(&request.matchers).map_err(ApiError::internal)?,
        starts_at: now,
        ends_at: now + Duration::milliseconds((request.hours * 3_600_000.0) as i64),
        reason: request.reason.trim().to_string(),
        created_by: caller.principal.name.clone(),
    };
    let id = state
        .queries
        .catalog()
        .add_silence(&record)
        .map_err(ApiError::internal)?;
    tracing::info!(account = %caller.principal.name, id, "silence set");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "ends_at": record.ends_at })),
    ))
}

/// `DELETE /api/monitoring/silences/{id}`: ends a silence now.
pub(super) async fn end_silence(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    admins_only(&state, &caller, "end a silence")?;
    let ended = state
        .queries
        .catalog()
        .expire_silence(id, Utc::now())
        .map_err(ApiError::internal)?;
    if !ended {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no running silence {id}"),
        ));
    }
    Ok(Json(json!({ "ended": id })))
}

#[derive(Deserialize)]
pub(super) struct RerunRequest {
    day: String,
}

/// `POST /api/schedule/rerun`: runs a day again with the days whose windows read it.
pub(super) async fn rerun(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(request): Json<RerunRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admins_only(&state, &caller, "rerun a day")?;
    let ops = operations(&state)?;
    if ops.scheduler.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no-scheduler",
            "this server runs no scheduler ([schedule] is not set): rebuild with `medlake build`",
        ));
    }
    let day = parse_day(request.day.trim())?;
    let who = caller.principal.name.clone();
    let days =
        medlake_ops::schedule::request_rerun(state.queries.catalog(), day, ops.window_days, &who)
            .map_err(ApiError::internal)?;
    if days.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "running",
            format!("{day} is running now"),
        ));
    }
    tracing::info!(account = %who, %day, days = days.len(), "rerun asked from the web");
    Ok((StatusCode::ACCEPTED, Json(json!({ "days": days }))))
}
