//! The PromQL functions of the alert evaluator (`eval.rs`, which declares this file as its
//! private module `functions`): those over a range selector and those over instant
//! vectors and scalars, each as Prometheus computes it.

use std::collections::{BTreeMap, BTreeSet};

use promql_parser::label::{MatchOp, Matchers, METRIC_NAME};
use promql_parser::parser::{Call, Expr, MatrixSelector};

use super::{
    distinct, drop_names, eval, selects, series_labels, unparen, unsupported, vector, Ctx, Element,
    EvalError, Value,
};
use crate::series::Labels;

/// Functions over a range selector (`rate(x[5m])`).
pub(super) const RANGE_FUNCTIONS: &[&str] = &[
    "rate",
    "increase",
    "delta",
    "changes",
    "resets",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "absent_over_time",
];

/// Functions over instant vectors and scalars.
pub(super) const INSTANT_FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "clamp",
    "clamp_min",
    "clamp_max",
    "histogram_quantile",
    "scalar",
    "vector",
    "time",
];

/// Prometheus' tolerance for bucket counts that differ by floating-point noise.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// A sum with Kahan-Neumaier compensation, as Prometheus sums (`sum`, `avg`,
/// `sum_over_time`, `avg_over_time`).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Kahan {
    sum: f64,
    compensation: f64,
}

impl Kahan {
    pub(super) fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if t.is_infinite() {
            self.compensation = 0.0;
        } else if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    pub(super) fn value(self) -> f64 {
        self.sum + self.compensation
    }
}

/// The larger (`max`) or smaller of `acc` and `x`; a NaN `acc` gives way to `x`, as in
/// Prometheus' `max`, `min`, `max_over_time`, `min_over_time`.
pub(super) fn extreme(acc: f64, x: f64, max: bool) -> f64 {
    let beyond = if max { x > acc } else { x < acc };
    if beyond || acc.is_nan() {
        x
    } else {
        acc
    }
}

/// Go's `math.Max`: NaN when either is NaN.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN when either is NaN.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn arg(c: &Call, i: usize) -> Result<&Expr, EvalError> {
    c.args
        .args
        .get(i)
        .map(Box::as_ref)
        .ok_or_else(|| EvalError::Type(format!("{}() needs argument {}", c.func.name, i + 1)))
}

fn scalar_arg(c: &Call, i: usize, ctx: Ctx<'_>) -> Result<f64, EvalError> {
    match eval(arg(c, i)?, ctx)? {
        Value::Scalar(s) => Ok(s),
        Value::Vector(_) => Err(EvalError::Type(format!(
            "argument {} of {}() must be a scalar",
            i + 1,
            c.func.name
        ))),
    }
}

fn vector_arg(c: &Call, i: usize, ctx: Ctx<'_>) -> Result<Vec<Element>, EvalError> {
    let what = format!("argument {} of {}()", i + 1, c.func.name);
    vector(eval(arg(c, i)?, ctx)?, &what)
}

/// `f` applied to each value; the metric name is dropped.
fn map_values(v: Vec<Element>, f: impl Fn(f64) -> f64) -> Result<Value, EvalError> {
    let mapped = v
        .into_iter()
        .map(|e| Element {
            value: f(e.value),
            ..e
        })
        .collect();
    drop_names(mapped).map(Value::Vector)
}

/// Evaluates a function call.
pub(super) fn call(c: &Call, ctx: Ctx<'_>) -> Result<Value, EvalError> {
    let name = c.func.name;
    if RANGE_FUNCTIONS.contains(&name) {
        return match unparen(arg(c, 0)?) {
            Expr::MatrixSelector(ms) => over_range(name, ms, ctx).map(Value::Vector),
            other => Err(unsupported(format!(
                "{name}({other}): only a range selector such as x[5m]"
            ))),
        };
    }
    match name {
        // Seconds since the epoch, as Prometheus gives it.
        "time" => Ok(Value::Scalar(ctx.at_ms as f64 / 1000.0)),
        "vector" => Ok(Value::Vector(vec![Element {
            labels: Labels::new(),
            value: scalar_arg(c, 0, ctx)?,
        }])),
        "scalar" => Ok(Value::Scalar(match vector_arg(c, 0, ctx)?.as_slice() {
            [only] => only.value,
            _ => f64::NAN,
        })),
        "abs" => map_values(vector_arg(c, 0, ctx)?, f64::abs),
        "clamp_min" => {
            let v = vector_arg(c, 0, ctx)?;
            let min = scalar_arg(c, 1, ctx)?;
            map_values(v, |x| go_max(min, x))
        }
        "clamp_max" => {
            let v = vector_arg(c, 0, ctx)?;
            let max = scalar_arg(c, 1, ctx)?;
            map_values(v, |x| go_min(max, x))
        }
        "clamp" => {
            let v = vector_arg(c, 0, ctx)?;
            let (min, max) = (scalar_arg(c, 1, ctx)?, scalar_arg(c, 2, ctx)?);
            if max < min {
                return Ok(Value::Vector(Vec::new()));
            }
            map_values(v, |x| go_max(min, go_min(max, x)))
        }
        "absent" => {
            let present = !vector_arg(c, 0, ctx)?.is_empty();
            Ok(Value::Vector(absent(present, arg(c, 0)?)))
        }
        "histogram_quantile" => {
            let q = scalar_arg(c, 0, ctx)?;
            Ok(Value::Vector(histogram_quantile(q, vector_arg(c, 1, ctx)?)))
        }
        _ => Err(unsupported(format!("function {name}()"))),
    }
}

/// `absent()`: nothing when the argument has series, else one element of value 1 whose
/// labels are the argument's equality matchers (a label matched twice is left out, as
/// Prometheus does).
fn absent(present: bool, argument: &Expr) -> Vec<Element> {
    if present {
        return Vec::new();
    }
    let labels = match unparen(argument) {
        Expr::VectorSelector(vs) => absent_labels(&vs.matchers),
        Expr::MatrixSelector(ms) => absent_labels(&ms.vs.matchers),
        _ => Labels::new(),
    };
    vec![Element { labels, value: 1.0 }]
}

fn absent_labels(matchers: &Matchers) -> Labels {
    let mut labels = Labels::new();
    let mut seen = BTreeSet::new();
    for m in matchers.matchers.iter().filter(|m| m.name != METRIC_NAME) {
        if matches!(m.op, MatchOp::Equal) && seen.insert(m.name.as_str()) && !m.value.is_empty() {
            labels.insert(m.name.clone(), m.value.clone());
        } else {
            labels.remove(&m.name);
        }
    }
    labels
}

/// The samples of each selected series in `(start, at]`, oldest first.
fn select_range(
    ms: &MatrixSelector,
    start: i64,
    ctx: Ctx<'_>,
) -> BTreeMap<Labels, Vec<(i64, f64)>> {
    let mut series: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for snapshot in ctx.history.range(start, ctx.at_ms) {
        for s in snapshot
            .samples
            .iter()
            .filter(|s| selects(&ms.vs, &s.name, &s.labels))
        {
            let points = series.entry(series_labels(&s.name, &s.labels)).or_default();
            // The same series twice in one snapshot: the later one counts.
            if points.last().is_some_and(|last| last.0 == snapshot.at_ms) {
                points.pop();
            }
            points.push((snapshot.at_ms, s.value));
        }
    }
    series
}

/// A range function over each selected series. All but `last_over_time` drop the metric
/// name.
fn over_range(name: &str, ms: &MatrixSelector, ctx: Ctx<'_>) -> Result<Vec<Element>, EvalError> {
    let range_ms = i64::try_from(ms.range.as_millis()).unwrap_or(i64::MAX);
    let start = ctx.at_ms.saturating_sub(range_ms);
    let series = select_range(ms, start, ctx);
    if name == "absent_over_time" {
        let labels = absent_labels(&ms.vs.matchers);
        return Ok(if series.is_empty() {
            vec![Element { labels, value: 1.0 }]
        } else {
            Vec::new()
        });
    }
    let window = Window {
        start,
        end: ctx.at_ms,
        seconds: ms.range.as_secs_f64(),
    };
    let mut out = Vec::with_capacity(series.len());
    for (mut labels, points) in series {
        let values = points.iter().map(|p| p.1);
        let count = points.len() as f64;
        let value = match name {
            "rate" => window.extrapolated(&points, true, true),
            "increase" => window.extrapolated(&points, true, false),
            "delta" => window.extrapolated(&points, false, false),
            "changes" => Some(
                points
                    .windows(2)
                    .filter(|w| changed(w[0].1, w[1].1))
                    .count() as f64,
            ),
            "resets" => Some(points.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64),
            "min_over_time" => values.reduce(|acc, x| extreme(acc, x, false)),
            "max_over_time" => values.reduce(|acc, x| extreme(acc, x, true)),
            "sum_over_time" => Some(kahan_sum(values)),
            "avg_over_time" => Some(kahan_sum(values) / count),
            "count_over_time" => Some(count),
            "last_over_time" => points.last().map(|p| p.1),
            _ => return Err(unsupported(format!("function {name}()"))),
        };
        let Some(value) = value else {
            continue;
        };
        if name != "last_over_time" {
            labels.remove(METRIC_NAME);
        }
        out.push(Element { labels, value });
    }
    distinct(out)
}

/// Whether `b` differs from `a` (two NaNs do not), as `changes()` counts.
fn changed(a: f64, b: f64) -> bool {
    let same = a == b || (a.is_nan() && b.is_nan());
    !same
}

fn kahan_sum(values: impl Iterator<Item = f64>) -> f64 {
    let mut sum = Kahan::default();
    values.for_each(|x| sum.add(x));
    sum.value()
}

/// A range selector's window at the evaluation instant: `(start, end]`, `seconds` long.
struct Window {
    start: i64,
    end: i64,
    seconds: f64,
}

impl Window {
    /// Prometheus' `extrapolatedRate`: the change over the samples (with counter resets
    /// added back when `counter`), extrapolated towards the window's edges (all the way
    /// when the first/last sample is within 1.1 average intervals of it, else half an
    /// interval; a counter not below its zero point), per second when `per_second`.
    /// `None` with fewer than two samples.
    fn extrapolated(&self, points: &[(i64, f64)], counter: bool, per_second: bool) -> Option<f64> {
        let (&(first_t, first), &(last_t, last)) = (points.first()?, points.last()?);
        if points.len() < 2 {
            return None;
        }
        let mut result = last - first;
        if counter {
            for w in points.windows(2) {
                if w[1].1 < w[0].1 {
                    result += w[0].1;
                }
            }
        }
        let seconds = |from: i64, to: i64| to.saturating_sub(from) as f64 / 1000.0;
        let sampled = seconds(first_t, last_t);
        let average = sampled / (points.len() - 1) as f64;
        let threshold = average * 1.1;
        let mut to_start = seconds(self.start, first_t);
        let mut to_end = seconds(last_t, self.end);
        if to_start >= threshold {
            to_start = average / 2.0;
        }
        if counter && result > 0.0 && first >= 0.0 {
            let to_zero = sampled * (first / result);
            if to_zero < to_start {
                to_start = to_zero;
            }
        }
        if to_end >= threshold {
            to_end = average / 2.0;
        }
        let mut factor = (sampled + to_start + to_end) / sampled;
        if per_second {
            factor /= self.seconds;
        }
        Some(result * factor)
    }
}

/// `histogram_quantile(q, v)` over classic buckets: `v`'s elements grouped by their labels
/// but `le` and `__name__`, each group's `le` bounds parsed as numbers (`+Inf` included;
/// an element without a number is skipped).
fn histogram_quantile(q: f64, v: Vec<Element>) -> Vec<Element> {
    let mut groups: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
    for e in v {
        let Some(bound) = e.labels.get("le").and_then(|le| le.parse::<f64>().ok()) else {
            continue;
        };
        let mut labels = e.labels;
        labels.remove("le");
        labels.remove(METRIC_NAME);
        groups.entry(labels).or_default().push((bound, e.value));
    }
    groups
        .into_iter()
        .map(|(labels, buckets)| Element {
            labels,
            value: bucket_quantile(q, buckets),
        })
        .collect()
}

/// Prometheus' `BucketQuantile`: sort by bound, merge equal bounds, force the counts
/// monotonic, find the bucket holding rank `q * total` and interpolate linearly in it (the
/// first bucket from 0 unless its bound is not positive; the `+Inf` bucket answers the
/// highest finite bound). NaN without a `+Inf` bucket, with under two buckets or no
/// observations.
fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (bound, count) in buckets {
        if let Some(last) = merged.last_mut() {
            if last.0 == bound {
                last.1 += count;
                continue;
            }
        }
        merged.push((bound, count));
    }
    if let Some(&(_, first)) = merged.first() {
        let mut prev = first;
        for bucket in merged.iter_mut().skip(1) {
            let current = bucket.1;
            if current == prev {
                continue;
            }
            if almost_equal(prev, current, SMALL_DELTA_TOLERANCE) || current < prev {
                bucket.1 = prev;
                continue;
            }
            prev = current;
        }
    }
    let n = merged.len();
    if n < 2 {
        return f64::NAN;
    }
    let observations = merged[n - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = merged[..n - 1]
        .iter()
        .position(|&(_, count)| count >= rank)
        .unwrap_or(n - 1);
    if b == n - 1 {
        return merged[n - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (end, mut count) = merged[b];
    let mut start = 0.0;
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// Prometheus' `almost.Equal`: relative difference under `epsilon`.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if (a.is_nan() && b.is_nan()) || a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}
