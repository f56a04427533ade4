//! Statements the protocol layer cannot parse never reach the gate (there is no statement
//! to admit), yet they are statements a client sent: [`SimpleFront`] and the extended
//! protocol's [`AuditedParser`] parse the text first, with the parser datafusion-postgres
//! uses, and audit a failure as `failed` before answering it as datafusion-postgres would.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::{DfSessionService, Parser};
use futures::Sink;
use pgwire::api::portal::Format;
use pgwire::api::query::SimpleQueryHandler;
use pgwire::api::results::{FieldInfo, Response};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use super::gate::GateHook;
use super::principal;
use crate::accounts::Accounts;
use crate::query::{on_statement_stack, Channel, QueryService};
use datafusion_postgres::hooks::HookClient;
use deltalake::datafusion::sql::sqlparser::ast::Statement;

/// The error for `sql` if the protocol layer cannot parse it, audited for the caller.
fn unparsable(
    queries: &QueryService,
    accounts: &Accounts,
    client: &(dyn ClientInfo + Send + Sync),
    sql: &str,
) -> Option<PgWireError> {
    let who = principal(accounts, client);
    // Too long to parse at all: refused (and audited with its beginning) first.
    if let Ok(who) = &who {
        if let Err(e) = queries.check_text(who, Channel::Pg, sql) {
            return Some(super::pg_error(e));
        }
    }
    // Parsed (with the front's rewrite passes), checked for depth and dropped on a stack
    // sized for the text, before datafusion-postgres parses it on a server thread.
    let limits = queries.limits();
    let verdict = on_statement_stack(sql.len(), || {
        match PostgresCompatibilityParser::new().parse(sql) {
            Err(error) => Some(Err(error)),
            Ok(statements) => statements
                .iter()
                .find_map(|s| limits.check_depth(s).err())
                .map(Ok),
        }
    });
    match (verdict, who) {
        (Ok(None), _) => None,
        (Ok(Some(Ok(too_deep))), Ok(who)) => Some(super::pg_error(queries.reject_too_deep(
            &who,
            Channel::Pg,
            too_deep,
        ))),
        (Ok(Some(Ok(too_deep))), Err(_)) => Some(super::pg_error(too_deep)),
        (Ok(Some(Err(error))), who) => {
            if let Ok(who) = who {
                queries.reject_unparsable(&who, Channel::Pg, sql, &error.to_string());
            }
            Some(PgWireError::ApiError(Box::new(error)))
        }
        (Err(failed), _) => Some(super::pg_error(failed)),
    }
}

/// The simple protocol: datafusion-postgres' handling, after the unparsable check; and
/// `MOVE`, which its parser does not know, answered by the gate.
pub(super) struct SimpleFront {
    session: Arc<DfSessionService>,
    queries: Arc<QueryService>,
    accounts: Accounts,
    gate: Arc<GateHook>,
}

impl SimpleFront {
    pub(super) fn new(
        session: Arc<DfSessionService>,
        queries: Arc<QueryService>,
        accounts: Accounts,
        gate: Arc<GateHook>,
    ) -> SimpleFront {
        SimpleFront {
            session,
            queries,
            accounts,
            gate,
        }
    }
}

/// `MOVE [direction] [FROM | IN] cursor` as the `FETCH` with the same words, which the
/// parser knows; `None` when `sql` is not one `MOVE`.
fn move_as_fetch(sql: &str) -> Option<Result<Statement, crate::query::QueryError>> {
    let text = sql.trim().trim_end_matches(';').trim_end();
    let head = text.get(..4)?;
    let rest = text.get(4..)?;
    if !head.eq_ignore_ascii_case("move") || !rest.starts_with(char::is_whitespace) {
        return None;
    }
    if rest.contains(';') {
        return None;
    }
    Some(crate::query::parse_one(&format!("FETCH{rest}")))
}

#[async_trait]
impl SimpleQueryHandler for SimpleFront {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(fetch) = move_as_fetch(query) {
            let who = principal(&self.accounts, &*client)?;
            let fetch = fetch.map_err(super::pg_error)?;
            let hook_client: &mut dyn HookClient = client;
            return Ok(vec![
                self.gate.move_cursor(&who, &fetch, hook_client).await?,
            ]);
        }
        let info: &(dyn ClientInfo + Send + Sync) = client;
        if let Some(e) = unparsable(&self.queries, &self.accounts, info, query) {
            return Err(e);
        }
        self.session.do_query(client, query).await
    }
}

/// The extended protocol's Parse: datafusion-postgres' parser, after the unparsable check.
pub(super) struct AuditedParser {
    inner: Arc<Parser>,
    queries: Arc<QueryService>,
    accounts: Accounts,
}

impl AuditedParser {
    pub(super) fn new(
        inner: Arc<Parser>,
        queries: Arc<QueryService>,
        accounts: Accounts,
    ) -> AuditedParser {
        AuditedParser {
            inner,
            queries,
            accounts,
        }
    }
}

#[async_trait]
impl QueryParser for AuditedParser {
    type Statement = <Parser as QueryParser>::Statement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        if let Some(e) = unparsable(&self.queries, &self.accounts, client, sql) {
            return Err(e);
        }
        self.inner.parse_sql(client, sql, types).await
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        self.inner.get_parameter_types(stmt)
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        if let (Some(format), (_, Some((_, plan)))) = (column_format, stmt) {
            super::gate::check_formats(format, plan.schema().fields().len())?;
        }
        self.inner.get_result_schema(stmt, column_format)
    }
}
