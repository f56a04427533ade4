//! Doctors as pure functions of (seed, id): their core attributes, the review schedule
//! that moves their title and fee, their rows, and the reviews that fall on a day.
//!
//! Nothing is stored between days. A doctor's title and fee at any moment follow from a
//! per-doctor schedule of "epochs" (periodic review dates), so a consultation can copy
//! the fee its doctor charged at that moment without replaying history.

use chrono::{Days, NaiveDate};
use medlake_schema::codes::{GENDER_FEMALE, GENDER_MALE};
use medlake_schema::Value;

use crate::identity::{chinese_name, password_hash};
use crate::params::{from_us, Timeline, HISTORY_DAYS, HOUR_US};
use crate::rng::{hash, pareto, pick_cumulative, pick_weighted, stream, unit, Purpose};
use crate::setting::Setting;

/// Share of doctors per title (301 医士 .. 305 主任医师).
const TITLE_SHARE: &[(i64, f64)] = &[
    (301, 10.0),
    (302, 30.0),
    (303, 30.0),
    (304, 18.0),
    (305, 12.0),
];

/// Share of doctors per specialty code.
const SPECIALTY_SHARE: &[(i64, f64)] = &[
    (501, 12.0),
    (502, 6.0),
    (503, 10.0),
    (504, 8.0),
    (505, 8.0),
    (506, 4.0),
    (507, 4.0),
    (508, 5.0),
    (509, 7.0),
    (510, 5.0),
    (511, 5.0),
    (512, 6.0),
    (513, 6.0),
    (514, 6.0),
    (515, 5.0),
    (516, 3.0),
];

/// Fee range in yuan per title: higher titles cost more.
fn fee_range(title: i64) -> (f64, f64) {
    match title {
        301 => (5.0, 20.0),
        302 => (10.0, 40.0),
        303 => (20.0, 80.0),
        304 => (40.0, 150.0),
        _ => (80.0, 300.0),
    }
}

/// Popularity multiplier per title: patients prefer senior doctors.
fn title_pull(title: i64) -> f64 {
    match title {
        301 => 0.5,
        302 => 0.8,
        303 => 1.0,
        304 => 1.3,
        _ => 1.6,
    }
}

/// Age range (years, at the start date) per title.
fn age_range(title: i64) -> (u64, u64) {
    match title {
        301 => (23, 35),
        302 => (25, 45),
        303 => (30, 55),
        304 => (36, 60),
        _ => (42, 68),
    }
}

/// The attributes of a doctor that other generators need, from hashes only.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DoctorCore {
    /// Index into `Setting::hospitals`.
    pub hospital: usize,
    pub title0: i64,
    pub specialty: i64,
    pub male: bool,
    pub birthday: NaiveDate,
    /// Relative share of consultations.
    pub weight: f64,
}

/// The core attributes of doctor `id`.
pub(crate) fn doctor_core(ctx: &Setting, id: i64) -> DoctorCore {
    let seed = ctx.world.seed();
    let h = |k: u64| unit(seed, Purpose::DoctorCore, id as u64, k);
    let hospital = pick_cumulative(&ctx.hospital_cum, h(0));
    let title0 = pick_weighted(TITLE_SHARE, h(1));
    let (lo, hi) = age_range(title0);
    let age = lo + ((hi - lo + 1) as f64 * h(3)) as u64;
    let birthday = ctx.world.params.start - Days::new(age * 365 + (h(4) * 365.0) as u64);
    let level_pull = if ctx.hospitals[hospital].level == "三级甲等" {
        1.5
    } else {
        1.0
    };
    DoctorCore {
        hospital,
        title0,
        specialty: pick_weighted(SPECIALTY_SHARE, h(2)),
        male: h(5) < 0.55,
        birthday,
        weight: pareto(h(6), 1.1, 300.0) * title_pull(title0) * level_pull,
    }
}

/// A doctor's review schedule: every `period` days (offset by `phase`) title or fee may change.
fn schedule(seed: u64, id: i64) -> (i64, i64) {
    let period = 90 + (hash(seed, Purpose::DoctorCore, id as u64, 100) % 271) as i64;
    let phase = (hash(seed, Purpose::DoctorCore, id as u64, 101) % period as u64) as i64;
    (period, phase)
}

/// Whether doctor `id`, registered on day `reg_day`, has a review on day `d`.
fn is_review_day(seed: u64, id: i64, reg_day: u32, d: u32) -> bool {
    let (period, phase) = schedule(seed, id);
    d > reg_day && (i64::from(d) + phase) % period == 0
}

/// Time of day (office hours) of doctor `id`'s review on day `d`.
fn review_time_of_day(seed: u64, id: i64, d: u32) -> i64 {
    9 * HOUR_US
        + (unit(
            seed,
            Purpose::DoctorChange,
            id as u64,
            1 << 40 | u64::from(d),
        ) * 9.0
            * HOUR_US as f64) as i64
}

/// Fee in cents for a title in a review epoch; rounded to whole yuan (5 yuan above 50).
fn fee_cents(ctx: &Setting, id: i64, core: &DoctorCore, title: i64, epoch: i64) -> i64 {
    let (lo, hi) = fee_range(title);
    let u = unit(
        ctx.world.seed(),
        Purpose::DoctorChange,
        id as u64,
        epoch as u64,
    );
    let yuan = (lo + u * (hi - lo)) * ctx.hospitals[core.hospital].fee_factor;
    let yuan = if yuan > 50.0 {
        (yuan / 5.0).round() * 5.0
    } else {
        yuan.round().max(1.0)
    };
    yuan as i64 * 100
}

/// A doctor's title and fee at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DoctorState {
    pub title: i64,
    pub fee_cents: i64,
}

/// Title and fee of doctor `id` on day `d` at `tod` microseconds after midnight.
pub(crate) fn doctor_state(
    ctx: &Setting,
    tl: &Timeline,
    id: i64,
    core: &DoctorCore,
    d: u32,
    tod: i64,
) -> DoctorState {
    let seed = ctx.world.seed();
    let (period, phase) = schedule(seed, id);
    let reg_day = tl.doctor_day(id);
    let epoch0 = (i64::from(reg_day) + phase) / period;
    let mut epoch = (i64::from(d) + phase) / period;
    if is_review_day(seed, id, reg_day, d) && tod < review_time_of_day(seed, id, d) {
        epoch -= 1;
    }
    let mut state = DoctorState {
        title: core.title0,
        fee_cents: fee_cents(ctx, id, core, core.title0, epoch0),
    };
    for e in epoch0 + 1..=epoch {
        let promote = unit(seed, Purpose::DoctorChange, id as u64, 1 << 41 | e as u64) < 0.2;
        if promote && state.title < 305 {
            state.title += 1;
        }
        let fee = fee_cents(ctx, id, core, state.title, e);
        state.fee_cents = if fee == state.fee_cents {
            fee + 100
        } else {
            fee
        };
    }
    state
}

/// The `doctor` row of doctor `id` registered at `t` (microseconds).
pub(crate) fn doctor_row(ctx: &Setting, tl: &Timeline, id: i64, t: i64) -> Vec<Value> {
    let core = doctor_core(ctx, id);
    let state = doctor_state(ctx, tl, id, &core, tl.doctor_day(id), 0);
    let mut rng = stream(ctx.world.seed(), Purpose::Doctor, id as u64);
    let created = Value::DateTime(from_us(t));
    vec![
        Value::Int(id),
        Value::Text(chinese_name(&mut rng, core.male)),
        Value::Int(if core.male {
            GENDER_MALE
        } else {
            GENDER_FEMALE
        }),
        Value::Date(core.birthday),
        Value::Int(state.title),
        Value::Int(core.specialty),
        Value::Money(state.fee_cents),
        Value::Int(ctx.hospitals[core.hospital].id),
        Value::Text(password_hash(&mut rng)),
        created.clone(),
        created,
    ]
}

/// The changed columns of doctor `id` at its review on day `d`.
pub(crate) fn doctor_review_set(
    ctx: &Setting,
    tl: &Timeline,
    id: i64,
    d: u32,
    t: i64,
) -> Vec<(&'static str, Value)> {
    let core = doctor_core(ctx, id);
    let tod = review_time_of_day(ctx.world.seed(), id, d);
    let before = doctor_state(ctx, tl, id, &core, d, tod - 1);
    let after = doctor_state(ctx, tl, id, &core, d, tod);
    let mut set = Vec::with_capacity(3);
    if after.title != before.title {
        set.push(("title", Value::Int(after.title)));
    }
    set.push(("consultation_fee", Value::Money(after.fee_cents)));
    set.push(("update_time", Value::DateTime(from_us(t))));
    set
}

/// Registration time of an initial doctor: spread over the history, ids in time order.
pub(crate) fn initial_doctor_time(ctx: &Setting, id: i64) -> i64 {
    let w = &ctx.world;
    let x =
        ((id - 1) as f64 + unit(w.seed(), Purpose::Doctor, id as u64, 1)) / w.sizes.doctors as f64;
    let from = w.day_start(-HISTORY_DAYS + 30);
    from + (x * (w.start_us - from) as f64) as i64
}

/// Doctors registered before day `d` whose review falls on day `d`.
pub(crate) fn doctor_reviews(ctx: &Setting, tl: &Timeline, d: u32) -> Vec<(i64, i64)> {
    let seed = ctx.world.seed();
    let day0 = ctx.world.day_start(i64::from(d));
    (1..tl.offsets(d).doctor)
        .filter(|&id| is_review_day(seed, id, tl.doctor_day(id), d))
        .map(|id| (id, day0 + review_time_of_day(seed, id, d)))
        .collect()
}
