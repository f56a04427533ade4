//! The scheduler's book of business days: which day of the declared pipeline ran, is
//! running, failed or waits for a rerun, and under which lease.
//!
//! Why two schedulers sharing a catalog never run the same day at once:
//! - A day is claimed by one statement that also checks, in the same statement, that the
//!   claimant holds the `scheduler` lease with the token it names and that the lease has
//!   not expired. Only the lease's holder can claim, and the lease has one holder
//!   (lease.rs).
//! - A day already `running` is claimed again only by a newer lease token: the day of a
//!   holder that lost its lease (crashed, or paused past the expiry) is taken over by the
//!   next holder, never by the same one twice.
//! - The end of a day is written only with the token that claimed it, so a holder that lost
//!   the lease cannot overwrite what the new one recorded.
//! - A `succeeded` day is never claimed; a rerun sets it back to `pending` first.

use chrono::{Local, NaiveDate, NaiveDateTime};

use crate::db::{Row, SqlValue};
use crate::{fmt_time, parse_time, Catalog, CatalogError, Result};

/// The lease the scheduler holds.
pub const SCHEDULER_LEASE: &str = "scheduler";

/// Where a business day of the pipeline stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayState {
    /// To run (never ran, or a rerun was asked for).
    Pending,
    /// A scheduler is running it.
    Running,
    /// Every step finished.
    Succeeded,
    /// A step failed; `next_try` says when it is retried, none when the retries are spent.
    Failed,
}

impl DayState {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DayState::Pending => "pending",
            DayState::Running => "running",
            DayState::Succeeded => "succeeded",
            DayState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<DayState> {
        Ok(match s {
            "pending" => DayState::Pending,
            "running" => DayState::Running,
            "succeeded" => DayState::Succeeded,
            "failed" => DayState::Failed,
            _ => return Err(CatalogError::Corrupt("schedule_day.state")),
        })
    }
}

/// One business day in the scheduler's book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleDay {
    /// The business day.
    pub day: NaiveDate,
    /// Where it stands.
    pub state: DayState,
    /// Attempts since it was last asked for (a rerun starts again at 0).
    pub attempts: i64,
    /// The lease token of the scheduler that last claimed it.
    pub token: i64,
    /// That scheduler.
    pub holder: String,
    /// When the last attempt started.
    pub started: Option<NaiveDateTime>,
    /// When the last attempt ended.
    pub finished: Option<NaiveDateTime>,
    /// When a failed day is tried again (none: retries spent, it waits for a person).
    pub next_try: Option<NaiveDateTime>,
    /// The step running, or the one that failed.
    pub step: Option<String>,
    /// What went wrong, or who asked for a rerun.
    pub message: Option<String>,
}

const COLUMNS: &str =
    "dt, state, attempts, token, holder, started, finished, next_try, step, message";

impl Catalog {
    /// Claims `day` for the scheduler `holder` holding the scheduler lease with `token`:
    /// the day becomes `running` and its attempts grow by one. `None` when the lease is not
    /// (or no longer) `holder`'s with that token, when the day succeeded, or when it is
    /// running under a token as new as this one.
    pub fn claim_day(
        &self,
        day: NaiveDate,
        holder: &str,
        token: i64,
    ) -> Result<Option<ScheduleDay>> {
        let now = fmt_time(&Local::now().naive_local());
        let row = self.db.query_opt(
            &format!(
                "INSERT INTO schedule_day (dt, state, attempts, token, holder, started, updated)
                 SELECT ?1, 'running', 1, CAST(?3 AS BIGINT), ?2, ?4, ?4
                 WHERE EXISTS (SELECT 1 FROM lease WHERE name = ?5 AND holder = ?2
                               AND token = CAST(?3 AS BIGINT) AND expires > ?4)
                 ON CONFLICT(dt) DO UPDATE SET
                   state = 'running', attempts = schedule_day.attempts + 1,
                   token = excluded.token, holder = excluded.holder,
                   started = excluded.started, finished = NULL, next_try = NULL,
                   step = NULL, message = NULL, updated = excluded.updated
                 WHERE schedule_day.state <> 'succeeded'
                   AND (schedule_day.state <> 'running' OR schedule_day.token < excluded.token)
                 RETURNING {COLUMNS}"
            ),
            sql_params![day.to_string(), holder, token, now, SCHEDULER_LEASE],
        )?;
        row.map(|r| schedule_row(&r)).transpose()
    }

    /// Records the step a claimed day is on. False when the day is no longer this token's.
    pub fn set_day_step(&self, day: NaiveDate, token: i64, step: &str) -> Result<bool> {
        let changed = self.db.execute(
            "UPDATE schedule_day SET step = ?3, updated = ?4
             WHERE dt = ?1 AND token = ?2 AND state = 'running'",
            sql_params![
                day.to_string(),
                token,
                step,
                fmt_time(&Local::now().naive_local())
            ],
        )?;
        Ok(changed > 0)
    }

    /// Ends a claimed day: succeeded, or failed at `step` with `message` and, when it will
    /// be retried, `next_try`. False when the day is no longer this token's (another
    /// scheduler took it over): nothing is written then.
    pub fn finish_day(
        &self,
        day: NaiveDate,
        token: i64,
        failure: Option<DayFailure<'_>>,
    ) -> Result<bool> {
        let now = fmt_time(&Local::now().naive_local());
        let (state, step, message, next_try) = match failure {
            None => (
                DayState::Succeeded,
                SqlValue::Null,
                SqlValue::Null,
                SqlValue::Null,
            ),
            Some(f) => (
                DayState::Failed,
                SqlValue::from(f.step),
                SqlValue::from(f.message),
                f.next_try
                    .map_or(SqlValue::Null, |t| SqlValue::from(fmt_time(&t))),
            ),
        };
        let changed = self.db.execute(
            "UPDATE schedule_day SET state = ?3, finished = ?4, updated = ?4,
               step = COALESCE(?5, step), message = ?6, next_try = ?7
             WHERE dt = ?1 AND token = ?2 AND state = 'running'",
            vec![
                SqlValue::from(day.to_string()),
                SqlValue::from(token),
                SqlValue::from(state.as_str()),
                SqlValue::from(now),
                step,
                message,
                next_try,
            ],
        )?;
        Ok(changed > 0)
    }

    /// Asks for `days` to run again (a person's rerun, or the days whose windows read a
    /// rebuilt day): each becomes `pending` with no attempts, `why` kept as its message.
    /// A day running now is left alone. Returns the days set pending.
    pub fn request_rerun(&self, days: &[NaiveDate], why: &str) -> Result<Vec<NaiveDate>> {
        let now = fmt_time(&Local::now().naive_local());
        let mut set = Vec::new();
        for day in days {
            let changed = self.db.execute(
                "INSERT INTO schedule_day (dt, state, attempts, token, holder, message, updated)
                 VALUES (?1, 'pending', 0, 0, '', ?2, ?3)
                 ON CONFLICT(dt) DO UPDATE SET state = 'pending', attempts = 0,
                   next_try = NULL, message = excluded.message, updated = excluded.updated
                 WHERE schedule_day.state <> 'running'",
                sql_params![day.to_string(), why, now.clone()],
            )?;
            if changed > 0 {
                set.push(*day);
            }
        }
        Ok(set)
    }

    /// The book from `from` on (every day when `None`), oldest first, at most `limit` days.
    pub fn schedule_days(&self, from: Option<NaiveDate>, limit: usize) -> Result<Vec<ScheduleDay>> {
        let from = from.map_or_else(String::new, |d| d.to_string());
        let rows = self.db.query(
            &format!("SELECT {COLUMNS} FROM schedule_day WHERE dt >= ?1 ORDER BY dt LIMIT ?2"),
            sql_params![from, limit as i64],
        )?;
        rows.iter().map(schedule_row).collect()
    }

    /// One day of the book.
    pub fn schedule_day(&self, day: NaiveDate) -> Result<Option<ScheduleDay>> {
        let row = self.db.query_opt(
            &format!("SELECT {COLUMNS} FROM schedule_day WHERE dt = ?1"),
            sql_params![day.to_string()],
        )?;
        row.map(|r| schedule_row(&r)).transpose()
    }

    /// The newest day of the book that succeeded.
    pub fn newest_succeeded_day(&self) -> Result<Option<NaiveDate>> {
        let row = self.db.query_opt(
            "SELECT MAX(dt) FROM schedule_day WHERE state = 'succeeded'",
            vec![],
        )?;
        match row
            .map(|r| r.opt_text(0, "schedule_day.dt"))
            .transpose()?
            .flatten()
        {
            Some(s) => Ok(Some(parse_day(&s)?)),
            None => Ok(None),
        }
    }
}

/// How a claimed day failed.
#[derive(Debug, Clone, Copy)]
pub struct DayFailure<'a> {
    /// The step that failed (`sync`, `build`, `check`).
    pub step: &'a str,
    /// Its error, one line, without row values.
    pub message: &'a str,
    /// When it is tried again; none when the retries are spent.
    pub next_try: Option<NaiveDateTime>,
}

fn parse_day(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| CatalogError::Corrupt("schedule_day.dt"))
}

fn opt_time(r: &Row, i: usize, what: &'static str) -> Result<Option<NaiveDateTime>> {
    r.opt_text(i, what)?
        .map(|t| parse_time(&t, what))
        .transpose()
}

fn schedule_row(r: &Row) -> Result<ScheduleDay> {
    Ok(ScheduleDay {
        day: parse_day(&r.text(0, "schedule_day.dt")?)?,
        state: DayState::parse(&r.text(1, "schedule_day.state")?)?,
        attempts: r.int(2, "schedule_day.attempts")?,
        token: r.int(3, "schedule_day.token")?,
        holder: r.text(4, "schedule_day.holder")?,
        started: opt_time(r, 5, "schedule_day.started")?,
        finished: opt_time(r, 6, "schedule_day.finished")?,
        next_try: opt_time(r, 7, "schedule_day.next_try")?,
        step: r.opt_text(8, "schedule_day.step")?,
        message: r.opt_text(9, "schedule_day.message")?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::testing::catalogs;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    #[test]
    fn only_the_lease_holder_claims_and_a_day_runs_once_per_token() {
        for (backend, test) in catalogs("schedule_claim") {
            let catalog = &test.catalog;
            // No lease: no claim.
            assert!(
                catalog.claim_day(day(1), "a", 1).unwrap().is_none(),
                "{backend}"
            );
            let a = catalog
                .acquire_lease(SCHEDULER_LEASE, "a", Duration::seconds(60))
                .unwrap()
                .unwrap();
            // A claim naming another holder or token fails.
            assert!(
                catalog.claim_day(day(1), "b", a.token).unwrap().is_none(),
                "{backend}"
            );
            assert!(
                catalog
                    .claim_day(day(1), "a", a.token + 1)
                    .unwrap()
                    .is_none(),
                "{backend}"
            );
            let claimed = catalog.claim_day(day(1), "a", a.token).unwrap().unwrap();
            assert_eq!(
                (claimed.state, claimed.attempts),
                (DayState::Running, 1),
                "{backend}"
            );
            // Running under this token: not claimed again.
            assert!(
                catalog.claim_day(day(1), "a", a.token).unwrap().is_none(),
                "{backend}"
            );
            // Failed with a retry, then claimed again: attempt 2; then succeeded: never again.
            let failure = DayFailure {
                step: "build",
                message: "boom",
                next_try: None,
            };
            assert!(
                catalog.finish_day(day(1), a.token, Some(failure)).unwrap(),
                "{backend}"
            );
            let again = catalog.claim_day(day(1), "a", a.token).unwrap().unwrap();
            assert_eq!(again.attempts, 2, "{backend}");
            assert!(
                catalog.finish_day(day(1), a.token, None).unwrap(),
                "{backend}"
            );
            assert!(
                catalog.claim_day(day(1), "a", a.token).unwrap().is_none(),
                "{backend}"
            );
            assert_eq!(
                catalog.newest_succeeded_day().unwrap(),
                Some(day(1)),
                "{backend}"
            );
            // A rerun sets it pending with no attempts; it is claimed once more.
            assert_eq!(
                catalog.request_rerun(&[day(1)], "asked").unwrap(),
                vec![day(1)]
            );
            let rerun = catalog.claim_day(day(1), "a", a.token).unwrap().unwrap();
            assert_eq!(rerun.attempts, 1, "{backend}");
        }
    }

    #[test]
    fn a_new_holder_takes_over_a_running_day_and_the_old_holder_cannot_end_it() {
        for (backend, test) in catalogs("schedule_takeover") {
            let catalog = &test.catalog;
            let a = catalog
                .acquire_lease(SCHEDULER_LEASE, "a", Duration::seconds(-1))
                .unwrap()
                .unwrap();
            // `a`'s lease has already expired: its claim fails.
            assert!(
                catalog.claim_day(day(2), "a", a.token).unwrap().is_none(),
                "{backend}"
            );
            let a = catalog
                .acquire_lease(SCHEDULER_LEASE, "a", Duration::seconds(60))
                .unwrap()
                .unwrap();
            catalog.claim_day(day(2), "a", a.token).unwrap().unwrap();
            catalog.release_lease(SCHEDULER_LEASE, "a").unwrap();
            let b = catalog
                .acquire_lease(SCHEDULER_LEASE, "b", Duration::seconds(60))
                .unwrap()
                .unwrap();
            assert!(b.token > a.token, "{backend}");
            let taken = catalog.claim_day(day(2), "b", b.token).unwrap().unwrap();
            assert_eq!(
                (taken.holder.as_str(), taken.attempts),
                ("b", 2),
                "{backend}"
            );
            // The old holder's end is not written.
            assert!(
                !catalog.finish_day(day(2), a.token, None).unwrap(),
                "{backend}"
            );
            assert!(
                !catalog.set_day_step(day(2), a.token, "build").unwrap(),
                "{backend}"
            );
            assert!(
                catalog.set_day_step(day(2), b.token, "build").unwrap(),
                "{backend}"
            );
            let book = catalog.schedule_days(None, 10).unwrap();
            assert_eq!(book.len(), 1, "{backend}");
            assert_eq!(book[0].step.as_deref(), Some("build"), "{backend}");
            assert_eq!(book[0].state, DayState::Running, "{backend}");
            // A running day is not set back by a rerun.
            assert!(
                catalog
                    .request_rerun(&[day(2)], "asked")
                    .unwrap()
                    .is_empty(),
                "{backend}"
            );
        }
    }
}
