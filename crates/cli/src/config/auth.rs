//! Login settings: `[auth]` (the failed-login throttle), `[auth.ldap]` (directory logins)
//! and `[serve.tls]` (the certificate both fronts serve). docs/permissions.md explains
//! them with a worked example.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Failed logins of one account name, within the window, that lock it.
    pub max_failed_logins_per_account: u32,
    /// Failed logins from one address, within the window, that block it.
    pub max_failed_logins_per_address: u32,
    /// Seconds back that failed logins count.
    pub failed_login_window_seconds: u64,
    /// Seconds a lock or block lasts.
    pub lockout_seconds: u64,
    /// Directory logins (absent: local accounts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ldap: Option<LdapConfig>,
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        let rules = medlake_serve::ThrottleRules::default();
        AuthConfig {
            max_failed_logins_per_account: rules.account_failures,
            max_failed_logins_per_address: rules.address_failures,
            failed_login_window_seconds: rules.window.as_secs(),
            lockout_seconds: rules.lockout.as_secs(),
            ldap: None,
        }
    }
}

impl AuthConfig {
    /// The throttle's rules.
    pub fn throttle(&self) -> Result<medlake_serve::ThrottleRules> {
        if self.max_failed_logins_per_account == 0 || self.max_failed_logins_per_address == 0 {
            bail!("[auth] max_failed_logins_per_account and _per_address must be at least 1");
        }
        Ok(medlake_serve::ThrottleRules {
            account_failures: self.max_failed_logins_per_account,
            address_failures: self.max_failed_logins_per_address,
            window: Duration::from_secs(self.failed_login_window_seconds.max(1)),
            lockout: Duration::from_secs(self.lockout_seconds.max(1)),
        })
    }

    /// The directory's options, if one is configured; the search account's password comes
    /// from the environment variable `search_bind_password_env` names, never the file.
    pub fn directory(&self) -> Result<Option<medlake_serve::DirectoryOptions>> {
        let Some(ldap) = &self.ldap else {
            return Ok(None);
        };
        let search_bind = if ldap.search_bind_dn.is_empty() {
            None
        } else {
            let var = &ldap.search_bind_password_env;
            let password = std::env::var(var).unwrap_or_default();
            if var.is_empty() || password.is_empty() {
                bail!(
                    "[auth.ldap] search_bind_dn is set: put its password in an environment \
                     variable and name it in search_bind_password_env"
                );
            }
            Some((ldap.search_bind_dn.clone(), password))
        };
        let some = |s: &String| (!s.is_empty()).then(|| s.clone());
        Ok(Some(medlake_serve::DirectoryOptions {
            url: ldap.url.clone(),
            starttls: ldap.starttls,
            ca_file: some(&ldap.ca_file).map(PathBuf::from),
            bind_dn: some(&ldap.bind_dn),
            search_base: some(&ldap.search_base),
            user_filter: ldap.user_filter.clone(),
            search_bind,
            group_attribute: some(&ldap.group_attribute),
            group_search_base: some(&ldap.group_search_base),
            group_filter: ldap.group_filter.clone(),
            roles: ldap.roles.clone(),
            attributes: ldap.attributes.clone(),
            timeout: Duration::from_secs(ldap.timeout_seconds.max(1)),
        }))
    }
}

/// `[auth.ldap]`: see `DirectoryOptions` in the serving crate for each field's meaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdapConfig {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// StartTLS on an `ldap://` URL.
    pub starttls: bool,
    /// CA file (PEM) of the directory's certificate; empty: the system's.
    pub ca_file: String,
    /// DN template with `{user}`; empty: search under `search_base`.
    pub bind_dn: String,
    /// Where people are searched.
    pub search_base: String,
    /// The filter an enabled person's entry matches, with `{user}`.
    pub user_filter: String,
    /// A service account to search with (empty: anonymous).
    pub search_bind_dn: String,
    /// The environment variable holding that account's password.
    pub search_bind_password_env: String,
    /// An attribute of the person listing their groups' DNs (`memberOf`).
    pub group_attribute: String,
    /// Where groups are searched.
    pub group_search_base: String,
    /// Which groups name a person (`{dn}`, `{user}`).
    pub group_filter: String,
    /// Group name to role (`admin`, `analyst`, `viewer`, or a policy role).
    pub roles: BTreeMap<String, String>,
    /// medlake attribute to directory attribute.
    pub attributes: BTreeMap<String, String>,
    /// Seconds one directory call may take.
    pub timeout_seconds: u64,
}

impl Default for LdapConfig {
    fn default() -> LdapConfig {
        LdapConfig {
            url: String::new(),
            starttls: false,
            ca_file: String::new(),
            bind_dn: String::new(),
            search_base: String::new(),
            user_filter: "(uid={user})".into(),
            search_bind_dn: String::new(),
            search_bind_password_env: String::new(),
            group_attribute: String::new(),
            group_search_base: String::new(),
            group_filter: "(|(member={dn})(uniqueMember={dn})(memberUid={user}))".into(),
            roles: BTreeMap::new(),
            attributes: BTreeMap::new(),
            timeout_seconds: 10,
        }
    }
}

/// `[serve.tls]`: both empty, plain text; both set, HTTPS and PostgreSQL TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// The certificate chain (PEM).
    pub cert: String,
    /// Its private key (PEM).
    pub key: String,
}

impl TlsConfig {
    /// The serving crate's options; one of the two without the other is an error.
    pub fn options(&self) -> Result<Option<medlake_serve::TlsOptions>> {
        match (self.cert.is_empty(), self.key.is_empty()) {
            (true, true) => Ok(None),
            (false, false) => Ok(Some(medlake_serve::TlsOptions {
                cert: PathBuf::from(&self.cert),
                key: PathBuf::from(&self.key),
            })),
            _ => bail!("[serve.tls] needs both cert and key (PEM files), or neither"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_a_tls_setting_and_an_unnamed_search_password_are_refused() {
        let half = TlsConfig {
            cert: "server.pem".into(),
            key: String::new(),
        };
        assert!(half
            .options()
            .unwrap_err()
            .to_string()
            .contains("both cert and key"));
        assert_eq!(TlsConfig::default().options().unwrap(), None);
        let auth = AuthConfig {
            ldap: Some(LdapConfig {
                url: "ldap://dir".into(),
                search_base: "dc=example".into(),
                search_bind_dn: "cn=medlake,dc=example".into(),
                ..LdapConfig::default()
            }),
            ..AuthConfig::default()
        };
        let err = auth.directory().unwrap_err().to_string();
        assert!(err.contains("search_bind_password_env"), "{err}");
        assert_eq!(
            AuthConfig::default().throttle().unwrap().account_failures,
            5
        );
    }
}
