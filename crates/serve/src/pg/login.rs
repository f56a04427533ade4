//! The PostgreSQL login: SCRAM-SHA-256 for local accounts, a clear-text password over TLS
//! checked by the directory for directory accounts (as PostgreSQL's `ldap` method), with
//! the throttle in front of both and every attempt audited ([`crate::login::Logins`]).
//!
//! pgwire's handlers do the protocol; this one picks which, by the name in the startup
//! message, and watches how it ends. A directory password is checked here first and then
//! handed to pgwire's clear-text handler through a one-shot slot, so that handler finishes
//! the login exactly as it does for any other (connection registration for cancels
//! included).

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use pgwire::api::auth::sasl::scram::ScramAuth;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::{ClientInfo, ConnectionManager, PgWireConnectionState};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::{Password as PasswordMessage, PasswordMessageFamily};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::accounts::SCRAM_ITERATIONS;
use crate::login::{Attempt, LoginRefusal, LoginSource, Logins};

use super::AccountSource;

/// The startup handler of one connection.
pub(super) struct LoginStartup {
    logins: Arc<Logins>,
    tls_available: bool,
    scram: SASLAuthStartupHandler<DefaultServerParameterProvider>,
    cleartext: CleartextPasswordAuthStartupHandler<CheckedPassword, DefaultServerParameterProvider>,
    checked: CheckedPassword,
    /// The name and its source, from the startup message.
    chosen: Mutex<Option<(String, LoginSource)>>,
}

impl LoginStartup {
    /// A handler for one connection.
    pub(super) fn new(
        logins: Arc<Logins>,
        connections: Arc<ConnectionManager>,
        tls_available: bool,
    ) -> LoginStartup {
        let mut scram = ScramAuth::new(Arc::new(AccountSource {
            accounts: logins.accounts().clone(),
        }));
        scram.set_iterations(SCRAM_ITERATIONS);
        let checked = CheckedPassword::default();
        LoginStartup {
            scram: SASLAuthStartupHandler::new(Arc::new(DefaultServerParameterProvider::default()))
                .with_scram(scram)
                .with_connection_manager(connections.clone()),
            cleartext: CleartextPasswordAuthStartupHandler::new(
                checked.clone(),
                DefaultServerParameterProvider::default(),
            )
            .with_connection_manager(connections),
            checked,
            logins,
            tls_available,
            chosen: Mutex::new(None),
        }
    }

    fn chosen(&self) -> Option<(String, LoginSource)> {
        self.chosen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl StartupHandler for LoginStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let address = client.socket_addr().ip();
        let secure = client.is_secure();
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                let name = startup.parameters.get("user").cloned().unwrap_or_default();
                let this = Attempt {
                    name: &name,
                    address,
                    channel: "pg",
                    secure,
                };
                let source = self
                    .logins
                    .begin(&this, self.tls_available)
                    .map_err(refused)?;
                *self.chosen.lock().unwrap_or_else(|p| p.into_inner()) = Some((name, source));
                match source {
                    LoginSource::Local => self.scram.on_startup(client, message).await,
                    LoginSource::Directory => self.cleartext.on_startup(client, message).await,
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(family) => {
                let Some((name, source)) = self.chosen() else {
                    return Err(PgWireError::InvalidStartupMessage);
                };
                let this = Attempt {
                    name: &name,
                    address,
                    channel: "pg",
                    secure,
                };
                match source {
                    LoginSource::Directory => self.directory(client, &this, family).await,
                    LoginSource::Local => self.local(client, &this, family).await,
                }
            }
            other => self.scram.on_startup(client, other).await,
        }
    }
}

impl LoginStartup {
    /// The directory checks the password; pgwire's clear-text handler finishes the login.
    async fn directory<C>(
        &self,
        client: &mut C,
        attempt: &Attempt<'_>,
        family: PasswordMessageFamily,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let password = family.into_password()?.password;
        self.logins
            .directory_login(attempt, &password)
            .await
            .map_err(refused)?;
        self.checked.set(password.clone());
        let message = PgWireFrontendMessage::PasswordMessageFamily(
            PasswordMessageFamily::Password(PasswordMessage::new(password)),
        );
        self.cleartext.on_startup(client, message).await
    }

    /// pgwire's SCRAM exchange; its end is counted and audited.
    async fn local<C>(
        &self,
        client: &mut C,
        attempt: &Attempt<'_>,
        family: PasswordMessageFamily,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let message = PgWireFrontendMessage::PasswordMessageFamily(family);
        let outcome = self.scram.on_startup(client, message).await;
        match &outcome {
            Err(PgWireError::InvalidPassword(_)) => {
                let refusal = LoginRefusal::WrongCredentials(
                    "wrong password, or an unknown or disabled account (SCRAM)".into(),
                );
                self.logins.record(attempt, Err(&refusal));
            }
            Ok(()) if matches!(client.state(), PgWireConnectionState::ReadyForQuery) => {
                match self.logins.accounts().principal(attempt.name) {
                    Ok(Some(principal)) => self.logins.record(attempt, Ok(&principal)),
                    _ => {
                        let refusal = LoginRefusal::WrongCredentials("disabled meanwhile".into());
                        self.logins.record(attempt, Err(&refusal));
                        return Err(refused(refusal));
                    }
                }
            }
            _ => {}
        }
        outcome
    }
}

/// A login refusal as the client sees it: `FATAL` with PostgreSQL's codes.
fn refused(refusal: LoginRefusal) -> PgWireError {
    let code = match refusal {
        LoginRefusal::WrongCredentials(_) => "28P01",
        LoginRefusal::Throttled(_) | LoginRefusal::NeedsTls { .. } => "28000",
        LoginRefusal::Unavailable(_) => "08006",
    };
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_string(),
        code.to_string(),
        refusal.shown(),
    )))
}

/// The password the directory just accepted, for pgwire's clear-text handler to compare
/// with the one the client sent (the same message): one use, then gone.
#[derive(Clone, Default)]
struct CheckedPassword(Arc<Mutex<Option<String>>>);

impl CheckedPassword {
    fn set(&self, password: String) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(password);
    }
}

impl Debug for CheckedPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckedPassword")
    }
}

#[async_trait]
impl AuthSource for CheckedPassword {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        let taken = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        // Nothing checked: a value no typed password equals (clear-text passwords are
        // strings; this one is not valid UTF-8).
        Ok(Password::new(
            None,
            taken.map_or_else(|| vec![0xff; 33], String::into_bytes),
        ))
    }
}
