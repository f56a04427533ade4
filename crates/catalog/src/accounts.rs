//! Accounts, API tokens and the query audit, as stored rows.
//!
//! The catalog keeps what serving needs to remember; hashing passwords and tokens is the
//! serving crate's job, so only hashes and SCRAM verifiers ever reach this file.

use chrono::{Local, NaiveDateTime};

use crate::db::Row;
use crate::{fmt_time, parse_time, Catalog, CatalogError, Result};

/// An account as stored: its name, role and password verifiers (never a password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// Role name (`admin`, `analyst`, `viewer`).
    pub role: String,
    /// Argon2id hash in PHC string form, checked at the web login.
    pub password_hash: String,
    /// Salt of the SCRAM-SHA-256 verifier, for the PostgreSQL protocol.
    pub scram_salt: Vec<u8>,
    /// SCRAM `SaltedPassword` (PBKDF2-SHA-256 of the password with `scram_salt`).
    pub scram_salted_password: Vec<u8>,
    /// When the account was made.
    pub created: NaiveDateTime,
    /// A disabled account cannot log in; its history stays.
    pub disabled: bool,
}

/// What it takes to make or re-key an account.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    /// Login name.
    pub name: &'a str,
    /// Role name.
    pub role: &'a str,
    /// Argon2id PHC string.
    pub password_hash: &'a str,
    /// SCRAM salt.
    pub scram_salt: &'a [u8],
    /// SCRAM salted password.
    pub scram_salted_password: &'a [u8],
}

/// What a statement did, as the audit records it: rows returned and time taken, each
/// unknown (`None`) when the statement did not get that far (refused, failed to plan).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditFigures {
    /// Rows returned to the client.
    pub rows: Option<u64>,
    /// Milliseconds from arrival to the last row (or the error).
    pub millis: Option<u64>,
}

/// One audited statement: who ran what, over which channel, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Record id, increasing.
    pub id: i64,
    /// When the statement ended (its audit row was written).
    pub at: NaiveDateTime,
    /// Account name.
    pub account: String,
    /// `http`, `dashboard` or `pg`.
    pub channel: String,
    /// The statement as sent.
    pub statement: String,
    /// `ok`, `failed`, `refused` or `cancelled`.
    pub outcome: String,
    /// Rows returned, when it ran.
    pub rows: Option<u64>,
    /// Time taken, when it ran.
    pub millis: Option<u64>,
    /// Error message of a failed or refused statement.
    pub error: Option<String>,
}

fn account_from_row(r: &Row) -> Result<Account> {
    Ok(Account {
        name: r.text(0, "account.name")?,
        role: r.text(1, "account.role")?,
        password_hash: r.text(2, "account.password_hash")?,
        scram_salt: r.bytes(3, "account.scram_salt")?,
        scram_salted_password: r.bytes(4, "account.scram_salted_password")?,
        created: parse_time(&r.text(5, "account.created")?, "account.created")?,
        disabled: r.int(6, "account.disabled")? != 0,
    })
}

const ACCOUNT_COLUMNS: &str =
    "name, role, password_hash, scram_salt, scram_salted_password, created, disabled";

impl Catalog {
    /// Creates an account; `Ok(false)` when the name is taken.
    pub fn create_account(&self, account: &NewAccount<'_>) -> Result<bool> {
        let inserted = self.db.execute(
            "INSERT INTO account (name, role, password_hash, scram_salt, scram_salted_password,
                 created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(name) DO NOTHING",
            sql_params![
                account.name,
                account.role,
                account.password_hash,
                account.scram_salt,
                account.scram_salted_password,
                fmt_time(&Local::now().naive_local())
            ],
        )?;
        Ok(inserted == 1)
    }

    /// Replaces the password verifiers (and role) of an existing account; `Ok(false)` when
    /// there is no such account.
    pub fn update_account(&self, account: &NewAccount<'_>) -> Result<bool> {
        let updated = self.db.execute(
            "UPDATE account SET role = ?2, password_hash = ?3, scram_salt = ?4,
                 scram_salted_password = ?5, disabled = 0 WHERE name = ?1",
            sql_params![
                account.name,
                account.role,
                account.password_hash,
                account.scram_salt,
                account.scram_salted_password
            ],
        )?;
        Ok(updated == 1)
    }

    /// Disables or enables an account; `Ok(false)` when there is no such account. A
    /// disabled account's web sessions end with it.
    pub fn set_account_disabled(&self, name: &str, disabled: bool) -> Result<bool> {
        let updated = self.db.execute(
            "UPDATE account SET disabled = ?2 WHERE name = ?1",
            sql_params![name, i64::from(disabled)],
        )?;
        if disabled {
            self.db.execute(
                "DELETE FROM web_session WHERE account = ?1",
                sql_params![name],
            )?;
        }
        Ok(updated == 1)
    }

    /// The account called `name`, if any.
    pub fn account(&self, name: &str) -> Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM account WHERE name = ?1");
        let row = self.db.query_opt(&sql, sql_params![name])?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Every account, by name.
    pub fn accounts(&self) -> Result<Vec<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM account ORDER BY name");
        self.db
            .query(&sql, Vec::new())?
            .iter()
            .map(account_from_row)
            .collect()
    }

    /// Stores an API token's hash for `account`.
    pub fn add_api_token(&self, token_hash: &str, account: &str, label: &str) -> Result<()> {
        self.db.execute(
            "INSERT INTO api_token (token_hash, account, label, created) VALUES (?1, ?2, ?3, ?4)",
            sql_params![
                token_hash,
                account,
                label,
                fmt_time(&Local::now().naive_local())
            ],
        )?;
        Ok(())
    }

    /// The account an API token hash belongs to, if the token exists.
    pub fn api_token_account(&self, token_hash: &str) -> Result<Option<String>> {
        let row = self.db.query_opt(
            "SELECT account FROM api_token WHERE token_hash = ?1",
            sql_params![token_hash],
        )?;
        row.map(|r| r.text(0, "api_token.account")).transpose()
    }

    /// Records one statement in the query audit and returns its id.
    pub fn audit(
        &self,
        account: &str,
        channel: &str,
        statement: &str,
        outcome: &str,
        figures: AuditFigures,
        error: Option<&str>,
    ) -> Result<i64> {
        let as_i64 = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        let row = self.db.query_opt(
            "INSERT INTO query_audit (at, account, channel, statement, outcome, rows, millis,
                 error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
            sql_params![
                fmt_time(&Local::now().naive_local()),
                account,
                channel,
                statement,
                outcome,
                as_i64(figures.rows),
                as_i64(figures.millis),
                error
            ],
        )?;
        row.ok_or(CatalogError::Corrupt("query_audit.id"))?
            .int(0, "query_audit.id")
    }

    /// The newest audit records, newest first; only `account`'s when given.
    pub fn audit_records(&self, account: Option<&str>, limit: usize) -> Result<Vec<AuditRecord>> {
        let rows = self.db.query(
            "SELECT id, at, account, channel, statement, outcome, rows, millis, error
             FROM query_audit WHERE CAST(?1 AS TEXT) IS NULL OR account = ?1
             ORDER BY id DESC LIMIT ?2",
            sql_params![account, i64::try_from(limit).unwrap_or(i64::MAX)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(AuditRecord {
                    id: r.int(0, "query_audit.id")?,
                    at: parse_time(&r.text(1, "query_audit.at")?, "query_audit.at")?,
                    account: r.text(2, "query_audit.account")?,
                    channel: r.text(3, "query_audit.channel")?,
                    statement: r.text(4, "query_audit.statement")?,
                    outcome: r.text(5, "query_audit.outcome")?,
                    rows: r.opt_int(6, "query_audit.rows")?.map(|v| v.max(0) as u64),
                    millis: r.opt_int(7, "query_audit.millis")?.map(|v| v.max(0) as u64),
                    error: r.opt_text(8, "query_audit.error")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::catalogs;

    fn new_account<'a>(name: &'a str, hash: &'a str) -> NewAccount<'a> {
        NewAccount {
            name,
            role: "analyst",
            password_hash: hash,
            scram_salt: b"salt",
            scram_salted_password: b"salted",
        }
    }

    #[test]
    fn an_account_is_created_once_and_rekeyed_in_place() {
        for (backend, catalog) in catalogs("accounts") {
            assert!(catalog.create_account(&new_account("wang", "h1")).unwrap());
            assert!(!catalog.create_account(&new_account("wang", "h2")).unwrap());
            let wang = catalog.account("wang").unwrap().unwrap();
            assert_eq!(wang.password_hash, "h1", "{backend}");
            assert_eq!(wang.scram_salt, b"salt", "{backend}");
            assert!(catalog.update_account(&new_account("wang", "h3")).unwrap());
            assert_eq!(
                catalog.account("wang").unwrap().unwrap().password_hash,
                "h3",
                "{backend}"
            );
            assert!(!catalog.update_account(&new_account("li", "h")).unwrap());
            assert!(catalog.set_account_disabled("wang", true).unwrap());
            assert!(catalog.account("wang").unwrap().unwrap().disabled);
            assert_eq!(catalog.accounts().unwrap().len(), 1, "{backend}");
        }
    }

    fn figures(rows: Option<u64>, millis: Option<u64>) -> AuditFigures {
        AuditFigures { rows, millis }
    }

    #[test]
    fn tokens_and_audit_are_kept_per_account() {
        for (backend, catalog) in catalogs("audit") {
            catalog.create_account(&new_account("wang", "h")).unwrap();
            catalog.add_api_token("abc", "wang", "grafana").unwrap();
            assert_eq!(
                catalog.api_token_account("abc").unwrap().as_deref(),
                Some("wang"),
                "{backend}"
            );
            assert_eq!(catalog.api_token_account("abd").unwrap(), None);
            let first = catalog
                .audit(
                    "wang",
                    "pg",
                    "SELECT 1",
                    "ok",
                    figures(Some(1), Some(3)),
                    None,
                )
                .unwrap();
            let second = catalog
                .audit(
                    "li",
                    "http",
                    "SELEC",
                    "failed",
                    figures(None, None),
                    Some("parse"),
                )
                .unwrap();
            assert!(second > first, "{backend}");
            let mine = catalog.audit_records(Some("wang"), 10).unwrap();
            assert_eq!(mine.len(), 1, "{backend}");
            assert_eq!((mine[0].rows, mine[0].millis), (Some(1), Some(3)));
            let all = catalog.audit_records(None, 10).unwrap();
            assert_eq!(
                (all.len(), all[0].outcome.as_str()),
                (2, "failed"),
                "{backend}"
            );
            assert_eq!(all[0].error.as_deref(), Some("parse"), "{backend}");
        }
    }
}
