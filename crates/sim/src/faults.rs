//! Deterministic fault injection: bad data on purpose, so that the pipeline's checks
//! (reconciliation, data-quality tests, late-data handling) can be shown to catch what a
//! real business database shows now and then.
//!
//! `medlake simulate --faults null_amounts,volume_drop --fault-rate 0.05` writes days
//! whose rows carry NULL or negative amounts, double charges, undocumented status codes,
//! doctor ids pointing nowhere, a sudden drop of volume, skewed clocks, or changes that
//! arrive after their day was closed (see [`FaultKind`]).
//!
//! Determinism: whether a fault hits a row is a hash of (seed, kind, row id and, for a row
//! changed several times, the value it replaces) compared with the rate; never a count of
//! rows already written, nor the clock. So the same parameters and faults always give the
//! same database. Every kind keeps the day's number of transactions (a duplicate charge is
//! one more statement of the paying transaction), except `volume_drop`, which removes whole
//! consultations before the day's transactions are counted. A run resumed inside a day
//! skips the transactions already committed; it regenerates exactly the same list, so it
//! skips exactly those.
//!
//! Which faults each day gets is recorded in the business database ([`crate::FAULTS_TABLE`])
//! before the day is written (see [`crate::simulate`]): a day once started keeps
//! its faults whatever a resumed run asks for, and the later steps of the consultations
//! `volume_drop` removed stay removed on the following days, also in a later call without
//! faults, so no payment or update ever points at a consultation that was never written.

mod inject;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

use crate::error::{Result, SimError};
use crate::model::Txn;
use crate::params::SimParams;
use crate::rng::{unit, Purpose};
use crate::setting::Setting;
use crate::sim::{DayTxns, Simulator};
use crate::writer::{FaultRow, FAULTS_TABLE};

/// Status code `unknown_status` writes: in no row of table `dict`.
pub const UNKNOWN_STATUS: i64 = 999;
/// Added to a consultation id to make the doctor id of `orphan_doctors`: above any doctor id.
pub const ORPHAN_DOCTOR_OFFSET: i64 = 8_000_000_000;
/// Added to a payment id to make its duplicate's id: above any id the simulator gives.
pub const DUPLICATE_PAYMENT_OFFSET: i64 = 9_000_000_000_000;
/// Share of a fault day's consultations `volume_drop` removes, whatever the rate.
pub const VOLUME_DROP_SHARE: f64 = 0.6;
/// How far ahead the application server clock of `clock_skew` runs, in hours: a day, so the
/// skewed `create_time` stays after every update of the consultation on its day (a capture
/// by query sees only the day's last version of a row).
const CLOCK_SKEW_HOURS: i64 = 24;
/// How far in the past `late_arriving` dates a change, in hours.
const LATE_HOURS: i64 = 24;

/// One kind of fault a simulated day can carry; each imitates a known failure of a real
/// business system, so a check downstream can be shown to notice it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// Payment rows inserted with `payment_amount` NULL.
    NullAmounts,
    /// A payment reaching "paid" is charged twice: a second paid row with a fresh id.
    DuplicatePayments,
    /// Consultation status updates to a code the dictionary does not know.
    UnknownStatus,
    /// Consultations of a doctor that exists in no `doctor` row.
    OrphanDoctors,
    /// Payment rows inserted with the amount negated.
    NegativeAmounts,
    /// 60% of the consultations created on the day never happen (a broken app release).
    VolumeDrop,
    /// Consultations created with a `create_time` 3 hours after their `update_time`.
    ClockSkew,
    /// Payments reaching "paid" with an `update_time` 24 hours in the past.
    LateArriving,
}

use FaultKind::*;

impl FaultKind {
    /// Every kind, in the order help texts list them.
    pub const ALL: [FaultKind; 8] = [
        NullAmounts,
        DuplicatePayments,
        UnknownStatus,
        OrphanDoctors,
        NegativeAmounts,
        VolumeDrop,
        ClockSkew,
        LateArriving,
    ];

    /// The name on the command line and in the fault log.
    pub fn name(self) -> &'static str {
        match self {
            NullAmounts => "null_amounts",
            DuplicatePayments => "duplicate_payments",
            UnknownStatus => "unknown_status",
            OrphanDoctors => "orphan_doctors",
            NegativeAmounts => "negative_amounts",
            VolumeDrop => "volume_drop",
            ClockSkew => "clock_skew",
            LateArriving => "late_arriving",
        }
    }

    /// What the fault does to a day, in one line (for `--help`).
    pub fn description(self) -> &'static str {
        match self {
            NullAmounts => "payments inserted with payment_amount NULL",
            DuplicatePayments => {
                "payments reaching paid (203) are inserted a second time with a fresh id (a double charge)"
            }
            UnknownStatus => "consultation status updates carry code 999, which is not in dict",
            OrphanDoctors => "consultations inserted with a doctor_id no doctor row has",
            NegativeAmounts => "payments inserted with the amount negated",
            VolumeDrop => {
                "60% of the consultations created on the day never happen, with all their later steps (ignores the rate)"
            }
            ClockSkew => "consultations inserted with create_time a day after update_time (a server clock ahead)",
            LateArriving => {
                "payments committed with create_time and update_time 24 hours earlier: they arrive after their day was closed"
            }
        }
    }

    /// The kinds' names, comma-separated (for help texts and errors).
    pub fn names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }

    /// One line per kind, `name: description` (for `--help`).
    pub fn help() -> String {
        Self::ALL
            .iter()
            .map(|k| format!("{}: {}", k.name(), k.description()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Hash input of the kind: part of every fault decision, so never renumber.
    fn code(self) -> u64 {
        match self {
            NullAmounts => 1,
            DuplicatePayments => 2,
            UnknownStatus => 3,
            OrphanDoctors => 4,
            NegativeAmounts => 5,
            VolumeDrop => 6,
            ClockSkew => 7,
            LateArriving => 8,
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FaultKind {
    type Err = SimError;

    /// A kind by name; `-` may stand for `_` (`null-amounts`).
    fn from_str(s: &str) -> Result<FaultKind> {
        let wanted = s.trim().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|k| k.name() == wanted)
            .ok_or_else(|| {
                SimError::InvalidFaults(format!(
                    "unknown fault kind '{}' (known: {})",
                    s.trim(),
                    Self::names()
                ))
            })
    }
}

/// Which faults to inject, how often, and on which days: the `--faults`, `--fault-rate`
/// and `--fault-days` options of `medlake simulate`, given to
/// [`crate::simulate`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// The kinds, sorted and without repeats (empty: no faults).
    pub kinds: Vec<FaultKind>,
    /// Share of the eligible rows each kind hits, in (0, 1]; `volume_drop` ignores it.
    pub rate: f64,
    /// The business dates that get the faults; empty means every day, i.e. for
    /// [`crate::simulate`] every day that call writes.
    pub days: Vec<NaiveDate>,
}

impl Faults {
    /// No faults: the clean simulation.
    pub fn none() -> Faults {
        Faults::default()
    }

    /// Faults from a comma-separated list of kind names, a rate in (0, 1] and the days
    /// (empty: every day); fails with a one-line message on an unknown kind or bad rate.
    pub fn parse(list: &str, rate: f64, days: Vec<NaiveDate>) -> Result<Faults> {
        let mut kinds = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(FaultKind::from_str)
            .collect::<Result<Vec<FaultKind>>>()?;
        if kinds.is_empty() {
            return Err(SimError::InvalidFaults(format!(
                "no fault kind given (known: {})",
                FaultKind::names()
            )));
        }
        if !(rate > 0.0 && rate <= 1.0) {
            return Err(SimError::InvalidFaults(format!(
                "fault rate must be in (0, 1], got {rate}"
            )));
        }
        kinds.sort_unstable();
        kinds.dedup();
        let mut days = days;
        days.sort_unstable();
        days.dedup();
        Ok(Faults { kinds, rate, days })
    }

    /// Whether there is nothing to inject.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Whether `kind` is among the kinds.
    pub fn has(&self, kind: FaultKind) -> bool {
        self.kinds.contains(&kind)
    }

    /// Whether the day `date` gets the faults.
    pub fn applies_to(&self, date: NaiveDate) -> bool {
        !self.is_empty() && (self.days.is_empty() || self.days.contains(&date))
    }

    /// The kinds' names, comma-separated without spaces (as `--faults` takes them).
    pub fn kind_names(&self) -> String {
        self.kinds
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Fails when the business schema cannot hold a fault's rows: `null_amounts` needs
    /// `payment.payment_amount` to be nullable. Checked before anything is written, so a
    /// day never stops half-way on a constraint error.
    pub fn check_schema(&self) -> Result<()> {
        if !self.has(NullAmounts) {
            return Ok(());
        }
        let nullable = medlake_schema::table("payment")
            .and_then(|t| t.columns.iter().find(|c| c.name == "payment_amount"))
            .is_some_and(|c| c.nullable);
        if nullable {
            Ok(())
        } else {
            Err(SimError::InvalidFaults(
                "null_amounts needs a nullable payment.payment_amount, but the business schema declares it NOT NULL"
                    .into(),
            ))
        }
    }

    /// Day `day` (0 = start date) of `sim` with these faults: the pure, database-free
    /// form of what [`crate::simulate`] writes, for tests and tools. Days
    /// before the start date (the warm-up the initial population holds) never count as
    /// fault days, as in a simulation.
    pub fn apply<'a>(&'a self, sim: &'a Simulator, day: u32) -> FaultyDay<'a> {
        FaultyDay::new(sim, day, Source::One(self, sim.params().start))
    }
}

impl fmt::Display for Faults {
    /// E.g. `null_amounts,volume_drop at rate 0.05 on every day`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no faults");
        }
        write!(f, "{} at rate {}", self.kind_names(), self.rate)?;
        if self.days.is_empty() {
            f.write_str(" on every day")
        } else {
            let days: Vec<String> = self.days.iter().map(NaiveDate::to_string).collect();
            write!(f, " on {}", days.join(","))
        }
    }
}

/// The faults of each day of one business database, as recorded in
/// [`crate::FAULTS_TABLE`]: what a run applies to a day (and, for `volume_drop`, to the
/// following days), and what tools read to know which days carry injected faults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSchedule {
    /// Per business date, faults whose `days` is that one date.
    days: BTreeMap<NaiveDate, Faults>,
}

impl FaultSchedule {
    /// The faults of one business date, if any.
    pub fn get(&self, date: NaiveDate) -> Option<&Faults> {
        self.days.get(&date)
    }

    /// The days with faults, in date order.
    pub fn iter(&self) -> impl Iterator<Item = (NaiveDate, &Faults)> + '_ {
        self.days.iter().map(|(d, f)| (*d, f))
    }

    /// Whether no day has faults.
    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }

    /// Day `day` (0 = start date) of `sim` with the faults this schedule gives it.
    pub fn day_txns<'a>(&'a self, sim: &'a Simulator, day: u32) -> FaultyDay<'a> {
        FaultyDay::new(sim, day, Source::Schedule(self))
    }

    /// The schedule of stored fault-log rows.
    pub(crate) fn from_rows(rows: Vec<FaultRow>) -> Result<FaultSchedule> {
        let mut days = BTreeMap::new();
        for r in rows {
            let bad = || {
                SimError::CorruptState(format!("unreadable faults of {} in {FAULTS_TABLE}", r.date))
            };
            let rate: f64 = r.rate.parse().map_err(|_| bad())?;
            let faults = Faults::parse(&r.kinds, rate, vec![r.date]).map_err(|_| bad())?;
            days.insert(r.date, faults);
        }
        Ok(FaultSchedule { days })
    }

    /// This (stored) schedule for days before `from`, then `faults` on those of days
    /// `from..last` it applies to: what a call writing days `from..last` records.
    pub(crate) fn resolve(
        mut self,
        params: &SimParams,
        from: u32,
        last: u32,
        faults: &Faults,
    ) -> FaultSchedule {
        let first = params.date(from);
        self.days.retain(|date, _| *date < first);
        for day in from..last {
            let date = params.date(day);
            if faults.applies_to(date) {
                let on_day = Faults {
                    kinds: faults.kinds.clone(),
                    rate: faults.rate,
                    days: vec![date],
                };
                self.days.insert(date, on_day);
            }
        }
        self
    }

    /// The fault-log rows of days `from` and later.
    pub(crate) fn rows_from(&self, params: &SimParams, from: u32) -> Vec<FaultRow> {
        self.days
            .range(params.date(from)..)
            .map(|(date, f)| FaultRow {
                day: date.signed_duration_since(params.start).num_days() as u32,
                date: *date,
                kinds: f.kind_names(),
                rate: f.rate.to_string(),
            })
            .collect()
    }
}

/// Where the faults of a day come from.
#[derive(Debug, Clone, Copy)]
enum Source<'a> {
    /// One set of faults, applying to its days from the start date (the second field) on.
    One(&'a Faults, NaiveDate),
    /// A recorded schedule.
    Schedule(&'a FaultSchedule),
}

impl<'a> Source<'a> {
    /// The faults of business date `date`, if it has any.
    fn on(self, date: NaiveDate) -> Option<&'a Faults> {
        match self {
            Source::One(f, start) => (date >= start && f.applies_to(date)).then_some(f),
            Source::Schedule(s) => s.get(date).filter(|f| !f.is_empty()),
        }
    }
}

/// One day's transactions with its faults injected, in commit order, built lazily like
/// [`crate::DayTxns`]; its `len()` is exact from the start (after `volume_drop`), for
/// progress and for resuming inside the day.
pub struct FaultyDay<'a> {
    txns: DayTxns<'a>,
    ctx: &'a Setting,
    source: Source<'a>,
    /// The faults of this day's own date (`volume_drop` also looks at earlier days).
    today: Option<&'a Faults>,
}

impl<'a> FaultyDay<'a> {
    fn new(sim: &'a Simulator, day: u32, source: Source<'a>) -> FaultyDay<'a> {
        let mut txns = sim.day_txns(day);
        let ctx = txns.setting();
        let seed = sim.params().seed;
        // A consultation created on a volume_drop day is gone on every day it has steps.
        txns.drop_consultations(|id, created| {
            source.on(created).is_some_and(|f| f.has(VolumeDrop))
                && chosen(seed, VolumeDrop, id, 0, VOLUME_DROP_SHARE)
        });
        FaultyDay {
            txns,
            ctx,
            source,
            today: source.on(sim.params().date(day)),
        }
    }
}

impl Iterator for FaultyDay<'_> {
    type Item = Txn;

    fn next(&mut self) -> Option<Txn> {
        let (txn, plan) = self.txns.next_with_plan()?;
        Some(match self.today {
            Some(faults) => inject::inject(self.ctx, self.source, faults, txn, plan),
            None => txn,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.txns.size_hint()
    }
}

impl ExactSizeIterator for FaultyDay<'_> {}

/// Whether fault `kind` hits row `id` (`salt` tells apart several changes of one row): a
/// pure function of (seed, kind, id, salt), so repeated and resumed runs agree.
fn chosen(seed: u64, kind: FaultKind, id: i64, salt: i64, rate: f64) -> bool {
    unit(
        seed,
        Purpose::Fault,
        (kind.code() << 32) ^ salt as u64,
        id as u64,
    ) < rate
}
