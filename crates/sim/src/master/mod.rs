//! Master data: doctors, users and patients, as pure functions of (seed, id), plus each
//! day's registrations and edits.
//!
//! Nothing is stored between days. A doctor's title and fee at any moment follow from a
//! per-doctor schedule of "epochs" (periodic review dates), so a consultation can copy
//! the fee its doctor charged at that moment without replaying history.
//!
//! Doctors are in `doctor`, users and patients in `user`; this module makes each day's
//! registrations and edits of all three.

mod doctor;
mod user;

use rand::Rng;

use crate::params::{time_of_day, Timeline, DAY_US, HOUR_US};
use crate::rng::{log_uniform_us, stream, Purpose};
use crate::setting::Setting;

pub(crate) use doctor::{
    doctor_core, doctor_review_set, doctor_row, doctor_state, initial_doctor_time, DoctorCore,
};
pub(crate) use user::{
    initial_patient_time, initial_user_time, patient_is_male, patient_owner, patient_row,
    patient_update_set, user_row, user_update_set,
};

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
pub(crate) fn master_day(ctx: &Setting, tl: &Timeline, d: u32) -> MasterDay {
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
    m.doctor_changes = doctor::doctor_reviews(ctx, tl, d);
    m
}
