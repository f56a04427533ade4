//! The business transactions of an imaging exam's steps: the `exam_order` insert, its
//! status updates (each with the step's time column), and the `exam_report` insert and
//! updates. Every update sets absolute values, so replaying one changes nothing.

use medlake_schema::codes::{
    EXAM_CANCELLED, EXAM_ORDERED, EXAM_PAID, EXAM_PERFORMED, EXAM_REPORTED, EXAM_SCHEDULED,
    EXAM_VERIFIED,
};
use medlake_schema::imaging::{accession_no, exam_item};
use medlake_schema::{Table, Value};

use super::{
    findings, ExamPlan, CANCELLED, EXAM_STEPS, ORDERED, PAID, PERFORMED, REPORTED, SCHEDULED,
    VERIFIED,
};
use crate::consult::{Plan, STEPS};
use crate::model::{Change, Txn};
use crate::params::from_us;
use crate::rng::{stream, Purpose};
use crate::setting::Setting;

/// The transaction of plan step `step` of `plan`, an exam's step (`step >= STEPS`, see
/// [`super::ALL_STEPS`]).
pub(crate) fn exam_step_txn(ctx: &Setting, plan: &Plan, step: usize) -> Txn {
    let s = step - STEPS;
    let exam = &plan.exams[s / EXAM_STEPS];
    let step = s % EXAM_STEPS;
    let time = from_us(exam.times[step]);
    let now = Value::DateTime(time);
    let tb = &ctx.tables;
    let order = |status: i64, mut set: Vec<(&'static str, Value)>| {
        set.push(("status", Value::Int(status)));
        set.push(("update_time", now.clone()));
        Change::Update {
            table: tb.exam_order,
            id: exam.id,
            set,
        }
    };
    let report = |column: &'static str| Change::Update {
        table: tb.exam_report,
        id: exam.id,
        set: vec![(column, now.clone()), ("update_time", now.clone())],
    };
    let changes = match step {
        ORDERED => vec![Change::Insert {
            table: tb.exam_order,
            row: order_row(ctx, plan, exam, &now),
        }],
        PAID => vec![order(EXAM_PAID, vec![("paid_time", now.clone())])],
        SCHEDULED => vec![order(
            EXAM_SCHEDULED,
            vec![
                ("scheduled_time", now.clone()),
                ("scanner_id", Value::Int(exam.scanner_id)),
            ],
        )],
        PERFORMED => vec![order(
            EXAM_PERFORMED,
            vec![
                (
                    "performed_time",
                    Value::DateTime(from_us(exam.performed_time())),
                ),
                ("exam_minutes", Value::Int(exam.exam_minutes)),
            ],
        )],
        REPORTED => vec![
            order(EXAM_REPORTED, vec![("reported_time", now.clone())]),
            Change::Insert {
                table: tb.exam_report,
                row: report_row(ctx, exam, &now),
            },
        ],
        VERIFIED => vec![
            order(EXAM_VERIFIED, vec![("verified_time", now.clone())]),
            report("verified_time"),
        ],
        CANCELLED => vec![order(EXAM_CANCELLED, vec![("cancelled_time", now.clone())])],
        _ => vec![report("critical_ack_time")],
    };
    Txn { time, changes }
}

/// A row of `table` in column order from named cells; a column not named is NULL.
fn named_row(table: &Table, cells: Vec<(&'static str, Value)>) -> Vec<Value> {
    let mut row = vec![Value::Null; table.columns.len()];
    for (name, value) in cells {
        let index = table.column_index(name);
        debug_assert!(index.is_some(), "{}.{name} is not a column", table.name);
        if let Some(i) = index {
            row[i] = value;
        }
    }
    row
}

/// The new `exam_order` row: ordered, nothing else happened yet.
fn order_row(ctx: &Setting, plan: &Plan, exam: &ExamPlan, now: &Value) -> Vec<Value> {
    let text = |s: &str| Value::Text(s.to_string());
    named_row(
        ctx.tables.exam_order,
        vec![
            ("id", Value::Int(exam.id)),
            ("consultation_id", Value::Int(plan.id)),
            ("patient_id", Value::Int(plan.patient)),
            ("doctor_id", Value::Int(plan.doctor)),
            ("hospital_id", Value::Int(ctx.hospitals[exam.hospital].id)),
            ("modality", text(exam.modality)),
            ("body_part", text(exam.body_part)),
            (
                "exam_item",
                Value::Text(exam_item(exam.modality, exam.body_part, exam.contrast)),
            ),
            ("priority", Value::Int(exam.priority)),
            ("fee", Value::Money(exam.fee_cents)),
            ("accession_no", Value::Text(accession_no(exam.id))),
            ("status", Value::Int(EXAM_ORDERED)),
            ("ordered_time", now.clone()),
            ("create_time", now.clone()),
            ("update_time", now.clone()),
        ],
    )
}

/// The new `exam_report` row of a reported exam: not verified or acknowledged yet.
fn report_row(ctx: &Setting, exam: &ExamPlan, now: &Value) -> Vec<Value> {
    let mut rng = stream(ctx.world.seed(), Purpose::ExamReport, exam.id as u64);
    named_row(
        ctx.tables.exam_report,
        vec![
            ("id", Value::Int(exam.id)),
            ("exam_order_id", Value::Int(exam.id)),
            ("radiologist_id", Value::Int(exam.radiologist)),
            ("positive", Value::Bool(exam.positive)),
            ("critical", Value::Bool(exam.critical)),
            ("reported_time", now.clone()),
            ("findings", Value::Text(findings::findings(&mut rng, exam))),
            ("create_time", now.clone()),
            ("update_time", now.clone()),
        ],
    )
}
