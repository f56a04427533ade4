//! The simulator proper: turns parameters into the initial population and, for any
//! day, the time-ordered business transactions of that day.

use chrono::NaiveDate;
use medlake_schema::{codes, Table, Value};

use crate::catalog::{scanner_row, scanner_time, Hospital, Medicine, MEDICINES};
use crate::consult::{day_plans, step_txn, Plan, CREATED, LOOKBACK_DAYS, NEVER};
use crate::error::Result;
use crate::exam::{ALL_STEPS, STEP_KEY_BITS};
use crate::master::{
    doctor_review_set, doctor_row, edit_key, initial_doctor_time, initial_patient_time,
    initial_user_time, master_day, patient_row, patient_update_set, user_row, user_update_set,
    MasterDay,
};
use crate::model::{Change, Txn};
use crate::params::{from_us, SimParams, Timeline, DAY_US, HISTORY_DAYS, MINUTE_US, WARM_UP_DAYS};
use crate::setting::Setting;

/// Rows per transaction of the initial population (a bulk load, not business traffic).
const POPULATION_CHUNK: i64 = 1000;

/// A deterministic simulator of the business for one set of parameters.
///
/// It only computes rows; [`crate::simulate`] writes them. Any day can be computed on
/// its own, so a database grown one day at a time equals one grown in a single run.
pub struct Simulator {
    ctx: Setting,
}

impl Simulator {
    /// Prepares a simulator; fails on unusable parameters.
    pub fn new(params: SimParams) -> Result<Simulator> {
        let ctx = Setting::new(params)?;
        Ok(Simulator { ctx })
    }

    /// The parameters of this simulated world.
    pub fn params(&self) -> &SimParams {
        &self.ctx.world.params
    }

    /// Everything existing before the start date: first the master data, in chunks of up to
    /// 1,000 rows of one table per transaction (dict, hospitals, scanners, medicines,
    /// doctors, users, patients), then the business of the warm-up days just before the
    /// start, transaction by transaction, so that the start date begins with consultations
    /// in flight. Its `len()` is the number of transactions (for progress bars).
    pub fn initial_population(&self) -> Population<'_> {
        Population {
            ctx: &self.ctx,
            tl: Timeline::new(&self.ctx.world, 0),
            sections: population_sections(&self.ctx),
            section: 0,
            next: 0,
            warm_up: (0..WARM_UP_DAYS)
                .map(|d| DayTxns::new(&self.ctx, d))
                .collect(),
        }
    }

    /// The transactions of day `day` (0 = start date) in commit order, built lazily.
    pub fn day_txns(&self, day: u32) -> DayTxns<'_> {
        DayTxns::new(&self.ctx, day + WARM_UP_DAYS)
    }

    /// All transactions of day `day` in commit order.
    pub fn day_events(&self, day: u32) -> Vec<Txn> {
        self.day_txns(day).collect()
    }
}

/// Which table a section of the initial population fills.
#[derive(Debug, Clone, Copy)]
enum Section {
    Dict,
    Hospital,
    Scanner,
    Medicine,
    Doctor,
    User,
    Patient,
}

/// A section and its row count.
#[derive(Debug, Clone, Copy)]
struct SectionLen {
    section: Section,
    count: i64,
}

fn population_sections(ctx: &Setting) -> Vec<SectionLen> {
    let s = &ctx.world.sizes;
    let len = |section, count| SectionLen { section, count };
    vec![
        len(Section::Dict, codes::dict_rows().len() as i64),
        len(Section::Hospital, s.hospitals),
        len(Section::Scanner, ctx.scanners.len() as i64),
        len(Section::Medicine, MEDICINES),
        len(Section::Doctor, s.doctors),
        len(Section::User, s.users),
        len(Section::Patient, s.patients),
    ]
}

/// Iterator over the initial population's transactions.
pub struct Population<'a> {
    ctx: &'a Setting,
    tl: Timeline,
    sections: Vec<SectionLen>,
    section: usize,
    next: i64,
    /// The warm-up days' transactions not yet out, oldest day first.
    warm_up: std::collections::VecDeque<DayTxns<'a>>,
}

impl Population<'_> {
    /// The next transaction of the warm-up days, once the master data is out.
    fn next_warm_up_txn(&mut self) -> Option<Txn> {
        loop {
            let txn = self.warm_up.front_mut()?.next();
            if txn.is_some() {
                return txn;
            }
            self.warm_up.pop_front();
        }
    }

    /// Master-data transactions not yet out.
    fn master_txns_left(&self) -> usize {
        let chunks = |rows: i64| ((rows.max(0) + POPULATION_CHUNK - 1) / POPULATION_CHUNK) as usize;
        self.sections
            .iter()
            .skip(self.section)
            .enumerate()
            .map(|(i, s)| chunks(if i == 0 { s.count - self.next } else { s.count }))
            .sum()
    }

    /// Row `i` (0-based) of a section and its creation time.
    fn row(&self, section: Section, i: i64) -> (&'static Table, Vec<Value>, i64) {
        let ctx = self.ctx;
        let launch = ctx.world.day_start(-HISTORY_DAYS);
        let id = i + 1;
        match section {
            Section::Dict => {
                let (code, label) = codes::dict_rows()[i as usize];
                let t = launch + i * 1_000_000;
                let now = Value::DateTime(from_us(t));
                (
                    ctx.tables.dict,
                    vec![
                        Value::Int(code),
                        Value::Text(label.into()),
                        now.clone(),
                        now,
                    ],
                    t,
                )
            }
            Section::Hospital => {
                let t = launch + DAY_US / 2 + id * MINUTE_US;
                (
                    ctx.tables.hospital,
                    hospital_row(&ctx.hospitals[i as usize], t),
                    t,
                )
            }
            Section::Scanner => {
                let scanner = &ctx.scanners[i as usize];
                let t = scanner_time(launch, scanner);
                (ctx.tables.scanner, scanner_row(scanner, t), t)
            }
            Section::Medicine => {
                let t = launch + DAY_US / 4 + id * 1_000_000;
                (
                    ctx.tables.medicine,
                    medicine_row(&ctx.medicines[i as usize], t),
                    t,
                )
            }
            Section::Doctor => {
                let t = initial_doctor_time(ctx, id);
                (ctx.tables.doctor, doctor_row(ctx, &self.tl, id, t), t)
            }
            Section::User => {
                let t = initial_user_time(ctx, id);
                (ctx.tables.user, user_row(ctx, id, t), t)
            }
            Section::Patient => {
                let t = initial_patient_time(ctx, &self.tl, id);
                (ctx.tables.patient, patient_row(ctx, &self.tl, id, t), t)
            }
        }
    }
}

impl Iterator for Population<'_> {
    type Item = Txn;

    fn next(&mut self) -> Option<Txn> {
        while self
            .sections
            .get(self.section)
            .is_some_and(|s| s.count <= self.next)
        {
            self.section += 1;
            self.next = 0;
        }
        if self.section >= self.sections.len() {
            return self.next_warm_up_txn();
        }
        let SectionLen { section, count } = self.sections[self.section];
        let end = (self.next + POPULATION_CHUNK).min(count);
        let mut changes = Vec::with_capacity((end - self.next) as usize);
        let mut latest = i64::MIN;
        for i in self.next..end {
            let (table, row, t) = self.row(section, i);
            latest = latest.max(t);
            changes.push(Change::Insert { table, row });
        }
        self.next = end;
        Some(Txn {
            time: from_us(latest),
            changes,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.master_txns_left()
            + self
                .warm_up
                .iter()
                .map(ExactSizeIterator::len)
                .sum::<usize>();
        (n, Some(n))
    }
}

impl ExactSizeIterator for Population<'_> {}

fn hospital_row(h: &Hospital, t: i64) -> Vec<Value> {
    let now = Value::DateTime(from_us(t));
    let d = h.district;
    vec![
        Value::Int(h.id),
        Value::Text(h.name.clone()),
        Value::Text(h.alias.clone()),
        Value::Text(h.level.into()),
        Value::Text(d.province.into()),
        Value::Text(d.city.into()),
        Value::Text(d.district.into()),
        Value::Text(h.street.clone()),
        Value::Text(h.address()),
        Value::DateTime(h.established.and_hms_opt(0, 0, 0).unwrap_or_default()),
        Value::Int(h.beds),
        Value::Int(h.departments),
        Value::Int(h.staff),
        Value::Bool(h.insurance),
        now.clone(),
        now,
    ]
}

fn medicine_row(m: &Medicine, t: i64) -> Vec<Value> {
    let now = Value::DateTime(from_us(t));
    vec![
        Value::Int(m.id),
        Value::Text(m.name.clone()),
        Value::Text(m.name_en.clone()),
        Value::Text(m.trade_name.clone()),
        Value::Text(m.dose_type.into()),
        Value::Text(m.specs.clone()),
        Value::Text(m.approval_code.clone()),
        Value::Money(m.price_cents),
        now.clone(),
        now,
    ]
}

/// What happens at one instant of a day, before its rows are built.
#[derive(Debug, Clone, Copy)]
enum Event {
    /// Step `step` of plan number `plan` (index into `DayTxns::plans`).
    Step {
        plan: u32,
        step: u8,
    },
    NewDoctor(u32),
    NewUser(u32),
    NewPatient(u32),
    DoctorReview(u32),
    UserEdit(u32),
    PatientEdit(u32),
}

/// An event with its sort key: time, then a unique stable tiebreak.
#[derive(Debug, Clone, Copy)]
struct Scheduled {
    time: i64,
    key: u64,
    event: Event,
}

/// Iterator over one day's transactions in commit order; rows are built on demand so a
/// day at scale 1 does not sit in memory all at once.
pub struct DayTxns<'a> {
    ctx: &'a Setting,
    day: u32,
    tl: Timeline,
    plans: Vec<Plan>,
    master: MasterDay,
    events: Vec<Scheduled>,
    next: usize,
}

impl<'a> DayTxns<'a> {
    fn new(ctx: &'a Setting, day: u32) -> DayTxns<'a> {
        let tl = Timeline::new(&ctx.world, day);
        let from = ctx.world.day_start(i64::from(day));
        let to = from + DAY_US;
        let mut plans = Vec::new();
        let mut events = Vec::new();
        for c in day.saturating_sub(LOOKBACK_DAYS)..=day {
            for plan in day_plans(ctx, &tl, c) {
                let index = plans.len() as u32;
                let before = events.len();
                for step in 0..ALL_STEPS {
                    let time = plan.step_time(step);
                    if time != NEVER && (from..to).contains(&time) {
                        let key = 1 << 60 | (plan.id as u64) << STEP_KEY_BITS | step as u64;
                        events.push(Scheduled {
                            time,
                            key,
                            event: Event::Step {
                                plan: index,
                                step: step as u8,
                            },
                        });
                    }
                }
                if events.len() > before {
                    plans.push(plan);
                }
            }
        }
        let master = master_day(ctx, &tl, day);
        schedule_master(&master, &mut events);
        events.sort_unstable_by_key(|e| (e.time, e.key));
        DayTxns {
            ctx,
            day,
            tl,
            plans,
            master,
            events,
            next: 0,
        }
    }

    /// The setting the day is computed in (for fault injection, which rebuilds rows).
    pub(crate) fn setting(&self) -> &'a Setting {
        self.ctx
    }

    /// Removes every remaining event of the consultations `drop(id, creation date)`
    /// selects: their insert and all their later steps (payments, prescription, review,
    /// imaging exams).
    /// Used by fault injection (`volume_drop`); the day's `len()` shrinks accordingly, so
    /// a resumed run that skips committed transactions skips the same ones.
    pub(crate) fn drop_consultations(&mut self, mut drop: impl FnMut(i64, NaiveDate) -> bool) {
        let dropped: Vec<bool> = self
            .plans
            .iter()
            .map(|p| drop(p.id, from_us(p.times[CREATED]).date()))
            .collect();
        if !dropped.contains(&true) {
            return;
        }
        let out = self.next;
        let mut position = 0;
        self.events.retain(|e| {
            position += 1;
            position <= out
                || !matches!(e.event, Event::Step { plan, .. } if dropped[plan as usize])
        });
    }

    /// The next transaction with the consultation plan it is a step of (`None` for
    /// master data), so fault injection can rebuild rows the transaction does not carry.
    pub(crate) fn next_with_plan(&mut self) -> Option<(Txn, Option<&Plan>)> {
        let event = self.events.get(self.next)?.event;
        self.next += 1;
        let plan = match event {
            Event::Step { plan, .. } => Some(&self.plans[plan as usize]),
            _ => None,
        };
        Some((self.build(event), plan))
    }

    /// Builds the transaction of one event.
    fn build(&self, event: Event) -> Txn {
        let (ctx, tl, m, d) = (self.ctx, &self.tl, &self.master, self.day);
        let tb = &ctx.tables;
        let insert = |table, row, t| Txn {
            time: from_us(t),
            changes: vec![Change::Insert { table, row }],
        };
        let update = |table, id, set, t| Txn {
            time: from_us(t),
            changes: vec![Change::Update { table, id, set }],
        };
        match event {
            Event::Step { plan, step } => {
                step_txn(ctx, &self.plans[plan as usize], usize::from(step))
            }
            Event::NewDoctor(i) => {
                let (id, t) = m.doctors[i as usize];
                insert(tb.doctor, doctor_row(ctx, tl, id, t), t)
            }
            Event::NewUser(i) => {
                let (id, t) = m.users[i as usize];
                insert(tb.user, user_row(ctx, id, t), t)
            }
            Event::NewPatient(i) => {
                let (id, t) = m.patients[i as usize];
                insert(tb.patient, patient_row(ctx, tl, id, t), t)
            }
            Event::DoctorReview(i) => {
                let (id, t) = m.doctor_changes[i as usize];
                update(tb.doctor, id, doctor_review_set(ctx, tl, id, d, t), t)
            }
            Event::UserEdit(k) => {
                let (id, t) = m.user_updates[k as usize];
                update(
                    tb.user,
                    id,
                    user_update_set(ctx, edit_key(d, k as usize), t),
                    t,
                )
            }
            Event::PatientEdit(k) => {
                let (id, t) = m.patient_updates[k as usize];
                update(
                    tb.patient,
                    id,
                    patient_update_set(ctx, tl, id, edit_key(d, k as usize), t),
                    t,
                )
            }
        }
    }
}

/// Adds a day's master-data events to the schedule.
fn schedule_master(m: &MasterDay, events: &mut Vec<Scheduled>) {
    let mut add = |kind: u64, list: &[(i64, i64)], event: fn(u32) -> Event| {
        for (i, &(id, time)) in list.iter().enumerate() {
            // Edits may hit the same row twice a day: key them by position, not id.
            let key = kind << 60 | if kind >= 5 { i as u64 } else { id as u64 };
            events.push(Scheduled {
                time,
                key,
                event: event(i as u32),
            });
        }
    };
    add(2, &m.doctors, Event::NewDoctor);
    add(3, &m.users, Event::NewUser);
    add(4, &m.patients, Event::NewPatient);
    add(5, &m.doctor_changes, Event::DoctorReview);
    add(6, &m.user_updates, Event::UserEdit);
    add(7, &m.patient_updates, Event::PatientEdit);
}

impl Iterator for DayTxns<'_> {
    type Item = Txn;

    fn next(&mut self) -> Option<Txn> {
        self.next_with_plan().map(|(txn, _)| txn)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.events.len() - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for DayTxns<'_> {}
