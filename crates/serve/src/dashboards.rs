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

/// Rows of a statement as JSON arrays, through the query path; `reference` reads are kept
/// until a refresh finds a new table version (see [`QueryService::run_reference`]).
async fn rows(
    queries: &QueryService,
    who: &Principal,
    sql: &str,
    reference: bool,
) -> std::result::Result<Vec<Value>, QueryError> {
    let QueryOutput { batches, .. } = if reference {
        queries
            .run_reference(who, Channel::Dashboard, sql, 100_000)
            .await?
    } else {
        queries.run(who, Channel::Dashboard, sql, 100_000).await?
    };
    to_json_rows(&batches).map_err(|e| QueryError::Failed(e.to_string()))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Labels and units of every measure, by measure, from the newest metric catalog.
async fn measure_labels(
    queries: &QueryService,
    who: &Principal,
    catalog_day: &str,
) -> std::result::Result<BTreeMap<String, Value>, QueryError> {
    let sql = format!(
        "SELECT measure, max(label_zh), max(label_en), max(unit) FROM {CATALOG} \
         WHERE dt = {} GROUP BY measure",
        quote(catalog_day)
    );
    Ok(rows(queries, who, &sql, true)
        .await?
        .into_iter()
        .map(|r| {
            (
                text(&r[0]),
                json!({ "label_zh": r[1], "label_en": r[2], "unit": r[3] }),
            )
        })
        .collect())
}

/// Labels of every dimension, by dimension, from the newest metric catalog.
async fn dimension_labels(
    queries: &QueryService,
    who: &Principal,
    catalog_day: &str,
) -> std::result::Result<BTreeMap<String, Value>, QueryError> {
    let sql = format!(
        "SELECT DISTINCT dimension, dimension_label_zh, dimension_label_en FROM {CATALOG} \
         WHERE dt = {}",
        quote(catalog_day)
    );
    Ok(rows(queries, who, &sql, true)
        .await?
        .into_iter()
        .map(|r| (text(&r[0]), json!({ "label_zh": r[1], "label_en": r[2] })))
        .collect())
}

/// The hospitals (id, name, province, city) of the `dim_hospital` snapshot in force on
/// `snapshot` (none when no snapshot is that old).
async fn hospitals(
    queries: &QueryService,
    who: &Principal,
    snapshot: Option<&String>,
) -> std::result::Result<Vec<Value>, QueryError> {
    let Some(snapshot) = snapshot else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "SELECT CAST(hospital_id AS VARCHAR), hospital_name, province, city FROM dim_hospital \
         WHERE dt = {} ORDER BY hospital_name",
        quote(snapshot)
    );
    rows(queries, who, &sql, true).await
}

/// Column positions in the rows of [`values_sql`].
mod col {
    pub const MEASURE: usize = 0;
    pub const DIMENSION: usize = 1;
    pub const DIMENSION_VALUE: usize = 2;
    pub const DIMENSION_LABEL: usize = 3;
    pub const DT: usize = 4;
    pub const VALUE: usize = 5;
}

/// One read of the long table for a whole dashboard: the scope's values of every shown
/// measure over the trend days, and every value of the breakdowns' dimensions on the day.
fn values_sql(
    dashboard: &Dashboard,
    measures: &[String],
    scope: &Scope,
    window: u32,
    (first, day): (&str, &str),
) -> String {
    let mut dimensions: Vec<String> = dashboard
        .breakdowns
        .iter()
        .map(|b| b.dimension.clone())
        .collect();
    dimensions.sort();
    dimensions.dedup();
    let on_day = if dimensions.is_empty() {
        String::new()
    } else {
        format!(
            " OR (dt = {} AND dimension IN ({}))",
            quote(day),
            list(&dimensions)
        )
    };
    format!(
        "SELECT measure, dimension, dimension_value, dimension_label, dt, value FROM {VALUES} \
         WHERE dt >= {} AND dt <= {} AND window_days = {window} AND measure IN ({}) \
           AND ((dimension = {} AND dimension_value = {}){on_day})",
        quote(first),
        quote(day),
        list(measures),
        quote(scope.dimension),
        quote(&scope.value),
    )
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

    let catalog_day = queries.days_of(CATALOG).await.pop().unwrap_or_default();
    let hospital_days = queries.days_of("dim_hospital").await;
    let snapshot = hospital_days.iter().rev().find(|d| **d <= day_s);
    let values = values_sql(
        dashboard,
        &measures,
        &scope,
        window,
        (&shifted(TREND_DAYS - 1), &day_s),
    );
    let (labels, dimension_labels, hospitals, values) = futures::try_join!(
        measure_labels(queries, who, &catalog_day),
        dimension_labels(queries, who, &catalog_day),
        hospitals(queries, who, snapshot),
        rows(queries, who, &values, false),
    )?;

    let mut by_measure: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for r in values.iter().filter(|r| {
        r[col::DIMENSION] == scope.dimension && text(&r[col::DIMENSION_VALUE]) == scope.value
    }) {
        by_measure
            .entry(text(&r[col::MEASURE]))
            .or_default()
            .insert(text(&r[col::DT]), r[col::VALUE].clone());
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
    let breakdowns: Vec<Value> = dashboard
        .breakdowns
        .iter()
        .map(|b| {
            // Which values of the dimension the filter keeps, if it can narrow this dimension.
            let narrowed: Option<Vec<String>> = match (b.dimension.as_str(), &filters.hospital) {
                ("hospital", Some(h)) => Some(vec![h.clone()]),
                ("hospital", None) => in_province(0),
                ("city", None) => in_province(3),
                ("province", None) => filters.province.clone().map(|p| vec![p]),
                _ => None,
            };
            let filtered =
                filters.hospital.is_none() && filters.province.is_none() || narrowed.is_some();
            let limit = match b.chart {
                Chart::Table => b.top.unwrap_or(DEFAULT_TOP),
                Chart::Bar | Chart::Pie => 50,
            };
            let items = top_items(&values, b, &day_s, narrowed.as_deref(), limit);
            json!({
                "measure": b.measure,
                "dimension": b.dimension,
                "dimension_labels": dimension_labels.get(&b.dimension),
                "labels": labels.get(&b.measure),
                "chart": b.chart,
                "filtered": filtered,
                "items": items,
            })
        })
        .collect();

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

/// A breakdown's items on `day`: its measure cut by its dimension, only the `kept` values
/// when the filters narrow it, largest first (ties by value name), at most `limit`.
fn top_items(
    values: &[Value],
    breakdown: &Breakdown,
    day: &str,
    kept: Option<&[String]>,
    limit: usize,
) -> Vec<Value> {
    let mut items: Vec<&Value> = values
        .iter()
        .filter(|r| {
            r[col::DT] == day
                && r[col::MEASURE] == breakdown.measure.as_str()
                && r[col::DIMENSION] == breakdown.dimension.as_str()
                && kept.is_none_or(|k| k.contains(&text(&r[col::DIMENSION_VALUE])))
        })
        .collect();
    let number = |r: &Value| r[col::VALUE].as_f64().unwrap_or(f64::NEG_INFINITY);
    items.sort_by(|a, b| {
        number(b)
            .total_cmp(&number(a))
            .then_with(|| text(&a[col::DIMENSION_VALUE]).cmp(&text(&b[col::DIMENSION_VALUE])))
    });
    items
        .into_iter()
        .take(limit)
        .map(|r| {
            let label = &r[col::DIMENSION_LABEL];
            json!({
                "value": r[col::DIMENSION_VALUE],
                "label": if label.is_null() { &r[col::DIMENSION_VALUE] } else { label },
                "v": r[col::VALUE],
            })
        })
        .collect()
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
    fn a_breakdown_keeps_its_day_measure_and_dimension_largest_first() {
        let row = |measure: &str, dimension: &str, value: &str, dt: &str, v: f64| {
            json!([measure, dimension, value, Value::Null, dt, v])
        };
        let values = vec![
            row("gmv", "hospital", "h1", "2026-01-02", 5.0),
            row("gmv", "hospital", "h2", "2026-01-02", 9.0),
            row("gmv", "hospital", "h3", "2026-01-02", 9.0),
            row("gmv", "hospital", "h4", "2026-01-01", 99.0),
            row("gmv", "city", "c1", "2026-01-02", 99.0),
            row("orders", "hospital", "h5", "2026-01-02", 99.0),
        ];
        let breakdown = Breakdown {
            measure: "gmv".into(),
            dimension: "hospital".into(),
            chart: Chart::Bar,
            top: None,
        };
        let names = |items: Vec<Value>| -> Vec<String> {
            items.iter().map(|i| text(&i["label"])).collect()
        };
        assert_eq!(
            names(top_items(&values, &breakdown, "2026-01-02", None, 10)),
            ["h2", "h3", "h1"]
        );
        assert_eq!(
            names(top_items(&values, &breakdown, "2026-01-02", None, 2)),
            ["h2", "h3"]
        );
        let kept = ["h1".to_string(), "h3".to_string()];
        assert_eq!(
            names(top_items(
                &values,
                &breakdown,
                "2026-01-02",
                Some(&kept),
                10
            )),
            ["h3", "h1"]
        );
    }

    #[test]
    fn filter_values_are_quoted_as_sql_strings() {
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(list(&["a".into(), "b'".into()]), "'a', 'b'''");
    }
}
