//! Server-side cursors: `DECLARE name [BINARY] [NO SCROLL] CURSOR [WITH | WITHOUT HOLD]
//! FOR query`, `FETCH`, `MOVE`, `CLOSE` and the `pg_cursors` view. psycopg's named
//! cursors, SQLAlchemy's `stream_results` (pandas' `read_sql(..., chunksize=n)`) and
//! psql's `FETCH_COUNT` pull large results this way, a batch at a time.
//!
//! A cursor's query runs through the one query path ([`QueryService::start`] with the
//! `DECLARE` itself, which plans the query inside it): admitted, limited and audited like
//! the same `SELECT`, its audit row written when the cursor is read to the end or closed.
//! Its rows stay a stream: a `FETCH` pulls only the batches it needs, so a cursor over ten
//! million rows holds a batch, not the result.
//!
//! The rules are PostgreSQL's, where medlake can keep them:
//!
//! - a cursor belongs to its connection, and its name is unique there (`42P03`);
//! - `WITHOUT HOLD` (the default) needs a transaction block (`25P01`) and ends with it;
//!   `WITH HOLD` outlives its `COMMIT` (a `ROLLBACK` of the transaction that declared it
//!   ends it too) until `CLOSE` or the end of the connection;
//! - cursors scan forward only: `SCROLL`, `BACKWARD`, `PRIOR`, `FIRST`, `LAST` and
//!   positions before the current row are refused (`0A000`, `55000`); `ABSOLUTE n` and
//!   `RELATIVE n` ahead of the current row skip forward;
//! - each `FETCH` or `MOVE` has its role's whole statement timeout, counted from the
//!   `FETCH` (PostgreSQL counts `statement_timeout` per statement); a cursor left idle
//!   longer than that ends, giving its running-statement slot back, and the next `FETCH`
//!   says so.
//!
//! The extended protocol's Describe of a cursor's portal (psycopg describes its named
//! cursor before fetching) and of a `FETCH` statement returns the cursor's columns; a
//! `FETCH` or `MOVE` naming a protocol-level portal (a driver's Bind) reads that portal.

use std::sync::{Arc, Weak};

use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::common::DFSchema;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use deltalake::datafusion::sql::sqlparser::ast::{
    DeclareType, FetchDirection, Ident, Statement, Value,
};
use futures::{Stream, StreamExt};
use pgwire::error::{PgWireError, PgWireResult};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use super::refusal;
use crate::query::RowStream;

/// A statement as datafusion-postgres keeps it in a connection's portal store.
pub(super) type StoredPlan = (String, Option<(Statement, LogicalPlan)>);

/// One open cursor.
pub(super) struct Cursor {
    pub(super) binary: bool,
    pub(super) schema: SchemaRef,
    /// The rows not yet fetched; `None` once read to the end or failed.
    pub(super) rows: Option<RowStream>,
    /// The rest of a batch a `FETCH` took only part of.
    pub(super) pending: Option<RecordBatch>,
    /// Why the cursor ended early (its statement timeout), told at the next `FETCH`.
    pub(super) failure: Option<String>,
    /// Rows fetched or moved over so far (`ABSOLUTE n` counts from here).
    pub(super) position: usize,
}

impl Cursor {
    /// The column names and types a `FETCH` returns.
    pub(super) fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Whether the cursor was declared `BINARY` (its rows in binary unless asked otherwise).
    pub(super) fn binary(&self) -> bool {
        self.binary
    }

    /// Rows fetched or moved over so far.
    pub(super) fn position(&self) -> usize {
        self.position
    }

    /// A `FETCH` or `MOVE` begins: the statement's timeout counts from now.
    pub(super) fn restart_clock(&mut self) {
        if let Some(rows) = self.rows.as_mut() {
            rows.restart_clock();
        }
    }
}

impl Drop for Cursor {
    /// A cursor closed before its end is audited with the rows it handed out, not the
    /// rows of the batches it took.
    fn drop(&mut self) {
        let position = self.position;
        if let Some(rows) = self.rows.as_mut() {
            rows.count_sent(position);
        }
    }
}

/// What a `DECLARE` says, checked.
pub(super) struct Declared {
    pub(super) name: String,
    pub(super) holdable: bool,
    pub(super) binary: bool,
}

/// Reads a cursor's `DECLARE`, refusing what medlake's cursors cannot do.
pub(super) fn declared(statement: &Statement) -> PgWireResult<Declared> {
    let Statement::Declare { stmts } = statement else {
        return Err(refusal("42601", "not a DECLARE statement".to_string()));
    };
    let [declare] = stmts.as_slice() else {
        return Err(refusal("42601", "DECLARE one cursor at a time".to_string()));
    };
    if declare.declare_type != Some(DeclareType::Cursor) || declare.for_query.is_none() {
        return Err(refusal(
            "42601",
            "DECLARE declares a cursor: DECLARE name CURSOR FOR query".to_string(),
        ));
    }
    if declare.scroll == Some(true) {
        return Err(refusal(
            "0A000",
            "medlake's cursors scan forward only: declare it without SCROLL".to_string(),
        ));
    }
    let name = declare
        .names
        .first()
        .map(cursor_name)
        .ok_or_else(|| refusal("42601", "cursor name is required".to_string()))?;
    Ok(Declared {
        name,
        holdable: declare.hold == Some(true),
        binary: declare.binary == Some(true),
    })
}

/// A cursor's name as PostgreSQL folds it: unquoted names in lower case.
pub(super) fn cursor_name(ident: &Ident) -> String {
    match ident.quote_style {
        None => ident.value.to_lowercase(),
        Some(_) => ident.value.clone(),
    }
}

/// How many rows a `FETCH` or `MOVE` asks for, after skipping `skip` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Count {
    pub(super) skip: usize,
    /// `None`: every remaining row.
    pub(super) rows: Option<usize>,
}

/// The rows `direction` moves over, forward only.
pub(super) fn count_of(direction: &FetchDirection, position: usize) -> PgWireResult<Count> {
    let number = |v: &Value| -> PgWireResult<i64> {
        match v {
            Value::Number(n, _) => n
                .parse()
                .map_err(|_| refusal("22003", format!("FETCH count {n} is out of range"))),
            other => Err(refusal(
                "42601",
                format!("FETCH count must be a number, not {other}"),
            )),
        }
    };
    let forward = |n: i64| -> PgWireResult<Count> {
        match usize::try_from(n) {
            Ok(0) => Err(backward()),
            Ok(n) => Ok(Count {
                skip: 0,
                rows: Some(n),
            }),
            Err(_) => Err(backward()),
        }
    };
    match direction {
        FetchDirection::Next | FetchDirection::Forward { limit: None } => forward(1),
        FetchDirection::Count { limit } => forward(number(&limit.value)?),
        FetchDirection::Forward { limit: Some(limit) } => forward(number(&limit.value)?),
        FetchDirection::All | FetchDirection::ForwardAll => Ok(Count {
            skip: 0,
            rows: None,
        }),
        FetchDirection::Relative { limit } => {
            let n = number(&limit.value)?;
            let skip = usize::try_from(n - 1).map_err(|_| backward())?;
            Ok(Count {
                skip,
                rows: Some(1),
            })
        }
        FetchDirection::Absolute { limit } => {
            let n = number(&limit.value)?;
            let target = usize::try_from(n).map_err(|_| backward())?;
            if target <= position {
                return Err(backward());
            }
            Ok(Count {
                skip: target - position - 1,
                rows: Some(1),
            })
        }
        FetchDirection::Prior
        | FetchDirection::First
        | FetchDirection::Last
        | FetchDirection::Backward { .. }
        | FetchDirection::BackwardAll => Err(backward()),
    }
}

fn backward() -> PgWireError {
    refusal(
        "55000",
        "cursor can only scan forward: medlake streams a cursor's rows and keeps none behind"
            .to_string(),
    )
}

pub(super) fn no_such_cursor(name: &str) -> PgWireError {
    refusal("34000", format!("cursor \"{name}\" does not exist"))
}

/// The plan that describes a cursor's rows (for Describe), with its columns.
pub(super) fn describing(schema: &SchemaRef) -> PgWireResult<LogicalPlan> {
    let schema = DFSchema::try_from(schema.as_ref().clone())
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    Ok(LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(schema),
    }))
}

/// Ends a cursor left idle past its statement's deadline (each `FETCH` moves the
/// deadline on, see [`RowStream::restart_clock`]): its stream is polled once past the
/// deadline (which audits `timeout` and gives the slot back) and dropped.
pub(super) async fn end_at(deadline: tokio::time::Instant, cursor: Weak<AsyncMutex<Cursor>>) {
    let mut deadline = deadline;
    loop {
        tokio::time::sleep_until(deadline).await;
        let Some(open) = cursor.upgrade() else {
            return;
        };
        // A `FETCH ALL` may hold the cursor while its rows are sent: look again shortly.
        let Ok(mut open) = open.try_lock() else {
            deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
            continue;
        };
        let position = open.position;
        let Some(rows) = open.rows.as_mut() else {
            return;
        };
        match rows.deadline() {
            // Fetched since: wait for the new deadline.
            Some(later) if later > tokio::time::Instant::now() => {
                deadline = later;
                continue;
            }
            _ => {}
        }
        rows.count_sent(position);
        let message = match rows.next().await {
            Some(Err(e)) => e.to_string(),
            _ => "the cursor's statement timeout passed".to_string(),
        };
        open.rows = None;
        open.pending = None;
        open.failure = Some(message);
        return;
    }
}

/// Up to `count` rows of `cursor` (after skipping `count.skip`), as a stream that holds
/// the cursor until it ends.
pub(super) fn take(
    cursor: OwnedMutexGuard<Cursor>,
    count: Count,
) -> impl Stream<Item = Result<RecordBatch, DataFusionError>> + Send {
    let left = count.rows.unwrap_or(usize::MAX);
    futures::stream::unfold(
        (cursor, count.skip, left),
        |(mut cursor, mut skip, left)| async move {
            loop {
                if left == 0 {
                    return None;
                }
                let batch = match next_batch(&mut cursor).await? {
                    Ok(batch) => batch,
                    Err(e) => return Some((Err(e), (cursor, 0, 0))),
                };
                let rows = batch.num_rows();
                if skip >= rows {
                    skip -= rows;
                    cursor.position += rows;
                    continue;
                }
                let batch = batch.slice(skip, rows - skip);
                cursor.position += skip;
                let rows = batch.num_rows();
                if rows > left {
                    cursor.pending = Some(batch.slice(left, rows - left));
                    cursor.position += left;
                    return Some((Ok(batch.slice(0, left)), (cursor, 0, 0)));
                }
                cursor.position += rows;
                return Some((Ok(batch), (cursor, 0, left - rows)));
            }
        },
    )
}

/// The cursor's next batch: what a fetch left, else the stream's next one.
async fn next_batch(cursor: &mut Cursor) -> Option<Result<RecordBatch, DataFusionError>> {
    if let Some(batch) = cursor.pending.take() {
        return Some(Ok(batch));
    }
    if let Some(failure) = cursor.failure.take() {
        return Some(Err(DataFusionError::Execution(failure)));
    }
    let rows = cursor.rows.as_mut()?;
    match rows.next().await {
        Some(Ok(batch)) => Some(Ok(batch)),
        Some(Err(e)) => {
            cursor.rows = None;
            Some(Err(e))
        }
        None => {
            cursor.rows = None;
            None
        }
    }
}

/// `MOVE`: skips up to `count` rows of `cursor` and says how many it skipped.
pub(super) async fn skip(cursor: OwnedMutexGuard<Cursor>, count: Count) -> PgWireResult<usize> {
    let mut rows = Box::pin(take(cursor, count));
    let mut moved = 0;
    while let Some(batch) = rows.next().await {
        moved += batch
            .map_err(|e| PgWireError::ApiError(Box::new(e)))?
            .num_rows();
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse_one;

    fn direction(sql: &str) -> FetchDirection {
        match parse_one(sql).unwrap() {
            Statement::Fetch { direction, .. } => direction,
            other => panic!("not a FETCH: {other}"),
        }
    }

    #[test]
    fn fetch_counts_move_forward_only() {
        let count = |sql: &str, at: usize| count_of(&direction(sql), at).ok();
        let rows = |skip, rows| Some(Count { skip, rows });
        assert_eq!(count("FETCH NEXT FROM c", 0), rows(0, Some(1)));
        assert_eq!(count("FETCH FORWARD 500 FROM c", 0), rows(0, Some(500)));
        assert_eq!(count("FETCH 20 IN c", 3), rows(0, Some(20)));
        assert_eq!(count("FETCH ALL FROM c", 0), rows(0, None));
        assert_eq!(count("FETCH FORWARD ALL FROM c", 9), rows(0, None));
        assert_eq!(count("FETCH RELATIVE 3 FROM c", 0), rows(2, Some(1)));
        assert_eq!(count("FETCH ABSOLUTE 10 FROM c", 4), rows(5, Some(1)));
        for backwards in [
            "FETCH PRIOR FROM c",
            "FETCH FIRST FROM c",
            "FETCH LAST FROM c",
            "FETCH BACKWARD 2 FROM c",
            "FETCH ABSOLUTE 2 FROM c",
            "FETCH RELATIVE 0 FROM c",
            "FETCH FORWARD 0 FROM c",
        ] {
            assert_eq!(count(backwards, 4), None, "{backwards}");
        }
    }

    #[test]
    fn a_declare_is_read_for_its_name_and_options() {
        let d =
            declared(&parse_one("DECLARE \"Big\" BINARY CURSOR WITH HOLD FOR SELECT 1").unwrap())
                .unwrap();
        assert_eq!(d.name, "Big");
        assert!(d.holdable && d.binary);
        let d =
            declared(&parse_one("DECLARE c NO SCROLL CURSOR WITHOUT HOLD FOR SELECT 1").unwrap())
                .unwrap();
        assert!(!d.holdable && !d.binary);
        assert!(declared(&parse_one("DECLARE c SCROLL CURSOR FOR SELECT 1").unwrap()).is_err());
        let d = declared(&parse_one("DECLARE Big CURSOR FOR SELECT 1").unwrap()).unwrap();
        assert_eq!(d.name, "big", "an unquoted name is folded to lower case");
    }
}
