//! The imaging API: the DICOM studies of a window of days, one study's series, and a
//! series' preview image.
//!
//! Studies and series are rows of `ods_dicom_instance` ([`INSTANCE_TABLE`]) read through
//! the one query path ([`crate::QueryService::run`]) as the caller, so the policies, masks
//! and audit apply exactly as to any query: a caller the policies do not let read the
//! table gets the refusal a query would get.
//!
//! A preview is different: its pixels come from the PACS or the file the instance was
//! ingested from, not from the lake, so no policy sees them. It is allowed to admins and
//! to accounts granted `image_reader` or `phi_reader` ([`may_see_images`]), and every
//! request, allowed or refused, writes an audit row (`imaging preview series <uid>`).
//! Messages never carry a path or a header value.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{Duration, NaiveDate};
use medlake_imaging::INSTANCE_TABLE;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::{parse_day, ApiError, AppState};
use crate::accounts::{Principal, Role};
use crate::query::{Channel, QueryOutput};
use crate::rows::to_json_rows;

/// Granted roles that may see images (besides admins).
pub(super) const IMAGE_ROLES: [&str; 2] = ["image_reader", "phi_reader"];
/// The longest UID DICOM allows.
const MAX_UID_CHARS: usize = 64;
/// Studies a list shows at most.
const MAX_STUDIES: usize = 200;
/// The longest window of days a list covers.
const MAX_WINDOW_DAYS: u32 = 92;
/// Days with studies the list offers to pick from, newest first.
const MAX_DAYS_OFFERED: usize = 120;

/// Whether `who` may see images (previews): an admin, or an account granted one of
/// [`IMAGE_ROLES`]. `false` when the account's granted roles cannot be read.
pub(super) fn may_see_images(state: &AppState, who: &Principal) -> bool {
    if who.role == Role::Admin {
        return true;
    }
    match state.queries.governance().asker(who) {
        Ok(asker) => asker
            .roles
            .iter()
            .any(|r| IMAGE_ROLES.contains(&r.as_str())),
        Err(e) => {
            tracing::error!(account = %who.name, error = %e, "cannot read granted roles");
            false
        }
    }
}

/// A DICOM UID from a request: digits and dots only, at most 64 characters; anything
/// else is a 400 (so the UID is safe to embed in SQL as a quoted literal).
fn checked_uid<'a>(uid: &'a str, what: &str) -> Result<&'a str, ApiError> {
    let fine = !uid.is_empty()
        && uid.len() <= MAX_UID_CHARS
        && uid.chars().all(|c| c.is_ascii_digit() || c == '.');
    if fine {
        Ok(uid)
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            format!("a {what} UID is digits and dots, at most {MAX_UID_CHARS} characters"),
        ))
    }
}

/// A modality code from a request (`CT`, `MR`, ...): letters and digits, at most 16.
fn checked_modality(modality: &str) -> Result<&str, ApiError> {
    let fine = !modality.is_empty()
        && modality.len() <= 16
        && modality.chars().all(|c| c.is_ascii_alphanumeric());
    if fine {
        Ok(modality)
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "a modality is letters and digits (CT, MR, DX, ...)",
        ))
    }
}

/// The rows of `output` as JSON objects keyed by column name.
fn objects(output: &QueryOutput) -> Result<Vec<Value>, ApiError> {
    let names: Vec<String> = output
        .schema
        .fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    Ok(to_json_rows(&output.batches)
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|row| {
            let values = match row {
                Value::Array(values) => values,
                other => vec![other],
            };
            Value::Object(names.iter().cloned().zip(values).collect())
        })
        .collect())
}

#[derive(Deserialize)]
pub(super) struct StudiesParams {
    #[serde(default)]
    day: Option<String>,
    #[serde(default)]
    days: Option<u32>,
    #[serde(default)]
    modality: Option<String>,
}

/// `GET /api/imaging/studies?day=&days=&modality=`: the studies filed under the `days`
/// days up to `day` (default: the newest day with studies, one day), newest first, at most
/// 200, and the window's totals by modality (over every modality, so the page can offer
/// them as filters).
pub(super) async fn studies(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(p): Query<StudiesParams>,
) -> Result<Json<Value>, ApiError> {
    let asked = p
        .day
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(parse_day)
        .transpose()?;
    let modality = p
        .modality
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(checked_modality)
        .transpose()?;
    let window = p.days.unwrap_or(1).clamp(1, MAX_WINDOW_DAYS);
    let available = state.queries.days_of(INSTANCE_TABLE).await;
    let readable = state
        .queries
        .governance()
        .may_read(&caller.principal, INSTANCE_TABLE);
    let newest = available
        .last()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    let day = match (asked, newest) {
        (Some(day), _) | (None, Some(day)) => day,
        // Nothing ingested yet: an empty list for a reader; anyone else is refused by the
        // query path below as a query would be.
        (None, None) if readable => {
            return Ok(Json(json!({
                "day": null, "days": window, "modality": modality, "days_available": [],
                "studies": [], "truncated": false, "totals": [],
                "may_preview_images": may_see_images(&state, &caller.principal),
            })));
        }
        (None, None) => chrono::Local::now().date_naive(),
    };
    let from = day - Duration::days(i64::from(window) - 1);
    let within = format!("dt >= '{from}' AND dt <= '{day}'");
    let only = modality
        .map(|m| format!(" AND modality = '{m}'"))
        .unwrap_or_default();
    // Aggregates are named like their columns; ordering outside the grouping keeps the
    // names unambiguous.
    let list = format!(
        "SELECT * FROM (SELECT study_instance_uid AS study_uid, min(modality) AS modality, \
         min(body_part) AS body_part, min(study_date) AS study_date, \
         min(study_time) AS study_time, min(institution) AS institution, \
         count(DISTINCT series_instance_uid) AS series, count(*) AS instances, \
         sum(bytes) AS bytes, max(dt) AS dt \
         FROM {INSTANCE_TABLE} WHERE {within}{only} \
         GROUP BY study_instance_uid) AS study \
         ORDER BY dt DESC, study_date DESC NULLS LAST, study_time DESC NULLS LAST, study_uid \
         LIMIT {}",
        MAX_STUDIES + 1
    );
    let totals = format!(
        "SELECT * FROM (SELECT modality, count(DISTINCT study_instance_uid) AS studies, \
         count(*) AS instances, sum(bytes) AS bytes \
         FROM {INSTANCE_TABLE} WHERE {within} GROUP BY modality) AS by_modality \
         ORDER BY bytes DESC, modality"
    );
    let who = &caller.principal;
    let listed = state
        .queries
        .run(who, Channel::Http, &list, MAX_STUDIES)
        .await?;
    let summed = state
        .queries
        .run(who, Channel::Http, &totals, 1_000)
        .await?;
    let offered: Vec<&String> = available.iter().rev().take(MAX_DAYS_OFFERED).collect();
    Ok(Json(json!({
        "day": day.to_string(),
        "from": from.to_string(),
        "days": window,
        "modality": modality,
        "days_available": offered,
        "studies": objects(&listed)?,
        "truncated": listed.truncated,
        "totals": objects(&summed)?,
        "reconciliation": reconciliation(&state, who, from, day).await,
        "may_preview_images": may_see_images(&state, who),
    })))
}

/// Exams performed in the window whose study never arrived, and studies of the window
/// that match no exam order, joined on the accession number's keyed pseudonym (the
/// business side hashed with `mask_hash`, the same key the ingest used). `null` when the
/// caller may not read the exam orders (the refusal is audited by the query path).
async fn reconciliation(
    state: &AppState,
    who: &Principal,
    from: NaiveDate,
    day: NaiveDate,
) -> Value {
    // An exam's changes land within two days of its order, so its performance is in the
    // partitions up to two days after the window.
    let until = day + Duration::days(2);
    let sql = format!(
        "WITH performed AS (\
           SELECT DISTINCT mask_hash(CAST(data['accession_no'] AS VARCHAR)) AS accession \
           FROM ods_exam_order_inc \
           WHERE dt >= '{from}' AND dt <= '{until}' AND data['performed_time'] IS NOT NULL \
             AND CAST(data['performed_time'] AS DATE) >= DATE '{from}' \
             AND CAST(data['performed_time'] AS DATE) <= DATE '{day}'), \
         studies AS (\
           SELECT DISTINCT study_instance_uid, accession_pseudonym AS accession \
           FROM {INSTANCE_TABLE} WHERE dt >= '{from}' AND dt <= '{day}'), \
         ordered AS (\
           SELECT DISTINCT mask_hash(CAST(data['accession_no'] AS VARCHAR)) AS accession \
           FROM ods_exam_order_inc) \
         SELECT \
           (SELECT count(*) FROM performed p LEFT JOIN studies s ON s.accession = p.accession \
            WHERE s.accession IS NULL) AS orders_without_study, \
           (SELECT count(*) FROM studies s LEFT JOIN ordered o ON o.accession = s.accession \
            WHERE o.accession IS NULL) AS studies_without_order"
    );
    match state.queries.run(who, Channel::Http, &sql, 1).await {
        Ok(output) => objects(&output)
            .ok()
            .and_then(|rows| rows.into_iter().next())
            .unwrap_or(Value::Null),
        Err(e) => {
            tracing::debug!(error = %e, "no reconciliation of orders and studies for this caller");
            Value::Null
        }
    }
}

/// `GET /api/imaging/studies/{study_uid}`: the study's series, by series number.
pub(super) async fn study(
    State(state): State<Arc<AppState>>,
    Path(study_uid): Path<String>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let uid = checked_uid(&study_uid, "study")?;
    // Digits and dots only (checked above): a quoted literal cannot be broken out of.
    let sql = format!(
        "SELECT * FROM (SELECT series_instance_uid AS series_uid, \
         min(series_number) AS series_number, min(modality) AS modality, \
         min(body_part) AS body_part, count(*) AS instances, \
         min(\"rows\") AS image_rows, min(\"columns\") AS image_columns, \
         max(frames) AS frames, min(station_name) AS station_name, \
         min(manufacturer) AS manufacturer, min(model_name) AS model_name, \
         sum(bytes) AS bytes, min(study_date) AS study_date, min(study_time) AS study_time, \
         min(institution) AS institution \
         FROM {INSTANCE_TABLE} WHERE study_instance_uid = '{uid}' \
         GROUP BY series_instance_uid) AS series \
         ORDER BY series_number NULLS LAST, series_uid"
    );
    let output = state
        .queries
        .run(&caller.principal, Channel::Http, &sql, 10_000)
        .await?;
    let series = objects(&output)?;
    if series.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no study {uid} in {INSTANCE_TABLE}"),
        ));
    }
    Ok(Json(json!({
        "study_uid": uid,
        "series": series,
        "may_preview_images": may_see_images(&state, &caller.principal),
    })))
}

/// Writes the audit row of a preview request.
fn audit_preview(
    state: &AppState,
    who: &Principal,
    statement: &str,
    outcome: &str,
    error: Option<&str>,
    started: Instant,
) {
    let entry = medlake_catalog::AuditEntry {
        account: &who.name,
        channel: Channel::Http.as_str(),
        statement,
        outcome,
        error,
        figures: medlake_catalog::AuditFigures {
            rows: None,
            millis: Some(started.elapsed().as_millis() as u64),
        },
        ..medlake_catalog::AuditEntry::default()
    };
    if let Err(e) = state.queries.catalog().audit(&entry) {
        tracing::error!(error = %e, "cannot write the query audit");
    }
}

/// `GET /api/imaging/series/{series_uid}/preview.png`: the middle image of the series as
/// PNG, for admins and accounts granted `image_reader` or `phi_reader`; audited either
/// way. 404 when no instance of the series was ingested, 502 when its source cannot give
/// it (or it cannot be rendered).
pub(super) async fn preview(
    State(state): State<Arc<AppState>>,
    Path(series_uid): Path<String>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let uid = checked_uid(&series_uid, "series")?;
    let who = &caller.principal;
    let statement = format!("imaging preview series {uid}");
    if !may_see_images(&state, who) {
        let message = "only an admin or an account granted image_reader (or phi_reader) \
                       may see images";
        audit_preview(&state, who, &statement, "refused", Some(message), started);
        return Err(ApiError::new(StatusCode::FORBIDDEN, "refused", message));
    }
    let catalog = state.queries.catalog();
    let known = catalog
        .imaging_locators_of_series(uid)
        .map_err(ApiError::internal)?;
    if known.is_empty() {
        let message = format!("no instance of series {uid} was ingested");
        audit_preview(&state, who, &statement, "failed", Some(&message), started);
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not-found", message));
    }
    let login = state.options.imaging_login.0.clone();
    match medlake_imaging::preview::preview_series(catalog, uid, login).await {
        Ok(png) => {
            audit_preview(&state, who, &statement, "ok", None, started);
            Ok((
                [
                    (CONTENT_TYPE, HeaderValue::from_static("image/png")),
                    (CACHE_CONTROL, HeaderValue::from_static("no-store")),
                    (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
                ],
                png,
            )
                .into_response())
        }
        Err(e) => {
            // The crate's message may name where the source is; the log keeps it, the
            // client and the audit get a fixed one.
            tracing::warn!(account = %who.name, error = %e, "a series preview failed");
            let message = "the series' image could not be fetched from its source or rendered";
            audit_preview(&state, who, &statement, "failed", Some(message), started);
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "unavailable",
                message,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digits_and_dots_pass_as_uids() {
        assert!(checked_uid("1.2.840.10008.5.1.4.1.1.2", "study").is_ok());
        let long = "1".repeat(65);
        for bad in [
            "",
            "1.2' OR '1'='1",
            "1.2;",
            "abc",
            "1.2.3\n",
            long.as_str(),
        ] {
            assert!(checked_uid(bad, "study").is_err(), "{bad:?}");
        }
        assert!(checked_uid(&"1".repeat(64), "study").is_ok());
        assert!(checked_modality("CT").is_ok());
        assert!(checked_modality("C'T").is_err() && checked_modality("").is_err());
    }
}
