//! The input fields of one expression, and how the expression's value depends on each.
//!
//! An expression is read against the lineage of the plan node below it (its scope): a
//! column reference stands for whatever that column came from. What a construct does to
//! the dependence is OpenLineage's vocabulary (`Subtype`):
//! - a column or an alias of one keeps its dependence (IDENTITY stays IDENTITY);
//! - a field of a struct column (`data['payment_amount']`, DataFusion's `get_field`) is
//!   that field of the input (`ods_payment_inc.data.payment_amount`), still IDENTITY;
//! - any computation (operators, functions, casts) makes IDENTITY a TRANSFORMATION;
//! - an aggregate makes its arguments AGGREGATION, its `FILTER` FILTER, its `ORDER BY` SORT;
//! - a window function makes its arguments AGGREGATION (aggregates) or TRANSFORMATION, its
//!   `PARTITION BY`/`ORDER BY` WINDOW;
//! - a `CASE` makes its conditions CONDITIONAL and its results TRANSFORMATION;
//! - a scalar subquery's value depends on its one column as a computation does (an
//!   aggregate inside stays AGGREGATION; its rows' own inputs stay INDIRECT); `EXISTS`, `IN (subquery)` and `op ANY/ALL (subquery)` decide a
//!   truth value from the subquery's rows: every input of the subquery is FILTER;
//! - a reference to an outer query's column (a correlated subquery) is FILTER: it decides
//!   which of the subquery's rows count.
//!
//! INDIRECT dependences pass through computations unchanged.

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::logical_expr::expr::{AggregateFunction, Case, ScalarFunction, WindowFunction};
use datafusion::logical_expr::{Expr, Operator, Subquery, WindowFunctionDefinition};
use deltalake::datafusion;

use crate::field::{add_input, merge_inputs, FieldRef, Inputs, Subtype};
use crate::plan::{LongTable, NodeLineage, Walker};

/// What an expression is read against: the schema and the lineage of the node below.
pub(crate) struct Scope<'a> {
    pub(crate) schema: &'a DFSchema,
    pub(crate) lineage: &'a NodeLineage,
}

impl Scope<'_> {
    /// The datasets the scope's columns come from.
    fn datasets(&self) -> std::collections::BTreeSet<String> {
        self.lineage
            .columns
            .iter()
            .flat_map(|c| c.keys())
            .filter(|f| !f.is_rows())
            .map(|f| f.dataset.clone())
            .collect()
    }

    /// The inputs of column `c` of this scope (none when it cannot be found).
    pub(crate) fn column(&self, c: &Column) -> Inputs {
        column_index(self.schema, c)
            .and_then(|i| self.lineage.columns.get(i))
            .cloned()
            .unwrap_or_default()
    }
}

/// The position of `c` in `schema`: by qualified name, else by its bare name when that is
/// unambiguous.
pub(crate) fn column_index(schema: &DFSchema, c: &Column) -> Option<usize> {
    schema
        .index_of_column(c)
        .ok()
        .or_else(|| schema.index_of_column_by_name(None, &c.name))
}

impl Walker {
    /// The inputs of `e` read in `scope`.
    pub(crate) fn expr(&mut self, e: &Expr, scope: &Scope<'_>) -> Inputs {
        match e {
            Expr::Column(c) => scope.column(c),
            Expr::OuterReferenceColumn(_, c) => self.outer_column(c),
            Expr::Alias(a) => self.expr(&a.expr, scope),
            Expr::Literal(..) | Expr::Placeholder(_) | Expr::ScalarVariable(..) => Inputs::new(),
            Expr::ScalarFunction(f) if f.func.name() == "get_field" => self.field_access(f, scope),
            Expr::AggregateFunction(agg) => self.aggregate(agg, scope),
            Expr::WindowFunction(w) => self.window(w, scope),
            Expr::Case(case) => self.case(case, scope),
            Expr::ScalarSubquery(sub) => {
                let inner = self.subquery(sub, scope);
                let mut out = Inputs::new();
                if let Some(first) = inner.columns.first() {
                    merge_inputs(&mut out, first, Subtype::transformed);
                }
                merge_inputs(&mut out, &inner.dataset, |s| s);
                out
            }
            Expr::Exists(ex) => self.deciding_subquery(None, &ex.subquery, scope),
            Expr::InSubquery(i) => {
                self.deciding_subquery(Some(i.expr.as_ref()), &i.subquery, scope)
            }
            Expr::SetComparison(s) => {
                self.deciding_subquery(Some(s.expr.as_ref()), &s.subquery, scope)
            }
            other => self.computed(other, scope),
        }
    }

    /// Inputs of every child of `e`, direct ones made TRANSFORMATION.
    fn computed(&mut self, e: &Expr, scope: &Scope<'_>) -> Inputs {
        let mut out = Inputs::new();
        // `apply_children` fails only when the closure does; it never does here.
        let _ = e.apply_children(|child| {
            let inner = self.expr(child, scope);
            merge_inputs(&mut out, &inner, Subtype::transformed);
            Ok(TreeNodeRecursion::Continue)
        });
        out
    }

    /// `base['a']['b']`: the field `a.b` of what `base` is, when `base` is a column as it
    /// is; otherwise a computation over `base`.
    fn field_access(&mut self, f: &ScalarFunction, scope: &Scope<'_>) -> Inputs {
        let Some((base, path)) = f.args.split_first() else {
            return Inputs::new();
        };
        let names: Option<Vec<&str>> = path.iter().map(literal_text).collect();
        let Some(names) = names.filter(|n| !n.is_empty()) else {
            return self.computed(&Expr::ScalarFunction(f.clone()), scope);
        };
        let mut out = Inputs::new();
        for (field, subtypes) in self.expr(base, scope) {
            let identity = subtypes.len() == 1 && subtypes.contains(&Subtype::Identity);
            if identity {
                let deeper = names.iter().fold(field, |f, n| f.child(n));
                out.entry(deeper).or_default().insert(Subtype::Identity);
            } else {
                let entry = out.entry(field).or_default();
                entry.extend(subtypes.into_iter().map(Subtype::transformed));
            }
        }
        out
    }

    fn aggregate(&mut self, agg: &AggregateFunction, scope: &Scope<'_>) -> Inputs {
        let mut out = Inputs::new();
        for arg in &agg.params.args {
            let inner = self.expr(arg, scope);
            merge_inputs(&mut out, &inner, aggregated);
        }
        if out.is_empty() {
            // `count(*)` reads no value: it counts the rows of the tables below.
            for dataset in scope.datasets() {
                add_input(&mut out, FieldRef::rows(dataset), Subtype::Aggregation);
            }
        }
        if let Some(filter) = &agg.params.filter {
            let inner = self.expr(filter, scope);
            merge_inputs(&mut out, &inner, |_| Subtype::Filter);
        }
        for sort in &agg.params.order_by {
            let inner = self.expr(&sort.expr, scope);
            merge_inputs(&mut out, &inner, |_| Subtype::Sort);
        }
        out
    }

    fn window(&mut self, w: &WindowFunction, scope: &Scope<'_>) -> Inputs {
        let aggregate = matches!(w.fun, WindowFunctionDefinition::AggregateUDF(_));
        let mut out = Inputs::new();
        for arg in &w.params.args {
            let inner = self.expr(arg, scope);
            if aggregate {
                merge_inputs(&mut out, &inner, aggregated);
            } else {
                merge_inputs(&mut out, &inner, Subtype::transformed);
            }
        }
        let keys = w
            .params
            .partition_by
            .iter()
            .chain(w.params.order_by.iter().map(|s| &s.expr));
        for key in keys {
            let inner = self.expr(key, scope);
            merge_inputs(&mut out, &inner, |_| Subtype::Window);
        }
        if let Some(filter) = &w.params.filter {
            let inner = self.expr(filter, scope);
            merge_inputs(&mut out, &inner, |_| Subtype::Filter);
        }
        out
    }

    fn case(&mut self, case: &Case, scope: &Scope<'_>) -> Inputs {
        let mut out = Inputs::new();
        let conditions = case
            .expr
            .iter()
            .chain(case.when_then_expr.iter().map(|(when, _)| when));
        for condition in conditions {
            let inner = self.expr(condition, scope);
            merge_inputs(&mut out, &inner, |_| Subtype::Conditional);
        }
        for (when, then) in &case.when_then_expr {
            let mut inner = self.expr(then, scope);
            if let Some((rule, key)) = self.long_table_slice(when, scope) {
                inner = sliced(inner, &rule, &key);
            }
            merge_inputs(&mut out, &inner, Subtype::transformed);
        }
        if let Some(otherwise) = &case.else_expr {
            let inner = self.expr(otherwise, scope);
            merge_inputs(&mut out, &inner, Subtype::transformed);
        }
        out
    }

    /// `key = 'x'` over the key column of a long table (see `LongTable`): the rule and `x`.
    fn long_table_slice(&mut self, when: &Expr, scope: &Scope<'_>) -> Option<(LongTable, String)> {
        let Expr::BinaryExpr(b) = when else {
            return None;
        };
        if b.op != Operator::Eq {
            return None;
        }
        let (column, literal) = match (literal_text(&b.left), literal_text(&b.right)) {
            (None, Some(l)) => (uncast(&b.left), l.to_string()),
            (Some(l), None) => (uncast(&b.right), l.to_string()),
            _ => return None,
        };
        let inputs = self.expr(column, scope);
        let (field, subtypes) = inputs.iter().next().filter(|_| inputs.len() == 1)?;
        if !subtypes.contains(&Subtype::Identity) {
            return None;
        }
        let rule = self
            .long_tables
            .iter()
            .find(|r| r.table == field.dataset && r.key == field.field)?;
        Some((rule.clone(), literal))
    }

    /// `EXISTS`, `x IN (subquery)`, `x op ANY (subquery)`: `x` is computed on, every input
    /// of the subquery decides the truth value.
    fn deciding_subquery(
        &mut self,
        operand: Option<&Expr>,
        sub: &Subquery,
        scope: &Scope<'_>,
    ) -> Inputs {
        let mut out = match operand {
            Some(e) => {
                let mut out = Inputs::new();
                let inner = self.expr(e, scope);
                merge_inputs(&mut out, &inner, Subtype::transformed);
                out
            }
            None => Inputs::new(),
        };
        let inner = self.subquery(sub, scope);
        for column in &inner.columns {
            merge_inputs(&mut out, column, |_| Subtype::Filter);
        }
        merge_inputs(&mut out, &inner.dataset, |_| Subtype::Filter);
        out
    }

    /// The lineage of a subquery's plan, its outer references read in `scope`.
    pub(crate) fn subquery(&mut self, sub: &Subquery, scope: &Scope<'_>) -> NodeLineage {
        self.outer
            .push((scope.schema.clone(), scope.lineage.clone()));
        let inner = self.plan(&sub.subquery);
        self.outer.pop();
        inner
    }

    /// A correlated reference: the outer column's inputs, as FILTER.
    fn outer_column(&self, c: &Column) -> Inputs {
        let mut out = Inputs::new();
        for (schema, lineage) in self.outer.iter().rev() {
            if let Some(inputs) = column_index(schema, c).and_then(|i| lineage.columns.get(i)) {
                merge_inputs(&mut out, inputs, |_| Subtype::Filter);
                break;
            }
        }
        out
    }
}

/// `inputs` with the long table's value column replaced by the value of `key`.
fn sliced(inputs: Inputs, rule: &LongTable, key: &str) -> Inputs {
    inputs
        .into_iter()
        .map(|(field, subtypes)| {
            if field.dataset == rule.table && field.field == rule.value {
                (
                    FieldRef::new(format!("{}{key}", rule.prefix), "value"),
                    subtypes,
                )
            } else {
                (field, subtypes)
            }
        })
        .collect()
}

/// An expression without the casts around it.
fn uncast(e: &Expr) -> &Expr {
    match e {
        Expr::Cast(c) => uncast(&c.expr),
        Expr::TryCast(c) => uncast(&c.expr),
        other => other,
    }
}

/// An aggregate's argument: direct inputs become AGGREGATION, indirect stay.
fn aggregated(s: Subtype) -> Subtype {
    if s.is_direct() {
        Subtype::Aggregation
    } else {
        s
    }
}

fn literal_text(e: &Expr) -> Option<&str> {
    match e {
        Expr::Literal(ScalarValue::Utf8(Some(s)), _)
        | Expr::Literal(ScalarValue::Utf8View(Some(s)), _)
        | Expr::Literal(ScalarValue::LargeUtf8(Some(s)), _) => Some(s.as_str()),
        _ => None,
    }
}
