//! The data-quality API: a day's check results by table, one check's history, one table's
//! checks and column profile, and the few results a dashboard names in its banner.
//!
//! Results come from the catalog (`dq_check_result`, `dq_profile`, written by
//! medlake-quality); declarations from the project's [`QualityRules`]. Analysts and admins
//! read them (a viewer is refused, and the refusal audited), and only for tables their
//! policies let them read. The failing-row keys a check samples are shown to admins alone;
//! the records hold no other row values.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{Duration, NaiveDate};
use medlake_catalog::{CheckFilter, CheckRecord, CheckStatus, ProfileRecord};
use medlake_quality::{blocks, QualityRules, CHECK_RESULT_TABLE};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{only_roles, Caller};
use super::{parse_day, ApiError, AppState};
use crate::accounts::Role;

/// Calendar days before the newest checked day the overview reads for its day list.
const WINDOW_DAYS: i64 = 60;
/// Most days the overview's day list offers.
const MAX_DAYS: usize = 30;
/// Results a check's history shows unless asked otherwise.
const DEFAULT_HISTORY: usize = 60;
/// Most results a check's history shows.
const MAX_HISTORY: usize = 400;

/// Refuses anyone but an analyst or an admin, auditing the refusal (`what` names the
/// request).
fn readers_only(state: &AppState, caller: &Caller, what: &str) -> Result<(), ApiError> {
    let roles = [Role::Admin, Role::Analyst];
    only_roles(state, caller, &roles, "an analyst or an admin", what)
}

/// The project's declared checks (none when this server did not load the project).
fn rules(state: &AppState) -> Option<&QualityRules> {
    state.options.project.as_deref().map(|p| &p.quality)
}

/// A 404 naming what was not found.
fn not_found(message: String) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", message)
}

/// `pass`, `warn` or `fail` for a set of results: `fail` when any blocks publishing,
/// `warn` when any other did not pass.
fn worst<'a>(results: impl IntoIterator<Item = &'a CheckRecord>) -> &'static str {
    let mut status = "pass";
    for r in results {
        if blocks(r) {
            return "fail";
        }
        if r.status != CheckStatus::Pass {
            status = "warn";
        }
    }
    status
}

/// Counts of results that passed, warned (did not pass, do not block) and failed (block).
fn summary(results: &[&CheckRecord]) -> Value {
    let fail = results.iter().filter(|r| blocks(r)).count();
    let pass = results
        .iter()
        .filter(|r| r.status == CheckStatus::Pass)
        .count();
    json!({ "pass": pass, "warn": results.len() - pass - fail, "fail": fail })
}

/// A result as the pages show it; the sampled keys only for an admin.
fn result_json(r: &CheckRecord, admin: bool) -> Value {
    let mut out = json!({
        "check_id": r.check_id, "table": r.table, "dt": r.dt.to_string(), "kind": r.kind,
        "severity": r.severity, "status": r.status.as_str(), "blocks": blocks(r),
        "observed": r.observed, "expected": r.expected, "failing_rows": r.failing_rows,
        "message": r.message,
        "checked_at": r.checked_at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
    });
    if admin {
        if let Some(o) = out.as_object_mut() {
            o.insert("sample".into(), json!(r.sample));
        }
    }
    out
}

/// A day from an optional query parameter (blank is none).
fn given_day(day: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    day.map(str::trim)
        .filter(|d| !d.is_empty())
        .map(parse_day)
        .transpose()
}

#[derive(Deserialize)]
pub(super) struct DayParam {
    #[serde(default)]
    day: Option<String>,
}

/// `GET /api/quality?day=`: the day's latest result of every check, by table, with the
/// ones that did not pass; the recent days with results (newest first) and how each went.
/// Without `day`, the newest day with results.
pub(super) async fn overview(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(p): Query<DayParam>,
) -> Result<Json<Value>, ApiError> {
    readers_only(&state, &caller, "read the data quality results")?;
    let asked = given_day(p.day.as_deref())?;
    let catalog = state.queries.catalog().clone();
    // The newest day checked: the last result recorded, or the last day the results
    // table was published for (a backfill records an old day last).
    let recorded = catalog
        .check_results(&CheckFilter {
            limit: 1,
            ..CheckFilter::default()
        })
        .map_err(ApiError::internal)?
        .first()
        .map(|r| r.dt);
    let published = state
        .queries
        .days_of(CHECK_RESULT_TABLE)
        .await
        .last()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    let Some(newest) = recorded.max(published) else {
        return Ok(Json(no_results(asked)));
    };
    let since = newest - Duration::days(WINDOW_DAYS - 1);
    let window = catalog
        .check_results(&CheckFilter {
            since: Some(since),
            latest: true,
            ..CheckFilter::default()
        })
        .map_err(ApiError::internal)?;
    let mut by_day: BTreeMap<NaiveDate, Vec<&CheckRecord>> = BTreeMap::new();
    for r in readable_results(&state, &caller, &window) {
        by_day.entry(r.dt).or_default().push(r);
    }
    let days: Vec<NaiveDate> = by_day.keys().rev().take(MAX_DAYS).copied().collect();
    let day_summary: serde_json::Map<String, Value> = days
        .iter()
        .map(|d| (d.to_string(), summary(&by_day[d])))
        .collect();
    let Some(day) = asked.or_else(|| days.first().copied()) else {
        return Ok(Json(no_results(None)));
    };
    // A day before the window is read on its own.
    let older;
    let results: Vec<&CheckRecord> = if day >= since {
        by_day.get(&day).cloned().unwrap_or_default()
    } else {
        older = catalog
            .check_results(&CheckFilter {
                dt: Some(day),
                latest: true,
                ..CheckFilter::default()
            })
            .map_err(ApiError::internal)?;
        readable_results(&state, &caller, &older)
    };
    let mut tables: BTreeMap<&str, Vec<&CheckRecord>> = BTreeMap::new();
    for r in results.iter().copied() {
        tables.entry(r.table.as_str()).or_default().push(r);
    }
    let tables: Vec<Value> = tables
        .iter()
        .map(|(table, rs)| {
            let failing = rs.iter().filter(|r| blocks(r)).count();
            let passed = rs.iter().filter(|r| r.status == CheckStatus::Pass).count();
            json!({
                "table": table, "status": worst(rs.iter().copied()), "checks": rs.len(),
                "failing": failing, "warned": rs.len() - passed - failing,
            })
        })
        .collect();
    let admin = caller.principal.role == Role::Admin;
    let mut failing: Vec<&CheckRecord> = results
        .iter()
        .copied()
        .filter(|r| r.status != CheckStatus::Pass)
        .collect();
    failing.sort_by(|a, b| {
        blocks(b)
            .cmp(&blocks(a))
            .then_with(|| a.check_id.cmp(&b.check_id))
    });
    let failing: Vec<Value> = failing.iter().map(|r| result_json(r, admin)).collect();
    Ok(Json(json!({
        "day": day.to_string(),
        "days": days.iter().map(NaiveDate::to_string).collect::<Vec<_>>(),
        "day_summary": day_summary,
        "tables": tables,
        "failing": failing,
        "summary": summary(&results),
    })))
}

/// The overview when there is nothing to show (no results yet, or none `caller` may read).
fn no_results(day: Option<NaiveDate>) -> Value {
    json!({
        "day": day.map(|d| d.to_string()), "days": [], "day_summary": {},
        "tables": [], "failing": [], "summary": { "pass": 0, "warn": 0, "fail": 0 },
    })
}

/// The results of tables `caller`'s policies let them read.
fn readable_results<'r>(
    state: &AppState,
    caller: &Caller,
    results: &'r [CheckRecord],
) -> Vec<&'r CheckRecord> {
    let names: BTreeSet<&str> = results.iter().map(|r| r.table.as_str()).collect();
    let readable = state
        .queries
        .governance()
        .readable(&caller.principal, names);
    results
        .iter()
        .filter(|r| readable.contains(&r.table))
        .collect()
}

#[derive(Deserialize)]
pub(super) struct HistoryParams {
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /api/quality/checks/{check_id}?limit=`: the check's declaration (when declared)
/// and its latest result of each of the newest `limit` days checked, oldest first.
pub(super) async fn check_history(
    State(state): State<Arc<AppState>>,
    Path(check_id): Path<String>,
    caller: Caller,
    Query(p): Query<HistoryParams>,
) -> Result<Json<Value>, ApiError> {
    readers_only(&state, &caller, "read the data quality results")?;
    let declared = rules(&state).and_then(|r| r.check(&check_id));
    // A check is named `<table>.<name>`; table names hold no dot.
    let table = match declared {
        Some(c) => c.table.clone(),
        None => check_id
            .split_once('.')
            .map(|(t, _)| t.to_string())
            .ok_or_else(|| not_found(format!("no check {check_id:?}")))?,
    };
    if !state
        .queries
        .governance()
        .may_read(&caller.principal, &table)
    {
        return Err(not_found(format!("no check {check_id:?}")));
    }
    let limit = p.limit.unwrap_or(DEFAULT_HISTORY).clamp(1, MAX_HISTORY);
    let mut results = state
        .queries
        .catalog()
        .check_results(&CheckFilter {
            check_id: Some(check_id.clone()),
            latest: true,
            limit,
            ..CheckFilter::default()
        })
        .map_err(ApiError::internal)?;
    if declared.is_none() && results.is_empty() {
        return Err(not_found(format!("no check {check_id:?}")));
    }
    results.sort_by_key(|r| r.dt);
    let newest = results.last();
    let history: Vec<Value> = results
        .iter()
        .map(|r| {
            json!({
                "dt": r.dt.to_string(), "status": r.status.as_str(), "observed": r.observed,
                "expected": r.expected, "failing_rows": r.failing_rows, "message": r.message,
                "checked_at": r.checked_at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
            })
        })
        .collect();
    Ok(Json(json!({
        "check_id": check_id,
        "table": table,
        "declared": declared.is_some(),
        "name": declared.map(|c| c.name.as_str()),
        "kind": declared.map(|c| c.kind.name()).or(newest.map(|r| r.kind.as_str())),
        "severity": declared
            .map(|c| c.severity.as_str())
            .or(newest.map(|r| r.severity.as_str())),
        "description": declared.and_then(|c| c.description.as_deref()),
        "history": history,
    })))
}

/// A column's profile as the table page shows it.
fn profile_json(p: &ProfileRecord) -> Value {
    json!({
        "column": p.column, "row_count": p.row_count, "null_count": p.null_count,
        "null_rate": p.null_rate(), "distinct": p.distinct_count, "min": p.min, "max": p.max,
        "mean": p.mean, "p50": p.p50, "p95": p.p95,
    })
}

/// `GET /api/quality/tables/{table}?day=`: the table's declared checks with their latest
/// result of the day (and any result of a check not declared, such as a sync's source
/// reconciliation), and the day's column profile. Without `day`, the day the table was
/// last checked.
pub(super) async fn table_quality(
    State(state): State<Arc<AppState>>,
    Path(table): Path<String>,
    caller: Caller,
    Query(p): Query<DayParam>,
) -> Result<Json<Value>, ApiError> {
    readers_only(&state, &caller, "read the data quality results")?;
    // A table the policies hide from the caller is not described either.
    if !state
        .queries
        .governance()
        .may_read(&caller.principal, &table)
    {
        return Err(not_found(format!("no table {table:?}")));
    }
    let catalog = state.queries.catalog().clone();
    let day = match given_day(p.day.as_deref())? {
        Some(d) => Some(d),
        None => catalog
            .check_results(&CheckFilter {
                table: Some(table.clone()),
                limit: 1,
                ..CheckFilter::default()
            })
            .map_err(ApiError::internal)?
            .first()
            .map(|r| r.dt),
    };
    let (results, profile) = match day {
        Some(d) => (
            catalog
                .check_results(&CheckFilter {
                    dt: Some(d),
                    table: Some(table.clone()),
                    latest: true,
                    ..CheckFilter::default()
                })
                .map_err(ApiError::internal)?,
            catalog.profiles(&table, d).map_err(ApiError::internal)?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let admin = caller.principal.role == Role::Admin;
    let declared = rules(&state)
        .and_then(|r| r.table(&table))
        .map(|r| r.checks.as_slice())
        .unwrap_or_default();
    let mut checks: Vec<Value> = declared
        .iter()
        .map(|c| {
            let result = results.iter().find(|r| r.check_id == c.id);
            json!({
                "id": c.id, "name": c.name, "kind": c.kind.name(),
                "severity": c.severity.as_str(), "description": c.description,
                "declared": true, "result": result.map(|r| result_json(r, admin)),
            })
        })
        .collect();
    checks.extend(
        results
            .iter()
            .filter(|r| !declared.iter().any(|c| c.id == r.check_id))
            .map(|r| {
                json!({
                    "id": r.check_id,
                    "name": r.check_id.split_once('.').map_or(r.check_id.as_str(), |(_, n)| n),
                    "kind": r.kind, "severity": r.severity, "description": null,
                    "declared": false, "result": result_json(r, admin),
                })
            }),
    );
    let status = if results.is_empty() {
        Value::Null
    } else {
        json!(worst(&results))
    };
    let counts = summary(&results.iter().collect::<Vec<_>>());
    Ok(Json(json!({
        "table": table,
        "day": day.map(|d| d.to_string()),
        "status": status,
        "summary": counts,
        "checks": checks,
        "profile": profile.iter().map(profile_json).collect::<Vec<_>>(),
    })))
}

/// What a dashboard's banner names: every check whose latest result on the report `day`
/// did not pass (its id, status and severity; no figures, no keys), blocking ones first.
/// One catalog read; an unreadable catalog is logged and names none.
pub(super) fn dashboard_quality(state: &AppState, day: Option<&str>) -> Value {
    let Some(day) = day.and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) else {
        return json!([]);
    };
    let results = match state.queries.catalog().check_results(&CheckFilter {
        dt: Some(day),
        latest: true,
        ..CheckFilter::default()
    }) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(%day, error = %e, "cannot read the day's quality results");
            return json!([]);
        }
    };
    let mut shown: Vec<&CheckRecord> = results
        .iter()
        .filter(|r| r.status != CheckStatus::Pass)
        .collect();
    shown.sort_by(|a, b| {
        blocks(b)
            .cmp(&blocks(a))
            .then_with(|| a.check_id.cmp(&b.check_id))
    });
    Value::Array(
        shown
            .iter()
            .map(|r| {
                json!({
                    "check_id": r.check_id, "status": r.status.as_str(), "severity": r.severity,
                })
            })
            .collect(),
    )
}
