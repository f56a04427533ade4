//! Which lake columns hold protected health information: the business schema's PHI columns
//! (`medlake_schema::Column::phi`) in the ODS tables they land in, and the columns a model
//! declares (`phi = [...]` in its header). Policies mask these by default.
//!
//! In `ods_<t>_full` a PHI column keeps its name; in `ods_<t>_inc` it is a field of the
//! change record's `data` (`data.name`), and the record's `old` (the changed columns'
//! previous values, as JSON) and `data_extra` (columns the schema does not know, as JSON)
//! may carry any column, so they count as PHI whenever the table has PHI at all
//! (`data_extra` always: an unknown column is not known to be harmless).

use std::collections::{BTreeMap, BTreeSet};

/// PHI columns by lake table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhiTags {
    tables: BTreeMap<String, BTreeSet<String>>,
}

impl PhiTags {
    /// The business schema's PHI in the ODS tables, plus the models' declarations.
    pub fn of(project: &medlake_warehouse::Project) -> PhiTags {
        let mut tags = PhiTags::of_schema();
        for step in &project.steps {
            if let medlake_warehouse::StepKind::Model(model) = &step.kind {
                for column in &model.declaration.phi {
                    tags.add(&step.name, column);
                }
            }
        }
        tags
    }

    /// The business schema's PHI in the ODS tables: among the captured columns, the ones
    /// the lake holds (a secret column never lands, so it is no lake column to tag).
    fn of_schema() -> PhiTags {
        let mut tags = PhiTags::default();
        for table in medlake_schema::business_tables() {
            let phi: Vec<&str> = table
                .captured_columns()
                .iter()
                .filter(|c| c.phi)
                .map(|c| c.name)
                .collect();
            let inc = format!("ods_{}_inc", table.name);
            tags.add(&inc, "data_extra");
            if phi.is_empty() {
                continue;
            }
            tags.add(&inc, "old");
            for column in phi {
                tags.add(&format!("ods_{}_full", table.name), column);
                tags.add(&inc, &format!("data.{column}"));
            }
        }
        tags
    }

    /// The shipped schema and models.
    pub fn builtin() -> PhiTags {
        medlake_warehouse::Project::builtin()
            .map(|p| PhiTags::of(&p))
            .unwrap_or_else(|_| PhiTags::of_schema())
    }

    /// Adds the columns lineage finds derived DIRECT from PHI, so a model column that
    /// copies a patient's name is masked even when its header forgot to say so.
    pub fn with_inherited(mut self, columns: &[medlake_lineage::PhiColumn]) -> PhiTags {
        for c in columns {
            self.add(&c.field.dataset, &c.field.field);
        }
        self
    }

    fn add(&mut self, table: &str, column: &str) {
        self.tables
            .entry(table.to_string())
            .or_default()
            .insert(column.to_string());
    }

    /// Whether `column` (a name, or `data.name`) of `table` is PHI.
    pub fn is_phi(&self, table: &str, column: &str) -> bool {
        self.tables
            .get(table)
            .is_some_and(|columns| columns.contains(column))
    }

    /// Whether any field under `column` (a struct such as `data`) is PHI.
    pub fn has_phi_inside(&self, table: &str, column: &str) -> bool {
        let prefix = format!("{column}.");
        self.tables
            .get(table)
            .is_some_and(|columns| columns.iter().any(|c| c.starts_with(&prefix)))
    }

    /// Every PHI column, by table.
    pub fn all(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.tables
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_phi_lands_in_both_ods_tables_and_models_declare_theirs() {
        let tags = PhiTags::builtin();
        assert!(tags.is_phi("ods_patient_full", "id_card_no"));
        assert!(tags.is_phi("ods_patient_inc", "data.id_card_no"));
        assert!(tags.is_phi("ods_patient_inc", "old"));
        assert!(tags.has_phi_inside("ods_patient_inc", "data"));
        assert!(!tags.is_phi("ods_patient_full", "gender"));
        assert!(tags.is_phi("dim_patient_zip", "id_card_no"));
        assert!(tags.is_phi("dim_user", "telephone"));
        assert!(!tags.is_phi("dim_hospital", "hospital_name"));
        assert!(tags.is_phi("ods_hospital_inc", "data_extra"));
    }
}
