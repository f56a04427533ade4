//! Simulation parameters and everything derived from them cheaply: population sizes,
//! per-day counts, id offsets, and the clock (microseconds since 1970 in local time).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Weekday};

use crate::error::{Result, SimError};
use crate::rng::{stochastic_round, unit, Purpose};

/// Microseconds in one day.
pub(crate) const DAY_US: i64 = 86_400_000_000;
/// Microseconds in one hour.
pub(crate) const HOUR_US: i64 = 3_600_000_000;
/// Microseconds in one minute.
pub(crate) const MINUTE_US: i64 = 60_000_000;
/// How long before the start date the platform went live (initial population spread).
pub(crate) const HISTORY_DAYS: i64 = 3 * 365;
/// Days of business simulated before the start date as part of the initial population, so
/// that the start date, like any day of a running business, has the consultations placed on
/// the days before it in flight (paid, finished, prescribed and reviewed on it). One per day
/// a consultation can still change after its creation day.
pub(crate) const WARM_UP_DAYS: u32 = 2;

/// What identifies a simulated world: the same parameters always give the same rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimParams {
    /// Seed of every random choice.
    pub seed: u64,
    /// Scale factor: 1.0 = 100,000 consultations a day, ~20,000 doctors, ~300,000 users.
    pub scale: f64,
    /// The first simulated business day; the initial population is created before it.
    pub start: NaiveDate,
}

impl SimParams {
    /// Checks that the scale is usable (positive, finite, at most 100).
    pub fn validate(&self) -> Result<()> {
        if !self.scale.is_finite() || self.scale <= 0.0 || self.scale > 100.0 {
            return Err(SimError::InvalidParams(format!(
                "scale must be in (0, 100], got {}",
                self.scale
            )));
        }
        if self.start.year() < 1990 || self.start.year() > 2200 {
            return Err(SimError::InvalidParams(format!(
                "start date {} out of range 1990..2200",
                self.start
            )));
        }
        Ok(())
    }

    /// The business date of a day index.
    pub fn date(&self, day: u32) -> NaiveDate {
        self.start + chrono::Days::new(u64::from(day))
    }
}

impl std::fmt::Display for SimParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed={} scale={} start={}",
            self.seed, self.scale, self.start
        )
    }
}

/// Sizes of the initial population.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    pub hospitals: i64,
    pub doctors: i64,
    pub users: i64,
    pub patients: i64,
    /// Mean consultations per day.
    pub consult_mean: f64,
}

impl Sizes {
    /// Population sizes for a scale factor, with minimums so tiny scales still work.
    pub fn for_scale(scale: f64) -> Sizes {
        let users = ((300_000.0 * scale).round() as i64).max(300);
        Sizes {
            hospitals: ((200.0 * scale).round() as i64).max(5),
            doctors: ((20_000.0 * scale).round() as i64).max(50),
            users,
            patients: (users as f64 * 1.5).round() as i64,
            consult_mean: (100_000.0 * scale).max(20.0),
        }
    }
}

/// How many things happen on one day; a cheap pure function of (seed, scale, day).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct DayCounts {
    /// Consultations created.
    pub consultations: u32,
    /// Of those, first consultations of users registered the same day.
    pub first_consultations: u32,
    pub new_doctors: u32,
    pub new_users: u32,
    /// Patients added by existing users (family members); new users add one each too.
    pub extra_patients: u32,
    pub user_updates: u32,
    pub patient_updates: u32,
}

impl DayCounts {
    /// New patients of the day: one per new user plus family members.
    pub fn new_patients(&self) -> u32 {
        self.new_users + self.extra_patients
    }
}

/// First ids of a day's new rows (ids are sequential across days).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Offsets {
    pub consultation: i64,
    pub doctor: i64,
    pub user: i64,
    pub patient: i64,
}

/// Demand of a weekday relative to the mean: weekends are busier online.
fn weekday_factor(date: NaiveDate) -> f64 {
    match date.weekday() {
        Weekday::Mon | Weekday::Tue | Weekday::Wed | Weekday::Thu => 0.96,
        Weekday::Fri => 0.98,
        Weekday::Sat => 1.08,
        Weekday::Sun => 1.10,
    }
}

/// Derived, cheap facts about a simulated world.
///
/// Its days are numbered from the first warm-up day, [`WARM_UP_DAYS`] before the start
/// date: day `WARM_UP_DAYS` is the first business day the caller asks for (its day 0).
#[derive(Debug, Clone)]
pub(crate) struct World {
    pub params: SimParams,
    pub sizes: Sizes,
    /// The date of day 0, the first warm-up day.
    pub origin: NaiveDate,
    /// Microsecond timestamp of day 0, 00:00.
    pub start_us: i64,
}

impl World {
    pub fn new(params: SimParams) -> Result<World> {
        params.validate()?;
        let origin = params.start - chrono::Days::new(u64::from(WARM_UP_DAYS));
        let start_us = to_us(origin.and_hms_opt(0, 0, 0).unwrap_or_default());
        Ok(World {
            params,
            sizes: Sizes::for_scale(params.scale),
            origin,
            start_us,
        })
    }

    /// The date of day `d`.
    pub fn date(&self, d: u32) -> NaiveDate {
        self.origin + chrono::Days::new(u64::from(d))
    }

    /// Seed shortcut.
    pub fn seed(&self) -> u64 {
        self.params.seed
    }

    /// Microsecond timestamp of day `d` 00:00 (d may be negative: history).
    pub fn day_start(&self, d: i64) -> i64 {
        self.start_us + d * DAY_US
    }

    /// The counts of day `d`.
    pub fn counts(&self, d: u32) -> DayCounts {
        let s = self.seed();
        let u = |k: u64| unit(s, Purpose::DayCounts, u64::from(d), k);
        let date = self.date(d);
        let wf = weekday_factor(date);
        let noise = 1.0 + 0.08 * (u(0) - 0.5);
        let consultations = ((self.sizes.consult_mean * wf * noise).round() as u32).max(1);
        let c = f64::from(consultations);
        let new_users = stochastic_round(c * 0.03 * (0.85 + 0.3 * u(1)), u(2));
        let first = stochastic_round(f64::from(new_users) * 0.3, u(3)).min(consultations);
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let doctor_rate = (15.0 * self.params.scale).max(0.3) * if weekend { 0.5 } else { 1.2 };
        DayCounts {
            consultations,
            first_consultations: first,
            new_doctors: stochastic_round(doctor_rate * (0.7 + 0.6 * u(4)), u(5)),
            new_users,
            extra_patients: stochastic_round(c * 0.012 * (0.85 + 0.3 * u(6)), u(7)),
            user_updates: stochastic_round(c * 0.002, u(8)),
            patient_updates: stochastic_round(c * 0.0006, u(9)),
        }
    }

    /// First ids of day `d`'s new rows: the initial population, then every earlier day.
    pub fn offsets(&self, d: u32) -> Offsets {
        let mut o = Offsets {
            consultation: 1,
            doctor: self.sizes.doctors + 1,
            user: self.sizes.users + 1,
            patient: self.sizes.patients + 1,
        };
        for k in 0..d {
            let c = self.counts(k);
            o.consultation += i64::from(c.consultations);
            o.doctor += i64::from(c.new_doctors);
            o.user += i64::from(c.new_users);
            o.patient += i64::from(c.new_patients());
        }
        o
    }
}

/// Day counts and id offsets of days `0..=through`, computed once so that lookups
/// ("which day was patient p added?") are binary searches.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    counts: Vec<DayCounts>,
    /// `offsets[d]` = first ids of day d; one more entry than `counts`.
    offsets: Vec<Offsets>,
}

impl Timeline {
    /// The timeline of days `0..=through`.
    pub fn new(world: &World, through: u32) -> Timeline {
        let mut offsets = vec![world.offsets(0)];
        let mut counts = Vec::with_capacity(through as usize + 1);
        for d in 0..=through {
            let c = world.counts(d);
            let o = offsets[d as usize];
            offsets.push(Offsets {
                consultation: o.consultation + i64::from(c.consultations),
                doctor: o.doctor + i64::from(c.new_doctors),
                user: o.user + i64::from(c.new_users),
                patient: o.patient + i64::from(c.new_patients()),
            });
            counts.push(c);
        }
        Timeline { counts, offsets }
    }

    /// Counts of day `d` (must be covered).
    pub fn counts(&self, d: u32) -> DayCounts {
        self.counts[d as usize]
    }

    /// First ids of day `d`; `d` may be one past the last covered day.
    pub fn offsets(&self, d: u32) -> Offsets {
        self.offsets[d as usize]
    }

    /// The day a patient id added after the initial population belongs to, and its
    /// index within that day's new patients.
    pub fn patient_day(&self, id: i64) -> Option<(u32, u32)> {
        let k = self.offsets.partition_point(|o| o.patient <= id);
        if k == 0 || k >= self.offsets.len() {
            return None;
        }
        let d = k - 1;
        Some((d as u32, (id - self.offsets[d].patient) as u32))
    }

    /// The day a doctor registered: 0 for the initial population (or an unknown id).
    pub fn doctor_day(&self, id: i64) -> u32 {
        let k = self.offsets.partition_point(|o| o.doctor <= id);
        k.saturating_sub(1).min(self.counts.len().saturating_sub(1)) as u32
    }
}

/// Microseconds since 1970-01-01 00:00 of a naive local time.
pub(crate) fn to_us(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

/// The naive local time of a microsecond timestamp.
pub(crate) fn from_us(us: i64) -> NaiveDateTime {
    DateTime::from_timestamp_micros(us)
        .map(|d| d.naive_utc())
        .unwrap_or_default()
}

/// Relative activity per hour of day: quiet at night, busy mornings, peak 20:00-22:00.
const HOUR_WEIGHTS: [f64; 24] = [
    2.2, 1.3, 0.8, 0.5, 0.4, 0.5, 1.0, 2.0, 3.4, 4.4, 4.9, 4.7, 3.9, 4.0, 4.6, 4.8, 4.8, 4.6, 5.0,
    6.0, 7.6, 8.0, 6.6, 4.2,
];

/// A time of day (microseconds after midnight) following the daily activity curve.
pub(crate) fn time_of_day(u_hour: f64, u_within: f64) -> i64 {
    let total: f64 = HOUR_WEIGHTS.iter().sum();
    let mut target = u_hour * total;
    let mut hour = 23;
    for (h, w) in HOUR_WEIGHTS.iter().enumerate() {
        if target < *w {
            hour = h;
            break;
        }
        target -= w;
    }
    hour as i64 * HOUR_US + ((u_within * HOUR_US as f64) as i64).min(HOUR_US - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world(scale: f64) -> World {
        let start = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        World::new(SimParams {
            seed: 7,
            scale,
            start,
        })
        .unwrap()
    }

    #[test]
    fn sizes_keep_minimums() {
        let s = Sizes::for_scale(0.0001);
        assert_eq!((s.hospitals, s.doctors, s.users), (5, 50, 300));
        let s = Sizes::for_scale(1.0);
        assert_eq!(
            (s.hospitals, s.doctors, s.users, s.patients),
            (200, 20_000, 300_000, 450_000)
        );
    }

    #[test]
    fn daily_counts_average_the_scale() {
        let w = world(1.0);
        let total: u64 = (0..28).map(|d| u64::from(w.counts(d).consultations)).sum();
        let mean = total as f64 / 28.0;
        assert!((97_000.0..103_000.0).contains(&mean), "{mean}");
        let c = w.counts(0);
        assert!(c.new_users > 2000 && c.new_doctors > 5, "{c:?}");
    }

    #[test]
    fn offsets_are_prefix_sums() {
        let w = world(0.01);
        let o2 = w.offsets(2);
        let (c0, c1) = (w.counts(0), w.counts(1));
        assert_eq!(
            o2.consultation,
            1 + i64::from(c0.consultations + c1.consultations)
        );
        assert_eq!(
            o2.user,
            w.sizes.users + 1 + i64::from(c0.new_users + c1.new_users)
        );
    }

    #[test]
    fn evening_is_the_peak() {
        let at = |h: f64| time_of_day(h, 0.5) / HOUR_US;
        assert_eq!(at(0.0), 0);
        assert_eq!(at(0.9999), 23);
        let mut per_hour = [0u32; 24];
        for i in 0..24_000 {
            per_hour[(time_of_day((f64::from(i) + 0.5) / 24_000.0, 0.0) / HOUR_US) as usize] += 1;
        }
        let peak = (0..24).max_by_key(|&h| per_hour[h]).unwrap();
        assert!((20..=21).contains(&peak), "{per_hour:?}");
    }

    #[test]
    fn rejects_bad_scale() {
        let start = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        for scale in [0.0, -1.0, f64::NAN, 1000.0] {
            assert!(World::new(SimParams {
                seed: 1,
                scale,
                start
            })
            .is_err());
        }
    }
}
