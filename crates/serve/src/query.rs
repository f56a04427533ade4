//! The one query path (DESIGN.md principle 4): every statement from the web UI, the HTTP
//! API or the PostgreSQL protocol is admitted here (who is asking, what the statement
//! does, which tables it reads) and written to the audit.
//!
//! Serving is read-only: statements that would change data or the schema are refused
//! whatever the role. A viewer reads the report tables (`ads_*`) only. Grants per table
//! and column, row filters and masks belong to governance and will hook in here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::execution::context::SessionContext;
use deltalake::datafusion::prelude::SessionConfig;
use deltalake::datafusion::sql::parser::Statement as DfStatement;
use deltalake::datafusion::sql::sqlparser::ast::Statement;
use deltalake::datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use deltalake::datafusion::sql::sqlparser::parser::Parser;
use medlake_catalog::Catalog;
use medlake_lake::{Lake, TableSummary};
use tokio::sync::{Mutex, RwLock};
use tracing::{debug, info};

use crate::accounts::{Principal, Role};
use crate::{Result, ServeError};

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
}

impl QueryError {
    /// The audit's word for how the statement ended.
    fn outcome(&self) -> &'static str {
        match self {
            QueryError::Refused(_) => "refused",
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
            QueryError::Failed(m) => f.write_str(m),
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
}

/// Results of reference reads (labels, hospital lists), kept until a refresh finds a new
/// version of some table, so a dashboard call does not read them again.
#[derive(Default)]
struct ReferenceCache {
    /// Counts refreshes that found new versions; a result read before one is not kept.
    generation: u64,
    results: HashMap<(String, usize), QueryOutput>,
}

/// Reference results kept at most; more distinct reads than this start the cache afresh.
const REFERENCE_RESULTS: usize = 512;

impl QueryService {
    /// A query engine with every lake table registered under `medlake.public`, and the
    /// PostgreSQL system catalog (`pg_catalog`) that BI tools introspect.
    pub async fn open(lake: Lake, catalog: Arc<Catalog>) -> Result<QueryService> {
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
        let service = QueryService {
            ctx: Arc::new(ctx),
            lake,
            catalog,
            refreshing: Mutex::new(()),
            tables: RwLock::new(Vec::new()),
            reference: std::sync::Mutex::new(ReferenceCache::default()),
        };
        service.refresh().await?;
        Ok(service)
    }

    /// The shared DataFusion session (the PostgreSQL front runs its statements here).
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

    /// Registers every lake table again at its newest version (a build or sync since the
    /// last refresh becomes visible). Returns the number of tables.
    pub async fn refresh(&self) -> Result<usize> {
        let _one_at_a_time = self.refreshing.lock().await;
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

    /// Admits or refuses one parsed statement for `who`, writing a refusal to the audit.
    pub fn admit(
        &self,
        who: &Principal,
        channel: Channel,
        statement: &Statement,
    ) -> std::result::Result<(), QueryError> {
        let verdict = self.verdict(who, statement);
        if let Err(e) = &verdict {
            info!(account = %who.name, channel = channel.as_str(), "statement refused");
            self.audit(
                who,
                channel,
                &statement.to_string(),
                e.outcome(),
                (None, None),
                Some(&e.to_string()),
            );
        }
        verdict
    }

    fn verdict(
        &self,
        who: &Principal,
        statement: &Statement,
    ) -> std::result::Result<(), QueryError> {
        if !is_read_only(statement) {
            return Err(QueryError::Refused(
                "medlake serves read-only SQL (SELECT, EXPLAIN, SHOW, SET)".to_string(),
            ));
        }
        // The PostgreSQL front shares one DataFusion session: an engine setting from one
        // connection would change every other's queries.
        if matches!(statement, Statement::Set(_))
            && statement
                .to_string()
                .to_ascii_lowercase()
                .contains("datafusion.")
        {
            return Err(QueryError::Refused(
                "engine settings (datafusion.*) belong to the server's configuration, not to a connection"
                    .to_string(),
            ));
        }
        if who.role == Role::Viewer {
            let state = self.ctx.state();
            let wrapped = DfStatement::Statement(Box::new(statement.clone()));
            let tables = state
                .resolve_table_references(&wrapped)
                .map_err(|e| QueryError::Failed(e.to_string()))?;
            if let Some(t) = tables
                .iter()
                .find(|t| !viewer_may_read(t.table(), t.schema()))
            {
                return Err(QueryError::Refused(format!(
                    "role viewer reads report tables (ads_*) and dim_hospital only, not {}",
                    t.table()
                )));
            }
        }
        Ok(())
    }

    /// Records a statement that went through (or failed after admission) in the audit.
    pub fn audit(
        &self,
        who: &Principal,
        channel: Channel,
        statement: &str,
        outcome: &str,
        figures: (Option<u64>, Option<u64>),
        error: Option<&str>,
    ) {
        if let Err(e) = self.catalog.audit(
            &who.name,
            channel.as_str(),
            statement,
            outcome,
            figures,
            error,
        ) {
            // The audit failing must be visible, but the error names no statement text.
            tracing::error!(error = %e, "cannot write the query audit");
        }
    }

    /// Parses, admits, runs and audits one SQL statement, returning at most `limit` rows.
    pub async fn run(
        &self,
        who: &Principal,
        channel: Channel,
        sql: &str,
        limit: usize,
    ) -> std::result::Result<QueryOutput, QueryError> {
        self.run_with(who, channel, sql, limit, Reuse::No).await
    }

    /// Like [`run`](Self::run), for reference data only a new table version changes (metric
    /// labels, the hospital list): every call is admitted and audited for its asker, but the
    /// rows are read again only after a refresh picked up a new version.
    pub async fn run_reference(
        &self,
        who: &Principal,
        channel: Channel,
        sql: &str,
        limit: usize,
    ) -> std::result::Result<QueryOutput, QueryError> {
        self.run_with(who, channel, sql, limit, Reuse::UntilRefresh)
            .await
    }

    fn reference_cache(&self) -> std::sync::MutexGuard<'_, ReferenceCache> {
        // A panic while holding the lock cannot leave the map half-written: recover it.
        self.reference
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn run_with(
        &self,
        who: &Principal,
        channel: Channel,
        sql: &str,
        limit: usize,
        reuse: Reuse,
    ) -> std::result::Result<QueryOutput, QueryError> {
        let started = Instant::now();
        let result = self.admitted_rows(who, sql, limit, reuse).await;
        let millis = started.elapsed().as_millis() as u64;
        match &result {
            Ok(output) => self.audit(
                who,
                channel,
                sql,
                "ok",
                (Some(output.rows as u64), Some(millis)),
                None,
            ),
            Err(e) => {
                if matches!(e, QueryError::Refused(_)) {
                    info!(account = %who.name, channel = channel.as_str(), "statement refused");
                }
                self.audit(
                    who,
                    channel,
                    sql,
                    e.outcome(),
                    (None, Some(millis)),
                    Some(&e.to_string()),
                )
            }
        }
        result.map(|output| QueryOutput { millis, ..output })
    }

    /// The rows of `sql` if it parses and `who` may run it.
    async fn admitted_rows(
        &self,
        who: &Principal,
        sql: &str,
        limit: usize,
        reuse: Reuse,
    ) -> std::result::Result<QueryOutput, QueryError> {
        let statement = parse_one(sql)?;
        if matches!(statement, Statement::Set(_)) {
            // The HTTP API shares one session; a setting would change everyone's queries.
            return Err(QueryError::Refused(
                "SET applies to a PostgreSQL connection, not to the HTTP API".into(),
            ));
        }
        self.verdict(who, &statement)?;
        if reuse == Reuse::No {
            return self.execute(&statement, limit).await;
        }
        let key = (sql.to_string(), limit);
        let generation = {
            let cache = self.reference_cache();
            if let Some(kept) = cache.results.get(&key) {
                return Ok(kept.clone());
            }
            cache.generation
        };
        let output = self.execute(&statement, limit).await?;
        let mut cache = self.reference_cache();
        if cache.generation == generation {
            if cache.results.len() >= REFERENCE_RESULTS {
                cache.results.clear();
            }
            cache.results.insert(key, output.clone());
        }
        Ok(output)
    }

    async fn execute(
        &self,
        statement: &Statement,
        limit: usize,
    ) -> std::result::Result<QueryOutput, QueryError> {
        let failed =
            |e: deltalake::datafusion::error::DataFusionError| QueryError::Failed(e.to_string());
        let plan = self
            .ctx
            .state()
            .statement_to_plan(DfStatement::Statement(Box::new(statement.clone())))
            .await
            .map_err(failed)?;
        let frame = self.ctx.execute_logical_plan(plan).await.map_err(failed)?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let frame = frame
            .limit(0, Some(limit.saturating_add(1)))
            .map_err(failed)?;
        let mut batches = frame.collect().await.map_err(failed)?;
        let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let truncated = total > limit;
        if truncated {
            batches = cut(batches, limit);
        }
        Ok(QueryOutput {
            schema,
            batches,
            rows: total.min(limit),
            truncated,
            millis: 0,
        })
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

/// Whether a statement's rows may be kept for the next asker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reuse {
    No,
    UntilRefresh,
}

/// The first `limit` rows of `batches`.
fn cut(batches: Vec<RecordBatch>, limit: usize) -> Vec<RecordBatch> {
    let mut left = limit;
    let mut out = Vec::new();
    for batch in batches {
        if left == 0 {
            break;
        }
        let take = batch.num_rows().min(left);
        out.push(batch.slice(0, take));
        left -= take;
    }
    out
}

/// Parses exactly one statement in the PostgreSQL dialect.
pub fn parse_one(sql: &str) -> std::result::Result<Statement, QueryError> {
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|e| parse_error(&e.to_string(), sql))?;
    match (statements.pop(), statements.is_empty()) {
        (Some(statement), true) => Ok(statement),
        (None, _) => Err(parse_error("empty statement", sql)),
        (Some(_), false) => Err(QueryError::Parse {
            message: format!("expected one statement, found {}", statements.len() + 1),
            line: None,
            column: None,
        }),
    }
}

/// A parse error with the position sqlparser puts in its message ("at Line: 1, Column: 8"),
/// or the end of `sql` when the statement ended too early.
fn parse_error(message: &str, sql: &str) -> QueryError {
    let number_after = |label: &str| {
        message.find(label).and_then(|i| {
            message[i + label.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
    };
    let clean = message
        .trim_start_matches("SQL error: ")
        .trim_start_matches("ParserError(\"")
        .trim_end_matches("\")")
        .to_string();
    let (mut line, mut column) = (number_after("Line: "), number_after("Column: "));
    if line.is_none() && message.contains("found: EOF") {
        let trimmed = sql.trim_end();
        let last = trimmed.rsplit('\n').next().unwrap_or_default();
        line = Some(trimmed.lines().count().max(1) as u64);
        column = Some(last.chars().count() as u64 + 1);
    }
    QueryError::Parse {
        line,
        column,
        message: clean,
    }
}

/// Statements that only read: queries, plans, settings and transaction control (the
/// latter two are what drivers send around every query).
pub fn is_read_only(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Query(_)
            | Statement::Explain { .. }
            | Statement::ExplainTable { .. }
            | Statement::Set(_)
            | Statement::ShowVariable { .. }
            | Statement::ShowVariables { .. }
            | Statement::ShowStatus { .. }
            | Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowCreate { .. }
            | Statement::ShowFunctions { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowDatabases { .. }
            | Statement::ShowCatalogs { .. }
            | Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Declare { .. }
            | Statement::Fetch { .. }
            | Statement::Close { .. }
            | Statement::Discard { .. }
            | Statement::Deallocate { .. }
    )
}

/// Tables a viewer may read besides the reports: dimensions without personal data, which
/// dashboards use for their filters.
const VIEWER_DIMENSIONS: &[&str] = &["dim_hospital", "dim_date"];

fn viewer_may_read(table: &str, schema: Option<&str>) -> bool {
    matches!(schema, Some("pg_catalog") | Some("information_schema"))
        || table.starts_with("pg_")
        || table.starts_with("ads_")
        || VIEWER_DIMENSIONS.contains(&table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parse_error_carries_its_position() {
        match parse_one("SELECT 1 FORM t").unwrap_err() {
            QueryError::Parse { line, column, .. } => {
                assert_eq!(line, Some(1));
                assert!(column.is_some());
            }
            other => panic!("not a parse error: {other:?}"),
        }
    }

    #[test]
    fn an_early_end_is_placed_at_the_end() {
        match parse_one("SELECT metric\nFROM t WHERE").unwrap_err() {
            QueryError::Parse { line, column, .. } => {
                assert_eq!((line, column), (Some(2), Some(13)));
            }
            other => panic!("not a parse error: {other:?}"),
        }
    }

    #[test]
    fn only_reading_statements_are_read_only() {
        for sql in [
            "SELECT 1",
            "EXPLAIN SELECT 1",
            "SET search_path = public",
            "SHOW TABLES",
            "BEGIN",
        ] {
            assert!(is_read_only(&parse_one(sql).unwrap()), "{sql}");
        }
        for sql in [
            "INSERT INTO t VALUES (1)",
            "DELETE FROM t",
            "DROP TABLE t",
            "CREATE TABLE t (a INT)",
            "UPDATE t SET a = 1",
        ] {
            assert!(!is_read_only(&parse_one(sql).unwrap()), "{sql}");
        }
    }

    /// Writes partition `dt` of a one-column table `name` with `rows` rows.
    async fn write_day(lake: &Lake, name: &str, dt: &str, rows: i64) {
        use deltalake::arrow::array::Int64Array;
        use deltalake::arrow::datatypes::{DataType, Field, Schema};
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        let column = Arc::new(Int64Array::from_iter_values(0..rows));
        let batch = RecordBatch::try_new(schema.clone(), vec![column]).unwrap();
        lake.replace_partition(name, dt, schema, vec![batch])
            .await
            .unwrap();
    }

    fn first_number(output: &QueryOutput) -> i64 {
        use deltalake::arrow::array::{Array, Int64Array};
        let column = output.batches[0].column(0);
        column
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("a BIGINT count")
            .value(0)
    }

    #[tokio::test]
    async fn reference_reads_are_kept_until_the_next_refresh_and_still_admitted_and_audited() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap(), Default::default()).unwrap();
        write_day(&lake, "ads_labels", "2026-01-01", 3).await;
        write_day(&lake, "dwd_private", "2026-01-01", 1).await;
        let catalog = Arc::new(Catalog::open_in_memory().unwrap());
        let service = QueryService::open(lake.clone(), catalog.clone())
            .await
            .unwrap();
        let viewer = Principal {
            name: "board".into(),
            role: Role::Viewer,
        };
        let count = "SELECT count(*) FROM ads_labels";
        let read = || service.run_reference(&viewer, Channel::Dashboard, count, 10);

        assert_eq!(first_number(&read().await.unwrap()), 3);
        write_day(&lake, "ads_labels", "2026-01-02", 4).await;
        assert_eq!(
            first_number(&read().await.unwrap()),
            3,
            "kept until the next refresh"
        );
        service.refresh().await.unwrap();
        assert_eq!(
            first_number(&read().await.unwrap()),
            7,
            "read again after it"
        );

        let refused = service
            .run_reference(
                &viewer,
                Channel::Dashboard,
                "SELECT count(*) FROM dwd_private",
                10,
            )
            .await;
        assert!(
            matches!(refused, Err(QueryError::Refused(_))),
            "{refused:?}"
        );
        let audit = catalog.audit_records(Some("board"), 10).unwrap();
        let outcomes: Vec<&str> = audit.iter().map(|a| a.outcome.as_str()).collect();
        assert_eq!(outcomes, ["refused", "ok", "ok", "ok"]);
    }

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

    #[test]
    fn viewers_read_reports_and_the_system_catalog() {
        assert!(viewer_may_read("ads_metric_value", None));
        assert!(viewer_may_read("pg_class", Some("pg_catalog")));
        assert!(!viewer_may_read("dwd_consultation_paid", None));
        assert!(!viewer_may_read("ods_patient_full", Some("public")));
    }
}
