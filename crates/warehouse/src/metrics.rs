//! The metric catalog: base measures x dimension sets x windows, declared in `metrics.toml`.
//!
//! Every combination is a metric instance named `<measure>.<dimension>.<window>d`. The
//! runner evaluates all instances of a day with one query per (source, dimension, window)
//! and writes the values to the long table `ads_metric_value`; the instances themselves go
//! to `ads_metric_catalog`. Values that are zero or undefined (a rate over nothing) are
//! left out of the long table: a missing row reads as zero.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::error::WarehouseError;

/// Name of the long table of metric values.
pub const METRIC_VALUE_TABLE: &str = "ads_metric_value";
/// Name of the table listing the metric instances.
pub const METRIC_CATALOG_TABLE: &str = "ads_metric_catalog";
/// The dimension that does not group.
pub const OVERALL: &str = "overall";
/// `dimension_value` of the overall dimension.
pub const OVERALL_VALUE: &str = "all";

/// A way to cut a measure.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    /// Column grouped by (none for `overall`).
    #[serde(default)]
    pub key: Option<String>,
    /// Column shown beside the key, where the source has it (e.g. the hospital's name).
    #[serde(default)]
    pub label: Option<String>,
    /// Chinese label.
    pub label_zh: String,
    /// English label.
    pub label_en: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum DimensionsRef {
    Set(String),
    List(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeasureFile {
    name: String,
    topic: String,
    label_zh: String,
    label_en: String,
    definition: String,
    unit: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    numerator: Option<String>,
    #[serde(default)]
    denominator: Option<String>,
    #[serde(default)]
    sql: Option<String>,
    #[serde(default)]
    dimensions: Option<DimensionsRef>,
    #[serde(default)]
    windows: Option<Vec<u32>>,
    #[serde(default)]
    snapshot_source: bool,
    #[serde(default)]
    window_column: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    windows: Vec<u32>,
    dimensions: BTreeMap<String, Dimension>,
    #[serde(default)]
    dimension_sets: BTreeMap<String, Vec<String>>,
    measures: Vec<MeasureFile>,
}

/// How a measure is computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeasureKind {
    /// An aggregate over the rows of `source` in the window.
    Aggregate {
        /// Model (or lake table) read.
        source: String,
        /// SQL aggregate giving a DOUBLE.
        expression: String,
        /// For to-date sources: the column the window applies to, in partition `dt` only.
        window_column: Option<String>,
    },
    /// A whole query returning one row with a column `value` (overall only).
    Query(String),
}

/// A base measure.
#[derive(Debug, Clone)]
pub struct Measure {
    /// Identifier, e.g. `consultation_paid_amount`.
    pub name: String,
    /// Topic: trade, consultation, doctor, user, review, medicine.
    pub topic: String,
    /// Chinese label.
    pub label_zh: String,
    /// English label.
    pub label_en: String,
    /// Definition in words.
    pub definition: String,
    /// Unit (count, CNY, ratio, ...).
    pub unit: String,
    /// How it is computed.
    pub kind: MeasureKind,
    /// Dimensions it is cut by.
    pub dimensions: Vec<String>,
    /// Windows in days.
    pub windows: Vec<u32>,
}

/// One metric instance: a measure cut by one dimension over one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// `<measure>.<dimension>.<window>d`.
    pub name: String,
    /// Measure name.
    pub measure: String,
    /// Dimension name.
    pub dimension: String,
    /// Window in days, ending on the report day.
    pub window_days: u32,
}

/// The declared metrics.
#[derive(Debug, Clone)]
pub struct MetricCatalog {
    /// Dimensions by name.
    pub dimensions: BTreeMap<String, Dimension>,
    /// Measures in declaration order.
    pub measures: Vec<Measure>,
}

impl MetricCatalog {
    /// Parses `metrics.toml`; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<MetricCatalog, WarehouseError> {
        let bad = |reason: String| WarehouseError::definition(origin, reason);
        let file: CatalogFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if !file.dimensions.contains_key(OVERALL) {
            return Err(bad(format!("the dimension {OVERALL:?} must be declared")));
        }
        let mut names = BTreeSet::new();
        let mut measures = Vec::new();
        for m in file.measures {
            let at = |reason: String| bad(format!("measure {}: {reason}", m.name));
            if !names.insert(m.name.clone()) {
                return Err(at("declared twice".into()));
            }
            let kind = measure_kind(&m).map_err(&at)?;
            let dimensions = match (&m.dimensions, &kind) {
                (_, MeasureKind::Query(_)) => vec![OVERALL.to_string()],
                (None, _) => vec![OVERALL.to_string()],
                (Some(DimensionsRef::List(list)), _) => list.clone(),
                (Some(DimensionsRef::Set(set)), _) => file
                    .dimension_sets
                    .get(set)
                    .cloned()
                    .ok_or_else(|| at(format!("unknown dimension set {set:?}")))?,
            };
            if let Some(d) = dimensions
                .iter()
                .find(|d| !file.dimensions.contains_key(*d))
            {
                return Err(at(format!("unknown dimension {d:?}")));
            }
            let windows = m.windows.clone().unwrap_or_else(|| file.windows.clone());
            if windows.is_empty() || windows.contains(&0) {
                return Err(at("windows must be whole days, at least 1".into()));
            }
            measures.push(Measure {
                name: m.name,
                topic: m.topic,
                label_zh: m.label_zh,
                label_en: m.label_en,
                definition: m.definition,
                unit: m.unit,
                kind,
                dimensions,
                windows,
            });
        }
        Ok(MetricCatalog {
            dimensions: file.dimensions,
            measures,
        })
    }

    /// Every instance, in declaration order.
    pub fn instances(&self) -> Vec<Instance> {
        let mut out = Vec::new();
        for m in &self.measures {
            for d in &m.dimensions {
                for &w in &m.windows {
                    out.push(Instance {
                        name: instance_name(&m.name, d, w),
                        measure: m.name.clone(),
                        dimension: d.clone(),
                        window_days: w,
                    });
                }
            }
        }
        out
    }

    /// The measure called `name`.
    pub fn measure(&self, name: &str) -> Option<&Measure> {
        self.measures.iter().find(|m| m.name == name)
    }

    /// Tables the measures read (sources and tables named in measure queries are found by
    /// the caller, who can parse SQL).
    pub fn sources(&self) -> BTreeSet<String> {
        self.measures
            .iter()
            .filter_map(|m| match &m.kind {
                MeasureKind::Aggregate { source, .. } => Some(source.clone()),
                MeasureKind::Query(_) => None,
            })
            .collect()
    }
}

/// The name of an instance.
pub fn instance_name(measure: &str, dimension: &str, window_days: u32) -> String {
    format!("{measure}.{dimension}.{window_days}d")
}

fn measure_kind(m: &MeasureFile) -> Result<MeasureKind, String> {
    if let Some(sql) = &m.sql {
        if m.source.is_some() || m.value.is_some() || m.numerator.is_some() {
            return Err("declares both sql and source/value".into());
        }
        if m.dimensions.is_some() {
            return Err("a sql measure is overall only; drop dimensions".into());
        }
        return Ok(MeasureKind::Query(sql.clone()));
    }
    let source = m
        .source
        .clone()
        .ok_or("needs a source (or sql)".to_string())?;
    let expression = match (&m.value, &m.numerator, &m.denominator) {
        (Some(v), None, None) => format!("CAST({v} AS DOUBLE)"),
        (None, Some(n), Some(d)) => {
            format!("CAST({n} AS DOUBLE) / nullif(CAST({d} AS DOUBLE), 0)")
        }
        _ => return Err("needs either value, or numerator and denominator".into()),
    };
    let window_column = match (m.snapshot_source, &m.window_column) {
        (true, Some(c)) => Some(c.clone()),
        (false, None) => None,
        _ => return Err("snapshot_source and window_column go together".into()),
    };
    Ok(MeasureKind::Aggregate {
        source,
        expression,
        window_column,
    })
}

/// One evaluation query: the measures of one source cut by one dimension over one window.
#[derive(Debug, Clone)]
pub struct EvaluationQuery {
    /// Measures computed, in the order of the query's value columns `m0, m1, ...`.
    pub measures: Vec<String>,
    /// Dimension.
    pub dimension: String,
    /// Window in days.
    pub window_days: u32,
    /// SQL template (placeholders `{{ dt }}` and `{{ window_start }}`) returning
    /// `dimension_value, dimension_label, m0, m1, ...`.
    pub sql: String,
    /// Tables the query reads.
    pub source: Option<String>,
}

impl MetricCatalog {
    /// The queries that evaluate every instance. `has_column(table, column)` tells whether a
    /// source carries a label column.
    pub fn evaluation_queries(
        &self,
        has_column: impl Fn(&str, &str) -> bool,
    ) -> Vec<EvaluationQuery> {
        type Group<'a> = (&'a str, &'a Option<String>, &'a str, u32);
        let mut groups: BTreeMap<Group, Vec<(&str, &str)>> = BTreeMap::new();
        let mut out = Vec::new();
        for m in &self.measures {
            match &m.kind {
                MeasureKind::Aggregate {
                    source,
                    expression,
                    window_column,
                } => {
                    for d in &m.dimensions {
                        for &w in &m.windows {
                            groups
                                .entry((source, window_column, d, w))
                                .or_default()
                                .push((&m.name, expression));
                        }
                    }
                }
                MeasureKind::Query(sql) => {
                    for &w in &m.windows {
                        out.push(EvaluationQuery {
                            measures: vec![m.name.clone()],
                            dimension: OVERALL.into(),
                            window_days: w,
                            sql: format!(
                                "SELECT '{OVERALL_VALUE}' AS dimension_value, '{label}' AS dimension_label, \
                                 CAST(value AS DOUBLE) AS m0 FROM ({sql}) q",
                                label = self.dimensions[OVERALL].label_zh,
                            ),
                            source: None,
                        });
                    }
                }
            }
        }
        for ((source, window_column, dimension, w), measures) in groups {
            let dim = &self.dimensions[dimension];
            let window = match window_column {
                None => "dt >= '{{ window_start }}' AND dt <= '{{ dt }}'".to_string(),
                Some(c) => format!(
                    "dt = '{{{{ dt }}}}' AND {c} >= DATE '{{{{ window_start }}}}' AND {c} <= DATE '{{{{ dt }}}}'"
                ),
            };
            let values: Vec<String> = measures
                .iter()
                .enumerate()
                .map(|(i, (_, e))| format!("{e} AS m{i}"))
                .collect();
            let sql = match &dim.key {
                None => format!(
                    "SELECT '{OVERALL_VALUE}' AS dimension_value, '{}' AS dimension_label, {} FROM {source} WHERE {window}",
                    dim.label_zh,
                    values.join(", ")
                ),
                Some(key) => {
                    let label = match &dim.label {
                        Some(l) if has_column(source, l) => format!("CAST(max({l}) AS VARCHAR)"),
                        _ => format!("CAST({key} AS VARCHAR)"),
                    };
                    format!(
                        "SELECT CAST({key} AS VARCHAR) AS dimension_value, {label} AS dimension_label, {} \
                         FROM {source} WHERE {window} AND {key} IS NOT NULL GROUP BY {key}",
                        values.join(", ")
                    )
                }
            };
            out.push(EvaluationQuery {
                measures: measures.iter().map(|(n, _)| n.to_string()).collect(),
                dimension: dimension.to_string(),
                window_days: w,
                sql,
                source: Some(source.to_string()),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
windows = [1, 7]
[dimensions.overall]
label_zh = "全部"
label_en = "All"
[dimensions.hospital]
key = "hospital_id"
label = "hospital_name"
label_zh = "医院"
label_en = "Hospital"
[dimension_sets]
both = ["overall", "hospital"]
[[measures]]
name = "paid"
topic = "trade"
label_zh = "支付数"
label_en = "Paid"
definition = "d"
unit = "count"
source = "dws_x"
value = "sum(paid_count)"
dimensions = "both"
[[measures]]
name = "rate"
topic = "trade"
label_zh = "率"
label_en = "Rate"
definition = "d"
unit = "ratio"
source = "dws_x"
numerator = "sum(paid_count)"
denominator = "sum(placed_count)"
dimensions = ["hospital"]
windows = [30]
"#;

    #[test]
    fn instances_are_measures_by_dimensions_by_windows() {
        let c = MetricCatalog::parse(SMALL, "metrics.toml").unwrap();
        let names: Vec<String> = c.instances().into_iter().map(|i| i.name).collect();
        assert_eq!(
            names,
            [
                "paid.overall.1d",
                "paid.overall.7d",
                "paid.hospital.1d",
                "paid.hospital.7d",
                "rate.hospital.30d"
            ]
        );
    }

    #[test]
    fn one_query_per_source_dimension_and_window() {
        let c = MetricCatalog::parse(SMALL, "metrics.toml").unwrap();
        let q = c.evaluation_queries(|_, _| true);
        assert_eq!(q.len(), 5);
        let h30 = q
            .iter()
            .find(|q| q.dimension == "hospital" && q.window_days == 30)
            .unwrap();
        assert_eq!(h30.measures, ["rate"]);
        assert!(h30.sql.contains("nullif"), "{}", h30.sql);
        assert!(h30.sql.contains("max(hospital_name)"), "{}", h30.sql);
        let labelless = c.evaluation_queries(|_, _| false);
        assert!(!labelless[0].sql.contains("hospital_name"));
    }

    #[test]
    fn bad_catalogs_name_the_measure() {
        let unknown = SMALL.replace("dimensions = [\"hospital\"]", "dimensions = [\"ward\"]");
        let e = MetricCatalog::parse(&unknown, "metrics.toml").unwrap_err();
        assert!(
            e.to_string().contains("measure rate: unknown dimension"),
            "{e}"
        );
        let twice = SMALL.replace("name = \"rate\"", "name = \"paid\"");
        let e = MetricCatalog::parse(&twice, "metrics.toml").unwrap_err();
        assert!(e.to_string().contains("declared twice"), "{e}");
    }
}
