//! The login audit: every password login attempt on either front, let in or refused, with
//! the client's address and the reason of a refusal (never the password). Kept apart from
//! the statement audit (`query_audit`), whose rows are statements.

use chrono::{Local, NaiveDateTime};

use crate::{fmt_time, parse_time, Catalog, Result};

/// One attempt to record.
#[derive(Debug, Clone, Copy)]
pub struct LoginEvent<'a> {
    /// The name typed.
    pub account: &'a str,
    /// `http` or `pg`.
    pub channel: &'a str,
    /// The client's address.
    pub address: &'a str,
    /// `ok` or `refused`.
    pub outcome: &'a str,
    /// Why it was refused.
    pub reason: Option<&'a str>,
}

/// One recorded attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRecord {
    /// Increasing id.
    pub id: i64,
    /// When.
    pub at: NaiveDateTime,
    /// The name typed.
    pub account: String,
    /// `http` or `pg`.
    pub channel: String,
    /// The client's address.
    pub address: String,
    /// `ok` or `refused`.
    pub outcome: String,
    /// Why it was refused.
    pub reason: Option<String>,
}

impl Catalog {
    /// Records a login attempt.
    pub fn audit_login(&self, event: &LoginEvent<'_>) -> Result<()> {
        self.db.execute(
            "INSERT INTO login_audit (at, account, channel, address, outcome, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            sql_params![
                fmt_time(&Local::now().naive_local()),
                event.account,
                event.channel,
                event.address,
                event.outcome,
                event.reason
            ],
        )?;
        Ok(())
    }

    /// The latest `limit` attempts, newest first, of one name or of all.
    pub fn login_records(&self, account: Option<&str>, limit: usize) -> Result<Vec<LoginRecord>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match account {
            Some(name) => self.db.query(
                "SELECT id, at, account, channel, address, outcome, reason FROM login_audit
                 WHERE account = ?1 ORDER BY id DESC LIMIT ?2",
                sql_params![name, limit],
            )?,
            None => self.db.query(
                "SELECT id, at, account, channel, address, outcome, reason FROM login_audit
                 ORDER BY id DESC LIMIT ?1",
                sql_params![limit],
            )?,
        };
        rows.iter()
            .map(|r| {
                Ok(LoginRecord {
                    id: r.int(0, "login_audit.id")?,
                    at: parse_time(&r.text(1, "login_audit.at")?, "login_audit.at")?,
                    account: r.text(2, "login_audit.account")?,
                    channel: r.text(3, "login_audit.channel")?,
                    address: r.text(4, "login_audit.address")?,
                    outcome: r.text(5, "login_audit.outcome")?,
                    reason: r.opt_text(6, "login_audit.reason")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::catalogs;

    #[test]
    fn attempts_are_recorded_newest_first() {
        for (backend, catalog) in catalogs("login_audit") {
            let event = |account, outcome, reason| LoginEvent {
                account,
                channel: "pg",
                address: "10.0.0.1",
                outcome,
                reason,
            };
            catalog
                .audit_login(&event("wang", "refused", Some("wrong password")))
                .unwrap();
            catalog.audit_login(&event("wang", "ok", None)).unwrap();
            catalog.audit_login(&event("li", "ok", None)).unwrap();
            let wang = catalog.login_records(Some("wang"), 10).unwrap();
            assert_eq!(wang.len(), 2, "{backend}");
            assert_eq!(wang[0].outcome, "ok", "{backend}");
            assert_eq!(wang[1].reason.as_deref(), Some("wrong password"));
            assert_eq!(catalog.login_records(None, 1).unwrap()[0].account, "li");
        }
    }
}
