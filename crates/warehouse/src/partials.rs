//! Measures split into daily partial aggregates, so that a 7- or 30-day window is merged
//! from 7 or 30 small daily rows instead of re-reading 30 days of facts.
//!
//! A measure's expression (`CAST(sum(paid_amount) AS DOUBLE)`, or a ratio of two such) is
//! parsed once; each aggregate call in it becomes a [`Part`] computed per day and dimension
//! value into `dws_metric_partial`, and the expression is rewritten to read the merged
//! parts as columns. Sums and counts merge by adding, `min`/`max` by min/max, and
//! `count(DISTINCT x)` by the union of the day's sets of `x` (kept as Roaring bitmaps), and
//! `quantile_minutes(x, q)` by adding the day's counts per whole minute
//! ([`crate::histogram`]), so every window value equals the aggregate over the window's
//! rows. An expression with any other aggregate (a median, an average) is one
//! [`Combine::Whole`] part, which only a one-day window can use.

use std::ops::ControlFlow;

use deltalake::datafusion::execution::FunctionRegistry;
use deltalake::datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, DuplicateTreatment, Expr, FunctionArguments, Ident, VisitMut, VisitorMut,
};
use deltalake::datafusion::sql::sqlparser::dialect::GenericDialect;
use deltalake::datafusion::sql::sqlparser::parser::Parser;
use roaring::{MultiOps, RoaringTreemap};

use crate::histogram::{
    add_counts_from_bytes, nearest_rank, parse_quantile_call, quantile_args, Counts,
    QUANTILE_FUNCTION,
};

/// Name of the table of daily partial aggregates.
pub const METRIC_PARTIAL_TABLE: &str = "dws_metric_partial";

/// How the daily values of a part merge into a window's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Combine {
    /// Added up (`sum`, `count`).
    Sum,
    /// The smallest.
    Min,
    /// The largest.
    Max,
    /// The number of distinct ids over the window (`count(DISTINCT x)`).
    Distinct,
    /// A quantile of whole minutes over the window (`quantile_minutes(x, q)`): the day's
    /// counts per minute are added up ([`crate::histogram`]).
    Histogram,
    /// Not mergeable: the value of a one-day window only.
    Whole,
}

impl Combine {
    /// The word stored in `dws_metric_partial.combine`.
    pub fn as_str(self) -> &'static str {
        match self {
            Combine::Sum => "sum",
            Combine::Min => "min",
            Combine::Max => "max",
            Combine::Distinct => "distinct",
            Combine::Histogram => "histogram",
            Combine::Whole => "whole",
        }
    }

    /// The inverse of [`Combine::as_str`].
    pub fn parse(word: &str) -> Option<Combine> {
        [
            Combine::Sum,
            Combine::Min,
            Combine::Max,
            Combine::Distinct,
            Combine::Histogram,
            Combine::Whole,
        ]
        .into_iter()
        .find(|c| c.as_str() == word)
    }
}

/// One partial aggregate of a source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Part {
    /// SQL over one day's rows of the source: the aggregate call (for
    /// [`Combine::Histogram`] the whole `quantile_minutes(x, q)` call, whose `x` is counted
    /// per minute and whose `q` is taken of the window), or for [`Combine::Distinct`] the
    /// expression whose distinct values are counted.
    pub call: String,
    /// How days merge.
    pub combine: Combine,
}

impl Part {
    /// The SQL giving the day's number of this part (none for distinct parts, which are
    /// kept as id sets, and quantile parts, kept as counts per minute).
    pub fn day_number_sql(&self) -> Option<String> {
        match self.combine {
            Combine::Distinct | Combine::Histogram => None,
            _ => Some(format!("CAST({} AS DOUBLE)", self.call)),
        }
    }
}

/// A measure's expression split into parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decomposed {
    /// The parts, in the order they appear.
    pub parts: Vec<Part>,
    /// The expression with part `i` replaced by the column `part_column(i)`.
    pub combined: String,
}

/// The column holding part `i` of a measure when its combined expression is evaluated.
pub fn part_column(i: usize) -> String {
    format!("p{i}")
}

/// Splits `expression` (SQL over a source's rows, aggregating them) into parts; `functions`
/// tells aggregate functions from the others (one registry serves a whole catalog).
pub fn decompose(expression: &str, functions: &dyn FunctionRegistry) -> Result<Decomposed, String> {
    let mut expr = Parser::new(&GenericDialect {})
        .try_with_sql(expression)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| format!("{expression:?} does not parse: {e}"))?;
    let is_aggregate = |name: &str| functions.udaf(&name.to_lowercase()).is_ok();
    let mut splitter = Splitter {
        is_aggregate: &is_aggregate,
        parts: Vec::new(),
        whole: false,
        error: None,
    };
    let _ = expr.visit(&mut splitter);
    if let Some(e) = splitter.error {
        return Err(e);
    }
    if splitter.parts.is_empty() {
        return Err(format!("{expression:?} aggregates nothing"));
    }
    if splitter.whole
        && splitter
            .parts
            .iter()
            .any(|p| p.combine == Combine::Histogram)
    {
        return Err(format!(
            "{expression:?}: {QUANTILE_FUNCTION} cannot be combined with an aggregate that \
             does not merge over days"
        ));
    }
    if splitter.whole {
        return Ok(Decomposed {
            parts: vec![Part {
                call: expression.to_string(),
                combine: Combine::Whole,
            }],
            combined: part_column(0),
        });
    }
    Ok(Decomposed {
        parts: splitter.parts,
        combined: expr.to_string(),
    })
}

struct Splitter<'a> {
    is_aggregate: &'a dyn Fn(&str) -> bool,
    parts: Vec<Part>,
    whole: bool,
    /// Why the expression is refused (a malformed `quantile_minutes` call).
    error: Option<String>,
}

impl Splitter<'_> {
    /// The number of `part`, added unless an equal part is already there.
    fn place(&mut self, part: Part) -> usize {
        match self.parts.iter().position(|p| *p == part) {
            Some(i) => i,
            None => {
                self.parts.push(part);
                self.parts.len() - 1
            }
        }
    }
}

impl VisitorMut for Splitter<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Function(f) = expr else {
            return ControlFlow::Continue(());
        };
        let name = f.name.to_string().to_lowercase();
        if name == QUANTILE_FUNCTION {
            if let Err(e) = quantile_args(f) {
                self.error = Some(e);
                return ControlFlow::Break(());
            }
            let i = self.place(Part {
                call: f.to_string(),
                combine: Combine::Histogram,
            });
            *expr = Expr::Identifier(Ident::new(part_column(i)));
            return ControlFlow::Continue(());
        }
        if !(self.is_aggregate)(&name) {
            return ControlFlow::Continue(());
        }
        let distinct = matches!(
            &f.args,
            FunctionArguments::List(l) if l.duplicate_treatment == Some(DuplicateTreatment::Distinct)
        );
        let plain = f.filter.is_none() && f.over.is_none() && f.within_group.is_empty();
        let part = match (name.as_str(), distinct, &f.args) {
            ("sum" | "count", false, _) => Some(Part {
                call: f.to_string(),
                combine: Combine::Sum,
            }),
            ("min", _, _) => Some(Part {
                call: f.to_string(),
                combine: Combine::Min,
            }),
            ("max", _, _) => Some(Part {
                call: f.to_string(),
                combine: Combine::Max,
            }),
            ("count", true, FunctionArguments::List(l)) if l.args.len() == 1 && plain => {
                Some(Part {
                    call: l.args[0].to_string(),
                    combine: Combine::Distinct,
                })
            }
            _ => None,
        };
        match part {
            Some(part) if plain || part.combine != Combine::Distinct => {
                let i = self.place(part);
                *expr = Expr::Identifier(Ident::new(part_column(i)));
            }
            _ => {
                self.whole = true;
                self.parts.push(Part {
                    call: f.to_string(),
                    combine: Combine::Whole,
                });
            }
        }
        ControlFlow::Continue(())
    }
}

/// `combined` (from [`decompose`]) with each part column `p<i>` renamed to `columns[i]`, so
/// that several measures can be evaluated over one table of merged parts.
pub fn rename_parts(combined: &str, columns: &[String]) -> Result<String, String> {
    let mut expr = Parser::new(&GenericDialect {})
        .try_with_sql(combined)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| format!("{combined:?} does not parse: {e}"))?;
    let mut missing = None;
    let _ = visit_expressions_mut(&mut expr, |e| {
        if let Expr::Identifier(id) = e {
            let index = id
                .value
                .strip_prefix('p')
                .and_then(|i| i.parse::<usize>().ok());
            match index.and_then(|i| columns.get(i)) {
                Some(column) => *id = Ident::new(column.clone()),
                None => missing = Some(id.value.clone()),
            }
        }
        ControlFlow::<()>::Continue(())
    });
    match missing {
        Some(id) => Err(format!(
            "{combined:?} names {id}, which is not one of its parts"
        )),
        None => Ok(expr.to_string()),
    }
}

/// The merged value of one part over a window, built up day by day.
#[derive(Debug, Clone)]
pub enum Merged {
    /// A number (null while every day was null).
    Number(Option<f64>),
    /// The ids seen so far: those united, and days not yet united.
    Ids {
        /// The union of the days settled so far.
        united: RoaringTreemap,
        /// Days added since, united all at once by [`Merged::value`]: uniting many sets in
        /// one pass promotes sparse containers to bitmaps once instead of copying them per day.
        pending: Vec<RoaringTreemap>,
    },
    /// Whole minutes counted per minute so far, and the quantile taken of them.
    Minutes {
        /// The quantile, in (0, 1].
        quantile: f64,
        /// How many values fell on each minute.
        counts: Counts,
    },
}

impl Merged {
    /// An empty merge for `combine` (for [`Combine::Histogram`], of the median: a quantile
    /// part is merged with [`Merged::for_part`], which reads its quantile).
    pub fn new(combine: Combine) -> Merged {
        match combine {
            Combine::Distinct => Merged::Ids {
                united: RoaringTreemap::new(),
                pending: Vec::new(),
            },
            Combine::Histogram => Merged::Minutes {
                quantile: 0.5,
                counts: Counts::new(),
            },
            _ => Merged::Number(None),
        }
    }

    /// An empty merge for `part`; a quantile part's call must name its quantile.
    pub fn for_part(part: &Part) -> Result<Merged, String> {
        match part.combine {
            Combine::Histogram => {
                let (_, quantile) = parse_quantile_call(&part.call)?;
                Ok(Merged::Minutes {
                    quantile,
                    counts: Counts::new(),
                })
            }
            combine => Ok(Merged::new(combine)),
        }
    }

    /// Adds one day's counts per minute, as serialized by
    /// [`crate::histogram::counts_to_bytes`].
    pub fn add_minutes(&mut self, day: &[u8]) -> Result<(), String> {
        match self {
            Merged::Minutes { counts, .. } => add_counts_from_bytes(day, counts),
            _ => Ok(()),
        }
    }

    /// Adds one day's number.
    pub fn add_number(&mut self, combine: Combine, day: Option<f64>) {
        let (Merged::Number(acc), Some(day)) = (self, day) else {
            return;
        };
        *acc = Some(match (*acc, combine) {
            (None, _) => day,
            (Some(a), Combine::Min) => a.min(day),
            (Some(a), Combine::Max) => a.max(day),
            (Some(a), _) => a + day,
        });
    }

    /// Adds one day's ids.
    pub fn add_ids(&mut self, day: RoaringTreemap) {
        if let Merged::Ids { pending, .. } = self {
            pending.push(day);
        }
    }

    /// The value of the days added so far.
    pub fn value(&mut self) -> Option<f64> {
        match self {
            Merged::Number(n) => *n,
            Merged::Ids { united, pending } => {
                if !pending.is_empty() {
                    *united = std::iter::once(&*united).chain(pending.iter()).union();
                    pending.clear();
                }
                Some(united.len() as f64)
            }
            Merged::Minutes { quantile, counts } => {
                nearest_rank(counts, *quantile).map(|minute| minute as f64)
            }
        }
    }
}

/// Serializes a day's id set for the `ids` column.
pub fn ids_to_bytes(ids: &RoaringTreemap) -> Vec<u8> {
    let mut out = Vec::with_capacity(ids.serialized_size());
    // Writing into a Vec cannot fail.
    let _ = ids.serialize_into(&mut out);
    out
}

/// Reads an `ids` value written by [`ids_to_bytes`].
pub fn ids_from_bytes(bytes: &[u8]) -> Result<RoaringTreemap, String> {
    RoaringTreemap::deserialize_from(bytes).map_err(|e| format!("a broken id set: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::datafusion::prelude::SessionContext;

    fn decompose(expression: &str) -> Result<Decomposed, String> {
        super::decompose(expression, &SessionContext::new().state())
    }

    fn parts(expression: &str) -> Decomposed {
        decompose(expression).unwrap()
    }

    #[test]
    fn a_ratio_of_sums_is_two_summed_parts() {
        let d =
            parts("CAST(sum(paid_count) AS DOUBLE) / nullif(CAST(sum(placed_count) AS DOUBLE), 0)");
        assert_eq!(
            d.parts,
            [
                Part {
                    call: "sum(paid_count)".into(),
                    combine: Combine::Sum
                },
                Part {
                    call: "sum(placed_count)".into(),
                    combine: Combine::Sum
                }
            ]
        );
        assert_eq!(
            d.combined,
            "CAST(p0 AS DOUBLE) / nullif(CAST(p1 AS DOUBLE), 0)"
        );
    }

    #[test]
    fn distinct_counts_become_id_sets_and_repeats_share_a_part() {
        let d = parts("CAST(count(*) AS DOUBLE) / nullif(CAST(count(DISTINCT doctor_id) AS DOUBLE), 0) + count(*)");
        assert_eq!(d.parts.len(), 2);
        assert_eq!(d.parts[0].call, "count(*)");
        assert_eq!(d.parts[1].call, "doctor_id");
        assert_eq!(d.parts[1].combine, Combine::Distinct);
        assert!(d.combined.ends_with("+ p0"), "{}", d.combined);
    }

    #[test]
    fn a_median_is_one_whole_part() {
        let d = parts("CAST(median(minutes) AS DOUBLE)");
        assert_eq!(d.parts.len(), 1);
        assert_eq!(d.parts[0].combine, Combine::Whole);
        assert_eq!(d.parts[0].call, "CAST(median(minutes) AS DOUBLE)");
        assert_eq!(d.combined, "p0");
    }

    #[test]
    fn expressions_without_aggregates_or_that_do_not_parse_are_refused() {
        assert!(decompose("paid_count + 1")
            .unwrap_err()
            .contains("aggregates nothing"));
        assert!(decompose("sum(").unwrap_err().contains("does not parse"));
    }

    #[test]
    fn part_columns_are_renamed_for_a_shared_table() {
        let d = parts("CAST(sum(a) AS DOUBLE) / nullif(CAST(sum(b) AS DOUBLE), 0)");
        let renamed = rename_parts(&d.combined, &["c4".into(), "c1".into()]).unwrap();
        assert_eq!(
            renamed,
            "CAST(c4 AS DOUBLE) / nullif(CAST(c1 AS DOUBLE), 0)"
        );
        assert!(rename_parts("p2 + 1", &["c0".into()]).is_err());
    }

    #[test]
    fn merges_add_numbers_and_unite_ids() {
        let mut sum = Merged::new(Combine::Sum);
        sum.add_number(Combine::Sum, None);
        assert_eq!(sum.value(), None);
        sum.add_number(Combine::Sum, Some(2.0));
        sum.add_number(Combine::Sum, Some(3.5));
        assert_eq!(sum.value(), Some(5.5));
        let mut max = Merged::new(Combine::Max);
        max.add_number(Combine::Max, Some(2.0));
        max.add_number(Combine::Max, Some(1.0));
        assert_eq!(max.value(), Some(2.0));
        let mut ids = Merged::new(Combine::Distinct);
        let day1: RoaringTreemap = [1u64, 2, 3].into_iter().collect();
        let day2: RoaringTreemap = [3u64, 4].into_iter().collect();
        ids.add_ids(ids_from_bytes(&ids_to_bytes(&day1)).unwrap());
        ids.add_ids(day2);
        assert_eq!(ids.value(), Some(4.0));
        ids.add_ids([4u64, 5].into_iter().collect());
        assert_eq!(ids.value(), Some(5.0), "a settled union goes on growing");
        assert!(ids_from_bytes(b"junk").is_err());
    }
}
