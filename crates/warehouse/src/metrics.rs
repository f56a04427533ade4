//! The metric catalog: base measures x dimension sets x windows, declared in `metrics.toml`.
//!
//! Every combination is a metric instance named `<measure>.<dimension>.<window>d`. Each
//! day the runner computes the measures' daily partial aggregates per dimension value
//! (`dws_metric_partial`, see [`crate::partials`]), then merges the days of each window
//! and writes the values to the long table `ads_metric_value`; the instances themselves go
//! to `ads_metric_catalog`. Values that are zero or undefined (a rate over nothing) are
//! left out of the long table: a missing row reads as zero.

use std::collections::{BTreeMap, BTreeSet};

use deltalake::datafusion::execution::session_state::SessionState;
use deltalake::datafusion::prelude::SessionContext;
use serde::Deserialize;

use crate::error::WarehouseError;
use crate::partials::{decompose, Combine, Part};

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
    /// An aggregate over the rows of `source` in the window, computed from daily parts.
    Aggregate {
        /// Model (or lake table) read.
        source: String,
        /// The aggregates computed per day and dimension value.
        parts: Vec<Part>,
        /// SQL over the merged parts (columns `p0`, `p1`, ...) giving a DOUBLE.
        combined: String,
    },
    /// A whole query returning one row with a column `value` (overall only).
    Query(String),
}

/// A base measure.
#[derive(Debug, Clone)]
pub struct Measure {
    /// Identifier, e.g. `consultation_paid_amount`.
    pub name: String,
    /// Topic: trade, consultation, doctor, user, review, medicine, imaging.
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
        // One registry of DataFusion's functions tells aggregates apart for every measure.
        let functions = SessionContext::new().state();
        let mut names = BTreeSet::new();
        let mut measures = Vec::new();
        for m in file.measures {
            let at = |reason: String| bad(format!("measure {}: {reason}", m.name));
            if !names.insert(m.name.clone()) {
                return Err(at("declared twice".into()));
            }
            let kind = measure_kind(&m, &functions).map_err(&at)?;
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
            if let MeasureKind::Aggregate { parts, .. } = &kind {
                if parts.iter().any(|p| p.combine == Combine::Whole) && windows != [1] {
                    return Err(at(
                        "its value does not merge over days (only sum, count, min, max, \
                         count(DISTINCT x) and quantile_minutes(x, q) do); declare windows = [1]"
                            .into(),
                    ));
                }
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

fn measure_kind(m: &MeasureFile, functions: &SessionState) -> Result<MeasureKind, String> {
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
    let split = decompose(&expression, functions)?;
    Ok(MeasureKind::Aggregate {
        source,
        parts: split.parts,
        combined: split.combined,
    })
}

/// What the daily partials of one source hold: its parts, and the dimensions cut.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceParts {
    /// Every part some measure of the source uses.
    pub parts: BTreeSet<Part>,
    /// Every dimension some measure of the source is cut by.
    pub dimensions: BTreeSet<String>,
}

impl MetricCatalog {
    /// The parts and dimensions of each aggregate measure source.
    pub fn source_parts(&self) -> BTreeMap<String, SourceParts> {
        let mut out: BTreeMap<String, SourceParts> = BTreeMap::new();
        for m in &self.measures {
            if let MeasureKind::Aggregate { source, parts, .. } = &m.kind {
                let entry = out.entry(source.clone()).or_default();
                entry.parts.extend(parts.iter().cloned());
                entry.dimensions.extend(m.dimensions.iter().cloned());
            }
        }
        out
    }

    /// The longest window of any measure.
    pub fn longest_window(&self) -> u32 {
        self.measures
            .iter()
            .flat_map(|m| m.windows.iter().copied())
            .max()
            .unwrap_or(1)
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
    fn measures_split_into_parts_per_source() {
        let c = MetricCatalog::parse(SMALL, "metrics.toml").unwrap();
        let sources = c.source_parts();
        let x = &sources["dws_x"];
        let calls: Vec<&str> = x.parts.iter().map(|p| p.call.as_str()).collect();
        assert_eq!(calls, ["sum(paid_count)", "sum(placed_count)"]);
        assert_eq!(
            x.dimensions.iter().collect::<Vec<_>>(),
            ["hospital", "overall"]
        );
        let MeasureKind::Aggregate { combined, .. } = &c.measure("rate").unwrap().kind else {
            panic!("rate is an aggregate");
        };
        assert!(
            combined.contains("nullif(CAST(p1 AS DOUBLE), 0)"),
            "{combined}"
        );
        assert_eq!(c.longest_window(), 30);
    }

    #[test]
    fn a_measure_that_does_not_merge_over_days_needs_one_day_windows() {
        let median = SMALL.replace(
            "value = \"sum(paid_count)\"",
            "value = \"median(paid_count)\"",
        );
        let e = MetricCatalog::parse(&median, "metrics.toml").unwrap_err();
        assert!(e.to_string().contains("declare windows = [1]"), "{e}");
        let one_day = median.replace("windows = [1, 7]", "windows = [1]");
        assert!(MetricCatalog::parse(&one_day, "metrics.toml").is_ok());
    }

    #[test]
    fn a_quantile_of_minutes_merges_over_any_window() {
        let p90 = SMALL.replace(
            "value = \"sum(paid_count)\"",
            "value = \"quantile_minutes(wait_minutes, 0.9)\"",
        );
        let c = MetricCatalog::parse(&p90, "metrics.toml").unwrap();
        let MeasureKind::Aggregate { parts, .. } = &c.measure("paid").unwrap().kind else {
            panic!("paid is an aggregate");
        };
        assert_eq!(parts[0].combine, Combine::Histogram);
        assert_eq!(c.measure("paid").unwrap().windows, [1, 7]);
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
