//! Statements whose rows are collected whole before they are answered: the HTTP API, SQL
//! Lab, CSV export and the dashboards. They run through [`QueryService::start`] like every
//! other statement; this module adds the row limit's collection into a [`QueryOutput`] and
//! the reference cache (labels and hospital lists a dashboard reads on every call, kept
//! until a table has a new version, still admitted and audited for every asker).

use std::collections::HashMap;
use std::time::Instant;

use deltalake::arrow::array::RecordBatch;
use deltalake::datafusion::sql::sqlparser::ast::Statement;

use super::{
    admission, on_statement_stack, parse_one, Channel, QueryError, QueryOutput, QueryService,
};
use crate::accounts::Principal;
use crate::governance::Applied;

/// Results of reference reads (labels, hospital lists), kept until a refresh finds a new
/// version of some table, so a dashboard call does not read them again.
#[derive(Default)]
pub(crate) struct ReferenceCache {
    /// Counts refreshes that found new versions; a result read before one is not kept.
    pub(crate) generation: u64,
    /// Kept per asker as the policies saw them (account, roles, attributes) and policy
    /// version: a row filter or mask makes the same SQL a different result.
    pub(crate) results: HashMap<(String, String, usize), (QueryOutput, Applied)>,
}

/// Reference results kept at most; more distinct reads than this start the cache afresh.
const REFERENCE_RESULTS: usize = 512;

impl QueryService {
    /// Parses, admits, runs and audits one SQL statement from the HTTP API or a dashboard,
    /// returning at most `limit` rows.
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

    pub(super) fn reference_cache(&self) -> std::sync::MutexGuard<'_, ReferenceCache> {
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
        self.check_text(who, channel, sql)?;
        // Parsed, checked for depth and (if refused) dropped on a stack sized for the text.
        let limits = self.limits();
        let parsed = on_statement_stack(sql.len(), || match parse_one(sql) {
            Err(e) => Parsed::Failed(e),
            Ok(statement) => match limits.check_depth(&statement) {
                Ok(()) => Parsed::Fine(Box::new(statement)),
                Err(e) => Parsed::TooDeep(e),
            },
        })
        .unwrap_or_else(Parsed::Failed);
        let (statement, audited_text) = match parsed {
            Parsed::Fine(statement) => (refuse_set_over_http(*statement), sql.to_string()),
            Parsed::TooDeep(e) => (Err(e), self.too_deep_text()),
            Parsed::Failed(e) => (Err(e), sql.to_string()),
        };
        let statement = match statement {
            Ok(statement) => statement,
            Err(e) => {
                let audit = self.pending_audit(who, channel, &audited_text, started);
                self.refused_or_failed(audit, who, &e);
                return Err(e);
            }
        };
        let asker = match reuse {
            Reuse::UntilRefresh => self.cache_identity(who),
            Reuse::No => None,
        };
        let key = asker.map(|asker| (asker, sql.to_string(), limit));
        let generation = {
            let cache = self.reference_cache();
            match key.as_ref().and_then(|key| cache.results.get(key)) {
                Some(kept) => {
                    let kept = kept.clone();
                    drop(cache);
                    return self.reuse_admitted(who, channel, &statement, kept, started);
                }
                None => cache.generation,
            }
        };
        let stream = self.start(who, channel, &statement, Some(limit)).await?;
        let applied = stream.applied().clone();
        let schema = stream.schema();
        let (batches, truncated) = stream.collect_all().await?;
        let rows = batches.iter().map(RecordBatch::num_rows).sum();
        let output = QueryOutput {
            schema,
            batches,
            rows,
            truncated,
            millis: started.elapsed().as_millis() as u64,
        };
        if let Some(key) = key {
            let mut cache = self.reference_cache();
            if cache.generation == generation {
                if cache.results.len() >= REFERENCE_RESULTS {
                    cache.results.clear();
                }
                cache.results.insert(key, (output.clone(), applied));
            }
        }
        Ok(output)
    }

    /// A kept reference result, given to `who` only if the statement is admitted for them;
    /// audited as any read.
    fn reuse_admitted(
        &self,
        who: &Principal,
        channel: Channel,
        statement: &Statement,
        (kept, applied): (QueryOutput, Applied),
        started: Instant,
    ) -> std::result::Result<QueryOutput, QueryError> {
        let mut audit = self.shaped_audit(who, channel, statement, started)?;
        audit.governed(&applied);
        if let Err(e) = admission::verdict(statement) {
            self.refused_or_failed(audit, who, &e);
            return Err(e);
        }
        audit.write("ok", Some(kept.rows as u64), None);
        Ok(QueryOutput {
            millis: started.elapsed().as_millis() as u64,
            ..kept
        })
    }
}

impl QueryService {
    /// Who `who` is to the policies, with the policy version: the key a reference
    /// result is kept under (`None`: not kept, the attributes cannot be read).
    fn cache_identity(&self, who: &Principal) -> Option<String> {
        let asker = self.governance().asker(who).ok()?;
        Some(format!("{asker:?}@{}", self.governance().current().version))
    }
}

/// The HTTP API and the dashboards share one session; a setting would change everyone's
/// queries, so `SET` is for PostgreSQL connections only.
fn refuse_set_over_http(statement: Statement) -> std::result::Result<Statement, QueryError> {
    if matches!(statement, Statement::Set(_)) {
        return Err(QueryError::Refused(
            "SET applies to a PostgreSQL connection, not to the HTTP API".into(),
        ));
    }
    Ok(statement)
}

/// A statement text after parsing and the depth check.
enum Parsed {
    Fine(Box<Statement>),
    TooDeep(QueryError),
    Failed(QueryError),
}

/// Whether a statement's rows may be kept for the next asker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reuse {
    No,
    UntilRefresh,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::accounts::Role;
    use medlake_catalog::Catalog;
    use medlake_lake::Lake;

    /// Writes partition `dt` of a one-column table `name` with `rows` rows.
    async fn write_day(lake: &Lake, name: &str, dt: &str, rows: i64) {
        let dt = dt.parse().unwrap();
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
}
