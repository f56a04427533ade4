//! The lineage graph of the whole platform: business columns, lake columns (ODS, models,
//! the metric tables), metrics and their instances, dashboard charts; an edge from each
//! input field to each output it feeds, labelled with how. Walked upstream ("where does
//! this number come from?") and downstream ("what changes if I change this?").
//!
//! Field paths: a reader of a struct column as a whole (`data`) reads each of its fields,
//! and a reader of one field (`data.payment_amount`) reads part of the column; both count
//! as edges between a struct column and its fields, in either direction.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;

use crate::field::{merge_inputs, DatasetLineage, FieldRef, Inputs, Subtype};

/// What a dataset of the graph is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// A table of the business database.
    Business,
    /// A table of the lake.
    Lake,
    /// A measure or a metric instance (`metric:...`).
    Metric,
    /// A dashboard's charts (`dashboard:...`).
    Dashboard,
}

/// Prefix of metric datasets.
pub const METRIC_PREFIX: &str = "metric:";
/// Prefix of dashboard datasets.
pub const DASHBOARD_PREFIX: &str = "dashboard:";

/// The kind of dataset `name`.
pub fn kind_of(name: &str) -> NodeKind {
    if name.starts_with(METRIC_PREFIX) {
        NodeKind::Metric
    } else if name.starts_with(DASHBOARD_PREFIX) {
        NodeKind::Dashboard
    } else if medlake_schema::table(name).is_some() {
        NodeKind::Business
    } else {
        NodeKind::Lake
    }
}

/// Which way a walk goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Towards the inputs.
    Upstream,
    /// Towards what reads it.
    Downstream,
}

/// Why a name given to the graph does not resolve.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Neither a dataset nor a column the graph knows.
    #[error("{0:?} is not a table, column, metric or dashboard medlake knows (try `medlake lineage --list`)")]
    Unknown(String),
    /// A known dataset without that column.
    #[error("{dataset} has no column {field:?}")]
    NoColumn {
        /// The dataset.
        dataset: String,
        /// The column asked for.
        field: String,
    },
}

/// One edge of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    /// The input field.
    pub from: FieldRef,
    /// The output field.
    pub to: FieldRef,
    /// How `to` depends on `from`.
    pub subtypes: BTreeSet<Subtype>,
}

/// A field a walk reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reached {
    /// The field.
    pub field: FieldRef,
    /// What it is.
    pub kind: NodeKind,
    /// Edges from the start (the fewest).
    pub depth: usize,
    /// Whether a path of DIRECT edges only reaches it (its value follows the start's, or
    /// the start's value follows it), rather than only through filters, joins and keys.
    pub direct: bool,
    /// How: on a DIRECT path, the subtypes of the edge that reached it; otherwise the
    /// INDIRECT subtypes (FILTER, JOIN, ...) of the nearest such edge on its path.
    pub via: BTreeSet<Subtype>,
}

/// The result of a walk: the fields reached and the edges among them.
#[derive(Debug, Clone, Serialize)]
pub struct Walk {
    /// Where the walk started.
    pub start: Vec<FieldRef>,
    /// Which way it went.
    pub direction: Direction,
    /// Fields reached, nearest first.
    pub reached: Vec<Reached>,
    /// Edges followed.
    pub edges: Vec<Edge>,
}

/// The graph.
#[derive(Debug, Default, Clone)]
pub struct LineageGraph {
    datasets: BTreeMap<String, DatasetLineage>,
    /// Input field -> outputs it feeds, with how.
    readers: BTreeMap<FieldRef, Vec<(FieldRef, BTreeSet<Subtype>)>>,
}

impl LineageGraph {
    /// A graph of `datasets` (a later lineage of the same dataset replaces an earlier one).
    pub fn new(datasets: impl IntoIterator<Item = DatasetLineage>) -> LineageGraph {
        let datasets: BTreeMap<String, DatasetLineage> = datasets
            .into_iter()
            .map(|d| (d.dataset.clone(), d))
            .collect();
        let mut readers: BTreeMap<FieldRef, Vec<(FieldRef, BTreeSet<Subtype>)>> = BTreeMap::new();
        for d in datasets.values() {
            // The rows of a dataset follow the rows of each dataset it reads.
            for source in d.input_datasets() {
                if source != d.dataset {
                    readers
                        .entry(FieldRef::rows(source))
                        .or_default()
                        .push((FieldRef::rows(d.dataset.clone()), identity()));
                }
            }
            for c in &d.columns {
                let out = FieldRef::new(d.dataset.clone(), c.name.clone());
                for (input, subtypes) in c.inputs.iter().chain(&d.dataset_inputs) {
                    readers
                        .entry(input.clone())
                        .or_default()
                        .push((out.clone(), subtypes.clone()));
                }
            }
        }
        LineageGraph { datasets, readers }
    }

    /// The lineage of dataset `name`, if the graph has it.
    pub fn dataset(&self, name: &str) -> Option<&DatasetLineage> {
        self.datasets.get(name)
    }

    /// Every dataset with lineage, by name.
    pub fn datasets(&self) -> impl Iterator<Item = &DatasetLineage> {
        self.datasets.values()
    }

    /// The fields `target` names: `table.column` (a field path for struct columns),
    /// `table` (all its columns), `metric:name` or `dashboard:id`.
    pub fn resolve(&self, target: &str) -> Result<Vec<FieldRef>, GraphError> {
        let target = target.trim();
        if let Some(d) = self.datasets.get(target) {
            return Ok(columns_of(d));
        }
        if let Some(table) = medlake_schema::table(target) {
            let fields = table.captured_columns().iter();
            return Ok(fields.map(|c| FieldRef::new(table.name, c.name)).collect());
        }
        let mut parts = target.splitn(2, '.');
        let (dataset, field) = match (parts.next(), parts.next()) {
            (Some(d), Some(f)) if !f.is_empty() => (d, f),
            _ => return Err(GraphError::Unknown(target.to_string())),
        };
        let no_column = || GraphError::NoColumn {
            dataset: dataset.to_string(),
            field: field.to_string(),
        };
        if let Some(table) = medlake_schema::table(dataset) {
            let known = table.captured_columns().iter().any(|c| c.name == field);
            return known
                .then(|| vec![FieldRef::new(dataset, field)])
                .ok_or_else(no_column);
        }
        let d = self
            .datasets
            .get(dataset)
            .ok_or_else(|| GraphError::Unknown(target.to_string()))?;
        let wanted = FieldRef::new(dataset, field);
        let known = d.columns.iter().any(|c| related(&c.name, field));
        known.then(|| vec![wanted]).ok_or_else(no_column)
    }

    /// What `field` is computed from: its column's inputs and its dataset's. The rows of a
    /// dataset (`FieldRef::rows`) come from the rows of each dataset it reads and from its
    /// own filters, joins and keys.
    pub fn inputs_of(&self, field: &FieldRef) -> Inputs {
        let mut out = Inputs::new();
        let Some(d) = self.datasets.get(&field.dataset) else {
            return out;
        };
        if field.is_rows() {
            for source in d.input_datasets() {
                if source != d.dataset {
                    out.insert(FieldRef::rows(source), identity());
                }
            }
            merge_inputs(&mut out, &d.dataset_inputs, |s| s);
            return out;
        }
        let exact = d.columns.iter().find(|c| c.name == field.field);
        let matching: Vec<_> = match exact {
            Some(c) => vec![c],
            None => d
                .columns
                .iter()
                .filter(|c| related(&c.name, &field.field))
                .collect(),
        };
        for c in matching {
            merge_inputs(&mut out, &c.inputs, |s| s);
        }
        merge_inputs(&mut out, &d.dataset_inputs, |s| s);
        out
    }

    /// What reads `field` (or a struct column holding it, or a field inside it).
    pub fn readers_of(&self, field: &FieldRef) -> Vec<(FieldRef, BTreeSet<Subtype>)> {
        let mut out = Vec::new();
        let start = FieldRef::new(field.dataset.clone(), field.field.clone());
        for (input, readers) in self.readers.range(start..) {
            if input.dataset != field.dataset || !input.field.starts_with(&field.field) {
                break;
            }
            if related(&input.field, &field.field) {
                out.extend(readers.iter().cloned());
            }
        }
        let mut path = field.field.as_str();
        while let Some((parent, _)) = path.rsplit_once('.') {
            let key = FieldRef::new(field.dataset.clone(), parent);
            if let Some(readers) = self.readers.get(&key) {
                out.extend(readers.iter().cloned());
            }
            path = parent;
        }
        out
    }

    /// Walks from `start` in `direction`, at most `depth` edges (all when `None`),
    /// following INDIRECT edges too unless `direct_only`.
    pub fn walk(
        &self,
        start: &[FieldRef],
        direction: Direction,
        depth: Option<usize>,
        direct_only: bool,
    ) -> Walk {
        let mut best: BTreeMap<FieldRef, (usize, bool, BTreeSet<Subtype>)> = BTreeMap::new();
        let mut edges: BTreeMap<(FieldRef, FieldRef), BTreeSet<Subtype>> = BTreeMap::new();
        let mut queue: VecDeque<(FieldRef, usize, bool, BTreeSet<Subtype>)> = start
            .iter()
            .map(|f| (f.clone(), 0, true, BTreeSet::new()))
            .collect();
        while let Some((field, d, direct, via)) = queue.pop_front() {
            if depth.is_some_and(|max| d >= max) {
                continue;
            }
            for (next, subtypes) in self.neighbours(&field, direction) {
                let edge_direct = subtypes.iter().any(|s| s.is_direct());
                if direct_only && !edge_direct {
                    continue;
                }
                let key = match direction {
                    Direction::Upstream => (next.clone(), field.clone()),
                    Direction::Downstream => (field.clone(), next.clone()),
                };
                edges
                    .entry(key)
                    .or_default()
                    .extend(subtypes.iter().copied());
                let reach_direct = direct && edge_direct;
                // The nearest filter, join or key on the path says how it shapes the
                // start; on a path of values, the last edge says how the value is made.
                let reach_via: BTreeSet<Subtype> = if reach_direct {
                    subtypes.iter().copied().filter(|s| s.is_direct()).collect()
                } else if !edge_direct {
                    subtypes.clone()
                } else if direct {
                    subtypes
                        .iter()
                        .copied()
                        .filter(|s| !s.is_direct())
                        .collect()
                } else {
                    via.clone()
                };
                let better = match best.get(&next) {
                    None => true,
                    Some((_, was_direct, _)) => reach_direct && !was_direct,
                };
                if better && !start.contains(&next) {
                    let depth_here = best.get(&next).map_or(d + 1, |(dd, _, _)| (*dd).min(d + 1));
                    best.insert(next.clone(), (depth_here, reach_direct, reach_via.clone()));
                    queue.push_back((next, d + 1, reach_direct, reach_via));
                }
            }
        }
        let mut reached: Vec<Reached> = best
            .into_iter()
            .map(|(field, (depth, direct, via))| Reached {
                kind: kind_of(&field.dataset),
                field,
                depth,
                direct,
                via,
            })
            .collect();
        reached.sort_by(|a, b| (a.depth, &a.field).cmp(&(b.depth, &b.field)));
        Walk {
            start: start.to_vec(),
            direction,
            reached,
            edges: edges
                .into_iter()
                .map(|((from, to), subtypes)| Edge { from, to, subtypes })
                .collect(),
        }
    }

    fn neighbours(
        &self,
        field: &FieldRef,
        direction: Direction,
    ) -> Vec<(FieldRef, BTreeSet<Subtype>)> {
        match direction {
            Direction::Upstream => self.inputs_of(field).into_iter().collect(),
            Direction::Downstream => self.readers_of(field),
        }
    }

    /// The business columns `field` comes from through any path (DIRECT or INDIRECT).
    pub fn business_origins(&self, field: &FieldRef) -> BTreeSet<FieldRef> {
        self.walk(
            std::slice::from_ref(field),
            Direction::Upstream,
            None,
            false,
        )
        .reached
        .into_iter()
        .filter(|r| r.kind == NodeKind::Business)
        .map(|r| r.field)
        .collect()
    }
}

fn identity() -> BTreeSet<Subtype> {
    BTreeSet::from([Subtype::Identity])
}

/// Every column of `d` as a field.
fn columns_of(d: &DatasetLineage) -> Vec<FieldRef> {
    d.columns
        .iter()
        .map(|c| FieldRef::new(d.dataset.clone(), c.name.clone()))
        .collect()
}

/// Whether field paths `a` and `b` are the same, or one is a struct holding the other.
fn related(a: &str, b: &str) -> bool {
    let inside = |outer: &str, inner: &str| {
        inner.len() > outer.len()
            && inner.starts_with(outer)
            && inner.as_bytes()[outer.len()] == b'.'
    };
    a == b || inside(a, b) || inside(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{add_input, ColumnLineage};

    /// An input of a test column: dataset, field, how.
    type Input<'a> = (&'a str, &'a str, Subtype);

    fn dataset(name: &str, columns: &[(&str, &[Input<'_>])]) -> DatasetLineage {
        DatasetLineage {
            dataset: name.into(),
            columns: columns
                .iter()
                .map(|(c, inputs)| {
                    let mut i = Inputs::new();
                    for (d, f, s) in *inputs {
                        add_input(&mut i, FieldRef::new(*d, *f), *s);
                    }
                    ColumnLineage {
                        name: (*c).into(),
                        inputs: i,
                    }
                })
                .collect(),
            dataset_inputs: Inputs::new(),
        }
    }

    fn graph() -> LineageGraph {
        use Subtype::*;
        LineageGraph::new([
            dataset(
                "ods_payment_inc",
                &[(
                    "data.payment_amount",
                    &[("payment", "payment_amount", Identity)],
                )],
            ),
            dataset(
                "dwd_paid",
                &[("amount", &[("ods_payment_inc", "data", Identity)])],
            ),
            dataset(
                "metric:paid",
                &[("value", &[("dwd_paid", "amount", Aggregation)])],
            ),
        ])
    }

    #[test]
    fn downstream_passes_through_a_struct_read_whole() {
        let g = graph();
        let start = g.resolve("payment.payment_amount").unwrap();
        let walk = g.walk(&start, Direction::Downstream, None, false);
        let names: Vec<String> = walk.reached.iter().map(|r| r.field.to_string()).collect();
        assert!(
            names.contains(&"metric:paid.value".to_string()),
            "{names:?}"
        );
        assert!(walk.reached.iter().all(|r| r.direct));
    }

    #[test]
    fn upstream_reaches_the_business_column_and_depth_limits() {
        let g = graph();
        let start = g.resolve("metric:paid").unwrap();
        let origins = g.business_origins(&start[0]);
        assert!(origins.contains(&FieldRef::new("payment", "payment_amount")));
        let near = g.walk(&start, Direction::Upstream, Some(1), false);
        assert_eq!(near.reached.len(), 1);
    }

    #[test]
    fn unknown_names_are_refused_clearly() {
        let g = graph();
        assert!(matches!(g.resolve("nope"), Err(GraphError::Unknown(_))));
        assert!(matches!(
            g.resolve("payment.nope"),
            Err(GraphError::NoColumn { .. })
        ));
    }
}
