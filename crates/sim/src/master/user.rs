//! Users (the accounts) and the patients they add, as pure functions of (seed, id): when
//! the initial ones registered, their rows, who owns a patient, and their edits.

use chrono::{Days, NaiveDate};
use medlake_schema::codes::{GENDER_FEMALE, GENDER_MALE};
use medlake_schema::Value;
use rand::Rng;

use crate::identity::{
    chinese_name, email, given_name, id_card, mobile, password_hash, pick_district, surname,
    username,
};
use crate::params::{from_us, Timeline, HISTORY_DAYS, MINUTE_US};
use crate::rng::{hash, stream, unit, Purpose};
use crate::setting::Setting;

/// Registration time of an initial user: growing sign-ups over the history, ids in time order.
pub(crate) fn initial_user_time(ctx: &Setting, id: i64) -> i64 {
    let w = &ctx.world;
    let x = ((id - 1) as f64 + unit(w.seed(), Purpose::User, id as u64, 1)) / w.sizes.users as f64;
    let from = w.day_start(-HISTORY_DAYS + 1);
    from + (x.powf(0.7) * (w.start_us - 1 - from) as f64) as i64
}

/// The `user` row of user `id` registered at `t`.
pub(crate) fn user_row(ctx: &Setting, id: i64, t: i64) -> Vec<Value> {
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
pub(crate) fn patient_owner(ctx: &Setting, tl: &Timeline, p: i64) -> Owner {
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
pub(crate) fn initial_patient_time(ctx: &Setting, tl: &Timeline, p: i64) -> i64 {
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
fn patient_created_date(ctx: &Setting, tl: &Timeline, p: i64) -> NaiveDate {
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
fn person(ctx: &Setting, tl: &Timeline, p: i64, rng: &mut impl Rng) -> Person {
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

/// Whether patient `p` is male (as its row says).
pub(crate) fn patient_is_male(ctx: &Setting, tl: &Timeline, p: i64) -> bool {
    let mut rng = stream(ctx.world.seed(), Purpose::Patient, p as u64);
    person(ctx, tl, p, &mut rng).male
}

/// The `patient` row of patient `p` added at `t`.
pub(crate) fn patient_row(ctx: &Setting, tl: &Timeline, p: i64, t: i64) -> Vec<Value> {
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
    ctx: &Setting,
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
pub(crate) fn user_update_set(ctx: &Setting, key: u64, t: i64) -> Vec<(&'static str, Value)> {
    let mut rng = stream(ctx.world.seed(), Purpose::UserUpdate, key);
    let change = if rng.random_bool(0.75) {
        ("telephone", Value::Text(mobile(&mut rng)))
    } else {
        ("email", Value::Text(email(&mut rng)))
    };
    vec![change, ("update_time", Value::DateTime(from_us(t)))]
}
