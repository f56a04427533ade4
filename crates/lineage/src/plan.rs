//! Column-level lineage read off a DataFusion logical plan, the plan the engine runs, not
//! the SQL text: CTEs are already inlined where they are used, `SELECT *` expanded, views
//! and the `{{ dt }}` placeholders resolved, so every column leads back to the table scans
//! of real tables.
//!
//! The walk is bottom-up. Each node yields, per output column, the input fields it depends
//! on (`NodeLineage::columns`), and the inputs that decide which rows there are
//! (`NodeLineage::dataset`: filters, join conditions, grouping keys, sort keys), which
//! every node above inherits. How each expression depends on its inputs is `expr.rs`.
//! Subqueries (scalar, `IN`, `EXISTS`, correlated or not) are walked with their outer
//! query's columns in reach, so they resolve like any other input. A node the walk does not
//! know (an extension) keeps the columns of its input it passes by name; it never fails.

use datafusion::common::DFSchema;
use datafusion::logical_expr::{Distinct, JoinType, LogicalPlan};
use deltalake::datafusion;

use crate::expr::Scope;
use crate::field::Subtype;
use crate::field::{add_input, merge_inputs, ColumnLineage, DatasetLineage, FieldRef, Inputs};

/// The lineage of one plan node's output.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeLineage {
    /// Per output column (in schema order), its inputs.
    pub(crate) columns: Vec<Inputs>,
    /// Inputs that decide the node's rows (INDIRECT).
    pub(crate) dataset: Inputs,
}

/// A long (key/value) table whose rows are different things: `ads_metric_value` holds one
/// row per metric value, its `measure` column saying which. A `CASE WHEN measure = 'x'
/// THEN value` reads the value of `x` only, so lineage names `metric:x` rather than the
/// whole `value` column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongTable {
    /// The table.
    pub table: String,
    /// The column naming what a row is.
    pub key: String,
    /// The column holding the row's value.
    pub value: String,
    /// The dataset a key's value is: this prefix and the key (`metric:`).
    pub prefix: String,
}

/// Walks a plan; holds the outer queries' scopes while inside a subquery.
#[derive(Default)]
pub(crate) struct Walker {
    pub(crate) outer: Vec<(DFSchema, NodeLineage)>,
    pub(crate) long_tables: Vec<LongTable>,
}

/// The column lineage of `plan`, whose result is written to `dataset`.
pub fn plan_lineage(dataset: &str, plan: &LogicalPlan) -> DatasetLineage {
    plan_lineage_with(dataset, plan, &[])
}

/// [`plan_lineage`], reading slices of `long_tables` by their key.
pub fn plan_lineage_with(
    dataset: &str,
    plan: &LogicalPlan,
    long_tables: &[LongTable],
) -> DatasetLineage {
    let mut walker = Walker {
        outer: Vec::new(),
        long_tables: long_tables.to_vec(),
    };
    let node = walker.plan(plan);
    let columns = plan
        .schema()
        .fields()
        .iter()
        .zip(node.columns)
        .map(|(f, inputs)| ColumnLineage {
            name: f.name().clone(),
            inputs,
        })
        .collect();
    DatasetLineage {
        dataset: dataset.to_string(),
        columns,
        dataset_inputs: node.dataset,
    }
}

impl Walker {
    /// The lineage of `plan`'s output, one entry per field of its schema.
    pub(crate) fn plan(&mut self, plan: &LogicalPlan) -> NodeLineage {
        let mut node = self.node(plan);
        node.columns
            .resize(plan.schema().fields().len(), Inputs::new());
        node
    }

    fn node(&mut self, plan: &LogicalPlan) -> NodeLineage {
        match plan {
            LogicalPlan::TableScan(scan) => {
                let table = scan.table_name.table();
                let mut node = NodeLineage {
                    columns: scan
                        .projected_schema
                        .fields()
                        .iter()
                        .map(|f| identity(FieldRef::new(table, f.name().as_str())))
                        .collect(),
                    dataset: Inputs::new(),
                };
                let scope_lineage = node.clone();
                let scope = Scope {
                    schema: &scan.projected_schema,
                    lineage: &scope_lineage,
                };
                for filter in &scan.filters {
                    let inputs = self.expr(filter, &scope);
                    merge_inputs(&mut node.dataset, &inputs, |_| Subtype::Filter);
                }
                node
            }
            LogicalPlan::Projection(p) => {
                let input = self.plan(&p.input);
                let scope = Scope {
                    schema: p.input.schema(),
                    lineage: &input,
                };
                let columns = p.expr.iter().map(|e| self.expr(e, &scope)).collect();
                NodeLineage {
                    columns,
                    dataset: input.dataset.clone(),
                }
            }
            LogicalPlan::Filter(f) => {
                let mut input = self.plan(&f.input);
                let scope_lineage = input.clone();
                let scope = Scope {
                    schema: f.input.schema(),
                    lineage: &scope_lineage,
                };
                let inputs = self.expr(&f.predicate, &scope);
                merge_inputs(&mut input.dataset, &inputs, |_| Subtype::Filter);
                input
            }
            LogicalPlan::Aggregate(a) => {
                let input = self.plan(&a.input);
                let scope = Scope {
                    schema: a.input.schema(),
                    lineage: &input,
                };
                let mut node = NodeLineage {
                    columns: Vec::new(),
                    dataset: input.dataset.clone(),
                };
                for e in &a.group_expr {
                    let inputs = self.expr(e, &scope);
                    merge_inputs(&mut node.dataset, &inputs, |_| Subtype::GroupBy);
                    node.columns.push(inputs);
                }
                for e in &a.aggr_expr {
                    node.columns.push(self.expr(e, &scope));
                }
                node
            }
            LogicalPlan::Window(w) => {
                let input = self.plan(&w.input);
                let scope = Scope {
                    schema: w.input.schema(),
                    lineage: &input,
                };
                let mut columns = input.columns.clone();
                for e in &w.window_expr {
                    columns.push(self.expr(e, &scope));
                }
                NodeLineage {
                    columns,
                    dataset: input.dataset.clone(),
                }
            }
            LogicalPlan::Sort(s) => {
                let mut input = self.plan(&s.input);
                let scope_lineage = input.clone();
                let scope = Scope {
                    schema: s.input.schema(),
                    lineage: &scope_lineage,
                };
                for sort in &s.expr {
                    let inputs = self.expr(&sort.expr, &scope);
                    merge_inputs(&mut input.dataset, &inputs, |_| Subtype::Sort);
                }
                input
            }
            LogicalPlan::Join(j) => self.join(j),
            LogicalPlan::Union(u) => {
                let inputs: Vec<NodeLineage> = u.inputs.iter().map(|i| self.plan(i)).collect();
                union(&inputs, u.schema.fields().len())
            }
            LogicalPlan::RecursiveQuery(r) => {
                let inputs = [self.plan(&r.static_term), self.plan(&r.recursive_term)];
                union(&inputs, r.schema.fields().len())
            }
            LogicalPlan::SubqueryAlias(s) => self.plan(&s.input),
            LogicalPlan::Subquery(s) => self.plan(&s.subquery),
            LogicalPlan::Limit(l) => self.plan(&l.input),
            LogicalPlan::Repartition(r) => self.plan(&r.input),
            LogicalPlan::Distinct(Distinct::All(input)) => self.plan(input),
            LogicalPlan::Distinct(Distinct::On(d)) => {
                let input = self.plan(&d.input);
                let scope = Scope {
                    schema: d.input.schema(),
                    lineage: &input,
                };
                let mut node = NodeLineage {
                    columns: d.select_expr.iter().map(|e| self.expr(e, &scope)).collect(),
                    dataset: input.dataset.clone(),
                };
                for e in &d.on_expr {
                    let inputs = self.expr(e, &scope);
                    merge_inputs(&mut node.dataset, &inputs, |_| Subtype::GroupBy);
                }
                node
            }
            LogicalPlan::Values(v) => {
                let empty = NodeLineage::default();
                let scope = Scope {
                    schema: &v.schema,
                    lineage: &empty,
                };
                let mut columns = vec![Inputs::new(); v.schema.fields().len()];
                for row in &v.values {
                    for (column, e) in columns.iter_mut().zip(row) {
                        let inputs = self.expr(e, &scope);
                        merge_inputs(column, &inputs, |s| s);
                    }
                }
                NodeLineage {
                    columns,
                    dataset: Inputs::new(),
                }
            }
            other => self.by_name(other),
        }
    }

    /// A join: the columns of the sides it outputs; its keys and condition decide rows.
    fn join(&mut self, j: &datafusion::logical_expr::Join) -> NodeLineage {
        let left = self.plan(&j.left);
        let right = self.plan(&j.right);
        let mut dataset = left.dataset.clone();
        merge_inputs(&mut dataset, &right.dataset, |s| s);
        let left_scope = Scope {
            schema: j.left.schema(),
            lineage: &left,
        };
        let right_scope = Scope {
            schema: j.right.schema(),
            lineage: &right,
        };
        let mut keys = Inputs::new();
        for (l, r) in &j.on {
            let inputs = self.expr(l, &left_scope);
            merge_inputs(&mut keys, &inputs, |_| Subtype::Join);
            let inputs = self.expr(r, &right_scope);
            merge_inputs(&mut keys, &inputs, |_| Subtype::Join);
        }
        if let Some(filter) = &j.filter {
            let both = NodeLineage {
                columns: left.columns.iter().chain(&right.columns).cloned().collect(),
                dataset: Inputs::new(),
            };
            if let Ok(schema) = j.left.schema().join(j.right.schema()) {
                let scope = Scope {
                    schema: &schema,
                    lineage: &both,
                };
                let inputs = self.expr(filter, &scope);
                merge_inputs(&mut keys, &inputs, |_| Subtype::Join);
            }
        }
        merge_inputs(&mut dataset, &keys, |s| s);
        let columns = match j.join_type {
            JoinType::LeftSemi | JoinType::LeftAnti => left.columns,
            JoinType::RightSemi | JoinType::RightAnti => right.columns,
            JoinType::LeftMark => {
                let mut columns = left.columns;
                columns.push(keys);
                columns
            }
            // Inner, outer joins (and any kind a later DataFusion adds): both sides.
            _ => left.columns.into_iter().chain(right.columns).collect(),
        };
        NodeLineage { columns, dataset }
    }

    /// A node the walk has no rule for: each output column is its inputs' column of the
    /// same name (qualified, else bare), or nothing.
    fn by_name(&mut self, plan: &LogicalPlan) -> NodeLineage {
        let inputs: Vec<(&LogicalPlan, NodeLineage)> = plan
            .inputs()
            .into_iter()
            .map(|i| (i, self.plan(i)))
            .collect();
        let mut node = NodeLineage::default();
        for (_, lineage) in &inputs {
            merge_inputs(&mut node.dataset, &lineage.dataset, |s| s);
        }
        for (qualifier, field) in plan.schema().iter() {
            let column = datafusion::common::Column::new(qualifier.cloned(), field.name());
            let found = inputs.iter().find_map(|(input, lineage)| {
                crate::expr::column_index(input.schema(), &column)
                    .and_then(|i| lineage.columns.get(i))
                    .cloned()
            });
            node.columns.push(found.unwrap_or_default());
        }
        node
    }
}

/// Columns by position over several inputs (UNION and recursive queries).
fn union(inputs: &[NodeLineage], width: usize) -> NodeLineage {
    let mut node = NodeLineage {
        columns: vec![Inputs::new(); width],
        dataset: Inputs::new(),
    };
    for input in inputs {
        for (column, inputs) in node.columns.iter_mut().zip(&input.columns) {
            merge_inputs(column, inputs, |s| s);
        }
        merge_inputs(&mut node.dataset, &input.dataset, |s| s);
    }
    node
}

fn identity(field: FieldRef) -> Inputs {
    let mut inputs = Inputs::new();
    add_input(&mut inputs, field, Subtype::Identity);
    inputs
}
