//! What each dashboard chart shows, for lineage: a chart reads the instances of its
//! measure (`metric:<measure>.<dimension>.<window>d`) for the window the viewer picks, cut
//! by its own dimension (a breakdown) or overall (headlines and trends), and by hospital
//! or province when the viewer filters by one.

use medlake_lineage::{ColumnLineage, DatasetLineage, FieldRef, Inputs, Subtype, DASHBOARD_PREFIX};
use medlake_warehouse::{instance_dataset, MetricCatalog};

use super::{Dashboard, Dashboards};

/// Dimensions a viewer's filters cut every chart by.
const FILTER_DIMENSIONS: [&str; 2] = ["hospital", "province"];

impl Dashboards {
    /// One dataset per dashboard (`dashboard:<id>`), one field per chart:
    /// `headline.<measure>`, `trend.<measure>`, `breakdown.<measure>.<dimension>`.
    pub fn lineage(&self, metrics: &MetricCatalog) -> Vec<DatasetLineage> {
        self.list
            .iter()
            .map(|d| dashboard_lineage(d, metrics))
            .collect()
    }
}

fn dashboard_lineage(d: &Dashboard, metrics: &MetricCatalog) -> DatasetLineage {
    let mut columns = Vec::new();
    for (kind, measures) in [("headline", &d.headlines), ("trend", &d.trends)] {
        for m in measures {
            columns.push(chart(format!("{kind}.{m}"), metrics, m, "overall"));
        }
    }
    for b in &d.breakdowns {
        let name = format!("breakdown.{}.{}", b.measure, b.dimension);
        columns.push(chart(name, metrics, &b.measure, &b.dimension));
    }
    DatasetLineage {
        dataset: format!("{DASHBOARD_PREFIX}{}", d.id),
        columns,
        dataset_inputs: Inputs::new(),
    }
}

fn chart(name: String, metrics: &MetricCatalog, measure: &str, dimension: &str) -> ColumnLineage {
    let mut inputs = Inputs::new();
    if let Some(m) = metrics.measure(measure) {
        let cuts = std::iter::once(dimension)
            .chain(FILTER_DIMENSIONS)
            .filter(|d| m.dimensions.iter().any(|x| x.as_str() == *d));
        for cut in cuts {
            for &w in &m.windows {
                let instance = FieldRef::new(instance_dataset(measure, cut, w), "value");
                medlake_lineage::field::add_input(&mut inputs, instance, Subtype::Identity);
            }
        }
    }
    ColumnLineage { name, inputs }
}
