//! Master data: doctors, users and patients, as pure functions of (seed, id), plus each
//! day's registrations and edits.
//!
//! Nothing is stored between days. A doctor's title and fee at any moment follow from a
//! per-doctor schedule of "epochs" (periodic review dates), so a consultation can copy
//! the fee its doctor charged at that moment without replaying history.

use chrono::{Days, NaiveDate};
use medlake_schema::codes::{GENDER_FEMALE, GENDER_MALE};
use medlake_schema::Value;
use rand::Rng;

use crate::identity::{
    chinese_name, email, given_name, id_card, mobile, password_hash, pick_district, surname,
    username,
};
use crate::params::{from_us, time_of_day, Timeline, DAY_US, HISTORY_DAYS, HOUR_US, MINUTE_US};
use crate::rng::{
    hash, log_uniform_us, pareto, pick_cumulative, pick_weighted, stream, unit, Purpose,
};
use crate::sim::Ctx;

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
    /// Index into `Ctx::hospitals`.
    pub hospital: usize,
    pub title0: i64,
    pub specialty: i64,
    pub male: bool,
    pub birthday: NaiveDate,
    /// Relative share of consultations.
    pub weight: f64,
}

/// The core attributes of doctor `id`.
pub(crate) fn doctor_core(ctx: &Ctx, id: i64) -> DoctorCore {
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
fn fee_cents(ctx: &Ctx, id: i64, core: &DoctorCore, title: i64, epoch: i64) -> i64 {
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
    ctx: &Ctx,
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
pub(crate) fn doctor_row(ctx: &Ctx, tl: &Timeline, id: i64, t: i64) -> Vec<Value> {
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
    ctx: &Ctx,
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
pub(crate) fn initial_doctor_time(ctx: &Ctx, id: i64) -> i64 {
    let w = &ctx.world;
    let x =
        ((id - 1) as f64 + unit(w.seed(), Purpose::Doctor, id as u64, 1)) / w.sizes.doctors as f64;
    let from = w.day_start(-HISTORY_DAYS + 30);
    from + (x * (w.start_us - from) as f64) as i64
}

/// Registration time of an initial user: growing sign-ups over the history, ids in time order.
pub(crate) fn initial_user_time(ctx: &Ctx, id: i64) -> i64 {
    let w = &ctx.world;
    let x = ((id - 1) as f64 + unit(w.seed(), Purpose::User, id as u64, 1)) / w.sizes.users as f64;
    let from = w.day_start(-HISTORY_DAYS + 1);
    from + (x.powf(0.7) * (w.start_us - 1 - from) as f64) as i64
}

/// The `user` row of user `id` registered at `t`.
pub(crate) fn user_row(ctx: &Ctx, id: i64, t: i64) -> Vec<Value> {
    let mut rng = stream(ctx.world.seed(), Purpose::User, id as u64);
    let created = Value::DateTime(from_us(t));
    vec![
        Value::Int(id),
        Value::Text(username(&mut rng)),
        Value::Text(mobile(&mut rng)),
        Value::Text(email(&mut rng)),
        Value::Text(password_hash(&mut rng)),
        created.clone(),
        created,
    ]
}

/// Who added a patient, and whether the patient is the user themself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owner {
    pub user: i64,
    pub is_self: bool,
}

/// The owner of patient `p`: the first patient of each user is the user; the others
/// (family members) belong to users picked by hash among those registered earlier.
pub(crate) fn patient_owner(ctx: &Ctx, tl: &Timeline, p: i64) -> Owner {
    let s = &ctx.world.sizes;
    let pick = |users: i64| {
        1 + (hash(ctx.world.seed(), Purpose::PatientCore, p as u64, 0) % users as u64) as i64
    };
    if p <= s.users {
        return Owner {
            user: p,
            is_self: true,
        };
    }
    if p <= s.patients {
        return Owner {
            user: pick(s.users),
            is_self: false,
        };
    }
    match tl.patient_day(p) {
        Some((d, j)) if j < tl.counts(d).new_users => Owner {
            user: tl.offsets(d).user + i64::from(j),
            is_self: true,
        },
        Some((d, _)) => Owner {
            user: pick(tl.offsets(d).user - 1),
            is_self: false,
        },
        None => Owner {
            user: pick(s.users),
            is_self: false,
        },
    }
}

/// Creation time of an initial patient: shortly after its user for the user themself,
/// any time between the user's registration and the start for family members.
pub(crate) fn initial_patient_time(ctx: &Ctx, tl: &Timeline, p: i64) -> i64 {
    let owner = patient_owner(ctx, tl, p);
    let ut = initial_user_time(ctx, owner.user);
    let room = ctx.world.start_us - ut;
    let u = unit(ctx.world.seed(), Purpose::PatientCore, p as u64, 1);
    let gap = if owner.is_self {
        (30e6 + u * 20.0 * MINUTE_US as f64) as i64
    } else {
        (u * room as f64) as i64
    };
    ut + gap.clamp(1, (room / 2).max(1))
}

/// The day (possibly before day 0) on which patient `p` was added.
fn patient_created_date(ctx: &Ctx, tl: &Timeline, p: i64) -> NaiveDate {
    match tl.patient_day(p) {
        Some((d, _)) => ctx.world.date(d),
        None => from_us(initial_patient_time(ctx, tl, p)).date(),
    }
}

/// Demographics of a patient.
struct Person {
    name: String,
    male: bool,
    birthday: NaiveDate,
}

/// A patient's name, gender and birthday: users are adults; family members are mostly
/// children or elderly parents and often share the user's surname.
fn person(ctx: &Ctx, tl: &Timeline, p: i64, rng: &mut impl Rng) -> Person {
    let owner = patient_owner(ctx, tl, p);
    let family = surname(unit(
        ctx.world.seed(),
        Purpose::PatientCore,
        owner.user as u64,
        2,
    ));
    let (age_lo, age_hi, shared) = match (owner.is_self, rng.random_range(0..10)) {
        (true, _) => (18, 70, 1.0),
        (false, 0..=4) => (0, 17, 0.85),
        (false, 5..=7) => (60, 90, 0.5),
        _ => (18, 59, 0.4),
    };
    let male = rng.random_bool(if owner.is_self { 0.45 } else { 0.5 });
    let name = if rng.random_bool(shared) {
        given_name(rng, family, male)
    } else {
        chinese_name(rng, male)
    };
    let age_days = rng.random_range(age_lo * 365..(age_hi + 1) * 365) + 1;
    let birthday = patient_created_date(ctx, tl, p) - Days::new(age_days);
    Person {
        name,
        male,
        birthday,
    }
}

/// The `patient` row of patient `p` added at `t`.
pub(crate) fn patient_row(ctx: &Ctx, tl: &Timeline, p: i64, t: i64) -> Vec<Value> {
    let mut rng = stream(ctx.world.seed(), Purpose::Patient, p as u64);
    let who = person(ctx, tl, p, &mut rng);
    let region = pick_district(&mut rng).code;
    let created = Value::DateTime(from_us(t));
    vec![
        Value::Int(p),
        Value::Int(patient_owner(ctx, tl, p).user),
        Value::Text(who.name),
        Value::Int(if who.male { GENDER_MALE } else { GENDER_FEMALE }),
        Value::Date(who.birthday),
        Value::Text(id_card(&mut rng, region, who.birthday, who.male)),
        created.clone(),
        created,
    ]
}

/// A corrected ID number for patient `p` (same birthday and gender, new region and sequence).
pub(crate) fn patient_update_set(
    ctx: &Ctx,
    tl: &Timeline,
    p: i64,
    key: u64,
    t: i64,
) -> Vec<(&'static str, Value)> {
    let mut rng = stream(ctx.world.seed(), Purpose::Patient, p as u64);
    let who = person(ctx, tl, p, &mut rng);
    let mut rng = stream(ctx.world.seed(), Purpose::PatientUpdate, key);
    let region = pick_district(&mut rng).code;
    vec![
        (
            "id_card_no",
            Value::Text(id_card(&mut rng, region, who.birthday, who.male)),
        ),
        ("update_time", Value::DateTime(from_us(t))),
    ]
}

/// A new telephone (most often) or e-mail for a user.
pub(crate) fn user_update_set(ctx: &Ctx, key: u64, t: i64) -> Vec<(&'static str, Value)> {
    let mut rng = stream(ctx.world.seed(), Purpose::UserUpdate, key);
    let change = if rng.random_bool(0.75) {
        ("telephone", Value::Text(mobile(&mut rng)))
    } else {
        ("email", Value::Text(email(&mut rng)))
    };
    vec![change, ("update_time", Value::DateTime(from_us(t)))]
}

/// One day's master-data events (ids and times only; rows are built when written).
#[derive(Debug, Clone, Default)]
pub(crate) struct MasterDay {
    /// New doctors: (id, time).
    pub doctors: Vec<(i64, i64)>,
    /// New users: (id, time).
    pub users: Vec<(i64, i64)>,
    /// New patients: (id, time); the first `users.len()` are the new users themselves.
    pub patients: Vec<(i64, i64)>,
    /// Doctor reviews: (doctor id, time).
    pub doctor_changes: Vec<(i64, i64)>,
    /// User edits: (user id, time).
    pub user_updates: Vec<(i64, i64)>,
    /// Patient ID-number corrections: (patient id, time).
    pub patient_updates: Vec<(i64, i64)>,
}

/// Stream key of the k-th edit of day d.
pub(crate) fn edit_key(d: u32, k: usize) -> u64 {
    u64::from(d) << 32 | k as u64
}

/// The master-data events of day `d`.
pub(crate) fn master_day(ctx: &Ctx, tl: &Timeline, d: u32) -> MasterDay {
    let w = &ctx.world;
    let (c, o) = (tl.counts(d), tl.offsets(d));
    let day0 = w.day_start(i64::from(d));
    let mut rng = stream(w.seed(), Purpose::MasterDay, u64::from(d));
    let curve = |rng: &mut rand_chacha::ChaCha8Rng| day0 + time_of_day(rng.random(), rng.random());
    let mut m = MasterDay::default();
    for j in 0..i64::from(c.new_doctors) {
        let t = day0 + 8 * HOUR_US + (rng.random::<f64>() * 10.0 * HOUR_US as f64) as i64;
        m.doctors.push((o.doctor + j, t));
    }
    for j in 0..i64::from(c.new_users) {
        // Leave a second before midnight so the user's own patient fits the same day.
        let t = curve(&mut rng).min(day0 + DAY_US - 1_000_000);
        m.users.push((o.user + j, t));
        let pt = t + log_uniform_us(&mut rng, 20.0, 1200.0);
        let pt = if pt < day0 + DAY_US {
            pt
        } else {
            t + (day0 + DAY_US - t) / 2
        };
        m.patients.push((o.patient + j, pt));
    }
    for j in 0..i64::from(c.extra_patients) {
        m.patients
            .push((o.patient + i64::from(c.new_users) + j, curve(&mut rng)));
    }
    for _ in 0..c.user_updates {
        m.user_updates
            .push((rng.random_range(1..o.user), curve(&mut rng)));
    }
    for _ in 0..c.patient_updates {
        m.patient_updates
            .push((rng.random_range(1..o.patient), curve(&mut rng)));
    }
    m.doctor_changes = doctor_reviews(ctx, tl, d);
    m
}

/// Doctors registered before day `d` whose review falls on day `d`.
fn doctor_reviews(ctx: &Ctx, tl: &Timeline, d: u32) -> Vec<(i64, i64)> {
    let seed = ctx.world.seed();
    let day0 = ctx.world.day_start(i64::from(d));
    (1..tl.offsets(d).doctor)
        .filter(|&id| is_review_day(seed, id, tl.doctor_day(id), d))
        .map(|id| (id, day0 + review_time_of_day(seed, id, d)))
        .collect()
}
