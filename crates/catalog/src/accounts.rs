//! Accounts and API tokens, as stored rows.
//!
//! The catalog keeps what serving needs to remember; hashing passwords and tokens is the
//! serving crate's job, so only hashes and SCRAM verifiers ever reach this file.

use chrono::{Local, NaiveDateTime};

use crate::db::Row;
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
    /// `local` (made with `medlake users add`) or `ldap` (made by a directory login).
    pub source: String,
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

fn account_from_row(r: &Row) -> Result<Account> {
    Ok(Account {
        name: r.text(0, "account.name")?,
        role: r.text(1, "account.role")?,
        password_hash: r.text(2, "account.password_hash")?,
        scram_salt: r.bytes(3, "account.scram_salt")?,
        scram_salted_password: r.bytes(4, "account.scram_salted_password")?,
        created: parse_time(&r.text(5, "account.created")?, "account.created")?,
        disabled: r.int(6, "account.disabled")? != 0,
        source: r.text(7, "account.source")?,
    })
}

const ACCOUNT_COLUMNS: &str =
    "name, role, password_hash, scram_salt, scram_salted_password, created, disabled, source";

impl Catalog {
    /// Creates an account; `Ok(false)` when the name is taken.
    pub fn create_account(&self, account: &NewAccount<'_>) -> Result<bool> {
        self.insert_account(account, "local")
    }

    /// Inserts an account of `source` (`local`, `ldap`) unless the name is taken.
    fn insert_account(&self, account: &NewAccount<'_>, source: &str) -> Result<bool> {
        let inserted = self.db.execute(
            "INSERT INTO account (name, role, password_hash, scram_salt, scram_salted_password,
                 created, source)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(name) DO NOTHING",
            sql_params![
                account.name,
                account.role,
                account.password_hash,
                account.scram_salt,
                account.scram_salted_password,
                fmt_time(&Local::now().naive_local()),
                source
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

    /// Makes or refreshes a directory account (source `ldap`): its role follows the
    /// directory, its verifiers are the random ones given. `Ok(None)` when the name is a
    /// local account (a directory never takes one over) or a disabled one (disabled in
    /// medlake stays disabled until an admin enables it).
    pub fn upsert_directory_account(&self, account: &NewAccount<'_>) -> Result<Option<Account>> {
        self.insert_account(account, "ldap")?;
        self.db.execute(
            "UPDATE account SET role = ?2 WHERE name = ?1 AND source = 'ldap' AND disabled = 0",
            sql_params![account.name, account.role],
        )?;
        Ok(self
            .account(account.name)?
            .filter(|a| a.source == "ldap" && !a.disabled))
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

    #[test]
    fn a_directory_account_follows_the_directory_but_never_takes_over_a_local_one() {
        for (backend, catalog) in catalogs("directory_accounts") {
            assert!(catalog.create_account(&new_account("local", "h")).unwrap());
            assert!(catalog
                .upsert_directory_account(&new_account("local", "x"))
                .unwrap()
                .is_none());
            assert_eq!(catalog.account("local").unwrap().unwrap().source, "local");
            let made = catalog
                .upsert_directory_account(&new_account("wang", "random"))
                .unwrap()
                .unwrap();
            assert_eq!(
                (made.source.as_str(), made.role.as_str()),
                ("ldap", "analyst")
            );
            let viewer = NewAccount {
                role: "viewer",
                ..new_account("wang", "other")
            };
            let refreshed = catalog.upsert_directory_account(&viewer).unwrap().unwrap();
            assert_eq!(refreshed.role, "viewer", "{backend}");
            assert_eq!(refreshed.password_hash, "random", "{backend}");
            catalog.set_account_disabled("wang", true).unwrap();
            assert!(catalog.upsert_directory_account(&viewer).unwrap().is_none());
        }
    }
}
