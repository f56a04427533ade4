//! The row edits of each fault kind on one transaction. Every decision is
//! [`super::chosen`] of the row's id, so the edits are the same whichever run makes them.

use chrono::TimeDelta;
use medlake_schema::codes::PAID;
use medlake_schema::{Table, Value};

use super::FaultKind::{
    ClockSkew, DuplicatePayments, LateArriving, NegativeAmounts, NullAmounts, OrphanDoctors,
    UnknownStatus,
};
use super::{
    chosen, FaultKind, Faults, Source, CLOCK_SKEW_HOURS, DUPLICATE_PAYMENT_OFFSET, LATE_HOURS,
    ORPHAN_DOCTOR_OFFSET, UNKNOWN_STATUS,
};
use crate::consult::{
    fee_payment_id, prescription_payment_id, step_txn, Plan, DESCRIBED, NEVER, PRESCRIBED,
};
use crate::model::{Change, Txn};
use crate::setting::Setting;

/// Injects `faults` (those of the transaction's day) into one transaction; `plan` is the
/// consultation the transaction is a step of (`None` for master data). The transaction
/// count never changes: a duplicate charge is one more statement of the same transaction.
pub(super) fn inject(
    ctx: &Setting,
    source: Source<'_>,
    faults: &Faults,
    mut txn: Txn,
    plan: Option<&Plan>,
) -> Txn {
    let seed = ctx.world.seed();
    let changes = std::mem::take(&mut txn.changes);
    let mut out = Vec::with_capacity(changes.len() + 1);
    for mut change in changes {
        let mut duplicate = None;
        match change {
            Change::Insert { table, ref mut row } => insert_faults(seed, faults, table, row),
            Change::Update {
                table,
                id,
                ref mut set,
            } => {
                update_faults(seed, faults, table, id, set);
                let charged_twice = table.name == ctx.tables.payment.name
                    && faults.has(DuplicatePayments)
                    && is_paid(set)
                    && chosen(seed, DuplicatePayments, id, 0, faults.rate);
                if let (true, Some(plan)) = (charged_twice, plan) {
                    duplicate = duplicate_payment(ctx, source, plan, id, set);
                }
            }
        }
        out.push(change);
        out.extend(duplicate);
    }
    txn.changes = out;
    txn
}

/// Faults of an inserted row (`row` in [`Table::columns`] order, id first): amounts of
/// payments; doctor and clock of consultations.
pub(super) fn insert_faults(seed: u64, faults: &Faults, table: &Table, row: &mut [Value]) {
    let Some(&Value::Int(id)) = row.first() else {
        return;
    };
    let hits = |kind: FaultKind| faults.has(kind) && chosen(seed, kind, id, 0, faults.rate);
    match table.name {
        "payment" => {
            if let Some(i) = table.column_index("payment_amount") {
                amount_faults(&mut row[i], hits(NegativeAmounts), hits(NullAmounts));
            }
            if hits(LateArriving) {
                for column in ["create_time", "update_time"] {
                    if let Some(i) = table.column_index(column) {
                        backdate(&mut row[i]);
                    }
                }
            }
        }
        "consultation" => {
            if hits(OrphanDoctors) {
                if let Some(i) = table.column_index("doctor_id") {
                    row[i] = Value::Int(ORPHAN_DOCTOR_OFFSET + id);
                }
            }
            if hits(ClockSkew) {
                let created = table.column_index("create_time");
                let updated = table.column_index("update_time");
                if let (Some(c), Some(u)) = (created, updated) {
                    if let Value::DateTime(t) = row[u] {
                        row[c] = Value::DateTime(t + TimeDelta::hours(CLOCK_SKEW_HOURS));
                    }
                }
            }
        }
        _ => {}
    }
}

/// Faults of an update of row `id`: a payment's amount (should one ever be set) and the
/// time it is paid at; a consultation's status.
fn update_faults(
    seed: u64,
    faults: &Faults,
    table: &Table,
    id: i64,
    set: &mut [(&'static str, Value)],
) {
    let hits =
        |kind: FaultKind, salt: i64| faults.has(kind) && chosen(seed, kind, id, salt, faults.rate);
    match table.name {
        "payment" => {
            // Keyed like the insert's decision, so a NULL amount stays NULL.
            let (negate, null) = (hits(NegativeAmounts, 0), hits(NullAmounts, 0));
            // Every change of a late payment that day is dated a day back, as its insert
            // was: the whole row arrives after its day was closed.
            let late = hits(LateArriving, 0);
            for (col, v) in set.iter_mut() {
                match *col {
                    "payment_amount" => amount_faults(v, negate, null),
                    "update_time" if late => backdate(v),
                    _ => {}
                }
            }
        }
        "consultation" => {
            for (col, v) in set.iter_mut() {
                if *col != "status" {
                    continue;
                }
                // Salted with the status replaced: each status update is its own draw.
                if let Value::Int(status) = *v {
                    if hits(UnknownStatus, status) {
                        *v = Value::Int(UNKNOWN_STATUS);
                    }
                }
            }
        }
        _ => {}
    }
}

/// A time [`LATE_HOURS`] earlier.
fn backdate(v: &mut Value) {
    if let Value::DateTime(t) = *v {
        *v = Value::DateTime(t - TimeDelta::hours(LATE_HOURS));
    }
}

/// Negates and/or nulls a money value.
fn amount_faults(v: &mut Value, negate: bool, null: bool) {
    if negate {
        if let Value::Money(cents) = *v {
            *v = Value::Money(-cents);
        }
    }
    if null {
        *v = Value::Null;
    }
}

/// Whether an update sets status "paid".
fn is_paid(set: &[(&'static str, Value)]) -> bool {
    set.iter()
        .any(|(col, v)| *col == "status" && *v == Value::Int(PAID))
}

/// The second, paid row of a payment charged twice: the payment's row as it was inserted
/// (same user, consultation or prescription, amount, create_time, with the faults of the
/// day it was inserted on), then the paying update's columns (status 203, update_time),
/// under id [`DUPLICATE_PAYMENT_OFFSET`] + id, which no simulated row ever has.
fn duplicate_payment(
    ctx: &Setting,
    source: Source<'_>,
    plan: &Plan,
    id: i64,
    set: &[(&'static str, Value)],
) -> Option<Change> {
    let step = if id == fee_payment_id(plan.id) {
        DESCRIBED
    } else if id == prescription_payment_id(plan.id) {
        PRESCRIBED
    } else {
        return None;
    };
    if plan.times[step] == NEVER {
        return None;
    }
    let table = ctx.tables.payment;
    let inserted = step_txn(ctx, plan, step);
    let inserted_on = inserted.time.date();
    let mut row = inserted.changes.into_iter().find_map(|c| match c {
        Change::Insert { table: t, row }
            if t.name == table.name && row.first() == Some(&Value::Int(id)) =>
        {
            Some(row)
        }
        _ => None,
    })?;
    if let Some(faults) = source.on(inserted_on) {
        insert_faults(ctx.world.seed(), faults, table, &mut row);
    }
    for (col, v) in set {
        if let Some(i) = table.column_index(col) {
            row[i] = v.clone();
        }
    }
    row[0] = Value::Int(DUPLICATE_PAYMENT_OFFSET + id);
    Some(Change::Insert { table, row })
}
