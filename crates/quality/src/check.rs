//! A check as declared: its kind with the kind's settings, a severity, and a name.
//!
//! Checks are data. A model declares its own in its header (`[[checks]]`); the ODS
//! tables, which no model file describes, have theirs in the project's `quality.toml`
//! (`[[ods_payment_inc]]`, ...). Both are the same TOML table:
//!
//! ```toml
//! [[checks]]
//! kind = "unique"            # the kind, and its settings below
//! columns = ["payment_id"]
//! severity = "error"         # error (the default) blocks the partition; warn records it
//! name = "one_row_per_payment"   # optional; default: kind and columns
//! description = "A payment is paid once."
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::QualityError;

/// What a failing check does to the partition it checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Recorded (and shown as a warning); the partition is published.
    Warn,
    /// The partition is not published; the step fails and its descendants are skipped.
    #[default]
    Error,
}

impl Severity {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warn => "warn",
            Severity::Error => "error",
        }
    }
}

/// What a `volume` check compares the day's rows with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// The mean of the trailing `days` partitions.
    #[default]
    Daily,
    /// The mean of the trailing `days` partitions on the same weekday (weekly rhythms).
    SameWeekday,
}

/// The figure of a column's profile a `distribution` check follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Share of NULL values.
    NullRate,
    /// Mean of a numeric column.
    Mean,
}

/// How far a figure may move from its trailing window: a relative band around the mean
/// (`band = 0.4`: within 40%), an absolute one (`max_delta`), or a z-score (`z = 3`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tolerance {
    /// Relative band around the trailing mean.
    pub band: Option<f64>,
    /// Absolute band around the trailing mean.
    pub max_delta: Option<f64>,
    /// Standard deviations of the trailing window.
    pub z: Option<f64>,
}

/// A check's kind and its settings. Column names may address a field of a change
/// record's struct (`data.status`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckKind {
    /// The columns are never NULL.
    NotNull {
        /// Columns.
        columns: Vec<String>,
    },
    /// No two rows share the values of the columns (the declared grain).
    Unique {
        /// Columns.
        columns: Vec<String>,
    },
    /// The column holds only these values (or the codes of a dictionary group).
    AcceptedValues {
        /// Column.
        column: String,
        /// The values, numbers or text.
        #[serde(default)]
        values: Vec<toml::Value>,
        /// A dictionary group of the domain (`consultation_status`, `gender`, ...).
        #[serde(default)]
        dict: Option<String>,
    },
    /// Every non-NULL value of the column exists in `to` (`table.column`) on the same day.
    Relationships {
        /// Column.
        column: String,
        /// `table.column` it refers to.
        to: String,
    },
    /// Values within `[min, max]` (either bound may be left out).
    Range {
        /// Column.
        column: String,
        /// Smallest allowed.
        min: Option<f64>,
        /// Largest allowed.
        max: Option<f64>,
    },
    /// The partition's row count within bounds.
    RowCount {
        /// Fewest rows.
        min: Option<u64>,
        /// Most rows.
        max: Option<u64>,
    },
    /// The partition's row count against its trailing partitions.
    Volume {
        /// What to compare with.
        #[serde(default)]
        baseline: Baseline,
        /// Trailing partitions to read.
        #[serde(default = "default_window")]
        days: usize,
        /// Fewest trailing partitions for a baseline; with fewer the check passes with a note.
        #[serde(default = "default_min_history")]
        min_history: usize,
        /// Relative band around the trailing mean (0.4: within 40%).
        band: Option<f64>,
        /// Absolute band around the trailing mean.
        max_delta: Option<f64>,
        /// Standard deviations of the trailing window.
        z: Option<f64>,
    },
    /// The latest event time of the partition against the end of its day.
    Freshness {
        /// The event-time column.
        column: String,
        /// Hours the latest event may lie before the day's end.
        max_lag_hours: f64,
    },
    /// A column's null rate or mean against its trailing partitions.
    Distribution {
        /// Column.
        column: String,
        /// Which figure.
        measure: Measure,
        /// Trailing partitions to read.
        #[serde(default = "default_window")]
        days: usize,
        /// Fewest trailing partitions for a baseline.
        #[serde(default = "default_min_history")]
        min_history: usize,
        /// Relative band around the trailing mean (0.4: within 40%).
        band: Option<f64>,
        /// Absolute band around the trailing mean.
        max_delta: Option<f64>,
        /// Standard deviations of the trailing window.
        z: Option<f64>,
    },
    /// Two one-value queries that must agree (`{{ dt }}` is the partition's day).
    Reconcile {
        /// The first query.
        left: String,
        /// The second query.
        right: String,
        /// Largest absolute difference allowed.
        #[serde(default)]
        tolerance: f64,
    },
    /// A custom query whose rows are the failures (select keys only: they are sampled).
    Sql {
        /// The query.
        query: String,
    },
}

fn default_window() -> usize {
    7
}

fn default_min_history() -> usize {
    3
}

impl CheckKind {
    /// The kind's name, as declared.
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::NotNull { .. } => "not_null",
            CheckKind::Unique { .. } => "unique",
            CheckKind::AcceptedValues { .. } => "accepted_values",
            CheckKind::Relationships { .. } => "relationships",
            CheckKind::Range { .. } => "range",
            CheckKind::RowCount { .. } => "row_count",
            CheckKind::Volume { .. } => "volume",
            CheckKind::Freshness { .. } => "freshness",
            CheckKind::Distribution { .. } => "distribution",
            CheckKind::Reconcile { .. } => "reconcile",
            CheckKind::Sql { .. } => "sql",
        }
    }

    /// How far a `volume` or `distribution` figure may move (`None` for other kinds).
    pub fn tolerance(&self) -> Option<Tolerance> {
        match self {
            CheckKind::Volume {
                band, max_delta, z, ..
            }
            | CheckKind::Distribution {
                band, max_delta, z, ..
            } => Some(Tolerance {
                band: *band,
                max_delta: *max_delta,
                z: *z,
            }),
            _ => None,
        }
    }

    /// The columns the check reads of its own table (for the default name and checks of
    /// the declaration).
    pub fn columns(&self) -> Vec<&str> {
        match self {
            CheckKind::NotNull { columns } | CheckKind::Unique { columns } => {
                columns.iter().map(String::as_str).collect()
            }
            CheckKind::AcceptedValues { column, .. }
            | CheckKind::Relationships { column, .. }
            | CheckKind::Range { column, .. }
            | CheckKind::Freshness { column, .. }
            | CheckKind::Distribution { column, .. } => vec![column.as_str()],
            CheckKind::RowCount { .. }
            | CheckKind::Volume { .. }
            | CheckKind::Reconcile { .. }
            | CheckKind::Sql { .. } => Vec::new(),
        }
    }
}

/// One declared check of one table.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// `<table>.<name>`: how results, the CLI and the web UI name it.
    pub id: String,
    /// The table it checks.
    pub table: String,
    /// Its name within the table.
    pub name: String,
    /// What it checks.
    pub kind: CheckKind,
    /// What a failure does.
    pub severity: Severity,
    /// For people.
    pub description: Option<String>,
    /// Where it was declared, for messages.
    pub origin: String,
}

/// The settings every kind shares, read before the kind's own.
#[derive(Debug, Deserialize)]
struct Common {
    name: Option<String>,
    #[serde(default)]
    severity: Severity,
    description: Option<String>,
}

impl Check {
    /// Reads one declared check of `table` from its TOML table.
    pub fn parse(table: &str, value: &toml::Value, origin: &str) -> Result<Check, QualityError> {
        let bad = |reason: String| QualityError::Declaration {
            origin: origin.to_string(),
            reason: format!("a check of {table}: {reason}"),
        };
        let toml::Value::Table(fields) = value else {
            return Err(bad("a check is a TOML table".into()));
        };
        let mut kind_fields: BTreeMap<String, toml::Value> = BTreeMap::new();
        let mut common_fields = toml::Table::new();
        for (key, v) in fields {
            if matches!(key.as_str(), "name" | "severity" | "description") {
                common_fields.insert(key.clone(), v.clone());
            } else {
                kind_fields.insert(key.clone(), v.clone());
            }
        }
        let common: Common = toml::Value::Table(common_fields)
            .try_into()
            .map_err(|e: toml::de::Error| bad(e.message().to_string()))?;
        let kind_table: toml::Table = kind_fields.into_iter().collect();
        let kind: CheckKind = toml::Value::Table(kind_table)
            .try_into()
            .map_err(|e: toml::de::Error| bad(e.message().to_string()))?;
        validate(&kind).map_err(bad)?;
        let name = match common.name {
            Some(name) => name,
            None => default_name(&kind),
        };
        if !is_identifier(&name) {
            return Err(bad(format!(
                "name {name:?}: letters, digits and _ only, starting with a letter"
            )));
        }
        Ok(Check {
            id: format!("{table}.{name}"),
            table: table.to_string(),
            name,
            kind,
            severity: common.severity,
            description: common.description,
            origin: origin.to_string(),
        })
    }
}

/// `unique_payment_id`, `not_null_data_payment_amount`, `volume`: the kind and its columns.
fn default_name(kind: &CheckKind) -> String {
    let mut name = kind.name().to_string();
    for column in kind.columns() {
        name.push('_');
        name.push_str(&column.replace('.', "_"));
    }
    name
}

/// The declaration's own rules (columns are names, bounds make sense, a list is not
/// empty), so a mistake is named when the project loads, not when a build runs.
fn validate(kind: &CheckKind) -> Result<(), String> {
    for column in kind.columns() {
        if !is_column_path(column) {
            return Err(format!(
                "column {column:?} is not a column name (or struct.field)"
            ));
        }
    }
    match kind {
        CheckKind::NotNull { columns } | CheckKind::Unique { columns } if columns.is_empty() => {
            Err("columns is empty".into())
        }
        CheckKind::AcceptedValues { values, dict, .. } => match (values.is_empty(), dict) {
            (true, None) => Err("give values or a dict group".into()),
            (false, Some(_)) => Err("give values or a dict group, not both".into()),
            (true, Some(group)) if medlake_schema::codes::dict_group(group).is_none() => {
                Err(format!(
                    "dict group {group:?} is not one of {}",
                    medlake_schema::codes::DICT_GROUPS.join(", ")
                ))
            }
            _ => values.iter().try_for_each(|v| match v {
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::String(_) => Ok(()),
                other => Err(format!("value {other} is neither a number nor text")),
            }),
        },
        CheckKind::Relationships { to, .. } => match to.split_once('.') {
            Some((t, c)) if is_identifier(t) && is_identifier(c) => Ok(()),
            _ => Err(format!("to = {to:?}: write table.column")),
        },
        CheckKind::Range { min, max, .. } => match (min, max) {
            (None, None) => Err("give min, max or both".into()),
            (Some(lo), Some(hi)) if lo > hi => Err(format!("min {lo} is above max {hi}")),
            _ => Ok(()),
        },
        CheckKind::RowCount { min, max } => match (min, max) {
            (None, None) => Err("give min, max or both".into()),
            (Some(lo), Some(hi)) if lo > hi => Err(format!("min {lo} is above max {hi}")),
            _ => Ok(()),
        },
        CheckKind::Volume {
            days, min_history, ..
        }
        | CheckKind::Distribution {
            days, min_history, ..
        } => {
            let tolerance = kind.tolerance().unwrap_or_default();
            if *days == 0 || *min_history == 0 || min_history > days {
                return Err("need 1 <= min_history <= days".into());
            }
            match (tolerance.band, tolerance.max_delta, tolerance.z) {
                (None, None, None) => Err("give band, max_delta or z".into()),
                (b, d, z) if [b, d, z].iter().flatten().any(|v| *v <= 0.0) => {
                    Err("band, max_delta and z are positive".into())
                }
                _ => Ok(()),
            }
        }
        CheckKind::Freshness { max_lag_hours, .. } if *max_lag_hours < 0.0 => {
            Err("max_lag_hours is not negative".into())
        }
        CheckKind::Reconcile { tolerance, .. } if *tolerance < 0.0 => {
            Err("tolerance is not negative".into())
        }
        CheckKind::Sql { query } if query.trim().is_empty() => Err("query is empty".into()),
        _ => Ok(()),
    }
}

/// A plain SQL identifier: a letter or `_`, then letters, digits or `_`.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `column` or `struct.field`.
fn is_column_path(path: &str) -> bool {
    path.split('.').all(is_identifier) && path.split('.').count() <= 2
}

/// A column path as SQL: `data.status` becomes `data['status']`.
pub(crate) fn column_sql(path: &str) -> String {
    match path.split_once('.') {
        Some((parent, field)) => format!("{parent}['{field}']"),
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Check, QualityError> {
        let value: toml::Value = toml::from_str(text).unwrap();
        Check::parse("dwd_x", &value, "dwd/dwd_x.sql")
    }

    #[test]
    fn a_check_reads_its_kind_severity_and_default_name() {
        let check = parse("kind = \"unique\"\ncolumns = [\"payment_id\"]").unwrap();
        assert_eq!(check.id, "dwd_x.unique_payment_id");
        assert_eq!(check.severity, Severity::Error);
        let check = parse(
            "kind = \"volume\"\nbaseline = \"same_weekday\"\nband = 0.4\nseverity = \"warn\"",
        )
        .unwrap();
        assert_eq!(check.severity, Severity::Warn);
        match check.kind {
            CheckKind::Volume { baseline, days, .. } => {
                assert_eq!(baseline, Baseline::SameWeekday);
                assert_eq!(days, 7);
            }
            ref other => panic!("{other:?}"),
        }
        assert_eq!(check.kind.tolerance().unwrap().band, Some(0.4));
        let check = parse("kind = \"not_null\"\ncolumns = [\"data.payment_amount\"]").unwrap();
        assert_eq!(check.name, "not_null_data_payment_amount");
        assert_eq!(column_sql("data.payment_amount"), "data['payment_amount']");
    }

    #[test]
    fn mistakes_are_named_with_the_file() {
        let cases = [
            ("kind = \"unique\"\ncolumns = []", "columns is empty"),
            ("kind = \"nope\"", "unknown variant"),
            (
                "kind = \"unique\"\ncolumns = [\"a\"]\ncolums = 1",
                "unknown field",
            ),
            ("kind = \"range\"\ncolumn = \"a\"", "give min, max"),
            (
                "kind = \"range\"\ncolumn = \"a; drop\"\nmin = 0",
                "not a column name",
            ),
            (
                "kind = \"accepted_values\"\ncolumn = \"a\"\ndict = \"x\"",
                "dict group",
            ),
            (
                "kind = \"relationships\"\ncolumn = \"a\"\nto = \"dim\"",
                "table.column",
            ),
            ("kind = \"volume\"", "band, max_delta or z"),
            (
                "kind = \"volume\"\nband = 0.4\nseverity = \"fatal\"",
                "unknown variant",
            ),
            (
                "kind = \"sql\"\nquery = \"SELECT 1\"\nname = \"a b\"",
                "name",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.starts_with("dwd/dwd_x.sql"), "{err}");
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
