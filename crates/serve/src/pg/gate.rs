//! The gate: the first hook of every statement a PostgreSQL client sends, so that none
//! reaches the engine except through the one query path.
//!
//! - Session control (`SET`, `SHOW` of a variable, transactions, savepoints) is admitted
//!   and audited here, then answered by the hooks after this one; `FETCH`, `MOVE` and
//!   `CLOSE` are answered here ([`super::gate_cursors`]).
//! - `DECLARE ... CURSOR` and `COPY ... TO STDOUT` start their query through
//!   [`QueryService::start`] (which plans the query inside them) and keep or copy its rows.
//! - Every other statement of the simple protocol runs through [`QueryService::start`] and
//!   its rows stream back as text.
//! - At Parse (extended protocol) a statement is admitted and planned through
//!   [`QueryService::plan_for`]; at Execute it runs through
//!   [`QueryService::start_prepared`] with the parameters datafusion-postgres decoded, in
//!   the result format [`super::extended`] passed along.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::QueryHook;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::common::ParamValues;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::datafusion::sql::sqlparser::ast::Statement;
use futures::{stream, Stream, StreamExt};
use pgwire::api::portal::Format;
use pgwire::api::results::{QueryResponse, Response, Tag};
use pgwire::api::ClientInfo;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::types::format::FormatOptions;

use super::{pg_error, principal};
use crate::accounts::{Accounts, Principal};
use crate::query::{is_session_control, Channel, QueryService, RowStream};

/// Admits, runs and audits every statement through the one query path.
pub(super) struct GateHook {
    pub(super) queries: Arc<QueryService>,
    pub(super) accounts: Accounts,
    pub(super) row_limit: Option<usize>,
    pub(super) running: Arc<super::cancel::RunningStatements>,
    pub(super) cursors: Arc<super::cursor_registry::Cursors>,
}

impl GateHook {
    pub(super) fn principal(
        &self,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> PgWireResult<Principal> {
        principal(&self.accounts, client)
    }

    /// Admits and audits a session-control statement the later hooks answer.
    pub(super) fn admit_control(&self, who: &Principal, statement: &Statement) -> PgWireResult<()> {
        self.queries
            .admit_control(who, Channel::Pg, statement)
            .map_err(pg_error)
    }

    /// Runs a prepared statement through the query path, its rows encoded in `format`.
    pub(super) async fn run_prepared(
        &self,
        who: &Principal,
        statement: &Statement,
        plan: &LogicalPlan,
        params: &ParamValues,
        (format, options): (&Format, Arc<FormatOptions>),
        cancel: Option<futures::channel::oneshot::Receiver<&'static str>>,
    ) -> PgWireResult<Response> {
        let rows = self
            .queries
            .start_prepared(who, Channel::Pg, statement, plan, params, self.row_limit)
            .await
            .map_err(pg_error)?
            .cancelled_by(cancel);
        Ok(Response::Query(encode(rows, format, options)?))
    }
}

/// A Bind's result formats must be none, one for all columns, or one per column
/// (PostgreSQL's rule); any other count is refused before a column is encoded.
pub(super) fn check_formats(format: &Format, columns: usize) -> PgWireResult<()> {
    match format {
        Format::Individual(codes) if codes.len() > 1 && codes.len() != columns => {
            Err(super::refusal(
                "08P01",
                format!(
                    "bind message has {} result formats but the result has {columns} columns",
                    codes.len()
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// A query response whose rows are encoded batch by batch as the client reads them.
pub(super) fn encode(
    rows: RowStream,
    format: &Format,
    options: Arc<FormatOptions>,
) -> PgWireResult<QueryResponse> {
    encode_batches(rows.schema(), rows, format, options)
}

/// The same for any stream of batches with `schema` (a cursor's `FETCH`).
pub(super) fn encode_batches(
    schema: SchemaRef,
    rows: impl Stream<Item = Result<RecordBatch, DataFusionError>> + Send + 'static,
    format: &Format,
    options: Arc<FormatOptions>,
) -> PgWireResult<QueryResponse> {
    check_formats(format, schema.fields().len())?;
    let fields = Arc::new(arrow_schema_to_pg_fields(&schema, format, Some(options))?);
    let encoded = fields.clone();
    let data_rows = rows
        .map(
            move |batch| -> Box<dyn Iterator<Item = PgWireResult<_>> + Send> {
                match batch {
                    Ok(batch) => encode_recordbatch(encoded.clone(), batch),
                    Err(e) => Box::new(std::iter::once(Err(PgWireError::ApiError(Box::new(e))))),
                }
            },
        )
        .flat_map(stream::iter);
    Ok(QueryResponse::new(fields, data_rows))
}

#[async_trait]
impl QueryHook for GateHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let info: &(dyn ClientInfo + Send + Sync) = &*client;
        let who = match self.principal(info) {
            Ok(who) => who,
            Err(e) => return Some(Err(e)),
        };
        match statement {
            Statement::Declare { .. } => {
                return Some(self.declare(&who, statement, None, client).await)
            }
            Statement::Copy { .. } => return Some(self.copy(&who, statement, None, client).await),
            _ => {}
        }
        if is_session_control(statement) {
            if let Err(e) = self.admit_control(&who, statement) {
                return Some(Err(e));
            }
            // FETCH and CLOSE are answered here, the rest by the hooks after this one.
            return self.control(statement, client, None).await;
        }
        let statement = self.with_pg_cursors(statement, info);
        let cancel = Some(self.running.signal(&*client));
        let rows = match self
            .queries
            .start(&who, Channel::Pg, &statement, self.row_limit)
            .await
        {
            Ok(rows) => rows.cancelled_by(cancel),
            Err(e) => return Some(Err(pg_error(e))),
        };
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        Some(encode(rows, &Format::UnifiedText, options).map(Response::Query))
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        // A cursor's or copy's query is admitted and planned with its parameters.
        if let Some(plan) = self.parse_read(statement, client).await {
            return Some(plan);
        }
        if let Some(plan) = self.parse_plan(statement, client) {
            return Some(plan);
        }
        if is_session_control(statement) {
            // Planned by the hooks after this one; admitted and audited at Execute.
            return None;
        }
        let who = match self.principal(client) {
            Ok(who) => who,
            Err(e) => return Some(Err(e)),
        };
        let statement = self.with_pg_cursors(statement, client);
        let planned = self.queries.plan_for(&who, Channel::Pg, &statement).await;
        Some(planned.map_err(pg_error))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        logical_plan: &LogicalPlan,
        params: &ParamValues,
        _session_context: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let info: &(dyn ClientInfo + Send + Sync) = &*client;
        let who = match self.principal(info) {
            Ok(who) => who,
            Err(e) => return Some(Err(e)),
        };
        let bound = super::gate_cursors::bound(logical_plan, params);
        match statement {
            Statement::Declare { .. } => {
                return Some(self.declare(&who, statement, bound, client).await)
            }
            Statement::Copy { .. } => return Some(self.copy(&who, statement, bound, client).await),
            _ => {}
        }
        let format = super::extended::result_format(info);
        if is_session_control(statement) {
            if let Err(e) = self.admit_control(&who, statement) {
                return Some(Err(e));
            }
            return self.control(statement, client, format).await;
        }
        let Some(format) = format else {
            return Some(Err(super::refusal(
                "XX000",
                "internal: no result format for this Execute".to_string(),
            )));
        };
        // `pg_cursors` is read as it is now, not as it was when the statement was
        // prepared (drivers keep prepared statements for reuse).
        let fresh;
        let (statement, logical_plan) = if super::pg_cursors::reads_pg_cursors(statement) {
            let rewritten = self.with_pg_cursors(statement, info).into_owned();
            match self.queries.plan_for(&who, Channel::Pg, &rewritten).await {
                Ok(plan) => {
                    fresh = (rewritten, plan);
                    (&fresh.0, &fresh.1)
                }
                Err(e) => return Some(Err(pg_error(e))),
            }
        } else {
            (statement, logical_plan)
        };
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        let cancel = Some(self.running.signal(info));
        let response = self
            .run_prepared(
                &who,
                statement,
                logical_plan,
                params,
                (&format, options),
                cancel,
            )
            .await;
        Some(response)
    }
}

/// Savepoints in a read-only server: nothing to undo, so they are acknowledged. Drivers
/// use them around their own catalog reads (psycopg's type lookups, SQLAlchemy's nested
/// transactions); datafusion-postgres' transaction hook would end the whole transaction on
/// `ROLLBACK TO SAVEPOINT`.
pub(super) struct SavepointHook;

impl SavepointHook {
    pub(super) fn tag(statement: &Statement) -> Option<&'static str> {
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
        Self::tag(statement).map(|_| Ok(super::gate_cursors::no_rows()))
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
