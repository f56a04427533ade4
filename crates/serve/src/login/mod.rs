//! Password logins, the one door for both fronts (the web login form and the PostgreSQL
//! protocol): which source checks a name's password, the lockout in front of it, and the
//! audit row of every attempt.
//!
//! - A name that is a local account (made with `medlake users add`) is checked against
//!   its own verifiers: Argon2id at the web login, SCRAM-SHA-256 over PostgreSQL. Local
//!   accounts win: a directory entry of the same name never takes one over.
//! - Any other name goes to the directory ([`directory`]), when one is configured. The
//!   password has to reach the directory as it was typed, so it travels only over TLS:
//!   HTTPS for the web login, `sslmode=require`/`verify-full` for PostgreSQL (as
//!   PostgreSQL's own `ldap` method, which also takes the password in clear text). A
//!   directory login makes or refreshes a *directory account* in the catalog (role,
//!   groups, attributes as the directory says at that login); its stored verifiers are
//!   random, so no password opens it except through the directory.
//! - Before any password is checked, the [`throttle`] may refuse the attempt; every
//!   attempt, let in or refused, is written to the login audit (channel, name, address,
//!   outcome, reason), never with the password.

pub mod directory;
pub mod throttle;

use std::net::IpAddr;
use std::sync::Arc;

use medlake_catalog::LoginEvent;
use tracing::{info, warn};

use crate::accounts::{Accounts, Principal};
pub use directory::{Directory, DirectoryOptions, DirectoryPerson, DirectoryRefusal};
pub use throttle::{LoginCounts, Throttle, ThrottleRules, Throttled};

/// Which source checks a name's password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginSource {
    /// A local account: medlake's own verifiers.
    Local,
    /// The directory (LDAP).
    Directory,
}

/// Why a login was refused. The message a client sees is [`LoginRefusal::shown`]; the
/// audit keeps the precise reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Unknown name, wrong password, disabled account.
    WrongCredentials(String),
    /// Locked or blocked by the throttle.
    Throttled(Throttled),
    /// A directory login over a connection without TLS.
    NeedsTls {
        /// Whether this front has TLS at all (the advice differs).
        tls_available: bool,
    },
    /// The directory could not be asked, or is not configured for a directory account.
    Unavailable(String),
}

impl LoginRefusal {
    /// What the person at the other end is told: nothing that tells an unknown name from
    /// a wrong password or a disabled account.
    pub fn shown(&self) -> String {
        match self {
            LoginRefusal::WrongCredentials(_) => {
                "wrong account name or password (or the account is disabled)".to_string()
            }
            LoginRefusal::Throttled(t) => t.to_string(),
            LoginRefusal::NeedsTls {
                tls_available: true,
            } => "this is a directory (LDAP) account, whose password travels only over TLS: \
                  connect with TLS (psql: sslmode=verify-full; the web UI: https://)"
                .to_string(),
            LoginRefusal::NeedsTls {
                tls_available: false,
            } => "this is a directory (LDAP) account, whose password travels only over TLS, \
                  and this server has no TLS configured ([serve.tls] cert and key)"
                .to_string(),
            LoginRefusal::Unavailable(_) => {
                "the login could not be checked now; try again later".to_string()
            }
        }
    }

    /// The reason the audit records.
    fn audited(&self) -> String {
        match self {
            LoginRefusal::WrongCredentials(why) => why.clone(),
            LoginRefusal::Throttled(t) => t.to_string(),
            LoginRefusal::NeedsTls { .. } => "directory login without TLS".to_string(),
            LoginRefusal::Unavailable(why) => why.clone(),
        }
    }

    /// Whether it counts as a failed guess for the throttle.
    fn is_failure(&self) -> bool {
        matches!(self, LoginRefusal::WrongCredentials(_))
    }
}

/// One attempt: who, from where, over what.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The name typed.
    pub name: &'a str,
    /// The client's address.
    pub address: IpAddr,
    /// `http` or `pg`.
    pub channel: &'static str,
    /// Whether the connection is TLS.
    pub secure: bool,
}

/// The login door (see the module doc).
pub struct Logins {
    accounts: Accounts,
    directory: Option<Arc<Directory>>,
    throttle: Throttle,
}

impl std::fmt::Debug for Logins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Logins")
    }
}

impl Logins {
    /// Logins over these accounts, with an optional directory and these throttle rules.
    pub fn new(accounts: Accounts, directory: Option<Directory>, rules: ThrottleRules) -> Logins {
        Logins {
            accounts,
            directory: directory.map(Arc::new),
            throttle: Throttle::new(rules),
        }
    }

    /// The accounts behind the door.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// Which source checks `name`'s password.
    pub fn source(&self, name: &str) -> crate::Result<LoginSource> {
        Ok(match self.accounts.catalog().account(name)? {
            Some(account) if account.source == "local" => LoginSource::Local,
            Some(_) => LoginSource::Directory,
            None if self.directory.is_some() => LoginSource::Directory,
            None => LoginSource::Local,
        })
    }

    /// The throttle's verdict before anything is checked; a refusal is audited.
    fn admit(&self, attempt: &Attempt<'_>) -> Result<(), LoginRefusal> {
        self.throttle
            .check(attempt.name, attempt.address)
            .map_err(LoginRefusal::Throttled)
            .inspect_err(|refusal| self.audit(attempt, Err(refusal)))
    }

    /// The first step of every login, before a password is asked for: the throttle, then
    /// the source that checks the name's password. A directory name over a connection
    /// without TLS is refused here, so its password is never sent in the clear. A refusal
    /// is recorded.
    pub fn begin(
        &self,
        attempt: &Attempt<'_>,
        tls_available: bool,
    ) -> Result<LoginSource, LoginRefusal> {
        self.admit(attempt)?;
        let chosen = match self.source(attempt.name) {
            Ok(LoginSource::Directory) if !attempt.secure => {
                Err(LoginRefusal::NeedsTls { tls_available })
            }
            Ok(source) => Ok(source),
            Err(e) => Err(LoginRefusal::Unavailable(e.to_string())),
        };
        if let Err(refusal) = &chosen {
            self.record(attempt, Err(refusal));
        }
        chosen
    }

    /// A directory login, after [`begin`](Self::begin) chose the directory: the directory
    /// checks the password and the directory account is refreshed. Counted and audited.
    pub async fn directory_login(
        &self,
        attempt: &Attempt<'_>,
        password: &str,
    ) -> Result<Principal, LoginRefusal> {
        let outcome = self.directory_login_unrecorded(attempt, password).await;
        self.record(attempt, outcome.as_ref());
        outcome
    }

    async fn directory_login_unrecorded(
        &self,
        attempt: &Attempt<'_>,
        password: &str,
    ) -> Result<Principal, LoginRefusal> {
        if !crate::accounts::valid_name(attempt.name) {
            return Err(LoginRefusal::WrongCredentials(
                "not a usable account name (lowercase letters, digits, '_', '.', '-')".into(),
            ));
        }
        let Some(directory) = &self.directory else {
            return Err(LoginRefusal::Unavailable(
                "a directory account, and no directory is configured ([auth.ldap])".into(),
            ));
        };
        match directory.login(attempt.name, password).await {
            Ok(person) => self
                .accounts
                .refresh_directory_account(attempt.name, &person)
                .map_err(|e| LoginRefusal::Unavailable(e.to_string()))?
                .ok_or_else(|| {
                    LoginRefusal::WrongCredentials("disabled in medlake (users disable)".into())
                }),
            Err(DirectoryRefusal::Unavailable(why)) => {
                warn!(error = %why, "the directory is unavailable");
                Err(LoginRefusal::Unavailable(format!("directory: {why}")))
            }
            Err(refusal @ (DirectoryRefusal::Disabled | DirectoryRefusal::NoRole)) => {
                // The directory no longer lets them in: end what the last login granted.
                let _ = self.accounts.disable_directory_account(attempt.name);
                Err(LoginRefusal::WrongCredentials(format!(
                    "directory: {refusal}"
                )))
            }
            Err(refusal) => Err(LoginRefusal::WrongCredentials(format!(
                "directory: {refusal}"
            ))),
        }
    }

    /// The web login: the throttle, then the name's source checks the password.
    pub async fn web_login(
        &self,
        attempt: &Attempt<'_>,
        password: String,
        tls_available: bool,
    ) -> Result<Principal, LoginRefusal> {
        if self.begin(attempt, tls_available)? == LoginSource::Directory {
            return self.directory_login(attempt, &password).await;
        }
        let accounts = self.accounts.clone();
        let name = attempt.name.to_string();
        // Argon2 takes tens of milliseconds of CPU: off the async workers.
        let checked =
            tokio::task::spawn_blocking(move || accounts.verify_password(&name, &password)).await;
        let outcome = match checked {
            Ok(Ok(Some(principal))) => Ok(principal),
            Ok(Ok(None)) => Err(LoginRefusal::WrongCredentials(
                "wrong password, or an unknown or disabled account".into(),
            )),
            Ok(Err(e)) => Err(LoginRefusal::Unavailable(e.to_string())),
            Err(e) => Err(LoginRefusal::Unavailable(e.to_string())),
        };
        self.record(attempt, outcome.as_ref());
        outcome
    }

    /// Counts and audits the end of an attempt another component checked (SCRAM).
    pub fn record(&self, attempt: &Attempt<'_>, outcome: Result<&Principal, &LoginRefusal>) {
        medlake_ops::figures::global().login(attempt.channel, outcome.is_ok());
        match outcome {
            Ok(principal) => {
                self.throttle.succeeded(attempt.name);
                info!(account = %principal.name, channel = attempt.channel, "login");
            }
            Err(refusal) => {
                if refusal.is_failure() {
                    self.throttle.failed(attempt.name, attempt.address);
                }
                info!(channel = attempt.channel, "login refused");
            }
        }
        self.audit(attempt, outcome);
    }

    fn audit(&self, attempt: &Attempt<'_>, outcome: Result<&Principal, &LoginRefusal>) {
        let reason = outcome.err().map(LoginRefusal::audited);
        let address = attempt.address.to_string();
        let event = LoginEvent {
            account: attempt.name,
            channel: attempt.channel,
            address: &address,
            outcome: if outcome.is_ok() { "ok" } else { "refused" },
            reason: reason.as_deref(),
        };
        if let Err(e) = self.accounts.catalog().audit_login(&event) {
            warn!(error = %e, "cannot write a login's audit row");
        }
    }

    /// The latest login attempts, newest first.
    pub fn recent(&self, limit: usize) -> crate::Result<Vec<medlake_catalog::LoginRecord>> {
        Ok(self.accounts.catalog().login_records(None, limit)?)
    }

    /// The throttle's figures.
    pub fn counts(&self) -> LoginCounts {
        self.throttle.counts()
    }
}
