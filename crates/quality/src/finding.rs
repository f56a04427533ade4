//! What one check found, and the record it becomes: pass, or by severity warn or fail, or
//! `error` when the check could not run (its message without quoted values).

use std::time::Instant;

use chrono::{NaiveDate, NaiveDateTime};
use medlake_catalog::{CheckRecord, CheckStatus};

use crate::check::{Check, Severity};
use crate::error::QualityError;
use crate::query::scrubbed;

/// What one check found, before it becomes a record.
pub(crate) struct Finding {
    pub(crate) failed: bool,
    pub(crate) observed: Option<f64>,
    pub(crate) expected: String,
    pub(crate) failing_rows: u64,
    pub(crate) sample: Vec<String>,
    pub(crate) message: Option<String>,
}

impl Finding {
    pub(crate) fn rows(failing_rows: u64, sample: Vec<String>, expected: &str) -> Finding {
        Finding {
            failed: failing_rows > 0,
            observed: Some(failing_rows as f64),
            expected: expected.to_string(),
            failing_rows,
            sample,
            message: None,
        }
    }

    pub(crate) fn no_baseline(have: usize, need: usize) -> Finding {
        Finding {
            failed: false,
            observed: None,
            expected: "no baseline yet".into(),
            failing_rows: 0,
            sample: Vec::new(),
            message: Some(format!(
                "{have} earlier partition{} profiled, {need} needed for a baseline",
                if have == 1 { "" } else { "s" }
            )),
        }
    }
}

/// An event time as the engine prints it.
pub(crate) fn parse_time(text: &str) -> Option<NaiveDateTime> {
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

/// A check's finding (or the error that kept it from running) as the record kept.
pub(crate) fn record(
    check: &Check,
    dt: NaiveDate,
    found: Result<Finding, QualityError>,
    began: Instant,
    run_id: Option<i64>,
) -> CheckRecord {
    let (status, found) = match found {
        Ok(f) if !f.failed => (CheckStatus::Pass, f),
        Ok(f) => match check.severity {
            Severity::Error => (CheckStatus::Fail, f),
            Severity::Warn => (CheckStatus::Warn, f),
        },
        Err(e) => {
            tracing::warn!(check = %check.id, %dt, "check could not run: {}", scrubbed(&e));
            (
                CheckStatus::Error,
                Finding {
                    failed: true,
                    observed: None,
                    expected: String::new(),
                    failing_rows: 0,
                    sample: Vec::new(),
                    message: Some(scrubbed(&e)),
                },
            )
        }
    };
    CheckRecord {
        check_id: check.id.clone(),
        table: check.table.clone(),
        dt,
        kind: check.kind.name().to_string(),
        severity: check.severity.as_str().to_string(),
        status,
        observed: found.observed,
        expected: found.expected,
        failing_rows: found.failing_rows,
        sample: found.sample,
        message: found.message,
        seconds: began.elapsed().as_secs_f64(),
        run_id,
        checked_at: None,
    }
}
