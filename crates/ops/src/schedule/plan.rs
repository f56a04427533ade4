//! What the scheduler does next, decided from the book of days alone (no clock read, no
//! catalog call), so every rule is tested as a plain function:
//! - Days run oldest first: a day's build reads the days before it (windows, SCD2
//!   dimensions), so a later day never runs on a base that is not there.
//! - A failed day with retries left waits for its `next_try`; with none left it blocks
//!   every later day until a person reruns it.
//! - Days asked for again (`pending`) run in their turn, even before the first day of the
//!   schedule (a rerun of an old day).

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate, NaiveDateTime};
use medlake_catalog::{DayState, ScheduleDay};

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Run this day.
    Run(NaiveDate),
    /// The oldest unfinished day failed and is retried at `until`.
    Retry {
        /// The day.
        day: NaiveDate,
        /// When.
        until: NaiveDateTime,
    },
    /// The oldest unfinished day failed for good: the days after it wait for a rerun.
    Blocked {
        /// The day.
        day: NaiveDate,
        /// Days waiting behind it.
        waiting: usize,
    },
    /// Another scheduler is running the oldest unfinished day.
    Busy(NaiveDate),
    /// Every due day is done.
    Idle,
}

/// The days a run covers: from `first` to `last_due` (none when no day is due yet), plus
/// every `pending` day of the book.
pub fn next_action(
    book: &[ScheduleDay],
    first: NaiveDate,
    last_due: Option<NaiveDate>,
    now: NaiveDateTime,
    own_token: i64,
) -> Next {
    let by_day: BTreeMap<NaiveDate, &ScheduleDay> = book.iter().map(|d| (d.day, d)).collect();
    let mut days: Vec<NaiveDate> = book
        .iter()
        .filter(|d| d.state == DayState::Pending || d.state == DayState::Running)
        .map(|d| d.day)
        .collect();
    if let Some(last) = last_due {
        days.extend(first.iter_days().take_while(|d| *d <= last));
    }
    days.sort();
    days.dedup();
    for (i, day) in days.iter().enumerate() {
        let Some(entry) = by_day.get(day) else {
            return Next::Run(*day);
        };
        match entry.state {
            DayState::Succeeded => continue,
            DayState::Pending => return Next::Run(*day),
            // Running under an older token: its scheduler lost the lease; take it over.
            DayState::Running if entry.token < own_token => return Next::Run(*day),
            DayState::Running => return Next::Busy(*day),
            DayState::Failed => {
                return match entry.next_try {
                    Some(at) if at <= now => Next::Run(*day),
                    Some(at) => Next::Retry {
                        day: *day,
                        until: at,
                    },
                    None => Next::Blocked {
                        day: *day,
                        waiting: days.len() - i - 1,
                    },
                };
            }
        }
    }
    Next::Idle
}

/// The days after `day` whose builds read it through a window of `window_days` (a 7-day
/// window of day D+6 reads D), up to `newest`: rebuilding `day` makes them stale.
pub fn window_dependents(day: NaiveDate, window_days: u32, newest: NaiveDate) -> Vec<NaiveDate> {
    (1..u64::from(window_days.max(1)))
        .filter_map(|i| day.checked_add_days(Days::new(i)))
        .take_while(|d| *d <= newest)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, n).unwrap()
    }

    fn now() -> NaiveDateTime {
        d(20).and_hms_opt(12, 0, 0).unwrap()
    }

    fn entry(
        day: u32,
        state: DayState,
        token: i64,
        next_try: Option<NaiveDateTime>,
    ) -> ScheduleDay {
        ScheduleDay {
            day: d(day),
            state,
            attempts: 1,
            token,
            holder: "h".into(),
            started: None,
            finished: None,
            next_try,
            step: None,
            message: None,
        }
    }

    #[test]
    fn catches_up_the_oldest_missing_day_first() {
        let book = vec![entry(1, DayState::Succeeded, 1, None)];
        assert_eq!(
            next_action(&book, d(1), Some(d(3)), now(), 1),
            Next::Run(d(2))
        );
        assert_eq!(
            next_action(&[], d(1), Some(d(3)), now(), 1),
            Next::Run(d(1))
        );
        assert_eq!(next_action(&book, d(1), Some(d(1)), now(), 1), Next::Idle);
        assert_eq!(next_action(&book, d(1), None, now(), 1), Next::Idle);
    }

    #[test]
    fn a_failed_day_is_retried_then_blocks_the_days_after_it() {
        let later = now() + chrono::Duration::minutes(5);
        let book = vec![
            entry(1, DayState::Succeeded, 1, None),
            entry(2, DayState::Failed, 1, Some(later)),
        ];
        assert_eq!(
            next_action(&book, d(1), Some(d(4)), now(), 1),
            Next::Retry {
                day: d(2),
                until: later
            }
        );
        assert_eq!(
            next_action(&book, d(1), Some(d(4)), later, 1),
            Next::Run(d(2))
        );
        let book = vec![entry(2, DayState::Failed, 1, None)];
        assert_eq!(
            next_action(&book, d(1), Some(d(4)), now(), 1),
            Next::Run(d(1)),
            "a day before the failed one still runs"
        );
        let book = vec![
            entry(1, DayState::Succeeded, 1, None),
            entry(2, DayState::Failed, 1, None),
        ];
        assert_eq!(
            next_action(&book, d(1), Some(d(4)), now(), 1),
            Next::Blocked {
                day: d(2),
                waiting: 2
            }
        );
    }

    #[test]
    fn running_days_are_left_to_their_holder_unless_its_lease_was_lost() {
        let book = vec![entry(1, DayState::Running, 3, None)];
        assert_eq!(
            next_action(&book, d(1), Some(d(2)), now(), 3),
            Next::Busy(d(1))
        );
        assert_eq!(
            next_action(&book, d(1), Some(d(2)), now(), 4),
            Next::Run(d(1))
        );
    }

    #[test]
    fn a_rerun_of_an_old_day_runs_before_newer_days() {
        let book = vec![
            entry(1, DayState::Pending, 1, None),
            entry(5, DayState::Succeeded, 1, None),
        ];
        assert_eq!(
            next_action(&book, d(5), Some(d(6)), now(), 1),
            Next::Run(d(1))
        );
    }

    #[test]
    fn window_dependents_stop_at_the_newest_day() {
        assert_eq!(window_dependents(d(1), 3, d(10)), vec![d(2), d(3)]);
        assert_eq!(window_dependents(d(9), 7, d(10)), vec![d(10)]);
        assert!(window_dependents(d(1), 1, d(10)).is_empty());
    }
}
