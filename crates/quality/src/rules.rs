//! Every table's checks, gathered from where they are declared: the ODS tables' in the
//! project's `quality.toml`, each model's in its header (the warehouse hands them over).
//!
//! ```toml
//! # quality.toml: checks of the tables no model file describes
//! [[ods_payment_inc]]
//! kind = "range"
//! column = "data.payment_amount"
//! min = 0
//! ```

use std::collections::BTreeMap;

use crate::check::{Check, CheckKind};
use crate::error::QualityError;
use crate::query::{render_day, tables_of};

/// One table's checks and what sampling failing rows may record of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableRules {
    /// The checks, in declaration order.
    pub checks: Vec<Check>,
    /// The columns that identify a row: a failing row is sampled by these alone.
    pub key: Vec<String>,
    /// Columns holding PHI: never sampled, never profiled by value, even as a key.
    pub phi: Vec<String>,
}

impl TableRules {
    /// The key columns a sample may show: none when any of them is PHI.
    pub fn sample_key(&self) -> Option<&[String]> {
        let is_phi = |k: &String| self.phi.iter().any(|p| p == k);
        (!self.key.is_empty() && !self.key.iter().any(is_phi)).then_some(self.key.as_slice())
    }
}

/// The checks of every table of a project.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QualityRules {
    tables: BTreeMap<String, TableRules>,
}

impl QualityRules {
    /// Reads a `quality.toml`: one array of checks per ODS table.
    pub fn parse_file(text: &str, origin: &str) -> Result<QualityRules, QualityError> {
        let bad = |reason: String| QualityError::Declaration {
            origin: origin.to_string(),
            reason,
        };
        let doc: toml::Table = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        let mut rules = QualityRules::default();
        for (table, checks) in doc {
            if !table.starts_with("ods_") {
                return Err(bad(format!(
                    "[[{table}]]: quality.toml holds the checks of ods_* tables; a model \
                     declares its own in its header ([[checks]])"
                )));
            }
            let toml::Value::Array(checks) = checks else {
                return Err(bad(format!("{table}: write its checks as [[{table}]]")));
            };
            let parsed = checks
                .iter()
                .map(|c| Check::parse(&table, c, origin))
                .collect::<Result<Vec<_>, _>>()?;
            rules.add(&table, parsed, ods_key(&table), ods_phi(&table))?;
        }
        Ok(rules)
    }

    /// Adds a table's checks; a second declaration of the same check id is refused.
    pub fn add(
        &mut self,
        table: &str,
        checks: Vec<Check>,
        key: Vec<String>,
        phi: Vec<String>,
    ) -> Result<(), QualityError> {
        let entry = self.tables.entry(table.to_string()).or_default();
        for check in checks {
            if entry.checks.iter().any(|c| c.id == check.id) {
                return Err(QualityError::Declaration {
                    origin: check.origin.clone(),
                    reason: format!(
                        "two checks are named {}; give one a name = \"...\"",
                        check.id
                    ),
                });
            }
            entry.checks.push(check);
        }
        if entry.key.is_empty() {
            entry.key = key;
        }
        entry.phi.extend(phi);
        Ok(())
    }

    /// The PHI columns of `table` (from the business schema or a model's declaration):
    /// never sampled nor profiled by value.
    pub fn set_phi(&mut self, table: &str, phi: Vec<String>) {
        if let Some(rules) = self.tables.get_mut(table) {
            rules.phi.extend(phi);
        }
    }

    /// The rules of `table`, if it has checks.
    pub fn table(&self, table: &str) -> Option<&TableRules> {
        self.tables.get(table).filter(|r| !r.checks.is_empty())
    }

    /// Every table with checks, by name.
    pub fn tables(&self) -> impl Iterator<Item = (&str, &TableRules)> {
        self.tables
            .iter()
            .filter(|(_, r)| !r.checks.is_empty())
            .map(|(t, r)| (t.as_str(), r))
    }

    /// Every check, table by table.
    pub fn checks(&self) -> impl Iterator<Item = &Check> {
        self.tables.values().flat_map(|r| r.checks.iter())
    }

    /// The check named `id`.
    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks().find(|c| c.id == id)
    }

    /// Tables other than its own that `table`'s checks read (a `relationships` target, the
    /// tables of a `reconcile` or `sql` query): the audit registers them, and a build runs
    /// the table's step after them.
    pub fn referenced_tables(&self, table: &str) -> Vec<String> {
        self.tables
            .get(table)
            .map(|rules| rules.tables_read(table))
            .unwrap_or_default()
    }
}

impl TableRules {
    /// The tables these checks of `table` read besides `table` itself, sorted. A query
    /// that does not parse names none here; its check reports the error when it runs.
    pub(crate) fn tables_read(&self, table: &str) -> Vec<String> {
        let mut out = Vec::new();
        for check in &self.checks {
            match &check.kind {
                CheckKind::Relationships { to, .. } => {
                    out.extend(to.split_once('.').map(|(t, _)| t.to_string()));
                }
                CheckKind::Reconcile { left, right, .. } => {
                    for query in [left, right] {
                        out.extend(tables_of(&render_day(query, ANY_DAY)).unwrap_or_default());
                    }
                }
                CheckKind::Sql { query } => {
                    out.extend(tables_of(&render_day(query, ANY_DAY)).unwrap_or_default());
                }
                _ => {}
            }
        }
        out.retain(|t| t != table);
        out.sort();
        out.dedup();
        out
    }
}

/// A day to render `{{ dt }}` with when only a query's table names are wanted.
const ANY_DAY: chrono::NaiveDate = match chrono::NaiveDate::from_ymd_opt(2026, 1, 1) {
    Some(d) => d,
    None => panic!("2026-01-01 is a date"),
};

/// The key of an ODS table's rows: `id` of a snapshot, `data.id` of a change record.
pub fn ods_key(table: &str) -> Vec<String> {
    if table.ends_with("_inc") {
        vec!["data.id".to_string()]
    } else {
        vec!["id".to_string()]
    }
}

/// The PHI columns of an ODS table, from the business schema: `name` of a snapshot,
/// `data.name` of a change record.
pub fn ods_phi(table: &str) -> Vec<String> {
    for t in medlake_schema::business_tables() {
        let phi = t
            .captured_columns()
            .iter()
            .filter(|c| c.phi)
            .map(|c| c.name);
        if table == t.ods_full_name() {
            return phi.map(str::to_string).collect();
        }
        if table == t.ods_inc_name() {
            return phi.map(|c| format!("data.{c}")).collect();
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_toml_gives_each_ods_table_its_checks_and_key() {
        let rules = QualityRules::parse_file(
            "[[ods_payment_inc]]\nkind = \"range\"\ncolumn = \"data.payment_amount\"\nmin = 0\n\
             [[ods_payment_inc]]\nkind = \"relationships\"\ncolumn = \"data.user_id\"\nto = \"ods_user_full.id\"\n\
             [[ods_doctor_full]]\nkind = \"row_count\"\nmin = 1\nseverity = \"warn\"\n",
            "quality.toml",
        )
        .unwrap();
        let payment = rules.table("ods_payment_inc").unwrap();
        assert_eq!(payment.checks.len(), 2);
        assert_eq!(payment.sample_key().unwrap(), ["data.id"]);
        assert_eq!(
            rules.referenced_tables("ods_payment_inc"),
            ["ods_user_full"]
        );
        assert_eq!(rules.checks().count(), 3);
        assert!(rules.check("ods_doctor_full.row_count").is_some());
        assert!(ods_phi("ods_patient_inc").contains(&"data.id_card_no".to_string()));
        assert!(ods_phi("ods_patient_full").contains(&"id_card_no".to_string()));
    }

    #[test]
    fn a_model_table_or_a_twice_named_check_is_refused() {
        let err = QualityRules::parse_file("[[dwd_x]]\nkind = \"row_count\"\nmin = 1\n", "q.toml")
            .unwrap_err();
        assert!(err.to_string().contains("header"), "{err}");
        let err = QualityRules::parse_file(
            "[[ods_a_inc]]\nkind = \"row_count\"\nmin = 1\n[[ods_a_inc]]\nkind = \"row_count\"\nmax = 9\n",
            "q.toml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("two checks"), "{err}");
    }

    #[test]
    fn a_phi_key_is_never_sampled() {
        let mut rules = QualityRules::default();
        let check = Check::parse(
            "dim_p",
            &toml::from_str::<toml::Value>("kind = \"unique\"\ncolumns = [\"id_card_no\"]")
                .unwrap(),
            "dim_p.sql",
        )
        .unwrap();
        rules
            .add(
                "dim_p",
                vec![check],
                vec!["id_card_no".into()],
                vec!["id_card_no".into()],
            )
            .unwrap();
        assert!(rules.table("dim_p").unwrap().sample_key().is_none());
    }
}
