//! The audit rows of statements that end before they run: refused (too long, too deep, not
//! admitted), unparsable, or failing to plan. Statements that run are audited by their
//! `RowStream` (see `execution`).

use std::time::Instant;

use deltalake::datafusion::sql::sqlparser::ast::Statement;
use tracing::info;

use super::execution::PendingAudit;
use super::{Channel, QueryError, QueryService};
use crate::accounts::Principal;

impl QueryService {
    /// The audit a statement owes, once its nesting is known to be within the limit (a
    /// deeper one is refused and audited without its text, which is never printed).
    pub(super) fn shaped_audit(
        &self,
        who: &Principal,
        channel: Channel,
        statement: &Statement,
        started: Instant,
    ) -> std::result::Result<PendingAudit, QueryError> {
        if let Err(e) = self.limits.check_depth(statement) {
            let text = self.too_deep_text();
            self.refused_or_failed(self.pending_audit(who, channel, &text, started), who, &e);
            return Err(e);
        }
        Ok(self.pending_audit(who, channel, &statement.to_string(), started))
    }

    /// What the audit records instead of a statement nested too deep to print.
    pub(crate) fn too_deep_text(&self) -> String {
        format!(
            "(not shown: nested deeper than {} levels)",
            self.limits.max_expression_depth
        )
    }

    /// Audits a statement refused for its nesting before it became a statement to run
    /// (the PostgreSQL front checks the text first) and returns the error.
    pub fn reject_too_deep(&self, who: &Principal, channel: Channel, e: QueryError) -> QueryError {
        let audit = self.pending_audit(who, channel, &self.too_deep_text(), Instant::now());
        self.refused_or_failed(audit, who, &e);
        e
    }

    /// Refuses, before it is parsed, a statement text longer than the limit; audited with
    /// its beginning only.
    pub fn check_text(
        &self,
        who: &Principal,
        channel: Channel,
        sql: &str,
    ) -> std::result::Result<(), QueryError> {
        let Err(e) = self.limits.check_text(sql) else {
            return Ok(());
        };
        let head: String = sql.chars().take(200).collect();
        let text = format!("{head}... ({} bytes)", sql.len());
        self.refused_or_failed(
            self.pending_audit(who, channel, &text, Instant::now()),
            who,
            &e,
        );
        Err(e)
    }

    pub(super) fn pending_audit(
        &self,
        who: &Principal,
        channel: Channel,
        statement: &str,
        started: Instant,
    ) -> PendingAudit {
        PendingAudit::new(self.catalog.clone(), who, channel, statement, started)
    }

    /// Audits a statement that does not even parse in the protocol layer (it never becomes
    /// a statement to admit) and returns the error for the client.
    pub fn reject_unparsable(
        &self,
        who: &Principal,
        channel: Channel,
        sql: &str,
        message: &str,
    ) -> QueryError {
        let e = QueryError::Parse {
            message: message.to_string(),
            line: None,
            column: None,
        };
        let audit = self.pending_audit(who, channel, sql, Instant::now());
        self.refused_or_failed(audit, who, &e);
        e
    }

    /// Audits a statement that ends before it runs.
    pub(super) fn refused_or_failed(&self, audit: PendingAudit, who: &Principal, e: &QueryError) {
        if matches!(e, QueryError::Refused(_)) {
            info!(account = %who.name, "statement refused");
        }
        audit.write(e.outcome(), None, Some(&e.to_string()));
    }
}
