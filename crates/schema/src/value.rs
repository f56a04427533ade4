//! One cell of a business row, independent of the database that stores it.

use chrono::{NaiveDate, NaiveDateTime};

/// How datetimes are written as text: fixed width, microseconds, so text order is time order.
pub const DATETIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

/// A value in a business row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// Any integer column (ids, codes, counts, booleans as 0/1 never: see [`Value::Bool`]).
    Int(i64),
    /// DECIMAL(19,2) as integer cents, exact.
    Money(i64),
    /// Text of any length.
    Text(String),
    /// DATETIME(6), local business time.
    DateTime(NaiveDateTime),
    /// DATE.
    Date(NaiveDate),
    /// Boolean.
    Bool(bool),
}

impl Value {
    /// The cents as a decimal string with two places, e.g. `1250` -> `"12.50"`.
    pub fn money_string(cents: i64) -> String {
        let sign = if cents < 0 { "-" } else { "" };
        let c = cents.unsigned_abs();
        format!("{sign}{}.{:02}", c / 100, c % 100)
    }
}

/// Formats a datetime the way every medlake text store keeps it.
pub fn format_datetime(t: &NaiveDateTime) -> String {
    t.format(DATETIME_FORMAT).to_string()
}

/// Parses a datetime written by [`format_datetime`], or with fewer fraction digits.
pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_string_keeps_two_places() {
        assert_eq!(Value::money_string(1250), "12.50");
        assert_eq!(Value::money_string(5), "0.05");
        assert_eq!(Value::money_string(-101), "-1.01");
    }

    #[test]
    fn datetime_text_round_trips() {
        let t = NaiveDate::from_ymd_opt(2026, 1, 2)
            .unwrap()
            .and_hms_micro_opt(3, 4, 5, 6)
            .unwrap();
        let s = format_datetime(&t);
        assert_eq!(s, "2026-01-02 03:04:05.000006");
        assert_eq!(parse_datetime(&s), Some(t));
    }
}
