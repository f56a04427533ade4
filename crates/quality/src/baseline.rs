//! Bounds from history: what a `volume` or `distribution` figure may be, given the same
//! figure in the partitions before it.

use chrono::{Datelike, NaiveDate};
use medlake_catalog::ProfileRecord;

use crate::check::{Baseline, Tolerance};

/// The allowed interval and how it was made, for the result's `expected`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bounds {
    pub(crate) low: f64,
    pub(crate) high: f64,
    pub(crate) expected: String,
}

impl Bounds {
    pub(crate) fn holds(&self, value: f64) -> bool {
        value >= self.low && value <= self.high
    }
}

/// The trailing partitions a baseline reads, newest first: the `days` before `dt`, or on
/// `SameWeekday` the `days` before it on its weekday. `history` is newest first.
pub(crate) fn window(
    history: Vec<ProfileRecord>,
    dt: NaiveDate,
    baseline: Baseline,
    days: usize,
) -> Vec<ProfileRecord> {
    history
        .into_iter()
        .filter(|p| baseline == Baseline::Daily || p.dt.weekday() == dt.weekday())
        .take(days)
        .collect()
}

/// The interval `values` allow under `tolerance`: a relative band around their mean, an
/// absolute one, or `z` standard deviations (the first of these given).
pub(crate) fn bounds(values: &[f64], tolerance: Tolerance, what: &str) -> Option<Bounds> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let of = format!("{what} of {} partitions {}", values.len(), round(mean));
    let (low, high, how) = if let Some(band) = tolerance.band {
        (
            mean * (1.0 - band),
            mean * (1.0 + band),
            format!("{of} ± {}%", round(band * 100.0)),
        )
    } else if let Some(delta) = tolerance.max_delta {
        (
            mean - delta,
            mean + delta,
            format!("{of} ± {}", round(delta)),
        )
    } else {
        let z = tolerance.z?;
        (
            mean - z * sd,
            mean + z * sd,
            format!("{of} ± {z} sd ({})", round(sd)),
        )
    };
    Some(Bounds {
        low,
        high,
        expected: format!("[{}, {}] ({how})", round(low), round(high)),
    })
}

/// A figure for people: at most 4 decimals, no trailing zeros.
pub(crate) fn round(value: f64) -> String {
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(dt: NaiveDate, n: u64) -> ProfileRecord {
        ProfileRecord::new("t", dt, "*", n)
    }

    #[test]
    fn a_band_a_delta_and_a_z_score_bound_the_trailing_mean() {
        let band = bounds(
            &[90.0, 100.0, 110.0],
            Tolerance {
                band: Some(0.4),
                ..Tolerance::default()
            },
            "mean",
        )
        .unwrap();
        assert_eq!((band.low, band.high), (60.0, 140.0));
        assert!(band.holds(60.0) && !band.holds(40.0));
        assert_eq!(band.expected, "[60, 140] (mean of 3 partitions 100 ± 40%)");
        let z = bounds(
            &[90.0, 110.0],
            Tolerance {
                z: Some(2.0),
                ..Tolerance::default()
            },
            "mean",
        )
        .unwrap();
        assert_eq!((z.low, z.high), (80.0, 120.0));
        assert!(bounds(&[], Tolerance::default(), "mean").is_none());
        assert_eq!(round(0.12345678), "0.1235");
        assert_eq!(round(12.0), "12");
    }

    #[test]
    fn same_weekday_reads_only_that_weekday() {
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        let history: Vec<ProfileRecord> =
            (1..=20).rev().map(|d| rows(day(d), u64::from(d))).collect();
        let same = window(history.clone(), day(22), Baseline::SameWeekday, 7);
        let days: Vec<u32> = same.iter().map(|p| p.dt.day()).collect();
        assert_eq!(days, [15, 8, 1]);
        assert_eq!(window(history, day(22), Baseline::Daily, 2).len(), 2);
    }
}
