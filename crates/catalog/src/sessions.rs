//! Web sessions, kept in the catalog so that a restart of `medlake serve` logs nobody out
//! and several servers on one catalog share them. The catalog holds a hash of each
//! session id (the cookie value), never the id itself: reading the catalog does not give
//! a way in.

use chrono::NaiveDateTime;

use crate::{fmt_time, parse_time, Catalog, Result};

/// A live web session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// The account logged in.
    pub account: String,
    /// The account's role name.
    pub role: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// When it ends (local time).
    pub expires: NaiveDateTime,
}

impl Catalog {
    /// Records a session whose id hashes to `id_hash`, ending at `expires`; sessions that
    /// have ended by `now` are cleared on the way.
    pub fn start_web_session(
        &self,
        id_hash: &str,
        account: &str,
        csrf: &str,
        expires: NaiveDateTime,
        now: NaiveDateTime,
    ) -> Result<()> {
        self.db.execute(
            "DELETE FROM web_session WHERE expires <= ?1",
            sql_params![fmt_time(&now)],
        )?;
        self.db.execute(
            "INSERT INTO web_session (id_hash, account, csrf, expires) VALUES (?1, ?2, ?3, ?4)",
            sql_params![id_hash, account, csrf, fmt_time(&expires)],
        )?;
        Ok(())
    }

    /// The session `id_hash` stands for, unless it is unknown, has ended by `now`, or its
    /// account is disabled.
    pub fn web_session(&self, id_hash: &str, now: NaiveDateTime) -> Result<Option<WebSession>> {
        let row = self.db.query_opt(
            "SELECT s.account, a.role, s.csrf, s.expires
             FROM web_session s JOIN account a ON a.name = s.account
             WHERE s.id_hash = ?1 AND s.expires > ?2 AND a.disabled = 0",
            sql_params![id_hash, fmt_time(&now)],
        )?;
        row.map(|r| {
            Ok(WebSession {
                account: r.text(0, "web_session.account")?,
                role: r.text(1, "account.role")?,
                csrf: r.text(2, "web_session.csrf")?,
                expires: parse_time(&r.text(3, "web_session.expires")?, "web_session.expires")?,
            })
        })
        .transpose()
    }

    /// Ends the session `id_hash` (a logout).
    pub fn end_web_session(&self, id_hash: &str) -> Result<()> {
        self.db.execute(
            "DELETE FROM web_session WHERE id_hash = ?1",
            sql_params![id_hash],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::catalogs;
    use crate::NewAccount;
    use chrono::{Duration, NaiveDate};

    #[test]
    fn a_session_lives_until_it_expires_ends_or_its_account_is_disabled() {
        let now = NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        for (backend, c) in catalogs("sessions") {
            let account = NewAccount {
                name: "wang",
                role: "viewer",
                password_hash: "h",
                scram_salt: b"s",
                scram_salted_password: b"p",
            };
            c.create_account(&account).unwrap();
            let later = now + Duration::hours(8);
            c.start_web_session("h1", "wang", "csrf1", later, now)
                .unwrap();
            let s = c.web_session("h1", now).unwrap().expect("live");
            assert_eq!((s.account.as_str(), s.role.as_str()), ("wang", "viewer"));
            assert_eq!((s.csrf.as_str(), s.expires), ("csrf1", later), "{backend}");
            assert_eq!(c.web_session("forged", now).unwrap(), None, "{backend}");
            assert_eq!(
                c.web_session("h1", later).unwrap(),
                None,
                "expired at its end"
            );

            c.end_web_session("h1").unwrap();
            assert_eq!(c.web_session("h1", now).unwrap(), None, "{backend}");

            c.start_web_session("h2", "wang", "csrf2", later, now)
                .unwrap();
            c.set_account_disabled("wang", true).unwrap();
            assert_eq!(c.web_session("h2", now).unwrap(), None, "{backend}");
        }
    }
}
