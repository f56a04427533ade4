//! When each step of an imaging exam happens: the wait its priority allows, the
//! scanners' routine hours, the report's long tail, verification, the acknowledgement of a
//! critical finding, and cancellations; all cut at the simulator's limit.

use medlake_schema::codes::{PRIORITY_ROUTINE, PRIORITY_STAT, PRIORITY_URGENT};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{
    CANCELLED, CRITICAL_ACK, EXAM_STEPS, ORDERED, PAID, PERFORMED, REPORTED, SCHEDULED, VERIFIED,
};
use crate::consult::NEVER;
use crate::params::{DAY_US, HOUR_US, MINUTE_US};
use crate::rng::{log_uniform_us, pick_weighted};
use crate::setting::Setting;

/// Share of exams cancelled before they are performed.
const P_CANCEL: f64 = 0.04;
/// The step after which a cancelled exam is cancelled.
const CANCEL_AFTER: &[(usize, f64)] = &[(ORDERED, 50.0), (PAID, 30.0), (SCHEDULED, 20.0)];
/// Routine exams start between these times of day (the scanners' routine hours).
const ROUTINE_OPEN: i64 = 7 * HOUR_US + 30 * MINUTE_US;
const ROUTINE_CLOSE: i64 = 21 * HOUR_US;

/// The times of an exam's steps: paid, scheduled and performed within the wait its
/// priority allows, then reported with a long tail, verified, and, for a critical
/// finding, acknowledged; or cancelled before it is performed. A step at or after
/// `limit` never happens, nor any after it.
pub(super) fn life_cycle(
    ctx: &Setting,
    rng: &mut ChaCha8Rng,
    ordered: i64,
    priority: i64,
    exam_minutes: i64,
    critical: bool,
    limit: i64,
) -> [i64; EXAM_STEPS] {
    // Every draw happens whatever the outcome, in a fixed order.
    let wait = match priority {
        PRIORITY_STAT => log_uniform_us(rng, 300.0, 3600.0),
        PRIORITY_URGENT => log_uniform_us(rng, 0.3 * 3600.0, 4.0 * 3600.0),
        _ => log_uniform_us(rng, 0.5 * 3600.0, 30.0 * 3600.0),
    };
    let u_open = rng.random::<f64>();
    let pay_gap = log_uniform_us(rng, 30.0, 2.0 * 3600.0);
    let schedule_gap = log_uniform_us(rng, 10.0, 1800.0);
    let report_gap = report_delay(rng, priority);
    let verify_gap = log_uniform_us(rng, 300.0, 3.0 * 3600.0);
    let ack_gap = ack_delay(rng);
    let cancelled = rng.random_bool(P_CANCEL);
    let cancel_after = pick_weighted(CANCEL_AFTER, rng.random());
    let cancel_gap = log_uniform_us(rng, 600.0, 12.0 * 3600.0);

    let mut start = ordered + wait;
    if priority == PRIORITY_ROUTINE {
        start = routine_hours(ctx, start, u_open);
    }
    let paid = ordered + pay_gap.min((start - ordered) * 2 / 5).max(1);
    let scheduled = paid + schedule_gap.min((start - paid) / 2).max(1);
    let done = start + exam_minutes * MINUTE_US;
    let mut times = [NEVER; EXAM_STEPS];
    for (step, t) in [
        (ORDERED, ordered),
        (PAID, paid),
        (SCHEDULED, scheduled),
        (PERFORMED, done),
    ] {
        if cancelled && step > cancel_after {
            break;
        }
        if t >= limit {
            return times;
        }
        times[step] = t;
    }
    if cancelled {
        let t = times[cancel_after] + cancel_gap;
        if t < limit {
            times[CANCELLED] = t;
        }
        return times;
    }
    let reported = done + report_gap;
    if reported >= limit {
        return times;
    }
    times[REPORTED] = reported;
    if reported + verify_gap < limit {
        times[VERIFIED] = reported + verify_gap;
    }
    if critical && reported + ack_gap < limit {
        times[CRITICAL_ACK] = reported + ack_gap;
    }
    times
}

/// A routine exam's start moved into the routine hours: one that would start at night
/// starts the next morning, within three hours of opening.
fn routine_hours(ctx: &Setting, t: i64, u: f64) -> i64 {
    let tod = (t - ctx.world.start_us).rem_euclid(DAY_US);
    let morning = t - tod + ROUTINE_OPEN + (u * 3.0 * HOUR_US as f64) as i64;
    if tod < ROUTINE_OPEN {
        morning
    } else if tod >= ROUTINE_CLOSE {
        morning + DAY_US
    } else {
        t
    }
}

/// Time from the end of an exam to its report: mostly within the target of its priority
/// (`medlake_schema::codes::report_target_minutes`), with a tail beyond it for about 8%
/// of routine and 5% of urgent and stat exams.
fn report_delay(rng: &mut ChaCha8Rng, priority: i64) -> i64 {
    let u = rng.random::<f64>();
    let (p_late, on_time, late) = match priority {
        PRIORITY_STAT => (0.05, (300.0, 55.0 * 60.0), (3600.0, 5400.0)),
        PRIORITY_URGENT => (0.05, (600.0, 4.0 * 3600.0), (4.0 * 3600.0, 5.0 * 3600.0)),
        _ => (
            0.08,
            (1200.0, 20.0 * 3600.0),
            (24.0 * 3600.0, 40.0 * 3600.0),
        ),
    };
    let (lo, hi) = if u < p_late { late } else { on_time };
    log_uniform_us(rng, lo, hi)
}

/// Time from a critical report to the ordering doctor's acknowledgement: 2 to 180
/// minutes, about 70% within 30 and 88% within 60.
fn ack_delay(rng: &mut ChaCha8Rng) -> i64 {
    let u = rng.random::<f64>();
    let (lo, hi) = if u < 0.70 {
        (120.0, 1800.0)
    } else if u < 0.88 {
        (1800.0, 3600.0)
    } else {
        (3600.0, 10_800.0)
    };
    log_uniform_us(rng, lo, hi)
}
