//! PHI tags carried along lineage. A column is PHI when it is declared so (a business
//! column tagged in `medlake-schema`, a model column in its declaration's `phi`), or when
//! it derives DIRECT from a PHI column (its value is computed from a patient's identity:
//! a copy, a substring, a hash without a key) unless its declaration says it is
//! de-identified (`deidentified = [...]`: an age group from a birthday, a count). INDIRECT
//! dependence does not carry PHI: a filter on an ID number reveals no ID number in the
//! rows it lets through.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::field::FieldRef;
use crate::graph::{kind_of, LineageGraph, NodeKind};

/// What the models declare about PHI: per dataset, the columns declared PHI and those
/// declared de-identified.
#[derive(Debug, Clone, Default)]
pub struct PhiDeclarations {
    /// Dataset -> columns declared PHI.
    pub declared: BTreeMap<String, BTreeSet<String>>,
    /// Dataset -> columns declared de-identified (their PHI inputs do not carry over).
    pub deidentified: BTreeMap<String, BTreeSet<String>>,
}

impl PhiDeclarations {
    fn says(map: &BTreeMap<String, BTreeSet<String>>, f: &FieldRef) -> bool {
        map.get(&f.dataset).is_some_and(|c| c.contains(&f.field))
    }
}

/// A PHI column of the lake and why it is PHI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhiColumn {
    /// The column.
    pub field: FieldRef,
    /// Declared PHI by its own table (schema or model declaration).
    pub declared: bool,
    /// The business PHI columns it derives from (empty for a declared column with no PHI
    /// input, such as a name typed into a model).
    pub origins: BTreeSet<FieldRef>,
}

impl PhiColumn {
    /// PHI by derivation only, with no declaration saying so: the build warns about it.
    pub fn undeclared(&self) -> bool {
        !self.declared && !self.origins.is_empty()
    }
}

/// Every PHI column of the lake datasets in `graph`, own and inherited.
pub fn phi_columns(graph: &LineageGraph, decl: &PhiDeclarations) -> Vec<PhiColumn> {
    let mut memo: BTreeMap<FieldRef, BTreeSet<FieldRef>> = BTreeMap::new();
    let mut out = Vec::new();
    for d in graph.datasets() {
        if kind_of(&d.dataset) != NodeKind::Lake {
            continue;
        }
        for c in &d.columns {
            let field = FieldRef::new(d.dataset.clone(), c.name.clone());
            let origins = phi_origins(graph, decl, &field, &mut memo, &mut BTreeSet::new());
            // The ODS layer's PHI is the business schema's own tags, landed as they are.
            let declared = PhiDeclarations::says(&decl.declared, &field)
                || (d.dataset.starts_with("ods_") && !origins.is_empty());
            if declared || !origins.is_empty() {
                out.push(PhiColumn {
                    field,
                    declared,
                    origins,
                });
            }
        }
    }
    out
}

/// The business PHI columns `field` derives from through DIRECT edges, stopping at
/// columns declared de-identified.
fn phi_origins(
    graph: &LineageGraph,
    decl: &PhiDeclarations,
    field: &FieldRef,
    memo: &mut BTreeMap<FieldRef, BTreeSet<FieldRef>>,
    on_path: &mut BTreeSet<FieldRef>,
) -> BTreeSet<FieldRef> {
    if let Some(known) = memo.get(field) {
        return known.clone();
    }
    if kind_of(&field.dataset) == NodeKind::Business {
        let phi = medlake_schema::table(&field.dataset)
            .and_then(|t| t.columns.iter().find(|c| c.name == field.field))
            .is_some_and(|c| c.phi);
        return if phi {
            BTreeSet::from([field.clone()])
        } else {
            BTreeSet::new()
        };
    }
    if PhiDeclarations::says(&decl.deidentified, field) || !on_path.insert(field.clone()) {
        return BTreeSet::new();
    }
    let mut origins = BTreeSet::new();
    for (input, subtypes) in graph.inputs_of(field) {
        if subtypes.iter().any(|s| s.is_direct()) {
            origins.extend(phi_origins(graph, decl, &input, memo, on_path));
        }
    }
    on_path.remove(field);
    memo.insert(field.clone(), origins.clone());
    origins
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{add_input, ColumnLineage, DatasetLineage, Inputs, Subtype};

    fn column(name: &str, from: &[(&str, &str, Subtype)]) -> ColumnLineage {
        let mut inputs = Inputs::new();
        for (d, f, s) in from {
            add_input(&mut inputs, FieldRef::new(*d, *f), *s);
        }
        ColumnLineage {
            name: name.into(),
            inputs,
        }
    }

    #[test]
    fn direct_derivation_carries_phi_and_deidentified_stops_it() {
        let patient = medlake_schema::table("patient").unwrap();
        let phi = patient.columns.iter().find(|c| c.phi).unwrap().name;
        let plain = patient
            .columns
            .iter()
            .find(|c| !c.phi && !c.secret)
            .unwrap()
            .name;
        let graph = LineageGraph::new([DatasetLineage {
            dataset: "dim_p".into(),
            columns: vec![
                column("copy", &[("patient", phi, Subtype::Transformation)]),
                column("bucket", &[("patient", phi, Subtype::Transformation)]),
                column("other", &[("patient", plain, Subtype::Identity)]),
                column("filtered", &[("patient", phi, Subtype::Filter)]),
            ],
            dataset_inputs: Inputs::new(),
        }]);
        let mut decl = PhiDeclarations::default();
        decl.deidentified
            .insert("dim_p".into(), BTreeSet::from(["bucket".to_string()]));
        let tags = phi_columns(&graph, &decl);
        let names: Vec<&str> = tags.iter().map(|t| t.field.field.as_str()).collect();
        assert_eq!(names, ["copy"]);
        assert!(tags[0].undeclared());
    }
}
