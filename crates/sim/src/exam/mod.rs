//! Imaging exams ordered in consultations (docs/domain.md, 'The imaging exam life cycle'):
//! whether a finished consultation orders one, what (modality, body part, contrast),
//! where (hospital and scanner), how urgent, what the report finds, and when each step
//! of the exam's life cycle happens.
//!
//! An exam is part of its consultation's plan ([`Plan::exams`]), drawn from its own
//! stream of (seed, consultation id), so the consultation's own rows do not depend on it.
//! Its steps are plan steps after the consultation's ([`ALL_STEPS`]): the day's events,
//! `volume_drop` and the look-back treat them like every other step, and like them they
//! end by the end of the second day after the consultation's creation day.
//!
//! Ids: the exam a consultation orders is `exam_order` `2*id-1`, its repeat `2*id`
//! ([`exam_order_id`]); an `exam_report` has its exam order's id.

mod findings;
mod times;
mod txn;

use medlake_schema::codes::{PRIORITY_ROUTINE, PRIORITY_STAT, PRIORITY_URGENT};
use medlake_schema::imaging::{modality_index, takes_contrast};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::consult::{DoctorTable, Plan, FINISHED, NEVER, STEPS};
use crate::master::patient_is_male;
use crate::params::{Timeline, MINUTE_US};
use crate::rng::{log_uniform_us, pick_weighted, stream, unit, Purpose};
use crate::setting::Setting;

use times::life_cycle;
pub(crate) use txn::exam_step_txn;

/// Share of finished consultations that order an imaging exam: 73.6% of consultations
/// finish, so 100,000 consultations a day (SF 1) order about 15,000 exams.
pub(crate) const P_EXAM: f64 = 0.204;
/// Share of performed exams that get a repeat. A little above 3%, because the two-day
/// limit cuts the repeats of exams performed late.
const P_REPEAT: f64 = 0.035;
/// Share of CT and MR exams done with a contrast agent.
const P_CONTRAST: f64 = 0.25;

/// Exam life-cycle steps: indexes into [`ExamPlan::times`].
pub(crate) const ORDERED: usize = 0;
pub(crate) const PAID: usize = 1;
pub(crate) const SCHEDULED: usize = 2;
/// The exam is done: the step's time is the end of the exam on the scanner.
pub(crate) const PERFORMED: usize = 3;
pub(crate) const REPORTED: usize = 4;
pub(crate) const VERIFIED: usize = 5;
pub(crate) const CANCELLED: usize = 6;
/// The ordering doctor acknowledged a critical finding.
pub(crate) const CRITICAL_ACK: usize = 7;
/// Number of steps of one exam.
pub(crate) const EXAM_STEPS: usize = 8;
/// Exams one consultation can order: the exam and its repeat.
const EXAMS_PER_CONSULTATION: usize = 2;
/// Steps of a plan: the consultation's (`0..STEPS`), then each exam's. Plan step `s >=
/// STEPS` is step `(s - STEPS) % EXAM_STEPS` of exam `(s - STEPS) / EXAM_STEPS`.
pub(crate) const ALL_STEPS: usize = STEPS + EXAMS_PER_CONSULTATION * EXAM_STEPS;
/// Bits of a plan step in an event's sort key (`crate::sim`): enough for [`ALL_STEPS`].
pub(crate) const STEP_KEY_BITS: u32 = 5;
const _: () = assert!(ALL_STEPS <= 1 << STEP_KEY_BITS);

/// Modality mix of the exams ordered.
const MODALITY_MIX: &[(&str, f64)] = &[
    ("CT", 0.28),
    ("DX", 0.22),
    ("US", 0.20),
    ("MR", 0.14),
    ("CR", 0.08),
    ("MG", 0.05),
    ("NM", 0.03),
];
/// Priority mix: mostly routine.
const PRIORITIES: &[(i64, f64)] = &[
    (PRIORITY_ROUTINE, 80.0),
    (PRIORITY_URGENT, 15.0),
    (PRIORITY_STAT, 5.0),
];

/// How often each body part (of `medlake_schema::imaging::body_parts`) is examined, by
/// modality.
fn body_part_mix(modality: &str) -> &'static [(&'static str, f64)] {
    match modality {
        "CT" => &[
            ("HEAD", 25.0),
            ("CHEST", 40.0),
            ("ABDOMEN", 20.0),
            ("PELVIS", 5.0),
            ("SPINE", 10.0),
        ],
        "MR" => &[
            ("HEAD", 40.0),
            ("SPINE", 30.0),
            ("KNEE", 15.0),
            ("ABDOMEN", 15.0),
        ],
        "DX" | "CR" => &[
            ("CHEST", 55.0),
            ("HAND", 8.0),
            ("KNEE", 12.0),
            ("SPINE", 15.0),
            ("PELVIS", 10.0),
        ],
        "US" => &[
            ("ABDOMEN", 40.0),
            ("NECK", 25.0),
            ("BREAST", 15.0),
            ("HEART", 20.0),
        ],
        "MG" => &[("BREAST", 1.0)],
        _ => &[("WHOLEBODY", 60.0), ("HEART", 25.0), ("NECK", 15.0)],
    }
}

/// Fee range in yuan by modality.
fn fee_range(modality: &str) -> (i64, i64) {
    match modality {
        "CT" => (200, 600),
        "MR" => (400, 1200),
        "DX" | "CR" => (50, 150),
        "US" => (80, 300),
        "MG" => (150, 300),
        _ => (600, 2000),
    }
}

/// Minutes on the scanner by modality.
fn minutes_range(modality: &str) -> (i64, i64) {
    match modality {
        "CT" => (10, 20),
        "MR" => (25, 45),
        "DX" | "CR" => (3, 8),
        "US" => (10, 25),
        "MG" => (10, 15),
        _ => (30, 60),
    }
}

/// Share of reports with a positive finding, by modality (about 35% over the mix).
fn positive_rate(modality: &str) -> f64 {
    match modality {
        "CT" => 0.45,
        "MR" => 0.40,
        "DX" | "CR" => 0.25,
        "US" => 0.35,
        "MG" => 0.15,
        _ => 0.50,
    }
}

/// Share of positive reports that are critical, by priority (about 2.5% of all reports).
fn critical_rate(priority: i64) -> f64 {
    match priority {
        PRIORITY_STAT => 0.25,
        PRIORITY_URGENT => 0.12,
        _ => 0.05,
    }
}

/// Id of the `exam_order` row of consultation `consultation`'s exam, or of its repeat.
pub(crate) fn exam_order_id(consultation: i64, repeat: bool) -> i64 {
    if repeat {
        2 * consultation
    } else {
        2 * consultation - 1
    }
}

/// One imaging exam of a consultation: what, where, its result and its life cycle.
#[derive(Debug, Clone)]
pub(crate) struct ExamPlan {
    /// The `exam_order` id (and its `exam_report`'s).
    pub id: i64,
    pub modality: &'static str,
    pub body_part: &'static str,
    pub contrast: bool,
    pub priority: i64,
    pub fee_cents: i64,
    /// The performing hospital: index into `Setting::hospitals`.
    pub hospital: usize,
    pub scanner_id: i64,
    pub exam_minutes: i64,
    /// The reporting doctor's id.
    pub radiologist: i64,
    pub positive: bool,
    /// A critical finding (always positive).
    pub critical: bool,
    /// Microsecond time of each step, [`NEVER`] if it does not happen.
    pub times: [i64; EXAM_STEPS],
}

impl ExamPlan {
    /// When the exam started on the scanner (`performed_time`); the performed step
    /// commits when it ends, `exam_minutes` later.
    pub fn performed_time(&self) -> i64 {
        self.times[PERFORMED] - self.exam_minutes * MINUTE_US
    }
}

impl Plan {
    /// Time of plan step `step` (see [`ALL_STEPS`]), [`NEVER`] if it does not happen.
    pub(crate) fn step_time(&self, step: usize) -> i64 {
        match step.checked_sub(STEPS) {
            None => self.times[step],
            Some(s) => self
                .exams
                .get(s / EXAM_STEPS)
                .map_or(NEVER, |e| e.times[s % EXAM_STEPS]),
        }
    }
}

/// What an exam examines and where.
#[derive(Debug, Clone, Copy)]
struct Subject {
    modality: &'static str,
    body_part: &'static str,
    contrast: bool,
    hospital: usize,
}

/// The exams of a finished consultation (`plan`, whose doctor works at hospital index
/// `doctor_hospital`): none (about 80%), one, or one and its repeat; every step before
/// `limit`.
pub(crate) fn plan_exams(
    ctx: &Setting,
    tl: &Timeline,
    doctors: &DoctorTable,
    plan: &Plan,
    doctor_hospital: usize,
    limit: i64,
) -> Vec<ExamPlan> {
    let seed = ctx.world.seed();
    let finished = plan.times[FINISHED];
    if finished == NEVER || unit(seed, Purpose::Exam, plan.id as u64, 1 << 40) >= P_EXAM {
        return Vec::new();
    }
    let mut rng = stream(seed, Purpose::Exam, plan.id as u64);
    let ordered = finished + log_uniform_us(&mut rng, 5.0, 300.0);
    let mut modality = pick_weighted(MODALITY_MIX, rng.random());
    let mut body_part = pick_weighted(body_part_mix(modality), rng.random());
    let contrast = takes_contrast(modality) && rng.random_bool(P_CONTRAST);
    let u_site = rng.random::<f64>();
    if modality == "MG" && patient_is_male(ctx, tl, plan.patient) {
        // A man's breast is examined by ultrasound.
        (modality, body_part) = ("US", "BREAST");
    }
    let Some(m) = modality_index(modality) else {
        return Vec::new();
    };
    // The doctor's own hospital when it has the modality, else another that has it.
    let hospital = if ctx.scanner_index.scanners(doctor_hospital, m).is_empty() {
        match ctx.scanner_index.pick_site(m, u_site) {
            Some(h) => h,
            None => return Vec::new(),
        }
    } else {
        doctor_hospital
    };
    if ordered >= limit {
        return Vec::new();
    }
    let subject = Subject {
        modality,
        body_part,
        contrast,
        hospital,
    };
    let first = exam(
        ctx,
        &mut rng,
        doctors,
        exam_order_id(plan.id, false),
        subject,
        ordered,
        limit,
    );
    let u_repeat = rng.random::<f64>();
    let repeat_gap = log_uniform_us(&mut rng, 3600.0, 24.0 * 3600.0);
    let with_contrast = rng.random_bool(0.5);
    let mut exams = vec![first];
    let performed = exams[0].times[PERFORMED];
    if performed != NEVER && u_repeat < P_REPEAT && performed + repeat_gap < limit {
        // The same patient, modality and body part again; a plain CT or MR often again
        // with contrast.
        let subject = Subject {
            contrast: subject.contrast || (takes_contrast(modality) && with_contrast),
            ..subject
        };
        let id = exam_order_id(plan.id, true);
        let repeat = exam(
            ctx,
            &mut rng,
            doctors,
            id,
            subject,
            performed + repeat_gap,
            limit,
        );
        exams.push(repeat);
    }
    exams
}

/// Exam `id` of `subject` ordered at `ordered`.
fn exam(
    ctx: &Setting,
    rng: &mut ChaCha8Rng,
    doctors: &DoctorTable,
    id: i64,
    subject: Subject,
    ordered: i64,
    limit: i64,
) -> ExamPlan {
    let Subject {
        modality,
        body_part,
        contrast,
        hospital,
    } = subject;
    let priority = pick_weighted(PRIORITIES, rng.random());
    let (lo, hi) = fee_range(modality);
    // With contrast costs more: the upper half of the range. Whole tens of yuan.
    let lo = if contrast { (lo + hi) / 2 } else { lo };
    let fee_cents = rng.random_range(lo / 10..=hi / 10) * 1000;
    let scanners = ctx
        .scanner_index
        .scanners(hospital, modality_index(modality).unwrap_or(0));
    let scanner_id = scanners[rng.random_range(0..scanners.len())];
    let (lo, hi) = minutes_range(modality);
    let exam_minutes = rng.random_range(lo..=hi);
    let positive = rng.random_bool(positive_rate(modality));
    let critical = rng.random_bool(critical_rate(priority)) && positive;
    let radiologist = doctors.of_hospital(hospital, rng.random());
    let times = life_cycle(ctx, rng, ordered, priority, exam_minutes, critical, limit);
    ExamPlan {
        id,
        modality,
        body_part,
        contrast,
        priority,
        fee_cents,
        hospital,
        scanner_id,
        exam_minutes,
        radiologist,
        positive,
        critical,
        times,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medlake_schema::imaging::{body_parts, MODALITIES};

    #[test]
    fn mixes_cover_the_vocabulary() {
        let modalities: Vec<&str> = MODALITY_MIX.iter().map(|(m, _)| *m).collect();
        for m in MODALITIES {
            assert!(modalities.contains(&m), "{m}");
            let mut mixed: Vec<&str> = body_part_mix(m).iter().map(|(p, _)| *p).collect();
            let mut parts = body_parts(m).to_vec();
            mixed.sort_unstable();
            parts.sort_unstable();
            assert_eq!(mixed, parts, "{m}");
        }
        let share: f64 = MODALITY_MIX.iter().map(|(m, w)| w * positive_rate(m)).sum();
        assert!((0.33..0.37).contains(&share), "{share}");
    }

    #[test]
    fn step_keys_fit() {
        assert_eq!(ALL_STEPS, 24);
        assert_eq!(exam_order_id(7, false), 13);
        assert_eq!(exam_order_id(7, true), 14);
    }
}
