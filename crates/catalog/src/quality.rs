//! Data quality as the checks recorded it: every check run's result (what was observed,
//! the bound it was held to, how many rows failed, a few failing keys) and the column
//! profiles of each checked partition. The results are the history the quality page and
//! `dq_check_result` show; the profiles are the trailing windows `volume` and
//! `distribution` checks compare a new partition against. medlake-quality writes both.

use chrono::{Local, NaiveDate};

use crate::db::{Row, SqlValue};
use crate::{fmt_time, parse_time, Catalog, CatalogError, Result};

/// The name (after `<table>.`) of the check a sync's source-vs-lake reconciliation is
/// recorded as (medlake-ingest writes it; a build reads it before reading the table).
pub const SOURCE_RECONCILE_CHECK: &str = "reconcile_source";

/// How one check of one partition came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckStatus {
    /// The data holds to the check.
    Pass,
    /// A `warn` check found failing data: recorded, published.
    Warn,
    /// An `error` check found failing data: the partition is not published.
    Fail,
    /// The check itself could not run (its SQL failed); an `error` check blocks as a
    /// failure would (fail closed), a `warn` check warns.
    Error,
}

impl CheckStatus {
    /// Every status, best first.
    pub const ALL: [CheckStatus; 4] = [
        CheckStatus::Pass,
        CheckStatus::Warn,
        CheckStatus::Fail,
        CheckStatus::Error,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
            CheckStatus::Error => "error",
        }
    }

    /// The status stored as `name`.
    pub fn parse(name: &str) -> Option<CheckStatus> {
        CheckStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One check's result on one partition.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRecord {
    /// The check (`<table>.<name>`).
    pub check_id: String,
    /// The table checked.
    pub table: String,
    /// The partition (business day).
    pub dt: NaiveDate,
    /// The check's kind (`not_null`, `volume`, ...).
    pub kind: String,
    /// `warn` or `error`.
    pub severity: String,
    /// The outcome.
    pub status: CheckStatus,
    /// The figure observed (failing rows, a row count, a ratio, a difference), if any.
    pub observed: Option<f64>,
    /// The bound it was held to, for people (`0 rows`, `[812, 1508]`, ...).
    pub expected: String,
    /// Rows that broke the check (0 for checks of a whole partition).
    pub failing_rows: u64,
    /// A few keys of failing rows (never other values: keys only, never PHI).
    pub sample: Vec<String>,
    /// Why a check could not run, or a note (`no baseline yet`).
    pub message: Option<String>,
    /// Seconds the check took.
    pub seconds: f64,
    /// The run it belongs to (a step's build run, or a `check` run).
    pub run_id: Option<i64>,
    /// When it was recorded (set by the catalog).
    pub checked_at: Option<chrono::NaiveDateTime>,
}

/// Which results to read.
#[derive(Debug, Clone, Default)]
pub struct CheckFilter {
    /// Only this partition.
    pub dt: Option<NaiveDate>,
    /// Only this table.
    pub table: Option<String>,
    /// Only this check.
    pub check_id: Option<String>,
    /// Only partitions on or after this day.
    pub since: Option<NaiveDate>,
    /// Only the newest result of each check and partition (a rebuild's replaces the old).
    pub latest: bool,
    /// At most this many rows, newest first (0 = all).
    pub limit: usize,
}

/// One column's profile in one partition (Griffin's profiling).
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRecord {
    /// The table.
    pub table: String,
    /// The partition.
    pub dt: NaiveDate,
    /// The column (`*` holds the partition's row count alone).
    pub column: String,
    /// Rows in the partition.
    pub row_count: u64,
    /// Rows where the column is NULL.
    pub null_count: u64,
    /// Distinct values (an estimate).
    pub distinct_count: Option<u64>,
    /// Smallest value, as text (numbers and dates; never text columns, which may be PHI).
    pub min: Option<String>,
    /// Largest value, as text (as `min`).
    pub max: Option<String>,
    /// Mean of a numeric column.
    pub mean: Option<f64>,
    /// Median of a numeric column (an estimate).
    pub p50: Option<f64>,
    /// 95th percentile of a numeric column (an estimate).
    pub p95: Option<f64>,
}

impl ProfileRecord {
    /// The profile of `column` in a partition of `rows` rows, before any figure of the
    /// column is known (no nulls counted, nothing estimated).
    pub fn new(table: &str, dt: NaiveDate, column: &str, rows: u64) -> ProfileRecord {
        ProfileRecord {
            table: table.to_string(),
            dt,
            column: column.to_string(),
            row_count: rows,
            null_count: 0,
            distinct_count: None,
            min: None,
            max: None,
            mean: None,
            p50: None,
            p95: None,
        }
    }

    /// Share of rows where the column is NULL (0 for an empty partition).
    pub fn null_rate(&self) -> f64 {
        if self.row_count == 0 {
            0.0
        } else {
            self.null_count as f64 / self.row_count as f64
        }
    }
}

const CHECK_COLUMNS: &str = "run_id, check_id, table_name, dt, kind, severity, status, observed, \
     expected, failing_rows, sample, message, seconds, checked_at";

const PROFILE_COLUMNS: &str = "table_name, dt, column_name, row_count, null_count, \
     distinct_count, min_value, max_value, mean, p50, p95";

impl Catalog {
    /// Records check results (one transaction).
    pub fn record_check_results(&self, records: &[CheckRecord]) -> Result<()> {
        let now = fmt_time(&Local::now().naive_local());
        let rows = records
            .iter()
            .map(|r| {
                sql_params![
                    r.run_id,
                    r.check_id.as_str(),
                    r.table.as_str(),
                    r.dt.to_string(),
                    r.kind.as_str(),
                    r.severity.as_str(),
                    r.status.as_str(),
                    r.observed.map(|v| v.to_string()),
                    r.expected.as_str(),
                    r.failing_rows as i64,
                    (!r.sample.is_empty()).then(|| r.sample.join(",")),
                    r.message.clone(),
                    r.seconds.to_string(),
                    now.as_str()
                ]
            })
            .collect();
        self.db.execute_many(
            &format!(
                "INSERT INTO dq_check_result ({CHECK_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
            ),
            rows,
        )?;
        Ok(())
    }

    /// Check results, newest first.
    pub fn check_results(&self, filter: &CheckFilter) -> Result<Vec<CheckRecord>> {
        let mut conditions = Vec::new();
        let mut params: Vec<SqlValue> = Vec::new();
        let mut add = |condition: &str, value: SqlValue| {
            params.push(value);
            conditions.push(condition.replace('?', &format!("?{}", params.len())));
        };
        if let Some(dt) = filter.dt {
            add("r.dt = ?", dt.to_string().into());
        }
        if let Some(table) = &filter.table {
            add("r.table_name = ?", table.as_str().into());
        }
        if let Some(check) = &filter.check_id {
            add("r.check_id = ?", check.as_str().into());
        }
        if let Some(since) = filter.since {
            add("r.dt >= ?", since.to_string().into());
        }
        if filter.latest {
            conditions.push(
                "r.id = (SELECT max(l.id) FROM dq_check_result l \
                 WHERE l.check_id = r.check_id AND l.dt = r.dt)"
                    .to_string(),
            );
        }
        let mut sql = format!("SELECT {CHECK_COLUMNS}, id FROM dq_check_result r");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(" ORDER BY r.id DESC");
        if filter.limit > 0 {
            sql.push_str(&format!(" LIMIT {}", filter.limit));
        }
        self.db
            .query(&sql, params)?
            .iter()
            .map(check_record)
            .collect()
    }

    /// Records profiles, replacing those of the same table, day and column.
    pub fn record_profiles(&self, records: &[ProfileRecord]) -> Result<()> {
        let now = fmt_time(&Local::now().naive_local());
        let rows = records
            .iter()
            .map(|p| {
                sql_params![
                    p.table.as_str(),
                    p.dt.to_string(),
                    p.column.as_str(),
                    p.row_count as i64,
                    p.null_count as i64,
                    p.distinct_count.map(|d| d as i64),
                    p.min.clone(),
                    p.max.clone(),
                    p.mean.map(|v| v.to_string()),
                    p.p50.map(|v| v.to_string()),
                    p.p95.map(|v| v.to_string()),
                    now.as_str()
                ]
            })
            .collect();
        self.db.execute_many(
            &format!(
                "INSERT INTO dq_profile ({PROFILE_COLUMNS}, profiled) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
                 ON CONFLICT(table_name, dt, column_name) DO UPDATE SET \
                 row_count = ?4, null_count = ?5, distinct_count = ?6, min_value = ?7, \
                 max_value = ?8, mean = ?9, p50 = ?10, p95 = ?11, profiled = ?12"
            ),
            rows,
        )?;
        Ok(())
    }

    /// The profiles of one partition of `table`, by column.
    pub fn profiles(&self, table: &str, dt: NaiveDate) -> Result<Vec<ProfileRecord>> {
        let rows = self.db.query(
            &format!(
                "SELECT {PROFILE_COLUMNS} FROM dq_profile WHERE table_name = ?1 AND dt = ?2 \
                 ORDER BY column_name"
            ),
            sql_params![table, dt.to_string()],
        )?;
        rows.iter().map(profile_record).collect()
    }

    /// One column's profiles in the `days` partitions of `table` before `before`, newest
    /// first: the trailing window a new partition is compared against.
    pub fn profile_history(
        &self,
        table: &str,
        column: &str,
        before: NaiveDate,
        days: usize,
    ) -> Result<Vec<ProfileRecord>> {
        let rows = self.db.query(
            &format!(
                "SELECT {PROFILE_COLUMNS} FROM dq_profile \
                 WHERE table_name = ?1 AND column_name = ?2 AND dt < ?3 \
                 ORDER BY dt DESC LIMIT {days}"
            ),
            sql_params![table, column, before.to_string()],
        )?;
        rows.iter().map(profile_record).collect()
    }
}

fn float(row: &Row, i: usize, what: &'static str) -> Result<Option<f64>> {
    row.opt_text(i, what)?
        .map(|t| t.parse::<f64>().map_err(|_| CatalogError::Corrupt(what)))
        .transpose()
}

fn day(row: &Row, i: usize, what: &'static str) -> Result<NaiveDate> {
    row.text(i, what)?
        .parse()
        .map_err(|_| CatalogError::Corrupt(what))
}

fn check_record(row: &Row) -> Result<CheckRecord> {
    let status = row.text(6, "dq_check_result.status")?;
    Ok(CheckRecord {
        run_id: row.opt_int(0, "dq_check_result.run_id")?,
        check_id: row.text(1, "dq_check_result.check_id")?,
        table: row.text(2, "dq_check_result.table_name")?,
        dt: day(row, 3, "dq_check_result.dt")?,
        kind: row.text(4, "dq_check_result.kind")?,
        severity: row.text(5, "dq_check_result.severity")?,
        status: CheckStatus::parse(&status)
            .ok_or(CatalogError::Corrupt("dq_check_result.status"))?,
        observed: float(row, 7, "dq_check_result.observed")?,
        expected: row.text(8, "dq_check_result.expected")?,
        failing_rows: row.int(9, "dq_check_result.failing_rows")?.max(0) as u64,
        sample: row
            .opt_text(10, "dq_check_result.sample")?
            .map(|s| s.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        message: row.opt_text(11, "dq_check_result.message")?,
        seconds: float(row, 12, "dq_check_result.seconds")?.unwrap_or(0.0),
        checked_at: Some(parse_time(
            &row.text(13, "dq_check_result.checked_at")?,
            "dq_check_result.checked_at",
        )?),
    })
}

fn profile_record(row: &Row) -> Result<ProfileRecord> {
    Ok(ProfileRecord {
        table: row.text(0, "dq_profile.table_name")?,
        dt: day(row, 1, "dq_profile.dt")?,
        column: row.text(2, "dq_profile.column_name")?,
        row_count: row.int(3, "dq_profile.row_count")?.max(0) as u64,
        null_count: row.int(4, "dq_profile.null_count")?.max(0) as u64,
        distinct_count: row
            .opt_int(5, "dq_profile.distinct_count")?
            .map(|d| d.max(0) as u64),
        min: row.opt_text(6, "dq_profile.min_value")?,
        max: row.opt_text(7, "dq_profile.max_value")?,
        mean: float(row, 8, "dq_profile.mean")?,
        p50: float(row, 9, "dq_profile.p50")?,
        p95: float(row, 10, "dq_profile.p95")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::catalogs;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    fn result(check: &str, d: u32, status: CheckStatus, observed: f64) -> CheckRecord {
        CheckRecord {
            check_id: format!("dwd_a.{check}"),
            table: "dwd_a".into(),
            dt: day(d),
            kind: "not_null".into(),
            severity: "error".into(),
            status,
            observed: Some(observed),
            expected: "0 rows".into(),
            failing_rows: observed as u64,
            sample: vec!["17".into(), "23".into()],
            message: None,
            seconds: 0.25,
            run_id: Some(7),
            checked_at: None,
        }
    }

    #[test]
    fn results_read_back_newest_first_and_latest_per_check_and_day() {
        for (backend, catalog) in catalogs("quality") {
            catalog
                .record_check_results(&[
                    result("a", 1, CheckStatus::Pass, 0.0),
                    result("b", 1, CheckStatus::Fail, 2.0),
                ])
                .unwrap();
            // A rebuild of day 1 passes check b.
            catalog
                .record_check_results(&[result("b", 1, CheckStatus::Pass, 0.0)])
                .unwrap();
            let all = catalog.check_results(&CheckFilter::default()).unwrap();
            assert_eq!(all.len(), 3, "{backend}");
            assert_eq!(all[0].status, CheckStatus::Pass, "{backend}");
            assert_eq!(all[2].sample, vec!["17", "23"], "{backend}");
            assert_eq!(all[1].observed, Some(2.0), "{backend}");
            let latest = catalog
                .check_results(&CheckFilter {
                    dt: Some(day(1)),
                    latest: true,
                    ..CheckFilter::default()
                })
                .unwrap();
            assert_eq!(latest.len(), 2, "{backend}");
            assert!(
                latest.iter().all(|r| r.status == CheckStatus::Pass),
                "{backend}"
            );
            let one = catalog
                .check_results(&CheckFilter {
                    check_id: Some("dwd_a.b".into()),
                    limit: 1,
                    ..CheckFilter::default()
                })
                .unwrap();
            assert_eq!(one.len(), 1, "{backend}");
        }
    }

    #[test]
    fn profiles_replace_their_day_and_read_as_a_trailing_window() {
        for (backend, catalog) in catalogs("profile") {
            let profile = |d: u32, rows: u64| ProfileRecord {
                table: "dwd_a".into(),
                dt: day(d),
                column: "amount".into(),
                row_count: rows,
                null_count: 1,
                distinct_count: Some(rows / 2),
                min: Some("0.50".into()),
                max: Some("99.00".into()),
                mean: Some(12.5),
                p50: Some(10.0),
                p95: Some(80.0),
            };
            let days: Vec<ProfileRecord> =
                (1..=5).map(|d| profile(d, 100 + u64::from(d))).collect();
            catalog.record_profiles(&days).unwrap();
            catalog.record_profiles(&[profile(3, 500)]).unwrap();
            let window = catalog
                .profile_history("dwd_a", "amount", day(5), 3)
                .unwrap();
            let rows: Vec<u64> = window.iter().map(|p| p.row_count).collect();
            assert_eq!(rows, vec![104, 500, 102], "{backend}");
            assert_eq!(window[0].mean, Some(12.5), "{backend}");
            assert!(
                (window[0].null_rate() - 1.0 / 104.0).abs() < 1e-12,
                "{backend}"
            );
            assert_eq!(
                catalog.profiles("dwd_a", day(3)).unwrap().len(),
                1,
                "{backend}"
            );
        }
    }
}
