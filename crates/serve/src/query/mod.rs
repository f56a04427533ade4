//! The one query path (ARCHITECTURE.md, `crates/serve`): every statement from the web UI,
//! SQL Lab, the dashboards, CSV export and the PostgreSQL protocol (simple and extended)
//! is admitted, planned, executed and audited here, through [`QueryService::start`] (or
//! [`QueryService::start_prepared`] for a statement the extended protocol planned at
//! Parse). The audit row carries the final outcome, once: rows, milliseconds, error.
//!
//! - [`admission`]: the policy (read-only SQL, engine settings, what a role reads). Grants,
//!   row filters and masks (governance) grow there and apply to every channel at once.
//! - [`execution`]: planning on the shared session, the row stream and its audit.
//! - [`limits`]: statement size and nesting, timeouts, memory and slots per role.
//!
//! Serving is read-only: statements that would change data or the schema are refused
//! whatever the role. A viewer reads the report tables (`ads_*`) only.

mod admission;
mod auditing;
mod collected;
mod engine_threads;
mod execution;
mod limits;
mod policing;
mod running;

pub use admission::{is_copy_to_client, is_read_only, is_session_control, parse_one, read_of};
pub use execution::RowStream;
pub use limits::{
    on_statement_stack, Limits, QueryLimits, Slot, MAX_STATEMENT_BYTES_CEILING, SERVE_STACK_BYTES,
    STACK_BYTES_PER_TEXT_BYTE,
};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::common::ParamValues;
use deltalake::datafusion::execution::context::SessionContext;
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::prelude::SessionConfig;
use deltalake::datafusion::sql::parser::Statement as DfStatement;
use deltalake::datafusion::sql::sqlparser::ast::Statement;
use medlake_catalog::Catalog;
use medlake_lake::{Lake, TableSummary};
use tokio::sync::{Mutex, RwLock};
use tracing::debug;

use crate::accounts::Principal;
use crate::governance::{Applied, Governance, GovernanceOptions};
use crate::{Result, ServeError};
use collected::ReferenceCache;
use limits::Slots;

/// The database (DataFusion catalog) name clients see, e.g. `psql -d medlake`.
pub const DATABASE: &str = "medlake";
/// The schema the lake's tables are in.
pub const SCHEMA: &str = "public";

/// Where a statement came from, as written to the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// SQL Lab and the JSON API.
    Http,
    /// The dashboards' own queries.
    Dashboard,
    /// The PostgreSQL wire protocol.
    Pg,
}

impl Channel {
    /// The channel's name as the audit records it.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Http => "http",
            Channel::Dashboard => "dashboard",
            Channel::Pg => "pg",
        }
    }
}

/// Why a statement did not give rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// The SQL does not parse; `line` and `column` are 1-based when the parser says.
    Parse {
        /// The parser's message.
        message: String,
        /// Line of the error.
        line: Option<u64>,
        /// Column of the error.
        column: Option<u64>,
    },
    /// The statement is not allowed for this principal.
    Refused(String),
    /// Planning or execution failed (unknown table, type error, ...).
    Failed(String),
    /// The statement reached its timeout.
    Timeout(String),
}

impl QueryError {
    /// The audit's word for how the statement ended.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            QueryError::Refused(_) => "refused",
            QueryError::Timeout(_) => "timeout",
            QueryError::Parse { .. } | QueryError::Failed(_) => "failed",
        }
    }
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::Parse {
                message,
                line: Some(line),
                column: Some(column),
            } => write!(f, "syntax error at line {line}, column {column}: {message}"),
            QueryError::Parse { message, .. } => write!(f, "syntax error: {message}"),
            QueryError::Refused(m) => write!(f, "refused: {m}"),
            QueryError::Failed(m) | QueryError::Timeout(m) => f.write_str(m),
        }
    }
}

/// Rows of one query, at most the asked limit.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    /// Column names and types.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
    /// Rows in `batches`.
    pub rows: usize,
    /// More rows were there than the limit.
    pub truncated: bool,
    /// Time to plan and run.
    pub millis: u64,
}

/// The query engine over the lake, with the gate and the audit every query passes.
pub struct QueryService {
    ctx: Arc<SessionContext>,
    lake: Lake,
    catalog: Arc<Catalog>,
    refreshing: Mutex<()>,
    tables: RwLock<Vec<TableSummary>>,
    reference: std::sync::Mutex<ReferenceCache>,
    limits: QueryLimits,
    slots: Slots,
    engine: engine_threads::EngineThreads,
    governance: Governance,
}

impl QueryService {
    /// A query engine with every lake table registered under `medlake.public`, and the
    /// PostgreSQL system catalog (`pg_catalog`) that BI tools introspect; the default
    /// limits.
    pub async fn open(lake: Lake, catalog: Arc<Catalog>) -> Result<QueryService> {
        QueryService::open_with(lake, catalog, QueryLimits::default()).await
    }

    /// [`open`](Self::open) with the given limits.
    pub async fn open_with(
        lake: Lake,
        catalog: Arc<Catalog>,
        limits: QueryLimits,
    ) -> Result<QueryService> {
        QueryService::open_governed(lake, catalog, limits, &GovernanceOptions::default()).await
    }

    /// [`open_with`](Self::open_with) under the policies `governance` names.
    pub async fn open_governed(
        lake: Lake,
        catalog: Arc<Catalog>,
        limits: QueryLimits,
        governance: &GovernanceOptions,
    ) -> Result<QueryService> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(DATABASE, SCHEMA);
        let mut ctx = SessionContext::new_with_config(config);
        datafusion_postgres::datafusion_pg_functions::register_all(&mut ctx);
        datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog(
            &ctx,
            DATABASE,
            datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider,
        )
        .map_err(|e| ServeError::Engine(e.to_string()))?;
        crate::pg_functions::register(&ctx);
        let governance = Governance::open(catalog.clone(), governance, &ctx)?;
        let service = QueryService {
            ctx: Arc::new(ctx),
            lake,
            catalog,
            refreshing: Mutex::new(()),
            tables: RwLock::new(Vec::new()),
            reference: std::sync::Mutex::new(ReferenceCache::default()),
            slots: Slots::new(&limits),
            limits,
            engine: engine_threads::EngineThreads::start()
                .map_err(|e| ServeError::Engine(format!("cannot start the query threads: {e}")))?,
            governance,
        };
        service.refresh().await?;
        Ok(service)
    }

    /// The shared DataFusion session: the PostgreSQL front answers session control
    /// (`SET`, `SHOW`, transactions) and `pg_catalog` lookups of its protocol layer with it;
    /// statements that read rows run through [`start`](Self::start).
    pub fn context(&self) -> Arc<SessionContext> {
        self.ctx.clone()
    }

    /// The catalog (accounts, runs, audit).
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The lake.
    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// The policies in force.
    pub fn governance(&self) -> &Governance {
        &self.governance
    }

    /// Registers every lake table again at its newest version (a build or sync since the
    /// last refresh becomes visible), and picks up a policy version another process
    /// stored. Returns the number of tables.
    pub async fn refresh(&self) -> Result<usize> {
        let _one_at_a_time = self.refreshing.lock().await;
        self.governance.reload()?;
        let mut summaries = Vec::new();
        for name in self.lake.table_names().await? {
            if let Some(summary) = self.lake.register_and_summarize(&self.ctx, &name).await? {
                summaries.push(summary);
            }
        }
        debug!(tables = summaries.len(), "lake tables registered");
        let count = summaries.len();
        let changed = {
            let mut tables = self.tables.write().await;
            let changed = !same_versions(&tables, &summaries);
            *tables = summaries;
            changed
        };
        // Reference results stay valid while no table has a new version.
        if changed {
            let mut reference = self.reference_cache();
            *reference = ReferenceCache {
                generation: reference.generation + 1,
                results: HashMap::new(),
            };
        }
        Ok(count)
    }

    /// The lake's tables with partitions, rows and bytes, as of the last refresh.
    pub async fn tables(&self) -> Vec<TableSummary> {
        self.tables.read().await.clone()
    }

    /// The partitions (days) of `table`, oldest first, as of the last refresh.
    pub async fn days_of(&self, table: &str) -> Vec<String> {
        self.tables
            .read()
            .await
            .iter()
            .find(|t| t.name == table)
            .map(|t| t.partitions.iter().map(|p| p.dt.clone()).collect())
            .unwrap_or_default()
    }

    /// Admits or refuses a session-control statement (`SET`, `BEGIN`, `SHOW var`, ...)
    /// that the PostgreSQL front answers itself, and audits it either way.
    pub fn admit_control(
        &self,
        who: &Principal,
        channel: Channel,
        statement: &Statement,
    ) -> std::result::Result<(), QueryError> {
        let started = Instant::now();
        let audit = self.shaped_audit(who, channel, statement, started)?;
        let verdict = admission::verdict(statement);
        match &verdict {
            Ok(()) => audit.write("ok", None, None),
            Err(e) => self.refused_or_failed(audit, who, e),
        }
        verdict
    }

    /// Admits `statement` for `who` and plans it without running it: the extended
    /// protocol's Parse, which must describe the result before any row is asked. A refusal
    /// or a failure to plan is audited here; an admitted statement is audited when it runs
    /// ([`start_prepared`](Self::start_prepared), which admits it again).
    pub async fn plan_for(
        &self,
        who: &Principal,
        channel: Channel,
        statement: &Statement,
    ) -> std::result::Result<LogicalPlan, QueryError> {
        let started = Instant::now();
        let mut audit = self.shaped_audit(who, channel, statement, started)?;
        let planned = match admission::verdict(statement) {
            Ok(()) => self.plan_unpoliced(statement).await,
            Err(e) => Err(e),
        };
        // Policed here only to refuse early; the plan kept for Execute is policed there,
        // with its parameters bound and the policies then in force.
        let checked = match planned {
            Ok(plan) => self.police(plan.clone(), who).map(|_| plan),
            Err(e) => Err((e, Applied::default())),
        };
        match checked {
            Ok(plan) => Ok(plan),
            Err((e, applied)) => {
                audit.governed(&applied);
                self.refused_or_failed(audit, who, &e);
                Err(e)
            }
        }
    }

    /// The one entry every statement that reads rows passes: admits it for `who`, plans
    /// and runs it, and returns its rows as a stream of at most `limit` rows that writes
    /// the audit row when it ends. A statement refused or failing before it runs is
    /// audited here.
    pub async fn start(
        &self,
        who: &Principal,
        channel: Channel,
        statement: &Statement,
        limit: Option<usize>,
    ) -> std::result::Result<RowStream, QueryError> {
        let started = Instant::now();
        let mut audit = self.shaped_audit(who, channel, statement, started)?;
        let planned = match admission::verdict(statement) {
            Ok(()) => self
                .plan_unpoliced(statement)
                .await
                .map_err(|e| (e, Applied::default()))
                .and_then(|plan| self.police(plan, who)),
            Err(e) => Err((e, Applied::default())),
        };
        match planned {
            Ok((plan, applied)) => {
                audit.governed(&applied);
                self.execute(plan, limit, audit, who, channel, started, applied)
                    .await
            }
            Err((e, applied)) => {
                audit.governed(&applied);
                self.refused_or_failed(audit, who, &e);
                Err(e)
            }
        }
    }

    /// Runs a statement the extended protocol planned at Parse with `plan`, its parameters
    /// bound to `params`: admitted again for the asker (the account may have changed since
    /// Parse), then run and audited as [`start`](Self::start) does.
    pub async fn start_prepared(
        &self,
        who: &Principal,
        channel: Channel,
        statement: &Statement,
        plan: &LogicalPlan,
        params: &ParamValues,
        limit: Option<usize>,
    ) -> std::result::Result<RowStream, QueryError> {
        let started = Instant::now();
        let mut audit = self.shaped_audit(who, channel, statement, started)?;
        let bound = admission::verdict(statement)
            .and_then(|()| {
                plan.clone()
                    .replace_params_with_values(params)
                    .map_err(|e| QueryError::Failed(e.to_string()))
            })
            .map_err(|e| (e, Applied::default()))
            .and_then(|plan| self.police(plan, who));
        match bound {
            Ok((plan, applied)) => {
                audit.governed(&applied);
                self.execute(plan, limit, audit, who, channel, started, applied)
                    .await
            }
            Err((e, applied)) => {
                audit.governed(&applied);
                self.refused_or_failed(audit, who, &e);
                Err(e)
            }
        }
    }

    /// The statement's logical plan on the shared session, after the compatibility
    /// rewrites BI tools' catalog queries need, before the policies.
    async fn plan_unpoliced(
        &self,
        statement: &Statement,
    ) -> std::result::Result<LogicalPlan, QueryError> {
        // A cursor or a copy is planned as the query it reads.
        let read = admission::read_of(statement);
        let statement = read.as_ref().unwrap_or(statement);
        let statement = crate::compat::rewrite(statement).unwrap_or_else(|| statement.clone());
        self.ctx
            .state()
            .statement_to_plan(DfStatement::Statement(Box::new(statement)))
            .await
            .map_err(|e| QueryError::Failed(e.to_string()))
    }

    /// The limits this service applies.
    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }
}

/// The same tables at the same Delta versions.
fn same_versions(before: &[TableSummary], after: &[TableSummary]) -> bool {
    before.len() == after.len()
        && before
            .iter()
            .zip(after)
            .all(|(b, a)| b.name == a.name && b.version == a.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_new_table_version_counts_as_a_change() {
        let table = |name: &str, version: u64| TableSummary {
            name: name.into(),
            version,
            ..Default::default()
        };
        let before = [table("a", 1), table("b", 4)];
        assert!(same_versions(&before, &[table("a", 1), table("b", 4)]));
        assert!(!same_versions(&before, &[table("a", 1), table("b", 5)]));
        assert!(!same_versions(&before, &[table("a", 1)]));
        assert!(!same_versions(&before, &[table("a", 1), table("c", 4)]));
    }
}
