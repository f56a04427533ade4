//! Policing in the query path: each statement's plan rewritten under the asker's policies
//! (`crate::governance`), and the explanation `medlake policies explain` prints.

use deltalake::datafusion::logical_expr::LogicalPlan;

use super::{admission, parse_one, QueryError, QueryService};
use crate::accounts::Principal;
use crate::governance::Applied;

impl QueryService {
    /// The plan `sql` runs as for `who`, after the policies, and what they applied; nothing
    /// runs and nothing is audited (`medlake policies explain`).
    pub async fn explain_policies(
        &self,
        who: &Principal,
        sql: &str,
    ) -> std::result::Result<(String, Applied), QueryError> {
        let statement = parse_one(sql)?;
        admission::verdict(&statement)?;
        let plan = self.plan_unpoliced(&statement).await?;
        let (plan, applied) = self.police(plan, who).map_err(|(e, _)| e)?;
        let text = plan.display_indent().to_string();
        Ok((text, applied))
    }

    /// `plan` rewritten under the policies for `who` (governance::rewrite); a refusal comes
    /// with what was found before it (the tables, a denying policy) for the audit. An
    /// `EXPLAIN VERBOSE` or `EXPLAIN ANALYZE` of a restricted statement is refused: their
    /// statistics and row counts describe the rows before masks and filters.
    pub(super) fn police(
        &self,
        plan: LogicalPlan,
        who: &Principal,
    ) -> std::result::Result<(LogicalPlan, Applied), (QueryError, Applied)> {
        let state = self.ctx.state();
        let (plan, applied) = self
            .governance
            .police(plan, who, &state)
            .map_err(|(why, applied)| (QueryError::Refused(why), applied))?;
        let revealing = match &plan {
            LogicalPlan::Explain(e) => e.verbose,
            LogicalPlan::Analyze(_) => true,
            _ => false,
        };
        if revealing && applied.restricted {
            return Err((
                QueryError::Refused(
                    "EXPLAIN VERBOSE and EXPLAIN ANALYZE show figures of rows before masks and \
                     row filters; use EXPLAIN"
                        .into(),
                ),
                applied,
            ));
        }
        Ok((plan, applied))
    }
}
