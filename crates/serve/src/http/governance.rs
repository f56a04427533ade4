//! The admin's governance API: the audit (search, CSV export) and the policy set (read,
//! store a new version). Anyone else is refused, and the refusal is itself audited.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use medlake_catalog::{AuditRecord, AuditSearch};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{only_roles, Caller};
use super::{ApiError, AppState};
use crate::accounts::Role;

/// Refuses anyone but an admin, auditing the refusal (`what` names the request).
fn admin_only(state: &AppState, caller: &Caller, what: &str) -> Result<(), ApiError> {
    only_roles(state, caller, &[Role::Admin], "an admin", what)
}

#[derive(Deserialize)]
pub(super) struct AuditParams {
    account: Option<String>,
    table: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    format: Option<String>,
}

fn time(s: &Option<String>) -> Result<Option<chrono::NaiveDateTime>, ApiError> {
    let Some(s) = s.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .map(Some)
        .map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("{s:?} is not a time (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS)"),
            )
        })
}

fn given(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `GET /api/audit`: the audit, newest first, as JSON or (`format=csv`) a CSV download.
pub(super) async fn audit(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(p): Query<AuditParams>,
) -> Result<Response, ApiError> {
    admin_only(&state, &caller, "search the audit")?;
    let search = AuditSearch {
        account: given(&p.account),
        table: given(&p.table),
        outcome: given(&p.outcome),
        since: time(&p.since)?,
        until: time(&p.until)?,
        limit: p.limit.unwrap_or(200).clamp(1, 100_000),
    };
    let records = state
        .queries
        .catalog()
        .search_audit(&search)
        .map_err(ApiError::internal)?;
    if p.format.as_deref() == Some("csv") {
        return Ok((
            [
                (
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                ),
                (
                    CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment; filename=\"medlake-audit.csv\""),
                ),
            ],
            audit_csv(&records),
        )
            .into_response());
    }
    let items: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "at": r.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                "account": r.account, "channel": r.channel, "statement": r.statement,
                "outcome": r.outcome, "rows": r.rows, "millis": r.millis, "error": r.error,
                "tables": r.tables, "policies": r.policies, "phi_unmasked": r.phi_unmasked,
            })
        })
        .collect();
    Ok(Json(json!({ "audit": items })).into_response())
}

/// The audit records as CSV (RFC 4180 quoting), the columns a reviewer filters by first.
pub fn audit_csv(records: &[AuditRecord]) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut out = String::from(
        "id,at,account,channel,outcome,rows,millis,tables,policies,phi_unmasked,statement,error\n",
    );
    for r in records {
        let line = [
            r.id.to_string(),
            r.at.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
            quote(&r.account),
            r.channel.clone(),
            r.outcome.clone(),
            r.rows.map(|v| v.to_string()).unwrap_or_default(),
            r.millis.map(|v| v.to_string()).unwrap_or_default(),
            quote(&r.tables),
            quote(&r.policies),
            r.phi_unmasked.to_string(),
            quote(&r.statement),
            quote(r.error.as_deref().unwrap_or_default()),
        ];
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// `GET /api/policies`: the policy file in force, its version and the history.
pub(super) async fn policies(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    admin_only(&state, &caller, "read the policies")?;
    let versions = state
        .queries
        .catalog()
        .policy_versions(50)
        .map_err(ApiError::internal)?;
    let history: Vec<Value> = versions
        .iter()
        .map(|v| {
            json!({
                "version": v.version, "changed_by": v.changed_by, "note": v.note,
                "changed_at": v.changed_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            })
        })
        .collect();
    let current = versions.first();
    Ok(Json(json!({
        "version": current.map(|v| v.version),
        "body": current.map(|v| v.body.as_str()),
        "history": history,
    })))
}

#[derive(Deserialize)]
pub(super) struct PoliciesRequest {
    body: String,
    #[serde(default)]
    note: Option<String>,
}

/// `POST /api/policies`: checks and stores a new version, in force at once here.
pub(super) async fn store_policies(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(request): Json<PoliciesRequest>,
) -> Result<Json<Value>, ApiError> {
    admin_only(&state, &caller, "change the policies")?;
    let version = state
        .queries
        .governance()
        .store(
            &request.body,
            &caller.principal.name,
            request.note.as_deref().filter(|n| !n.trim().is_empty()),
        )
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.to_string()))?;
    Ok(Json(json!({ "version": version })))
}

/// `GET /api/logins`: the failed-login throttle's figures (successes, failures, refusals
/// while locked, lockouts, the names and addresses locked now) and the latest 100 login
/// attempts, for an admin and for monitoring.
pub(super) async fn logins(State(state): State<Arc<AppState>>, caller: Caller) -> Response {
    if let Err(e) = admin_only(&state, &caller, "read the login figures") {
        return e.into_response();
    }
    let recent = match state.logins.recent(100) {
        Ok(recent) => recent,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let recent: Vec<Value> = recent
        .iter()
        .map(|r| {
            json!({
                "at": r.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                "account": r.account,
                "channel": r.channel,
                "address": r.address,
                "outcome": r.outcome,
                "reason": r.reason,
            })
        })
        .collect();
    Json(json!({ "counts": state.logins.counts(), "recent": recent })).into_response()
}
