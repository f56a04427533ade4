//! The platform's lineage graph as one piece: the ODS layer's lineage from the business
//! schema, every step's lineage as the builds recorded it in the catalog, and the
//! dashboards' charts. `medlake lineage`, the build's PHI check and the web catalog all
//! read this one graph.

use chrono::NaiveDate;
use medlake_catalog::Catalog;
use medlake_lineage::{LineageGraph, PhiDeclarations, StoreError};
use medlake_warehouse::Project;

use crate::dashboards::Dashboards;

/// The graph as of day `day` (the lineage that built it) or as last built; also says how
/// many steps have recorded lineage (none before the first build).
pub fn platform_graph(
    catalog: &Catalog,
    project: &Project,
    day: Option<NaiveDate>,
) -> Result<(LineageGraph, usize), StoreError> {
    let steps = medlake_lineage::load(catalog, day)?;
    let recorded = steps.len();
    let mut datasets = medlake_lineage::all_ods_lineage();
    datasets.extend(steps.into_iter().flat_map(|s| s.datasets));
    if let Ok(dashboards) = Dashboards::builtin() {
        datasets.extend(dashboards.lineage(&project.metrics));
    }
    Ok((LineageGraph::new(datasets), recorded))
}

/// What the models declare about PHI: `phi = [...]` and `deidentified = [...]`.
pub fn phi_declarations(project: &Project) -> PhiDeclarations {
    let mut decl = PhiDeclarations::default();
    for step in &project.steps {
        if let Some(d) = step.declaration() {
            decl.declared
                .insert(step.name.clone(), d.phi.iter().cloned().collect());
            decl.deidentified
                .insert(step.name.clone(), d.deidentified.iter().cloned().collect());
        }
    }
    decl
}
