//! The topic dashboards: declared in `dashboards.toml` (data, not code), filled from the
//! long metric table `ads_metric_value` through the one query path, so a dashboard shows
//! exactly the numbers the checks verified and the asker's role allows.
//!
//! Filters: the report day, the window (one the metric catalog declares: 1, 7 or 30 days
//! by default), a hospital or a province. The metrics are cut by one dimension at a time,
//! so a hospital or province filter narrows the headlines and trends (the metric's own
//! hospital or province value), the hospital and city breakdowns (to that province's
//! hospitals and cities), and leaves the other breakdowns over all hospitals, marked as
//! such.

mod fill;
mod lineage;
mod reads;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::{Result, ServeError};

pub use fill::data;

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
    /// Items shown at most, largest first (a table shows 10 unless it says, a bar or pie
    /// chart 50).
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
            include_str!("../../dashboards.toml"),
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
    /// Window in days: one the metric catalog declares (1, 7 and 30 by default).
    pub window: u32,
    /// A hospital id.
    pub hospital: Option<String>,
    /// A province name.
    pub province: Option<String>,
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
                "medicine",
                "imaging"
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
}
