//! Where statements from SQL Lab, the API and PostgreSQL clients do their work: threads of
//! their own for each statement, apart from the threads that answer HTTP requests,
//! PostgreSQL messages and the dashboards. The operating system then shares the cores
//! fairly between statements: a statement that keeps its threads busy (a cross join)
//! slows the others by its share, but cannot keep them waiting for a turn, and logins,
//! dashboards and the protocol fronts keep answering on their own threads. (One shared
//! pool of engine threads would let two busy statements hold every thread while a small
//! one waits for them to yield.)
//!
//! The statement's batches come back over a short channel. Dropping the stream (the
//! client went away, the statement was cancelled or timed out) aborts the task and shuts
//! its threads down, which drops the execution at its next yield: every operator yields
//! after a budget of batches ([`yielding`]), so DataFusion stops its work.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use deltalake::arrow::array::RecordBatch;
use deltalake::datafusion::common::tree_node::{Transformed, TreeNode};
use deltalake::datafusion::error::{DataFusionError, Result};
use deltalake::datafusion::execution::{SendableRecordBatchStream, TaskContext};
use deltalake::datafusion::physical_plan::coop::CooperativeExec;
use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::datafusion::physical_plan::{execute_stream, ExecutionPlan};
use futures::{Stream, StreamExt};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

/// Batches a statement may have ready before its reader takes them.
const AHEAD: usize = 2;

/// Starts the threads of each SQL statement.
pub(crate) struct EngineThreads {
    threads: usize,
}

impl EngineThreads {
    /// One thread per core (at least two) for each statement.
    pub(crate) fn start() -> std::io::Result<EngineThreads> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        Ok(EngineThreads { threads })
    }

    /// Runs `plan` on threads of its own; its batches as a stream on the caller's side.
    pub(crate) fn execute(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        task: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.threads)
            .thread_name("medlake-sql")
            .thread_stack_size(super::SERVE_STACK_BYTES)
            .enable_all()
            .build()
            .map_err(|e| DataFusionError::Execution(format!("cannot start query threads: {e}")))?;
        let plan = yielding(plan)?;
        let schema = plan.schema();
        let (tx, rx) = mpsc::channel(AHEAD);
        let work = runtime.spawn(async move {
            // Started here, so every task the plan spawns runs on these threads too.
            let mut stream = match execute_stream(plan, task) {
                Ok(stream) => stream,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            while let Some(batch) = stream.next().await {
                if tx.send(batch).await.is_err() {
                    break;
                }
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            Remote {
                rx,
                work,
                runtime: Some(runtime),
            },
        )))
    }
}

/// Every operator of `plan` made to give its thread back now and then (tokio's cooperative
/// budget, spent per batch): an operator that computes without reading (a cross join
/// multiplying out a batch it holds) would otherwise never return to the scheduler, and a
/// statement cancelled or past its timeout would go on burning its threads.
fn yielding(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let wrapped: Arc<dyn ExecutionPlan> = Arc::new(CooperativeExec::new(node));
        Ok(Transformed::yes(wrapped))
    })
    .map(|t| t.data)
}

/// The caller's end of a statement running on the engine threads.
struct Remote {
    rx: mpsc::Receiver<Result<RecordBatch>>,
    work: tokio::task::JoinHandle<()>,
    runtime: Option<Runtime>,
}

impl Stream for Remote {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.work.abort();
        // Dropped from async code: let the threads end without waiting for them.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
