//! Directory logins: an organisation's LDAP or Active Directory decides who may log in,
//! which role they have (through their groups) and which attributes their row filters
//! see (`${user.hospitals}`).
//!
//! One login is: find the person's entry (a DN template, or a search under a base with a
//! filter), bind as them with the password they gave (the directory checks it; medlake
//! never stores it), read their entry again *with the enabling filter* (an entry the
//! filter no longer matches, e.g. `(!(employeeType=disabled))` or Active Directory's
//! disabled bit, is a disabled person), collect their groups (an attribute such as
//! `memberOf`, or a search for groups naming them), and map groups to roles. A person in
//! no mapped group gets no access at all: the mapping grants, nothing else does.
//!
//! An empty password is refused before the directory is asked: LDAP treats a simple bind
//! with a name and no password as an anonymous bind, which "succeeds".

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ldap3::{dn_escape, ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use thiserror::Error;

use crate::accounts::Role;

/// LDAP result code of a wrong password or unknown bind DN.
const INVALID_CREDENTIALS: u32 = 49;

/// How to reach the directory and read people from it (`[auth.ldap]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryOptions {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before any password is sent.
    pub starttls: bool,
    /// CA certificate (PEM) that signed the directory's certificate; empty: the system's.
    pub ca_file: Option<PathBuf>,
    /// A DN template with `{user}`, e.g. `uid={user},ou=people,dc=example,dc=org`.
    /// Without one, the person is found by searching `search_base`.
    pub bind_dn: Option<String>,
    /// Where people are searched (and, with a template, ignored).
    pub search_base: Option<String>,
    /// The filter a person's entry must match, with `{user}`; it decides who is enabled.
    pub user_filter: String,
    /// A service account to search with (both or neither); without it, anonymous.
    pub search_bind: Option<(String, String)>,
    /// An attribute of the person's entry listing their groups' DNs (`memberOf`).
    pub group_attribute: Option<String>,
    /// Where groups are searched, with `group_filter` (`{dn}`, `{user}`).
    pub group_search_base: Option<String>,
    /// Which groups name a person, e.g. `(|(member={dn})(memberUid={user}))`.
    pub group_filter: String,
    /// Group name (`cn`) to role: `admin`, `analyst`, `viewer`, or a policy role such as
    /// `phi_reader`.
    pub roles: BTreeMap<String, String>,
    /// medlake attribute to directory attribute, e.g. `hospitals = "departmentNumber"`.
    pub attributes: BTreeMap<String, String>,
    /// How long one directory call may take.
    pub timeout: Duration,
}

/// A person the directory vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryPerson {
    /// Their entry.
    pub dn: String,
    /// The highest base role their groups map to.
    pub role: Role,
    /// Policy roles their groups map to (attribute `roles`).
    pub extra_roles: Vec<String>,
    /// Their groups' names (attribute `groups`).
    pub groups: Vec<String>,
    /// The mapped attributes, each a list.
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// Why the directory did not vouch for someone.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DirectoryRefusal {
    /// Wrong password, unknown person, or an empty password.
    #[error("wrong account name or password")]
    WrongCredentials,
    /// The entry exists and the password is right, but the enabling filter rejects it.
    #[error("the directory account is disabled")]
    Disabled,
    /// None of their groups maps to a role.
    #[error("the directory account is in no group that medlake maps to a role")]
    NoRole,
    /// The directory could not be asked (down, TLS failure, timeout, misconfiguration).
    #[error("the directory is unavailable: {0}")]
    Unavailable(String),
}

/// The LDAP login source.
#[derive(Debug)]
pub struct Directory {
    options: DirectoryOptions,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Directory {
    /// Checks the options (one line per problem) and reads the CA file.
    pub fn new(options: DirectoryOptions) -> crate::Result<Directory> {
        let bad = |m: String| crate::ServeError::Directory(m);
        if !(options.url.starts_with("ldap://") || options.url.starts_with("ldaps://")) {
            return Err(bad(format!(
                "url {:?}: use ldap://host[:port] or ldaps://host[:port]",
                options.url
            )));
        }
        if options.bind_dn.is_none() && options.search_base.is_none() {
            return Err(bad(
                "set bind_dn (a template with {user}) or search_base".into()
            ));
        }
        if let Some(template) = &options.bind_dn {
            if !template.contains("{user}") {
                return Err(bad(format!("bind_dn {template:?} has no {{user}}")));
            }
        }
        if !options.user_filter.contains("{user}") {
            return Err(bad(format!(
                "user_filter {:?} has no {{user}}",
                options.user_filter
            )));
        }
        if options.roles.is_empty() {
            return Err(bad(
                "no group maps to a role ([auth.ldap.roles]): nobody could log in".into(),
            ));
        }
        let tls = match &options.ca_file {
            Some(path) => Some(client_tls(path)?),
            None => None,
        };
        Ok(Directory { options, tls })
    }

    /// Logs `user` in with `password`: the directory checks the password; its entry and
    /// groups give the role and attributes.
    pub async fn login(
        &self,
        user: &str,
        password: &str,
    ) -> Result<DirectoryPerson, DirectoryRefusal> {
        if password.is_empty() || user.is_empty() {
            return Err(DirectoryRefusal::WrongCredentials);
        }
        // ldap3's own timeout covers one operation; the login as a whole has one too.
        let whole = self.options.timeout * 4;
        let login = async {
            let mut ldap = self.connect().await?;
            let outcome = self.login_on(&mut ldap, user, password).await;
            let _ = ldap.unbind().await;
            outcome
        };
        tokio::time::timeout(whole, login)
            .await
            .unwrap_or_else(|_| {
                Err(DirectoryRefusal::Unavailable(format!(
                    "no answer within {} s",
                    whole.as_secs()
                )))
            })
    }

    async fn connect(&self) -> Result<Ldap, DirectoryRefusal> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.options.timeout)
            .set_starttls(self.options.starttls);
        if let Some(config) = &self.tls {
            settings = settings.set_config(config.clone());
        }
        let (conn, ldap) = LdapConnAsync::with_settings(settings, &self.options.url)
            .await
            .map_err(unavailable)?;
        ldap3::drive!(conn);
        Ok(ldap)
    }

    async fn login_on(
        &self,
        ldap: &mut Ldap,
        user: &str,
        password: &str,
    ) -> Result<DirectoryPerson, DirectoryRefusal> {
        let dn = self.person_dn(ldap, user).await?;
        let bound = ldap
            .with_timeout(self.options.timeout)
            .simple_bind(&dn, password)
            .await
            .map_err(unavailable)?;
        match bound.rc {
            0 => {}
            INVALID_CREDENTIALS => return Err(DirectoryRefusal::WrongCredentials),
            rc => {
                return Err(DirectoryRefusal::Unavailable(format!(
                    "bind answered {rc}: {}",
                    bound.text
                )))
            }
        }
        let entry = self.enabled_entry(ldap, &dn, user).await?;
        let groups = self.groups(ldap, &entry, user).await?;
        let (role, extra_roles) = self.roles_of(&groups)?;
        Ok(DirectoryPerson {
            dn,
            role,
            extra_roles,
            groups,
            attributes: self.mapped_attributes(&entry),
        })
    }

    /// The person's DN: from the template, or the one entry the search finds.
    async fn person_dn(&self, ldap: &mut Ldap, user: &str) -> Result<String, DirectoryRefusal> {
        if let Some(template) = &self.options.bind_dn {
            return Ok(template.replace("{user}", &dn_escape(user)));
        }
        if let Some((dn, password)) = &self.options.search_bind {
            let bound = ldap.simple_bind(dn, password).await.map_err(unavailable)?;
            if bound.rc != 0 {
                return Err(DirectoryRefusal::Unavailable(format!(
                    "the search account's bind answered {}: {}",
                    bound.rc, bound.text
                )));
            }
        }
        let base = self.options.search_base.clone().unwrap_or_default();
        let found = self
            .search(
                ldap,
                &base,
                Scope::Subtree,
                &self.user_filter(user),
                vec!["1.1".into()],
            )
            .await?;
        match found.as_slice() {
            [one] => Ok(one.dn.clone()),
            // Nobody, or a filter that matches several people: never guess which.
            _ => Err(DirectoryRefusal::WrongCredentials),
        }
    }

    /// The person's entry read with their own bind, if the enabling filter still matches.
    async fn enabled_entry(
        &self,
        ldap: &mut Ldap,
        dn: &str,
        user: &str,
    ) -> Result<SearchEntry, DirectoryRefusal> {
        let mut wanted: Vec<String> = self.options.attributes.values().cloned().collect();
        wanted.extend(self.options.group_attribute.clone());
        if wanted.is_empty() {
            wanted.push("1.1".to_string());
        }
        let found = self
            .search(ldap, dn, Scope::Base, &self.user_filter(user), wanted)
            .await?;
        found.into_iter().next().ok_or(DirectoryRefusal::Disabled)
    }

    fn user_filter(&self, user: &str) -> String {
        self.options
            .user_filter
            .replace("{user}", &ldap_escape(user))
    }

    /// Group names: the first RDN value of each DN in the group attribute, and the `cn`
    /// of each group the group search finds.
    async fn groups(
        &self,
        ldap: &mut Ldap,
        entry: &SearchEntry,
        user: &str,
    ) -> Result<Vec<String>, DirectoryRefusal> {
        let mut groups: Vec<String> = match &self.options.group_attribute {
            Some(attribute) => values(entry, attribute)
                .iter()
                .filter_map(|dn| first_rdn_value(dn))
                .collect(),
            None => Vec::new(),
        };
        if let Some(base) = &self.options.group_search_base {
            let filter = self
                .options
                .group_filter
                .replace("{dn}", &ldap_escape(entry.dn.as_str()))
                .replace("{user}", &ldap_escape(user));
            let found = self
                .search(ldap, base, Scope::Subtree, &filter, vec!["cn".into()])
                .await?;
            groups.extend(found.iter().flat_map(|g| values(g, "cn")));
        }
        groups.sort();
        groups.dedup();
        Ok(groups)
    }

    /// The highest base role the groups map to, and the policy roles.
    fn roles_of(&self, groups: &[String]) -> Result<(Role, Vec<String>), DirectoryRefusal> {
        let mut base: Option<Role> = None;
        let mut extra = Vec::new();
        for mapped in groups.iter().filter_map(|g| self.options.roles.get(g)) {
            match Role::parse(mapped) {
                Ok(role) => base = Some(base.map_or(role, |b| highest(b, role))),
                Err(_) => extra.push(mapped.clone()),
            }
        }
        extra.sort();
        extra.dedup();
        base.map(|role| (role, extra))
            .ok_or(DirectoryRefusal::NoRole)
    }

    fn mapped_attributes(&self, entry: &SearchEntry) -> BTreeMap<String, Vec<String>> {
        self.options
            .attributes
            .iter()
            .map(|(ours, theirs)| (ours.clone(), values(entry, theirs)))
            .collect()
    }

    async fn search(
        &self,
        ldap: &mut Ldap,
        base: &str,
        scope: Scope,
        filter: &str,
        attributes: Vec<String>,
    ) -> Result<Vec<SearchEntry>, DirectoryRefusal> {
        let answer = ldap
            .with_timeout(self.options.timeout)
            .search(base, scope, filter, attributes)
            .await
            .map_err(unavailable)?;
        // 32: no such object (a template DN of nobody).
        if answer.1.rc == 32 {
            return Ok(Vec::new());
        }
        let (entries, _) = answer.success().map_err(unavailable)?;
        entries
            .into_iter()
            .map(|raw| {
                // ldap3 panics on an entry it cannot decode: a broken answer refuses the
                // login instead of ending the connection's task.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    SearchEntry::construct(raw)
                }))
                .map_err(|_| DirectoryRefusal::Unavailable("an undecodable entry".into()))
            })
            .collect()
    }
}

fn unavailable(e: ldap3::LdapError) -> DirectoryRefusal {
    DirectoryRefusal::Unavailable(e.to_string())
}

fn highest(a: Role, b: Role) -> Role {
    let rank = |r: Role| match r {
        Role::Viewer => 0,
        Role::Analyst => 1,
        Role::Admin => 2,
    };
    if rank(a) >= rank(b) {
        a
    } else {
        b
    }
}

/// An attribute's values, its name compared case-insensitively (as LDAP does).
fn values(entry: &SearchEntry, attribute: &str) -> Vec<String> {
    entry
        .attrs
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(attribute))
        .flat_map(|(_, v)| v.iter().cloned())
        .collect()
}

/// `cn=analysts,ou=groups,dc=x` → `analysts`.
fn first_rdn_value(dn: &str) -> Option<String> {
    let first = dn.split(',').next()?;
    let (_, value) = first.split_once('=')?;
    Some(value.trim().to_string())
}

fn client_tls(ca_file: &std::path::Path) -> crate::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let bad = |m: String| crate::ServeError::Directory(format!("{}: {m}", ca_file.display()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| bad(e.to_string()))? {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> DirectoryOptions {
        DirectoryOptions {
            url: "ldap://127.0.0.1:1".into(),
            bind_dn: Some("uid={user},ou=people,dc=example,dc=org".into()),
            user_filter: "(uid={user})".into(),
            roles: [("analysts".to_string(), "analyst".to_string())].into(),
            timeout: Duration::from_secs(1),
            ..DirectoryOptions::default()
        }
    }

    #[test]
    fn settings_that_cannot_work_are_refused_at_start() {
        assert!(Directory::new(options()).is_ok());
        let bad = [
            DirectoryOptions {
                url: "http://dir".into(),
                ..options()
            },
            DirectoryOptions {
                bind_dn: Some("ou=people".into()),
                ..options()
            },
            DirectoryOptions {
                bind_dn: None,
                ..options()
            },
            DirectoryOptions {
                roles: BTreeMap::new(),
                ..options()
            },
        ];
        for options in bad {
            let err = Directory::new(options).unwrap_err().to_string();
            assert!(err.starts_with("LDAP: ") && !err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn groups_map_to_the_highest_role_and_policy_roles() {
        let mut o = options();
        o.roles.insert("admins".into(), "admin".into());
        o.roles.insert("phi".into(), "phi_reader".into());
        let directory = Directory::new(o).unwrap();
        let groups = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            directory.roles_of(&groups(&["analysts", "phi", "other"])),
            Ok((Role::Analyst, vec!["phi_reader".to_string()]))
        );
        assert_eq!(
            directory
                .roles_of(&groups(&["analysts", "admins"]))
                .unwrap()
                .0,
            Role::Admin
        );
        assert_eq!(
            directory.roles_of(&groups(&["phi", "other"])),
            Err(DirectoryRefusal::NoRole)
        );
        assert_eq!(
            first_rdn_value("cn=analysts,ou=groups,dc=example,dc=org"),
            Some("analysts".into())
        );
    }

    #[tokio::test]
    async fn an_empty_password_never_reaches_the_directory() {
        // The URL points at a closed port: asking it would be `Unavailable`.
        let directory = Directory::new(options()).unwrap();
        assert_eq!(
            directory.login("wang", "").await,
            Err(DirectoryRefusal::WrongCredentials)
        );
        assert!(matches!(
            directory.login("wang", "secret").await,
            Err(DirectoryRefusal::Unavailable(_))
        ));
    }
}
