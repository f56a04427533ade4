//! The plan rewrite that enforces policies: every lake table scan of a statement's logical
//! plan, in subqueries too, becomes
//!
//! ```text
//! Projection: masked columns, each aliased with the scan's own qualifier and name
//!   Filter: the asker's row filters, joined with AND
//!     TableScan: the table
//! ```
//!
//! before the optimizer sees the plan. Why this cannot be routed around:
//! - Everything above the scan (joins, aggregates, windows, set operations, `SELECT *`,
//!   aliases, casts) reads the projection's output, which has the same names and types as
//!   the scan had, so the statement plans the same but only ever sees masked values.
//! - The optimizer may push a user's predicate down through the projection (it then
//!   reads the mask's expression, not the column) and merge it with the row filter; a
//!   filtered row may then reach the user's expression, so errors of policed statements
//!   are scrubbed of values (`scrub`), and the rows themselves never pass the filter.
//! - A policy that does not plan (an unknown column in a filter, a mask a column's type
//!   does not take, an attribute the asker lacks) refuses the statement: fail closed.
//! - Tables outside the lake's schema are the system catalog (`pg_catalog`,
//!   `information_schema`: names and types, no rows of the lake); any other schema is
//!   refused.

use std::collections::BTreeSet;

use deltalake::arrow::datatypes::{DataType, Field, Fields};
use deltalake::datafusion::common::tree_node::Transformed;
use deltalake::datafusion::common::{Column, TableReference};
use deltalake::datafusion::execution::context::SessionState;
use deltalake::datafusion::functions::core::expr_fn::{get_field, named_struct};
use deltalake::datafusion::logical_expr::{
    and, cast, lit, Expr, LogicalPlan, LogicalPlanBuilder, TableScan,
};

use super::masks::{self, NotApplicable};
use super::phi::PhiTags;
use super::policy::{Asker, MaskKind, Policy, PolicySet, Rule};

/// What policing a statement did, for its audit row and its error texts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Lake tables read.
    pub tables: BTreeSet<String>,
    /// Policies applied, `kind:id@version`.
    pub policies: BTreeSet<String>,
    /// A PHI column was granted unmasked.
    pub phi_unmasked: bool,
    /// A mask or a row filter changed what the statement reads.
    pub restricted: bool,
}

/// The id the audit gives the default PHI mask.
pub const PHI_DEFAULT: &str = "phi-default";

/// What the rewrite needs besides the plan.
pub struct Police<'a> {
    /// The policy set and its version.
    pub set: &'a PolicySet,
    /// The version, for the audit.
    pub version: i64,
    /// Which columns are PHI.
    pub phi: &'a PhiTags,
    /// Who asks.
    pub asker: &'a Asker,
    /// Plans filters and custom masks.
    pub state: &'a SessionState,
}

impl Police<'_> {
    /// `plan` with every lake scan policed, and what was applied; `Err` with the reason
    /// when a table is denied or a policy cannot apply.
    pub fn rewrite(&self, plan: LogicalPlan) -> Result<(LogicalPlan, Applied), (String, Applied)> {
        let mut applied = Applied::default();
        let mut refusal: Option<String> = None;
        let rewritten = plan.transform_up_with_subqueries(|node| {
            let LogicalPlan::TableScan(scan) = node else {
                // Parents keep their inputs' schema: names and types are the same; only
                // nullability can change (a nulled column), so it is computed again.
                return node.recompute_schema().map(Transformed::yes);
            };
            if refusal.is_some() {
                return Ok(Transformed::no(LogicalPlan::TableScan(scan)));
            }
            match self.scan(scan, &mut applied) {
                Ok(plan) => Ok(Transformed::yes(plan)),
                Err((scan, why)) => {
                    refusal = Some(why);
                    Ok(Transformed::no(LogicalPlan::TableScan(scan)))
                }
            }
        });
        if let Some(why) = refusal {
            return Err((why, applied));
        }
        match rewritten {
            Ok(rewritten) => Ok((rewritten.data, applied)),
            Err(e) => Err((format!("the policies cannot be applied: {e}"), applied)),
        }
    }

    /// One scan, policed; or the scan back with the reason it is refused.
    #[allow(clippy::result_large_err)]
    fn scan(
        &self,
        scan: TableScan,
        applied: &mut Applied,
    ) -> Result<LogicalPlan, (TableScan, String)> {
        let Some(table) = lake_table(&scan.table_name) else {
            return Ok(LogicalPlan::TableScan(scan));
        };
        let table = table.to_string();
        applied.tables.insert(table.clone());
        if let Err(why) = self.access(&table, applied) {
            return Err((scan, why));
        }
        let filter = match self.row_filter(&table, &scan, applied) {
            Ok(filter) => filter,
            Err(why) => return Err((scan, why)),
        };
        let columns = match self.masked_columns(&table, &scan, applied) {
            Ok(columns) => columns,
            Err(why) => return Err((scan, why)),
        };
        if filter.is_none() && columns.is_none() {
            return Ok(LogicalPlan::TableScan(scan));
        }
        applied.restricted = true;
        let mut builder = LogicalPlanBuilder::from(LogicalPlan::TableScan(scan.clone()));
        if let Some(predicate) = filter {
            builder = match builder.filter(predicate) {
                Ok(b) => b,
                Err(e) => {
                    return Err((scan, format!("a row filter of {table} does not apply: {e}")))
                }
            };
        }
        if let Some(columns) = columns {
            builder = match builder.project(columns) {
                Ok(b) => b,
                Err(e) => return Err((scan, format!("a mask of {table} does not apply: {e}"))),
            };
        }
        builder
            .build()
            .map_err(|e| (scan, format!("the policies of {table} do not apply: {e}")))
    }

    fn matching<'s>(&'s self, table: &'s str) -> impl Iterator<Item = &'s Policy> + 's {
        self.set.matching(self.asker, table)
    }

    fn named(&self, kind: &str, id: &str) -> String {
        format!("{kind}:{id}@{}", self.version)
    }

    /// Deny wins; a table no allow names is denied.
    fn access(&self, table: &str, applied: &mut Applied) -> Result<(), String> {
        let mut allowed = false;
        for p in self.matching(table) {
            match p.rule {
                Rule::Access(false) => {
                    applied.policies.insert(self.named("deny", &p.id));
                    return Err(format!("policy {} denies reading {table}", p.id));
                }
                Rule::Access(true) => allowed = true,
                _ => {}
            }
        }
        if allowed {
            Ok(())
        } else {
            Err(format!("no policy lets {} read {table}", self.asker.name))
        }
    }

    /// Every matching row filter, the asker's attributes in place, joined with AND.
    fn row_filter(
        &self,
        table: &str,
        scan: &TableScan,
        applied: &mut Applied,
    ) -> Result<Option<Expr>, String> {
        let mut predicate: Option<Expr> = None;
        for p in self.matching(table) {
            let Rule::RowFilter(sql) = &p.rule else {
                continue;
            };
            let sql = with_attributes(sql, self.asker).map_err(|missing| {
                format!(
                    "policy {} needs the attribute {missing}, which {} does not have",
                    p.id, self.asker.name
                )
            })?;
            let expr = self
                .state
                .create_logical_expr(&sql, &scan.projected_schema)
                .map_err(|e| {
                    format!(
                        "the row filter of policy {} does not apply to {table}: {}",
                        p.id,
                        first_line(&e.to_string())
                    )
                })?;
            applied.policies.insert(self.named("filter", &p.id));
            predicate = Some(match predicate {
                Some(before) => and(before, expr),
                None => expr,
            });
        }
        Ok(predicate)
    }

    /// The projection's expressions when some column is masked, `None` when none is.
    fn masked_columns(
        &self,
        table: &str,
        scan: &TableScan,
        applied: &mut Applied,
    ) -> Result<Option<Vec<Expr>>, String> {
        let mut any = false;
        let mut columns = Vec::new();
        for (qualifier, field) in scan.projected_schema.iter() {
            let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
            let masked = self
                .column(
                    table,
                    field.name(),
                    column.clone(),
                    field.data_type(),
                    applied,
                )
                .map_err(|NotApplicable(why)| format!("{table}.{}: {why}", field.name()))?;
            match masked {
                Some(expr) => {
                    any = true;
                    columns.push(expr.alias_qualified(qualifier.cloned(), field.name()));
                }
                None => columns.push(column),
            }
        }
        Ok(any.then_some(columns))
    }

    /// The masked expression of one column (or field path), `None` when shown as it is.
    fn column(
        &self,
        table: &str,
        path: &str,
        value: Expr,
        ty: &DataType,
        applied: &mut Applied,
    ) -> Result<Option<Expr>, NotApplicable> {
        if let DataType::Struct(fields) = ty {
            if self.phi.has_phi_inside(table, path) || self.any_mask_inside(table, path) {
                return self.struct_fields(table, path, value, fields, applied);
            }
        }
        let phi = self.phi.is_phi(table, path);
        let chosen = self.matching(table).find_map(|p| match &p.rule {
            Rule::Mask(kind) if p.covers(path) => Some((kind.clone(), p.id.clone())),
            _ => None,
        });
        let (kind, id) = match chosen {
            Some(chosen) => chosen,
            None if phi => (masks::phi_default(ty), PHI_DEFAULT.to_string()),
            None => return Ok(None),
        };
        if kind == MaskKind::None {
            if phi {
                applied.phi_unmasked = true;
                applied.policies.insert(self.named("unmasked", &id));
            }
            return Ok(None);
        }
        let expr = masks::masked(&kind, value, ty, self.state)?;
        applied.policies.insert(self.named("mask", &id));
        Ok(Some(expr))
    }

    fn any_mask_inside(&self, table: &str, path: &str) -> bool {
        let prefix = format!("{path}.");
        self.matching(table).any(|p| {
            matches!(p.rule, Rule::Mask(_)) && p.columns.iter().any(|c| c.starts_with(&prefix))
        })
    }

    /// A struct (a change record's `data`) rebuilt field by field, each masked as its own
    /// path (`data.name`) says, cast back to the struct's type.
    fn struct_fields(
        &self,
        table: &str,
        path: &str,
        value: Expr,
        fields: &Fields,
        applied: &mut Applied,
    ) -> Result<Option<Expr>, NotApplicable> {
        let mut args = Vec::new();
        let mut any = false;
        for field in fields.iter() {
            let inner = get_field(value.clone(), field.name().as_str());
            let child = format!("{path}.{}", field.name());
            let masked = self.column(table, &child, inner.clone(), field.data_type(), applied)?;
            any |= masked.is_some();
            args.push(lit(field.name().as_str()));
            args.push(masked.unwrap_or(inner));
        }
        if !any {
            return Ok(None);
        }
        let nullable: Fields = fields
            .iter()
            .map(|f| Field::new(f.name(), f.data_type().clone(), true))
            .collect();
        Ok(Some(cast(named_struct(args), DataType::Struct(nullable))))
    }
}

/// The lake table a scan reads, `None` for the system catalog (`pg_catalog`,
/// `information_schema`, and `pg_*` names clients write without a schema; no lake table
/// is named so: the warehouse refuses such a model name). A reference to any other schema or catalog is treated as a lake table,
/// and so policed, and denied unless a policy allows it.
fn lake_table(reference: &TableReference) -> Option<&str> {
    match reference.schema() {
        Some("pg_catalog" | "information_schema") => None,
        None if reference.table().starts_with("pg_") => None,
        _ => Some(reference.table()),
    }
}

/// `sql` with `${user.NAME}` replaced by the asker's attribute as SQL string literals
/// (`'a', 'b'`; an attribute with no values is `NULL`, which matches nothing) and
/// `${user.name}` by the account name. `Err` names a missing attribute.
pub fn with_attributes(sql: &str, asker: &Asker) -> Result<String, String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find("${user.") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "${user.".len()..];
        let end = after
            .find('}')
            .ok_or_else(|| "(an unclosed ${user.…})".to_string())?;
        let name = &after[..end];
        let values: Vec<String> = if name == "name" {
            vec![asker.name.clone()]
        } else {
            asker
                .attributes
                .get(name)
                .cloned()
                .ok_or_else(|| name.to_string())?
        };
        if values.is_empty() {
            out.push_str("NULL");
        } else {
            let quoted: Vec<String> = values
                .iter()
                .map(|v| format!("'{}'", v.replace('\'', "''")))
                .collect();
            out.push_str(&quoted.join(", "));
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// An error text of a statement that read masked or filtered data, with anything that
/// could be a value taken out: quoted text becomes `'…'`, numbers `#`. A cast failing on a
/// filtered row would otherwise print the row's value.
pub fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    let mut previous_alphanumeric = false;
    while let Some(c) = chars.next() {
        if c == '\'' || c == '"' {
            for d in chars.by_ref() {
                if d == c {
                    break;
                }
            }
            out.push(c);
            out.push('…');
            out.push(c);
            previous_alphanumeric = false;
        } else if c.is_ascii_digit() && !previous_alphanumeric {
            while chars
                .peek()
                .is_some_and(|d| d.is_ascii_digit() || *d == '.')
            {
                chars.next();
            }
            out.push('#');
            previous_alphanumeric = false;
        } else {
            previous_alphanumeric = c.is_alphanumeric() || c == '_';
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn attributes_become_quoted_literals_and_a_missing_one_refuses() {
        let mut attributes = BTreeMap::new();
        attributes.insert("hospitals".into(), vec!["1".into(), "o'k".into()]);
        attributes.insert("none".into(), vec![]);
        let asker = Asker::new("wang", "analyst", attributes);
        assert_eq!(
            with_attributes("hospital_id IN (${user.hospitals})", &asker).unwrap(),
            "hospital_id IN ('1', 'o''k')"
        );
        assert_eq!(
            with_attributes("a = ${user.name}", &asker).unwrap(),
            "a = 'wang'"
        );
        assert_eq!(
            with_attributes("a IN (${user.none})", &asker).unwrap(),
            "a IN (NULL)"
        );
        assert_eq!(
            with_attributes("p = ${user.province}", &asker).unwrap_err(),
            "province"
        );
    }

    #[test]
    fn scrubbed_errors_keep_no_values() {
        let e = "Arrow error: Cast error: Cannot cast string '张三' to value of Int32 type";
        assert_eq!(
            scrub(e),
            "Arrow error: Cast error: Cannot cast string '…' to value of Int32 type"
        );
        assert_eq!(
            scrub("Overflow happened on: 12 * 922"),
            "Overflow happened on: # * #"
        );
    }
}
