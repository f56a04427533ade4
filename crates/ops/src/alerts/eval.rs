//! A PromQL evaluator for alert rules, over the figures' [`History`] held in memory.
//!
//! Rules are PromQL so that the same text goes, unchanged, into the Prometheus rule file
//! medlake exports. The evaluator therefore follows Prometheus' semantics for the subset it
//! knows, and [`parse`] refuses the rest when the rules are loaded, not when they run:
//!
//! - number literals, parentheses, unary minus;
//! - instant selectors with `=`, `!=`, `=~`, `!~` matchers (5 minutes' lookback), and range
//!   selectors (`x[5m]`) as the argument of a range function;
//! - `rate`, `increase`, `delta`, `changes`, `resets`, `min_`, `max_`, `avg_`, `sum_`,
//!   `count_`, `last_over_time`, `absent_over_time`, `abs`, `absent`, `clamp`, `clamp_min`,
//!   `clamp_max`, `histogram_quantile`, `scalar`, `vector`, `time`;
//! - `sum`, `min`, `max`, `avg`, `count`, `group`, with `by` or `without`;
//! - arithmetic, comparisons (filtering, or 0/1 with `bool`) and `and`, `or`, `unless`,
//!   between scalars and vectors, vectors matched one-to-one (`on`, `ignoring`).
//!
//! Refused: `offset` and `@`, subqueries, `group_left`/`group_right`, `fill` modifiers,
//! `topk` and the other aggregations, other functions, strings, `or` between matchers.
//!
//! One difference remains by design: a series missing from the newest snapshot is still
//! read for 5 minutes (no staleness markers are kept).

#[path = "eval_functions.rs"]
mod functions;

use std::collections::{BTreeMap, BTreeSet};

use promql_parser::label::{MatchOp, METRIC_NAME};
use promql_parser::parser::token::{
    TokenType, T_ADD, T_ATAN2, T_AVG, T_COUNT, T_DIV, T_EQLC, T_GROUP, T_GTE, T_GTR, T_LAND, T_LOR,
    T_LSS, T_LTE, T_MAX, T_MIN, T_MOD, T_MUL, T_NEQ, T_POW, T_SUB, T_SUM,
};
use promql_parser::parser::{
    AggregateExpr, BinaryExpr, Expr, LabelModifier, VectorMatchCardinality, VectorSelector,
};

use crate::series::{History, Labels};

/// Prometheus' lookback delta: an instant selector reads a sample at most this old.
const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// One element of an instant vector: a series' labels (without `__name__` unless kept by a
/// selector) and value. It is what an alert rule's expression yields per series: each
/// element is one alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    /// The labels; `__name__` when a selector's result kept it.
    pub labels: Labels,
    /// The value.
    pub value: f64,
}

/// Why an expression cannot be loaded or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The text is not PromQL (the parser's message).
    #[error("invalid PromQL: {0}")]
    Parse(String),
    /// Valid PromQL the evaluator does not implement (the construct is named).
    #[error("not supported by medlake's evaluator: {0}")]
    Unsupported(String),
    /// An operand of the wrong type (a vector where a scalar is needed, ...).
    #[error("type error: {0}")]
    Type(String),
    /// Vector matching failed as it fails in Prometheus (duplicate series on a side, or
    /// a result with two series of the same labels).
    #[error("vector matching: {0}")]
    Matching(String),
}

/// Parses an expression and refuses, at load time, whatever the evaluator does not support
/// (so a rule file that loads will evaluate).
pub fn parse(expr: &str) -> Result<Expr, EvalError> {
    let parsed = promql_parser::parser::parse(expr).map_err(EvalError::Parse)?;
    check(&parsed)?;
    Ok(parsed)
}

/// Evaluates `expr` at `at_ms` over `history`: an instant vector (a scalar result becomes
/// one element with empty labels). This is one evaluation of an alert rule.
pub fn evaluate(expr: &Expr, history: &History, at_ms: i64) -> Result<Vec<Element>, EvalError> {
    check(expr)?;
    let ctx = Ctx { history, at_ms };
    Ok(match eval(expr, ctx)? {
        Value::Scalar(value) => vec![Element {
            labels: Labels::new(),
            value,
        }],
        Value::Vector(v) => v,
    })
}

/// Metric names an expression reads (for checking rules against the known figures),
/// sorted. Names matched by a regular expression (`{__name__=~"..."}`) are not listed.
pub fn metric_names(expr: &Expr) -> Vec<String> {
    let mut names = BTreeSet::new();
    collect_names(expr, &mut names);
    names.into_iter().collect()
}

fn collect_names(expr: &Expr, names: &mut BTreeSet<String>) {
    match expr {
        Expr::VectorSelector(vs) => selector_names(vs, names),
        Expr::MatrixSelector(ms) => selector_names(&ms.vs, names),
        Expr::Aggregate(a) => {
            collect_names(&a.expr, names);
            if let Some(param) = &a.param {
                collect_names(param, names);
            }
        }
        Expr::Unary(u) => collect_names(&u.expr, names),
        Expr::Paren(p) => collect_names(&p.expr, names),
        Expr::Subquery(s) => collect_names(&s.expr, names),
        Expr::Binary(b) => {
            collect_names(&b.lhs, names);
            collect_names(&b.rhs, names);
        }
        Expr::Call(c) => c.args.args.iter().for_each(|a| collect_names(a, names)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn selector_names(vs: &VectorSelector, names: &mut BTreeSet<String>) {
    names.extend(vs.name.clone());
    names.extend(
        vs.matchers
            .matchers
            .iter()
            .filter(|m| m.name == METRIC_NAME && matches!(m.op, MatchOp::Equal))
            .map(|m| m.value.clone()),
    );
}

fn unsupported(what: impl Into<String>) -> EvalError {
    EvalError::Unsupported(what.into())
}

/// Walks the tree and refuses what [`eval`] does not implement.
fn check(expr: &Expr) -> Result<(), EvalError> {
    match expr {
        Expr::NumberLiteral(_) => Ok(()),
        Expr::Paren(p) => check(&p.expr),
        Expr::Unary(u) => check(&u.expr),
        Expr::VectorSelector(vs) => check_selector(vs),
        Expr::MatrixSelector(ms) => Err(unsupported(format!(
            "range selector {ms} outside a range function such as rate()"
        ))),
        Expr::Subquery(s) => Err(unsupported(format!("subquery {s}"))),
        Expr::StringLiteral(s) => Err(unsupported(format!("string {s}"))),
        Expr::Extension(_) => Err(unsupported("extension expression")),
        Expr::Aggregate(a) => {
            if !matches!(a.op.id(), T_SUM | T_MIN | T_MAX | T_AVG | T_COUNT | T_GROUP) {
                return Err(unsupported(format!("aggregation {}", a.op)));
            }
            if a.param.is_some() {
                return Err(unsupported(format!("parameter of aggregation {}", a.op)));
            }
            check(&a.expr)
        }
        Expr::Binary(b) => {
            if let Some(m) = &b.modifier {
                if matches!(
                    m.card,
                    VectorMatchCardinality::ManyToOne(_) | VectorMatchCardinality::OneToMany(_)
                ) {
                    return Err(unsupported(format!("group_left/group_right in {expr}")));
                }
                if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                    return Err(unsupported(format!("fill modifier in {expr}")));
                }
            }
            check(&b.lhs)?;
            check(&b.rhs)
        }
        Expr::Call(c) => {
            let name = c.func.name;
            if functions::RANGE_FUNCTIONS.contains(&name) {
                c.args.args.iter().try_for_each(|a| match unparen(a) {
                    Expr::MatrixSelector(ms) => check_selector(&ms.vs),
                    Expr::Subquery(s) => Err(unsupported(format!("subquery {s}"))),
                    other => Err(unsupported(format!(
                        "{name}({other}): only a range selector such as x[5m]"
                    ))),
                })
            } else if functions::INSTANT_FUNCTIONS.contains(&name) {
                c.args.args.iter().try_for_each(|a| check(a))
            } else {
                Err(unsupported(format!("function {name}()")))
            }
        }
    }
}

fn check_selector(vs: &VectorSelector) -> Result<(), EvalError> {
    if vs.offset.is_some() {
        return Err(unsupported(format!("offset modifier in {vs}")));
    }
    if vs.at.is_some() {
        return Err(unsupported(format!("@ modifier in {vs}")));
    }
    if !vs.matchers.or_matchers.is_empty() {
        return Err(unsupported(format!("`or` between label matchers in {vs}")));
    }
    Ok(())
}

/// The expression inside any parentheses.
fn unparen(mut expr: &Expr) -> &Expr {
    while let Expr::Paren(p) = expr {
        expr = &p.expr;
    }
    expr
}

/// What an evaluation reads: the history and the instant.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    history: &'a History,
    at_ms: i64,
}

/// A value of an expression (range vectors never leave the functions that read them).
enum Value {
    Scalar(f64),
    Vector(Vec<Element>),
}

fn eval(expr: &Expr, ctx: Ctx<'_>) -> Result<Value, EvalError> {
    match expr {
        Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
        Expr::Paren(p) => eval(&p.expr, ctx),
        Expr::Unary(u) => Ok(match eval(&u.expr, ctx)? {
            Value::Scalar(s) => Value::Scalar(-s),
            Value::Vector(v) => Value::Vector(drop_names(
                v.into_iter()
                    .map(|e| Element {
                        value: -e.value,
                        ..e
                    })
                    .collect(),
            )?),
        }),
        Expr::VectorSelector(vs) => Ok(Value::Vector(select_instant(vs, ctx))),
        Expr::Aggregate(a) => {
            let input = vector(eval(&a.expr, ctx)?, "an aggregation's operand")?;
            aggregate(a, input).map(Value::Vector)
        }
        Expr::Binary(b) => binary(b, ctx),
        Expr::Call(c) => functions::call(c, ctx),
        other => Err(unsupported(format!("{other}"))),
    }
}

/// The vector in `value`, or a type error naming `what` needed one.
fn vector(value: Value, what: &str) -> Result<Vec<Element>, EvalError> {
    match value {
        Value::Vector(v) => Ok(v),
        Value::Scalar(_) => Err(EvalError::Type(format!("{what} must be a vector"))),
    }
}

/// Whether the series (`name`, `labels`) is one `vs` selects. A missing label matches as
/// the empty string, as in Prometheus.
fn selects(vs: &VectorSelector, name: &str, labels: &Labels) -> bool {
    if vs.name.as_deref().is_some_and(|n| n != name) {
        return false;
    }
    vs.matchers.matchers.iter().all(|m| {
        let value = if m.name == METRIC_NAME {
            name
        } else {
            labels.get(&m.name).map_or("", String::as_str)
        };
        m.is_match(value)
    })
}

/// A series' labels as PromQL sees them: those with a value (Prometheus has no empty
/// label) and `__name__`.
fn series_labels(name: &str, labels: &Labels) -> Labels {
    let mut out: Labels = labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.insert(METRIC_NAME.to_string(), name.to_string());
    out
}

/// The newest sample of each selected series in `(at - 5m, at]`.
fn select_instant(vs: &VectorSelector, ctx: Ctx<'_>) -> Vec<Element> {
    let mut newest: BTreeMap<Labels, f64> = BTreeMap::new();
    for snapshot in ctx
        .history
        .range(ctx.at_ms.saturating_sub(LOOKBACK_MS), ctx.at_ms)
    {
        for s in snapshot
            .samples
            .iter()
            .filter(|s| selects(vs, &s.name, &s.labels))
        {
            newest.insert(series_labels(&s.name, &s.labels), s.value);
        }
    }
    newest
        .into_iter()
        .map(|(labels, value)| Element { labels, value })
        .collect()
}

/// `v` without `__name__`, refused (as Prometheus does) when two series become one.
fn drop_names(mut v: Vec<Element>) -> Result<Vec<Element>, EvalError> {
    for e in &mut v {
        e.labels.remove(METRIC_NAME);
    }
    distinct(v)
}

fn distinct(v: Vec<Element>) -> Result<Vec<Element>, EvalError> {
    {
        let mut seen = BTreeSet::new();
        for e in &v {
            if !seen.insert(&e.labels) {
                return Err(EvalError::Matching(format!(
                    "vector cannot contain metrics with the same labelset {}",
                    show(&e.labels)
                )));
            }
        }
    }
    Ok(v)
}

/// Labels as PromQL writes them, for messages.
fn show(labels: &Labels) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

fn listed(list: &promql_parser::label::Labels, name: &str) -> bool {
    list.labels.iter().any(|l| l == name)
}

/// The labels two series are matched on: `on` keeps the listed ones, `ignoring` (and no
/// modifier) drops the listed ones and `__name__`.
fn signature(labels: &Labels, matching: Option<&LabelModifier>) -> Labels {
    labels
        .iter()
        .filter(|(k, _)| match matching {
            Some(LabelModifier::Include(on)) => listed(on, k),
            Some(LabelModifier::Exclude(ignoring)) => {
                k.as_str() != METRIC_NAME && !listed(ignoring, k)
            }
            None => k.as_str() != METRIC_NAME,
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn aggregate(agg: &AggregateExpr, input: Vec<Element>) -> Result<Vec<Element>, EvalError> {
    struct Group {
        sum: functions::Kahan,
        count: f64,
        min: f64,
        max: f64,
    }
    let mut groups: BTreeMap<Labels, Group> = BTreeMap::new();
    for e in input {
        // No modifier groups everything; `by` keeps the listed labels, `without` drops
        // them and `__name__`.
        let key = match &agg.modifier {
            None => Labels::new(),
            Some(m) => signature(&e.labels, Some(m)),
        };
        let g = groups.entry(key).or_insert(Group {
            sum: functions::Kahan::default(),
            count: 0.0,
            min: e.value,
            max: e.value,
        });
        g.sum.add(e.value);
        g.count += 1.0;
        g.min = functions::extreme(g.min, e.value, false);
        g.max = functions::extreme(g.max, e.value, true);
    }
    groups
        .into_iter()
        .map(|(labels, g)| {
            let value = match agg.op.id() {
                T_SUM => g.sum.value(),
                T_AVG => g.sum.value() / g.count,
                T_COUNT => g.count,
                T_MIN => g.min,
                T_MAX => g.max,
                T_GROUP => 1.0,
                _ => return Err(unsupported(format!("aggregation {}", agg.op))),
            };
            Ok(Element { labels, value })
        })
        .collect()
}

/// `l op r`, and whether it holds (comparisons; arithmetic always holds). A comparison's
/// value is its left operand, as in Prometheus.
fn apply(op: TokenType, l: f64, r: f64) -> Result<(f64, bool), EvalError> {
    Ok(match op.id() {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_MOD => (l % r, true),
        T_POW => (l.powf(r), true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => return Err(unsupported(format!("operator {op}"))),
    })
}

fn binary(b: &BinaryExpr, ctx: Ctx<'_>) -> Result<Value, EvalError> {
    let lhs = eval(&b.lhs, ctx)?;
    let rhs = eval(&b.rhs, ctx)?;
    let return_bool = b.return_bool();
    if b.op.is_set_operator() {
        let lhs = vector(lhs, &format!("the left operand of {}", b.op))?;
        let rhs = vector(rhs, &format!("the right operand of {}", b.op))?;
        return Ok(Value::Vector(set_operation(b, lhs, rhs)));
    }
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let (value, holds) = apply(b.op, l, r)?;
            if !b.op.is_comparison_operator() {
                Ok(Value::Scalar(value))
            } else if return_bool {
                Ok(Value::Scalar(if holds { 1.0 } else { 0.0 }))
            } else {
                Err(EvalError::Type(
                    "comparisons between scalars must use bool".to_string(),
                ))
            }
        }
        (Value::Vector(v), Value::Scalar(s)) => {
            vector_scalar(b.op, v, s, false, return_bool).map(Value::Vector)
        }
        (Value::Scalar(s), Value::Vector(v)) => {
            vector_scalar(b.op, v, s, true, return_bool).map(Value::Vector)
        }
        (Value::Vector(l), Value::Vector(r)) => vector_vector(b, l, r).map(Value::Vector),
    }
}

/// A vector and a scalar (`scalar_left`: the scalar is the left operand). A comparison
/// keeps the vector's value whichever side it is on.
fn vector_scalar(
    op: TokenType,
    v: Vec<Element>,
    s: f64,
    scalar_left: bool,
    return_bool: bool,
) -> Result<Vec<Element>, EvalError> {
    let comparison = op.is_comparison_operator();
    let mut out = Vec::with_capacity(v.len());
    for mut e in v {
        let (l, r) = if scalar_left {
            (s, e.value)
        } else {
            (e.value, s)
        };
        let (mut value, holds) = apply(op, l, r)?;
        if comparison {
            value = e.value;
        }
        if return_bool {
            value = if holds { 1.0 } else { 0.0 };
        } else if !holds {
            continue;
        }
        if !comparison || return_bool {
            e.labels.remove(METRIC_NAME);
        }
        e.value = value;
        out.push(e);
    }
    distinct(out)
}

fn matching(b: &BinaryExpr) -> Option<&LabelModifier> {
    b.modifier.as_ref().and_then(|m| m.matching.as_ref())
}

/// `and`, `or`, `unless`: the left elements with (without) a match on the right, or all
/// of the left and those of the right without a match on the left.
fn set_operation(b: &BinaryExpr, lhs: Vec<Element>, rhs: Vec<Element>) -> Vec<Element> {
    let on = matching(b);
    let sig = |e: &Element| signature(&e.labels, on);
    match b.op.id() {
        T_LOR => {
            let left: BTreeSet<Labels> = lhs.iter().map(sig).collect();
            let mut out = lhs;
            out.extend(rhs.into_iter().filter(|e| !left.contains(&sig(e))));
            out
        }
        op => {
            let right: BTreeSet<Labels> = rhs.iter().map(sig).collect();
            let keep_matched = op == T_LAND;
            lhs.into_iter()
                .filter(|e| right.contains(&sig(e)) == keep_matched)
                .collect()
        }
    }
}

/// Two vectors matched one-to-one: each left element with the right element of the same
/// signature; a signature twice on the right, or matched twice from the left, is an error.
fn vector_vector(
    b: &BinaryExpr,
    lhs: Vec<Element>,
    rhs: Vec<Element>,
) -> Result<Vec<Element>, EvalError> {
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    let on = matching(b);
    let mut right: BTreeMap<Labels, f64> = BTreeMap::new();
    for e in &rhs {
        let key = signature(&e.labels, on);
        if right.contains_key(&key) {
            return Err(EvalError::Matching(format!(
                "found duplicate series for the match group {} on the right-hand side of {}; \
                 many-to-many matching not allowed: matching labels must be unique on one side",
                show(&key),
                b.op
            )));
        }
        right.insert(key, e.value);
    }
    let comparison = b.op.is_comparison_operator();
    let return_bool = b.return_bool();
    let mut matched = BTreeSet::new();
    let mut out = Vec::new();
    for e in lhs {
        let key = signature(&e.labels, on);
        let Some(&r) = right.get(&key) else {
            continue;
        };
        let (mut value, holds) = apply(b.op, e.value, r)?;
        if return_bool {
            value = if holds { 1.0 } else { 0.0 };
        } else if !holds {
            continue;
        }
        if !matched.insert(key) {
            return Err(EvalError::Matching(
                "multiple matches for labels: many-to-one matching must be explicit \
                 (group_left/group_right)"
                    .to_string(),
            ));
        }
        let mut labels = e.labels;
        if !comparison || return_bool {
            labels.remove(METRIC_NAME);
        }
        match on {
            Some(LabelModifier::Include(keep)) => labels.retain(|k, _| listed(keep, k)),
            Some(LabelModifier::Exclude(ignored)) => labels.retain(|k, _| !listed(ignored, k)),
            None => {}
        }
        out.push(Element { labels, value });
    }
    distinct(out)
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;
