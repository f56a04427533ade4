//! The PostgreSQL wire protocol front: psql, DBeaver, Grafana, Superset and drivers
//! (psycopg, JDBC, SQLAlchemy) connect here.
//!
//! Logins are checked with SCRAM-SHA-256 against the accounts in the catalog, or by the
//! directory (LDAP) for directory accounts ([`login`]).
//! datafusion-postgres speaks the protocol (parsing, parameter types, `SET`/`SHOW`,
//! transactions, the `pg_catalog` that BI tools introspect); every statement that reads
//! rows is admitted, planned, run and audited by the one query path ([`QueryService`]):
//!
//! - [`gate`]: the first hook of every statement. Session control (`SET`, `BEGIN`, ...) is
//!   admitted and audited, then answered by datafusion-postgres' hooks; everything else
//!   runs through [`QueryService::start`] (simple protocol) or is planned through
//!   [`QueryService::plan_for`] at Parse.
//! - [`cursors`], [`gate_cursors`], [`pg_cursors`]: `DECLARE`/`FETCH`/`MOVE`/`CLOSE`
//!   cursors that stream a query's rows a batch at a time, and the `pg_cursors` view.
//! - [`copy`]: `COPY (query) TO STDOUT` in text, csv and binary.
//! - [`extended`]: the Execute of the extended protocol, which runs the prepared statement
//!   through [`QueryService::start_prepared`] in the result format the client asked for.
//! - [`cancel`]: cancel requests reach the statement while its rows stream.
//! - [`listener`]: accepts connections (TLS when `[serve.tls]` is set) and ends a
//!   connection's statement when its client closes the connection.
//! - [`login`]: SCRAM for local accounts, the directory over TLS for directory accounts,
//!   behind the failed-login throttle.

use std::sync::Arc;

mod cancel;
mod copy;
mod cursor_registry;
mod cursors;
mod extended;
mod gate;
mod gate_cursors;
mod listener;
mod login;
mod pg_cursors;
mod unparsable;

use async_trait::async_trait;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::{DfSessionService, QueryHook};
use pgwire::api::auth::{AuthSource, LoginInfo, Password, StartupHandler};
use pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::{ClientInfo, ConnectionManager, PgWireServerHandlers, METADATA_USER};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

use crate::accounts::{fill_random, Accounts, Principal};
use crate::login::Logins;
use crate::query::{QueryError, QueryService};
use crate::{Result, ServeError};
use extended::ExtendedFront;
use gate::{GateHook, SavepointHook};
use unparsable::SimpleFront;

/// Serves the PostgreSQL protocol on `host:port` until the process ends.
///
/// `row_limit` cuts every result at that many rows (`None`: results stream whole, so a
/// client pulls a month of facts without the server holding them).
pub async fn serve(
    queries: Arc<QueryService>,
    logins: Arc<Logins>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    host: &str,
    port: u16,
    row_limit: Option<usize>,
) -> Result<()> {
    let accounts = logins.accounts().clone();
    let running = Arc::new(cancel::RunningStatements::default());
    let cursors = Arc::new(cursor_registry::Cursors::default());
    let gate = Arc::new(GateHook {
        queries: queries.clone(),
        accounts: accounts.clone(),
        row_limit,
        running: running.clone(),
        cursors: cursors.clone(),
    });
    let hooks: Vec<Arc<dyn QueryHook>> = vec![
        gate.clone(),
        Arc::new(SavepointHook),
        Arc::new(SetShowHook),
        Arc::new(TransactionStatementHook),
    ];
    let connections = Arc::new(ConnectionManager::new());
    let session = Arc::new(DfSessionService::new_with_hooks(queries.context(), hooks));
    let front = Arc::new(PgFront {
        extended: Arc::new(ExtendedFront::new(
            session.clone(),
            queries.clone(),
            accounts.clone(),
        )),
        simple: Arc::new(SimpleFront::new(session, queries, accounts, gate)),
        logins,
        tls_available: tls.is_some(),
        cancel: Arc::new(cancel::CancelFront {
            running: running.clone(),
            planning: DefaultCancelHandler::new(connections.clone()),
        }),
        connections,
    });
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|e| ServeError::Listen {
            what: "PostgreSQL",
            addr: format!("{host}:{port}"),
            reason: e.to_string(),
        })?;
    listener::accept(listener, tls, front, running, cursors).await;
    Ok(())
}

/// The handlers of one server: logins, datafusion-postgres for the protocol, the gate for
/// every statement.
struct PgFront {
    simple: Arc<SimpleFront>,
    extended: Arc<ExtendedFront>,
    logins: Arc<Logins>,
    tls_available: bool,
    cancel: Arc<cancel::CancelFront>,
    connections: Arc<ConnectionManager>,
}

impl PgWireServerHandlers for PgFront {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.simple.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.extended.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        // One per connection: the handler holds the login exchange's state.
        Arc::new(login::LoginStartup::new(
            self.logins.clone(),
            self.connections.clone(),
            self.tls_available,
        ))
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }
}

/// SCRAM verifiers from the catalog's accounts.
#[derive(Clone)]
struct AccountSource {
    accounts: Accounts,
}

impl std::fmt::Debug for AccountSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountSource")
    }
}

#[async_trait]
impl AuthSource for AccountSource {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let name = login.user().unwrap_or_default();
        let verifier = self
            .accounts
            .scram_verifier(name)
            .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
        Ok(match verifier {
            Some((salt, salted)) => Password::new(Some(salt), salted),
            // An unknown or disabled account gets a verifier no password matches, so the
            // client hears "password authentication failed" either way.
            None => {
                let mut salt = vec![0u8; 16];
                let mut salted = vec![0u8; 32];
                fill_random(&mut salt);
                fill_random(&mut salted);
                Password::new(Some(salt), salted)
            }
        })
    }
}

/// The account behind a connection, as logged in (`None`: unknown or disabled since).
fn principal(
    accounts: &Accounts,
    client: &(dyn ClientInfo + Send + Sync),
) -> PgWireResult<Principal> {
    let name = client
        .metadata()
        .get(METADATA_USER)
        .cloned()
        .unwrap_or_default();
    accounts
        .principal(&name)
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?
        .ok_or_else(|| refusal("28000", "the account is unknown or disabled".to_string()))
}

/// A query-path error as the client sees it: a refusal is `42501` (insufficient
/// privilege), a syntax error `42601`, anything else `XX000` with the engine's message.
fn pg_error(e: QueryError) -> PgWireError {
    let code = match &e {
        QueryError::Refused(_) => "42501",
        QueryError::Parse { .. } => "42601",
        QueryError::Failed(_) => "XX000",
        // query_canceled, as PostgreSQL's statement_timeout.
        QueryError::Timeout(_) => "57014",
    };
    refusal(code, e.to_string())
}

fn refusal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message,
    )))
}
