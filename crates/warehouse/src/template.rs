//! `{{ name }}` and `{{ name - N }}` placeholders in model SQL.
//!
//! A model is written for one business day: `'{{ dt }}'` is that day, `'{{ dt - 6 }}'` six
//! days before it (dates step by days). Nothing else is templated: the SQL stays SQL that a
//! reader can run by hand after replacing the dates.
//!
//! `'{{ since }}'` (keyed models only: scd2 and accumulate) is the first day the model's
//! previous partition has not merged, the day after it, or `1900-01-01` on the model's
//! first build: a to-date model reads its inputs' partitions from `since` to `dt`, which is
//! one day on every build but the first.
//!
//! `'{{ late_until }}'` is the last day whose partitions may still hold a change of day
//! `dt` ([`LATE_CAPTURE_DAYS`] after it): a row first captured after its event day lands
//! in a later partition, and a model looking for it reads up to that day, not the rest of
//! history, so rebuilding an old day costs what building it did.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};

/// How many days after its event day a change may first be captured (a capture outage,
/// or a query-based sync that runs late and sees a row only in a later state).
pub const LATE_CAPTURE_DAYS: u64 = 7;

/// The values a template can name.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    dates: BTreeMap<&'static str, NaiveDate>,
}

impl Vars {
    /// Variables for building day `dt`: `dt` and `late_until`.
    pub fn for_day(dt: NaiveDate) -> Vars {
        let mut v = Vars::default();
        v.dates.insert("dt", dt);
        let late_until = dt
            .checked_add_days(Days::new(LATE_CAPTURE_DAYS))
            .unwrap_or(NaiveDate::MAX);
        v.dates.insert("late_until", late_until);
        v
    }

    /// Adds (or replaces) a date variable.
    pub fn with(mut self, name: &'static str, value: NaiveDate) -> Vars {
        self.dates.insert(name, value);
        self
    }
}

/// Replaces every placeholder of `sql`; the error names the placeholder that cannot be filled.
pub fn render(sql: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a '{{' has no closing '}}'".to_string())?;
        out.push_str(&eval(after[..end].trim(), vars)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn eval(expr: &str, vars: &Vars) -> Result<String, String> {
    let (name, offset) = match expr.find(['+', '-']) {
        Some(i) => {
            let n: u64 = expr[i + 1..]
                .trim()
                .parse()
                .map_err(|_| format!("{{{{ {expr} }}}}: expected a whole number of days"))?;
            let signed = if expr.as_bytes()[i] == b'-' {
                -(n as i64)
            } else {
                n as i64
            };
            (expr[..i].trim(), signed)
        }
        None => (expr, 0),
    };
    let date = vars
        .dates
        .get(name)
        .ok_or_else(|| format!("{{{{ {expr} }}}}: unknown variable {name:?}"))?;
    let moved = if offset >= 0 {
        date.checked_add_days(Days::new(offset as u64))
    } else {
        date.checked_sub_days(Days::new(offset.unsigned_abs()))
    };
    moved
        .map(|d| d.to_string())
        .ok_or_else(|| format!("{{{{ {expr} }}}}: date out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn dates_step_by_days_across_months() {
        let vars = Vars::for_day(day("2026-03-01"));
        assert_eq!(
            render(
                "dt BETWEEN '{{ dt - 1 }}' AND '{{dt}}' OR '{{ dt + 30 }}'",
                &vars
            )
            .unwrap(),
            "dt BETWEEN '2026-02-28' AND '2026-03-01' OR '2026-03-31'"
        );
        assert_eq!(render("'{{ late_until }}'", &vars).unwrap(), "'2026-03-08'");
    }

    #[test]
    fn unknown_names_and_bad_offsets_are_errors() {
        let vars = Vars::for_day(day("2026-03-01"));
        assert!(render("{{ today }}", &vars)
            .unwrap_err()
            .contains("unknown"));
        assert!(render("{{ dt - x }}", &vars)
            .unwrap_err()
            .contains("whole number"));
        assert!(render("{{ dt", &vars).unwrap_err().contains("closing"));
    }
}
