//! The policy set's versions (who changed it, when) and the account attributes that row
//! filters read. The policy text itself is parsed and enforced by serving; the catalog keeps
//! every version so an audit row's `id@version` names exactly what applied.

use std::collections::BTreeMap;

use chrono::{Local, NaiveDateTime};

use crate::{fmt_time, parse_time, Catalog, CatalogError, Result};

/// One stored version of the policy set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    /// Increasing version number.
    pub version: i64,
    /// The policy file's text (TOML).
    pub body: String,
    /// Who stored it (an account, or `file:PATH` when loaded from the configured file).
    pub changed_by: String,
    /// When.
    pub changed_at: NaiveDateTime,
    /// Why, when given.
    pub note: Option<String>,
}

/// The secret holding the key of the project's one keyed pseudonym (HMAC-SHA-256): the
/// `hash` mask of served results and the pseudonyms of DICOM identifiers use it, so a
/// study's patient pseudonym equals the patient's hashed ID in a masked result.
pub const PSEUDONYM_KEY: &str = "mask_hash_key";

impl Catalog {
    /// Stores a new version of the policy set; returns its number.
    pub fn store_policies(&self, body: &str, changed_by: &str, note: Option<&str>) -> Result<i64> {
        let row = self.db.query_opt(
            "INSERT INTO policy_version (body, changed_by, changed_at, note)
             VALUES (?1, ?2, ?3, ?4) RETURNING version",
            sql_params![
                body,
                changed_by,
                fmt_time(&Local::now().naive_local()),
                note
            ],
        )?;
        row.ok_or(CatalogError::Corrupt("policy_version.version"))?
            .int(0, "policy_version.version")
    }

    /// The newest version of the policy set, if one was ever stored.
    pub fn current_policies(&self) -> Result<Option<PolicyVersion>> {
        self.policy_versions(1).map(|mut v| v.pop())
    }

    /// The newest `limit` versions, newest first.
    pub fn policy_versions(&self, limit: usize) -> Result<Vec<PolicyVersion>> {
        let rows = self.db.query(
            "SELECT version, body, changed_by, changed_at, note FROM policy_version
             ORDER BY version DESC LIMIT ?1",
            sql_params![i64::try_from(limit).unwrap_or(i64::MAX)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(PolicyVersion {
                    version: r.int(0, "policy_version.version")?,
                    body: r.text(1, "policy_version.body")?,
                    changed_by: r.text(2, "policy_version.changed_by")?,
                    changed_at: parse_time(
                        &r.text(3, "policy_version.changed_at")?,
                        "policy_version.changed_at",
                    )?,
                    note: r.opt_text(4, "policy_version.note")?,
                })
            })
            .collect()
    }

    /// The deployment's pseudonym key (see [`PSEUDONYM_KEY`]), made the first time any
    /// process asks for it: `fresh` must be at least 32 random bytes.
    pub fn pseudonym_key(&self, fresh: &[u8]) -> Result<Vec<u8>> {
        self.secret_or_create(PSEUDONYM_KEY, fresh)
    }

    /// The secret `name` (a key the catalog's processes share, e.g. the mask hash's key),
    /// stored as `fresh` the first time it is asked for.
    pub fn secret_or_create(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>> {
        self.db.execute(
            "INSERT INTO secret (name, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            sql_params![name, fresh],
        )?;
        self.db
            .query_opt(
                "SELECT value FROM secret WHERE name = ?1",
                sql_params![name],
            )?
            .ok_or(CatalogError::Corrupt("secret.value"))?
            .bytes(0, "secret.value")
    }

    /// An account's attributes (`hospitals`, `province`, `groups`, ...), each a list.
    pub fn account_attributes(&self, account: &str) -> Result<BTreeMap<String, Vec<String>>> {
        let rows = self.db.query(
            "SELECT name, value FROM account_attribute WHERE account = ?1 ORDER BY name, value",
            sql_params![account],
        )?;
        let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &rows {
            attributes
                .entry(r.text(0, "account_attribute.name")?)
                .or_default()
                .push(r.text(1, "account_attribute.value")?);
        }
        Ok(attributes)
    }

    /// Replaces one attribute of an account (an empty list removes it).
    pub fn set_account_attribute(
        &self,
        account: &str,
        name: &str,
        values: &[String],
    ) -> Result<()> {
        self.db.execute(
            "DELETE FROM account_attribute WHERE account = ?1 AND name = ?2",
            sql_params![account, name],
        )?;
        for value in values {
            self.db.execute(
                "INSERT INTO account_attribute (account, name, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                sql_params![account, name, value.as_str()],
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::catalogs;
    use crate::NewAccount;

    #[test]
    fn policy_versions_count_up_and_attributes_are_lists() {
        for (backend, catalog) in catalogs("policies") {
            assert_eq!(catalog.current_policies().unwrap(), None, "{backend}");
            let v1 = catalog
                .store_policies("a = 1", "file:p.toml", None)
                .unwrap();
            let v2 = catalog
                .store_policies("a = 2", "admin", Some("tighter"))
                .unwrap();
            assert!(v2 > v1, "{backend}");
            let current = catalog.current_policies().unwrap().unwrap();
            assert_eq!(
                (current.body.as_str(), current.changed_by.as_str()),
                ("a = 2", "admin")
            );
            catalog
                .create_account(&NewAccount {
                    name: "wang",
                    role: "analyst",
                    password_hash: "h",
                    scram_salt: b"s",
                    scram_salted_password: b"p",
                })
                .unwrap();
            let hospitals = vec!["3".to_string(), "1".to_string()];
            catalog
                .set_account_attribute("wang", "hospitals", &hospitals)
                .unwrap();
            catalog
                .set_account_attribute("wang", "province", &["浙江".into()])
                .unwrap();
            let attributes = catalog.account_attributes("wang").unwrap();
            assert_eq!(attributes["hospitals"], vec!["1", "3"], "{backend}");
            catalog
                .set_account_attribute("wang", "hospitals", &[])
                .unwrap();
            assert!(!catalog
                .account_attributes("wang")
                .unwrap()
                .contains_key("hospitals"));
            let key = catalog.secret_or_create("k", b"first").unwrap();
            assert_eq!(key, b"first");
            assert_eq!(catalog.secret_or_create("k", b"second").unwrap(), b"first");
        }
    }
}
