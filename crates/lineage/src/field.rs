//! The vocabulary of lineage: a field of a dataset, how an output depends on it (in
//! OpenLineage's terms), and the lineage of one dataset.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The field name that stands for a dataset's rows (see [`FieldRef::rows`]).
pub const ROWS: &str = "*";

/// A field of a dataset: a lake table, a business table, a metric or a dashboard, and a
/// field path inside it (`data.payment_amount` for a field of a struct column).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FieldRef {
    /// The dataset's name (`ods_payment_inc`, `payment`, `metric:pay_conversion_rate`).
    pub dataset: String,
    /// The field path, dot-separated.
    pub field: String,
}

impl FieldRef {
    /// The field `field` of `dataset`.
    pub fn new(dataset: impl Into<String>, field: impl Into<String>) -> FieldRef {
        FieldRef {
            dataset: dataset.into(),
            field: field.into(),
        }
    }

    /// The rows of `dataset` (`payment.*`): what `count(*)` reads. The rows of a table are
    /// decided by the rows of what it reads and by its filters, joins and keys.
    pub fn rows(dataset: impl Into<String>) -> FieldRef {
        FieldRef::new(dataset, ROWS)
    }

    /// Whether this stands for the rows of its dataset rather than a column.
    pub fn is_rows(&self) -> bool {
        self.field == ROWS
    }

    /// The same dataset, one level deeper in a struct (`data` -> `data.payment_amount`).
    pub fn child(&self, name: &str) -> FieldRef {
        FieldRef::new(self.dataset.clone(), format!("{}.{name}", self.field))
    }
}

impl std::fmt::Display for FieldRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.dataset, self.field)
    }
}

/// How an output depends on an input field: OpenLineage's transformation subtypes. The
/// first three are DIRECT (the output's value is computed from the input's), the rest
/// INDIRECT (the input decides which rows there are or which branch is taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Subtype {
    /// The value as it is (a column selected, renamed, passed through a join or a union).
    Identity,
    /// A value computed from the input (an expression, a cast, a CASE branch).
    Transformation,
    /// An aggregate over rows of the input.
    Aggregation,
    /// A join key or join condition.
    Join,
    /// A `WHERE`/`HAVING` predicate, or a subquery deciding rows.
    Filter,
    /// A `GROUP BY` key.
    GroupBy,
    /// An `ORDER BY` key.
    Sort,
    /// A window's `PARTITION BY` or `ORDER BY`.
    Window,
    /// A `CASE WHEN` condition.
    Conditional,
}

impl Subtype {
    /// Whether the output's value is computed from the input (OpenLineage `DIRECT`).
    pub fn is_direct(self) -> bool {
        matches!(
            self,
            Subtype::Identity | Subtype::Transformation | Subtype::Aggregation
        )
    }

    /// OpenLineage's `type`: `DIRECT` or `INDIRECT`.
    pub fn kind(self) -> &'static str {
        if self.is_direct() {
            "DIRECT"
        } else {
            "INDIRECT"
        }
    }

    /// OpenLineage's `subtype` name.
    pub fn name(self) -> &'static str {
        match self {
            Subtype::Identity => "IDENTITY",
            Subtype::Transformation => "TRANSFORMATION",
            Subtype::Aggregation => "AGGREGATION",
            Subtype::Join => "JOIN",
            Subtype::Filter => "FILTER",
            Subtype::GroupBy => "GROUP_BY",
            Subtype::Sort => "SORT",
            Subtype::Window => "WINDOW",
            Subtype::Conditional => "CONDITIONAL",
        }
    }

    /// A direct dependence once the value goes through a computation: identity becomes a
    /// transformation, the others stay.
    pub fn transformed(self) -> Subtype {
        match self {
            Subtype::Identity => Subtype::Transformation,
            other => other,
        }
    }
}

/// Input fields with the ways an output depends on each.
pub type Inputs = BTreeMap<FieldRef, BTreeSet<Subtype>>;

/// Adds every dependence of `from` to `into`, each subtype mapped by `map`.
pub fn merge_inputs(into: &mut Inputs, from: &Inputs, map: impl Fn(Subtype) -> Subtype) {
    for (field, subtypes) in from {
        let entry = into.entry(field.clone()).or_default();
        entry.extend(subtypes.iter().map(|s| map(*s)));
    }
}

/// Adds `field` with `subtype` to `into`.
pub fn add_input(into: &mut Inputs, field: FieldRef, subtype: Subtype) {
    into.entry(field).or_default().insert(subtype);
}

/// `Inputs` as JSON: a list of `{dataset, field, subtypes}` (JSON object keys are text).
mod inputs_as_list {
    use std::collections::BTreeSet;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{FieldRef, Inputs, Subtype};

    #[derive(Serialize, Deserialize)]
    struct Entry {
        dataset: String,
        field: String,
        subtypes: BTreeSet<Subtype>,
    }

    pub(super) fn serialize<S: Serializer>(inputs: &Inputs, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(inputs.iter().map(|(f, subtypes)| Entry {
            dataset: f.dataset.clone(),
            field: f.field.clone(),
            subtypes: subtypes.clone(),
        }))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Inputs, D::Error> {
        let entries = Vec::<Entry>::deserialize(d)?;
        Ok(entries
            .into_iter()
            .map(|e| (FieldRef::new(e.dataset, e.field), e.subtypes))
            .collect())
    }
}

/// The lineage of one output column: the input fields it reads and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnLineage {
    /// The output column.
    pub name: String,
    /// Input fields, each with how the column depends on it.
    #[serde(with = "inputs_as_list")]
    pub inputs: Inputs,
}

impl ColumnLineage {
    /// Whether the column's value is computed from some input (not a literal).
    pub fn has_direct_input(&self) -> bool {
        self.inputs
            .values()
            .any(|subtypes| subtypes.iter().any(|s| s.is_direct()))
    }
}

/// The lineage of one dataset: each output column's inputs, and the inputs that shape the
/// whole dataset (filters, joins, grouping, sorting), as OpenLineage's `columnLineage`
/// facet has them (`fields` and `dataset`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetLineage {
    /// The dataset described.
    pub dataset: String,
    /// Output columns in order.
    pub columns: Vec<ColumnLineage>,
    /// Inputs that decide which rows the dataset has (all INDIRECT).
    #[serde(with = "inputs_as_list")]
    pub dataset_inputs: Inputs,
}

impl DatasetLineage {
    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnLineage> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Every dataset this lineage reads.
    pub fn input_datasets(&self) -> BTreeSet<String> {
        self.columns
            .iter()
            .flat_map(|c| c.inputs.keys())
            .chain(self.dataset_inputs.keys())
            .map(|f| f.dataset.clone())
            .collect()
    }
}
