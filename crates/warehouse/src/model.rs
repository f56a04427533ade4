//! One model: a SQL file with its declaration in a leading `/* ... */` TOML block.
//!
//! ```sql
//! /*
//! description = "Doctors as they were at the end of the day."
//! grain = "one row per doctor per day"
//! materialization = "snapshot"
//! phi = ["doctor_name"]
//! [columns]
//! doctor_id = "Doctor id."
//! */
//! SELECT id AS doctor_id, name AS doctor_name FROM ods_doctor_full WHERE dt = '{{ dt }}'
//! ```

use std::collections::BTreeMap;

use medlake_quality::Check;
use serde::Deserialize;

use crate::error::WarehouseError;

/// The warehouse layers, in the order data flows through them.
pub const LAYERS: [&str; 5] = ["ods", "dim", "dwd", "dws", "ads"];

/// How a model's result is kept. Every kind writes partition `dt` of the model's table in
/// one Delta commit, so a rebuild of a day replaces exactly that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Materialization {
    /// Daily full snapshot: partition `dt` holds the whole table as of that day.
    Snapshot,
    /// Daily incremental partition: partition `dt` holds the events of that day.
    Incremental,
    /// Slowly changing dimension (type 2, "zipper"): the SQL returns the rows that changed
    /// on the day; partition `dt` holds every version with `start_date` and `end_date`.
    Scd2,
    /// To-date accumulation: the SQL returns the day's rows; partition `dt` holds the
    /// previous partition merged with them by `unique_key` using the `merge` rules.
    Accumulate,
}

/// How an accumulating model combines a column of yesterday's and today's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeRule {
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Sum.
    Sum,
}

impl MergeRule {
    /// The SQL aggregate of the rule.
    pub fn sql(self) -> &'static str {
        match self {
            MergeRule::Min => "min",
            MergeRule::Max => "max",
            MergeRule::Sum => "sum",
        }
    }
}

/// The declaration at the head of a model file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// What the table holds, for people.
    pub description: String,
    /// What one row is.
    pub grain: String,
    /// How the result is kept.
    pub materialization: Materialization,
    /// Columns holding protected health information.
    #[serde(default)]
    pub phi: Vec<String>,
    /// Columns computed from PHI that no longer identify anyone (an age group from a
    /// birthday): lineage does not carry the PHI tag of their inputs to them.
    #[serde(default)]
    pub deidentified: Vec<String>,
    /// Columns that read no table (the build day's calendar facts, literals): lineage finds
    /// no input for them, and this says that is meant.
    #[serde(default)]
    pub constant: Vec<String>,
    /// Who answers for the table (a person or team), for the catalog.
    #[serde(default)]
    pub owner: Option<String>,
    /// Free tags for the catalog's search (`finance`, `daily`, ...).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Key columns of `scd2` and `accumulate` models.
    #[serde(default)]
    pub unique_key: Vec<String>,
    /// Per-column rules of `accumulate` models; other non-key columns keep the latest value.
    #[serde(default)]
    pub merge: BTreeMap<String, MergeRule>,
    /// Fail the model when it returns no rows (a snapshot of an empty source is a broken sync).
    #[serde(default)]
    pub expect_rows: bool,
    /// Documentation of columns.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Quality checks of each new partition, run before it is published (medlake-quality,
    /// docs/quality.md); read into [`Model::checks`].
    #[serde(default)]
    pub checks: Vec<toml::Value>,
}

/// A model: a named SQL query of one layer with its declaration.
#[derive(Debug, Clone)]
pub struct Model {
    /// Table name (the file name without `.sql`).
    pub name: String,
    /// Layer (the folder).
    pub layer: String,
    /// The declaration.
    pub declaration: Declaration,
    /// The SQL with `{{ }}` placeholders.
    pub sql: String,
    /// The declared quality checks.
    pub checks: Vec<Check>,
    /// Where it was read from, for messages.
    pub origin: String,
}

impl Model {
    /// Parses a model file of `layer` named `name`.
    pub fn parse(
        name: &str,
        layer: &str,
        text: &str,
        origin: &str,
    ) -> Result<Model, WarehouseError> {
        let bad = |reason: String| WarehouseError::definition(origin, reason);
        if name.starts_with("pg_") {
            // Clients and the serving policies read `pg_*` as PostgreSQL's system catalog.
            return Err(bad(format!(
                "a model may not be named {name}: names starting with pg_ belong to the \
                 PostgreSQL system catalog"
            )));
        }
        let body = text.trim_start();
        let rest = body
            .strip_prefix("/*")
            .ok_or_else(|| bad("a model starts with its declaration in /* ... */".into()))?;
        let end = rest
            .find("*/")
            .ok_or_else(|| bad("the declaration's /* has no closing */".into()))?;
        let declaration: Declaration =
            toml::from_str(&rest[..end]).map_err(|e| bad(format!("declaration: {e}")))?;
        let sql = rest[end + 2..].trim().trim_end_matches(';').to_string();
        if sql.is_empty() {
            return Err(bad("no SQL after the declaration".into()));
        }
        if !LAYERS.contains(&layer) || layer == "ods" {
            return Err(bad(format!(
                "layer {layer:?} is not one of dim, dwd, dws, ads"
            )));
        }
        if !name.starts_with(&format!("{layer}_")) {
            return Err(bad(format!("a {layer} model's name starts with {layer}_")));
        }
        let keyed = matches!(
            declaration.materialization,
            Materialization::Scd2 | Materialization::Accumulate
        );
        if keyed && declaration.unique_key.is_empty() {
            return Err(bad("scd2 and accumulate models need unique_key".into()));
        }
        let checks = declaration
            .checks
            .iter()
            .map(|c| Check::parse(name, c, origin))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Model {
            name: name.to_string(),
            layer: layer.to_string(),
            declaration,
            sql,
            checks,
            origin: origin.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_declaration_and_sql() {
        let m = Model::parse(
            "dim_x",
            "dim",
            "/*\ndescription = \"d\"\ngrain = \"g\"\nmaterialization = \"snapshot\"\nphi = [\"a\"]\n[columns]\na = \"A\"\n*/\nSELECT 1 AS a;\n",
            "dim/dim_x.sql",
        )
        .unwrap();
        assert_eq!(m.declaration.materialization, Materialization::Snapshot);
        assert_eq!(m.declaration.phi, vec!["a"]);
        let text = "/*\ndescription = \"d\"\ngrain = \"g\"\nmaterialization = \"snapshot\"\n*/\nSELECT 1 AS a;\n";
        let refused = Model::parse("pg_class", "dim", text, "pg_class.sql").unwrap_err();
        assert!(refused.to_string().contains("pg_"), "{refused}");
        assert_eq!(m.sql, "SELECT 1 AS a");
    }

    #[test]
    fn a_model_declares_its_checks() {
        let text = "/*\ndescription = \"d\"\ngrain = \"g\"\nmaterialization = \"incremental\"\n\
                    [[checks]]\nkind = \"unique\"\ncolumns = [\"a\"]\n\
                    [[checks]]\nkind = \"range\"\ncolumn = \"a\"\nmin = 0\nseverity = \"warn\"\n*/\nSELECT 1 AS a";
        let m = Model::parse("dwd_x", "dwd", text, "dwd/dwd_x.sql").unwrap();
        let ids: Vec<&str> = m.checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["dwd_x.unique_a", "dwd_x.range_a"]);
        let bad = text.replace("min = 0", "min = \"zero\"");
        let err = Model::parse("dwd_x", "dwd", &bad, "dwd/dwd_x.sql").unwrap_err();
        assert!(err.to_string().starts_with("dwd/dwd_x.sql"), "{err}");
    }

    #[test]
    fn malformed_models_are_refused_with_the_file_name() {
        let cases = [
            ("SELECT 1", "starts with its declaration"),
            ("/* description = 1 */ SELECT 1", "declaration"),
            (
                "/*\ndescription=\"d\"\ngrain=\"g\"\nmaterialization=\"scd2\"\n*/ SELECT 1",
                "unique_key",
            ),
            (
                "/*\ndescription=\"d\"\ngrain=\"g\"\nmaterialization=\"daily\"\n*/ SELECT 1",
                "materialization",
            ),
        ];
        for (text, expected) in cases {
            let err = Model::parse("dim_x", "dim", text, "dim/dim_x.sql").unwrap_err();
            let msg = err.to_string();
            assert!(msg.starts_with("dim/dim_x.sql"), "{msg}");
            assert!(msg.contains(expected), "{msg}");
        }
    }
}
