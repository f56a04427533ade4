//! The gate's answers to the statements that read through a cursor or a copy: `DECLARE`
//! (its query started through the one query path), `FETCH`, `MOVE`, `CLOSE`, `COPY ...
//! TO STDOUT`, the transaction statements that end cursors, and queries of
//! `pg_cursors`. The cursors themselves are in [`super::cursors`], the copy formats in
//! [`super::copy`].

use std::borrow::Cow;
use std::sync::Arc;

use datafusion_postgres::hooks::HookClient;
use deltalake::datafusion::common::{DFSchema, ParamValues, TableReference};
use deltalake::datafusion::logical_expr::{CreateView, DdlStatement, EmptyRelation, LogicalPlan};
use deltalake::datafusion::sql::sqlparser::ast::{
    CloseCursor, DiscardObject, FetchDirection, Ident, Statement,
};
use futures::{stream, StreamExt};
use pgwire::api::portal::Format;
use pgwire::api::results::{QueryResponse, Response, Tag};
use pgwire::api::store::PortalStore;
use pgwire::api::ClientInfo;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::types::format::FormatOptions;

use super::copy::{copy_out, CopyFormat};
use super::cursors::{count_of, cursor_name, describing, skip, take, Count};
use super::gate::{encode_batches, GateHook};
use super::{pg_cursors, pg_error, refusal};
use crate::accounts::Principal;
use crate::query::{Channel, RowStream};

/// The plan a `DECLARE` or `COPY` was given at Parse and the parameters bound to it
/// (`None`: the simple protocol, where the statement is planned as it runs).
pub(super) type Bound<'a> = Option<(&'a LogicalPlan, &'a ParamValues)>;

/// The read [`GateHook::parse_read`] wrapped at Parse, with the parameters of Execute.
pub(super) fn bound<'a>(plan: &'a LogicalPlan, params: &'a ParamValues) -> Bound<'a> {
    match plan {
        LogicalPlan::Ddl(DdlStatement::CreateView(view)) => Some((view.input.as_ref(), params)),
        _ => None,
    }
}

/// A plan of no rows and no columns: what Parse answers for statements that return none.
pub(super) fn no_rows() -> LogicalPlan {
    LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(DFSchema::empty()),
    })
}

impl GateHook {
    /// `DECLARE`: starts the cursor's query through the query path and keeps its rows.
    pub(super) async fn declare(
        &self,
        who: &Principal,
        statement: &Statement,
        bound: Bound<'_>,
        client: &mut dyn HookClient,
    ) -> PgWireResult<Response> {
        let declared = super::cursors::declared(statement)?;
        let peer = client.socket_addr();
        if !declared.holdable && !self.cursors.in_block(peer) {
            return Err(refusal(
                "25P01",
                "DECLARE CURSOR can only be used in transaction blocks (BEGIN first, or \
                 declare it WITH HOLD)"
                    .to_string(),
            ));
        }
        if self.cursors.exists(peer, &declared.name) {
            return Err(refusal(
                "42P03",
                format!("cursor \"{}\" already exists", declared.name),
            ));
        }
        let rows = self.start_read(who, statement, bound).await?;
        self.cursors
            .open(peer, statement, rows, client.portal_store())?;
        Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
    }

    /// `COPY ... TO STDOUT`: the query path's rows in a copy format. Any other `COPY` is
    /// refused (and audited) by the query path.
    pub(super) async fn copy(
        &self,
        who: &Principal,
        statement: &Statement,
        bound: Bound<'_>,
        client: &mut dyn HookClient,
    ) -> PgWireResult<Response> {
        if !crate::query::is_copy_to_client(statement) {
            // Refused and audited there; no rows are ever started.
            self.start_read(who, statement, bound).await?;
        }
        let format = CopyFormat::of(statement).map_err(|m| refusal("22023", m))?;
        let cancel = Some(self.running.signal(&*client));
        let rows = self
            .start_read(who, statement, bound)
            .await?
            .cancelled_by(cancel);
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        Ok(Response::CopyOut(copy_out(rows, format, options)?))
    }

    /// Starts the read inside a `DECLARE` or `COPY` through the query path: as written
    /// (simple protocol), or as planned at Parse with the parameters bound at Bind.
    async fn start_read(
        &self,
        who: &Principal,
        statement: &Statement,
        bound: Bound<'_>,
    ) -> PgWireResult<RowStream> {
        let started = match bound {
            Some((plan, params)) => {
                self.queries
                    .start_prepared(who, Channel::Pg, statement, plan, params, self.row_limit)
                    .await
            }
            None => {
                self.queries
                    .start(who, Channel::Pg, statement, self.row_limit)
                    .await
            }
        };
        started.map_err(pg_error)
    }

    /// Parse of a `DECLARE` or `COPY` that reads a query (`None` for other statements):
    /// the query is admitted and planned with its parameters, and wrapped so the statement
    /// describes no rows (a `DECLARE` returns none; psycopg requires so) while its
    /// parameters' types are still found. Execute unwraps it ([`bound`]).
    pub(super) async fn parse_read(
        &self,
        statement: &Statement,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        if !matches!(
            statement,
            Statement::Declare { .. } | Statement::Copy { .. }
        ) {
            return None;
        }
        crate::query::read_of(statement)?;
        let who = match super::principal(&self.accounts, client) {
            Ok(who) => who,
            Err(e) => return Some(Err(e)),
        };
        let planned = self.queries.plan_for(&who, Channel::Pg, statement).await;
        Some(planned.map_err(pg_error).map(|plan| {
            LogicalPlan::Ddl(DdlStatement::CreateView(CreateView {
                name: TableReference::bare("medlake_read"),
                input: Arc::new(plan),
                or_replace: false,
                definition: None,
                temporary: true,
            }))
        }))
    }

    /// Session control the gate answers itself once admitted: `FETCH`, `CLOSE`,
    /// `DISCARD`, and the transaction statements it follows (which the hooks after it then answer: `None`).
    /// `format` is the extended protocol's result format for a `FETCH`.
    pub(super) async fn control(
        &self,
        statement: &Statement,
        client: &mut dyn HookClient,
        format: Option<Format>,
    ) -> Option<PgWireResult<Response>> {
        match statement {
            Statement::Fetch {
                name, direction, ..
            } => Some(self.fetch(name, direction, client, format).await),
            Statement::Close { cursor } => {
                let closed =
                    self.cursors
                        .close(client.socket_addr(), cursor, client.portal_store());
                Some(closed.map(|()| Response::Execution(Tag::new("CLOSE CURSOR"))))
            }
            // `DISCARD ALL` (connection pools reset a connection with it) closes every
            // cursor, as in PostgreSQL; plans, sequences and temporary tables medlake has
            // none of, so the other kinds have nothing to discard.
            Statement::Discard { object_type } => {
                if matches!(object_type, DiscardObject::ALL) {
                    let _ = self.cursors.close(
                        client.socket_addr(),
                        &CloseCursor::All,
                        client.portal_store(),
                    );
                }
                Some(Ok(Response::Execution(Tag::new(&format!(
                    "DISCARD {object_type}"
                )))))
            }
            Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. } => {
                self.cursors.follow_transaction(
                    client.socket_addr(),
                    statement,
                    client.portal_store(),
                );
                None
            }
            _ => None,
        }
    }

    /// `FETCH`: the next rows of a cursor (or of a protocol-level portal of that name).
    async fn fetch(
        &self,
        name: &Ident,
        direction: &FetchDirection,
        client: &mut dyn HookClient,
        format: Option<Format>,
    ) -> PgWireResult<Response> {
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        let Some(cursor) = self.cursors.get(client.socket_addr(), &cursor_name(name)) else {
            return portal_rows(client, name, direction, false).await;
        };
        let mut cursor = in_use(cursor, name)?;
        let count = count_of(direction, cursor.position())?;
        cursor.restart_clock();
        let schema = cursor.schema();
        let format = format.unwrap_or(if cursor.binary() {
            Format::UnifiedBinary
        } else {
            Format::UnifiedText
        });
        let rows = take(cursor, count);
        let mut response = if count.rows.is_some() {
            // A counted FETCH is read here, so the cursor is free for the next statement
            // of the same query message (their answers are all sent after the last one).
            let batches: Vec<_> = rows.collect().await;
            let batches = batches
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
            encode_batches(
                schema,
                stream::iter(batches.into_iter().map(Ok)),
                &format,
                options,
            )?
        } else {
            // FETCH ALL streams, holding the cursor until its last row is sent.
            encode_batches(schema, rows, &format, options)?
        };
        response.set_command_tag("FETCH");
        Ok(Response::Query(response))
    }

    /// `MOVE` (the simple protocol's, see [`super::unparsable`]): skips rows of a cursor.
    pub(super) async fn move_cursor(
        &self,
        who: &Principal,
        fetch: &Statement,
        client: &mut dyn HookClient,
    ) -> PgWireResult<Response> {
        self.admit_control(who, fetch)?;
        let Statement::Fetch {
            name, direction, ..
        } = fetch
        else {
            return Err(refusal(
                "42601",
                "MOVE [direction] [FROM | IN] cursor".to_string(),
            ));
        };
        let Some(cursor) = self.cursors.get(client.socket_addr(), &cursor_name(name)) else {
            return portal_rows(client, name, direction, true).await;
        };
        let mut cursor = in_use(cursor, name)?;
        let count = count_of(direction, cursor.position())?;
        cursor.restart_clock();
        let moved = skip(cursor, count).await?;
        Ok(Response::Execution(Tag::new("MOVE").with_rows(moved)))
    }

    /// The plan Parse answers for a cursor or copy statement (`None`: not one of them):
    /// a `FETCH` describes its cursor's columns, the others return no rows.
    pub(super) fn parse_plan(
        &self,
        statement: &Statement,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        match statement {
            Statement::Fetch { name, .. } => {
                let described = match self.cursors.get(client.socket_addr(), &cursor_name(name)) {
                    Some(cursor) => match cursor.try_lock() {
                        Ok(cursor) => describing(&cursor.schema()),
                        Err(_) => Ok(no_rows()),
                    },
                    None => Ok(no_rows()),
                };
                Some(described)
            }
            Statement::Declare { .. } | Statement::Close { .. } | Statement::Copy { .. } => {
                Some(Ok(no_rows()))
            }
            _ => None,
        }
    }

    /// `statement` with `pg_cursors` made of the connection's cursors, if it reads it.
    pub(super) fn with_pg_cursors<'a>(
        &self,
        statement: &'a Statement,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> Cow<'a, Statement> {
        if !pg_cursors::reads_pg_cursors(statement) {
            return Cow::Borrowed(statement);
        }
        let listed = self.cursors.listing(client.socket_addr());
        Cow::Owned(pg_cursors::with_cursors(statement, &listed))
    }
}

/// The cursor, or 55006 when an earlier statement of the same query message still
/// streams it (a `FETCH ALL` whose rows are not sent yet).
fn in_use(
    cursor: Arc<tokio::sync::Mutex<super::cursors::Cursor>>,
    name: &Ident,
) -> PgWireResult<tokio::sync::OwnedMutexGuard<super::cursors::Cursor>> {
    cursor.try_lock_owned().map_err(|_| {
        refusal(
            "55006",
            format!(
                "cursor \"{}\" is in use by a FETCH ALL whose rows are still being sent",
                cursor_name(name)
            ),
        )
    })
}

/// Rows a protocol-level portal is read in per step: its rows are buffered per fetch by
/// pgwire, so a huge count is read a bounded step at a time.
const PORTAL_STEP: usize = 10_000;

/// `FETCH` or `MOVE` (`discard`) on a protocol-level portal: a driver's Bind that was
/// executed with a row limit and is suspended.
async fn portal_rows(
    client: &mut dyn HookClient,
    name: &Ident,
    direction: &FetchDirection,
    discard: bool,
) -> PgWireResult<Response> {
    let name = cursor_name(name);
    let no_cursor = || refusal("34000", format!("cursor \"{name}\" does not exist"));
    let portal = client
        .portal_store()
        .get_portal(&name)
        .and_then(|entry| entry.value().cloned())
        .ok_or_else(no_cursor)?;
    let Count { skip, rows } = count_of(direction, 0)?;
    let mut wanted = skip.saturating_add(rows.unwrap_or(usize::MAX));
    let (mut seen, mut kept, mut schema) = (0usize, Vec::new(), None);
    while wanted > 0 {
        let step = wanted.min(PORTAL_STEP);
        let fetched = portal.fetch(step).await.map_err(|e| match e {
            PgWireError::PortalNotStarted => no_cursor(),
            other => other,
        })?;
        let mut response = fetched.response;
        schema.get_or_insert_with(|| response.row_schema());
        let data_rows = response.data_rows();
        let mut got = 0;
        while let Some(row) = data_rows.next().await {
            let row = row?;
            got += 1;
            if seen >= skip && !discard {
                kept.push(row);
            }
            seen += 1;
        }
        wanted -= got.min(wanted);
        if !fetched.suspended || got < step {
            break;
        }
    }
    if discard {
        return Ok(Response::Execution(
            Tag::new("MOVE").with_rows(seen.saturating_sub(skip)),
        ));
    }
    let schema = schema.unwrap_or_else(|| Arc::new(Vec::new()));
    let mut response = QueryResponse::new(schema, stream::iter(kept.into_iter().map(Ok)));
    response.set_command_tag("FETCH");
    Ok(Response::Query(response))
}
