//! Deterministic randomness: every random stream is a pure function of
//! (seed, purpose, index), so any day or entity can be regenerated on its own.
//!
//! Two kinds of randomness are used:
//! - [`stream`]: a `ChaCha8Rng` keyed by a hash of (seed, purpose, index), for sequences;
//! - [`hash`] / [`unit`]: a SplitMix64-style hash, for O(1) attributes looked up in
//!   scans (e.g. "does doctor i change on day d?") where seeding a cipher per entity
//!   would be wasteful.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Why a random stream or hash is drawn; the discriminant is part of the hash input,
/// so values must never be renumbered (that would change every simulated database).
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
pub(crate) enum Purpose {
    DayCounts = 1,
    Hospital = 2,
    DoctorCore = 4,
    Doctor = 5,
    DoctorChange = 6,
    User = 7,
    PatientCore = 8,
    Patient = 9,
    MasterDay = 10,
    ConsultDay = 11,
    Consultation = 12,
    Description = 13,
    Diagnosis = 14,
    Prescription = 15,
    Review = 16,
    UserUpdate = 17,
    PatientUpdate = 18,
    Catalogue = 19,
    /// Fault injection (`crate::faults`): which rows a fault hits.
    Fault = 20,
    /// Imaging exams ordered in a consultation: whether, what, where and when.
    Exam = 21,
    /// The findings text of an imaging exam's report.
    ExamReport = 22,
    /// The scanners of a hospital.
    Scanner = 23,
}

/// SplitMix64 finaliser: a bijective, well-mixing 64-bit hash.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of (seed, purpose, a, b).
pub(crate) fn hash(seed: u64, purpose: Purpose, a: u64, b: u64) -> u64 {
    mix(mix(mix(seed ^ mix(purpose as u64)) ^ a) ^ b.rotate_left(17))
}

/// A uniform number in [0, 1) from a hash.
pub(crate) fn unit(seed: u64, purpose: Purpose, a: u64, b: u64) -> f64 {
    to_unit(hash(seed, purpose, a, b))
}

/// The top 53 bits of `h` as a number in [0, 1).
pub(crate) fn to_unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A ChaCha8 stream for (seed, purpose, index).
pub(crate) fn stream(seed: u64, purpose: Purpose, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    for (i, chunk) in key.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&hash(seed, purpose, index, i as u64).to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

/// Rounds `x` down or up with probability equal to its fraction, using `u` in [0, 1),
/// so tiny expected counts (0.3 new doctors a day) still happen on some days.
pub(crate) fn stochastic_round(x: f64, u: f64) -> u32 {
    let x = x.max(0.0);
    let floor = x.floor();
    let up = u < x - floor;
    floor as u32 + u32::from(up)
}

/// A log-uniform duration in microseconds between `lo_s` and `hi_s` seconds:
/// many short gaps, a long tail.
pub(crate) fn log_uniform_us(rng: &mut impl Rng, lo_s: f64, hi_s: f64) -> i64 {
    let x = rng.random::<f64>();
    let s = (lo_s.ln() + x * (hi_s.ln() - lo_s.ln())).exp();
    (s * 1e6) as i64
}

/// Index into `cumulative` (running sums of weights) for a draw `u` in [0, 1).
pub(crate) fn pick_cumulative(cumulative: &[f64], u: f64) -> usize {
    let total = cumulative.last().copied().unwrap_or(0.0);
    let target = u * total;
    cumulative
        .partition_point(|&c| c <= target)
        .min(cumulative.len().saturating_sub(1))
}

/// Running sums of `weights`, for [`pick_cumulative`].
pub(crate) fn cumulative<I: IntoIterator<Item = f64>>(weights: I) -> Vec<f64> {
    let mut acc = 0.0;
    weights
        .into_iter()
        .map(|w| {
            acc += w;
            acc
        })
        .collect()
}

/// Picks an item of a small weighted table with a draw `u` in [0, 1).
pub(crate) fn pick_weighted<T: Copy>(table: &[(T, f64)], u: f64) -> T {
    let total: f64 = table.iter().map(|(_, w)| w).sum();
    let mut target = u * total;
    for &(item, w) in table {
        if target < w {
            return item;
        }
        target -= w;
    }
    table[table.len() - 1].0
}

/// A Pareto-distributed popularity weight (heavy tail, minimum 1), capped so a single
/// entity never dominates a tiny population.
pub(crate) fn pareto(u: f64, alpha: f64, cap: f64) -> f64 {
    (1.0 - u).max(1e-12).powf(-1.0 / alpha).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: u64 = stream(1, Purpose::ConsultDay, 3).random();
        let b: u64 = stream(1, Purpose::ConsultDay, 3).random();
        let c: u64 = stream(2, Purpose::ConsultDay, 3).random();
        let d: u64 = stream(1, Purpose::ConsultDay, 4).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn cumulative_pick_respects_weights() {
        let c = cumulative([1.0, 0.0, 3.0]);
        assert_eq!(pick_cumulative(&c, 0.0), 0);
        assert_eq!(pick_cumulative(&c, 0.24), 0);
        assert_eq!(pick_cumulative(&c, 0.26), 2);
        assert_eq!(pick_cumulative(&c, 0.999), 2);
    }

    #[test]
    fn stochastic_round_keeps_the_mean() {
        let n: u32 = (0..10_000)
            .map(|i| stochastic_round(0.3, unit(9, Purpose::DayCounts, i, 0)))
            .sum();
        assert!((2700..3300).contains(&n), "{n}");
    }
}
