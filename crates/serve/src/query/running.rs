//! Running an admitted, policed plan: a slot under the asker's limits, a memory pool of
//! the statement's own, and the engine threads (SQL) or the web front (dashboards).

use std::sync::Arc;
use std::time::Instant;

use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
use deltalake::datafusion::execution::{SessionState, TaskContext};
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::physical_plan::execute_stream;

use super::execution::{PendingAudit, StatementGuard};
use super::limits::Limits;
use super::{Channel, QueryError, QueryService, RowStream};
use crate::accounts::Principal;
use crate::governance::Applied;

impl QueryService {
    /// Runs an admitted plan under the asker's limits: waits for a slot (until the
    /// statement's deadline), then executes it with its own memory pool.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn execute(
        &self,
        plan: LogicalPlan,
        limit: Option<usize>,
        audit: PendingAudit,
        who: &Principal,
        channel: Channel,
        started: Instant,
        applied: Applied,
    ) -> std::result::Result<RowStream, QueryError> {
        let (limits, asker) = self.limits.for_asker(who, channel);
        let deadline = limits
            .timeout
            .map(|t| tokio::time::Instant::from_std(started) + t);
        let slot = match self.slots.acquire(who, channel, limits, deadline).await {
            Ok(slot) => slot,
            Err(e) => {
                self.refused_or_failed(audit, who, &e);
                return Err(e);
            }
        };
        let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        let state = self.ctx.state();
        let guard = StatementGuard::new(slot, deadline, limits, asker);
        let started_plan = match state.create_physical_plan(&plan).await {
            Ok(physical) => self
                .statement_task(&state, limits)
                .and_then(|task| self.run_on_engine(channel, physical, task))
                .map_err(|e| guard.explain(e)),
            Err(e) => Err(e),
        };
        match started_plan {
            Ok(stream) => Ok(RowStream::new(schema, stream, limit, audit)
                .guarded(guard)
                .governed_by(applied)),
            Err(e) => {
                let e = QueryError::Failed(e.to_string());
                self.refused_or_failed(audit, who, &e);
                Err(e)
            }
        }
    }

    /// Starts a physical plan: SQL channels on the engine threads (see
    /// [`engine_threads`]), dashboards where they are asked, next to the web front.
    fn run_on_engine(
        &self,
        channel: Channel,
        physical: Arc<dyn deltalake::datafusion::physical_plan::ExecutionPlan>,
        task: Arc<TaskContext>,
    ) -> deltalake::datafusion::error::Result<
        deltalake::datafusion::execution::SendableRecordBatchStream,
    > {
        match channel {
            Channel::Dashboard => execute_stream(physical, task),
            Channel::Http | Channel::Pg => self.engine.execute(physical, task),
        }
    }

    /// The task context a statement runs in: the shared session, with a memory pool of
    /// the statement's own (the disk for spilling, object stores and caches shared).
    fn statement_task(
        &self,
        state: &SessionState,
        limits: &Limits,
    ) -> deltalake::datafusion::error::Result<Arc<TaskContext>> {
        let task = TaskContext::from(state);
        let Some(bytes) = limits.memory_bytes else {
            return Ok(Arc::new(task));
        };
        let base = state.runtime_env();
        let mut builder = RuntimeEnvBuilder::new();
        builder.disk_manager = Some(base.disk_manager.clone());
        builder.object_store_registry = base.object_store_registry.clone();
        builder.memory_pool = Some(Arc::new(TrackConsumersPool::new(
            FairSpillPool::new(bytes),
            std::num::NonZeroUsize::new(3).unwrap_or(std::num::NonZeroUsize::MIN),
        )));
        let mut runtime = builder.build()?;
        runtime.cache_manager = base.cache_manager.clone();
        Ok(Arc::new(task.with_runtime(Arc::new(runtime))))
    }
}
