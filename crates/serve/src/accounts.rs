//! Accounts: who may log in, with which role, and how their secrets are checked.
//!
//! Passwords are never stored: the web login checks an Argon2id hash, the PostgreSQL
//! protocol a SCRAM-SHA-256 verifier (PBKDF2, 4096 rounds), API tokens a SHA-256 of a
//! 256-bit random token. Passwords medlake makes itself (the first admin, a new account
//! without one) come from the operating system's random source and are shown once.

use std::fmt;
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use medlake_catalog::{Catalog, NewAccount};
use rand::rngs::OsRng;
use rand::{Rng, SeedableRng, TryRngCore};
use sha2::{Digest, Sha256};

use crate::{Result, ServeError};

/// SCRAM-SHA-256 iteration count (PostgreSQL's default).
pub const SCRAM_ITERATIONS: usize = 4096;

/// Characters of generated passwords: no look-alikes (0/O, 1/l/I).
const PASSWORD_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// 20 characters of a 56-letter alphabet: about 116 bits.
const PASSWORD_LENGTH: usize = 20;
/// Shortest password a person may choose.
pub const MIN_PASSWORD_LENGTH: usize = 12;

/// What an account may do. Table and column grants come with governance; a role is the
/// coarse gate every query passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, including accounts and starting builds.
    Admin,
    /// SQL over every table.
    Analyst,
    /// Dashboards: the report (`ads_*`) tables only.
    Viewer,
}

impl Role {
    /// The role's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
        }
    }

    /// Parses a role name.
    pub fn parse(s: &str) -> Result<Role> {
        match s {
            "admin" => Ok(Role::Admin),
            "analyst" => Ok(Role::Analyst),
            "viewer" => Ok(Role::Viewer),
            other => Err(ServeError::Account(format!(
                "unknown role {other:?}: use admin, analyst or viewer"
            ))),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is asking: an authenticated account and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Account name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// Accounts over the catalog: creation, password checks, SCRAM verifiers and API tokens.
#[derive(Clone)]
pub struct Accounts {
    catalog: Arc<Catalog>,
    /// Checked against when the account does not exist, so that an unknown name takes as
    /// long as a wrong password.
    dummy_hash: String,
}

impl Accounts {
    /// Accounts kept in `catalog`.
    pub fn new(catalog: Arc<Catalog>) -> Result<Accounts> {
        let dummy_hash = argon2_hash(&generate_password())?;
        Ok(Accounts {
            catalog,
            dummy_hash,
        })
    }

    /// The catalog the accounts live in.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Creates the first admin when there is no account at all, returning its name and
    /// generated password (to be shown once); `None` when accounts exist.
    pub fn ensure_first_admin(&self) -> Result<Option<(String, String)>> {
        if !self.catalog.accounts()?.is_empty() {
            return Ok(None);
        }
        let password = self.create("admin", Role::Admin, None)?;
        Ok(Some(("admin".to_string(), password)))
    }

    /// Creates an account; with no password given, one is generated. Returns the password.
    pub fn create(&self, name: &str, role: Role, password: Option<&str>) -> Result<String> {
        check_name(name)?;
        let password = chosen_or_generated(password)?;
        let verifiers = Verifiers::of(&password)?;
        if !self
            .catalog
            .create_account(&verifiers.account(name, role))?
        {
            return Err(ServeError::Account(format!(
                "an account named {name:?} exists already"
            )));
        }
        Ok(password)
    }

    /// Sets a new password (generated when none is given) and returns it.
    pub fn set_password(&self, name: &str, password: Option<&str>) -> Result<String> {
        let account = self
            .catalog
            .account(name)?
            .ok_or_else(|| ServeError::Account(format!("there is no account named {name:?}")))?;
        let role = Role::parse(&account.role)?;
        let password = chosen_or_generated(password)?;
        let verifiers = Verifiers::of(&password)?;
        self.catalog
            .update_account(&verifiers.account(name, role))?;
        Ok(password)
    }

    /// Disables an account: it can no longer log in or use its tokens.
    pub fn disable(&self, name: &str) -> Result<()> {
        if self.catalog.set_account_disabled(name, true)? {
            Ok(())
        } else {
            Err(ServeError::Account(format!(
                "there is no account named {name:?}"
            )))
        }
    }

    /// The principal of an enabled account, if there is one by that name.
    pub fn principal(&self, name: &str) -> Result<Option<Principal>> {
        let Some(account) = self.catalog.account(name)? else {
            return Ok(None);
        };
        if account.disabled {
            return Ok(None);
        }
        Ok(Some(Principal {
            name: account.name,
            role: Role::parse(&account.role)?,
        }))
    }

    /// Makes or refreshes the account of a person the directory vouched for: role, groups
    /// (attribute `groups`), policy roles (`roles`) and the mapped attributes, as the
    /// directory says now. Its stored verifiers are of a random password nobody knows.
    /// `None` when the name is disabled in medlake.
    pub fn refresh_directory_account(
        &self,
        name: &str,
        person: &crate::login::DirectoryPerson,
    ) -> Result<Option<Principal>> {
        check_name(name)?;
        let verifiers = Verifiers::of(&generate_password())?;
        let Some(account) = self
            .catalog
            .upsert_directory_account(&verifiers.account(name, person.role))?
        else {
            return Ok(None);
        };
        self.catalog
            .set_account_attribute(name, "groups", &person.groups)?;
        self.catalog
            .set_account_attribute(name, "roles", &person.extra_roles)?;
        for (attribute, values) in &person.attributes {
            self.catalog
                .set_account_attribute(name, attribute, values)?;
        }
        Ok(Some(Principal {
            name: account.name,
            role: Role::parse(&account.role)?,
        }))
    }

    /// Disables a directory account the directory no longer lets in (a local account
    /// of that name is left alone).
    pub fn disable_directory_account(&self, name: &str) -> Result<()> {
        if self
            .catalog
            .account(name)?
            .is_some_and(|a| a.source != "local")
        {
            self.catalog.set_account_disabled(name, true)?;
        }
        Ok(())
    }

    /// Checks a password for the web login. Unknown, disabled and wrong all give `None`,
    /// and so does a directory account (its password is the directory's to check).
    pub fn verify_password(&self, name: &str, password: &str) -> Result<Option<Principal>> {
        let account = self
            .catalog
            .account(name)?
            .filter(|a| !a.disabled && a.source == "local");
        let hash = account
            .as_ref()
            .map_or(self.dummy_hash.as_str(), |a| a.password_hash.as_str());
        let parsed = PasswordHash::new(hash)
            .map_err(|_| ServeError::Account("a stored password hash is unreadable".into()))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        match account {
            Some(account) if matches => Ok(Some(Principal {
                name: account.name,
                role: Role::parse(&account.role)?,
            })),
            _ => Ok(None),
        }
    }

    /// The SCRAM-SHA-256 salt and salted password of an enabled local account.
    pub fn scram_verifier(&self, name: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        Ok(self
            .catalog
            .account(name)?
            .filter(|a| !a.disabled && a.source == "local")
            .map(|a| (a.scram_salt, a.scram_salted_password)))
    }

    /// Issues an API token for `name` (shown once; only its hash is kept).
    pub fn issue_token(&self, name: &str, label: &str) -> Result<String> {
        if self.principal(name)?.is_none() {
            return Err(ServeError::Account(format!(
                "there is no enabled account named {name:?}"
            )));
        }
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes);
        let token = format!(
            "mlk_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        self.catalog
            .add_api_token(&token_hash(&token), name, label)?;
        Ok(token)
    }

    /// The principal an API token stands for, if it is valid and its account enabled.
    pub fn token_principal(&self, token: &str) -> Result<Option<Principal>> {
        match self.catalog.api_token_account(&token_hash(token))? {
            Some(name) => self.principal(&name),
            None => Ok(None),
        }
    }
}

/// The stored forms of one password.
struct Verifiers {
    argon2: String,
    scram_salt: Vec<u8>,
    scram_salted: Vec<u8>,
}

impl Verifiers {
    fn of(password: &str) -> Result<Verifiers> {
        let mut scram_salt = vec![0u8; 16];
        fill_random(&mut scram_salt);
        let scram_salted = pgwire::api::auth::sasl::scram::gen_salted_password(
            password,
            &scram_salt,
            SCRAM_ITERATIONS,
        );
        Ok(Verifiers {
            argon2: argon2_hash(password)?,
            scram_salt,
            scram_salted,
        })
    }

    fn account<'a>(&'a self, name: &'a str, role: Role) -> NewAccount<'a> {
        NewAccount {
            name,
            role: role.as_str(),
            password_hash: &self.argon2,
            scram_salt: &self.scram_salt,
            scram_salted_password: &self.scram_salted,
        }
    }
}

fn argon2_hash(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    fill_random(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| ServeError::Account(format!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServeError::Account(format!("password hash: {e}")))
}

/// The SHA-256 of a secret token (API token, session id) as stored: the catalog never
/// holds one in a usable form.
pub(crate) fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Fills `buf` from the operating system's random source.
pub(crate) fn fill_random(buf: &mut [u8]) {
    // The OS source failing means the machine cannot make secrets at all; nothing sensible
    // can continue without one.
    OsRng
        .try_fill_bytes(buf)
        .expect("the operating system's random source is unavailable");
}

/// A new random password from [`PASSWORD_ALPHABET`].
pub fn generate_password() -> String {
    let mut rng = rand::rngs::StdRng::from_os_rng();
    (0..PASSWORD_LENGTH)
        .map(|_| PASSWORD_ALPHABET[rng.random_range(0..PASSWORD_ALPHABET.len())] as char)
        .collect()
}

fn chosen_or_generated(password: Option<&str>) -> Result<String> {
    match password {
        None => Ok(generate_password()),
        Some(p) if p.chars().count() < MIN_PASSWORD_LENGTH => Err(ServeError::Account(format!(
            "a password needs at least {MIN_PASSWORD_LENGTH} characters"
        ))),
        Some(p) => Ok(p.to_string()),
    }
}

/// Whether `name` is usable as an account name (lowercase: a directory compares names
/// without case, and one person must not become two accounts).
pub(crate) fn valid_name(name: &str) -> bool {
    check_name(name).is_ok()
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
        && name.starts_with(|c: char| c.is_ascii_lowercase());
    if ok {
        Ok(())
    } else {
        Err(ServeError::Account(format!(
            "account name {name:?}: use 1-63 lowercase letters, digits, '_', '.', '-', starting with a letter"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts() -> Accounts {
        Accounts::new(Arc::new(Catalog::open_in_memory().unwrap())).unwrap()
    }

    #[test]
    fn the_first_admin_gets_a_generated_password_once() {
        let accounts = accounts();
        let (name, password) = accounts.ensure_first_admin().unwrap().unwrap();
        assert_eq!(name, "admin");
        assert_eq!(password.len(), PASSWORD_LENGTH);
        assert!(accounts.ensure_first_admin().unwrap().is_none());
        assert_ne!(generate_password(), generate_password());
    }

    #[test]
    fn a_password_is_checked_and_nothing_else_passes() {
        let accounts = accounts();
        let password = accounts.create("wang", Role::Analyst, None).unwrap();
        let who = accounts
            .verify_password("wang", &password)
            .unwrap()
            .unwrap();
        assert_eq!(who.role, Role::Analyst);
        assert!(accounts
            .verify_password("wang", "wrong-password")
            .unwrap()
            .is_none());
        assert!(accounts.verify_password("li", &password).unwrap().is_none());
        assert!(accounts.verify_password("wang", "").unwrap().is_none());
        accounts.disable("wang").unwrap();
        assert!(accounts
            .verify_password("wang", &password)
            .unwrap()
            .is_none());
        assert!(accounts.scram_verifier("wang").unwrap().is_none());
    }

    #[test]
    fn short_passwords_and_odd_names_are_refused() {
        let accounts = accounts();
        assert!(accounts
            .create("wang", Role::Viewer, Some("short"))
            .is_err());
        assert!(accounts.create("Wang Wei", Role::Viewer, None).is_err());
        assert!(accounts.create("", Role::Viewer, None).is_err());
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn tokens_stand_for_their_account_until_it_is_disabled() {
        let accounts = accounts();
        accounts.create("grafana", Role::Viewer, None).unwrap();
        let token = accounts.issue_token("grafana", "dashboard box").unwrap();
        assert!(token.starts_with("mlk_"));
        assert_eq!(
            accounts.token_principal(&token).unwrap().unwrap().name,
            "grafana"
        );
        assert!(accounts.token_principal("mlk_forged").unwrap().is_none());
        accounts.disable("grafana").unwrap();
        assert!(accounts.token_principal(&token).unwrap().is_none());
    }

    #[test]
    fn the_scram_verifier_matches_the_password() {
        let accounts = accounts();
        let password = accounts.create("psql", Role::Analyst, None).unwrap();
        let (salt, salted) = accounts.scram_verifier("psql").unwrap().unwrap();
        let expected =
            pgwire::api::auth::sasl::scram::gen_salted_password(&password, &salt, SCRAM_ITERATIONS);
        assert_eq!(salted, expected);
    }
}
