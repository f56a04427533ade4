//! Running an admitted statement: plan it on the shared session, execute it as a stream of
//! record batches, and record its final outcome in the audit exactly once.
//!
//! The audit row is written by [`RowStream`] itself when the statement ends, whichever way:
//!
//! - the last batch was read: `ok` with the rows returned and the milliseconds since the
//!   statement arrived;
//! - execution failed part-way: `failed` with the error, the rows sent before it and the
//!   milliseconds;
//! - the reader stopped early (a client disconnected, a portal closed, an HTTP request was
//!   abandoned): `cancelled` with the rows sent so far;
//! - the statement's deadline passed first: `timeout` with the rows sent so far; the
//!   execution is dropped with the stream, which stops DataFusion's tasks.
//!
//! A stream ends in exactly one of these, and the audit is taken out of the stream the first
//! time one happens, so no statement is audited twice or not at all. Statements that never
//! reach a stream (refused, unparsable, failing to plan) are audited by the caller in
//! [`QueryService`](super::QueryService) before it returns the error.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::physical_plan::RecordBatchStream;
use futures::{FutureExt, Stream, StreamExt};
use medlake_catalog::{AuditEntry, AuditFigures, Catalog};

use crate::governance::{scrub, Applied};

use super::limits::{Limits, Slot};
use super::{Channel, QueryError};
use crate::accounts::Principal;

/// What a running statement holds under its limits: its slot (given back when the stream
/// ends), its deadline, and how to word a memory or time error for its asker.
pub(crate) struct StatementGuard {
    _slot: Slot,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    timeout: Option<std::time::Duration>,
    timeout_message: String,
    memory_message: Option<String>,
}

impl StatementGuard {
    pub(crate) fn new(
        slot: Slot,
        deadline: Option<tokio::time::Instant>,
        limits: &Limits,
        asker: &str,
    ) -> StatementGuard {
        let timeout_message = match limits.timeout {
            Some(t) => format!(
                "statement timeout: {} s, the limit of {asker}, reached",
                t.as_secs()
            ),
            None => String::new(),
        };
        StatementGuard {
            _slot: slot,
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            timeout: limits.timeout,
            timeout_message,
            memory_message: limits.memory_bytes.map(|b| {
                format!(
                    "the statement needs more than {} MiB of memory, the limit of {asker}",
                    b / (1024 * 1024)
                )
            }),
        }
    }

    /// An execution error in the asker's terms: running out of the statement's memory
    /// says so and names the limit.
    pub(crate) fn explain(&self, e: DataFusionError) -> DataFusionError {
        match (&self.memory_message, e.find_root()) {
            (Some(message), DataFusionError::ResourcesExhausted(_)) => {
                DataFusionError::ResourcesExhausted(message.clone())
            }
            _ => e,
        }
    }

    /// Gives the statement its whole timeout again, from now.
    fn restart_clock(&mut self) {
        if let (Some(deadline), Some(timeout)) = (self.deadline.as_mut(), self.timeout) {
            deadline
                .as_mut()
                .reset(tokio::time::Instant::now() + timeout);
        }
    }

    /// Whether the deadline has passed (registers for a wake-up when it has not).
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline
            .as_mut()
            .is_some_and(|d| d.as_mut().poll(cx).is_ready())
    }
}

/// The audit row a running statement owes, written once by [`PendingAudit::write`].
pub(crate) struct PendingAudit {
    catalog: Arc<Catalog>,
    account: String,
    channel: Channel,
    statement: String,
    started: Instant,
    tables: String,
    policies: String,
    phi_unmasked: bool,
}

impl PendingAudit {
    pub(crate) fn new(
        catalog: Arc<Catalog>,
        who: &Principal,
        channel: Channel,
        statement: &str,
        started: Instant,
    ) -> PendingAudit {
        PendingAudit {
            catalog,
            account: who.name.clone(),
            channel,
            statement: statement.to_string(),
            started,
            tables: String::new(),
            policies: String::new(),
            phi_unmasked: false,
        }
    }

    /// Records what governed the statement: the tables it read, the policies applied.
    pub(crate) fn governed(&mut self, applied: &Applied) {
        let join = |set: &std::collections::BTreeSet<String>| {
            set.iter().cloned().collect::<Vec<_>>().join(",")
        };
        self.tables = join(&applied.tables);
        self.policies = join(&applied.policies);
        self.phi_unmasked = applied.phi_unmasked;
    }

    /// Milliseconds since the statement arrived.
    pub(crate) fn millis(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Writes the audit row: `outcome`, the rows returned (if any ran) and the error.
    pub(crate) fn write(self, outcome: &str, rows: Option<u64>, error: Option<&str>) {
        medlake_ops::figures::global().query_finished(
            self.channel.as_str(),
            outcome,
            self.started.elapsed().as_secs_f64(),
            self.phi_unmasked,
        );
        let figures = AuditFigures {
            rows,
            millis: Some(self.millis()),
        };
        let entry = AuditEntry {
            account: &self.account,
            channel: self.channel.as_str(),
            statement: &self.statement,
            outcome,
            figures,
            error,
            tables: &self.tables,
            policies: &self.policies,
            phi_unmasked: self.phi_unmasked,
        };
        if let Err(e) = self.catalog.audit(&entry) {
            // The audit failing must be visible, but the error names no statement text.
            tracing::error!(error = %e, "cannot write the query audit");
        }
    }
}

/// The rows of one running statement, at most its row limit, as record batches. Reading
/// it to the end, hitting an error or dropping it early ends the statement and writes its
/// audit row (see the module doc).
pub struct RowStream {
    schema: SchemaRef,
    inner: SendableRecordBatchStream,
    limit: Option<usize>,
    rows: usize,
    truncated: bool,
    timed_out: bool,
    audit: Option<PendingAudit>,
    guard: Option<StatementGuard>,
    scrub_errors: bool,
    applied: Applied,
    cancel: Option<futures::channel::oneshot::Receiver<&'static str>>,
}

impl RowStream {
    pub(crate) fn new(
        schema: SchemaRef,
        inner: SendableRecordBatchStream,
        limit: Option<usize>,
        audit: PendingAudit,
    ) -> RowStream {
        RowStream {
            schema,
            inner,
            limit,
            rows: 0,
            truncated: false,
            timed_out: false,
            audit: Some(audit),
            guard: None,
            scrub_errors: false,
            applied: Applied::default(),
            cancel: None,
        }
    }

    /// Ends the statement when `signal` fires with its reason (a PostgreSQL cancel request
    /// for its connection, the client gone): audited `cancelled`, execution dropped with
    /// the stream.
    pub fn cancelled_by(
        mut self,
        signal: Option<futures::channel::oneshot::Receiver<&'static str>>,
    ) -> RowStream {
        self.cancel = signal;
        self
    }

    /// The stream under a statement's limits: it ends at the deadline and words memory
    /// errors for the asker; the slot is given back when the stream is dropped.
    pub(crate) fn guarded(mut self, guard: StatementGuard) -> RowStream {
        self.guard = Some(guard);
        self
    }

    /// What governed the statement; error texts are scrubbed of values when it reads
    /// masked or filtered rows.
    pub(crate) fn governed_by(mut self, applied: Applied) -> RowStream {
        self.scrub_errors = applied.restricted;
        self.applied = applied;
        self
    }

    /// The policies that governed the statement.
    pub fn applied(&self) -> &Applied {
        &self.applied
    }

    /// The rows the client was sent, when fewer than the rows read: a cursor keeps the
    /// rest of a batch it took only part of, and its audit row counts what was fetched.
    /// Called just before the stream ends.
    pub fn count_sent(&mut self, sent: usize) {
        self.rows = sent;
    }

    /// A cursor's statement, read a `FETCH` at a time: each `FETCH` gets the whole
    /// timeout, counted from the `FETCH`, as PostgreSQL counts `statement_timeout` per
    /// statement (so a long read in many fetches is not cut while each fetch is quick).
    pub fn restart_clock(&mut self) {
        if let Some(guard) = self.guard.as_mut() {
            guard.restart_clock();
        }
    }

    /// When the statement's time runs out, if it has a timeout: a cursor that holds the
    /// stream between fetches ends it then, so an idle cursor gives its slot back.
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        self.guard
            .as_ref()
            .and_then(|g| g.deadline.as_ref())
            .map(|sleep| sleep.deadline())
    }

    /// Column names and types of the rows.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Reads every batch (at most the limit's rows). The stream's audit row is written
    /// when this returns.
    pub async fn collect_all(mut self) -> Result<(Vec<RecordBatch>, bool), QueryError> {
        let mut batches = Vec::new();
        while let Some(batch) = self.next().await {
            match batch {
                Ok(batch) => batches.push(batch),
                Err(e) if self.timed_out => return Err(QueryError::Timeout(e.to_string())),
                Err(e) => return Err(QueryError::Failed(e.to_string())),
            }
        }
        Ok((batches, self.truncated))
    }

    fn end(&mut self, outcome: &str, error: Option<&str>) {
        if let Some(audit) = self.audit.take() {
            audit.write(outcome, Some(self.rows as u64), error);
        }
    }

    /// Rows still allowed by the limit.
    fn room(&self) -> usize {
        self.limit
            .map_or(usize::MAX, |l| l.saturating_sub(self.rows))
    }
}

impl Stream for RowStream {
    type Item = Result<RecordBatch, DataFusionError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.audit.is_none() {
            return Poll::Ready(None);
        }
        if let Some(signal) = this.cancel.as_mut() {
            match signal.poll_unpin(cx) {
                Poll::Ready(Ok(message)) => {
                    this.cancel = None;
                    this.end("cancelled", Some(message));
                    return Poll::Ready(Some(Err(DataFusionError::Execution(message.into()))));
                }
                // The connection's next statement took the signal over.
                Poll::Ready(Err(_)) => this.cancel = None,
                Poll::Pending => {}
            }
        }
        let expired = this.guard.as_mut().is_some_and(|g| g.expired(cx));
        if let Some(guard) = this.guard.as_ref().filter(|_| expired) {
            let message = guard.timeout_message.clone();
            this.timed_out = true;
            this.end("timeout", Some(&message));
            return Poll::Ready(Some(Err(DataFusionError::Execution(message))));
        }
        loop {
            match this.inner.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    this.end("ok", None);
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(e))) => {
                    let e = match &this.guard {
                        Some(guard) => guard.explain(e),
                        None => e,
                    };
                    // A statement over masked or filtered rows says what failed, not on
                    // which value (see governance::rewrite). A memory limit names no value.
                    let limit = matches!(e, DataFusionError::ResourcesExhausted(_));
                    let e = if this.scrub_errors && !limit {
                        DataFusionError::Execution(scrub(&e.to_string()))
                    } else {
                        e
                    };
                    this.end("failed", Some(&e.to_string()));
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Some(Ok(batch))) => {
                    let room = this.room();
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    if room == 0 {
                        // A row beyond the limit exists: the result is cut here.
                        this.truncated = true;
                        this.end("ok", None);
                        return Poll::Ready(None);
                    }
                    let batch = if batch.num_rows() > room {
                        this.truncated = true;
                        batch.slice(0, room)
                    } else {
                        batch
                    };
                    this.rows += batch.num_rows();
                    if this.truncated {
                        this.end("ok", None);
                    }
                    return Poll::Ready(Some(Ok(batch)));
                }
            }
        }
    }
}

impl RecordBatchStream for RowStream {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl Drop for RowStream {
    fn drop(&mut self) {
        // Still owing its audit: the reader stopped before the end.
        self.end(
            "cancelled",
            Some("the client stopped reading before the last row"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::Role;
    use deltalake::arrow::array::Int64Array;
    use deltalake::arrow::datatypes::{DataType, Field, Schema};
    use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;

    fn stream_of(
        sizes: &[i64],
        fail_after: bool,
        limit: Option<usize>,
    ) -> (RowStream, Arc<Catalog>) {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let mut items: Vec<Result<RecordBatch, DataFusionError>> = sizes
            .iter()
            .map(|&n| {
                let column = Arc::new(Int64Array::from_iter_values(0..n));
                Ok(RecordBatch::try_new(schema.clone(), vec![column]).unwrap())
            })
            .collect();
        if fail_after {
            items.push(Err(DataFusionError::Execution("disk gone".into())));
        }
        let inner = Box::pin(RecordBatchStreamAdapter::new(
            schema.clone(),
            futures::stream::iter(items),
        ));
        let catalog = Arc::new(Catalog::open_in_memory().unwrap());
        let who = Principal {
            name: "li".into(),
            role: Role::Analyst,
        };
        let audit = PendingAudit::new(
            catalog.clone(),
            &who,
            Channel::Pg,
            "SELECT n",
            Instant::now(),
        );
        (RowStream::new(schema, inner, limit, audit), catalog)
    }

    fn audit_of(catalog: &Catalog) -> Vec<(String, Option<u64>, Option<String>)> {
        catalog
            .audit_records(None, 10)
            .unwrap()
            .into_iter()
            .map(|a| (a.outcome, a.rows, a.error))
            .collect()
    }

    #[tokio::test]
    async fn a_stream_read_to_the_end_is_audited_once_with_its_rows() {
        let (stream, catalog) = stream_of(&[3, 4], false, None);
        let (batches, truncated) = stream.collect_all().await.unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 7);
        assert!(!truncated);
        assert_eq!(audit_of(&catalog), [("ok".to_string(), Some(7), None)]);
    }

    #[tokio::test]
    async fn a_limit_cuts_the_rows_and_marks_the_result_truncated() {
        let (stream, catalog) = stream_of(&[3, 4], false, Some(5));
        let (batches, truncated) = stream.collect_all().await.unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 5);
        assert!(truncated);
        assert_eq!(audit_of(&catalog), [("ok".to_string(), Some(5), None)]);

        let (stream, _) = stream_of(&[3, 4], false, Some(7));
        let (_, truncated) = stream.collect_all().await.unwrap();
        assert!(!truncated, "exactly the limit is not a cut");
    }

    #[tokio::test]
    async fn a_failure_part_way_is_audited_as_failed_with_the_rows_sent() {
        let (stream, catalog) = stream_of(&[2], true, None);
        assert!(stream.collect_all().await.is_err());
        let audit = audit_of(&catalog);
        assert_eq!(audit.len(), 1);
        assert_eq!((audit[0].0.as_str(), audit[0].1), ("failed", Some(2)));
        assert!(audit[0].2.as_deref().unwrap().contains("disk gone"));
    }

    #[tokio::test]
    async fn a_stream_dropped_early_is_audited_as_cancelled() {
        let (mut stream, catalog) = stream_of(&[2, 2, 2], false, None);
        stream.next().await.unwrap().unwrap();
        drop(stream);
        let audit = audit_of(&catalog);
        assert_eq!(audit.len(), 1);
        assert_eq!((audit[0].0.as_str(), audit[0].1), ("cancelled", Some(2)));
    }
}
