//! Accounts, API tokens and the query audit, as stored rows.
//!
//! The catalog keeps what serving needs to remember; hashing passwords and tokens is the
//! serving crate's job, so only hashes and SCRAM verifiers ever reach this file.

use chrono::{Local, NaiveDateTime};
use rusqlite::{params, OptionalExtension, Row};

use crate::{fmt_time, parse_time, Catalog, Result};

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

/// One audited statement: who ran what, over which channel, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Record id, increasing.
    pub id: i64,
    /// When the statement arrived.
    pub at: NaiveDateTime,
    /// Account name.
    pub account: String,
    /// `http`, `pg`, `cli`.
    pub channel: String,
    /// The statement as sent.
    pub statement: String,
    /// `ok`, `failed`, `refused`.
    pub outcome: String,
    /// Rows returned, when it ran.
    pub rows: Option<u64>,
    /// Time taken, when it ran.
    pub millis: Option<u64>,
    /// Error message of a failed or refused statement.
    pub error: Option<String>,
}

fn account_from_row(r: &Row<'_>) -> rusqlite::Result<(Account, String)> {
    Ok((
        Account {
            name: r.get(0)?,
            role: r.get(1)?,
            password_hash: r.get(2)?,
            scram_salt: r.get(3)?,
            scram_salted_password: r.get(4)?,
            created: NaiveDateTime::default(),
            disabled: r.get::<_, i64>(6)? != 0,
        },
        r.get::<_, String>(5)?,
    ))
}

const ACCOUNT_COLUMNS: &str =
    "name, role, password_hash, scram_salt, scram_salted_password, created, disabled";

impl Catalog {
    /// Creates an account; `Ok(false)` when the name is taken.
    pub fn create_account(&self, account: &NewAccount<'_>) -> Result<bool> {
        let inserted = self.conn().execute(
            "INSERT INTO account (name, role, password_hash, scram_salt, scram_salted_password, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(name) DO NOTHING",
            params![
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
        let updated = self.conn().execute(
            "UPDATE account SET role = ?2, password_hash = ?3, scram_salt = ?4,
                 scram_salted_password = ?5, disabled = 0 WHERE name = ?1",
            params![
                account.name,
                account.role,
                account.password_hash,
                account.scram_salt,
                account.scram_salted_password
            ],
        )?;
        Ok(updated == 1)
    }

    /// Disables or enables an account; `Ok(false)` when there is no such account.
    pub fn set_account_disabled(&self, name: &str, disabled: bool) -> Result<bool> {
        let updated = self.conn().execute(
            "UPDATE account SET disabled = ?2 WHERE name = ?1",
            params![name, i64::from(disabled)],
        )?;
        Ok(updated == 1)
    }

    /// The account called `name`, if any.
    pub fn account(&self, name: &str) -> Result<Option<Account>> {
        let row = self
            .conn()
            .query_row(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM account WHERE name = ?1"),
                [name],
                account_from_row,
            )
            .optional()?;
        row.map(with_created).transpose()
    }

    /// Every account, by name.
    pub fn accounts(&self) -> Result<Vec<Account>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM account ORDER BY name"
        ))?;
        let rows = stmt.query_map([], account_from_row)?;
        rows.map(|r| with_created(r?)).collect()
    }

    /// Stores an API token's hash for `account`.
    pub fn add_api_token(&self, token_hash: &str, account: &str, label: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO api_token (token_hash, account, label, created) VALUES (?1, ?2, ?3, ?4)",
            params![
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
        Ok(self
            .conn()
            .query_row(
                "SELECT account FROM api_token WHERE token_hash = ?1",
                [token_hash],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Records one statement in the query audit and returns its id.
    pub fn audit(
        &self,
        account: &str,
        channel: &str,
        statement: &str,
        outcome: &str,
        figures: (Option<u64>, Option<u64>),
        error: Option<&str>,
    ) -> Result<i64> {
        let conn = self.conn();
        let as_i64 = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        conn.execute(
            "INSERT INTO query_audit (at, account, channel, statement, outcome, rows, millis, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                fmt_time(&Local::now().naive_local()),
                account,
                channel,
                statement,
                outcome,
                as_i64(figures.0),
                as_i64(figures.1),
                error
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// The newest audit records, newest first; only `account`'s when given.
    pub fn audit_records(&self, account: Option<&str>, limit: usize) -> Result<Vec<AuditRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, at, account, channel, statement, outcome, rows, millis, error
             FROM query_audit WHERE ?1 IS NULL OR account = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![account, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (id, at, account, channel, statement, outcome, rows, millis, error) = row?;
            out.push(AuditRecord {
                id,
                at: parse_time(&at, "query_audit.at")?,
                account,
                channel,
                statement,
                outcome,
                rows: rows.map(|v| v.max(0) as u64),
                millis: millis.map(|v| v.max(0) as u64),
                error,
            });
        }
        Ok(out)
    }
}

fn with_created((mut account, created): (Account, String)) -> Result<Account> {
    account.created = parse_time(&created, "account.created")?;
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let catalog = Catalog::open_in_memory().unwrap();
        assert!(catalog.create_account(&new_account("wang", "h1")).unwrap());
        assert!(!catalog.create_account(&new_account("wang", "h2")).unwrap());
        assert_eq!(
            catalog.account("wang").unwrap().unwrap().password_hash,
            "h1"
        );
        assert!(catalog.update_account(&new_account("wang", "h3")).unwrap());
        assert_eq!(
            catalog.account("wang").unwrap().unwrap().password_hash,
            "h3"
        );
        assert!(!catalog.update_account(&new_account("li", "h")).unwrap());
        assert!(catalog.set_account_disabled("wang", true).unwrap());
        assert!(catalog.account("wang").unwrap().unwrap().disabled);
        assert_eq!(catalog.accounts().unwrap().len(), 1);
    }

    #[test]
    fn tokens_and_audit_are_kept_per_account() {
        let catalog = Catalog::open_in_memory().unwrap();
        catalog.create_account(&new_account("wang", "h")).unwrap();
        catalog.add_api_token("abc", "wang", "grafana").unwrap();
        assert_eq!(
            catalog.api_token_account("abc").unwrap().as_deref(),
            Some("wang")
        );
        assert_eq!(catalog.api_token_account("abd").unwrap(), None);
        catalog
            .audit("wang", "pg", "SELECT 1", "ok", (Some(1), Some(3)), None)
            .unwrap();
        catalog
            .audit("li", "http", "SELEC", "failed", (None, None), Some("parse"))
            .unwrap();
        let mine = catalog.audit_records(Some("wang"), 10).unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].rows, Some(1));
        assert_eq!(
            catalog.audit_records(None, 10).unwrap()[0].outcome,
            "failed"
        );
    }
}
