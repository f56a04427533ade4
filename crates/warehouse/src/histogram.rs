//! Quantiles of whole minutes that merge over days: `quantile_minutes(x, q)` in a measure.
//!
//! A day's partial of `quantile_minutes(x, q)` is the count of each whole-minute value of
//! `x` (fractions are floored, NULLs skipped), kept in the `ids` column of
//! `dws_metric_partial` as bytes ([`counts_to_bytes`]). A window adds the days' counts up,
//! and its value is the nearest rank: the value at 1-based rank `ceil(q * n)` of the `n`
//! sorted values. Because the counts are exact per minute, a 30-day median is exactly the
//! median of the 30 days' values, computed from 30 small rows.
//!
//! The bytes are a format byte (1), then per minute with a count, in ascending order, the
//! minute's distance from the previous one (from 0 for the first) as a zigzag LEB128
//! varint and its count as a LEB128 varint: a day of 1,000 turnarounds spread over 300
//! distinct minutes takes about 700 bytes.

use std::collections::BTreeMap;

use deltalake::datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
};
use deltalake::datafusion::sql::sqlparser::dialect::GenericDialect;
use deltalake::datafusion::sql::sqlparser::parser::Parser;

/// The aggregate a measure names to take a quantile of whole minutes:
/// `quantile_minutes(order_to_exam_minutes, 0.9)`.
pub const QUANTILE_FUNCTION: &str = "quantile_minutes";

/// How many values fall on each whole minute.
pub type Counts = BTreeMap<i64, u64>;

/// The first byte of [`counts_to_bytes`]' output.
const FORMAT: u8 = 1;

/// The value expression and the quantile of a `quantile_minutes(value, q)` call, or why it
/// is not one: two plain arguments, the second a number in (0, 1].
pub fn quantile_args(f: &Function) -> Result<(String, f64), String> {
    let text = f.to_string();
    let plain = f.filter.is_none()
        && f.over.is_none()
        && f.within_group.is_empty()
        && f.null_treatment.is_none()
        && matches!(f.parameters, FunctionArguments::None);
    let FunctionArguments::List(list) = &f.args else {
        return Err(format!(
            "{text}: {QUANTILE_FUNCTION} takes a value and a quantile, e.g. \
             {QUANTILE_FUNCTION}(minutes, 0.9)"
        ));
    };
    if !plain || list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return Err(format!(
            "{text}: {QUANTILE_FUNCTION} takes no DISTINCT, FILTER, OVER or other clause"
        ));
    }
    let args: Option<Vec<&Expr>> = list.args.iter().map(plain_arg).collect();
    let Some([value, q]) = args.as_deref() else {
        return Err(format!(
            "{text}: {QUANTILE_FUNCTION} takes a value and a quantile, e.g. \
             {QUANTILE_FUNCTION}(minutes, 0.9)"
        ));
    };
    let q: f64 = q
        .to_string()
        .parse()
        .map_err(|_| format!("{text}: the quantile must be a number, e.g. 0.5"))?;
    if !(q > 0.0 && q <= 1.0) {
        return Err(format!(
            "{text}: the quantile must be above 0 and at most 1"
        ));
    }
    Ok((value.to_string(), q))
}

/// A positional argument that is an expression (not a wildcard, not named).
fn plain_arg(arg: &FunctionArg) -> Option<&Expr> {
    match arg {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
        _ => None,
    }
}

/// [`quantile_args`] of a part's call text (as stored in `dws_metric_partial.part`).
pub fn parse_quantile_call(call: &str) -> Result<(String, f64), String> {
    let expr = Parser::new(&GenericDialect {})
        .try_with_sql(call)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| format!("{call:?} does not parse: {e}"))?;
    match expr {
        Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case(QUANTILE_FUNCTION) => {
            quantile_args(&f)
        }
        _ => Err(format!(
            "{call:?} is not a {QUANTILE_FUNCTION}(value, q) call"
        )),
    }
}

/// The value at 1-based rank `ceil(quantile * n)` of the `n` counted values (none when
/// nothing was counted). The quantile is taken to millionths, so `0.9` ranks exactly
/// `ceil(9n / 10)` whatever the floating-point error of `0.9 * n`.
pub fn nearest_rank(counts: &Counts, quantile: f64) -> Option<i64> {
    let n: u64 = counts.values().sum();
    if n == 0 {
        return None;
    }
    let millionths = (quantile * 1e6).round().clamp(1.0, 1e6) as u128;
    let rank = ((millionths * u128::from(n)).div_ceil(1_000_000)).clamp(1, u128::from(n));
    let mut seen: u128 = 0;
    for (&minute, &count) in counts {
        seen += u128::from(count);
        if seen >= rank {
            return Some(minute);
        }
    }
    None
}

/// Serializes a day's counts for the `ids` column (format in the module documentation).
pub fn counts_to_bytes(counts: &Counts) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + counts.len() * 3);
    out.push(FORMAT);
    let mut previous = 0i64;
    for (&minute, &count) in counts.iter().filter(|(_, c)| **c > 0) {
        put_varint(&mut out, zigzag(minute.wrapping_sub(previous)));
        put_varint(&mut out, count);
        previous = minute;
    }
    out
}

/// Adds the counts serialized by [`counts_to_bytes`] to `into`.
pub fn add_counts_from_bytes(bytes: &[u8], into: &mut Counts) -> Result<(), String> {
    let Some((&format, mut rest)) = bytes.split_first() else {
        return Err("an empty minute histogram".into());
    };
    if format != FORMAT {
        return Err(format!("a minute histogram of unknown format {format}"));
    }
    let mut previous = 0i64;
    while !rest.is_empty() {
        let minute = previous.wrapping_add(unzigzag(take_varint(&mut rest)?));
        let count = take_varint(&mut rest)?;
        *into.entry(minute).or_insert(0) += count;
        previous = minute;
    }
    Ok(())
}

/// Reads counts serialized by [`counts_to_bytes`].
pub fn counts_from_bytes(bytes: &[u8]) -> Result<Counts, String> {
    let mut counts = Counts::new();
    add_counts_from_bytes(bytes, &mut counts)?;
    Ok(counts)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(rest: &mut &[u8]) -> Result<u64, String> {
    let mut v = 0u64;
    let mut shift = 0u32;
    loop {
        let Some((&b, tail)) = rest.split_first() else {
            return Err("a minute histogram ends inside a number".into());
        };
        *rest = tail;
        if shift > 63 {
            return Err("a minute histogram holds a number too long".into());
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partials::{Combine, Decomposed, Merged, Part};
    use deltalake::datafusion::prelude::SessionContext;

    fn decompose(expression: &str) -> Result<Decomposed, String> {
        crate::partials::decompose(expression, &SessionContext::new().state())
    }

    fn counts(values: &[i64]) -> Counts {
        let mut c = Counts::new();
        for v in values {
            *c.entry(*v).or_insert(0) += 1;
        }
        c
    }

    /// The nearest rank computed the plain way: sort, take the value at ceil(q * n).
    fn sorted_rank(values: &[i64], tenths: u64) -> Option<i64> {
        let mut v = values.to_vec();
        v.sort_unstable();
        let n = v.len() as u64;
        if n == 0 {
            return None;
        }
        let rank = (tenths * n).div_ceil(10).max(1);
        Some(v[rank as usize - 1])
    }

    fn merged(quantile: &str, days: &[&[i64]]) -> Option<f64> {
        let part = Part {
            call: format!("quantile_minutes(minutes, {quantile})"),
            combine: Combine::Histogram,
        };
        let mut m = Merged::for_part(&part).unwrap();
        for day in days {
            m.add_minutes(&counts_to_bytes(&counts(day))).unwrap();
        }
        m.value()
    }

    #[test]
    fn two_days_merged_give_the_quantile_of_their_union() {
        let day1: &[i64] = &[12, 5, 40, 7, 7, 300, 18];
        let day2: &[i64] = &[3, 90, 7, 61, 22, 1440];
        let union: Vec<i64> = day1.iter().chain(day2).copied().collect();
        assert_eq!(union.len(), 13);
        assert_eq!(
            merged("0.5", &[day1, day2]),
            sorted_rank(&union, 5).map(|v| v as f64)
        );
        assert_eq!(merged("0.5", &[day1, day2]), Some(18.0));
        assert_eq!(
            merged("0.9", &[day1, day2]),
            sorted_rank(&union, 9).map(|v| v as f64)
        );
        assert_eq!(merged("0.9", &[day1, day2]), Some(300.0));
        // The order of the days does not matter.
        assert_eq!(merged("0.9", &[day2, day1]), Some(300.0));
    }

    #[test]
    fn nearest_rank_takes_the_value_at_ceil_q_n() {
        // n = 10: the median is the 5th value, P90 the 9th (not an interpolation).
        let c = counts(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(nearest_rank(&c, 0.5), Some(5));
        assert_eq!(nearest_rank(&c, 0.9), Some(9));
        assert_eq!(nearest_rank(&c, 1.0), Some(10));
        // n = 30: 0.9 * 30 is 27 exactly, whatever floating point says.
        let thirty: Vec<i64> = (1..=30).collect();
        assert_eq!(nearest_rank(&counts(&thirty), 0.9), Some(27));
        assert_eq!(nearest_rank(&counts(&[42]), 0.5), Some(42));
        for n in 1..200i64 {
            let values: Vec<i64> = (0..n).map(|i| (i * 37) % 101).collect();
            for tenths in [5, 9] {
                assert_eq!(
                    nearest_rank(&counts(&values), tenths as f64 / 10.0),
                    sorted_rank(&values, tenths),
                    "n = {n}, q = 0.{tenths}"
                );
            }
        }
    }

    #[test]
    fn nothing_counted_has_no_quantile() {
        assert_eq!(nearest_rank(&Counts::new(), 0.5), None);
        assert_eq!(merged("0.5", &[]), None);
        let none: &[i64] = &[];
        assert_eq!(merged("0.9", &[none, none]), None);
        let empty = counts_to_bytes(&Counts::new());
        assert_eq!(empty, [FORMAT]);
        assert!(counts_from_bytes(&empty).unwrap().is_empty());
    }

    #[test]
    fn counts_round_trip_through_bytes() {
        let c = counts(&[-3, 0, 0, 1, 59, 60, 1439, 100_000, i64::MAX, i64::MIN]);
        assert_eq!(counts_from_bytes(&counts_to_bytes(&c)).unwrap(), c);
        let mut big = Counts::new();
        big.insert(7, u64::MAX);
        assert_eq!(counts_from_bytes(&counts_to_bytes(&big)).unwrap(), big);
        assert!(counts_from_bytes(b"").is_err());
        assert!(counts_from_bytes(b"junk").is_err());
        assert!(counts_from_bytes(&[FORMAT, 0x80]).is_err());
    }

    #[test]
    fn calls_name_a_value_and_a_quantile() {
        assert_eq!(
            parse_quantile_call("quantile_minutes(order_to_exam_minutes, 0.9)").unwrap(),
            ("order_to_exam_minutes".to_string(), 0.9)
        );
        for bad in [
            "quantile_minutes(x)",
            "quantile_minutes(x, 0)",
            "quantile_minutes(x, 1.5)",
            "quantile_minutes(x, y)",
            "quantile_minutes(DISTINCT x, 0.5)",
            "median(x)",
        ] {
            assert!(parse_quantile_call(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_quantile_of_minutes_is_a_histogram_part_that_merges() {
        let d = decompose("CAST(quantile_minutes(order_to_exam_minutes, 0.9) AS DOUBLE)").unwrap();
        assert_eq!(
            d.parts,
            [Part {
                call: "quantile_minutes(order_to_exam_minutes, 0.9)".into(),
                combine: Combine::Histogram
            }]
        );
        assert_eq!(d.combined, "CAST(p0 AS DOUBLE)");
        assert_eq!(d.parts[0].day_number_sql(), None);
        assert_eq!(Combine::parse("histogram"), Some(Combine::Histogram));
        let both = decompose(
            "CAST(quantile_minutes(m, 0.5) AS DOUBLE) + quantile_minutes(m, 0.9) + count(*)",
        )
        .unwrap();
        assert_eq!(both.parts.len(), 3, "{:?}", both.parts);
        assert!(decompose("quantile_minutes(m, 2)")
            .unwrap_err()
            .contains("at most 1"));
        assert!(decompose("quantile_minutes(m, 0.5) + median(m)")
            .unwrap_err()
            .contains("does not merge"));
    }
}
