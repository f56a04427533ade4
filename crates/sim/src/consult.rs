//! Consultations: each day's plans (who, with whom, when each life-cycle step happens)
//! and the business transactions each step commits.
//!
//! A plan is a pure function of (seed, creation day, consultation id), so the events of
//! day d are found by regenerating the plans of days d-2..=d and keeping the steps
//! whose time falls in day d. Steps later than two days after the creation day never
//! happen (they are cut from the plan), which bounds the look-back. The imaging exams a
//! finished consultation orders are part of its plan (`crate::exam`), under the same limit.

use medlake_schema::codes::{
    AWAITING_PAYMENT, CONSULTATION_CREATED, DIAGNOSIS_FINISHED, IN_DIAGNOSIS, PAID,
    PRESCRIPTION_ISSUED, REVIEWED,
};
use medlake_schema::Value;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::exam::{exam_step_txn, plan_exams, ExamPlan};
use crate::master::{doctor_core, doctor_state, master_day, patient_owner, DoctorCore};
use crate::model::{Change, Txn};
use crate::params::{from_us, time_of_day, Timeline, DAY_US, HOUR_US};
use crate::rng::{cumulative, log_uniform_us, pick_cumulative, pick_weighted, stream, Purpose};
use crate::setting::Setting;
use crate::text;

/// How many days after its creation day a consultation can still change.
pub(crate) const LOOKBACK_DAYS: u32 = 2;

/// Life-cycle steps: indexes into [`Plan::times`].
pub(crate) const CREATED: usize = 0;
pub(crate) const DESCRIBED: usize = 1;
pub(crate) const PAID_STEP: usize = 2;
pub(crate) const STARTED: usize = 3;
pub(crate) const FINISHED: usize = 4;
pub(crate) const PRESCRIBED: usize = 5;
pub(crate) const RX_PAID: usize = 6;
pub(crate) const REVIEWED_STEP: usize = 7;
/// Number of steps.
pub(crate) const STEPS: usize = 8;
/// Time of a step that never happens.
pub(crate) const NEVER: i64 = i64::MAX;

/// Probability of each main step given the previous one happened (the funnel).
const FUNNEL: [(usize, f64); 4] = [
    (DESCRIBED, 0.93),
    (PAID_STEP, 0.85),
    (STARTED, 0.97),
    (FINISHED, 0.96),
];
const P_PRESCRIBE: f64 = 0.55;
const P_RX_PAY: f64 = 0.72;
const P_REVIEW: f64 = 0.55;
/// Ratings skew to 5.
const RATINGS: &[(i64, f64)] = &[(5, 70.0), (4, 17.0), (3, 7.0), (2, 3.0), (1, 3.0)];
/// Medicine lines per prescription.
const LINES: &[(usize, f64)] = &[
    (1, 25.0),
    (2, 30.0),
    (3, 22.0),
    (4, 12.0),
    (5, 7.0),
    (6, 4.0),
];
/// Packs per line.
const PACKS: &[(i64, f64)] = &[(1, 45.0), (2, 30.0), (3, 12.0), (4, 8.0), (5, 5.0)];

/// One consultation's whole (possibly truncated) life.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub id: i64,
    pub user: i64,
    pub patient: i64,
    pub doctor: i64,
    pub fee_cents: i64,
    pub specialty: i64,
    pub rating: i64,
    pub case: usize,
    /// Microsecond time of each step, [`NEVER`] if it does not happen.
    pub times: [i64; STEPS],
    /// The imaging exams ordered when the diagnosis finished: none, one, or one and its
    /// repeat (their steps follow the consultation's, see `crate::exam::ALL_STEPS`).
    pub exams: Vec<ExamPlan>,
}

/// Doctors registered before a day, with cumulative popularity for Zipf-like picks.
pub(crate) struct DoctorTable {
    cores: Vec<DoctorCore>,
    cum: Vec<f64>,
    /// Per hospital index: the ids of its doctors.
    by_hospital: Vec<Vec<i64>>,
}

impl DoctorTable {
    /// Doctors available on day `c` (registered before it).
    pub fn new(ctx: &Setting, tl: &Timeline, c: u32) -> DoctorTable {
        let cores: Vec<DoctorCore> = (1..tl.offsets(c).doctor)
            .map(|id| doctor_core(ctx, id))
            .collect();
        let cum = cumulative(cores.iter().map(|d| d.weight));
        let mut by_hospital = vec![Vec::new(); ctx.hospitals.len()];
        for (i, core) in cores.iter().enumerate() {
            by_hospital[core.hospital].push(i as i64 + 1);
        }
        DoctorTable {
            cores,
            cum,
            by_hospital,
        }
    }

    /// A doctor of hospital index `hospital` for a draw `u` in [0, 1), each as likely;
    /// any doctor when the hospital has none.
    pub fn of_hospital(&self, hospital: usize, u: f64) -> i64 {
        let ids = self
            .by_hospital
            .get(hospital)
            .map_or(&[][..], Vec::as_slice);
        if ids.is_empty() {
            let n = self.cores.len().max(1);
            return ((u * n as f64) as usize).min(n - 1) as i64 + 1;
        }
        ids[((u * ids.len() as f64) as usize).min(ids.len() - 1)]
    }

    /// A doctor id and its core attributes.
    fn pick(&self, u: f64) -> (i64, &DoctorCore) {
        let i = pick_cumulative(&self.cum, u);
        (i as i64 + 1, &self.cores[i])
    }
}

/// The plans of all consultations created on day `c`, in id (= creation time) order.
pub(crate) fn day_plans(ctx: &Setting, tl: &Timeline, c: u32) -> Vec<Plan> {
    let counts = tl.counts(c);
    let day0 = ctx.world.day_start(i64::from(c));
    let day_end = day0 + DAY_US;
    let master = master_day(ctx, tl, c);
    let mut rng = stream(ctx.world.seed(), Purpose::ConsultDay, u64::from(c));
    let mut entries: Vec<(i64, i64)> = Vec::with_capacity(counts.consultations as usize);
    // Some users consult right after registering: their own new patient row.
    for &(patient, added) in master
        .patients
        .iter()
        .take(counts.first_consultations as usize)
    {
        let t = added + log_uniform_us(&mut rng, 120.0, 3.0 * 3600.0);
        let t = if t < day_end {
            t
        } else {
            added + 1 + ((day_end - added - 1) as f64 * rng.random::<f64>()) as i64
        };
        entries.push((t, patient));
    }
    for _ in counts.first_consultations..counts.consultations {
        let t = day0 + time_of_day(rng.random(), rng.random());
        entries.push((t, pick_patient(&mut rng, tl, c)));
    }
    entries.sort_unstable();
    let doctors = DoctorTable::new(ctx, tl, c);
    let first_id = tl.offsets(c).consultation;
    entries
        .iter()
        .enumerate()
        .map(|(j, &(t, patient))| plan(ctx, tl, &doctors, first_id + j as i64, c, t, patient))
        .collect()
}

/// A patient added before day `c`; recently added patients are more active.
fn pick_patient(rng: &mut ChaCha8Rng, tl: &Timeline, c: u32) -> i64 {
    let end = tl.offsets(c).patient;
    let recent = tl.offsets(c.saturating_sub(30)).patient;
    if recent < end && rng.random_bool(0.2) {
        rng.random_range(recent..end)
    } else {
        rng.random_range(1..end)
    }
}

/// How long a paid consultation waits for its doctor: minutes by day, until the
/// morning when paid at night.
fn response_gap(rng: &mut ChaCha8Rng, ctx: &Setting, t: i64) -> i64 {
    let tod = (t - ctx.world.start_us).rem_euclid(DAY_US);
    let hour = tod / HOUR_US;
    let wait = match hour {
        23 => DAY_US - tod + 7 * HOUR_US,
        0..=6 => 7 * HOUR_US - tod,
        _ => 0,
    };
    let hi = if wait == 0 {
        4.0 * 3600.0
    } else {
        2.5 * 3600.0
    };
    wait + log_uniform_us(rng, 60.0, hi)
}

/// Gap before a main funnel step.
fn step_gap(rng: &mut ChaCha8Rng, ctx: &Setting, step: usize, t: i64) -> i64 {
    match step {
        DESCRIBED => log_uniform_us(rng, 20.0, 600.0),
        PAID_STEP => log_uniform_us(rng, 10.0, 1800.0),
        STARTED => response_gap(rng, ctx, t),
        _ => log_uniform_us(rng, 180.0, 5400.0),
    }
}

/// The plan of consultation `id`, created on day `c` at `created` for `patient`.
fn plan(
    ctx: &Setting,
    tl: &Timeline,
    doctors: &DoctorTable,
    id: i64,
    c: u32,
    created: i64,
    patient: i64,
) -> Plan {
    let mut rng = stream(ctx.world.seed(), Purpose::Consultation, id as u64);
    let (doctor, core) = doctors.pick(rng.random());
    let tod = created - ctx.world.day_start(i64::from(c));
    let fee_cents = doctor_state(ctx, tl, doctor, core, c, tod).fee_cents;
    let limit = ctx.world.day_start(i64::from(c + LOOKBACK_DAYS + 1));
    let mut times = [NEVER; STEPS];
    times[CREATED] = created;
    let mut t = created;
    for (step, p) in FUNNEL {
        if !rng.random_bool(p) {
            break;
        }
        t += step_gap(&mut rng, ctx, step, t);
        if t >= limit {
            break;
        }
        times[step] = t;
    }
    if times[FINISHED] != NEVER {
        after_diagnosis(&mut rng, &mut times, limit);
    }
    let mut planned = Plan {
        id,
        user: patient_owner(ctx, tl, patient).user,
        patient,
        doctor,
        fee_cents,
        specialty: core.specialty,
        rating: pick_weighted(RATINGS, rng.random()),
        case: text::case_index(&mut rng),
        times,
        exams: Vec::new(),
    };
    planned.exams = plan_exams(ctx, tl, doctors, &planned, core.hospital, limit);
    planned
}

/// Optional prescription, its payment, and the review, after the diagnosis.
fn after_diagnosis(rng: &mut ChaCha8Rng, times: &mut [i64; STEPS], limit: i64) {
    let finished = times[FINISHED];
    if rng.random_bool(P_PRESCRIBE) {
        let rx = finished + log_uniform_us(rng, 60.0, 1200.0);
        if rx < limit {
            times[PRESCRIBED] = rx;
            if rng.random_bool(P_RX_PAY) {
                let paid = rx + log_uniform_us(rng, 120.0, 86_400.0);
                times[RX_PAID] = if paid < limit { paid } else { NEVER };
            }
        }
    }
    if rng.random_bool(P_REVIEW) {
        let base = if times[PRESCRIBED] == NEVER {
            finished
        } else {
            times[PRESCRIBED]
        };
        let reviewed = base + log_uniform_us(rng, 600.0, 36.0 * 3600.0);
        if reviewed < limit {
            times[REVIEWED_STEP] = reviewed;
        }
    }
}

/// The business transaction of one step of a plan (an exam's, past [`STEPS`]).
pub(crate) fn step_txn(ctx: &Setting, plan: &Plan, step: usize) -> Txn {
    if step >= STEPS {
        return exam_step_txn(ctx, plan, step);
    }
    let t = plan.times[step];
    let time = from_us(t);
    let now = || Value::DateTime(time);
    let tb = &ctx.tables;
    let seed = ctx.world.seed();
    let id = plan.id;
    let status = |code: i64| ("status", Value::Int(code));
    let consult = |mut set: Vec<(&'static str, Value)>| {
        set.push(("update_time", now()));
        Change::Update {
            table: tb.consultation,
            id,
            set,
        }
    };
    let changes = match step {
        CREATED => vec![Change::Insert {
            table: tb.consultation,
            row: vec![
                Value::Int(id),
                Value::Int(plan.user),
                Value::Int(plan.patient),
                Value::Int(plan.doctor),
                Value::Money(plan.fee_cents),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Int(CONSULTATION_CREATED),
                now(),
                now(),
            ],
        }],
        DESCRIBED => {
            let mut rng = stream(seed, Purpose::Description, id as u64);
            let text = text::description(&mut rng, plan.specialty, plan.case);
            vec![
                consult(vec![
                    ("description", Value::Text(text)),
                    status(AWAITING_PAYMENT),
                ]),
                payment_insert(
                    ctx,
                    plan,
                    fee_payment_id(id),
                    Some(id),
                    None,
                    plan.fee_cents,
                    now(),
                ),
            ]
        }
        PAID_STEP => vec![
            consult(vec![status(PAID)]),
            payment_paid(ctx, fee_payment_id(id), now()),
        ],
        STARTED => vec![consult(vec![status(IN_DIAGNOSIS)])],
        FINISHED => {
            let mut rng = stream(seed, Purpose::Diagnosis, id as u64);
            let text = text::diagnosis(&mut rng, plan.specialty, plan.case);
            vec![consult(vec![
                ("diagnosis", Value::Text(text)),
                status(DIAGNOSIS_FINISHED),
            ])]
        }
        PRESCRIBED => {
            let mut changes = prescription(ctx, plan, now());
            changes.push(consult(vec![status(PRESCRIPTION_ISSUED)]));
            changes
        }
        RX_PAID => vec![
            payment_paid(ctx, prescription_payment_id(id), now()),
            Change::Update {
                table: tb.prescription,
                id,
                set: vec![status(PAID), ("update_time", now())],
            },
        ],
        _ => {
            let mut rng = stream(seed, Purpose::Review, id as u64);
            let review = text::review(&mut rng, plan.rating);
            vec![consult(vec![
                ("rating", Value::Int(plan.rating)),
                ("review", Value::Text(review)),
                status(REVIEWED),
            ])]
        }
    };
    Txn { time, changes }
}

/// Id of the payment row of a consultation's fee.
pub(crate) fn fee_payment_id(consultation: i64) -> i64 {
    2 * consultation - 1
}

/// Id of the payment row of a consultation's prescription (whose id is the consultation's).
pub(crate) fn prescription_payment_id(consultation: i64) -> i64 {
    2 * consultation
}

/// Id of line `line` (0-based) of a prescription.
pub(crate) fn detail_id(prescription: i64, line: usize) -> i64 {
    prescription * 8 + line as i64
}

/// A new unpaid payment row.
fn payment_insert(
    ctx: &Setting,
    plan: &Plan,
    id: i64,
    consultation: Option<i64>,
    prescription: Option<i64>,
    cents: i64,
    now: Value,
) -> Change {
    let opt = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
    Change::Insert {
        table: ctx.tables.payment,
        row: vec![
            Value::Int(id),
            Value::Int(plan.user),
            opt(consultation),
            opt(prescription),
            Value::Money(cents),
            Value::Int(AWAITING_PAYMENT),
            now.clone(),
            now,
        ],
    }
}

/// A payment reaching "paid".
fn payment_paid(ctx: &Setting, id: i64, now: Value) -> Change {
    Change::Update {
        table: ctx.tables.payment,
        id,
        set: vec![("status", Value::Int(PAID)), ("update_time", now)],
    }
}

/// Prescription header, its lines and its unpaid payment; the total is the sum of
/// count x price over the lines.
fn prescription(ctx: &Setting, plan: &Plan, now: Value) -> Vec<Change> {
    let mut rng = stream(ctx.world.seed(), Purpose::Prescription, plan.id as u64);
    let n = pick_weighted(LINES, rng.random());
    let mut medicines: Vec<usize> = Vec::with_capacity(n);
    while medicines.len() < n {
        let m = pick_cumulative(&ctx.medicine_cum, rng.random());
        if !medicines.contains(&m) {
            medicines.push(m);
        }
    }
    let mut total = 0;
    let mut lines = Vec::with_capacity(n);
    for (line, &m) in medicines.iter().enumerate() {
        let medicine = &ctx.medicines[m];
        let count = pick_weighted(PACKS, rng.random());
        total += count * medicine.price_cents;
        lines.push(Change::Insert {
            table: ctx.tables.prescription_detail,
            row: vec![
                Value::Int(detail_id(plan.id, line)),
                Value::Int(plan.id),
                Value::Int(medicine.id),
                Value::Int(count),
                Value::Text(text::usage(&mut rng, medicine.dose_type)),
                now.clone(),
                now.clone(),
            ],
        });
    }
    let mut changes = Vec::with_capacity(n + 3);
    changes.push(Change::Insert {
        table: ctx.tables.prescription,
        row: vec![
            Value::Int(plan.id),
            Value::Int(plan.id),
            Value::Int(plan.doctor),
            Value::Int(plan.patient),
            Value::Money(total),
            Value::Text(text::prescription_instruction(&mut rng)),
            Value::Int(AWAITING_PAYMENT),
            now.clone(),
            now.clone(),
        ],
    });
    changes.extend(lines);
    changes.push(payment_insert(
        ctx,
        plan,
        prescription_payment_id(plan.id),
        None,
        Some(plan.id),
        total,
        now,
    ));
    changes
}
