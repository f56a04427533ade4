//! Filling a dashboard for its filters: one read of the long table, cut in Rust into
//! headlines (with day-over-day and week-over-week values), trends and top-N breakdowns.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};

use super::reads::{
    at, col, dimension_labels, hospitals, measure_labels, rows, text, values_sql, windows, Row,
    Scope,
};
use super::{Breakdown, Chart, Dashboard, Filters, CATALOG, DEFAULT_TOP, TREND_DAYS, VALUES};
use crate::accounts::Principal;
use crate::query::{QueryError, QueryService};

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
    let catalog_day = queries.days_of(CATALOG).await.pop().unwrap_or_default();
    let windows = windows(queries, who, &catalog_day).await?;
    if !windows.contains(&filters.window) {
        let known: Vec<String> = windows.iter().map(u32::to_string).collect();
        return Err(QueryError::Failed(format!(
            "window must be one of the metric catalog's windows ({} days)",
            known.join(", ")
        )));
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
        *at(r, col::DIMENSION) == scope.dimension
            && text(at(r, col::DIMENSION_VALUE)) == scope.value
    }) {
        by_measure
            .entry(text(at(r, col::MEASURE)))
            .or_default()
            .insert(text(at(r, col::DT)), at(r, col::VALUE).clone());
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

    let in_province = |column: &str| -> Option<Vec<String>> {
        let p = filters.province.as_ref()?;
        Some(
            hospitals
                .iter()
                .filter(|h| text(at(h, "province")) == *p)
                .map(|h| text(at(h, column)))
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
                ("hospital", None) => in_province("id"),
                ("city", None) => in_province("city"),
                ("province", None) => filters.province.clone().map(|p| vec![p]),
                _ => None,
            };
            let filtered =
                filters.hospital.is_none() && filters.province.is_none() || narrowed.is_some();
            let limit = match b.chart {
                Chart::Table => b.top.unwrap_or(DEFAULT_TOP),
                Chart::Bar | Chart::Pie => b.top.unwrap_or(50),
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
        hospitals.iter().map(|h| text(at(h, "province"))).collect();
    Ok(json!({
        "id": dashboard.id,
        "title_zh": dashboard.title_zh,
        "title_en": dashboard.title_en,
        "day": day_s,
        "window": window,
        "windows": windows,
        "days": days.iter().rev().take(400).collect::<Vec<_>>(),
        "hospitals": hospitals
            .iter()
            .map(|h| json!({ "id": at(h, "id"), "name": at(h, "name"), "province": at(h, "province") }))
            .collect::<Vec<_>>(),
        "provinces": provinces,
        "headlines": headlines,
        "trends": trends,
        "breakdowns": breakdowns,
    }))
}

/// A breakdown's items on `day`: its measure cut by its dimension, only the `kept` values
/// when the filters narrow it, largest first (ties by value name), at most `limit`.
fn top_items(
    values: &[Row],
    breakdown: &Breakdown,
    day: &str,
    kept: Option<&[String]>,
    limit: usize,
) -> Vec<Value> {
    let mut items: Vec<&Row> = values
        .iter()
        .filter(|r| {
            *at(r, col::DT) == day
                && *at(r, col::MEASURE) == breakdown.measure.as_str()
                && *at(r, col::DIMENSION) == breakdown.dimension.as_str()
                && kept.is_none_or(|k| k.contains(&text(at(r, col::DIMENSION_VALUE))))
        })
        .collect();
    let number = |r: &Row| at(r, col::VALUE).as_f64().unwrap_or(f64::NEG_INFINITY);
    items.sort_by(|a, b| {
        number(b)
            .total_cmp(&number(a))
            .then_with(|| text(at(a, col::DIMENSION_VALUE)).cmp(&text(at(b, col::DIMENSION_VALUE))))
    });
    items
        .into_iter()
        .take(limit)
        .map(|r| {
            let label = at(r, col::DIMENSION_LABEL);
            json!({
                "value": at(r, col::DIMENSION_VALUE),
                "label": if label.is_null() { at(r, col::DIMENSION_VALUE) } else { label },
                "v": at(r, col::VALUE),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_breakdown_keeps_its_day_measure_and_dimension_largest_first() {
        let row = |measure: &str, dimension: &str, value: &str, dt: &str, v: f64| -> Row {
            let row = json!({
                "measure": measure, "dimension": dimension, "dimension_value": value,
                "dimension_label": Value::Null, "dt": dt, "value": v,
            });
            row.as_object().unwrap().clone()
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
}
