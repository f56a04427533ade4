//! The topic dashboards: declared in `dashboards.toml` (data, not code), filled from the
//! long metric table `ads_metric_value` through the one query path, so a dashboard shows
//! exactly the numbers the checks verified and the asker's role allows.
//!
//! Filters: the report day, the window (1, 7 or 30 days), a hospital or a province. The
//! metrics are cut by one dimension at a time, so a hospital or province filter narrows
//! the headlines and trends (the metric's own hospital or province value), the hospital
//! and city breakdowns (to that province's hospitals and cities), and leaves the other
//! breakdowns over all hospitals, marked as such.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::accounts::Principal;
use crate::query::{Channel, QueryError, QueryOutput, QueryService};
use crate::rows::to_json_rows;
use crate::{Result, ServeError};

/// The long metric table every dashboard reads.
pub const VALUES: &str = "ads_metric_value";
/// The metric catalog table (labels, units).
pub const CATALOG: &str = "ads_metric_catalog";
/// Days a trend shows.
const TREND_DAYS: i64 = 30;
/// Rows a "table" breakdown shows unless it says.
const DEFAULT_TOP: usize = 10;

/// How a breakdown is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Chart {
    /// Bars, largest first.
    Bar,
    /// A pie of shares.
    Pie,
    /// A top-N table.
    Table,
}

/// One chart of a measure cut by a dimension on the report day.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Breakdown {
    /// Measure name (metrics.toml).
    pub measure: String,
    /// Dimension name (metrics.toml).
    pub dimension: String,
    /// How to draw it.
    pub chart: Chart,
    /// Rows of a table chart.
    #[serde(default)]
    pub top: Option<usize>,
}

/// One dashboard.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// Identifier in URLs, e.g. `trade`.
    pub id: String,
    /// Chinese title.
    pub title_zh: String,
    /// English title.
    pub title_en: String,
    /// Measures shown as headline figures.
    pub headlines: Vec<String>,
    /// Measures shown as 30-day trends.
    pub trends: Vec<String>,
    /// Breakdown charts.
    pub breakdowns: Vec<Breakdown>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DashboardFile {
    dashboards: Vec<Dashboard>,
}

/// The declared dashboards.
#[derive(Debug, Clone)]
pub struct Dashboards {
    /// In declaration order.
    pub list: Vec<Dashboard>,
}

impl Dashboards {
    /// The dashboards built into medlake.
    pub fn builtin() -> Result<Dashboards> {
        Dashboards::parse(
            include_str!("../dashboards.toml"),
            "dashboards.toml (built in)",
        )
    }

    /// Parses a dashboards file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Dashboards> {
        let file: DashboardFile = toml::from_str(text)
            .map_err(|e| ServeError::Engine(format!("{origin}: {}", e.message())))?;
        Ok(Dashboards {
            list: file.dashboards,
        })
    }

    /// The dashboard called `id`.
    pub fn get(&self, id: &str) -> Option<&Dashboard> {
        self.list.iter().find(|d| d.id == id)
    }
}

/// What the viewer asked to see.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Report day; the newest built day when not given.
    pub day: Option<NaiveDate>,
    /// Window in days: 1, 7 or 30.
    pub window: u32,
    /// A hospital id.
    pub hospital: Option<String>,
    /// A province name.
    pub province: Option<String>,
}

/// The slice of the long table the filters select: a dimension and one of its values.
struct Scope {
    dimension: &'static str,
    value: String,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|s| quote(s))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn rows(
    queries: &QueryService,
    who: &Principal,
    sql: &str,
) -> std::result::Result<Vec<Value>, QueryError> {
    let QueryOutput { batches, .. } = queries.run(who, Channel::Dashboard, sql, 100_000).await?;
    to_json_rows(&batches).map_err(|e| QueryError::Failed(e.to_string()))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The dashboard's data for the filters, as the web UI draws it.
pub async fn data(
    queries: &QueryService,
    who: &Principal,
    dashboard: &Dashboard,
    filters: &Filters,
) -> std::result::Result<Value, QueryError> {
    let days = queries.days_of(VALUES).await;
    let Some(newest) = days.last() else {
        return Err(QueryError::Failed(format!(
            "{VALUES} is empty: build the warehouse first (medlake build)"
        )));
    };
    if ![1, 7, 30].contains(&filters.window) {
        return Err(QueryError::Failed("window must be 1, 7 or 30 days".into()));
    }
    let day = match filters.day {
        Some(d) => d,
        None => NaiveDate::parse_from_str(newest, "%Y-%m-%d").map_err(|_| {
            QueryError::Failed(format!("{VALUES} has a partition that is not a day"))
        })?,
    };
    let window = filters.window;
    let scope = match (&filters.hospital, &filters.province) {
        (Some(h), _) => Scope {
            dimension: "hospital",
            value: h.clone(),
        },
        (None, Some(p)) => Scope {
            dimension: "province",
            value: p.clone(),
        },
        (None, None) => Scope {
            dimension: "overall",
            value: "all".into(),
        },
    };
    let day_s = day.to_string();
    let shifted = |n: i64| (day - Duration::days(n)).to_string();

    let mut measures: Vec<String> = dashboard.headlines.clone();
    measures.extend(dashboard.trends.iter().cloned());
    measures.extend(dashboard.breakdowns.iter().map(|b| b.measure.clone()));
    measures.sort();
    measures.dedup();

    let labels = rows(
        queries,
        who,
        &format!(
            "SELECT measure, max(label_zh), max(label_en), max(unit) FROM {CATALOG} \
         WHERE dt = (SELECT max(dt) FROM {CATALOG}) AND measure IN ({}) GROUP BY measure",
            list(&measures)
        ),
    )
    .await?;
    let labels: BTreeMap<String, Value> = labels
        .into_iter()
        .map(|r| {
            (
                text(&r[0]),
                json!({ "label_zh": r[1], "label_en": r[2], "unit": r[3] }),
            )
        })
        .collect();
    let dimension_labels = rows(
        queries,
        who,
        &format!(
            "SELECT DISTINCT dimension, dimension_label_zh, dimension_label_en FROM {CATALOG} \
         WHERE dt = (SELECT max(dt) FROM {CATALOG})"
        ),
    )
    .await?;
    let dimension_labels: BTreeMap<String, Value> = dimension_labels
        .into_iter()
        .map(|r| (text(&r[0]), json!({ "label_zh": r[1], "label_en": r[2] })))
        .collect();

    let series = rows(
        queries,
        who,
        &format!(
            "SELECT measure, dt, value FROM {VALUES} \
         WHERE dt >= {} AND dt <= {} AND window_days = {window} \
           AND dimension = {} AND dimension_value = {} AND measure IN ({}) ORDER BY measure, dt",
            quote(&shifted(TREND_DAYS - 1)),
            quote(&day_s),
            quote(scope.dimension),
            quote(&scope.value),
            list(&measures)
        ),
    )
    .await?;
    let mut by_measure: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for r in series {
        by_measure
            .entry(text(&r[0]))
            .or_default()
            .insert(text(&r[1]), r[2].clone());
    }
    let value_on = |m: &str, d: &str| {
        by_measure
            .get(m)
            .and_then(|s| s.get(d))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let headlines: Vec<Value> = dashboard
        .headlines
        .iter()
        .map(|m| {
            json!({
                "measure": m,
                "labels": labels.get(m),
                "value": value_on(m, &day_s),
                "previous_day": value_on(m, &shifted(1)),
                "previous_week": value_on(m, &shifted(7)),
            })
        })
        .collect();
    let trend_days: Vec<String> = (0..TREND_DAYS).rev().map(shifted).collect();
    let trends: Vec<Value> = dashboard
        .trends
        .iter()
        .map(|m| {
            json!({
                "measure": m,
                "labels": labels.get(m),
                "days": trend_days,
                "values": trend_days.iter().map(|d| value_on(m, d)).collect::<Vec<_>>(),
            })
        })
        .collect();

    let hospitals = rows(
        queries,
        who,
        &format!(
            "SELECT CAST(hospital_id AS VARCHAR), hospital_name, province, city FROM dim_hospital \
         WHERE dt = (SELECT max(dt) FROM dim_hospital WHERE dt <= {}) ORDER BY hospital_name",
            quote(&day_s)
        ),
    )
    .await?;
    let in_province = |column: usize| -> Option<Vec<String>> {
        let p = filters.province.as_ref()?;
        Some(
            hospitals
                .iter()
                .filter(|h| text(&h[2]) == *p)
                .map(|h| text(&h[column]))
                .collect(),
        )
    };

    let mut breakdowns = Vec::new();
    for b in &dashboard.breakdowns {
        // Which values of the dimension the filter keeps, if it can narrow this dimension.
        let narrowed: Option<Vec<String>> = match (b.dimension.as_str(), &filters.hospital) {
            (_, Some(h)) if b.dimension == "hospital" => Some(vec![h.clone()]),
            ("hospital", None) => in_province(0),
            ("city", None) => in_province(3),
            ("province", None) => filters.province.clone().map(|p| vec![p]),
            _ => None,
        };
        let filtered =
            filters.hospital.is_none() && filters.province.is_none() || narrowed.is_some();
        let keep = narrowed
            .map(|v| {
                format!(
                    " AND dimension_value IN ({})",
                    if v.is_empty() { "''".into() } else { list(&v) }
                )
            })
            .unwrap_or_default();
        let limit = match b.chart {
            Chart::Table => b.top.unwrap_or(DEFAULT_TOP),
            Chart::Bar | Chart::Pie => 50,
        };
        let items = rows(
            queries,
            who,
            &format!(
                "SELECT dimension_value, dimension_label, value FROM {VALUES} \
             WHERE dt = {} AND window_days = {window} AND measure = {} AND dimension = {}{keep} \
             ORDER BY value DESC, dimension_value LIMIT {limit}",
                quote(&day_s),
                quote(&b.measure),
                quote(&b.dimension)
            ),
        )
        .await?;
        breakdowns.push(json!({
            "measure": b.measure,
            "dimension": b.dimension,
            "dimension_labels": dimension_labels.get(&b.dimension),
            "labels": labels.get(&b.measure),
            "chart": b.chart,
            "filtered": filtered,
            "items": items.iter().map(|r| json!({
                "value": r[0],
                "label": if r[1].is_null() { r[0].clone() } else { r[1].clone() },
                "v": r[2],
            })).collect::<Vec<_>>(),
        }));
    }

    let provinces: std::collections::BTreeSet<String> =
        hospitals.iter().map(|h| text(&h[2])).collect();
    Ok(json!({
        "id": dashboard.id,
        "title_zh": dashboard.title_zh,
        "title_en": dashboard.title_en,
        "day": day_s,
        "window": window,
        "days": days.iter().rev().take(400).collect::<Vec<_>>(),
        "hospitals": hospitals.iter().map(|h| json!({ "id": h[0], "name": h[1], "province": h[2] })).collect::<Vec<_>>(),
        "provinces": provinces,
        "headlines": headlines,
        "trends": trends,
        "breakdowns": breakdowns,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_dashboards_cover_every_topic() {
        let d = Dashboards::builtin().unwrap();
        let ids: Vec<&str> = d.list.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "trade",
                "consultation",
                "doctor",
                "user",
                "review",
                "medicine"
            ]
        );
        assert!(d
            .list
            .iter()
            .all(|d| !d.headlines.is_empty() && !d.trends.is_empty()));
    }

    #[test]
    fn every_dashboard_measure_and_dimension_is_declared() {
        let project = medlake_warehouse::Project::builtin().unwrap();
        let catalog = &project.metrics;
        for d in Dashboards::builtin().unwrap().list {
            let mut shown: Vec<(String, Option<String>)> = d
                .headlines
                .iter()
                .chain(&d.trends)
                .map(|m| (m.clone(), None))
                .collect();
            shown.extend(
                d.breakdowns
                    .iter()
                    .map(|b| (b.measure.clone(), Some(b.dimension.clone()))),
            );
            for (measure, dimension) in shown {
                let m = catalog.measure(&measure).unwrap_or_else(|| {
                    panic!("dashboard {} shows undeclared measure {measure}", d.id)
                });
                if let Some(dimension) = dimension {
                    assert!(
                        m.dimensions.contains(&dimension),
                        "{measure} is not cut by {dimension}"
                    );
                }
            }
        }
    }

    #[test]
    fn filter_values_are_quoted_as_sql_strings() {
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(list(&["a".into(), "b'".into()]), "'a', 'b'''");
    }
}
