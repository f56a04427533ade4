//! Running a table's checks on one partition: the audit of write-audit-publish.
//!
//! A build computes a model's partition, hands the rows to [`Auditor::audit`] before they
//! are written, and publishes them only if [`Audit::blocking`] is empty: an `error` check
//! that failed, or could not run at all (fail closed), keeps the previous partition in
//! place. `warn` checks are recorded and the partition is published. The same audit runs
//! on published partitions (`medlake check`, the ODS tables before a build reads them).
//!
//! Every audit profiles the partition too; the profiles are what `volume` and
//! `distribution` checks compare the next partitions with.

use std::time::Instant;

use chrono::NaiveDate;
use deltalake::datafusion::prelude::SessionContext;
use medlake_catalog::{Catalog, CheckRecord, CheckStatus, Outcome, ProfileRecord};
use medlake_lake::Lake;

use crate::baseline::{bounds, round, window};
use crate::check::{column_sql, Check, CheckKind, Measure, Severity};
use crate::error::QualityError;
use crate::finding::{parse_time, record, Finding};
use crate::profile::{profile, ROWS};
use crate::query::{
    collect, failing_rows_condition, key_sql, render_day, scalar, texts, SAMPLE_SIZE,
};
use crate::rules::{QualityRules, TableRules};
use crate::session::{partition_session, Partition};

/// The checks of one partition, as they came out, and its profile.
#[derive(Debug, Clone)]
pub struct Audit {
    /// The table.
    pub table: String,
    /// The partition.
    pub dt: NaiveDate,
    /// One result per check.
    pub results: Vec<CheckRecord>,
    /// The partition's column profiles.
    pub profiles: Vec<ProfileRecord>,
    /// Seconds the audit took (checks and profile).
    pub seconds: f64,
}

impl Audit {
    /// The results that keep the partition from being published.
    pub fn blocking(&self) -> Vec<&CheckRecord> {
        self.results.iter().filter(|r| blocks(r)).collect()
    }

    /// The partition's row count, from its profile.
    pub fn rows(&self) -> u64 {
        rows_of(&self.profiles)
    }

    /// Results that warn (published, shown as a warning).
    pub fn warnings(&self) -> Vec<&CheckRecord> {
        self.results
            .iter()
            .filter(|r| !blocks(r) && r.status != CheckStatus::Pass)
            .collect()
    }

    /// Why the partition is not published, naming each blocking check and what it found;
    /// `None` when nothing blocks.
    pub fn verdict(&self) -> Option<String> {
        let blocking = self.blocking();
        if blocking.is_empty() {
            return None;
        }
        let what: Vec<String> = blocking.iter().map(|r| describe(r)).collect();
        Some(format!("quality check failed: {}", what.join("; ")))
    }
}

/// Whether a result keeps its partition from being published.
pub fn blocks(result: &CheckRecord) -> bool {
    result.severity == Severity::Error.as_str()
        && matches!(result.status, CheckStatus::Fail | CheckStatus::Error)
}

/// One result in a line: the check, what it found, what was expected.
pub fn describe(r: &CheckRecord) -> String {
    match (&r.status, &r.message) {
        (CheckStatus::Error, Some(message)) => format!("{} could not run: {message}", r.check_id),
        _ if r.failing_rows > 0 => format!(
            "{} found {} failing row{} (expected {})",
            r.check_id,
            r.failing_rows,
            if r.failing_rows == 1 { "" } else { "s" },
            r.expected
        ),
        _ => format!(
            "{} observed {} (expected {})",
            r.check_id,
            r.observed.map_or("nothing".to_string(), round),
            r.expected
        ),
    }
}

/// Runs checks on partitions and records what they found.
pub struct Auditor<'a> {
    lake: &'a Lake,
    catalog: &'a Catalog,
    rules: &'a QualityRules,
}

impl<'a> Auditor<'a> {
    /// An auditor of `rules` over `lake`, reading history from and recording to `catalog`.
    pub fn new(lake: &'a Lake, catalog: &'a Catalog, rules: &'a QualityRules) -> Self {
        Auditor {
            lake,
            catalog,
            rules,
        }
    }

    /// Profiles partition `dt` of `table` and runs its checks. `phi` are the table's PHI
    /// columns (never profiled by value, never sampled). A check that cannot run is an
    /// `error` result, not an error of the audit; the audit fails only when the partition
    /// cannot be read at all.
    pub async fn audit(
        &self,
        table: &str,
        dt: NaiveDate,
        partition: Partition<'_>,
        phi: &[String],
        run_id: Option<i64>,
    ) -> Result<Audit, QualityError> {
        let started = Instant::now();
        let empty = TableRules::default();
        let rules = self.rules.table(table).unwrap_or(&empty);
        let mut phi: Vec<String> = phi.to_vec();
        phi.extend(rules.phi.iter().cloned());
        let others = rules.tables_read(table);
        let ctx = partition_session(self.lake, table, dt, partition, &others).await?;
        let profiled = Instant::now();
        let profiles = profile(&ctx, table, dt, &phi).await?;
        let profile_seconds = profiled.elapsed().as_secs_f64();
        let mut results = Vec::new();
        for check in &rules.checks {
            let began = Instant::now();
            let found = self.evaluate(&ctx, rules, &phi, check, dt, &profiles).await;
            results.push(record(check, dt, found, began, run_id));
        }
        tracing::debug!(
            table,
            %dt,
            profile_seconds,
            seconds = started.elapsed().as_secs_f64(),
            "audited"
        );
        Ok(Audit {
            table: table.to_string(),
            dt,
            results,
            profiles,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Records an audit's results and profiles in the catalog.
    pub fn record(&self, audit: &Audit) -> Result<(), QualityError> {
        self.catalog.record_check_results(&audit.results)?;
        self.catalog.record_profiles(&audit.profiles)?;
        Ok(())
    }

    /// Records an audit that ran as `check` run `run` and ends the run: failed with the
    /// verdict when a check blocks, else succeeded with the warnings as its note. Returns
    /// the verdict.
    pub fn record_check_run(
        &self,
        run: i64,
        audit: &Audit,
    ) -> Result<Option<String>, QualityError> {
        self.record(audit)?;
        let verdict = audit.verdict();
        match &verdict {
            Some(verdict) => {
                self.catalog
                    .finish_run(run, Outcome::Failed, audit.rows(), 0, Some(verdict))?
            }
            None => {
                let warnings: Vec<String> = audit.warnings().into_iter().map(describe).collect();
                let note = (!warnings.is_empty()).then(|| warnings.join("; "));
                self.catalog.finish_run(
                    run,
                    Outcome::Succeeded,
                    audit.rows(),
                    0,
                    note.as_deref(),
                )?
            }
        }
        Ok(verdict)
    }

    async fn evaluate(
        &self,
        ctx: &SessionContext,
        rules: &TableRules,
        phi: &[String],
        check: &Check,
        dt: NaiveDate,
        profiles: &[ProfileRecord],
    ) -> Result<Finding, QualityError> {
        let table = check.table.as_str();
        let what = check.id.as_str();
        let key = rules
            .sample_key()
            .filter(|k| !k.iter().any(|c| phi.contains(c)));
        if let Some(condition) = failing_rows_condition(&check.kind, dt) {
            let count = format!("SELECT count(*) FROM {table} t WHERE {condition}");
            let failing = scalar(ctx, table, what, &count).await?.unwrap_or(0.0) as u64;
            let sample = match key {
                Some(key) if failing > 0 => {
                    let sql = format!(
                        "SELECT {} FROM {table} t WHERE {condition} LIMIT {SAMPLE_SIZE}",
                        key_sql(key)
                    );
                    texts(&collect(ctx, table, what, &sql).await?, SAMPLE_SIZE)
                }
                _ => Vec::new(),
            };
            return Ok(Finding::rows(failing, sample, "0 failing rows"));
        }
        match &check.kind {
            CheckKind::Unique { columns } => {
                let group: Vec<String> = columns.iter().map(|c| column_sql(c)).collect();
                let group = group.join(", ");
                let dupes = format!(
                    "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {table} t \
                     GROUP BY {group} HAVING count(*) > 1) d"
                );
                let failing = scalar(ctx, table, what, &dupes).await?.unwrap_or(0.0) as u64;
                let sample = if failing > 0 && !columns.iter().any(|c| phi.contains(c)) {
                    let sql = format!(
                        "SELECT {} FROM {table} t GROUP BY {group} HAVING count(*) > 1 \
                         LIMIT {SAMPLE_SIZE}",
                        key_sql(columns)
                    );
                    texts(&collect(ctx, table, what, &sql).await?, SAMPLE_SIZE)
                } else {
                    Vec::new()
                };
                Ok(Finding::rows(failing, sample, "0 duplicated rows"))
            }
            CheckKind::RowCount { min, max } => {
                let rows = rows_of(profiles) as f64;
                let low = min.map_or(f64::MIN, |m| m as f64);
                let high = max.map_or(f64::MAX, |m| m as f64);
                let show = |b: Option<u64>| b.map_or("…".to_string(), |v| v.to_string());
                Ok(Finding {
                    failed: rows < low || rows > high,
                    observed: Some(rows),
                    expected: format!("[{}, {}] rows", show(*min), show(*max)),
                    failing_rows: 0,
                    sample: Vec::new(),
                    message: None,
                })
            }
            CheckKind::Volume {
                baseline,
                days,
                min_history,
                ..
            } => {
                let reach = if *baseline == crate::check::Baseline::SameWeekday {
                    days * 7
                } else {
                    *days
                };
                let history = self.catalog.profile_history(table, ROWS, dt, reach)?;
                let past = window(history, dt, *baseline, *days);
                let values: Vec<f64> = past.iter().map(|p| p.row_count as f64).collect();
                let observed = rows_of(profiles) as f64;
                self.against(&values, *min_history, check, observed, "rows: mean")
            }
            CheckKind::Distribution {
                column,
                measure,
                days,
                min_history,
                ..
            } => {
                let figure = |p: &ProfileRecord| match measure {
                    Measure::NullRate => Some(p.null_rate()),
                    Measure::Mean => p.mean,
                };
                let Some(observed) = profiles
                    .iter()
                    .find(|p| p.column == *column)
                    .and_then(figure)
                else {
                    return Ok(Finding {
                        failed: true,
                        observed: None,
                        expected: format!("a {} of {column}", measure_name(*measure)),
                        failing_rows: 0,
                        sample: Vec::new(),
                        message: Some(format!(
                            "{column} has no {} in this partition (no such numeric column, or no rows)",
                            measure_name(*measure)
                        )),
                    });
                };
                let history = self.catalog.profile_history(table, column, dt, *days)?;
                let values: Vec<f64> = history.iter().filter_map(figure).collect();
                let what = format!("{}: mean", measure_name(*measure));
                self.against(&values, *min_history, check, observed, &what)
            }
            CheckKind::Freshness {
                column,
                max_lag_hours,
            } => {
                let sql = format!(
                    "SELECT CAST(max({}) AS VARCHAR) FROM {table} t",
                    column_sql(column)
                );
                let latest = texts(&collect(ctx, table, what, &sql).await?, 1)
                    .into_iter()
                    .find_map(|t| parse_time(&t));
                let day_end = dt
                    .succ_opt()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .unwrap_or_default();
                let lag = latest.map(|t| (day_end - t).num_seconds() as f64 / 3600.0);
                Ok(Finding {
                    failed: lag.is_none_or(|l| l > *max_lag_hours),
                    observed: lag,
                    expected: format!(
                        "latest {column} at most {} h before the day's end",
                        round(*max_lag_hours)
                    ),
                    failing_rows: 0,
                    sample: Vec::new(),
                    message: latest
                        .is_none()
                        .then(|| "no event time in the partition".into()),
                })
            }
            CheckKind::Reconcile {
                left,
                right,
                tolerance,
            } => {
                let l = scalar(ctx, table, what, &render_day(left, dt))
                    .await?
                    .unwrap_or(0.0);
                let r = scalar(ctx, table, what, &render_day(right, dt))
                    .await?
                    .unwrap_or(0.0);
                let difference = l - r;
                Ok(Finding {
                    failed: difference.abs() > *tolerance,
                    observed: Some(difference),
                    expected: format!(
                        "|left - right| <= {} (left {}, right {})",
                        round(*tolerance),
                        round(l),
                        round(r)
                    ),
                    failing_rows: 0,
                    sample: Vec::new(),
                    message: None,
                })
            }
            CheckKind::Sql { query } => {
                let query = render_day(query, dt);
                let count = format!("SELECT count(*) FROM ({query}) f");
                let failing = scalar(ctx, table, what, &count).await?.unwrap_or(0.0) as u64;
                let sample = if failing > 0 {
                    let sql = format!("SELECT * FROM ({query}) f LIMIT {SAMPLE_SIZE}");
                    texts(&collect(ctx, table, what, &sql).await?, SAMPLE_SIZE)
                } else {
                    Vec::new()
                };
                Ok(Finding::rows(failing, sample, "no rows from the query"))
            }
            // The row-by-row kinds were answered above.
            CheckKind::NotNull { .. }
            | CheckKind::AcceptedValues { .. }
            | CheckKind::Range { .. }
            | CheckKind::Relationships { .. } => Ok(Finding::rows(0, Vec::new(), "0 failing rows")),
        }
    }

    /// A figure against the bounds its history allows.
    fn against(
        &self,
        history: &[f64],
        min_history: usize,
        check: &Check,
        observed: f64,
        what: &str,
    ) -> Result<Finding, QualityError> {
        if history.len() < min_history {
            let mut found = Finding::no_baseline(history.len(), min_history);
            found.observed = Some(observed);
            return Ok(found);
        }
        let tolerance = check.kind.tolerance().unwrap_or_default();
        let Some(bounds) = bounds(history, tolerance, what) else {
            return Ok(Finding::no_baseline(0, min_history));
        };
        Ok(Finding {
            failed: !bounds.holds(observed),
            observed: Some(observed),
            expected: bounds.expected,
            failing_rows: 0,
            sample: Vec::new(),
            message: None,
        })
    }
}

fn measure_name(measure: Measure) -> &'static str {
    match measure {
        Measure::NullRate => "null rate",
        Measure::Mean => "mean",
    }
}

/// The partition's row count, from its profile.
fn rows_of(profiles: &[ProfileRecord]) -> u64 {
    profiles
        .iter()
        .find(|p| p.column == ROWS)
        .map_or(0, |p| p.row_count)
}
