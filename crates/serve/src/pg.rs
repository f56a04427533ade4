//! The PostgreSQL wire protocol front: psql, DBeaver, Grafana, Superset and drivers
//! (psycopg, JDBC, SQLAlchemy) connect here.
//!
//! Logins are checked with SCRAM-SHA-256 against the accounts in the catalog; statements
//! are parsed and planned by datafusion-postgres (which also answers the `pg_catalog`
//! introspection those tools send) after [`GateHook`] has admitted them through the one
//! query path.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::arrow_pg::datatypes::df::encode_dataframe;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::{DfSessionService, QueryHook, ServerOptions};
use deltalake::datafusion::common::DFSchema;
use deltalake::datafusion::common::ParamValues;
use deltalake::datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::datafusion::sql::parser::Statement as DfStatement;
use deltalake::datafusion::sql::sqlparser::ast::Statement;
use pgwire::api::auth::sasl::scram::ScramAuth;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use pgwire::api::portal::Format;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{Response, Tag};
use pgwire::api::{ClientInfo, ConnectionManager, PgWireServerHandlers, METADATA_USER};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::types::format::FormatOptions;

use crate::accounts::{fill_random, Accounts, Principal, SCRAM_ITERATIONS};
use crate::compat;
use crate::query::{Channel, QueryError, QueryService};
use crate::{Result, ServeError};

/// Serves the PostgreSQL protocol on `host:port` until the process ends.
pub async fn serve(
    queries: Arc<QueryService>,
    accounts: Accounts,
    host: &str,
    port: u16,
) -> Result<()> {
    let hooks: Vec<Arc<dyn QueryHook>> = vec![
        Arc::new(GateHook {
            queries: queries.clone(),
            accounts: accounts.clone(),
        }),
        Arc::new(SavepointHook),
        Arc::new(CursorStatementHook),
        Arc::new(SetShowHook),
        Arc::new(TransactionStatementHook),
    ];
    let connections = Arc::new(ConnectionManager::new());
    let front = Arc::new(PgFront {
        session: Arc::new(DfSessionService::new_with_hooks(queries.context(), hooks)),
        accounts,
        cancel: Arc::new(DefaultCancelHandler::new(connections.clone())),
        connections,
    });
    let options = ServerOptions::new()
        .with_host(host.to_string())
        .with_port(port);
    datafusion_postgres::serve_with_handlers(front, &options)
        .await
        .map_err(|e| ServeError::Listen {
            what: "PostgreSQL",
            addr: format!("{host}:{port}"),
            reason: e.to_string(),
        })
}

/// The handlers of one server: SCRAM logins, datafusion-postgres for statements.
struct PgFront {
    session: Arc<DfSessionService>,
    accounts: Accounts,
    cancel: Arc<DefaultCancelHandler>,
    connections: Arc<ConnectionManager>,
}

impl PgWireServerHandlers for PgFront {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.session.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.session.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        // One per connection: the handler holds the SASL exchange's state.
        let mut scram = ScramAuth::new(Arc::new(AccountSource {
            accounts: self.accounts.clone(),
        }));
        scram.set_iterations(SCRAM_ITERATIONS);
        Arc::new(
            SASLAuthStartupHandler::new(Arc::new(DefaultServerParameterProvider::default()))
                .with_scram(scram)
                .with_connection_manager(self.connections.clone()),
        )
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

/// Admits every statement of a PostgreSQL client through [`QueryService::admit`].
struct GateHook {
    queries: Arc<QueryService>,
    accounts: Accounts,
}

impl GateHook {
    fn principal(&self, client: &(dyn ClientInfo + Send + Sync)) -> PgWireResult<Principal> {
        let name = client
            .metadata()
            .get(METADATA_USER)
            .cloned()
            .unwrap_or_default();
        self.accounts
            .principal(&name)
            .map_err(|e| PgWireError::ApiError(Box::new(e)))?
            .ok_or_else(|| refusal("28000", "the account is unknown or disabled".to_string()))
    }

    fn check(
        &self,
        client: &(dyn ClientInfo + Send + Sync),
        statement: &Statement,
        audit: bool,
    ) -> PgWireResult<()> {
        let who = self.principal(client)?;
        match self.queries.admit(&who, Channel::Pg, statement) {
            Ok(()) => {
                if audit {
                    self.queries.audit(
                        &who,
                        Channel::Pg,
                        &statement.to_string(),
                        "admitted",
                        (None, None),
                        None,
                    );
                }
                Ok(())
            }
            Err(QueryError::Refused(m)) => Err(refusal("42501", m)),
            Err(e) => Err(refusal("42000", e.to_string())),
        }
    }
}

/// Runs a statement the compatibility rewrite changed, as datafusion-postgres would have
/// run the original.
async fn run_rewritten(
    statement: &Statement,
    session_context: &SessionContext,
    client: &mut dyn HookClient,
) -> PgWireResult<Response> {
    let frame = session_context
        .sql(&statement.to_string())
        .await
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
    let response = encode_dataframe(frame, &Format::UnifiedText, Some(options)).await?;
    Ok(Response::Query(response))
}

fn refusal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message,
    )))
}

#[async_trait]
impl QueryHook for GateHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        session_context: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let info: &(dyn ClientInfo + Send + Sync) = &*client;
        if let Err(e) = self.check(info, statement, true) {
            return Some(Err(e));
        }
        let rewritten = compat::rewrite(statement)?;
        Some(run_rewritten(&rewritten, session_context, client).await)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        session_context: &SessionContext,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        if let Err(e) = self.check(client, statement, false) {
            return Some(Err(e));
        }
        let rewritten = compat::rewrite(statement)?;
        let plan = session_context
            .state()
            .statement_to_plan(DfStatement::Statement(Box::new(rewritten)))
            .await
            .map_err(|e| PgWireError::ApiError(Box::new(e)));
        Some(plan)
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _logical_plan: &LogicalPlan,
        _params: &ParamValues,
        _session_context: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let info: &(dyn ClientInfo + Send + Sync) = &*client;
        self.check(info, statement, true).err().map(Err)
    }
}

/// Savepoints in a read-only server: nothing to undo, so they are acknowledged. Drivers
/// use them around their own catalog reads (psycopg's type lookups, SQLAlchemy's nested
/// transactions); datafusion-postgres' transaction hook would end the whole transaction on
/// `ROLLBACK TO SAVEPOINT`.
struct SavepointHook;

impl SavepointHook {
    fn tag(statement: &Statement) -> Option<&'static str> {
        match statement {
            Statement::Savepoint { .. } => Some("SAVEPOINT"),
            Statement::ReleaseSavepoint { .. } => Some("RELEASE"),
            Statement::Rollback {
                savepoint: Some(_), ..
            } => Some("ROLLBACK"),
            _ => None,
        }
    }
}

#[async_trait]
impl QueryHook for SavepointHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::tag(statement).map(|tag| Ok(Response::Execution(Tag::new(tag))))
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        Self::tag(statement).map(|_| {
            Ok(LogicalPlan::EmptyRelation(EmptyRelation {
                produce_one_row: false,
                schema: Arc::new(DFSchema::empty()),
            }))
        })
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _logical_plan: &LogicalPlan,
        _params: &ParamValues,
        _session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::tag(statement).map(|tag| Ok(Response::Execution(Tag::new(tag))))
    }
}
